//! The OCI runtime binary (crun, runc): one method per runtime verb.
mod checkpoint;
mod sealed;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::{OciError, Result};

pub(crate) use checkpoint::restore_options;
pub use checkpoint::CheckpointRequest;

/// Directories searched after `PATH`, because runtimes often live in sbin
/// directories that an unprivileged user's `PATH` leaves out.
const EXTRA_SEARCH_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Container state as `<runtime> state` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeState {
    /// `creating`, `created`, `running`, `paused` or `stopped`.
    pub status: String,
    pub pid: i32,
}

/// An OCI runtime binary with its own state directory (`--root`), so that
/// each berth run root sees only its own containers.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// `crun`, `runc`, or the file name of a runtime given by path.
    pub name: String,
    pub path: PathBuf,
    /// Passed as `--root` before every verb.
    pub state_root: PathBuf,
}

impl Runtime {
    /// Resolves `crun`, `runc` (searched in PATH) or a path to a runtime
    /// binary. The state root is `state_root_base/<name>`.
    pub fn find(name_or_path: &str, state_root_base: &Path) -> Result<Runtime> {
        let not_found = || OciError::RuntimeNotFound {
            name: name_or_path.to_string(),
        };
        if name_or_path.is_empty() {
            return Err(not_found());
        }

        let path = if name_or_path.contains('/') {
            let path = std::path::absolute(name_or_path).map_err(|_| not_found())?;
            is_executable_file(&path).then_some(path)
        } else {
            search_path(name_or_path)
        }
        .ok_or_else(not_found)?;

        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .ok_or_else(not_found)?;
        tracing::debug!(runtime = %name, path = %path.display(), "found OCI runtime");
        Ok(Runtime {
            state_root: state_root_base.join(&name),
            name,
            path,
        })
    }

    /// Global arguments that go before the verb (`--root DIR`).
    pub fn global_args(&self) -> Vec<String> {
        vec![
            "--root".to_string(),
            self.state_root.to_string_lossy().into_owned(),
        ]
    }

    /// Creates the state root; the runtime expects it to exist. Called
    /// before every command that uses [`Runtime::global_args`].
    pub fn ensure_state_root(&self) -> Result<()> {
        std::fs::create_dir_all(&self.state_root)
            .map_err(|source| OciError::io("create runtime state root", &self.state_root, source))
    }

    /// Queries the runtime's view of a container; `None` when the runtime has no such container.
    pub fn state(&self, id: &str) -> Result<Option<RuntimeState>> {
        let output = self.run_verb(&["state", id])?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if reports_missing_container(&stderr, &self.state_root.join(id)) {
                return Ok(None);
            }
            return Err(self.failed("state", id, &output));
        }

