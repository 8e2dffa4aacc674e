//! `wait`: block until a container reaches a state, by default until it
//! exits, and return its exit code.
use std::time::Duration;

use super::ContainerStatus;
use crate::process::ProcessHandle;
use crate::{Engine, EngineError, Result};

/// How often a container is checked again while no pidfd can tell when it
/// changes: before it starts, and for conditions other than exit.
const RECHECK_INTERVAL: Duration = Duration::from_millis(100);

/// A state `wait --condition` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    Created,
    /// A container that the runtime has created and whose process has not
    /// started.
    Initialized,
    Running,
    Paused,
    /// `exited` and `stopped` (Podman's names for the same state here).
    Exited,
}

impl WaitCondition {
    pub fn parse(value: &str) -> Option<WaitCondition> {
        match value {
            "created" | "configured" => Some(WaitCondition::Created),
            "initialized" => Some(WaitCondition::Initialized),
            "running" => Some(WaitCondition::Running),
            "paused" => Some(WaitCondition::Paused),
            "exited" | "stopped" => Some(WaitCondition::Exited),
            _ => None,
        }
    }

    fn is_met(self, status: ContainerStatus) -> bool {
        match self {
            WaitCondition::Created => matches!(
                status,
                ContainerStatus::Configured | ContainerStatus::Created
            ),
            WaitCondition::Initialized => status == ContainerStatus::Created,
            WaitCondition::Running => status == ContainerStatus::Running,
            WaitCondition::Paused => status == ContainerStatus::Paused,
            WaitCondition::Exited => status == ContainerStatus::Exited,
        }
    }
}

impl Engine {
    /// Waits until the container exits and returns its exit code; returns at
    /// once for an exited container. A container removed after it exited
    /// (`--rm`) still returns its code for a few minutes.
    pub fn wait(&self, name_or_id: &str) -> Result<i32> {
        self.wait_for(name_or_id, &[WaitCondition::Exited])
    }

    /// Waits until the container meets one of `conditions`. Returns the exit
    /// code for `Exited`, and -1 for the other conditions, as Podman does.
    pub fn wait_for(&self, name_or_id: &str, conditions: &[WaitCondition]) -> Result<i32> {
        let id = match self.db.resolve(name_or_id) {
            Ok(id) => id,
            // Removed before this wait began, as a `--rm` container is by
            // conmon's cleanup, which can come before the attached run.
            Err(EngineError::NoSuchContainer { .. })
                if conditions.contains(&WaitCondition::Exited) =>
            {
                return self.db.removed_exit_code(name_or_id)?.ok_or_else(|| {
                    EngineError::NoSuchContainer {
                        name_or_id: name_or_id.to_string(),
                    }
                })
            }
            Err(error) => return Err(error),
        };
        let exit_only = conditions.iter().all(|c| *c == WaitCondition::Exited);
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
                let status = container.state.status();
                if let Some(met) = conditions.iter().find(|c| c.is_met(status)) {
                    return Ok(match met {
                        WaitCondition::Exited => container.state.exit_code.unwrap_or(-1),
                        _ => -1,
                    });
                }
                match status {
                    ContainerStatus::Running
                    | ContainerStatus::Paused
                    | ContainerStatus::Created
                        if exit_only =>
                    {
                        ProcessHandle::open(
                            container.state.monitor_pid,
                            container.state.monitor_start_time,
                        )
                    }
                    _ => None,
                }
            };

            // conmon writes the exit file, then runs the exit command and
            // waits for it before it exits. Either event means the exit is
            // recorded or about to be, and the file comes first.
            match monitor {
                Some(handle) => {
                    let exit_file = self.paths(&id).exit_file;
                    crate::process::wait_for_file_or_process(&exit_file, &handle);
                }
                None => std::thread::sleep(RECHECK_INTERVAL),
            }
        }
    }
}
