//! `container cleanup`: what conmon's exit command runs after the container
//! exits. It records the exit code, frees the runtime container, its cgroup
//! and mount, and removes `--rm` containers.
use tracing::debug;

use super::ContainerStatus;
use crate::{Engine, EngineError, Result};

impl Engine {
    /// Cleans up after an exited container. A container that is gone or
    /// still running is left alone, so a late or repeated call is harmless.
    pub fn cleanup(&self, name_or_id: &str) -> Result<()> {
        let result = self.cleanup_container(name_or_id);
        // `run --rm` leaves its container's files here to delete.
        self.store.sweep_trash();
        result
    }

    fn cleanup_container(&self, name_or_id: &str) -> Result<()> {
        let (lock, mut container) = match self.lock_container(name_or_id) {
            Ok(found) => found,
            Err(EngineError::NoSuchContainer { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        if container.state.status() != ContainerStatus::Exited {
            debug!(container_id = %container.id, state = container.state.status().as_str(), "cleanup: container has not exited");
            return Ok(());
        }

        if container.has_runtime_resources() {
            self.release_runtime_resources(&mut container);
            self.db.save_state(&container.id, &container.state)?;
        }
        self.emit(&container, "cleanup");

        if container.config.auto_remove {
            return self.remove_locked(lock, &mut container, false);
        }

        let state = &container.state;
        let policy = container.config.restart_policy;
        if policy.should_restart(
            state.exit_code.unwrap_or(-1),
            state.restart_count,
            state.stopped_by_user,
        ) {
            container.state.restart_count += 1;
            debug!(container_id = %container.id, restart_count = container.state.restart_count, policy = policy.name(), "restarting by policy");
            self.emit(&container, "restart");
            self.start_locked(&mut container, |_| Ok(()))?;
        }
        Ok(())
    }
}
