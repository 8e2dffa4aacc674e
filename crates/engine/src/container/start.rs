//! `start`: init the runtime container when needed, then start its process.
use std::path::Path;

use berth_oci::attach::AttachSocket;
use chrono::Utc;
use tracing::debug;

use super::init::classify_runtime_error;
use super::{Container, ContainerStatus};
use crate::{Engine, EngineError, Result};

impl Engine {
    /// Starts a created or exited container. Starting a running container
    /// does nothing. The container is `running` afterwards.
    pub fn start(&self, name_or_id: &str) -> Result<()> {
        self.start_with(name_or_id, |_| Ok(())).map(|_| ())
    }

    /// Starts a container with its attach socket connected before the
    /// process starts, so no output is lost. Returns `None` when the
    /// container was already running.
    pub fn start_attached(&self, name_or_id: &str) -> Result<Option<AttachSocket>> {
        self.start_with(name_or_id, |bundle| Ok(AttachSocket::connect(bundle)?))
    }

    fn start_with<T>(
        &self,
        name_or_id: &str,
        before_start: impl FnOnce(&Path) -> Result<T>,
    ) -> Result<Option<T>> {
        let (_lock, mut container) = self.lock_container(name_or_id)?;
        match container.state.status() {
            ContainerStatus::Running => return Ok(None),
            ContainerStatus::Paused => {
                return Err(invalid_state(&container, "start", ": unpause it instead"));
            }
            _ => {}
        }

        // A start by the user re-arms the restart policy.
        container.state.stopped_by_user = false;
        container.state.restart_count = 0;
        self.start_locked(&mut container, before_start).map(Some)
    }

    /// Inits (when needed) and starts a container that is not running.
    /// Caller holds the lock. On failure the container is left `configured`
    /// with nothing of the runtime behind.
    pub(crate) fn start_locked<T>(
        &self,
        container: &mut Container,
        before_start: impl FnOnce(&Path) -> Result<T>,
    ) -> Result<T> {
        if container.state.status() == ContainerStatus::Exited {
            // The old run's exec sessions are history.
            self.forget_exec_sessions(&container.id)?;
        }
        if container.state.status() != ContainerStatus::Created {
            self.init(container)?;
        }

        let bundle = self.paths(&container.id).userdata;
        let attached = match before_start(&bundle) {
            Ok(attached) => attached,
            Err(error) => {
                self.release_runtime_resources(container);
                container.state.status = Some(ContainerStatus::Configured);
                self.db.save_state(&container.id, &container.state)?;
                return Err(error);
            }
        };

        if let Err(error) = self.runtime_start(container) {
            self.release_runtime_resources(container);
            container.state.status = Some(ContainerStatus::Configured);
            container.state.error = error.to_string();
            self.db.save_state(&container.id, &container.state)?;
            return Err(classify_runtime_error(error, &container.name));
        }
        Ok(attached)
    }

    fn runtime_start(&self, container: &mut Container) -> Result<()> {
        let runtime = self.runtime(&container.config.runtime)?;
        // Taken before the start, as the process may exit (and conmon stamp
        // the exit) before the runtime returns.
        let started_at = Utc::now();
        if let Err(error) = runtime.start(&container.id) {
            // A berth killed right after `<runtime> start` left the container
            // running but recorded as created; that start counts.
            let running = matches!(runtime.state(&container.id), Ok(Some(state)) if state.status == "running");
            if !running {
                return Err(error.into());
            }
        }
        crate::pause_point::reach("start-after-runtime-start");
        debug!(container_id = %container.id, "container started");

        container.state.status = Some(ContainerStatus::Running);
        container.state.started_at = Some(started_at);
        self.db.save_state(&container.id, &container.state)?;
        self.emit(container, "start");
        crate::systemd::notify_ready(&container.config.sdnotify, container.state.monitor_pid);
        Ok(())
    }
}

pub(crate) fn invalid_state(
    container: &Container,
    op: &'static str,
    hint: &'static str,
) -> EngineError {
    EngineError::InvalidState {
        id: container.id.clone(),
        name: container.name.clone(),
        state: container.state.status().as_str(),
        op,
        hint,
    }
}
