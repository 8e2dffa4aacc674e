//! The user's terminal: raw mode for `-t`, its size, and the thread that
//! forwards signals and window-size changes to the container.
use std::os::fd::AsFd;

use berth_engine::{Engine, EngineOptions};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::termios::{self, SetArg, Termios};
use tracing::debug;

/// Puts stdin's terminal into raw mode and restores it when dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// `None` when stdin is not a terminal.
    pub fn enable() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Warns, in Podman's words, that `-it` without a terminal on stdin copies
/// input as it is: a shell then waits for input that never comes.
pub fn warn_if_stdin_not_a_terminal() {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("The input device is not a TTY. The --tty and --interactive flags might not work properly");
    }
}

/// Rows and columns of the terminal on stdout, if it is one.
pub fn size() -> Option<(u16, u16)> {
    let stdout = std::io::stdout();
    let size = rustix_like_winsize(stdout.as_fd())?;
    Some(size)
}

#[allow(unsafe_code)]
fn rustix_like_winsize(fd: std::os::fd::BorrowedFd<'_>) -> Option<(u16, u16)> {
    use std::os::fd::AsRawFd;
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize struct into the pointer given,
    // which points to a live, properly aligned local.
    let result = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (result == 0 && size.ws_row > 0).then_some((size.ws_row, size.ws_col))
}

/// Blocks SIGWINCH in this thread and the threads it starts later, so that
/// [`forward_window_changes`] can wait for it.
pub fn block_window_changes() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    let _ = set.thread_block();
}

/// Starts a thread that calls `resize` with the terminal's size on every
/// SIGWINCH, until `resize` returns false (the session is gone). Call
/// [`block_window_changes`] first.
pub fn forward_window_changes(resize: impl Fn(u16, u16) -> bool + Send + 'static) {
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    std::thread::spawn(move || {
        while set.wait().is_ok() {
            if let Some((rows, cols)) = size() {
                if !resize(rows, cols) {
                    return;
                }
            }
        }
    });
}

/// Signals forwarded to the container while berth is attached.
const PROXIED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Blocks the proxied signals in this thread (and threads spawned after)
/// and starts a thread that forwards them to container `id`: SIGWINCH
/// becomes a terminal resize, the others are sent to the container.
pub fn proxy_signals(options: EngineOptions, id: String, tty: bool) {
    let mut set = SigSet::empty();
    for signal in PROXIED {
        set.add(*signal);
    }
    if set.thread_block().is_err() {
        return;
    }
    std::thread::spawn(move || {
        // Opened at the first signal: most runs get none, and opening the
        // databases here would compete with the container's start.
        let mut engine = None;
        while let Ok(signal) = set.wait() {
            if engine.is_none() {
                engine = Engine::open(options.clone()).ok();
            }
            let Some(engine) = &engine else {
                return;
            };
            debug!(container_id = %id, signal = %signal, "forwarding signal");
            let result = if signal == Signal::SIGWINCH {
                if !tty {
                    continue;
                }
                match size() {
                    Some((rows, cols)) => engine.resize(&id, rows, cols),
                    None => continue,
                }
            } else {
                engine.kill(&id, &(signal as i32).to_string())
            };
            if let Err(e) = result {
                debug!(container_id = %id, error = %e, "forwarding signal failed");
            }
        }
    });
}
