//! The conmon monitor: the create handshake (below) and the exec handshake
//! (`exec.rs`). The create handshake, as described in
//! docs/architecture.md.
//!
//! 1. Spawn conmon with the sync pipe as fd 3 (`_OCI_SYNCPIPE`) and the
//!    start pipe as fd 4 (`_OCI_STARTPIPE`).
//! 2. Move conmon into the monitor cgroup, then write the start byte:
//!    conmon blocks on the start pipe before it forks, so its children
//!    (the runtime, the container) start out in that cgroup.
//! 3. Wait for the process we spawned; it exits right after forking the
//!    monitor that stays behind.
//! 4. Read one JSON line from the sync pipe: the container pid, or a
//!    negative number and the runtime's message.
mod exec;
mod spawn;
mod sync;

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::runtime::{command_line, runtime_message};
use crate::{cgroup, OciError, Result, Runtime};
pub use exec::{ExecExitPipe, ExecRequest, ExecStarted};
use sync::SyncOutcome;

/// Places where distributions install conmon outside `PATH`.
const CONMON_FALLBACKS: &[&str] = &[
    "/usr/libexec/podman/conmon",
    "/usr/local/libexec/podman/conmon",
    "/usr/bin/conmon",
];

/// File in the bundle where the runtime writes its JSON log in debug mode.
const RUNTIME_LOG: &str = "oci-log";

/// The conmon binary.
#[derive(Debug, Clone)]
pub struct Monitor {
    pub path: PathBuf,
}

/// Everything conmon needs to create one container.
#[derive(Debug, Clone)]
pub struct CreateRequest<'a> {
    pub container_id: &'a str,
    pub container_name: &'a str,
    pub runtime: &'a Runtime,
    /// The bundle dir with config.json; conmon's working directory, where it
    /// also makes the attach socket and ctl/winsz fifos (`--full-attach`).
    pub bundle: &'a Path,
    /// The runtime writes the container's init pid here.
    pub pid_file: &'a Path,
    /// k8s-file log.
    pub log_path: &'a Path,
    /// Bytes; `None` for no limit.
    pub log_size_max: Option<u64>,
    /// conmon writes the exit code to `exit_dir/<container_id>`.
    pub exit_dir: &'a Path,
    /// conmon writes the exit code to `persist_dir/exit` too.
    pub persist_dir: &'a Path,
    pub conmon_pid_file: &'a Path,
    /// Program and arguments conmon runs after the container exits.
    pub exit_command: &'a [String],
    pub terminal: bool,
    pub stdin: bool,
    /// Cgroup path (relative to each hierarchy's root) that conmon is moved
    /// into before it gets the start byte; `None` leaves it where it is.
    pub monitor_cgroup: Option<&'a str>,
    /// Bound on the wait for the sync message, counted from the start byte.
    pub timeout: Duration,
    /// Passes `--log-level debug` to conmon and the runtime.
    pub debug: bool,
    /// Descriptors conmon inherits and keeps open for the container's
    /// lifetime without passing them on, such as the sockets that hold
    /// published host ports. They keep their numbers.
    pub held_fds: &'a [RawFd],
    /// Descriptors 3 to 3+N-1 of this process that the container's process
    /// gets at the same numbers (socket activation: `LISTEN_FDS`).
    pub preserve_fds: u32,
    /// Restore the container from a checkpoint instead of creating it.
    pub restore: Option<RestoreRequest<'a>>,
}

/// A restore through conmon (`--restore`): conmon runs `<runtime> restore
/// --detach` in place of `create`, with the bundle as CRIU's work directory,
/// so the container is running once conmon reports its pid.
#[derive(Debug, Clone)]
pub struct RestoreRequest<'a> {
    /// The checkpoint images.
    pub image_path: &'a Path,
    /// Restore established TCP connections (`--tcp-established`).
    pub tcp_established: bool,
    /// Restore file locks (`--file-locks`).
    pub file_locks: bool,
}

/// What the handshake returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    /// The container's init process.
    pub pid: i32,
    /// The conmon process that stays behind.
    pub monitor_pid: i32,
}

