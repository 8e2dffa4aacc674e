//! `stop` and `kill`.
use std::time::Duration;

use nix::sys::signal::Signal;
use tracing::{debug, warn};

use super::start::invalid_state;
use super::{Container, ContainerStatus};
use crate::process::{self, ProcessHandle};
use crate::{Engine, EngineError, Result};

/// Bound on the wait for a container after SIGKILL, and for conmon to write
/// the exit file after the container died.
const KILL_GRACE: Duration = Duration::from_secs(10);

impl Engine {
    /// Stops a running container: its stop signal (SIGTERM to its exec
    /// processes), then SIGKILL to every process after `timeout` seconds
    /// (the container's stop timeout when `None`). Stopping a container that is not running succeeds. The
    /// container is `exited` afterwards, with its runtime resources freed.
    pub fn stop(&self, name_or_id: &str, timeout: Option<u32>) -> Result<()> {
        let (_lock, mut container) = self.lock_container(name_or_id)?;
        self.stop_locked(&mut container, timeout)
    }

    pub(crate) fn stop_locked(
        &self,
        container: &mut Container,
        timeout: Option<u32>,
    ) -> Result<()> {
        let runtime = self.runtime(&container.config.runtime)?;
        match container.state.status() {
            ContainerStatus::Configured | ContainerStatus::Exited => {
                // A restart policy must not bring back a container the user
                // stopped while it waited for its cleanup.
                if !container.state.stopped_by_user {
                    container.state.stopped_by_user = true;
                    self.db.save_state(&container.id, &container.state)?;
                }
                return Ok(());
            }
            ContainerStatus::Created => {
                // Never started: deleting the runtime container kills its
                // waiting process and ends conmon. Podman then shows the
                // container as exited by SIGKILL.
                self.release_runtime_resources(container);
                container.state.status = Some(ContainerStatus::Exited);
                container.state.exit_code = Some(137);
                container.state.finished_at = Some(chrono::Utc::now());
                container.state.stopped_by_user = true;
                return self.db.save_state(&container.id, &container.state);
            }
            ContainerStatus::Paused => {
                // A frozen process cannot handle its stop signal.
                runtime.resume(&container.id)?;
            }
            ContainerStatus::Running => {}
        }

        // Recorded before the signal, so the cleanup that conmon starts when
        // the process dies sees it and does not restart the container.
        container.state.stopped_by_user = true;
        self.db.save_state(&container.id, &container.state)?;

        let timeout = Duration::from_secs(timeout.unwrap_or(container.config.stop_timeout).into());
        let process = ProcessHandle::open(container.state.pid, container.state.pid_start_time);

        // Exec sessions get SIGTERM together with the container's stop
        // signal and share its timeout. The SIGKILL to all of the
        // container's processes below reaches them too.
        let exec_signal = if timeout.is_zero() {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        };
        let exec_sessions = self.signal_exec_sessions(container, exec_signal)?;
        let mut killed = false;

        if let Some(process) = &process {
            if !timeout.is_zero() {
                // The runtime's `kill` without `--all` signals the init
                // process and nothing else. The pidfd does the same without
                // starting a runtime process.
                debug!(container_id = %container.id, signal = container.config.stop_signal, "sending stop signal");
                process
                    .send_signal(container.config.stop_signal)
                    .map_err(|e| EngineError::Signal {
                        name: container.name.clone(),
                        signal: container.config.stop_signal,
                        source: e,
                    })?;
            }
            if timeout.is_zero() || !process.wait_exit(Some(timeout)) {
                if !timeout.is_zero() {
                    warn!(container_id = %container.id, timeout_seconds = timeout.as_secs(), "container did not stop in time; sending SIGKILL");
                }
                // A rootless runtime cannot freeze a cgroup to signal every
                // process, so only init gets SIGKILL there, and the kernel
                // ends the rest of the pid namespace with it.
                let all = !self.options.rootless;
                ignore_gone(runtime.kill(&container.id, libc::SIGKILL, all))?;
                killed = true;
                if !process.wait_exit(Some(KILL_GRACE)) {
                    return Err(EngineError::StopTimedOut {
                        name: container.name.clone(),
                        seconds: KILL_GRACE.as_secs(),
                    });
                }
            }
        }
        self.end_exec_sessions(exec_sessions, timeout);
        crate::pause_point::reach("stop-after-kill");

        // conmon writes the exit file right after the container dies. Its
        // own exit comes later, after the exit command, which waits for
        // this process's lock, so waiting for conmon here would deadlock.
        let exit_file = self.paths(&container.id).exit_file;
        let monitor_alive = process::start_time(container.state.monitor_pid)
            == Some(container.state.monitor_start_time);
        if monitor_alive && !process::wait_for_file(&exit_file, KILL_GRACE) {
            warn!(container_id = %container.id, "conmon wrote no exit file after the container stopped");
        }
        if !monitor_alive && container.state.status().is_active() {
            // No conmon to report the exit: the code is the signal that
            // ended the process, as the shell would report it.
            let code = if killed {
                128 + libc::SIGKILL
            } else {
                128 + container.config.stop_signal
            };
            self.record_exit(container, code, chrono::Utc::now())?;
        }

        self.sync(container)?;
        // Once this lock is free, conmon's exit command (`container
        // cleanup`) deletes the runtime container and unmounts the rootfs,
        // so stop returns as soon as the exit is recorded. When conmon is
        // gone no exit command will run, and stop frees them itself.
        let monitor_alive = process::start_time(container.state.monitor_pid)
            == Some(container.state.monitor_start_time);
        if !monitor_alive {
            self.release_runtime_resources(container);
            self.db.save_state(&container.id, &container.state)?;
        }
        self.emit(container, "stop");
        Ok(())
    }

    /// Sends `signal` to a running container's init process.
    pub fn kill(&self, name_or_id: &str, signal: &str) -> Result<()> {
        let signal = berth_oci::signal::parse(signal)?;
        let (_lock, mut container) = self.lock_container(name_or_id)?;
        if !matches!(
            container.state.status(),
            ContainerStatus::Running | ContainerStatus::Paused
        ) {
            return Err(invalid_state(
                &container,
                "kill",
                ": only running containers can be signalled",
            ));
        }
        // As in Podman, a container the user killed is not brought back by
        // its restart policy, whatever the signal.
        if !container.state.stopped_by_user {
            container.state.stopped_by_user = true;
            self.db.save_state(&container.id, &container.state)?;
        }
        let runtime = self.runtime(&container.config.runtime)?;
        runtime.kill(&container.id, signal, false)?;
        self.emit(&container, "kill");
        Ok(())
    }
}

/// Treats a kill that fails because the container is already gone as
/// success for `stop`.
fn ignore_gone(result: berth_oci::Result<()>) -> Result<()> {
    match result {
        Err(berth_oci::OciError::RuntimeFailed { message, .. })
            // runc: "container not running"; crun: "No such process", or
            // "error opening file `ROOT/ID/status`" once it forgot the container.
            if message.contains("not running")
                || message.contains("does not exist")
                || message.contains("No such process")
                || message.contains("No such file or directory") =>
        {
            Ok(())
        }
        other => Ok(other?),
    }
}