        let state: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|error| OciError::RuntimeFailed {
                runtime: self.name.clone(),
                op: "state",
                id: id.to_string(),
                message: format!(
                    "invalid JSON output ({error}): {}",
                    String::from_utf8_lossy(&output.stdout).trim()
                ),
            })?;
        let status = state["status"].as_str().unwrap_or_default().to_string();
        let pid = state["pid"]
            .as_i64()
            .and_then(|pid| i32::try_from(pid).ok())
            .unwrap_or(0);
        Ok(Some(RuntimeState { status, pid }))
    }

    /// Starts the user process of a created container.
    pub fn start(&self, id: &str) -> Result<()> {
        self.run_checked("start", id, &["start", id])
    }

    /// Sends `signal` to the init process, or to every process of the
    /// container with `all`.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let signal = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, signal.as_str()]);
        self.run_checked("kill", id, &args)
    }

    /// Deletes the container from the runtime; succeeds when the runtime
    /// does not know it.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);

        let output = self.run_verb(&args)?;
        if output.status.success() {
            return Ok(());
        }
        if reports_missing_container(
            &String::from_utf8_lossy(&output.stderr),
            &self.state_root.join(id),
        ) {
            tracing::debug!(container_id = id, runtime = %self.name, "runtime does not know the container, nothing to delete");
            return Ok(());
        }
        Err(self.failed("delete", id, &output))
    }

    /// Freezes every process of the container.
    pub fn pause(&self, id: &str) -> Result<()> {
        self.run_checked("pause", id, &["pause", id])
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<()> {
        self.run_checked("resume", id, &["resume", id])
    }

    /// Returns the path to execute the runtime by: for crun a sealed
    /// in-memory copy of the binary when one can be made (see `sealed`),
    /// otherwise its own path. Other runtimes keep their path, because a
    /// wrapper script or a binary that acts on its own name (krun, a
    /// crun-wasm link) needs it.
    pub fn exec_path(&self) -> PathBuf {
        if self.name == "crun" {
            sealed::exec_path(&self.path)
        } else {
            self.path.clone()
        }
    }

    /// Returns the first line of `<runtime> --version`.
    pub fn version(&self) -> Result<String> {
        let output = self.run_command(&["--version".to_string()])?;
        if !output.status.success() {
            return Err(self.failed("--version", "", &output));
        }
        Ok(first_line(&output.stdout))
    }

    fn run_checked(&self, op: &'static str, id: &str, args: &[&str]) -> Result<()> {
        let output = self.run_verb(args)?;
        if output.status.success() {
            Ok(())
        } else {
            Err(self.failed(op, id, &output))
        }
    }

    /// Runs `<runtime> --root STATE_ROOT ARGS...` and collects its output.
    fn run_verb(&self, args: &[&str]) -> Result<Output> {
        self.ensure_state_root()?;
        let mut argv = self.global_args();
        argv.extend(args.iter().map(|arg| arg.to_string()));
        self.run_command(&argv)
    }

    fn run_command(&self, args: &[String]) -> Result<Output> {
        tracing::debug!(command = %command_line(&self.path, args), "running OCI runtime");
        let mut command = Command::new(self.exec_path());
        command.arg0(&self.path).args(args).stdin(Stdio::null());
        remove_systemd_env(&mut command);
        let output = command
            .output()
            .map_err(|source| OciError::io("run", &self.path, source))?;
        tracing::debug!(status = %output.status, stderr = %String::from_utf8_lossy(&output.stderr).trim(), "OCI runtime finished");
        Ok(output)
    }

    fn failed(&self, op: &'static str, id: &str, output: &Output) -> OciError {
        let mut message = runtime_message(&String::from_utf8_lossy(&output.stderr));
        if message.is_empty() {
            message = format!("failed with {}", output.status);
        }
        OciError::RuntimeFailed {
            runtime: self.name.clone(),
            op,
            id: id.to_string(),
            message,
        }
    }
}

/// Variables of systemd's protocols that berth handles itself. crun acts on
/// them too (`crun start` would bind `NOTIFY_SOCKET` a second time), so
/// neither the runtime nor conmon may see them.
pub(crate) const SYSTEMD_VARIABLES: &[&str] = &[
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
];

pub(crate) fn remove_systemd_env(command: &mut Command) {
    for variable in SYSTEMD_VARIABLES {
        command.env_remove(variable);
    }
}

/// Renders argv for logs, quoting arguments that contain spaces.
pub(crate) fn command_line(program: &Path, args: &[String]) -> String {
    let mut line = program.display().to_string();
    for arg in args {
        line.push(' ');
        if arg.is_empty() || arg.contains(char::is_whitespace) {
            line.push_str(&format!("{arg:?}"));
        } else {
            line.push_str(arg);
        }
    }
    line
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn search_path(name: &str) -> Option<PathBuf> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain(EXTRA_SEARCH_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable_file(candidate))
}

pub(crate) fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Checks whether the runtime's stderr reports an unknown container. runc
/// 1.1 prints `container does not exist`. crun 1.8 names the missing state
/// dir: ``error opening file `ROOT/ID/status`: No such file or directory``
/// (state, start) or `cannot open directory 'ROOT/ID': No such file or
/// directory` (delete).
fn reports_missing_container(stderr: &str, container_state_dir: &Path) -> bool {
    if stderr.contains("does not exist") || stderr.contains("not exist") {
        return true;
    }
    let dir = container_state_dir.to_string_lossy();
    stderr.contains("No such file or directory")
        && (stderr.contains(&format!("`{dir}/status`")) || stderr.contains(&format!("'{dir}'")))
}

