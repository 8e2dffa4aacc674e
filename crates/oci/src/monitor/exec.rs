//! The exec handshake with conmon (`-e --exec-attach --exec-process-spec`),
//! as conmon 2.1.6 implements it:
//!
//! 1. Spawn conmon with the sync pipe, start pipe and attach pipe after any
//!    preserved fds (`_OCI_SYNCPIPE`, `_OCI_STARTPIPE`, `_OCI_ATTACHPIPE`).
//! 2. Move conmon into the monitor cgroup and write the first start byte.
//! 3. Wait for the process we spawned; it exits right after forking the
//!    monitor that stays behind.
//! 4. Read `{"data": 0}` from the attach pipe: the session's attach socket
//!    and ctl fifo exist now. Set the terminal size and connect to the
//!    socket here, so no output is lost.
//! 5. Write the second start byte: conmon runs `<runtime> exec`.
//! 6. Read the exec pid from the sync pipe (or a negative number and the
//!    runtime's message). A second line carries the exit code once the
//!    process exits and conmon has written its exit files.
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;

use super::sync::{SyncOutcome, SyncReader};
use super::{kill_child, kill_monitor, read_pid_file, spawn, wait_until, Monitor, RUNTIME_LOG};
use crate::attach::AttachSocket;
use crate::runtime::{command_line, runtime_message};
use crate::{cgroup, OciError, Result, Runtime};

/// Everything conmon needs to run one exec session.
#[derive(Debug, Clone)]
pub struct ExecRequest<'a> {
    pub container_id: &'a str,
    pub container_name: &'a str,
    pub session_id: &'a str,
    pub runtime: &'a Runtime,
    /// The session's own directory: conmon's working directory, where it
    /// makes the session's attach socket and ctl/winsz fifos.
    pub session_dir: &'a Path,
    /// The process spec (JSON) handed to `<runtime> exec --process`.
    pub process_spec: &'a Path,
    /// The runtime writes the exec process's pid here.
    pub pid_file: &'a Path,
    /// conmon writes the exit code to `exit_dir/<container_id>`, so every
    /// session needs its own directory.
    pub exit_dir: &'a Path,
    /// conmon writes the exit code to `persist_dir/exit` too.
    pub persist_dir: &'a Path,
    pub conmon_pid_file: &'a Path,
    /// k8s-file log of the session's output; `None` for no log.
    pub log_path: Option<&'a Path>,
    /// Program and arguments conmon runs after the process exits.
    pub exit_command: &'a [String],
    pub terminal: bool,
    pub stdin: bool,
    /// Fds 3 to 3+N-1 of this process, passed on to the exec process.
    pub preserve_fds: u32,
    /// Connect to the attach socket before the process starts.
    pub attach: bool,
    /// Rows and columns of the session's terminal, set before it starts.
    pub terminal_size: Option<(u16, u16)>,
    /// Cgroup path that conmon is moved into before its first start byte.
    pub monitor_cgroup: Option<&'a str>,
    /// Bound on each step of the handshake up to the exec pid.
    pub timeout: Duration,
    /// Passes `--log-level debug` to conmon and the runtime.
    pub debug: bool,
}

/// A started exec session.
pub struct ExecStarted {
    /// The exec process, as a host pid.
    pub pid: i32,
    /// The conmon process that stays behind.
    pub monitor_pid: i32,
    /// Connected when [`ExecRequest::attach`] was set.
    pub attach: Option<AttachSocket>,
    /// The sync pipe, on which conmon reports the exit code.
    pub exit: ExecExitPipe,
}

/// The read end of an exec session's sync pipe after the pid was read.
#[derive(Debug)]
pub struct ExecExitPipe {
    reader: SyncReader,
}

impl ExecExitPipe {
    /// Waits for conmon's report of the exit code. Returns `None` when
    /// conmon closed the pipe without one (it was killed).
    pub fn wait(mut self) -> Result<Option<i32>> {
        let outcome = self
            .reader
            .read_message(None)
            .map_err(|source| OciError::io("read", "exec sync pipe", source))?;
        match outcome {
            SyncOutcome::Message(message) => Ok(i32::try_from(message.data).ok()),
            SyncOutcome::Closed(text) => {
                tracing::debug!(text = %text.trim(), "conmon closed the exec sync pipe without an exit code");
                Ok(None)
            }
            SyncOutcome::TimedOut => Ok(None),
        }
    }
}

