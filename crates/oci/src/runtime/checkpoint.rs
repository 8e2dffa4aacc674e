//! `checkpoint` and CRIU support of a runtime. Restore goes through conmon
//! (see [`crate::monitor::RestoreRequest`]), because the restored process
//! needs a monitor like a created one.
use std::path::Path;

use super::{first_line, Runtime};
use crate::criu::{self, Criu};
use crate::{OciError, Result};

/// How to checkpoint a container.
#[derive(Debug, Clone)]
pub struct CheckpointRequest<'a> {
    /// Directory for CRIU's checkpoint images.
    pub image_path: &'a Path,
    /// Directory for CRIU's `dump.log` and `stats-dump`.
    pub work_path: &'a Path,
    /// Keep the container running after the checkpoint.
    pub leave_running: bool,
    /// Checkpoint established TCP connections (`--tcp-established`).
    pub tcp_established: bool,
    /// Checkpoint file locks (`--file-locks`).
    pub file_locks: bool,
}

impl Runtime {
    /// Checks that this runtime is built with CRIU support.
    ///
    /// crun is built with CRIU support only optionally and then lists it on
    /// the features line of `crun --version` (`+CRIU`). Debian 12's crun 1.8.1
    /// lacks it. runc always links its CRIU support.
    pub fn check_criu_support(&self) -> Result<()> {
        if self.name != "crun" {
            return Ok(());
        }
        let output = self.run_command(&["--version".to_string()])?;
        let text = String::from_utf8_lossy(&output.stdout);
        if text.split_whitespace().any(|feature| feature == "+CRIU") {
            return Ok(());
        }
        Err(OciError::RuntimeWithoutCriu {
            runtime: self.name.clone(),
            version: first_line(&output.stdout),
        })
    }

    /// Checks that this runtime can checkpoint and restore with the CRIU in
    /// `PATH`, and returns that CRIU.
    pub fn check_checkpoint_support(&self) -> Result<Criu> {
        self.check_criu_support()?;
        let criu = Criu::find()?;
        criu.check()?;
        Ok(criu)
    }

    /// Checkpoints a running container with CRIU. Unless `leave_running`,
    /// the container's processes are gone afterwards and the runtime has
    /// deleted the container. On failure the error quotes CRIU's log.
    pub fn checkpoint(&self, id: &str, request: &CheckpointRequest<'_>) -> Result<()> {
        let args = checkpoint_args(id, request);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.run_verb(&args)?;
        if output.status.success() {
            return Ok(());
        }
        let log = request.work_path.join(criu::DUMP_LOG);
        match criu::log_error(&log) {
            Some(criu_message) => Err(OciError::CriuFailed {
                runtime: self.name.clone(),
                op: "checkpoint",
                id: id.to_string(),
                criu_message,
                log,
            }),
            None => Err(self.failed("checkpoint", id, &output)),
        }
    }
}

/// The runtime's arguments for a checkpoint, after its global `--root`.
fn checkpoint_args(id: &str, request: &CheckpointRequest<'_>) -> Vec<String> {
    let mut args = vec![
        "checkpoint".to_string(),
        "--image-path".to_string(),
        request.image_path.to_string_lossy().into_owned(),
        "--work-path".to_string(),
        request.work_path.to_string_lossy().into_owned(),
    ];
    let flags = [
        ("--leave-running", request.leave_running),
        ("--tcp-established", request.tcp_established),
        ("--file-locks", request.file_locks),
    ];
    for (flag, given) in flags {
        if given {
            args.push(flag.to_string());
        }
    }
    args.push(id.to_string());
    args
}

/// runc's arguments for a restore that conmon adds after its own
/// `restore --bundle B --pid-file P --detach --image-path I --work-path B`.
pub(crate) fn restore_options(tcp_established: bool, file_locks: bool) -> Vec<String> {
    let mut options = Vec::new();
    if tcp_established {
        options.push("--tcp-established".to_string());
    }
    if file_locks {
        options.push("--file-locks".to_string());
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_args_carry_paths_and_flags() {
        let mut request = CheckpointRequest {
            image_path: Path::new("/b/checkpoint"),
            work_path: Path::new("/b"),
            leave_running: false,
            tcp_established: false,
            file_locks: false,
        };
        assert_eq!(
            checkpoint_args("abc", &request),
            vec![
                "checkpoint",
                "--image-path",
                "/b/checkpoint",
                "--work-path",
                "/b",
                "abc"
            ]
        );

        request.leave_running = true;
        request.tcp_established = true;
        request.file_locks = true;
        assert_eq!(
            checkpoint_args("abc", &request)[5..],
            [
                "--leave-running",
                "--tcp-established",
                "--file-locks",
                "abc"
            ]
        );
    }

    #[test]
    fn restore_options_follow_flags() {
        assert!(restore_options(false, false).is_empty());
        assert_eq!(
            restore_options(true, true),
            vec!["--tcp-established", "--file-locks"]
        );
    }
}
