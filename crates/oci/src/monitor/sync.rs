//! The sync and attach pipes: conmon's JSON lines reporting the create
//! result, or an exec session's pid and then its exit code.
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// One message from conmon (`--api-version 1`): `{"data": N}` with the
/// container pid, or a negative `data` and the runtime's `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyncMessage {
    pub data: i64,
    pub message: Option<String>,
}

/// Result of reading the sync pipe.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SyncOutcome {
    Message(SyncMessage),
    /// conmon closed the pipe without a complete message. The text is
    /// whatever it sent before closing.
    Closed(String),
    TimedOut,
}

/// Reads until one complete line arrives, the pipe closes, or `deadline`.
pub(super) fn read_message(pipe: OwnedFd, deadline: Instant) -> std::io::Result<SyncOutcome> {
    SyncReader::new(pipe).read_message(Some(deadline))
}

/// A pipe from conmon that carries several messages (an exec session's
/// sync pipe: the pid, later the exit code). Bytes after the first newline
/// are kept for the next message, because both may arrive in one read.
#[derive(Debug)]
pub(super) struct SyncReader {
    file: File,
    received: Vec<u8>,
}

impl SyncReader {
    pub(super) fn new(pipe: OwnedFd) -> SyncReader {
        SyncReader {
            file: File::from(pipe),
            received: Vec::new(),
        }
    }

    /// Reads until one complete line arrives, the pipe closes, or
    /// `deadline`; `None` waits without a bound.
    pub(super) fn read_message(
        &mut self,
        deadline: Option<Instant>,
    ) -> std::io::Result<SyncOutcome> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(newline) = self.received.iter().position(|&byte| byte == b'\n') {
                let line: Vec<u8> = self.received.drain(..=newline).collect();
                let line = String::from_utf8_lossy(&line[..newline]).into_owned();
                return Ok(match parse_message(&line) {
                    Some(message) => SyncOutcome::Message(message),
                    None => SyncOutcome::Closed(line),
                });
            }

            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(deadline) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if remaining.is_zero() {
                        return Ok(SyncOutcome::TimedOut);
                    }
                    PollTimeout::try_from(remaining).unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => return Ok(SyncOutcome::TimedOut),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
            }

            let read = match self.file.read(&mut chunk) {
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if read == 0 {
                let text = String::from_utf8_lossy(&self.received).into_owned();
                self.received.clear();
                return Ok(match parse_message(&text) {
                    Some(message) => SyncOutcome::Message(message),
                    None => SyncOutcome::Closed(text),
                });
            }
            self.received.extend_from_slice(&chunk[..read]);
        }
    }
}

/// Parses `{"data": N}` or `{"data": N, "message": "..."}`. Falls back to
/// a lenient scan because older conmon releases did not escape every
/// character of the runtime's message.
pub(super) fn parse_message(line: &str) -> Option<SyncMessage> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_str(line) {
        let data = object
            .get("data")
            .or_else(|| object.get("pid"))
            .and_then(|data| data.as_i64())?;
        let message = object
            .get("message")
            .and_then(|message| message.as_str())
            .map(str::to_string);
        return Some(SyncMessage { data, message });
    }

    let after_key = line.split_once("\"data\":")?.1.trim_start();
    let digits_end = after_key
        .char_indices()
        .find(|&(index, c)| !(c.is_ascii_digit() || (index == 0 && c == '-')))
        .map_or(after_key.len(), |(index, _)| index);
    let data = after_key[..digits_end].parse().ok()?;
    let message = line.split_once("\"message\": \"").map(|(_, rest)| {
        rest.strip_suffix("\"}")
            .unwrap_or(rest)
            .replace("\\\"", "\"")
            .replace("\\n", "\n")
    });
    Some(SyncMessage { data, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_message_parses() {
        assert_eq!(
            parse_message("{\"data\": 4242}\n"),
            Some(SyncMessage {
                data: 4242,
                message: None
            })
        );
    }

    #[test]
    fn error_message_parses() {
        let line = r#"{"data": -1, "message": "executable file `foo` not found in $PATH: No such file or directory\n"}"#;
        assert_eq!(
            parse_message(line),
            Some(SyncMessage {
                data: -1,
                message: Some(
                    "executable file `foo` not found in $PATH: No such file or directory\n"
                        .to_string()
                ),
            })
        );
    }

    #[test]
    fn unescaped_message_parses_leniently() {
        let line = "{\"data\": -1, \"message\": \"bad \\x01 \"quote\" here\"}";
        let message = parse_message(line).unwrap();
        assert_eq!(message.data, -1);
        assert_eq!(message.message.as_deref(), Some("bad \\x01 \"quote\" here"));
    }

    #[test]
    fn two_messages_in_one_write_both_read() {
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        let mut writer = File::from(write_end);
        std::io::Write::write_all(&mut writer, b"{\"data\": 42}\n{\"data\": 7}\n").unwrap();
        drop(writer);

        let mut reader = SyncReader::new(read_end);
        let first = reader.read_message(None).unwrap();
        let second = reader.read_message(None).unwrap();
        let after = reader.read_message(None).unwrap();
        assert_eq!(
            first,
            SyncOutcome::Message(SyncMessage {
                data: 42,
                message: None
            })
        );
        assert_eq!(
            second,
            SyncOutcome::Message(SyncMessage {
                data: 7,
                message: None
            })
        );
        assert_eq!(after, SyncOutcome::Closed(String::new()));
    }

    #[test]
    fn garbage_is_not_a_message() {
        assert_eq!(parse_message(""), None);
        assert_eq!(parse_message("[conmon:e]: oops"), None);
    }
}
