//! `exec`: start a session in a running container, attached or detached.
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_oci::attach::AttachIo;
use berth_oci::spec::{ExecProcessOptions, ProcessUser};
use berth_oci::{ExecRequest, ExecStarted};
use chrono::Utc;
use tracing::{debug, warn};

use super::{ExecDetails, ExecSession};
use crate::container::{
    apply_user_env, classify_runtime_error, invalid_state, new_id, Container, ContainerStatus,
    EnvList,
};
use crate::lock::ContainerLock;
use crate::{process, user, Engine, EngineError, Result};

/// Bound on each step of the exec handshake up to the exec pid.
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of `exec`, as the CLI flags give them.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub command: Vec<String>,
    /// `-e KEY=VALUE` or `-e KEY` (taken from berth's own environment),
    /// applied over the container's environment after the env files.
    pub env: Vec<String>,
    pub env_files: Vec<PathBuf>,
    /// `USER[:GROUP]`, resolved in the container; `None` is the
    /// container's user.
    pub user: Option<String>,
    /// An absolute directory in the container; `None` is the container's.
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    /// Fds 3 to 3+N-1 of the calling process, passed on to the command.
    pub preserve_fds: u32,
    /// Rows and columns of the caller's terminal, for `tty`.
    pub terminal_size: Option<(u16, u16)>,
}

/// A session whose process runs, with what the caller still needs.
struct StartedSession {
    container_id: String,
    session_id: String,
    started: ExecStarted,
}

/// The terminal of a running exec session, for window-size changes.
#[derive(Debug, Clone)]
pub struct ExecTerminal {
    dir: std::path::PathBuf,
}

impl ExecTerminal {
    /// Tells the session's terminal its new size through conmon's ctl fifo.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        Ok(berth_oci::attach::resize(&self.dir, rows, cols)?)
    }
}

impl Engine {
    /// Runs a command in a running container and copies its output to `io`
    /// until it exits. Returns the command's exit code; the session's
    /// record is removed afterwards, as Podman does for attached sessions.
    pub fn exec_attached(
        &self,
        name_or_id: &str,
        options: &ExecOptions,
        io: AttachIo,
    ) -> Result<i32> {
        self.exec_attached_with(name_or_id, options, io, |_| {})
    }

    /// [`Engine::exec_attached`], calling `on_started` with the session's
    /// terminal handle once the command runs, so that the caller can pass
    /// on window-size changes while the output is copied.
    pub fn exec_attached_with(
        &self,
        name_or_id: &str,
        options: &ExecOptions,
        io: AttachIo,
        on_started: impl FnOnce(ExecTerminal),
    ) -> Result<i32> {
        let StartedSession {
            container_id,
            session_id,
            started,
        } = self.start_exec_session(name_or_id, options, false)?;
        let ExecStarted { attach, exit, .. } = started;
        on_started(ExecTerminal {
            dir: self.exec_paths(&session_id).dir,
        });

        let pumped = match attach {
            Some(socket) => socket.pump(io),
            None => Ok(()),
        };
        // conmon reports the exit code after it has written the exit files,
        // and closes the attach socket only after that, when it exits.
        let reported = exit.wait();

        let exit_code = match reported {
            Ok(Some(code)) => code,
            Ok(None) | Err(_) => self.exit_code_from_file(&session_id),
        };
        self.remove_exec_session(&container_id, &session_id, exit_code);
        pumped?;
        Ok(exit_code)
    }

    /// Starts a command in a running container without attaching to it
    /// and returns the session id. conmon's exit command records the exit
    /// code later (`container cleanup --exec`); the session's record stays
    /// until the container is removed or started again.
    pub fn exec_detached(&self, name_or_id: &str, options: &ExecOptions) -> Result<String> {
        let StartedSession { session_id, .. } =
            self.start_exec_session(name_or_id, options, true)?;
        Ok(session_id)
    }

