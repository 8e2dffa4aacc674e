//! `commit`, `diff` and `export`: a container's file system as an image,
//! a change list and a tarball.
use std::io::Write;

use berth_storage::{Change, CommitOptions};
use tracing::debug;

use super::{Container, ContainerStatus};
use crate::{Engine, EngineError, Result};

impl Engine {
    /// Makes an image of the container's image plus its changes and
    /// returns the new image's id. The container may run; its files are
    /// read as they are at that moment.
    pub fn commit(&self, name_or_id: &str, options: &CommitOptions) -> Result<String> {
        let (_lock, container) = self.lock_container(name_or_id)?;
        reject_shifted_rootfs(&container, "commit")?;
        let image = self.store.lookup(&container.image_id)?;
        let committed = self.store.commit(&container.id, &image, options)?;
        debug!(container_id = %container.id, image_id = %committed.id, "committed container");
        Ok(committed.id)
    }

    /// Lists the paths the container added, changed or deleted.
    pub fn diff(&self, name_or_id: &str) -> Result<Vec<Change>> {
        let (_lock, container) = self.lock_container(name_or_id)?;
        let image = self.store.lookup(&container.image_id)?;
        Ok(self.store.changes(&container.id, &image)?)
    }

    /// Writes the container's root file system as a tarball. A stopped
    /// container is mounted for the export and unmounted after it.
    pub fn export(&self, name_or_id: &str, output: &mut dyn Write) -> Result<()> {
        let (_lock, container) = self.lock_container(name_or_id)?;
        reject_shifted_rootfs(&container, "export")?;
        let image = self.store.lookup(&container.image_id)?;
        // A container without a runtime container needs no mount. Its mount
        // may still be there when the cleanup that conmon started after the
        // exit has not run yet, and that cleanup waits for this lock.
        let keep_mounted = matches!(
            container.state.status(),
            ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused
        );
        let rootfs = self
            .store
            .mount(&container.id, &image, container.config.auto_remove)?;
        let result = self.store.export_tree(&rootfs, output);
        if !keep_mounted {
            self.store.unmount(&container.id)?;
        }
        Ok(result?)
    }
}

/// Rejects `operation` for a container in a user namespace of its own.
// Not supported yet: its files carry host ids shifted by the container's
// maps, and writing them as they are would give an image or tarball the
// wrong owners, so the operation is rejected rather than done wrong.
pub(crate) fn reject_shifted_rootfs(container: &Container, operation: &str) -> Result<()> {
    if container.config.id_mappings.is_none() {
        return Ok(());
    }
    Err(EngineError::Unsupported {
        feature: format!(
            "{operation} of container {} with --uidmap or --userns=keep-id",
            container.name
        ),
    })
}