impl Monitor {
    /// Uses `path`, or `conmon` from PATH (then `/usr/libexec/podman/conmon`).
    pub fn find(path: Option<&Path>) -> Result<Monitor> {
        if let Some(path) = path {
            return if is_executable_file(path) {
                Ok(Monitor {
                    path: path.to_path_buf(),
                })
            } else {
                Err(OciError::MonitorNotFound {
                    path: path.to_path_buf(),
                })
            };
        }

        let path_var = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path_var)
            .map(|dir| dir.join("conmon"))
            .chain(CONMON_FALLBACKS.iter().map(PathBuf::from))
            .find(|candidate| is_executable_file(candidate))
            .map(|path| Monitor { path })
            .ok_or_else(|| OciError::MonitorNotFound {
                path: PathBuf::from("conmon"),
            })
    }

    /// The first line of `conmon --version`.
    pub fn version(&self) -> Result<String> {
        tracing::debug!(command = %command_line(&self.path, &["--version".to_string()]), "running conmon");
        let output = Command::new(&self.path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|source| OciError::io("run", &self.path, source))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        Ok(stdout.lines().next().unwrap_or_default().trim().to_string())
    }

    /// Runs the create handshake. On failure the container is deleted from
    /// the runtime and the runtime's own message is returned.
    pub fn create(&self, request: &CreateRequest<'_>) -> Result<Created> {
        let pending = self.start_create(request)?;
        self.finish_create(pending, request)
    }

    /// Starts conmon for `request` and leaves it waiting for its start
    /// byte, before it runs the runtime. The caller can finish the bundle
    /// meanwhile and then call [`Monitor::finish_create`] with the same
    /// request, or drop the returned value, which kills conmon.
    pub fn start_create(&self, request: &CreateRequest<'_>) -> Result<PendingCreate> {
        let span = tracing::debug_span!("conmon_create", container_id = request.container_id);
        let _entered = span.enter();
        self.spawn_for_create(request)
    }

    /// Sends conmon its start byte and waits for the container's pid. On
    /// failure the container is deleted from the runtime and the runtime's
    /// own message is returned.
    pub fn finish_create(
        &self,
        pending: PendingCreate,
        request: &CreateRequest<'_>,
    ) -> Result<Created> {
        let id = request.container_id;
        let span = tracing::debug_span!("conmon_create", container_id = id);
        let _entered = span.enter();

        let result = self.run_handshake(pending, request);
        if result.is_err() {
            // The runtime may have created the container before the failure
            // (e.g. a timeout); leave nothing behind in its state root.
            if let Err(error) = request.runtime.delete(id, true) {
                tracing::warn!(container_id = id, %error, "cannot delete the container after a failed create");
            }
        }
        result
    }

    fn spawn_for_create(&self, request: &CreateRequest<'_>) -> Result<PendingCreate> {
        let id = request.container_id;
        prepare_dirs(request)?;

        let (sync_read, sync_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
            .map_err(|errno| OciError::io("create sync pipe", &self.path, errno.into()))?;
        let (start_read, start_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
            .map_err(|errno| OciError::io("create start pipe", &self.path, errno.into()))?;

        // Preserved fds (socket activation) keep their numbers 3 to 3+N-1 in
        // conmon and in the container; conmon's pipes come right after them.
        let first_pipe_fd = spawn::SYNC_PIPE_FD + request.preserve_fds as RawFd;
        let mut fds: Vec<(RawFd, RawFd)> = (spawn::SYNC_PIPE_FD..first_pipe_fd)
            .map(|fd| (fd, fd))
            .collect();
        fds.extend([
            (sync_write.as_raw_fd(), first_pipe_fd),
            (start_read.as_raw_fd(), first_pipe_fd + 1),
        ]);

        let args = conmon_args(request);
        tracing::debug!(container_id = id, command = %command_line(&self.path, &args), "running conmon");
        let mut command = Command::new(&self.path);
        command
            .args(&args)
            .env("_OCI_SYNCPIPE", first_pipe_fd.to_string())
            .env("_OCI_STARTPIPE", (first_pipe_fd + 1).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        crate::runtime::remove_systemd_env(&mut command);
        let targets = fds.iter().map(|&(_, target)| target).collect();
        spawn::inherit_fds(&mut command, request.held_fds.to_vec(), targets);
        spawn::pass_fds(&mut command, fds);
        spawn::kill_with_parent(&mut command);
        let mut child = command
            .spawn()
            .map_err(|source| OciError::io("run", &self.path, source))?;
        // Only conmon may hold these ends, so that its exit shows as EOF.
        drop(sync_write);
        drop(start_read);

        let stderr_reader = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                let _ = stderr.read_to_end(&mut text);
                String::from_utf8_lossy(&text).into_owned()
            })
        });

        // The move writes to every cgroup hierarchy (0.5-1 ms on a hybrid
        // host), so a thread does it while the caller goes on.
        let cgroup_move = request.monitor_cgroup.map(|path| {
            let (pid, path) = (child.id() as i32, path.to_string());
            std::thread::spawn(move || {
                cgroup::move_pid(pid, &path);
            })
        });
        Ok(PendingCreate {
            child: Some(child),
            start_pipe: Some(std::fs::File::from(start_write)),
            sync_read: Some(sync_read),
            stderr_reader,
            cgroup_move,
        })
    }

    fn run_handshake(
        &self,
        mut pending: PendingCreate,
        request: &CreateRequest<'_>,
    ) -> Result<Created> {
        let id = request.container_id;
        // From the start byte on: the time the caller took meanwhile, for
        // example to copy a large image, does not count.
        let deadline = Instant::now() + request.timeout;
        let mut child = pending
            .child
            .take()
            .expect("a pending create has its conmon");
        let sync_read = pending
            .sync_read
            .take()
            .expect("a pending create has its sync pipe");
        let stderr_reader = pending.stderr_reader.take();

        // conmon must be in its cgroup before the start byte lets it fork.
        if let Some(cgroup_move) = pending.cgroup_move.take() {
            let _ = cgroup_move.join();
        }
        if let Some(mut start_pipe) = pending.start_pipe.take() {
            if let Err(error) = start_pipe.write_all(&[0]) {
                // conmon exited already. Its exit status and stderr, checked
                // below, explain why.
                tracing::debug!(container_id = id, %error, "cannot write the start byte to conmon");
            }
        }

        let status = wait_until(&mut child, deadline);
        if status.is_none() {
            // Killed before joining the stderr reader, which only returns
            // once conmon closes its stderr.
            kill_child(&mut child);
        }
        let stderr = stderr_reader
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        let Some(status) = status else {
            return Err(OciError::MonitorTimedOut {
                id: id.to_string(),
                seconds: request.timeout.as_secs(),
            });
        };
        if !status.success() {
            let message = match stderr.trim() {
                "" => format!("conmon {status} without a message; rerun with --log-level debug"),
                output => format!("conmon {status}: {output}"),
            };
            return Err(OciError::MonitorFailed {
                id: id.to_string(),
                message,
            });
        }

        let outcome = sync::read_message(sync_read, deadline)
            .map_err(|source| OciError::io("read sync pipe of", &self.path, source))?;
        let message = match outcome {
            SyncOutcome::Message(message) => message,
            SyncOutcome::TimedOut => {
                kill_monitor(request.conmon_pid_file);
                return Err(OciError::MonitorTimedOut {
                    id: id.to_string(),
                    seconds: request.timeout.as_secs(),
                });
            }
            SyncOutcome::Closed(text) => {
                return Err(self.create_failed(request, text.trim()));
            }
        };
        tracing::debug!(container_id = id, data = message.data, message = ?message.message, "conmon sync message");

        if message.data < 0 {
            let text = message.message.unwrap_or_default();
            return Err(self.create_failed(request, &text));
        }
        let pid = i32::try_from(message.data).map_err(|_| OciError::MonitorFailed {
            id: id.to_string(),
            message: format!("conmon reported an invalid container pid {}", message.data),
        })?;
        let monitor_pid = read_pid_file(request.conmon_pid_file)?;
        tracing::debug!(container_id = id, pid, monitor_pid, "container created");
        Ok(Created { pid, monitor_pid })
    }

    /// Builds the error for a create that conmon reported as failed. The
    /// runtime's message comes from the sync pipe, else from its log file.
    fn create_failed(&self, request: &CreateRequest<'_>, sync_text: &str) -> OciError {
        let op = if request.restore.is_some() {
            "restore"
        } else {
            "create"
        };
        if request.restore.is_some() {
            // conmon makes the bundle CRIU's work directory.
            let log = request.bundle.join(crate::criu::RESTORE_LOG);
            if let Some(criu_message) = crate::criu::log_error(&log) {
                return OciError::CriuFailed {
                    runtime: request.runtime.name.clone(),
                    op,
                    id: request.container_id.to_string(),
                    criu_message,
                    log,
                };
            }
        }
        let mut message = runtime_message(sync_text);
        if message.is_empty() {
            let log = std::fs::read_to_string(request.bundle.join(RUNTIME_LOG)).unwrap_or_default();
            message = runtime_message(&log);
        }
        if message.is_empty() {
            return OciError::MonitorFailed {
                id: request.container_id.to_string(),
                message: "conmon exited without reporting the container pid or an error; rerun with --log-level debug".to_string(),
            };
        }
        OciError::RuntimeFailed {
            runtime: request.runtime.name.clone(),
            op,
            id: request.container_id.to_string(),
            message,
        }
    }
}