    fn start_exec_session(
        &self,
        name_or_id: &str,
        options: &ExecOptions,
        detached: bool,
    ) -> Result<StartedSession> {
        // The lock is held until the session is recorded, so that `stop`
        // either finds the session or runs before it starts.
        let (_lock, container) = self.lock_container(name_or_id)?;
        let span = tracing::debug_span!("exec", container_id = %container.id);
        let _entered = span.enter();

        if options.command.is_empty() || options.command[0].is_empty() {
            return Err(EngineError::ExecCommandMissing {
                name: container.name.clone(),
            });
        }
        let root = self.running_root(&container)?;

        let user_spec = options.user.as_deref().unwrap_or(&container.config.user);
        let user_spec = if user_spec.is_empty() { "0" } else { user_spec };
        let resolved = user::resolve(&root, user_spec)?;
        if let Some(workdir) = &options.workdir {
            check_workdir(&container, &root, workdir)?;
        }

        let bundle = self.paths(&container.id).userdata;
        let base = berth_oci::spec::load_process(&bundle)?;
        let mut env = EnvList::from_entries(base.env().as_deref().unwrap_or_default());
        apply_user_env(&mut env, &options.env_files, &options.env)?;
        if options.tty && !env.contains("TERM") {
            env.set("TERM=xterm");
        }
        let process = berth_oci::spec::exec_process(
            &base,
            &ExecProcessOptions {
                args: options.command.clone(),
                env: env.into_entries(),
                cwd: options.workdir.clone(),
                user: ProcessUser {
                    uid: resolved.uid,
                    gid: resolved.gid,
                    additional_gids: resolved.additional_gids,
                },
                terminal: options.tty,
                privileged: options.privileged,
                cap_add: options.cap_add.clone(),
            },
        )?;

        let session_id = new_id();
        let paths = self.exec_paths(&session_id);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&paths.dir)
            .map_err(|e| EngineError::io("create directory", &paths.dir, e))?;
        let started =
            match self.run_exec_monitor(&container, &session_id, options, &process, detached) {
                Ok(started) => started,
                Err(error) => {
                    remove_dir_quietly(&paths.dir);
                    return Err(classify_runtime_error(error, &container.name));
                }
            };