/// Maps a runtime's create error to Podman's exit code for a command that
/// cannot run: 126 when the runtime reports permission denied, 127 when the
/// executable is not found. Returns `None` for other errors.
///
/// Matches the messages of crun 1.8 (``executable file `X` not found in
/// $PATH``, `open executable: Permission denied`) and runc 1.1
/// (`exec: "X": executable file not found in $PATH`, `exec: "X":
/// permission denied`), case-insensitively. A message must name the
/// executable (`executable` or `exec: `), so that a missing bind-mount
/// source is not mistaken for a missing command.
pub fn command_exit_code(message: &str) -> Option<i32> {
    let message = message.to_ascii_lowercase();
    if !message.contains("executable") && !message.contains("exec: ") {
        return None;
    }
    if message.contains("permission denied") {
        Some(126)
    } else if message.contains("not found in $path")
        || message.contains("no such file or directory")
    {
        Some(127)
    } else {
        None
    }
}

/// Extracts the runtime's message from its stderr: crun prints plain text
/// (`crun: ...` or a message), runc prints logfmt (`time=... level=error
/// msg="..."`), and both print JSON lines (`{"msg": ..., "level": ...}`)
/// with `--log-format=json`. Error-level lines win over other lines;
/// several lines are joined with `; `.
pub fn runtime_message(stderr: &str) -> String {
    let mut errors = Vec::new();
    let mut others = Vec::new();
    for line in stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
    {
        let (level, message) = parse_log_line(line);
        if matches!(level.as_deref(), Some("error" | "fatal" | "panic")) {
            errors.push(message);
        } else {
            others.push(message);
        }
    }
    if errors.is_empty() {
        others.join("; ")
    } else {
        errors.join("; ")
    }
}

/// Returns the level (when the line has one) and the message of one line.
fn parse_log_line(line: &str) -> (Option<String>, String) {
    if line.starts_with('{') {
        if let Ok(serde_json::Value::Object(object)) = serde_json::from_str(line) {
            let level = object
                .get("level")
                .and_then(|level| level.as_str())
                .map(str::to_string);
            if let Some(message) = object.get("msg").and_then(|message| message.as_str()) {
                return (level, message.to_string());
            }
        }
    }
    if let Some(message) = logfmt_value(line, "msg") {
        return (logfmt_value(line, "level"), message);
    }
    (None, line.to_string())
}