/// A conmon that [`Monitor::start_create`] started and that waits for its
/// start byte. Dropping it kills that conmon before it runs anything, so
/// an error between the start and the finish leaves nothing behind.
#[derive(Debug)]
pub struct PendingCreate {
    child: Option<Child>,
    start_pipe: Option<std::fs::File>,
    sync_read: Option<OwnedFd>,
    stderr_reader: Option<std::thread::JoinHandle<String>>,
    cgroup_move: Option<std::thread::JoinHandle<()>>,
}

impl Drop for PendingCreate {
    fn drop(&mut self) {
        // Killed before the start pipe closes: conmon treats end of file
        // on it like the start byte and would go on to create the
        // container.
        // The move ends first, or it would find conmon gone.
        if let Some(cgroup_move) = self.cgroup_move.take() {
            let _ = cgroup_move.join();
        }
        if let Some(mut child) = self.child.take() {
            kill_child(&mut child);
        }
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
    }
}

/// conmon's argv, in the order Podman uses.
/// The `--runtime-arg` flags for conmon: the runtime's global arguments,
/// and in debug mode a JSON log in `log_dir` (the runtime's stderr would
/// land in the container's output).
pub(super) fn runtime_arg_flags(runtime: &Runtime, debug: bool, log_dir: &Path) -> Vec<String> {
    let mut runtime_args = runtime.global_args();
    if debug {
        runtime_args.extend([
            "--log-format=json".to_string(),
            "--debug".to_string(),
            format!("--log={}", log_dir.join(RUNTIME_LOG).to_string_lossy()),
        ]);
    }
    runtime_args
        .into_iter()
        .flat_map(|arg| ["--runtime-arg".to_string(), arg])
        .collect()
}

