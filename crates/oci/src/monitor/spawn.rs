//! Hands pipes to conmon at fixed fd numbers (`_OCI_SYNCPIPE`,
//! `_OCI_STARTPIPE`, `_OCI_ATTACHPIPE`), and keeps fds that an exec session
//! preserves open across exec.
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// The fd conmon finds in `_OCI_SYNCPIPE` when no fds are preserved; with
/// N preserved fds (3 to 3+N-1) the pipes start at 3+N.
pub(super) const SYNC_PIPE_FD: RawFd = 3;

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

/// Lets the child inherit `fds` (the child needs them open, not at any
/// particular number) by clearing close-on-exec on them after the fork.
/// The parent keeps them open until the spawn returns, so none of
/// `Command`'s own fds can take their numbers.
///
/// An fd that sits on one of `targets`, the numbers [`pass_fds`] fills,
/// is copied above them first, because the later dup2 onto that target
/// would close it in the child. That happens when the fd got a low number,
/// for example after another thread closed fd 3. So this must be
/// registered before [`pass_fds`]: `pre_exec` hooks run in order.
pub(super) fn inherit_fds(command: &mut Command, fds: Vec<RawFd>, targets: Vec<RawFd>) {
    if fds.is_empty() {
        return;
    }
    let above_targets = targets.iter().copied().max().unwrap_or(2) + 1;
    let hook = move || {
        for &fd in &fds {
            if targets.contains(&fd) {
                cvt(libc_fcntl_dupfd(fd, above_targets))?;
            } else {
                cvt(libc_clear_cloexec(fd))?;
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec. It only calls
    // fcntl(F_SETFD, F_DUPFD), which is async-signal-safe, and reads vectors
    // that were allocated before the fork; it neither allocates nor takes
    // locks.
    unsafe {
        command.pre_exec(hook);
    }
}

/// Makes the child get SIGKILL when the thread that spawns it exits. The
/// setting ends with the child's own fork, so it covers conmon's first
/// process only. That process must not outlive a berth that died before
/// sending the start byte: conmon reads end of file on its start pipe as
/// the start byte and would go on to create the container.
pub(super) fn kill_with_parent(command: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    let hook = move || {
        // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid read no memory of
        // this process and are async-signal-safe.
        cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) })?;
        // The parent may have died before the prctl took effect.
        if unsafe { libc::getppid() } != parent {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec and only makes
    // the two system calls above; it neither allocates nor takes locks.
    unsafe {
        command.pre_exec(hook);
    }
}

/// Opens a pidfd on a child that has not been reaped, so its pid cannot
/// have been reused. Returns `None` on kernels without pidfd_open (before
/// 5.3).
pub(super) fn child_pidfd(child: &Child) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1;
    // it reads no memory of this process.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the fd was just returned by pidfd_open and nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn libc_fcntl_dupfd(fd: RawFd, minimum: RawFd) -> libc::c_int {
    // SAFETY: fcntl with F_DUPFD reads no memory; a bad fd returns -1.
    unsafe { libc::fcntl(fd, libc::F_DUPFD, minimum) }
}

fn libc_clear_cloexec(fd: RawFd) -> libc::c_int {
    // SAFETY: fcntl with F_SETFD reads no memory; a bad fd returns -1.
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }
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

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;

    use super::*;

    /// A held fd whose number is also a target of `pass_fds` still reaches
    /// the child, under another number, and the target gets its pipe.
    #[test]
    fn held_fd_on_a_target_survives() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket_inode = std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd()))
            .unwrap()
            .ino();
        let (pipe_read, pipe_write) = nix::unistd::pipe().unwrap();
        let target = socket.as_raw_fd();

        let mut command = Command::new("sh");
        command.arg("-c").arg("ls -l /proc/self/fd/");
        command.stdout(std::process::Stdio::piped());
        inherit_fds(&mut command, vec![socket.as_raw_fd()], vec![target]);
        pass_fds(&mut command, vec![(pipe_write.as_raw_fd(), target)]);
        let output = command.output().unwrap();
        drop(pipe_read);

        let listing = String::from_utf8_lossy(&output.stdout);
        assert!(
            listing.contains(&format!("socket:[{socket_inode}]")),
            "{listing}"
        );
        assert!(
            listing.contains(&format!(" {target} -> pipe:")),
            "{listing}"
        );
    }
}
