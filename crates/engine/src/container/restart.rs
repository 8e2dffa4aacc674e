//! `restart`: stop (when running), then start.
use crate::{Engine, Result};

impl Engine {
    /// Stops a running container with `timeout` (its stop timeout when
    /// `None`) and starts it again; starts a stopped one.
    pub fn restart(&self, name_or_id: &str, timeout: Option<u32>) -> Result<()> {
        {
            let (_lock, mut container) = self.lock_container(name_or_id)?;
            self.stop_locked(&mut container, timeout)?;
            self.emit(&container, "restart");
        }
        self.start(name_or_id)
    }
}
