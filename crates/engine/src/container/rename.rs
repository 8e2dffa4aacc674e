//! `rename`.
use crate::{names, Engine, Result};

impl Engine {
    /// Gives a container a new name; the old name becomes free.
    pub fn rename(&self, name_or_id: &str, new_name: &str) -> Result<()> {
        names::validate(new_name)?;
        let (_lock, container) = self.lock_container(name_or_id)?;
        self.db.rename(&container.id, new_name)
    }
}
