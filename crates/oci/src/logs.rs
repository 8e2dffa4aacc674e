//! Reader of conmon's k8s-file log format:
//! `RFC3339NANO STREAM F|P TEXT`, where `P` marks a partial line that the
//! next record continues.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};

use crate::{OciError, Result};

/// Bytes read from the file at a time.
const READ_CHUNK: usize = 64 * 1024;

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
///
/// Only records ending in a newline are returned: a record that conmon is
/// still writing stays buffered until its newline arrives. Lines that are not
/// k8s-file records are skipped with a warning.
pub struct LogReader {
    path: PathBuf,
    file: File,
    /// Bytes read from the file but not yet returned; `buffer[start..]` is
    /// pending.
    buffer: Vec<u8>,
    start: usize,
    /// File offset just after the last byte in `buffer`.
    position: u64,
}

impl LogReader {
    pub fn open(path: &Path) -> Result<LogReader> {
        let file = File::open(path).map_err(|source| OciError::io("open log", path, source))?;
        Ok(LogReader {
            path: path.to_path_buf(),
            file,
            buffer: Vec::new(),
            start: 0,
            position: 0,
        })
    }

    /// The next complete record, or `None` at the current end of file.
    pub fn next_record(&mut self) -> Result<Option<LogRecord>> {
        loop {
            while let Some(line) = self.take_line() {
                match parse_record(&line) {
                    Some(record) => return Ok(Some(record)),
                    None => tracing::warn!(
                        path = %self.path.display(),
                        line = %String::from_utf8_lossy(&line),
                        "skipping a line that is not a k8s-file log record"
                    ),
                }
            }
            if self.fill()? == 0 {
                return Ok(None);
            }
        }
    }

    /// Removes the next newline-terminated line from the buffer, without
    /// its newline.
    fn take_line(&mut self) -> Option<Vec<u8>> {
        let pending = &self.buffer[self.start..];
        let newline = pending.iter().position(|&byte| byte == b'\n')?;
        let line = pending[..newline].to_vec();
        self.start += newline + 1;
        Some(line)
    }

    /// Reads more of the file into the buffer; returns the number of bytes
    /// read, 0 at end of file.
    fn fill(&mut self) -> Result<usize> {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.restart_if_truncated()?;

        let old_len = self.buffer.len();
        self.buffer.resize(old_len + READ_CHUNK, 0);
        let read = loop {
            match self.file.read(&mut self.buffer[old_len..]) {
                Ok(read) => break read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    self.buffer.truncate(old_len);
                    return Err(OciError::io("read log", &self.path, source));
                }
            }
        };
        self.buffer.truncate(old_len + read);
        self.position += read as u64;
        Ok(read)
    }

    /// conmon truncates the log file when it reaches `--log-size-max`; a
    /// file shorter than what was read means reading starts over.
    fn restart_if_truncated(&mut self) -> Result<()> {
        let length = self
            .file
            .metadata()
            .map_err(|source| OciError::io("stat log", &self.path, source))?
            .len();
        if length >= self.position {
            return Ok(());
        }

        tracing::debug!(path = %self.path.display(), length, position = self.position, "log file was truncated, reading from its start");
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|source| OciError::io("seek log", &self.path, source))?;
        self.buffer.clear();
        self.position = 0;
        Ok(())
    }
}

