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
            ContainerStatus::Exited => {
                // The old runtime container must go before a new one can be
                // made, and the old run's exec sessions are history.
                self.release_runtime_resources(&mut container);
                self.forget_exec_sessions(&container.id)?;
                self.init(&mut container)?;
            }
            ContainerStatus::Configured => self.init(&mut container)?,
            ContainerStatus::Created => {}
        }

        let bundle = self.paths(&container.id).userdata;
        let attached = match before_start(&bundle) {
            Ok(attached) => attached,
            Err(error) => {
                self.release_runtime_resources(&mut container);
                container.state.status = Some(ContainerStatus::Configured);
                self.db.save_state(&container.id, &container.state)?;
                return Err(error);
            }
        };

        if let Err(error) = self.runtime_start(&mut container) {
            self.release_runtime_resources(&mut container);
            container.state.status = Some(ContainerStatus::Configured);
            container.state.error = error.to_string();
            self.db.save_state(&container.id, &container.state)?;
            return Err(classify_runtime_error(error, &container.name));
        }
        Ok(Some(attached))
    }

    fn runtime_start(&self, container: &mut Container) -> Result<()> {
        let runtime = self.runtime(&container.config.runtime)?;
        runtime.start(&container.id)?;
        debug!(container_id = %container.id, "container started");

        container.state.status = Some(ContainerStatus::Running);
        container.state.started_at = Some(Utc::now());
        self.db.save_state(&container.id, &container.state)
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
