//! `rm`.
use tracing::debug;

use super::start::invalid_state;
use super::Container;
use crate::lock::ContainerLock;
use crate::{Engine, Result};

#[derive(Debug, Clone, Default)]
pub struct RemoveOptions {
    /// Stop a running container first (with SIGKILL unless `timeout`).
    pub force: bool,
    /// Seconds to wait after the stop signal before SIGKILL when forcing;
    /// `None` kills at once, as Docker does.
    pub timeout: Option<u32>,
    /// Moves the container's files to the storage's trash and leaves
    /// deleting them to the cleanup process that conmon starts after every
    /// container exit, so the removal returns sooner. `run --rm` sets it.
    /// Files a missing cleanup leaves behind are deleted by the next `rm`
    /// or cleanup. Without it, a file that cannot be deleted fails the
    /// removal and the container stays.
    pub defer_file_deletion: bool,
}

impl Engine {
    /// Removes a container with its files. A running container needs
    /// `force`. Its exit code stays readable by `wait` for a few minutes.
    pub fn remove(&self, name_or_id: &str, options: &RemoveOptions) -> Result<()> {
        let (lock, mut container) = self.lock_container(name_or_id)?;
        if container.state.status().is_active() {
            if !options.force {
                return Err(invalid_state(
                    &container,
                    "remove",
                    ": stop it first or use --force",
                ));
            }
            self.stop_locked(&mut container, Some(options.timeout.unwrap_or(0)))?;
        }
        self.remove_locked(lock, &mut container, options.defer_file_deletion)?;

        if !options.defer_file_deletion {
            self.store.sweep_trash();
        }
        Ok(())
    }

    /// Removes a stopped container with its files, or with
    /// `defer_file_deletion` moves them into the storage's trash. Takes the
    /// lock guard so that the lock file is deleted while still held.
    pub(crate) fn remove_locked(
        &self,
        lock: ContainerLock,
        container: &mut Container,
        defer_file_deletion: bool,
    ) -> Result<()> {
        if container.has_runtime_resources() {
            self.release_runtime_resources(container);
        }
        crate::pause_point::reach("remove-after-release");
        self.forget_exec_sessions(&container.id)?;
        if defer_file_deletion {
            // Before the row goes, so that a process that finds the
            // container gone and sweeps the trash also finds its files there.
            self.store.retire_container(&container.id)?;
        } else {
            self.store.delete_container(&container.id)?;
        }

        let paths = self.paths(&container.id);
        let _ = std::fs::remove_file(&paths.exit_file);

        self.db.delete(&container.id, container.state.exit_code)?;
        ContainerLock::remove_file(&self.options.runroot, &container.id);
        self.emit(container, "remove");
        drop(lock);
        debug!(container_id = %container.id, "container removed");
        Ok(())
    }
}
