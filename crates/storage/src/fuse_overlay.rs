//! Overlay mounts made by a mount program (fuse-overlayfs) instead of the
//! kernel, for stores where a native overlay mount fails in the rootless
//! user namespace, or where the user asks for one with `--storage-opt
//! overlay.mount_program=PATH`.
//!
//! fuse-overlayfs mounts the same lower layers as the kernel, and its
//! daemon exits when the mount goes away. In its upper dir, fuse-overlayfs
//! 1.10 writes a deleted file as a 0/0 character device, as the kernel does.
//!
//! NOTE: an opaque directory gets `.wh..wh..opq` and `.wh..opq` entries in
//! the upper dir (seen with 1.10 in a user namespace), which `diff` and
//! `commit` do not translate yet, so they list those entries as files.
#![allow(unsafe_code)]

use std::fs;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tracing::{debug, warn};

use crate::{Result, StorageError};

/// The device every FUSE mount is served through.
const FUSE_DEVICE: &str = "/dev/fuse";
/// The program's name, as installed by Debian's `fuse-overlayfs` package.
const FUSE_OVERLAYFS: &str = "fuse-overlayfs";
/// How long an unmount waits for the daemon of the mount to exit. It exits
/// within milliseconds after a plain unmount; after a lazy one it stays
/// until the last user of the mount is gone.
const DAEMON_EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Finds fuse-overlayfs in PATH or /usr/bin.
pub(crate) fn find_fuse_overlayfs() -> Option<PathBuf> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(FUSE_OVERLAYFS))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Checks that `program` can be run and that this process may open
/// /dev/fuse, which a FUSE mount needs.
pub(crate) fn check_usable(program: &Path) -> Result<()> {
    let unusable = |reason: String| StorageError::MountProgramUnusable {
        program: program.to_path_buf(),
        reason,
    };
    if !program.is_absolute() {
        return Err(unusable("the path must be absolute".into()));
    }
    if !is_executable(program) {
        return Err(unusable("no executable file at this path".into()));
    }
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(FUSE_DEVICE)
        .map_err(|error| unusable(format!("cannot open {FUSE_DEVICE}: {error}")))?;
    Ok(())
}

/// Returns the first line of `program --version` that names the program,
/// or the first line. fuse-overlayfs 1.10 prints fusermount3's version first.
pub fn version(program: &Path) -> String {
    let Ok(output) = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let name = program
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    text.lines()
        .find(|line| line.starts_with(&name))
        .or_else(|| text.lines().next())
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Mounts the overlay with `program` at `merged`. The program forks its
/// daemon once the mount exists, so the mount is in place when it returns.
pub(crate) fn mount(
    program: &Path,
    container_id: &str,
    options: &str,
    merged: &Path,
) -> Result<()> {
    debug!(container_id, program = %program.display(), path = %merged.display(), options, "mounting overlay with the mount program");
    let output = Command::new(program)
        .arg("-o")
        .arg(options)
        .arg(merged)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| StorageError::MountProgramFailed {
            container_id: container_id.to_string(),
            program: program.to_path_buf(),
            message: error.to_string(),
        })?;
    if !output.status.success() {
        // fuse-overlayfs 1.10 warns "unknown argument ignored: lazytime"
        // on every mount; the error is on the last line.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .map_or_else(|| output.status.to_string(), |line| line.trim().to_string());
        return Err(StorageError::MountProgramFailed {
            container_id: container_id.to_string(),
            program: program.to_path_buf(),
            message,
        });
    }
    Ok(())
}

/// Returns whether the FUSE mount at `merged` still has its daemon: a
/// mount whose daemon died fails every access with ENOTCONN.
pub(crate) fn is_connected(merged: &Path) -> bool {
    match fs::metadata(merged) {
        Ok(_) => true,
        Err(error) => error.raw_os_error() != Some(libc::ENOTCONN),
    }
}

/// The daemons serving `merged`: fuse-overlayfs processes whose last
/// argument is that mount point, held as pidfds, so a pid reused after
/// the lookup is not waited on or signalled.
pub(crate) struct Daemons {
    pidfds: Vec<(i32, OwnedFd)>,
}

impl Daemons {
    /// Finds the daemons of the mount at `merged` in /proc.
    pub(crate) fn of_mount(merged: &Path) -> Daemons {
        let expected = merged.as_os_str().as_bytes();
        let pids: Vec<i32> = fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim_end() == FUSE_OVERLAYFS)
            })
            .filter(|pid| {
                fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                    cmdline
                        .split(|&byte| byte == 0)
                        .rfind(|arg| !arg.is_empty())
                        == Some(expected)
                })
            })
            .collect();
        let pidfds = pids
            .into_iter()
            .filter_map(|pid| Some((pid, open_pidfd(pid)?)))
            .collect();
        Daemons { pidfds }
    }

    /// Waits until every daemon has exited, up to [`DAEMON_EXIT_TIMEOUT`].
    /// A daemon still running then is sent SIGTERM: its mount is gone from
    /// this namespace, so nothing is served through it any more.
    pub(crate) fn wait_for_exit(self, container_id: &str) {
        let deadline = Instant::now() + DAEMON_EXIT_TIMEOUT;
        for (pid, pidfd) in self.pidfds {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if wait_pidfd(&pidfd, remaining) {
                debug!(container_id, pid, "mount program daemon exited");
                continue;
            }
            warn!(
                container_id,
                pid, "mount program daemon still runs after the unmount; terminating it"
            );
            // SAFETY: pidfd_send_signal takes a pidfd this function owns, a
            // signal number and null info; it touches no memory of ours.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    std::os::fd::AsRawFd::as_raw_fd(&pidfd),
                    libc::SIGTERM,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            }
        }
    }
}

fn open_pidfd(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the descriptor was just returned by pidfd_open and nothing
    // else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits for the process of `pidfd` to exit; false when `timeout` passed.
fn wait_pidfd(pidfd: &OwnedFd, timeout: Duration) -> bool {
    let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, PollTimeout::from(millis)) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            // Treat a pidfd that cannot be polled as an exited process.
            Err(_) => return true,
        }
    }
}