fn conmon_args(request: &CreateRequest<'_>) -> Vec<String> {
    let path = |path: &Path| path.to_string_lossy().into_owned();
    let id = request.container_id.to_string();
    let mut args: Vec<String> = vec![
        "--api-version".into(),
        "1".into(),
        "-c".into(),
        id.clone(),
        "-u".into(),
        id,
        "-r".into(),
        path(&request.runtime.exec_path()),
        "-b".into(),
        path(request.bundle),
        "-p".into(),
        path(request.pid_file),
        "-n".into(),
        request.container_name.to_string(),
        "--exit-dir".into(),
        path(request.exit_dir),
        "--persist-dir".into(),
        path(request.persist_dir),
        "--full-attach".into(),
        "-l".into(),
        format!("k8s-file:{}", path(request.log_path)),
        "--log-level".into(),
        if request.debug { "debug" } else { "warning" }.into(),
        "--conmon-pidfile".into(),
        path(request.conmon_pid_file),
        "--socket-dir-path".into(),
        path(request.bundle),
    ];
    if let Some(max) = request.log_size_max {
        args.extend(["--log-size-max".into(), max.to_string()]);
    }
    if request.terminal {
        args.push("-t".into());
    }
    if request.stdin {
        args.push("-i".into());
    }
    if request.preserve_fds > 0 {
        // One argument, because conmon hands each --runtime-opt value to
        // `<runtime> create` as it is.
        args.push(format!(
            "--runtime-opt=--preserve-fds={}",
            request.preserve_fds
        ));
    }
    if let Some(restore) = &request.restore {
        args.extend(["--restore".into(), path(restore.image_path)]);
        let options = crate::runtime::restore_options(restore.tcp_established, restore.file_locks);
        for option in options {
            args.extend(["--runtime-opt".into(), option]);
        }
    }

    // conmon puts runtime args before the verb: `RUNTIME ARGS... create ...`.
    args.extend(runtime_arg_flags(
        request.runtime,
        request.debug,
        request.bundle,
    ));

    if let Some((program, program_args)) = request.exit_command.split_first() {
        args.extend(["--exit-command".into(), program.clone()]);
        for arg in program_args {
            args.extend(["--exit-command-arg".into(), arg.clone()]);
        }
    }
    args
}

