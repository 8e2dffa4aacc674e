//! User-mode networking for rootless containers through slirp4netns
//! (tested with 1.2.0): it joins the container's network namespace, makes
//! a tap device there (10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3) and
//! forwards its traffic through sockets of the user in the host's network
//! namespace. Published ports are added through its API socket.
//!
//! slirp4netns runs until its exit fd reaches end of file. The engine hands
//! the write end to conmon, so slirp4netns exits with the container's
//! monitor, however the container ends.
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tracing::debug;

use crate::{NetworkError, PortMapping, Result};

/// Bound on the wait for slirp4netns to configure the tap device.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Podman's MTU for slirp4netns; larger than Ethernet's, so bulk transfers
/// need fewer packets.
const MTU: u32 = 65520;

/// The parameters of slirp4netns for one container.
#[derive(Debug)]
pub struct Slirp4netnsRequest<'a> {
    pub container_id: &'a str,
    /// The container's init process; slirp4netns joins its network
    /// namespace through /proc/PID/ns/net.
    pub pid: i32,
    /// The socket where slirp4netns listens for API requests (add_hostfwd).
    /// Its path must be at most 107 bytes long to fit a socket address.
    pub api_socket: &'a Path,
    /// slirp4netns's stderr, read back when it fails.
    pub log_path: &'a Path,
    /// The read end of the pipe whose write end conmon holds.
    pub exit_fd: OwnedFd,
}

/// Finds slirp4netns in PATH or /usr/bin.
pub fn find() -> Result<PathBuf> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("slirp4netns"))
        .find(|candidate| candidate.is_file())
        .ok_or(NetworkError::Slirp4netnsNotFound)
}

/// Starts slirp4netns for the container and waits until the tap device is
/// configured. Returns its pid. slirp4netns is not waited for: it outlives
/// this process and ends when conmon closes the exit fd.
pub fn start(request: Slirp4netnsRequest<'_>) -> Result<i32> {
    let program = find()?;
    let failed = |message: String| NetworkError::Slirp4netnsFailed {
        container_id: request.container_id.to_string(),
        message,
    };
    let io_error = |op, path: &Path, source| NetworkError::Io {
        op,
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = request.api_socket.parent() {
        std::fs::create_dir_all(dir).map_err(|source| io_error("create directory", dir, source))?;
    }
    // A socket left by an earlier run of the container would make bind fail.
    let _ = std::fs::remove_file(request.api_socket);
    let log = std::fs::File::create(request.log_path)
        .map_err(|source| io_error("create", request.log_path, source))?;

    let (ready_read, ready_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|errno| io_error("create ready pipe for", &program, errno.into()))?;
    // These two fds must survive exec in slirp4netns, which finds them by
    // the numbers on its command line.
    for fd in [&ready_write, &request.exit_fd] {
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty()))
            .map_err(|errno| io_error("pass fd to", &program, errno.into()))?;
    }
    let args = vec![
        "--configure".to_string(),
        format!("--mtu={MTU}"),
        // The container must not reach the host's 127.0.0.1 through
        // 10.0.2.2; published ports are the way in.
        "--disable-host-loopback".to_string(),
        "--api-socket".to_string(),
        request.api_socket.display().to_string(),
        "--exit-fd".to_string(),
        request.exit_fd.as_raw_fd().to_string(),
        "--ready-fd".to_string(),
        ready_write.as_raw_fd().to_string(),
        request.pid.to_string(),
        "tap0".to_string(),
    ];
    debug!(container_id = request.container_id, command = %format!("{} {}", program.display(), args.join(" ")), "running slirp4netns");
    let child = Command::new(&program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Its own process group, so a Ctrl-C meant for `berth run` does
        // not end the container's network.
        .process_group(0)
        .spawn()
        .map_err(|source| io_error("run", &program, source))?;
    let pid = child.id() as i32;
    drop(ready_write);
    drop(request.exit_fd);

    let ready = wait_ready(&ready_read);
    if !ready {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let mut child = child;
        let _ = child.wait();
        let log = std::fs::read_to_string(request.log_path).unwrap_or_default();
        let message = match log.trim() {
            "" => format!(
                "it did not become ready within {} s",
                READY_TIMEOUT.as_secs()
            ),
            text => text.to_string(),
        };
        return Err(failed(message));
    }
    debug!(
        container_id = request.container_id,
        pid, "slirp4netns is ready"
    );
    Ok(pid)
}

/// Waits for slirp4netns to write to its ready fd; false on end of file
/// (it exited) or timeout.
fn wait_ready(ready_read: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(ready_read.as_fd(), PollFlags::POLLIN)];
    let timeout =
        PollTimeout::try_from(READY_TIMEOUT.as_millis() as i32).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, timeout) {
        Ok(count) if count > 0 => {
            let mut byte = [0u8; 1];
            let mut file = std::fs::File::from(ready_read.try_clone().expect("dup ready fd"));
            matches!(file.read(&mut byte), Ok(1))
        }
        _ => false,
    }
}

/// Forwards the host ports of `mapping` to the container, on the host
/// address it names (every address when empty), through the API socket.
pub fn add_port_forward(
    container_id: &str,
    api_socket: &Path,
    mapping: &PortMapping,
) -> Result<()> {
    let host_addr = if mapping.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        mapping.host_ip.as_str()
    };
    for (host_port, container_port) in mapping.port_pairs() {
        let request = serde_json::json!({
            "execute": "add_hostfwd",
            "arguments": {
                "proto": mapping.protocol,
                "host_addr": host_addr,
                "host_port": host_port,
                "guest_port": container_port,
            }
        });
        let reply = api_request(api_socket, &request)?;
        if let Some(error) = reply.get("error") {
            return Err(NetworkError::PortForwardFailed {
                container_id: container_id.to_string(),
                mapping: mapping.to_string(),
                message: error["desc"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_string(),
            });
        }
        debug!(
            container_id,
            host_addr, host_port, container_port, "forwarding port"
        );
    }
    Ok(())
}

/// Sends one JSON request and reads the JSON reply; slirp4netns handles one
/// request per connection.
fn api_request(api_socket: &Path, request: &serde_json::Value) -> Result<serde_json::Value> {
    let io_error = |op, source| NetworkError::Io {
        op,
        path: api_socket.to_path_buf(),
        source,
    };
    let mut stream =
        UnixStream::connect(api_socket).map_err(|source| io_error("connect to", source))?;
    stream
        .write_all(request.to_string().as_bytes())
        .and_then(|()| stream.shutdown(std::net::Shutdown::Write))
        .map_err(|source| io_error("write to", source))?;
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .map_err(|source| io_error("read from", source))?;
    serde_json::from_slice(&reply).map_err(|error| io_error("parse the reply of", error.into()))
}
