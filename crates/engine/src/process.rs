//! Process handles that are immune to pid reuse: a pid is trusted only
//! together with its start time, and waited on through a pidfd.
#![allow(unsafe_code)]

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, ppoll, PollFd, PollFlags, PollTimeout};
use nix::sys::time::TimeSpec;

/// Start time of `pid` in clock ticks since boot (`/proc/PID/stat` field
/// 22), or `None` when the process does not exist.
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces,
    // so count fields after the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that started at `expected_start_time` still runs: a
/// zombie (dead, not yet reaped by conmon) counts as gone.
pub(crate) fn is_running(pid: i32, expected_start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(after_name) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    let mut fields = after_name.split_whitespace();
    let state = fields.next().unwrap_or("X");
    let start = fields.nth(18).and_then(|s| s.parse::<u64>().ok());
    start == Some(expected_start_time) && !matches!(state, "Z" | "X" | "x")
}

/// A pidfd on a process that was checked to be the recorded one.
pub(crate) struct ProcessHandle {
    pidfd: OwnedFd,
}

impl ProcessHandle {
    /// Opens a pidfd on `pid` if it is still the process that started at
    /// `expected_start_time`; `None` when that process is gone.
    pub fn open(pid: i32, expected_start_time: u64) -> Option<ProcessHandle> {
        if pid <= 0 {
            return None;
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new file
        // descriptor or -1; no memory is passed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: the syscall returned a fresh descriptor that nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };

        // Checked after opening: if the start time still matches, the pidfd
        // refers to the recorded process and not to a later one with its pid.
        if start_time(pid) != Some(expected_start_time) {
            return None;
        }
        Some(ProcessHandle { pidfd })
    }

    /// Sends `signal` through the pidfd, so that a process that reused the
    /// pid never receives it. A process that already exited is success.
    pub fn send_signal(&self, signal: i32) -> std::io::Result<()> {
        // SAFETY: pidfd_send_signal takes a pidfd this handle owns, a signal
        // number, a null siginfo (the kernel then fills in what kill(2)
        // would) and no flags.
        let result = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if result == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        Err(error)
    }

    /// Waits until the process exits; `false` when `timeout` passed first.
    /// `None` waits without a bound.
    pub fn wait_exit(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let remaining = match deadline {
                None => PollTimeout::NONE,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, remaining) {
                Ok(0) => return false,
                Ok(_) => return true,
                Err(nix::errno::Errno::EINTR) => continue,
                // A pidfd that cannot be polled is treated as exited rather
                // than waited on forever.
                Err(_) => return true,
            }
        }
    }
}

/// Waits until `path` exists with content (conmon's exit file), watching
/// its directory with inotify; `false` when `timeout` passed first.
pub(crate) fn wait_for_file(path: &std::path::Path, timeout: Duration) -> bool {
    wait_for_file_or_exit(path, None, Some(timeout))
}

/// Waits until `path` exists with content or `process` exits, whichever
/// comes first, without a bound. `wait` uses it on conmon: the exit file
/// appears before conmon runs its exit command and waits for it, so the
/// file brings the exit code milliseconds sooner.
pub(crate) fn wait_for_file_or_process(path: &std::path::Path, process: &ProcessHandle) {
    wait_for_file_or_exit(path, Some(process), None);
}

/// How long a waiter checks for a file by polling before it sets up
/// inotify. An exit file usually comes within a few milliseconds of the
/// wait: an attached `run` waits once the container's output has ended,
/// and `stop` once the process is gone.
const BRIEF_WAIT: Duration = Duration::from_millis(30);

/// Checks `has_content` with pauses that grow from 0.1 ms to 1 ms, for up
/// to `limit`. Wakes early when `process` exits. `None` when neither the
/// file came nor the process exited in that time.
fn wait_briefly(
    has_content: &dyn Fn() -> bool,
    process: Option<&ProcessHandle>,
    limit: Duration,
) -> Option<bool> {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_micros(100);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let pause_now = pause.min(left);
        let exited = match process {
            Some(process) => {
                let mut fds = [PollFd::new(process.pidfd.as_fd(), PollFlags::POLLIN)];
                let timeout = TimeSpec::from_duration(pause_now);
                matches!(ppoll(&mut fds, Some(timeout), None), Ok(n) if n > 0)
            }
            None => {
                std::thread::sleep(pause_now);
                false
            }
        };
        if has_content() {
            return Some(true);
        }
        if exited {
            return Some(false);
        }
        pause = (pause * 2).min(Duration::from_millis(1));
    }
}

