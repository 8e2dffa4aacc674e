//! `wait`: block until a container exits and return its exit code.
use std::time::Duration;

use super::ContainerStatus;
use crate::process::ProcessHandle;
use crate::{Engine, EngineError, Result};

/// How often a container that is not yet started is checked again. A
/// started container is waited on through a pidfd instead.
const NOT_STARTED_RECHECK: Duration = Duration::from_millis(100);

impl Engine {
    /// Waits until the container exits and returns its exit code; returns at
    /// once for an exited container. A container removed after it exited
    /// (`--rm`) still returns its code for a few minutes.
    pub fn wait(&self, name_or_id: &str) -> Result<i32> {
        let id = self.db.resolve(name_or_id)?;
        loop {
            let monitor = {
                let (_lock, container) = match self.lock_container(&id) {
                    Ok(found) => found,
                    Err(EngineError::NoSuchContainer { .. }) => {
                        return self.db.removed_exit_code(&id)?.ok_or_else(|| {
                            EngineError::NoSuchContainer {
                                name_or_id: name_or_id.to_string(),
                            }
                        })
                    }
                    Err(e) => return Err(e),
                };
                match container.state.status() {
                    ContainerStatus::Exited => return Ok(container.state.exit_code.unwrap_or(-1)),
                    ContainerStatus::Configured => None,
                    _ => ProcessHandle::open(
                        container.state.monitor_pid,
                        container.state.monitor_start_time,
                    ),
                }
            };

            // conmon exits right after it writes the exit file, so its
            // pidfd turning readable means the exit file is there.
            match monitor {
                Some(handle) => {
                    handle.wait_exit(None);
                }
                None => std::thread::sleep(NOT_STARTED_RECHECK),
            }
        }
    }
}