/// Parses one line (without its newline) of a k8s-file log.
fn parse_record(line: &[u8]) -> Option<LogRecord> {
    let mut fields = line.splitn(4, |&byte| byte == b' ');
    let time = std::str::from_utf8(fields.next()?).ok()?;
    let stream = fields.next()?;
    let tag = fields.next()?;
    // conmon writes `TIME STREAM F ` before the text; an empty final field
    // is an empty line.
    let text = fields.next().unwrap_or_default();

    let time = DateTime::parse_from_rfc3339(time).ok()?;
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match tag {
        b"F" => false,
        b"P" => true,
        _ => return None,
    };
    Some(LogRecord {
        time,
        stream,
        partial,
        text: text.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn append(path: &Path, bytes: &[u8]) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(bytes).unwrap();
    }

    #[test]
    fn records_parse_stream_tag_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        append(
            &path,
            b"2024-05-01T10:20:30.123456789+02:00 stdout F hello world\n\
              2024-05-01T10:20:31.000000001Z stderr P part \n",
        );

        let mut reader = LogReader::open(&path).unwrap();
        let first = reader.next_record().unwrap().unwrap();
        assert_eq!(first.stream, Stream::Stdout);
        assert!(!first.partial);
        assert_eq!(first.text, b"hello world");
        assert_eq!(
            first.time,
            DateTime::parse_from_rfc3339("2024-05-01T08:20:30.123456789Z").unwrap()
        );
        assert_eq!(first.time.timestamp_subsec_nanos(), 123_456_789);

        let second = reader.next_record().unwrap().unwrap();
        assert_eq!(second.stream, Stream::Stderr);
        assert!(second.partial);
        assert_eq!(second.text, b"part ");

        assert_eq!(reader.next_record().unwrap(), None);
    }

    #[test]
    fn empty_text_is_empty_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        append(
            &path,
            b"2024-05-01T10:20:30Z stdout F \n2024-05-01T10:20:30Z stdout F\n",
        );

        let mut reader = LogReader::open(&path).unwrap();
        assert_eq!(reader.next_record().unwrap().unwrap().text, b"");
        assert_eq!(reader.next_record().unwrap().unwrap().text, b"");
        assert_eq!(reader.next_record().unwrap(), None);
    }

    #[test]
    fn incomplete_line_waits_for_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        append(
            &path,
            b"2024-05-01T10:20:30Z stdout F first\n2024-05-01T10:2",
        );

        let mut reader = LogReader::open(&path).unwrap();
        assert_eq!(reader.next_record().unwrap().unwrap().text, b"first");
        assert_eq!(reader.next_record().unwrap(), None);
        assert_eq!(reader.next_record().unwrap(), None);

        append(&path, b"0:31Z stderr F sec");
        assert_eq!(reader.next_record().unwrap(), None);

        append(&path, b"ond\n");
        let record = reader.next_record().unwrap().unwrap();
        assert_eq!(record.stream, Stream::Stderr);
        assert_eq!(record.text, b"second");
        assert_eq!(reader.next_record().unwrap(), None);
    }

    #[test]
    fn reading_resumes_after_eof() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        append(&path, b"2024-05-01T10:20:30Z stdout F one\n");

        let mut reader = LogReader::open(&path).unwrap();
        assert_eq!(reader.next_record().unwrap().unwrap().text, b"one");
        assert_eq!(reader.next_record().unwrap(), None);

        append(
            &path,
            b"2024-05-01T10:20:31Z stdout F two\n2024-05-01T10:20:32Z stdout F three\n",
        );
        assert_eq!(reader.next_record().unwrap().unwrap().text, b"two");
        assert_eq!(reader.next_record().unwrap().unwrap().text, b"three");
        assert_eq!(reader.next_record().unwrap(), None);
    }

    #[test]
    fn non_utf8_text_kept_as_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        append(
            &path,
            b"2024-05-01T10:20:30Z stdout F \xff\xfe bin\x00ary\n",
        );

        let mut reader = LogReader::open(&path).unwrap();
        assert_eq!(
            reader.next_record().unwrap().unwrap().text,
            b"\xff\xfe bin\x00ary"
        );
    }

    #[test]
    fn malformed_lines_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        append(
            &path,
            b"garbage\n\
              2024-05-01T10:20:30Z stdin F wrong stream\n\
              2024-05-01T10:20:30Z stdout X wrong tag\n\
              not-a-time stdout F text\n\
              2024-05-01T10:20:30Z stdout F good\n",
        );

        let mut reader = LogReader::open(&path).unwrap();
        assert_eq!(reader.next_record().unwrap().unwrap().text, b"good");
        assert_eq!(reader.next_record().unwrap(), None);
    }

    #[test]
    fn truncated_file_read_from_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        append(
            &path,
            b"2024-05-01T10:20:30Z stdout F a long first record\n",
        );

        let mut reader = LogReader::open(&path).unwrap();
        assert_eq!(
            reader.next_record().unwrap().unwrap().text,
            b"a long first record"
        );
        std::fs::write(&path, b"2024-05-01T10:20:31Z stdout F new\n").unwrap();
        assert_eq!(reader.next_record().unwrap().unwrap().text, b"new");
    }

    #[test]
    fn missing_file_is_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.log");
        let error = LogReader::open(&path).err().unwrap();
        assert_eq!(
            error.to_string(),
            format!(
                "open log {}: No such file or directory (os error 2)",
                path.display()
            )
        );
    }
}
