//! CRIU, the checkpoint/restore tool that runc runs: finding it, checking
//! that it works on this kernel, and reading its logs and statistics.
//!
//! runc runs the `criu` it finds in its own `PATH`, so berth looks it up
//! the same way: the binary checked here is the one runc will run.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::runtime::command_line;
use crate::{OciError, Result};

/// CRIU's log of a checkpoint, in the runtime's work directory.
pub const DUMP_LOG: &str = "dump.log";
/// CRIU's log of a restore, in the runtime's work directory. conmon makes
/// the bundle the work directory of a restore.
pub const RESTORE_LOG: &str = "restore.log";
/// CRIU's statistics of a checkpoint, in the work directory.
pub const DUMP_STATS: &str = "stats-dump";
/// CRIU's statistics of a restore, in the work directory.
pub const RESTORE_STATS: &str = "stats-restore";

/// Error lines that CRIU logs but recovers from, so they never explain a
/// failure. CRIU 4.1.1 logs the first one when it runs without
/// CAP_SYS_RESOURCE over the hard RLIMIT_NOFILE, and goes on.
const HARMLESS_ERRORS: &[&str] = &["rlimit: Can't setup RLIMIT_NOFILE for self"];

/// A `criu` binary.
#[derive(Debug, Clone)]
pub struct Criu {
    pub path: PathBuf,
    /// As `criu --version` prints it, e.g. `4.1.1`.
    pub version: String,
}

impl Criu {
    /// Finds `criu` in `PATH`, as runc does.
    pub fn find() -> Result<Criu> {
        let path_var = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::split_paths(&path_var)
            .map(|dir| dir.join("criu"))
            .find(|candidate| crate::runtime::is_executable_file(candidate))
            .ok_or(OciError::CriuNotFound)?;
        let output = run(&path, "--version")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let version = stdout
            .lines()
            .find_map(|line| line.strip_prefix("Version:"))
            .unwrap_or_default()
            .trim()
            .to_string();
        Ok(Criu { path, version })
    }

    /// Runs `criu check`, which tests the kernel features a checkpoint
    /// needs. The error quotes CRIU's first error line.
    pub fn check(&self) -> Result<()> {
        let output = run(&self.path, "check")?;
        if output.status.success() {
            return Ok(());
        }
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let message = first_error(&text)
            .or_else(|| text.lines().next().map(str::to_string))
            .unwrap_or_else(|| format!("exited with {}", output.status));
        Err(OciError::CriuCheckFailed {
            path: self.path.clone(),
            version: self.version.clone(),
            message,
        })
    }
}

fn run(path: &Path, arg: &str) -> Result<std::process::Output> {
    tracing::debug!(command = %command_line(path, &[arg.to_string()]), "running CRIU");
    Command::new(path)
        .arg(arg)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| OciError::io("run", path, source))
}

/// Returns the first error line of a CRIU log file that explains a
/// failure, without CRIU's timestamp and source location.
pub fn log_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    first_error(&text)
}

/// CRIU's error lines look like
/// `(00.240961) Error (criu/files-reg.c:1790): Can't lookup mount=27 ...`.
fn first_error(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| {
            let (_, after) = line.split_once("Error (")?;
            let message = after
                .split_once("): ")
                .map_or(after, |(_, message)| message);
            Some(message.trim().to_string())
        })
        .find(|message| {
            !message.is_empty() && !HARMLESS_ERRORS.iter().any(|known| message.contains(known))
        })
}

/// CRIU's statistics of one checkpoint, as Podman's `--print-stats` shows
/// them. Times are in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DumpStats {
    pub freezing_time: u64,
    pub frozen_time: u64,
    pub memdump_time: u64,
    pub memwrite_time: u64,
    pub pages_scanned: u64,
    pub pages_written: u64,
}

/// CRIU's statistics of one restore. Times are in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestoreStats {
    pub pages_compared: u64,
    pub pages_skipped_cow: u64,
    pub forking_time: u64,
    pub restore_time: u64,
    pub pages_restored: u64,
}

/// Reads `stats-dump` from a checkpoint's work directory.
pub fn read_dump_stats(work_dir: &Path) -> Result<DumpStats> {
    let fields = read_stats(&work_dir.join(DUMP_STATS), 1)?;
    let field = |number| fields.get(&number).copied().unwrap_or_default();
    // Field numbers of DumpStatsEntry in CRIU's images/stats.proto.
    Ok(DumpStats {
        freezing_time: field(1),
        frozen_time: field(2),
        memdump_time: field(3),
        memwrite_time: field(4),
        pages_scanned: field(5),
        pages_written: field(7),
    })
}

