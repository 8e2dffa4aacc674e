//! The network of a rootless container: slirp4netns in the container's
//! network namespace, started between the runtime's create and start, and
//! its published ports.
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::fcntl::OFlag;
use tracing::debug;

use super::Container;
use crate::{Engine, EngineError, Result};

/// The pipe whose write end conmon keeps open and whose read end slirp4netns
/// watches, so slirp4netns exits with the container's monitor.
pub(crate) struct ExitPipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

impl ExitPipe {
    pub(crate) fn new() -> Result<ExitPipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|errno| {
            EngineError::io("create the slirp4netns exit pipe", "pipe", errno.into())
        })?;
        Ok(ExitPipe { read, write })
    }
}

impl Engine {
    /// Returns whether slirp4netns makes the container's network.
    pub(crate) fn uses_slirp4netns(container: &Container) -> bool {
        container.config.network == "slirp4netns"
    }

    /// Starts slirp4netns for the created container whose init process is
    /// `pid`, then publishes its ports. Caller holds the lock. On failure
    /// slirp4netns is killed again; the caller deletes the container.
    pub(crate) fn start_slirp4netns(
        &self,
        container: &Container,
        pid: i32,
        exit_read: OwnedFd,
    ) -> Result<()> {
        let api_socket = self.slirp_api_socket(&container.id);
        let log_path = self.paths(&container.id).userdata.join("slirp4netns.log");
        let slirp_pid =
            berth_network::slirp4netns::start(berth_network::slirp4netns::Slirp4netnsRequest {
                container_id: &container.id,
                pid,
                api_socket: &api_socket,
                log_path: &log_path,
                exit_fd: exit_read,
            })?;
        debug!(container_id = %container.id, slirp4netns_pid = slirp_pid, "container network is up");

        for mapping in &container.config.ports {
            if let Err(error) =
                berth_network::slirp4netns::add_port_forward(&container.id, &api_socket, mapping)
            {
                // slirp4netns is our child, and no other process knows it yet.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(slirp_pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                return Err(error.into());
            }
        }
        Ok(())
    }

    /// Returns `runroot/slirp/<short id>.sock`, short because a socket
    /// address has room for at most 107 bytes.
    fn slirp_api_socket(&self, id: &str) -> PathBuf {
        let short = &id[..id.len().min(12)];
        self.options
            .runroot
            .join("slirp")
            .join(format!("{short}.sock"))
    }

    /// Removes the API socket slirp4netns leaves behind when it exits.
    pub(crate) fn remove_slirp_socket(&self, id: &str) {
        let _ = std::fs::remove_file(self.slirp_api_socket(id));
    }
}
