//! `pause` and `unpause`: the cgroup freezer, through the runtime.
use super::start::invalid_state;
use super::ContainerStatus;
use crate::{Engine, Result};

impl Engine {
    /// Freezes every process of a running container.
    pub fn pause(&self, name_or_id: &str) -> Result<()> {
        let (_lock, mut container) = self.lock_container(name_or_id)?;
        if container.state.status() != ContainerStatus::Running {
            return Err(invalid_state(
                &container,
                "pause",
                ": only running containers can be paused",
            ));
        }
        self.runtime(&container.config.runtime)?
            .pause(&container.id)?;

        container.state.status = Some(ContainerStatus::Paused);
        self.db.save_state(&container.id, &container.state)?;
        self.emit(&container, "pause");
        Ok(())
    }

    /// Thaws a paused container.
    pub fn unpause(&self, name_or_id: &str) -> Result<()> {
        let (_lock, mut container) = self.lock_container(name_or_id)?;
        if container.state.status() != ContainerStatus::Paused {
            return Err(invalid_state(&container, "unpause", ": it is not paused"));
        }
        self.runtime(&container.config.runtime)?
            .resume(&container.id)?;

        container.state.status = Some(ContainerStatus::Running);
        self.db.save_state(&container.id, &container.state)?;
        self.emit(&container, "unpause");
        Ok(())
    }
}