/// Returns `true` once `path` has content or `process` (when given) has
/// exited, `false` when `timeout` passed first.
fn wait_for_file_or_exit(
    path: &std::path::Path,
    process: Option<&ProcessHandle>,
    timeout: Option<Duration>,
) -> bool {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

    let has_content = || std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
    // Closing an inotify descriptor that had a watch waits for the kernel
    // to reap the watch (an SRCU grace period, 5-15 ms here), so a file
    // that is already there, or comes soon, is found without one.
    if has_content() {
        return true;
    }
    let brief = timeout.map_or(BRIEF_WAIT, |timeout| timeout.min(BRIEF_WAIT));
    if let Some(found) = wait_briefly(&has_content, process, brief) {
        return found;
    }
    let timeout = timeout.map(|timeout| timeout.saturating_sub(brief));
    let Some(dir) = path.parent() else {
        return false;
    };
    // The watch is set before the next check, so a write between the two
    // is not missed.
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
    if let Some(inotify) = &inotify {
        let _ = inotify.add_watch(
            dir,
            AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_MODIFY,
        );
    }

    let deadline = timeout.map(|timeout| Instant::now() + timeout);
    loop {
        if has_content() {
            return true;
        }
        let left = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
        if left.is_some_and(|left| left.is_zero()) {
            return false;
        }
        // Without inotify (limit of watches reached), check again soon.
        let poll_timeout = match (&inotify, left) {
            (None, left) => {
                let step = Duration::from_millis(10);
                PollTimeout::from(left.unwrap_or(step).min(step).as_millis() as u16)
            }
            (Some(_), None) => PollTimeout::NONE,
            (Some(_), Some(left)) => {
                let millis = left.as_millis().min(i32::MAX as u128) as i32;
                PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)
            }
        };

        let mut fds = Vec::with_capacity(2);
        if let Some(inotify) = &inotify {
            fds.push(PollFd::new(inotify.as_fd(), PollFlags::POLLIN));
        }
        if let Some(process) = process {
            fds.push(PollFd::new(process.pidfd.as_fd(), PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, poll_timeout);
        let exited = process.is_some()
            && fds
                .last()
                .and_then(|fd| fd.revents())
                .is_some_and(|events| !events.is_empty());
        if let Some(inotify) = &inotify {
            let _ = inotify.read_events();
        }
        if exited {
            return has_content();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_own_process_is_stable() {
        let pid = std::process::id() as i32;
        let first = start_time(pid).expect("own start time");
        assert_eq!(start_time(pid), Some(first));
    }

    #[test]
    fn handle_rejects_wrong_start_time() {
        let pid = std::process::id() as i32;
        let real = start_time(pid).unwrap();
        assert!(ProcessHandle::open(pid, real + 1).is_none());
        assert!(ProcessHandle::open(pid, real).is_some());
    }

    #[test]
    fn send_signal_ends_child_and_ignores_exited() {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let handle = ProcessHandle::open(pid, start_time(pid).unwrap()).unwrap();
        handle.send_signal(libc::SIGTERM).unwrap();
        assert!(handle.wait_exit(Some(Duration::from_secs(10))));
        child.wait().unwrap();
        // Reaped: the pid is gone, which is success.
        assert!(handle.send_signal(libc::SIGTERM).is_ok());
    }

    #[test]
    fn wait_exit_returns_when_child_exits() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let handle = ProcessHandle::open(pid, start_time(pid).unwrap()).unwrap();
        assert!(!handle.wait_exit(Some(Duration::from_millis(10))));
        assert!(handle.wait_exit(Some(Duration::from_secs(10))));
        child.wait().unwrap();
    }
}
