//! Reader of conmon's k8s-file log format:
//! `RFC3339NANO STREAM F|P TEXT`, where `P` marks a partial line that the
//! next record continues.
use std::path::Path;

use chrono::{DateTime, FixedOffset};

use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One record of the log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub time: DateTime<FixedOffset>,
    pub stream: Stream,
    /// True for `P` records: the line goes on in the next record.
    pub partial: bool,
    /// The text without the record's trailing newline.
    pub text: Vec<u8>,
}

/// Reads records from a log file; at end of file it returns `None` and can
/// be called again later to continue where it stopped (`logs -f`).
pub struct LogReader {
    _private: (),
}

impl LogReader {
    pub fn open(path: &Path) -> Result<LogReader> {
        let _ = path;
        todo!()
    }

    /// The next complete record, or `None` at the current end of file.
    pub fn next_record(&mut self) -> Result<Option<LogRecord>> {
        todo!()
    }
}
