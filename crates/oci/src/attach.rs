//! conmon's attach socket (`attach` in the bundle dir) and ctl fifo.
//!
//! The socket is `SOCK_SEQPACKET`. Each packet from conmon starts with one
//! byte naming the stream (conmon's `stdpipe_t`: 2 = stdout, 3 = stderr;
//! a terminal's output arrives as stdout), followed by the data. Packets to
//! conmon are raw stdin bytes.
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{open, openat, OFlag};
use nix::sys::socket::{
    connect, recv, send, shutdown, socket, AddressFamily, MsgFlags, Shutdown, SockFlag, SockType,
    UnixAddr,
};
use nix::sys::stat::Mode;

use crate::{OciError, Result};

/// conmon's `STDOUT_PIPE` marker byte.
const STREAM_STDOUT: u8 = 2;
/// conmon's `STDERR_PIPE` marker byte.
const STREAM_STDERR: u8 = 3;
/// conmon reads at most 32 KiB (`CONN_SOCK_BUF_SIZE`) per packet and drops
/// the rest of a longer one, so stdin goes in smaller packets.
const STDIN_PACKET_MAX: usize = 8192;
/// Larger than conmon's biggest output packet (8 KiB of data plus the
/// stream byte), so no packet is truncated.
const RECEIVE_BUFFER: usize = 64 * 1024;
/// The ctl fifo message type for a terminal resize (`WIN_RESIZE_EVENT`).
const CTL_RESIZE: u32 = 1;

/// The caller's side of an attached container's stdio.
pub struct AttachIo {
    /// Forwarded to the container's stdin until EOF, then the write side of
    /// the socket is shut down so conmon closes the container's stdin.
    pub stdin: Option<Box<dyn Read + Send>>,
    pub stdout: Box<dyn Write + Send>,
    pub stderr: Box<dyn Write + Send>,
}

/// A connection to a container's attach socket.
pub struct AttachSocket {
    socket: OwnedFd,
}

impl AttachSocket {
    /// Connects to `bundle/attach` through `/proc/self/fd/N/attach`, because
    /// the full path may be longer than a unix socket address can hold.
    pub fn connect(bundle: &Path) -> Result<AttachSocket> {
        let socket_path = bundle.join("attach");
        let io_error = |op, errno: nix::errno::Errno| OciError::io(op, &socket_path, errno.into());

        let dir = open(
            bundle,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| OciError::io("open bundle", bundle, errno.into()))?;
        let dir = File::from(owned_from_raw(dir));

        let socket = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|errno| io_error("create socket for", errno))?;
        let short_path = format!("/proc/self/fd/{}/attach", dir.as_raw_fd());
        let address =
            UnixAddr::new(short_path.as_str()).map_err(|errno| io_error("connect to", errno))?;
        connect(socket.as_raw_fd(), &address).map_err(|errno| io_error("connect to", errno))?;
        tracing::debug!(path = %socket_path.display(), "attached to conmon");
        Ok(AttachSocket { socket })
    }

    /// Copies output to `io` until conmon closes the socket (the container
    /// exited), forwarding stdin meanwhile.
    ///
    /// The stdin thread is not joined: it may be blocked reading a terminal
    /// that never reaches EOF. It ends at its next read after the socket
    /// closes.
    pub fn pump(self, io: AttachIo) -> Result<()> {
        let AttachIo {
            stdin,
            mut stdout,
            mut stderr,
        } = io;

        if let Some(stdin) = stdin {
            let socket = self
                .socket
                .try_clone()
                .map_err(|source| OciError::io("duplicate", "attach socket", source))?;
            std::thread::spawn(move || forward_stdin(stdin, socket));
        }

        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        loop {
            let received = match recv(self.socket.as_raw_fd(), &mut buffer, MsgFlags::empty()) {
                Ok(0) => return Ok(()),
                Ok(received) => received,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => return Err(OciError::io("read", "attach socket", errno.into())),
            };
            let (stream, data) = (buffer[0], &buffer[1..received]);
            let (target, name): (&mut dyn Write, &str) = match stream {
                STREAM_STDOUT => (&mut stdout, "stdout"),
                STREAM_STDERR => (&mut stderr, "stderr"),
                other => {
                    tracing::debug!(
                        stream = other,
                        bytes = data.len(),
                        "ignoring attach packet for an unknown stream"
                    );
                    continue;
                }
            };
            target
                .write_all(data)
                .and_then(|()| target.flush())
                .map_err(|source| OciError::io("write attached", name, source))?;
        }
    }
}

/// Sends stdin to conmon in packets; at EOF shuts down the write side so
/// conmon closes the container's stdin.
fn forward_stdin(mut stdin: Box<dyn Read + Send>, socket: OwnedFd) {
    let mut buffer = vec![0u8; STDIN_PACKET_MAX];
    loop {
        let read = match stdin.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                tracing::warn!(%error, "cannot read stdin for the attached container, closing its stdin");
                break;
            }
        };
        if let Err(errno) = send(socket.as_raw_fd(), &buffer[..read], MsgFlags::MSG_NOSIGNAL) {
            tracing::debug!(%errno, "attach socket closed, stopping stdin forwarding");
            return;
        }
    }
    if let Err(errno) = shutdown(socket.as_raw_fd(), Shutdown::Write) {
        tracing::debug!(%errno, "cannot shut down the write side of the attach socket");
    }
}

/// Tells conmon the terminal size through the `ctl` fifo in the bundle dir.
///
/// Fails with ENXIO when no conmon reads the fifo (the container exited).
pub fn resize(bundle: &Path, rows: u16, cols: u16) -> Result<()> {
    let ctl_path = bundle.join("ctl");
    let dir = open(
        bundle,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| OciError::io("open bundle", bundle, errno.into()))?;
    let dir = owned_from_raw(dir);
    // O_NONBLOCK: opening a fifo for writing blocks until a reader exists.
    let fifo = openat(
        Some(dir.as_raw_fd()),
        "ctl",
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| OciError::io("open", &ctl_path, errno.into()))?;
    let mut fifo = File::from(owned_from_raw(fifo));

    let message = format!("{CTL_RESIZE} {rows} {cols}\n");
    tracing::debug!(path = %ctl_path.display(), rows, cols, "resizing the container terminal");
    fifo.write_all(message.as_bytes())
        .map_err(|source| OciError::io("write", &ctl_path, source))
}

/// Takes ownership of an fd that nix returned as a raw number.
#[allow(unsafe_code)]
fn owned_from_raw(fd: std::os::fd::RawFd) -> OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` was just returned by a successful open/openat and nothing
    // else owns or closes it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