/// The pipes of one exec handshake, parent ends.
struct ParentPipes {
    sync: SyncReader,
    start: std::fs::File,
    attach: SyncReader,
}

impl Monitor {
    /// Runs the exec handshake. On failure nothing of the session stays
    /// running and the runtime's own message is returned.
    pub fn exec(&self, request: &ExecRequest<'_>) -> Result<ExecStarted> {
        let span = tracing::debug_span!(
            "conmon_exec",
            container_id = request.container_id,
            exec_id = request.session_id
        );
        let _entered = span.enter();
        request.runtime.ensure_state_root()?;
        for dir in [request.exit_dir, request.persist_dir] {
            std::fs::create_dir_all(dir)
                .map_err(|source| OciError::io("create directory", dir, source))?;
        }

        let result = self.run_exec_handshake(request);
        if result.is_err() && request.conmon_pid_file.exists() {
            // conmon stays behind when the handshake broke off after it
            // forked; without its start byte it would wait forever.
            kill_monitor(request.conmon_pid_file);
        }
        result
    }

    fn run_exec_handshake(&self, request: &ExecRequest<'_>) -> Result<ExecStarted> {
        let deadline = Instant::now() + request.timeout;
        let pipe = |op| {
            nix::unistd::pipe2(OFlag::O_CLOEXEC)
                .map_err(|errno| OciError::io(op, &self.path, errno.into()))
        };
        let (sync_read, sync_write) = pipe("create sync pipe")?;
        let (start_read, start_write) = pipe("create start pipe")?;
        let (attach_read, attach_write) = pipe("create attach pipe")?;

        // conmon finds its pipes right after the preserved fds, which keep
        // their numbers (3 to 3+N-1) in conmon and in the exec process.
        let first_pipe_fd = 3 + request.preserve_fds as RawFd;
        let mut fds: Vec<(RawFd, RawFd)> = (3..first_pipe_fd).map(|fd| (fd, fd)).collect();
        fds.extend([
            (sync_write.as_raw_fd(), first_pipe_fd),
            (start_read.as_raw_fd(), first_pipe_fd + 1),
            (attach_write.as_raw_fd(), first_pipe_fd + 2),
        ]);

        let args = exec_args(request);
        tracing::debug!(command = %command_line(&self.path, &args), "running conmon");
        let mut command = Command::new(&self.path);
        command
            .args(&args)
            .current_dir(request.session_dir)
            .env("_OCI_SYNCPIPE", first_pipe_fd.to_string())
            .env("_OCI_STARTPIPE", (first_pipe_fd + 1).to_string())
            .env("_OCI_ATTACHPIPE", (first_pipe_fd + 2).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        crate::runtime::remove_systemd_env(&mut command);
        spawn::pass_fds(&mut command, fds);
        let mut child = command
            .spawn()
            .map_err(|source| OciError::io("run", &self.path, source))?;
        // Only conmon may hold these ends, so that its exit shows as EOF.
        drop((sync_write, start_read, attach_write));
        let mut pipes = ParentPipes {
            sync: SyncReader::new(sync_read),
            start: std::fs::File::from(start_write),
            attach: SyncReader::new(attach_read),
        };

        let stderr_reader = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                let _ = stderr.read_to_end(&mut text);
                String::from_utf8_lossy(&text).into_owned()
            })
        });
        if let Some(path) = request.monitor_cgroup {
            cgroup::move_pid(child.id() as i32, path);
        }
        write_start_byte(&mut pipes.start, "cgroup");

        let status = wait_until(&mut child, deadline);
        if status.is_none() {
            kill_child(&mut child);
        }
        let stderr = stderr_reader
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        let Some(status) = status else {
            return Err(self.exec_timed_out(request));
        };
        if !status.success() {
            return Err(OciError::MonitorFailed {
                id: request.container_id.to_string(),
                message: format!("conmon {status}: {}", stderr.trim()),
            });
        }

        // The attach socket exists once conmon reports on the attach pipe.
        match read_before(&mut pipes.attach, deadline, &self.path)? {
            SyncOutcome::Message(_) => {}
            SyncOutcome::TimedOut => return Err(self.exec_timed_out(request)),
            SyncOutcome::Closed(_) => return Err(self.exec_failed(request, &mut pipes, deadline)),
        }
        if let Some((rows, cols)) = request.terminal_size {
            if let Err(error) = crate::attach::resize(request.session_dir, rows, cols) {
                tracing::warn!(%error, "cannot set the exec session's terminal size");
            }
        }
        let attach = if request.attach {
            Some(AttachSocket::connect(request.session_dir)?)
        } else {
            None
        };
        write_start_byte(&mut pipes.start, "exec");
        drop(pipes.start);

        let message = match read_before(&mut pipes.sync, deadline, &self.path)? {
            SyncOutcome::Message(message) => message,
            SyncOutcome::TimedOut => return Err(self.exec_timed_out(request)),
            SyncOutcome::Closed(text) => return Err(self.exec_error(request, text.trim())),
        };
        tracing::debug!(data = message.data, message = ?message.message, "conmon exec sync message");
        if message.data < 0 {
            return Err(self.exec_error(request, message.message.as_deref().unwrap_or_default()));
        }
        let pid = i32::try_from(message.data).map_err(|_| OciError::MonitorFailed {
            id: request.container_id.to_string(),
            message: format!("conmon reported an invalid exec pid {}", message.data),
        })?;
        let monitor_pid = read_pid_file(request.conmon_pid_file)?;
        tracing::debug!(pid, monitor_pid, "exec session started");
        Ok(ExecStarted {
            pid,
            monitor_pid,
            attach,
            exit: ExecExitPipe { reader: pipes.sync },
        })
    }

    /// Builds the error for a handshake that conmon ended before the
    /// attach socket existed, from its message on the sync pipe, if any.
    fn exec_failed(
        &self,
        request: &ExecRequest<'_>,
        pipes: &mut ParentPipes,
        deadline: Instant,
    ) -> OciError {
        let text = match pipes.sync.read_message(Some(deadline)) {
            Ok(SyncOutcome::Message(message)) => message.message.unwrap_or_default(),
            Ok(SyncOutcome::Closed(text)) => text,
            Ok(SyncOutcome::TimedOut) | Err(_) => String::new(),
        };
        self.exec_error(request, text.trim())
    }

    /// Builds the error from the runtime's message on the sync pipe, else
    /// from the runtime's log file.
    fn exec_error(&self, request: &ExecRequest<'_>, sync_text: &str) -> OciError {
        let mut message = runtime_message(sync_text);
        if message.is_empty() {
            let log =
                std::fs::read_to_string(request.session_dir.join(RUNTIME_LOG)).unwrap_or_default();
            message = runtime_message(&log);
        }
        if message.is_empty() {
            return OciError::MonitorFailed {
                id: request.container_id.to_string(),
                message: "conmon exited without reporting the exec pid or an error; rerun with --log-level debug".to_string(),
            };
        }
        OciError::RuntimeFailed {
            runtime: request.runtime.name.clone(),
            op: "exec",
            id: request.container_id.to_string(),
            message,
        }
    }

    fn exec_timed_out(&self, request: &ExecRequest<'_>) -> OciError {
        OciError::MonitorTimedOut {
            id: request.container_id.to_string(),
            seconds: request.timeout.as_secs(),
        }
    }
}

