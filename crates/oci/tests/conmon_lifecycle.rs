//! Runs real containers through conmon with crun and runc: create, attach,
//! start, exit code, failure messages and cleanup.
//!
//! Needs root, conmon, crun, runc and /usr/bin/busybox (a static build).
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_oci::attach::{AttachIo, AttachSocket};
use berth_oci::spec::{self, SpecOptions};
use berth_oci::{cgroup, CreateRequest, Monitor, OciError, Runtime};

const BUSYBOX: &str = "/usr/bin/busybox";
const APPLETS: &[&str] = &["sh", "echo", "cat", "sleep", "true", "stty", "tr"];

/// A `Write` whose bytes the test can read after the pump finished.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// One container's files in a temp dir, with ids unique to the test.
struct Fixture {
    dir: tempfile::TempDir,
    id: String,
    runtime: Runtime,
    monitor: Monitor,
}

impl Fixture {
    fn new(runtime_name: &str, test_name: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let id = format!(
            "berth-oci-{test_name}-{runtime_name}-{}",
            std::process::id()
        );
        let runtime = Runtime::find(runtime_name, &dir.path().join("runtime")).unwrap();
        let monitor = Monitor::find(None).unwrap();

        let rootfs = dir.path().join("bundle/rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        for empty in ["proc", "dev", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(rootfs.join(empty)).unwrap();
        }
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        Fixture {
            dir,
            id,
            runtime,
            monitor,
        }
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn container_cgroup(&self) -> String {
        format!("/{}", self.id)
    }

    fn monitor_cgroup(&self) -> String {
        format!("{}-conmon", self.id)
    }

    fn write_spec(&self, args: &[&str]) {
        self.write_spec_with_terminal(args, false);
    }

    fn write_spec_with_terminal(&self, args: &[&str], terminal: bool) {
        let options = SpecOptions {
            terminal,
            rootfs: self.bundle().join("rootfs"),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            env: vec!["PATH=/bin".to_string()],
            cwd: "/".to_string(),
            hostname: "berth-test".to_string(),
            cgroups_path: self.container_cgroup(),
            shm_size: 64 * 1024 * 1024,
            ..SpecOptions::default()
        };
        let spec = spec::generate(&options).unwrap();
        spec::write_config(&self.bundle(), &spec).unwrap();
    }

    fn create(&self) -> berth_oci::Result<berth_oci::Created> {
        self.create_with(false, false)
    }

    fn create_with(&self, terminal: bool, stdin: bool) -> berth_oci::Result<berth_oci::Created> {
        let exit_command = vec!["/bin/true".to_string()];
        let monitor_cgroup = self.monitor_cgroup();
        let bundle = self.bundle();
        let pid_file = self.path("pids/container.pid");
        let log_path = self.path("ctr.log");
        let exit_dir = self.path("exits");
        let persist_dir = self.path("persist");
        let conmon_pid_file = self.path("pids/conmon.pid");
        let request = CreateRequest {
            container_id: &self.id,
            container_name: &self.id,
            runtime: &self.runtime,
            bundle: &bundle,
            pid_file: &pid_file,
            log_path: &log_path,
            log_size_max: None,
            exit_dir: &exit_dir,
            persist_dir: &persist_dir,
            conmon_pid_file: &conmon_pid_file,
            exit_command: &exit_command,
            terminal,
            stdin,
            monitor_cgroup: Some(&monitor_cgroup),
            timeout: Duration::from_secs(30),
            debug: false,
            held_fds: &[],
            preserve_fds: 0,
            restore: None,
        };
        self.monitor.create(&request)
    }

    /// Deletes what the test left behind, even after a failed assert.
    fn cleanup(&self) {
        let _ = self.runtime.delete(&self.id, true);
        let _ = cgroup::remove(&self.container_cgroup());
        let _ = cgroup::remove(&self.monitor_cgroup());
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.cleanup();
    }
}

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks whether a process that is not our child (conmon double-forks) is
/// gone or a zombie.
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn check_host(runtime_name: &str) {
    if let Err(error) = cgroup::check_host(runtime_name) {
        panic!("host not prepared for {runtime_name}: {error}");
    }
}

fn run_exit_code_and_output(runtime_name: &str) {
    check_host(runtime_name);
    let fixture = Fixture::new(runtime_name, "output");
    fixture.write_spec(&["sh", "-c", "echo out; echo err >&2; exit 42"]);

    let created = fixture.create().unwrap();
    assert!(created.pid > 0);
    assert!(created.monitor_pid > 0);
    assert_ne!(created.pid, created.monitor_pid);
    let state = fixture.runtime.state(&fixture.id).unwrap().unwrap();
    assert_eq!(state.status, "created");
    assert_eq!(state.pid, created.pid);

    let socket = AttachSocket::connect(&fixture.bundle()).unwrap();
    let stdout = SharedBuffer::default();
    let stderr = SharedBuffer::default();
    let io = AttachIo {
        stdin: None,
        stdout: Box::new(stdout.clone()),
        stderr: Box::new(stderr.clone()),
    };
    let pump = std::thread::spawn(move || socket.pump(io));
    fixture.runtime.start(&fixture.id).unwrap();
    pump.join().unwrap().unwrap();

    assert_eq!(stdout.text(), "out\n");
    assert_eq!(stderr.text(), "err\n");
    let exit_file = fixture.path("exits").join(&fixture.id);
    let exit_code = wait_for("the exit file", || {
        std::fs::read_to_string(&exit_file)
            .ok()
            .filter(|text| !text.is_empty())
    });
    assert_eq!(exit_code, "42");
    let persisted = std::fs::read_to_string(fixture.path("persist/exit")).unwrap();
    assert_eq!(persisted, "42");

    wait_for("conmon to exit", || {
        process_gone(created.monitor_pid).then_some(())
    });
    let state = fixture.runtime.state(&fixture.id).unwrap().unwrap();
    assert_eq!(state.status, "stopped");

    fixture.runtime.delete(&fixture.id, false).unwrap();
    assert_eq!(fixture.runtime.state(&fixture.id).unwrap(), None);
    cgroup::remove(&fixture.container_cgroup()).unwrap();
    cgroup::remove(&fixture.monitor_cgroup()).unwrap();
    assert!(!cgroup::exists(&fixture.container_cgroup()));
    assert!(!cgroup::exists(&fixture.monitor_cgroup()));
    assert!(process_gone(created.monitor_pid));
    assert!(process_gone(created.pid));
}

fn run_missing_command(runtime_name: &str, command: &str) -> String {
    check_host(runtime_name);
    let fixture = Fixture::new(runtime_name, &format!("missing{}", command.len()));
    fixture.write_spec(&[command]);

    let error = fixture.create().unwrap_err();
    let OciError::RuntimeFailed {
        runtime,
        op,
        id,
        message,
    } = &error
    else {
        panic!("expected RuntimeFailed, got {error:?}");
    };
    assert_eq!(runtime, runtime_name);
    assert_eq!(*op, "create");
    assert_eq!(id, &fixture.id);

    assert_eq!(fixture.runtime.state(&fixture.id).unwrap(), None);
    remove_cgroups_after_conmon(&fixture);
    message.clone()
}

/// Removes the fixture's cgroups once its conmon is gone: conmon may still
/// be exiting after a failed create, and its cgroup stays busy until then.
fn remove_cgroups_after_conmon(fixture: &Fixture) {
    let conmon_pid: i32 = std::fs::read_to_string(fixture.path("pids/conmon.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("conmon to exit", || process_gone(conmon_pid).then_some(()));
    cgroup::remove(&fixture.monitor_cgroup()).unwrap();
    cgroup::remove(&fixture.container_cgroup()).unwrap();
    assert!(!cgroup::exists(&fixture.container_cgroup()));
    assert!(!cgroup::exists(&fixture.monitor_cgroup()));
}

fn run_not_executable(runtime_name: &str) -> String {
    check_host(runtime_name);
    let fixture = Fixture::new(runtime_name, "noexec");
    let script = fixture.bundle().join("rootfs/bin/script");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    fixture.write_spec(&["/bin/script"]);

    let error = fixture.create().unwrap_err();
    let OciError::RuntimeFailed { op, message, .. } = &error else {
        panic!("expected RuntimeFailed, got {error:?}");
    };
    assert_eq!(*op, "create");
    assert_eq!(fixture.runtime.state(&fixture.id).unwrap(), None);
    remove_cgroups_after_conmon(&fixture);
    message.clone()
}

#[test]
fn crun_not_executable_quotes_runtime() {
    let message = run_not_executable("crun");
    assert_eq!(message, "open executable: Permission denied");
    assert_eq!(berth_oci::runtime::command_exit_code(&message), Some(126));
}

#[test]
fn runc_not_executable_quotes_runtime() {
    let message = run_not_executable("runc");
    assert_eq!(
        message,
        "runc create failed: unable to start container process: exec: \"/bin/script\": permission denied"
    );
    assert_eq!(berth_oci::runtime::command_exit_code(&message), Some(126));
}

#[test]
fn crun_container_output_and_exit_code() {
    run_exit_code_and_output("crun");
}

#[test]
fn runc_container_output_and_exit_code() {
    run_exit_code_and_output("runc");
}

#[test]
fn crun_missing_command_quotes_runtime() {
    let message = run_missing_command("crun", "no-such-command");
    assert_eq!(
        message,
        "executable file `no-such-command` not found in $PATH: No such file or directory"
    );
    assert_eq!(berth_oci::runtime::command_exit_code(&message), Some(127));

    let message = run_missing_command("crun", "/bin/no-such-command");
    assert_eq!(
        message,
        "executable file `/bin/no-such-command` not found in $PATH: No such file or directory"
    );
    assert_eq!(berth_oci::runtime::command_exit_code(&message), Some(127));
}

#[test]
fn runc_missing_command_quotes_runtime() {
    let message = run_missing_command("runc", "no-such-command");
    assert_eq!(
        message,
        "runc create failed: unable to start container process: exec: \"no-such-command\": executable file not found in $PATH"
    );
    assert_eq!(berth_oci::runtime::command_exit_code(&message), Some(127));

    let message = run_missing_command("runc", "/bin/no-such-command");
    assert_eq!(
        message,
        "runc create failed: unable to start container process: exec: \"/bin/no-such-command\": stat /bin/no-such-command: no such file or directory"
    );
    assert_eq!(berth_oci::runtime::command_exit_code(&message), Some(127));
}

#[test]
fn attach_to_missing_bundle_fails() {
    let dir = tempfile::tempdir().unwrap();
    let error = AttachSocket::connect(&dir.path().join("nothing"))
        .err()
        .unwrap();
    assert!(
        matches!(
            error,
            OciError::Io {
                op: "open bundle",
                ..
            }
        ),
        "{error:?}"
    );
}

/// Starts the container with a pump whose output the test can read.
fn attach_and_start(
    fixture: &Fixture,
    stdin: Option<Box<dyn std::io::Read + Send>>,
) -> (
    std::thread::JoinHandle<berth_oci::Result<()>>,
    SharedBuffer,
    SharedBuffer,
) {
    let socket = AttachSocket::connect(&fixture.bundle()).unwrap();
    let stdout = SharedBuffer::default();
    let stderr = SharedBuffer::default();
    let io = AttachIo {
        stdin,
        stdout: Box::new(stdout.clone()),
        stderr: Box::new(stderr.clone()),
    };
    let pump = std::thread::spawn(move || socket.pump(io));
    fixture.runtime.start(&fixture.id).unwrap();
    (pump, stdout, stderr)
}

fn run_stdin_forwarded(runtime_name: &str) {
    check_host(runtime_name);
    let fixture = Fixture::new(runtime_name, "stdin");
    fixture.write_spec(&["tr", "a-z", "A-Z"]);
    let created = fixture.create_with(false, true).unwrap();

    let input: Box<dyn std::io::Read + Send> =
        Box::new(std::io::Cursor::new(b"hello\nworld\n".to_vec()));
    let (pump, stdout, stderr) = attach_and_start(&fixture, Some(input));
    pump.join().unwrap().unwrap();

    assert_eq!(stdout.text(), "HELLO\nWORLD\n");
    assert_eq!(stderr.text(), "");
    let exit_file = fixture.path("exits").join(&fixture.id);
    let exit_code = wait_for("the exit file", || {
        std::fs::read_to_string(&exit_file)
            .ok()
            .filter(|text| !text.is_empty())
    });
    assert_eq!(exit_code, "0");
    wait_for("conmon to exit", || {
        process_gone(created.monitor_pid).then_some(())
    });
}

fn run_terminal_resize(runtime_name: &str) {
    check_host(runtime_name);
    let fixture = Fixture::new(runtime_name, "tty");
    fixture.write_spec_with_terminal(&["sh", "-c", "sleep 1; stty size"], true);
    let created = fixture.create_with(true, false).unwrap();

    let (pump, stdout, _stderr) = attach_and_start(&fixture, None);
    berth_oci::attach::resize(&fixture.bundle(), 30, 100).unwrap();
    pump.join().unwrap().unwrap();

    assert_eq!(stdout.text(), "30 100\r\n");
    wait_for("conmon to exit", || {
        process_gone(created.monitor_pid).then_some(())
    });
    let error = berth_oci::attach::resize(&fixture.bundle(), 30, 100).unwrap_err();
    assert!(
        error.to_string().contains("No such device or address"),
        "{error}"
    );
}

fn run_pause_resume_kill(runtime_name: &str) {
    check_host(runtime_name);
    let fixture = Fixture::new(runtime_name, "signals");
    fixture.write_spec(&["sleep", "60"]);
    let created = fixture.create().unwrap();
    fixture.runtime.start(&fixture.id).unwrap();
    assert_eq!(
        fixture.runtime.state(&fixture.id).unwrap().unwrap().status,
        "running"
    );

    fixture.runtime.pause(&fixture.id).unwrap();
    // On cgroup v1 the freezer may still be FREEZING when the runtime's
    // pause returns; a loaded host shows that as "running" for a moment.
    wait_for("the runtime to report paused", || {
        let status = fixture.runtime.state(&fixture.id).unwrap().unwrap().status;
        (status == "paused").then_some(())
    });
    fixture.runtime.resume(&fixture.id).unwrap();
    assert_eq!(
        fixture.runtime.state(&fixture.id).unwrap().unwrap().status,
        "running"
    );

    let sigkill = berth_oci::signal::parse("KILL").unwrap();
    fixture.runtime.kill(&fixture.id, sigkill, true).unwrap();
    let exit_file = fixture.path("exits").join(&fixture.id);
    let exit_code = wait_for("the exit file", || {
        std::fs::read_to_string(&exit_file)
            .ok()
            .filter(|text| !text.is_empty())
    });
    assert_eq!(exit_code, "137");
    wait_for("conmon to exit", || {
        process_gone(created.monitor_pid).then_some(())
    });

    fixture.runtime.delete(&fixture.id, false).unwrap();
    fixture.runtime.delete(&fixture.id, false).unwrap();
    let error = fixture.runtime.start(&fixture.id).unwrap_err();
    let OciError::RuntimeFailed { op, message, .. } = &error else {
        panic!("expected RuntimeFailed, got {error:?}");
    };
    assert_eq!(*op, "start");
    assert!(!message.is_empty());
}

#[test]
fn crun_stdin_forwarded_until_eof() {
    run_stdin_forwarded("crun");
}

#[test]
fn runc_stdin_forwarded_until_eof() {
    run_stdin_forwarded("runc");
}

#[test]
fn crun_terminal_resized_through_ctl() {
    run_terminal_resize("crun");
}

#[test]
fn runc_terminal_resized_through_ctl() {
    run_terminal_resize("runc");
}

#[test]
fn crun_pause_resume_and_kill() {
    run_pause_resume_kill("crun");
}

#[test]
fn runc_pause_resume_and_kill() {
    run_pause_resume_kill("runc");
}

#[test]
fn hung_runtime_times_out_and_conmon_killed() {
    let fixture = Fixture::new("crun", "timeout");
    fixture.write_spec(&["true"]);

    // A runtime whose `create` hangs; every other verb succeeds.
    let script = fixture.path("hung-runtime");
    let sleeper_pid_file = fixture.path("sleeper.pid");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$*\" in *create*) echo $$ > {}; exec sleep 30;; esac\nexit 0\n",
            sleeper_pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let runtime = Runtime::find(script.to_str().unwrap(), &fixture.path("runtime")).unwrap();

    let exit_command = vec!["/bin/true".to_string()];
    let bundle = fixture.bundle();
    let pid_file = fixture.path("pids/container.pid");
    let log_path = fixture.path("ctr.log");
    let exit_dir = fixture.path("exits");
    let persist_dir = fixture.path("persist");
    let conmon_pid_file = fixture.path("pids/conmon.pid");
    let request = CreateRequest {
        container_id: &fixture.id,
        container_name: &fixture.id,
        runtime: &runtime,
        bundle: &bundle,
        pid_file: &pid_file,
        log_path: &log_path,
        log_size_max: None,
        exit_dir: &exit_dir,
        persist_dir: &persist_dir,
        conmon_pid_file: &conmon_pid_file,
        exit_command: &exit_command,
        terminal: false,
        stdin: false,
        monitor_cgroup: None,
        timeout: Duration::from_secs(1),
        debug: false,
        held_fds: &[],
        preserve_fds: 0,
        restore: None,
    };
    let error = fixture.monitor.create(&request).unwrap_err();

    let sleeper_pid: i32 = wait_for("the hung runtime's pid", || {
        std::fs::read_to_string(&sleeper_pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()
    });
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sleeper_pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(
        matches!(&error, OciError::MonitorTimedOut { id, seconds: 1 } if *id == fixture.id),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "conmon for container {} did not report the container pid within 1 s",
            fixture.id
        )
    );
    let conmon_pid: i32 = std::fs::read_to_string(&conmon_pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("conmon to exit", || process_gone(conmon_pid).then_some(()));
}
