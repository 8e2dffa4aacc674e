//! `logs`: lines of conmon's k8s-file log, reassembled from partial records.
use std::collections::VecDeque;
use std::time::Duration;

use berth_oci::logs::{LogReader, LogRecord, Stream};
use chrono::{DateTime, FixedOffset, Utc};

use super::ContainerStatus;
use crate::{Engine, EngineError, Result};

/// How often `logs -f` looks for new lines while the container runs.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Only lines written at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only lines written before this time.
    pub until: Option<DateTime<Utc>>,
}

/// One line of output. `text` ends with a newline unless the container's
/// output ended without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub time: DateTime<FixedOffset>,
    pub stream: Stream,
    pub text: Vec<u8>,
}

impl Engine {
    /// Sends the container's log lines to `sink`; with `follow`, keeps
    /// sending until the container is no longer running.
    pub fn logs(
        &self,
        name_or_id: &str,
        options: &LogOptions,
        sink: &mut dyn FnMut(&LogLine) -> Result<()>,
    ) -> Result<()> {
        let (id, log_path) = {
            let (_lock, container) = self.lock_container(name_or_id)?;
            (container.id.clone(), self.paths(&container.id).log)
        };
        if !log_path.exists() {
            // Created but never started: no output yet.
            if !options.follow {
                return Ok(());
            }
        }
        let mut assembler = LineAssembler::default();
        let mut reader = None;

        // First pass: everything already written, with --tail applied.
        let mut first = VecDeque::new();
        read_available(&log_path, &mut reader, &mut assembler, &mut |line| {
            if keep(line, options) {
                first.push_back(line.clone());
                if let Some(tail) = options.tail {
                    while first.len() > tail {
                        first.pop_front();
                    }
                }
            }
            Ok(())
        })?;
        if !options.follow {
            if let Some(line) = assembler.take_partial() {
                if keep(&line, options) {
                    first.push_back(line);
                }
            }
            if let Some(tail) = options.tail {
                while first.len() > tail {
                    first.pop_front();
                }
            }
        }
        for line in &first {
            sink(line)?;
        }
        if !options.follow {
            return Ok(());
        }

        loop {
            let running = {
                let (_lock, container) = self.lock_container(&id)?;
                matches!(
                    container.state.status(),
                    ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Created
                )
            };
            read_available(&log_path, &mut reader, &mut assembler, &mut |line| {
                if keep(line, options) {
                    sink(line)?;
                }
                Ok(())
            })?;
            if !running {
                if let Some(line) = assembler.take_partial() {
                    sink(&line)?;
                }
                return Ok(());
            }
            std::thread::sleep(FOLLOW_INTERVAL);
        }
    }
}

fn keep(line: &LogLine, options: &LogOptions) -> bool {
    let time = line.time.with_timezone(&Utc);
    options.since.is_none_or(|since| time >= since)
        && options.until.is_none_or(|until| time < until)
}

fn read_available(
    path: &std::path::Path,
    reader: &mut Option<LogReader>,
    assembler: &mut LineAssembler,
    emit: &mut dyn FnMut(&LogLine) -> Result<()>,
) -> Result<()> {
    if reader.is_none() {
        if !path.exists() {
            return Ok(());
        }
        *reader = Some(LogReader::open(path)?);
    }
    let Some(reader) = reader.as_mut() else {
        return Ok(());
    };
    while let Some(record) = reader.next_record().map_err(EngineError::from)? {
        if let Some(line) = assembler.push(record) {
            emit(&line)?;
        }
    }
    Ok(())
}

/// Joins `P` (partial) records with the record that completes them, per
/// stream.
#[derive(Default)]
struct LineAssembler {
    pending: Option<LogLine>,
}

impl LineAssembler {
    fn push(&mut self, record: LogRecord) -> Option<LogLine> {
        let mut line = match self.pending.take() {
            Some(mut pending) if pending.stream == record.stream => {
                pending.text.extend_from_slice(&record.text);
                pending
            }
            other => {
                // A partial line of the other stream cannot be continued by
                // this record; it is sent as it is.
                if other.is_some() {
                    self.pending = other;
                }
                LogLine {
                    time: record.time,
                    stream: record.stream,
                    text: record.text.clone(),
                }
            }
        };
        if record.partial {
            if let Some(earlier) = self.pending.replace(line) {
                return Some(earlier);
            }
            return None;
        }
        line.text.push(b'\n');
        Some(line)
    }

    fn take_partial(&mut self) -> Option<LogLine> {
        self.pending.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stream: Stream, partial: bool, text: &str) -> LogRecord {
        LogRecord {
            time: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap(),
            stream,
            partial,
            text: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn assembler_joins_partial_records() {
        let mut assembler = LineAssembler::default();
        assert_eq!(assembler.push(record(Stream::Stdout, true, "hel")), None);
        let line = assembler.push(record(Stream::Stdout, false, "lo")).unwrap();
        assert_eq!(line.text, b"hello\n");
    }

    #[test]
    fn assembler_keeps_final_partial_without_newline() {
        let mut assembler = LineAssembler::default();
        assert_eq!(
            assembler.push(record(Stream::Stdout, true, "no newline")),
            None
        );
        assert_eq!(assembler.take_partial().unwrap().text, b"no newline");
    }
}
