//! Bringing recorded state in line with the truth: the exit file first
//! (cheap), then whether the monitor is still alive.
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use super::{Container, ContainerPaths, ContainerStatus};
use crate::lock::ContainerLock;
use crate::process;
use crate::{Engine, EngineError, Result};

/// Bound on the wait for conmon's exit file once the container's process is
/// known to be dead.
const EXIT_FILE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl Engine {
    pub(crate) fn paths(&self, id: &str) -> ContainerPaths {
        let userdata = self.store.container_dir(id).join("userdata");
        let exit_dir = self.options.runroot.join("exits");
        ContainerPaths {
            log: userdata.join("ctr.log"),
            pid_file: self.options.runroot.join("pids").join(format!("{id}.pid")),
            monitor_pid_file: self
                .options
                .runroot
                .join("pids")
                .join(format!("{id}.conmon.pid")),
            exit_file: exit_dir.join(id),
            exit_dir,
            persist_dir: userdata.join("persist"),
            userdata,
        }
    }

    /// Resolves `name_or_id`, takes the container's lock and loads it with
    /// its state synced. The lock is released when the guard drops.
    pub(crate) fn lock_container(&self, name_or_id: &str) -> Result<(ContainerLock, Container)> {
        let id = self.db.resolve(name_or_id)?;
        let lock = ContainerLock::acquire(&self.options.runroot, &id)?;

        // Another process may have removed it while this one waited.
        let mut container = self
            .db
            .get(&id)?
            .ok_or_else(|| EngineError::NoSuchContainer {
                name_or_id: name_or_id.to_string(),
            })?;
        self.sync(&mut container)?;
        Ok((lock, container))
    }

    /// Records the exit of a container whose exit file conmon has written,
    /// or whose monitor died without writing one. Caller holds the lock.
    pub(crate) fn sync(&self, container: &mut Container) -> Result<()> {
        let status = container.state.status();
        if !matches!(
            status,
            ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused
        ) {
            return Ok(());
        }
        let paths = self.paths(&container.id);

        if let Some((code, finished_at)) = read_exit_file(&paths)? {
            debug!(container_id = %container.id, exit_code = code, "exit file found");
            self.record_exit(container, code, finished_at)?;
            return Ok(());
        }

        let monitor_alive = process::start_time(container.state.monitor_pid)
            == Some(container.state.monitor_start_time);

        // The container's process is gone but conmon has not written the
        // exit file yet: it does so within milliseconds, so wait for it
        // rather than report a dead container as running.
        let process_gone = status != ContainerStatus::Created
            && !process::is_running(container.state.pid, container.state.pid_start_time);
        if monitor_alive
            && process_gone
            && process::wait_for_file(&paths.exit_file, EXIT_FILE_GRACE)
        {
            if let Some((code, finished_at)) = read_exit_file(&paths)? {
                self.record_exit(container, code, finished_at)?;
                return Ok(());
            }
        }

        if !monitor_alive {
            // conmon is gone without an exit file: it was killed. The exit
            // code is unknown, so -1 is recorded rather than "running" forever.
            warn!(container_id = %container.id, monitor_pid = container.state.monitor_pid, "conmon died without writing an exit file; recording exit code -1");
            // No cleanup command will run, so the network goes now: its
            // published ports and address are free for other containers.
            self.teardown_network(container);
            self.record_exit(container, -1, Utc::now())?;
        }
        Ok(())
    }

    pub(crate) fn record_exit(
        &self,
        container: &mut Container,
        code: i32,
        finished_at: DateTime<Utc>,
    ) -> Result<()> {
        let paths = self.paths(&container.id);
        let state = &mut container.state;
        state.status = Some(ContainerStatus::Exited);
        state.exit_code = Some(code);
        // The exit file's time comes from the kernel's coarse clock, which
        // may lag the start time berth took by a clock tick.
        state.finished_at = Some(match state.started_at {
            Some(started_at) if started_at > finished_at => started_at,
            _ => finished_at,
        });
        state.oom_killed = paths.persist_dir.join("oom").exists();
        state.pid = 0;
        state.pid_start_time = 0;
        self.db.save_state(&container.id, &container.state)?;
        self.emit(container, "died");
        Ok(())
    }
}

/// Reads the exit code and the time conmon wrote it, if the exit file exists.
fn read_exit_file(paths: &ContainerPaths) -> Result<Option<(i32, DateTime<Utc>)>> {
    let text = match std::fs::read_to_string(&paths.exit_file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EngineError::io("read exit file", &paths.exit_file, e)),
    };
    // conmon creates the file and then writes it; an empty file is a write
    // still in progress, seen as "not exited yet".
    let Ok(code) = text.trim().parse::<i32>() else {
        return Ok(None);
    };
    let finished_at = std::fs::metadata(&paths.exit_file)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| SystemTime::now());
    Ok(Some((code, finished_at.into())))
}
