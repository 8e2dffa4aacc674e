//! Hands the sync and start pipes to conmon as fds 3 and 4.
#![allow(unsafe_code)]

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The fd conmon finds in `_OCI_SYNCPIPE`.
pub(super) const SYNC_PIPE_FD: RawFd = 3;
/// The fd conmon finds in `_OCI_STARTPIPE`.
pub(super) const START_PIPE_FD: RawFd = 4;

/// Arranges for `sync_write` and `start_read` to be open in the child as
/// [`SYNC_PIPE_FD`] and [`START_PIPE_FD`], without close-on-exec.
///
/// The caller creates both pipes right before spawning. Because pipes take
/// the lowest free fds, fds 3 and 4 are in use in the parent by then, so
/// none of `Command`'s own pipes (opened later, during spawn) can sit at 3
/// or 4 and be overwritten here.
pub(super) fn pass_pipe_fds(command: &mut Command, sync_write: RawFd, start_read: RawFd) {
    let hook = move || {
        // Copy both fds above the target numbers first, so that a source
        // already at 3 or 4 is not clobbered by the other dup2. dup2 clears
        // close-on-exec on the target; the temporary copies keep it.
        let sync_copy = cvt(libc_fcntl_dupfd_cloexec(sync_write))?;
        let start_copy = cvt(libc_fcntl_dupfd_cloexec(start_read))?;
        cvt(libc_dup2(sync_copy, SYNC_PIPE_FD))?;
        cvt(libc_dup2(start_copy, START_PIPE_FD))?;
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec. It only calls
    // fcntl(F_DUPFD_CLOEXEC) and dup2, which are async-signal-safe, and it
    // neither allocates nor takes locks.
    unsafe {
        command.pre_exec(hook);
    }
}

/// Lets the child inherit `fds` under their own numbers by clearing
/// close-on-exec on them after the fork. The parent keeps them open until
/// the spawn returns, so none of `Command`'s own fds can take their numbers.
pub(super) fn inherit_fds(command: &mut Command, fds: Vec<RawFd>) {
    if fds.is_empty() {
        return;
    }
    let hook = move || {
        for &fd in &fds {
            cvt(libc_clear_cloexec(fd))?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec. It only calls
    // fcntl(F_SETFD), which is async-signal-safe, and reads a vector that
    // was allocated before the fork; it neither allocates nor takes locks.
    unsafe {
        command.pre_exec(hook);
    }
}

fn libc_clear_cloexec(fd: RawFd) -> libc::c_int {
    // SAFETY: fcntl with F_SETFD reads no memory; a bad fd returns -1.
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }
}

/// Lowest fd for the temporary copies, above both target fds.
const TEMPORARY_FD_MIN: RawFd = 10;

fn libc_fcntl_dupfd_cloexec(fd: RawFd) -> libc::c_int {
    // SAFETY: fcntl with F_DUPFD_CLOEXEC reads no memory; a bad fd returns -1.
    unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, TEMPORARY_FD_MIN) }
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
