//! `attach` and terminal resizing.
use berth_oci::attach::AttachSocket;

use super::start::invalid_state;
use super::{Container, ContainerStatus};
use crate::{Engine, Result};

impl Engine {
    /// Connects to a running container's attach socket.
    pub fn attach(&self, name_or_id: &str) -> Result<AttachSocket> {
        let (_lock, container) = self.lock_container(name_or_id)?;
        if container.state.status() != ContainerStatus::Running {
            return Err(invalid_state(
                &container,
                "attach",
                ": only running containers can be attached",
            ));
        }
        Ok(AttachSocket::connect(&self.paths(&container.id).userdata)?)
    }

    /// Tells the container's terminal its new size.
    pub fn resize(&self, name_or_id: &str, rows: u16, cols: u16) -> Result<()> {
        let id = self.db.resolve(name_or_id)?;
        Ok(berth_oci::attach::resize(
            &self.paths(&id).userdata,
            rows,
            cols,
        )?)
    }

    /// The container with its state synced.
    pub fn container(&self, name_or_id: &str) -> Result<Container> {
        let (_lock, container) = self.lock_container(name_or_id)?;
        Ok(container)
    }
}