fn read_before(reader: &mut SyncReader, deadline: Instant, conmon: &Path) -> Result<SyncOutcome> {
    reader
        .read_message(Some(deadline))
        .map_err(|source| OciError::io("read pipe of", conmon, source))
}

fn write_start_byte(start: &mut std::fs::File, step: &str) {
    if let Err(error) = start.write_all(&[0]) {
        // conmon exited already. The next read from its pipes reports why.
        tracing::debug!(%error, step, "cannot write a start byte to conmon");
    }
}

/// conmon's argv for an exec session, in the order Podman uses.
fn exec_args(request: &ExecRequest<'_>) -> Vec<String> {
    let path = |path: &Path| path.to_string_lossy().into_owned();
    let mut args: Vec<String> = vec![
        "--api-version".into(),
        "1".into(),
        "-c".into(),
        request.container_id.into(),
        "-u".into(),
        request.session_id.into(),
        "-r".into(),
        path(&request.runtime.exec_path()),
        "-b".into(),
        path(request.session_dir),
        "-p".into(),
        path(request.pid_file),
        "-n".into(),
        request.container_name.into(),
        "--exit-dir".into(),
        path(request.exit_dir),
        "--persist-dir".into(),
        path(request.persist_dir),
        "--full-attach".into(),
        "-l".into(),
        match request.log_path {
            Some(log) => format!("k8s-file:{}", path(log)),
            None => "none".into(),
        },
        "--log-level".into(),
        if request.debug { "debug" } else { "warning" }.into(),
        "--conmon-pidfile".into(),
        path(request.conmon_pid_file),
        "--socket-dir-path".into(),
        path(request.session_dir),
    ];

    args.extend(super::runtime_arg_flags(
        request.runtime,
        request.debug,
        request.session_dir,
    ));
    if request.preserve_fds > 0 {
        // One argument, because conmon hands each --runtime-opt value to
        // `<runtime> exec` as it is.
        args.push(format!(
            "--runtime-opt=--preserve-fds={}",
            request.preserve_fds
        ));
    }
    if request.terminal {
        args.push("-t".into());
    }
    if request.stdin {
        args.push("-i".into());
    }
    args.extend([
        "-e".into(),
        "--exec-attach".into(),
        "--exec-process-spec".into(),
        path(request.process_spec),
    ]);

    if let Some((program, program_args)) = request.exit_command.split_first() {
        args.extend(["--exit-command".into(), program.clone()]);
        for arg in program_args {
            args.extend(["--exit-command-arg".into(), arg.clone()]);
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn exec_args_follow_podman_order() {
        let runtime = Runtime {
            name: "crun".to_string(),
            path: PathBuf::from("/usr/bin/crun"),
            state_root: PathBuf::from("/run/berth/runtime/crun"),
        };
        let exit_command = ["/usr/bin/berth".to_string(), "cleanup".to_string()];
        let exec_path = runtime.exec_path().to_string_lossy().into_owned();
        let request = ExecRequest {
            container_id: "abc",
            container_name: "web",
            session_id: "def",
            runtime: &runtime,
            session_dir: Path::new("/run/berth/exec/def"),
            process_spec: Path::new("/run/berth/exec/def/process.json"),
            pid_file: Path::new("/run/berth/exec/def/pid"),
            exit_dir: Path::new("/run/berth/exec/def/exits"),
            persist_dir: Path::new("/run/berth/exec/def/persist"),
            conmon_pid_file: Path::new("/run/berth/exec/def/conmon.pid"),
            log_path: None,
            exit_command: &exit_command,
            terminal: true,
            stdin: true,
            preserve_fds: 2,
            attach: true,
            terminal_size: None,
            monitor_cgroup: None,
            timeout: Duration::from_secs(5),
            debug: false,
        };
        let expected = [
            "--api-version",
            "1",
            "-c",
            "abc",
            "-u",
            "def",
            "-r",
            &exec_path,
            "-b",
            "/run/berth/exec/def",
            "-p",
            "/run/berth/exec/def/pid",
            "-n",
            "web",
            "--exit-dir",
            "/run/berth/exec/def/exits",
            "--persist-dir",
            "/run/berth/exec/def/persist",
            "--full-attach",
            "-l",
            "none",
            "--log-level",
            "warning",
            "--conmon-pidfile",
            "/run/berth/exec/def/conmon.pid",
            "--socket-dir-path",
            "/run/berth/exec/def",
            "--runtime-arg",
            "--root",
            "--runtime-arg",
            "/run/berth/runtime/crun",
            "--runtime-opt=--preserve-fds=2",
            "-t",
            "-i",
            "-e",
            "--exec-attach",
            "--exec-process-spec",
            "/run/berth/exec/def/process.json",
            "--exit-command",
            "/usr/bin/berth",
            "--exit-command-arg",
            "cleanup",
        ];
        assert_eq!(exec_args(&request), expected);
    }
}
