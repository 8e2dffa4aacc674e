//! Hands pipes to conmon at fixed fd numbers (`_OCI_SYNCPIPE`,
//! `_OCI_STARTPIPE`, `_OCI_ATTACHPIPE`), and keeps fds that an exec session
//! preserves open across exec.
#![allow(unsafe_code)]

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The fd conmon finds in `_OCI_SYNCPIPE` when no fds are preserved.
pub(super) const SYNC_PIPE_FD: RawFd = 3;
/// The fd conmon finds in `_OCI_STARTPIPE` when no fds are preserved.
pub(super) const START_PIPE_FD: RawFd = 4;

/// The fd at which conmon inherits [`super::CreateRequest::inherited_fd`].
pub(super) const INHERITED_FD: RawFd = 5;

/// Arranges for each `(source, target)` pair that `source` is open in the
/// child as `target`, without close-on-exec. A pair may have source equal
/// to target: that fd is then only made inheritable.
///
/// Sources must be fds of this process that stay open until spawn returns.
/// A `Command` pipe that happens to sit at a target number is overwritten,
/// which is harmless: by the time the hook runs, std has already moved its
/// pipes to fds 0, 1 and 2.
pub(super) fn pass_fds(command: &mut Command, pairs: Vec<(RawFd, RawFd)>) {
    let temporary_min = pairs
        .iter()
        .map(|&(source, target)| source.max(target))
        .max()
        .unwrap_or(0)
        + 1;
    let mut copies = vec![-1; pairs.len()];
    let hook = move || {
        // Copy every source above all sources and targets first, so that a
        // dup2 onto one target never clobbers a source still to be copied.
        // dup2 clears close-on-exec on the target; the copies keep it.
        for (copy, &(source, _)) in copies.iter_mut().zip(&pairs) {
            *copy = cvt(libc_fcntl_dupfd_cloexec(source, temporary_min))?;
        }
        for (&copy, &(_, target)) in copies.iter().zip(&pairs) {
            cvt(libc_dup2(copy, target))?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec. It only calls
    // fcntl(F_DUPFD_CLOEXEC) and dup2, which are async-signal-safe, and it
    // writes into a vector allocated before the fork, so it neither
    // allocates nor takes locks.
    unsafe {
        command.pre_exec(hook);
    }
}

fn libc_fcntl_dupfd_cloexec(fd: RawFd, minimum: RawFd) -> libc::c_int {
    // SAFETY: fcntl with F_DUPFD_CLOEXEC reads no memory; a bad fd returns -1.
    unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, minimum) }
}

fn libc_dup2(from: RawFd, to: RawFd) -> libc::c_int {
    // SAFETY: dup2 reads no memory; a bad fd returns -1.
    unsafe { libc::dup2(from, to) }
}

fn cvt(result: libc::c_int) -> std::io::Result<libc::c_int> {
    if result == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(result)
    }
}