/// Finds the value of `key=value` or `key="quoted value"` in a logfmt line.
fn logfmt_value(line: &str, key: &str) -> Option<String> {
    let pattern = format!("{key}=");
    let start = line
        .match_indices(&pattern)
        .find(|(index, _)| *index == 0 || line.as_bytes()[index - 1] == b' ')?
        .0
        + pattern.len();
    let rest = &line[start..];

    let Some(quoted) = rest.strip_prefix('"') else {
        return Some(rest.split(' ').next().unwrap_or_default().to_string());
    };
    let mut value = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next() {
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                Some(other) => value.push(other),
                None => break,
            },
            other => value.push(other),
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_container_detected_for_crun_and_runc() {
        let dir = Path::new("/run/berth/runtime/crun/abc");
        let crun_state =
            "error opening file `/run/berth/runtime/crun/abc/status`: No such file or directory\n";
        let crun_delete =
            "cannot open directory '/run/berth/runtime/crun/abc': No such file or directory\n";
        let runc = "time=\"2024-01-01T00:00:00Z\" level=error msg=\"container does not exist\"\n";
        assert!(reports_missing_container(crun_state, dir));
        assert!(reports_missing_container(crun_delete, dir));
        assert!(reports_missing_container(runc, dir));
    }

    #[test]
    fn other_missing_files_not_missing_container() {
        let dir = Path::new("/run/berth/runtime/crun/abc");
        let other = "open `/etc/foo`: No such file or directory\n";
        assert!(!reports_missing_container(other, dir));
    }

    #[test]
    fn command_errors_map_to_podman_exit_codes() {
        let cases = [
            ("open executable: Permission denied", Some(126)),
            ("runc create failed: unable to start container process: exec: \"/x\": permission denied", Some(126)),
            ("executable file `foo` not found in $PATH: No such file or directory", Some(127)),
            ("runc create failed: unable to start container process: exec: \"foo\": executable file not found in $PATH", Some(127)),
            ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2", None),
            ("open `/srv/data`: No such file or directory", None),
        ];
        for (message, expected) in cases {
            assert_eq!(command_exit_code(message), expected, "{message}");
        }
    }

    #[test]
    fn plain_stderr_quoted_trimmed() {
        assert_eq!(
            runtime_message("  container `abc` does not exist\n\n"),
            "container `abc` does not exist"
        );
    }

    #[test]
    fn json_log_lines_give_msg() {
        let stderr = "{\"msg\":\"starting\",\"level\":\"info\",\"time\":\"2024-01-01T00:00:00Z\"}\n\
                      {\"msg\":\"executable file `foo` not found in $PATH: No such file or directory\",\"level\":\"error\",\"time\":\"2024-01-01T00:00:00Z\"}\n";
        assert_eq!(
            runtime_message(stderr),
            "executable file `foo` not found in $PATH: No such file or directory"
        );
    }

    #[test]
    fn logfmt_lines_give_msg() {
        let stderr = "time=\"2024-01-01T00:00:00Z\" level=error msg=\"container does not exist\"\n";
        assert_eq!(runtime_message(stderr), "container does not exist");
        let escaped =
            "time=\"x\" level=error msg=\"exec: \\\"foo\\\": executable file not found in $PATH\"";
        assert_eq!(
            runtime_message(escaped),
            "exec: \"foo\": executable file not found in $PATH"
        );
    }

    #[test]
    fn several_plain_lines_joined() {
        assert_eq!(runtime_message("first\nsecond\n"), "first; second");
    }

    #[test]
    fn find_resolves_names_and_paths() {
        let base = Path::new("/run/berth-test/runtime");
        let crun = Runtime::find("crun", base).unwrap();
        assert_eq!(crun.name, "crun");
        assert!(crun.path.is_absolute());
        assert_eq!(crun.state_root, base.join("crun"));
        assert_eq!(
            crun.global_args(),
            vec![
                "--root".to_string(),
                "/run/berth-test/runtime/crun".to_string()
            ]
        );

        let by_path = Runtime::find("/usr/bin/runc", base).unwrap();
        assert_eq!(by_path.name, "runc");
        assert_eq!(by_path.path, Path::new("/usr/bin/runc"));
    }

    #[test]
    fn find_missing_runtime_fails() {
        let base = Path::new("/run/berth-test/runtime");
        for missing in ["no-such-runtime", "/nonexistent/crun", "", "/etc"] {
            let error = Runtime::find(missing, base).unwrap_err();
            assert!(
                matches!(&error, OciError::RuntimeNotFound { name } if name == missing),
                "{missing:?} gave {error:?}"
            );
        }
    }

    #[test]
    fn exec_path_copies_only_crun() {
        let Some(crun) = search_path("crun") else {
            return;
        };
        let runtime = |name: &str| Runtime {
            name: name.to_string(),
            path: crun.clone(),
            state_root: PathBuf::from("/run/berth/runtime").join(name),
        };
        assert!(runtime("crun").exec_path().starts_with("/proc"));
        // krun and crun-wasm are crun under another name that selects a handler.
        assert_eq!(runtime("krun").exec_path(), crun);
        assert_eq!(runtime("crun-wasm").exec_path(), crun);
    }

    #[test]
    fn find_rejects_non_executable_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("crun");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = file.to_string_lossy().into_owned();

        let error = Runtime::find(&path, dir.path()).unwrap_err();
        assert!(
            matches!(&error, OciError::RuntimeNotFound { name } if *name == path),
            "{error:?}"
        );
    }

    #[test]
    fn command_line_quotes_spaces() {
        let line = command_line(
            Path::new("/usr/bin/crun"),
            &["--root".into(), "/a b".into(), "".into()],
        );
        assert_eq!(line, "/usr/bin/crun --root \"/a b\" \"\"");
    }
}