/// Reads `stats-restore` from a restore's work directory.
pub fn read_restore_stats(work_dir: &Path) -> Result<RestoreStats> {
    let fields = read_stats(&work_dir.join(RESTORE_STATS), 2)?;
    let field = |number| fields.get(&number).copied().unwrap_or_default();
    // Field numbers of RestoreStatsEntry in CRIU's images/stats.proto.
    Ok(RestoreStats {
        pages_compared: field(1),
        pages_skipped_cow: field(2),
        forking_time: field(3),
        restore_time: field(4),
        pages_restored: field(5),
    })
}

/// Reads the integer fields of one part of a CRIU stats image: field 1
/// (dump) or 2 (restore) of its `StatsEntry`.
///
/// A CRIU image starts with two 32-bit magic numbers, followed by entries
/// that are each a 32-bit little-endian length and a protobuf message.
fn read_stats(path: &Path, part: u64) -> Result<std::collections::BTreeMap<u64, u64>> {
    let bytes = std::fs::read(path).map_err(|source| OciError::io("read", path, source))?;
    let invalid = || OciError::CriuStatsInvalid {
        path: path.to_path_buf(),
    };
    let length_bytes = bytes.get(8..12).ok_or_else(invalid)?;
    let length = u32::from_le_bytes(length_bytes.try_into().map_err(|_| invalid())?) as usize;
    let entry = bytes.get(12..12 + length).ok_or_else(invalid)?;

    let top = protobuf_fields(entry).ok_or_else(invalid)?;
    let Some(ProtobufValue::Bytes(inner)) = top
        .into_iter()
        .find(|(number, _)| *number == part)
        .map(|(_, value)| value)
    else {
        return Ok(Default::default());
    };
    let fields = protobuf_fields(inner).ok_or_else(invalid)?;
    Ok(fields
        .into_iter()
        .filter_map(|(number, value)| match value {
            ProtobufValue::Varint(value) => Some((number, value)),
            ProtobufValue::Bytes(_) => None,
        })
        .collect())
}

enum ProtobufValue<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// Decodes the top-level fields of a protobuf message: varints and
/// length-delimited values, which are all that stats.proto uses. Returns
/// `None` on any other wire type or on truncated input.
fn protobuf_fields(mut input: &[u8]) -> Option<Vec<(u64, ProtobufValue<'_>)>> {
    let mut fields = Vec::new();
    while !input.is_empty() {
        let key = read_varint(&mut input)?;
        let (number, wire_type) = (key >> 3, key & 7);
        match wire_type {
            0 => fields.push((number, ProtobufValue::Varint(read_varint(&mut input)?))),
            2 => {
                let length = usize::try_from(read_varint(&mut input)?).ok()?;
                let value = input.get(..length)?;
                input = &input[length..];
                fields.push((number, ProtobufValue::Bytes(value)));
            }
            _ => return None,
        }
    }
    Some(fields)
}

fn read_varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_error_skips_harmless_lines() {
        let log = "(00.000100) Version: 4.1.1\n\
                   (00.120083) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted\n\
                   (00.240961) Error (criu/files-reg.c:1790): Can't lookup mount=27 for fd=1 path=/tmp/out.log\n\
                   (00.336295) Error (criu/cr-dump.c:2111): Dumping FAILED.\n";
        assert_eq!(
            first_error(log).as_deref(),
            Some("Can't lookup mount=27 for fd=1 path=/tmp/out.log")
        );
    }

    #[test]
    fn first_error_of_clean_log_is_none() {
        assert_eq!(first_error("(00.1) Dumping finished successfully\n"), None);
    }

    #[test]
    fn stats_image_decodes_dump_fields() {
        let dir = tempfile::tempdir().unwrap();
        // Two magics, then length 10 and StatsEntry { dump { 1: 300, 5: 7, 7: 2 } }.
        let dump = [0x08, 0xac, 0x02, 0x28, 0x07, 0x38, 0x02];
        let mut entry = vec![0x0a, dump.len() as u8];
        entry.extend_from_slice(&dump);
        let mut image = vec![0x40, 0x59, 0x10, 0x55, 0x06, 0x33, 0x09, 0x57];
        image.extend_from_slice(&(entry.len() as u32).to_le_bytes());
        image.extend_from_slice(&entry);
        std::fs::write(dir.path().join(DUMP_STATS), image).unwrap();

        let stats = read_dump_stats(dir.path()).unwrap();
        assert_eq!(stats.freezing_time, 300);
        assert_eq!(stats.pages_scanned, 7);
        assert_eq!(stats.pages_written, 2);
        assert_eq!(stats.memdump_time, 0);
    }

    #[test]
    fn truncated_stats_image_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DUMP_STATS), [0u8; 6]).unwrap();
        assert!(matches!(
            read_dump_stats(dir.path()),
            Err(OciError::CriuStatsInvalid { .. })
        ));
    }
}
