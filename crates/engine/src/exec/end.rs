//! The end of exec sessions: recording exit codes (`container cleanup
//! --exec`, and whenever sessions are read), ending live sessions when
//! their container stops, and forgetting them when it is removed or
//! started again.
use std::time::Duration;

use chrono::Utc;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tracing::{debug, warn};

use super::start::remove_dir_quietly;
use super::ExecSession;
use crate::container::Container;
use crate::process::{self, ProcessHandle};
use crate::{Engine, EngineError, Result};

/// Bound on the wait for an exec process after SIGKILL, and for conmon to
/// write its exit file after it died.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// A live exec process that was sent a signal.
pub(crate) struct SignalledSession {
    session: ExecSession,
    process: ProcessHandle,
}

impl Engine {
    /// Records the exit of an exec session and removes its files; what
    /// conmon's exit command for an exec session runs. A session that is
    /// gone or still running is left alone, so a repeated call is harmless.
    pub fn cleanup_exec(&self, container: &str, session_id: &str) -> Result<()> {
        let (_lock, container) = match self.lock_container(container) {
            Ok(found) => found,
            Err(EngineError::NoSuchContainer { .. }) => return Ok(()),
            Err(error) => return Err(error),
        };
        let Some(mut session) = self.db.exec_session(session_id)? else {
            // An attached session's caller removed it already.
            remove_dir_quietly(&self.exec_paths(session_id).dir);
            return Ok(());
        };
        if session.container_id != container.id {
            return Ok(());
        }
        self.sync_exec_session(&mut session)?;
        if !session.running {
            remove_dir_quietly(&self.exec_paths(session_id).dir);
        }
        Ok(())
    }

    /// Lists the container's sessions after syncing running ones from
    /// their exit files. Caller holds the container's lock.
    pub(crate) fn synced_exec_sessions(&self, container_id: &str) -> Result<Vec<ExecSession>> {
        let mut sessions = self.db.exec_sessions_of(container_id)?;
        for session in &mut sessions {
            self.sync_exec_session(session)?;
        }
        Ok(sessions)
    }

    /// Records the exit of a running session whose exit file conmon has
    /// written, or whose conmon died without writing one (exit code -1).
    fn sync_exec_session(&self, session: &mut ExecSession) -> Result<()> {
        if !session.running {
            return Ok(());
        }
        let exit_file = self.exec_paths(&session.id).exit_file;
        let code = match std::fs::read_to_string(&exit_file) {
            Ok(text) => match text.trim().parse::<i32>() {
                Ok(code) => Some(code),
                // conmon creates the file and then writes it.
                Err(_) => return Ok(()),
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let details = &session.details;
                let monitor_alive =
                    process::start_time(details.monitor_pid) == Some(details.monitor_start_time);
                if monitor_alive {
                    return Ok(());
                }
                warn!(exec_id = %session.id, monitor_pid = details.monitor_pid, "conmon of the exec session died without writing an exit file; recording exit code -1");
                Some(-1)
            }
            Err(error) => return Err(EngineError::io("read exit file", &exit_file, error)),
        };
        debug!(exec_id = %session.id, exit_code = ?code, "exec session exited");
        session.running = false;
        session.exit_code = code;
        session.details.finished_at = Some(Utc::now());
        self.db.finish_exec_session(session)
    }

    /// Sends `signal` to every live exec process of the container, first
    /// step of stopping it. Caller holds the container's lock.
    pub(crate) fn signal_exec_sessions(
        &self,
        container: &Container,
        signal: Signal,
    ) -> Result<Vec<SignalledSession>> {
        let mut signalled = Vec::new();
        for session in self.synced_exec_sessions(&container.id)? {
            if !session.running {
                continue;
            }
            let Some(process) = ProcessHandle::open(session.pid, session.details.pid_start_time)
            else {
                continue;
            };
            debug!(exec_id = %session.id, pid = session.pid, %signal, "signalling exec process");
            if let Err(errno) = kill(Pid::from_raw(session.pid), signal) {
                debug!(exec_id = %session.id, %errno, "exec process gone before the signal");
            }
            signalled.push(SignalledSession { session, process });
        }
        Ok(signalled)
    }

    /// Waits for signalled exec processes until `timeout` passed, sends
    /// SIGKILL to those still alive, and records every exit code. Caller
    /// holds the container's lock; conmon's exit commands for these
    /// sessions wait for it and then find them recorded.
    pub(crate) fn end_exec_sessions(&self, sessions: Vec<SignalledSession>, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        for SignalledSession { session, process } in &sessions {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if process.wait_exit(Some(left)) {
                continue;
            }
            warn!(exec_id = %session.id, timeout_seconds = timeout.as_secs(), "exec process did not stop in time; sending SIGKILL");
            if let Err(errno) = kill(Pid::from_raw(session.pid), Signal::SIGKILL) {
                debug!(exec_id = %session.id, %errno, "exec process gone before SIGKILL");
            }
            if !process.wait_exit(Some(KILL_GRACE)) {
                warn!(exec_id = %session.id, pid = session.pid, "exec process still alive after SIGKILL");
            }
        }

        for SignalledSession { mut session, .. } in sessions {
            let exit_file = self.exec_paths(&session.id).exit_file;
            if !process::wait_for_file(&exit_file, KILL_GRACE) {
                warn!(exec_id = %session.id, "conmon wrote no exit file after the exec process stopped");
            }
            if let Err(error) = self.sync_exec_session(&mut session) {
                warn!(exec_id = %session.id, %error, "cannot record the exec session's exit");
            }
        }
    }

    /// Forgets every session of the container with its files, when the
    /// container is removed or started again. Caller holds the lock.
    pub(crate) fn forget_exec_sessions(&self, container_id: &str) -> Result<()> {
        for session in self.db.exec_sessions_of(container_id)? {
            if session.running {
                // The container is not running, so neither is the session;
                // its record is only stale.
                debug!(exec_id = %session.id, "forgetting a session recorded as running");
            }
            self.db.delete_exec_session(&session.id)?;
            remove_dir_quietly(&self.exec_paths(&session.id).dir);
        }
        Ok(())
    }
}
