//! systemd's protocols as seen by a container started from a unit: socket
//! activation (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`), passed through
//! to the container's process, and readiness (`NOTIFY_SOCKET`), handled as
//! `--sdnotify` says.
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use berth_oci::spec::MountSpec;
use tracing::{debug, warn};

use crate::{EngineError, Result};

/// Path of the notify socket inside a `--sdnotify=container` container.
const CONTAINER_NOTIFY_SOCKET: &str = "/run/notify/notify.sock";

/// The sockets systemd (or `systemd-socket-activate`) handed to this berth
/// process: their count, and their names when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActivationSockets {
    pub count: u32,
    pub names: Option<String>,
}

/// Reads `LISTEN_FDS` when `LISTEN_PID` names this process, as
/// sd_listen_fds(3) does; the sockets are then fds 3 to 3+N-1.
pub(crate) fn activation_sockets() -> Option<ActivationSockets> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    if pid != std::process::id() {
        return None;
    }
    let count: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    (count > 0).then(|| ActivationSockets {
        count,
        names: std::env::var("LISTEN_FDNAMES").ok(),
    })
}

/// Builds the environment the container's process needs for its
/// activation sockets, as PID 1 of its namespace.
pub(crate) fn activation_env(sockets: &ActivationSockets) -> Vec<String> {
    let mut env = vec![
        format!("LISTEN_FDS={}", sockets.count),
        "LISTEN_PID=1".to_string(),
    ];
    if let Some(names) = &sockets.names {
        env.push(format!("LISTEN_FDNAMES={names}"));
    }
    env
}

/// Checks a `--sdnotify` value: `container` (the default, as in Podman),
/// `conmon` or `ignore`.
pub(crate) fn parse_sdnotify(value: Option<&str>) -> Result<String> {
    match value.unwrap_or("container") {
        mode @ ("container" | "conmon" | "ignore") => Ok(mode.to_string()),
        other => Err(EngineError::InvalidOption {
            option: "--sdnotify",
            value: other.to_string(),
            reason: "use container, conmon or ignore".into(),
        }),
    }
}

fn notify_socket() -> Option<PathBuf> {
    let path = std::env::var_os("NOTIFY_SOCKET")?;
    let path = PathBuf::from(path);
    // Abstract sockets (`@name`) live in the host's network namespace and
    // cannot be bind-mounted; only a path can reach the container.
    path.is_absolute().then_some(path)
}

/// For `--sdnotify=container`: the mount of berth's `NOTIFY_SOCKET` into the
/// container and the variable that points the container to it.
pub(crate) fn container_notify(mode: &str) -> Option<(MountSpec, String)> {
    if mode != "container" {
        return None;
    }
    let socket = notify_socket()?;
    Some((
        MountSpec::Bind {
            source: socket,
            destination: CONTAINER_NOTIFY_SOCKET.into(),
            read_only: false,
        },
        format!("NOTIFY_SOCKET={CONTAINER_NOTIFY_SOCKET}"),
    ))
}

/// Sends `MAINPID` (conmon) and `READY=1` to systemd once the container
/// runs, for `--sdnotify=conmon`, as Podman's conmon does. Best effort: a
/// failed send is logged.
pub(crate) fn notify_ready(mode: &str, monitor_pid: i32) {
    if mode != "conmon" {
        return;
    }
    let Some(socket) = notify_socket() else {
        return;
    };
    let message = format!("MAINPID={monitor_pid}\nREADY=1\n");
    let sent =
        UnixDatagram::unbound().and_then(|sender| sender.send_to(message.as_bytes(), &socket));
    match sent {
        Ok(_) => debug!(socket = %socket.display(), monitor_pid, "sent READY=1"),
        Err(e) => {
            warn!(socket = %socket.display(), error = %e, "sending READY=1 to NOTIFY_SOCKET failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_env_makes_container_pid_one() {
        let sockets = ActivationSockets {
            count: 2,
            names: Some("http:https".into()),
        };
        assert_eq!(
            activation_env(&sockets),
            ["LISTEN_FDS=2", "LISTEN_PID=1", "LISTEN_FDNAMES=http:https"]
        );
    }

    #[test]
    fn parse_sdnotify_accepts_podman_modes() {
        assert_eq!(parse_sdnotify(None).unwrap(), "container");
        assert_eq!(parse_sdnotify(Some("conmon")).unwrap(), "conmon");
        assert!(parse_sdnotify(Some("always")).is_err());
    }
}