        let session = ExecSession {
            id: session_id.clone(),
            container_id: container.id.clone(),
            pid: started.pid,
            command: options.command.clone(),
            exit_code: None,
            running: true,
            details: ExecDetails {
                user: options
                    .user
                    .clone()
                    .unwrap_or_else(|| container.config.user.clone()),
                workdir: process.cwd().display().to_string(),
                tty: options.tty,
                interactive: options.interactive,
                privileged: options.privileged,
                detached,
                pid_start_time: process::start_time(started.pid).unwrap_or_default(),
                monitor_pid: started.monitor_pid,
                monitor_start_time: process::start_time(started.monitor_pid).unwrap_or_default(),
                started_at: Some(Utc::now()),
                finished_at: None,
            },
        };
        self.db.insert_exec_session(&session)?;
        debug!(exec_id = %session_id, pid = started.pid, "exec session started");
        Ok(StartedSession {
            container_id: container.id.clone(),
            session_id,
            started,
        })
    }

    /// Writes the process spec and runs the exec handshake.
    fn run_exec_monitor(
        &self,
        container: &Container,
        session_id: &str,
        options: &ExecOptions,
        process: &oci_spec::runtime::Process,
        detached: bool,
    ) -> Result<ExecStarted> {
        let paths = self.exec_paths(session_id);
        berth_oci::spec::write_process(&paths.process_spec, process)?;
        let runtime = self.runtime(&container.config.runtime)?;
        let monitor = self.monitor()?;
        let exit_command = self.cleanup_command(&[
            "--exec".to_string(),
            session_id.to_string(),
            container.id.clone(),
        ]);
        let request = ExecRequest {
            container_id: &container.id,
            container_name: &container.name,
            session_id,
            runtime: &runtime,
            session_dir: &paths.dir,
            process_spec: &paths.process_spec,
            pid_file: &paths.pid_file,
            exit_dir: &paths.exit_dir,
            persist_dir: &paths.persist_dir,
            conmon_pid_file: &paths.monitor_pid_file,
            log_path: None,
            exit_command: &exit_command,
            terminal: options.tty,
            stdin: options.interactive && !detached,
            preserve_fds: options.preserve_fds,
            attach: !detached,
            terminal_size: options.terminal_size.filter(|_| options.tty),
            // An ordinary user cannot move processes between cgroups.
            monitor_cgroup: (!self.options.rootless).then_some("/berth/conmon"),
            timeout: EXEC_TIMEOUT,
            debug: self.options.debug,
        };
        Ok(monitor.exec(&request)?)
    }

    /// Returns the container's root directory as its processes see it
    /// (`/proc/PID/root`), after checking that the container runs.
    fn running_root(&self, container: &Container) -> Result<PathBuf> {
        match container.state.status() {
            ContainerStatus::Running => {}
            ContainerStatus::Paused => {
                return Err(invalid_state(
                    container,
                    "exec into it",
                    ": unpause it first",
                ))
            }
            _ => return Err(invalid_state(container, "exec into it", ": start it first")),
        }
        if process::start_time(container.state.pid) != Some(container.state.pid_start_time) {
            return Err(invalid_state(container, "exec into it", ": start it first"));
        }
        Ok(PathBuf::from(format!("/proc/{}/root", container.state.pid)))
    }

    /// Reads the exit code conmon wrote to the session's exit file, or
    /// returns -1 when there is none.
    pub(crate) fn exit_code_from_file(&self, session_id: &str) -> i32 {
        let path = self.exec_paths(session_id).exit_file;
        match std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| text.trim().parse().ok())
        {
            Some(code) => code,
            None => {
                warn!(exec_id = session_id, path = %path.display(), "exec session ended without an exit code; reporting -1");
                -1
            }
        }
    }

    /// Forgets an attached session after its exit code was delivered.
    ///
    /// Takes the container's lock, so that a `stop` that ends this session
    /// still finds its exit file while it records the exit.
    fn remove_exec_session(&self, container_id: &str, session_id: &str, exit_code: i32) {
        debug!(exec_id = session_id, exit_code, "exec session ended");
        let _lock = match ContainerLock::acquire(&self.options.runroot, container_id) {
            Ok(lock) => Some(lock),
            Err(error) => {
                warn!(container_id, %error, "cannot lock the container to forget an exec session");
                None
            }
        };
        if let Err(error) = self.db.delete_exec_session(session_id) {
            warn!(exec_id = session_id, %error, "cannot delete the exec session's record");
        }
        remove_dir_quietly(&self.exec_paths(session_id).dir);
    }
}

/// Checks that `workdir` is an absolute path to a directory in the
/// container. `root` is the container's `/proc/PID/root`, so the
/// container's own mounts count.
///
/// NOTE: an absolute symlink on the way resolves against the host's root,
/// not the container's, so such a path may be rejected wrongly. The
/// runtime itself resolves it correctly.
fn check_workdir(container: &Container, root: &Path, workdir: &str) -> Result<()> {
    if !workdir.starts_with('/') {
        return Err(EngineError::InvalidOption {
            option: "--workdir",
            value: workdir.to_string(),
            reason: "the working directory must be an absolute path".into(),
        });
    }
    let path = root.join(workdir.trim_start_matches('/'));
    if !path.is_dir() {
        return Err(EngineError::ExecWorkdirNotFound {
            name: container.name.clone(),
            workdir: workdir.to_string(),
        });
    }
    Ok(())
}

pub(crate) fn remove_dir_quietly(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            warn!(path = %dir.display(), %error, "cannot remove the exec session's directory")
        }
    }
}