/// Creates the directories conmon and the runtime write into.
fn prepare_dirs(request: &CreateRequest<'_>) -> Result<()> {
    request.runtime.ensure_state_root()?;
    let parents = [request.pid_file, request.log_path, request.conmon_pid_file]
        .into_iter()
        .filter_map(Path::parent);
    for dir in parents.chain([request.exit_dir, request.persist_dir]) {
        std::fs::create_dir_all(dir)
            .map_err(|source| OciError::io("create directory", dir, source))?;
    }
    Ok(())
}

/// Waits for `child` until `deadline`; `None` when it is still running.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    // A pidfd wakes this thread the moment conmon's first process exits;
    // polling with sleeps, the fallback, found it up to 2 ms late.
    if let Some(pidfd) = spawn::child_pidfd(child) {
        wait_readable(&pidfd, deadline);
    }

    // conmon's first process exits within a few milliseconds of the start
    // byte, so the first checks come soon and later ones back off.
    let mut pause = Duration::from_micros(100);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(2));
            }
            Err(error) => {
                tracing::warn!(pid = child.id(), %error, "cannot wait for conmon");
                return None;
            }
        }
    }
}

/// Returns when `fd` is readable, `deadline` passed, or it cannot be
/// polled.
fn wait_readable(fd: &OwnedFd, deadline: Instant) {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
}

fn kill_child(child: &mut Child) {
    if let Err(error) = child.kill() {
        tracing::warn!(pid = child.id(), %error, "cannot kill conmon after the timeout");
    }
    let _ = child.wait();
}

/// Kills the conmon that stayed behind after a handshake timed out, so it
/// does not wait forever on a hung runtime. Best effort: the container is
/// deleted with `--force` afterwards either way.
fn kill_monitor(conmon_pid_file: &Path) {
    let pid = match read_pid_file(conmon_pid_file) {
        Ok(pid) => pid,
        Err(error) => {
            tracing::warn!(%error, "cannot find conmon to kill after the timeout");
            return;
        }
    };
    let signal = nix::sys::signal::Signal::SIGKILL;
    if let Err(errno) = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
        tracing::warn!(pid, %errno, "cannot kill conmon after the timeout");
    }
}

