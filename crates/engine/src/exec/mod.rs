//! Exec sessions: more processes in a running container, each started by
//! its own conmon in exec mode and recorded in `exec_sessions`.
//!
//! A session's files live in `runroot/exec/<session id>/`: the process
//! spec, the pid files, conmon's attach socket and ctl/winsz fifos, and its
//! own exit and persist dirs. conmon names the exit file after `-c`, the
//! container id, so sessions cannot share an exit dir.

mod end;
mod inspect;
mod start;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Engine;

pub use inspect::{ExecInspect, ExecProcessConfig};
pub use start::{ExecOptions, ExecTerminal};

/// One exec session as stored.
#[derive(Debug, Clone)]
pub struct ExecSession {
    pub id: String,
    pub container_id: String,
    /// The exec process, as a host pid. It stays recorded after the exit.
    pub pid: i32,
    pub command: Vec<String>,
    /// `None` while running, or when the session ended with no known code.
    pub exit_code: Option<i32>,
    pub running: bool,
    pub details: ExecDetails,
}

/// The rest of a session's record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecDetails {
    /// As given by `-u`, or the container's user.
    pub user: String,
    pub workdir: String,
    pub tty: bool,
    pub interactive: bool,
    pub privileged: bool,
    pub detached: bool,
    /// Start time of `pid` in clock ticks since boot, so a reused pid is
    /// never signalled.
    pub pid_start_time: u64,
    pub monitor_pid: i32,
    pub monitor_start_time: u64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Paths of one session's files.
#[derive(Debug, Clone)]
pub(crate) struct ExecPaths {
    /// conmon's working directory (`-b`), with the attach socket.
    pub dir: PathBuf,
    pub process_spec: PathBuf,
    pub pid_file: PathBuf,
    pub monitor_pid_file: PathBuf,
    pub exit_dir: PathBuf,
    pub persist_dir: PathBuf,
    /// `persist_dir/exit`, written by conmon with the exit code.
    pub exit_file: PathBuf,
}

impl Engine {
    pub(crate) fn exec_paths(&self, session_id: &str) -> ExecPaths {
        let dir = self.options.runroot.join("exec").join(session_id);
        let persist_dir = dir.join("persist");
        ExecPaths {
            process_spec: dir.join("process.json"),
            pid_file: dir.join("pid"),
            monitor_pid_file: dir.join("conmon.pid"),
            exit_dir: dir.join("exits"),
            exit_file: persist_dir.join("exit"),
            persist_dir,
            dir,
        }
    }
}
