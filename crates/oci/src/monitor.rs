//! The conmon monitor: the create handshake, as described in
//! docs/architecture.md.
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Result, Runtime};

/// The conmon binary.
#[derive(Debug, Clone)]
pub struct Monitor {
    pub path: PathBuf,
}

/// Everything conmon needs to create one container.
#[derive(Debug, Clone)]
pub struct CreateRequest<'a> {
    pub container_id: &'a str,
    pub container_name: &'a str,
    pub runtime: &'a Runtime,
    /// The bundle dir with config.json; conmon's working directory, where it
    /// also makes the attach socket and ctl/winsz fifos (`--full-attach`).
    pub bundle: &'a Path,
    /// The runtime writes the container's init pid here.
    pub pid_file: &'a Path,
    /// k8s-file log.
    pub log_path: &'a Path,
    /// Bytes; `None` for no limit.
    pub log_size_max: Option<u64>,
    /// conmon writes the exit code to `exit_dir/<container_id>`.
    pub exit_dir: &'a Path,
    /// conmon writes the exit code to `persist_dir/exit` too.
    pub persist_dir: &'a Path,
    pub conmon_pid_file: &'a Path,
    /// Program and arguments conmon runs after the container exits.
    pub exit_command: &'a [String],
    pub terminal: bool,
    pub stdin: bool,
    /// Cgroup path (relative to each hierarchy's root) that conmon is moved
    /// into before it is told to start; `None` leaves it where it is.
    pub monitor_cgroup: Option<&'a str>,
    /// Bound on the wait for the sync message.
    pub timeout: Duration,
    /// Passes `--log-level debug` to conmon and the runtime.
    pub debug: bool,
}

/// What the handshake returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    /// The container's init process.
    pub pid: i32,
    /// The conmon process that stays behind.
    pub monitor_pid: i32,
}

impl Monitor {
    /// Uses `path`, or `conmon` from PATH (then `/usr/libexec/podman/conmon`).
    pub fn find(path: Option<&Path>) -> Result<Monitor> {
        let _ = path;
        todo!()
    }

    /// The first line of `conmon --version`.
    pub fn version(&self) -> Result<String> {
        todo!()
    }

    /// Runs the create handshake. On failure the container is deleted from
    /// the runtime and the runtime's own message is returned.
    pub fn create(&self, request: &CreateRequest<'_>) -> Result<Created> {
        let _ = request;
        todo!()
    }
}