fn read_pid_file(path: &Path) -> Result<i32> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| OciError::io("read conmon pid file", path, source))?;
    text.trim().parse().map_err(|_| {
        OciError::io(
            "parse conmon pid file",
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not a pid: {:?}", text.trim()),
            ),
        )
    })
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> Runtime {
        Runtime {
            name: "crun".to_string(),
            path: PathBuf::from("/usr/bin/crun"),
            state_root: PathBuf::from("/run/berth/runtime/crun"),
        }
    }

    fn request<'a>(runtime: &'a Runtime, exit_command: &'a [String]) -> CreateRequest<'a> {
        CreateRequest {
            container_id: "abc",
            container_name: "web",
            runtime,
            bundle: Path::new("/var/lib/berth/containers/abc/userdata"),
            pid_file: Path::new("/run/berth/pids/abc.pid"),
            log_path: Path::new("/var/lib/berth/containers/abc/ctr.log"),
            log_size_max: None,
            exit_dir: Path::new("/run/berth/exits"),
            persist_dir: Path::new("/run/berth/persist/abc"),
            conmon_pid_file: Path::new("/run/berth/pids/abc.conmon.pid"),
            exit_command,
            terminal: false,
            stdin: false,
            monitor_cgroup: None,
            timeout: Duration::from_secs(5),
            debug: false,
            held_fds: &[],
            preserve_fds: 0,
            restore: None,
        }
    }

    #[test]
    fn conmon_args_follow_podman_order() {
        let runtime = runtime();
        let exit_command = [
            "/usr/bin/berth".to_string(),
            "container".to_string(),
            "cleanup".to_string(),
            "abc".to_string(),
        ];
        let args = conmon_args(&request(&runtime, &exit_command));
        // conmon runs the runtime from berth's sealed copy.
        let exec_path = runtime.exec_path().to_string_lossy().into_owned();
        let expected = [
            "--api-version",
            "1",
            "-c",
            "abc",
            "-u",
            "abc",
            "-r",
            &exec_path,
            "-b",
            "/var/lib/berth/containers/abc/userdata",
            "-p",
            "/run/berth/pids/abc.pid",
            "-n",
            "web",
            "--exit-dir",
            "/run/berth/exits",
            "--persist-dir",
            "/run/berth/persist/abc",
            "--full-attach",
            "-l",
            "k8s-file:/var/lib/berth/containers/abc/ctr.log",
            "--log-level",
            "warning",
            "--conmon-pidfile",
            "/run/berth/pids/abc.conmon.pid",
            "--socket-dir-path",
            "/var/lib/berth/containers/abc/userdata",
            "--runtime-arg",
            "--root",
            "--runtime-arg",
            "/run/berth/runtime/crun",
            "--exit-command",
            "/usr/bin/berth",
            "--exit-command-arg",
            "container",
            "--exit-command-arg",
            "cleanup",
            "--exit-command-arg",
            "abc",
        ];
        assert_eq!(args, expected);
    }

    #[test]
    fn conmon_args_add_optional_flags() {
        let runtime = runtime();
        let mut request = request(&runtime, &[]);
        request.terminal = true;
        request.stdin = true;
        request.log_size_max = Some(1024);
        request.debug = true;
        let args = conmon_args(&request);
        let joined = args.join(" ");
        assert!(joined.contains("--log-level debug"), "{joined}");
        assert!(joined.contains("--log-size-max 1024 -t -i"), "{joined}");
        assert!(
            joined.ends_with(
                "--runtime-arg --root --runtime-arg /run/berth/runtime/crun \
                 --runtime-arg --log-format=json --runtime-arg --debug \
                 --runtime-arg --log=/var/lib/berth/containers/abc/userdata/oci-log"
            ),
            "{joined}"
        );
        assert!(!joined.contains("--exit-command"), "{joined}");
    }

    #[test]
    fn conmon_args_restore_from_checkpoint() {
        let runtime = runtime();
        let mut request = request(&runtime, &[]);
        request.restore = Some(RestoreRequest {
            image_path: Path::new("/var/lib/berth/containers/abc/userdata/checkpoint"),
            tcp_established: true,
            file_locks: false,
        });
        let joined = conmon_args(&request).join(" ");
        assert!(
            joined.contains(
                "--restore /var/lib/berth/containers/abc/userdata/checkpoint \
                 --runtime-opt --tcp-established"
            ),
            "{joined}"
        );
        assert!(!joined.contains("--file-locks"), "{joined}");
    }

    #[test]
    fn missing_monitor_path_rejected() {
        let error = Monitor::find(Some(Path::new("/nonexistent/conmon"))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "conmon not found at /nonexistent/conmon: install it with `apt-get install conmon` or set --conmon PATH"
        );
    }
}
