//! The refresh after a reboot. The run root is volatile: when its boot
//! marker is missing, every container recorded as alive lost its processes,
//! mounts and runtime state, so its record is brought in line once.
use std::fs::OpenOptions;

use nix::fcntl::{Flock, FlockArg};
use tracing::{debug, info};

use super::ContainerStatus;
use crate::{Engine, EngineError, Result};

const BOOT_MARKER: &str = "alive";

impl Engine {
    pub(crate) fn refresh_after_reboot(&self) -> Result<()> {
        let marker = self.options.runroot.join(BOOT_MARKER);
        if marker.exists() {
            return Ok(());
        }

        // Several first commands after a boot may race; one refreshes.
        let lock_path = self.options.runroot.join("refresh.lock");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| EngineError::io("open lock", &lock_path, e))?;
        let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| EngineError::io("lock", &lock_path, errno.into()))?;
        if marker.exists() {
            return Ok(());
        }

        for mut container in self.db.all()? {
            let status = container.state.status();
            if status == ContainerStatus::Configured
                && !container.state.mounted
                && container.state.network.is_none()
            {
                continue;
            }
            // The reboot took the namespace, bridge and firewall rules;
            // only the address allocations in the root remain.
            if let Some(network) = container.state.network.take() {
                if let Some(request) = &network.setup {
                    self.release_addresses(&container.id, request.networks.keys());
                }
            }
            let state = &mut container.state;
            match status {
                ContainerStatus::Running | ContainerStatus::Paused => {
                    state.status = Some(ContainerStatus::Exited);
                    state.exit_code = state.exit_code.or(Some(-1));
                    state.finished_at = state.finished_at.or(Some(chrono::Utc::now()));
                }
                ContainerStatus::Created => state.status = Some(ContainerStatus::Configured),
                ContainerStatus::Configured | ContainerStatus::Exited => {}
            }
            state.pid = 0;
            state.pid_start_time = 0;
            state.monitor_pid = 0;
            state.monitor_start_time = 0;
            state.mounted = false;
            self.db.save_state(&container.id, &container.state)?;
            info!(container_id = %container.id, "refreshed container state after reboot");
        }

        self.db.forget_running_exec_sessions()?;

        std::fs::write(&marker, b"")
            .map_err(|e| EngineError::io("write boot marker", &marker, e))?;
        debug!(runroot = %self.options.runroot.display(), "boot marker written");
        Ok(())
    }
}
