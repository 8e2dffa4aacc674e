//! Harness for integration tests that run the real `berth` binary.
//!
//! Each [`TestEnv`] has its own root and run root in a fresh directory under
//! /var/tmp/berth-tests, so tests run in parallel without sharing state.
//! /var/tmp is on disk, not tmpfs, so overlay upper directories work there.
//! Dropping a `TestEnv` removes its containers and fails the test if a
//! mount, process or cgroup of the environment is left behind.

// Every test binary compiles this module but uses a different part of it.
#![allow(dead_code)]

pub mod registry;
pub mod rootless;

use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Parent of every test environment and of the shared busybox tarball.
const TESTS_DIR: &str = "/var/tmp/berth-tests";

/// Maximum run time of one berth command; the harness kills it after that.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long stdout and stderr may stay open after berth has exited. Only a
/// process that berth started and that inherited them can keep them open,
/// which is a bug: a detached conmon must not hold the caller's output.
const OUTPUT_CLOSE_GRACE: Duration = Duration::from_secs(10);

/// How long processes of an environment may take to exit after
/// `berth rm -af` before they count as leaked.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// A private berth root and run root, cleaned up and checked on drop.
pub struct TestEnv {
    dir: tempfile::TempDir,
    root: PathBuf,
    runroot: PathBuf,
}

impl TestEnv {
    /// Creates `<dir>/root` and `<dir>/runroot` in a new directory under
    /// /var/tmp/berth-tests.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("env-")
            .tempdir_in(tests_dir())
            .expect("create test environment directory");
        let root = dir.path().join("root");
        let runroot = dir.path().join("runroot");
        for path in [&root, &runroot] {
            std::fs::create_dir(path)
                .unwrap_or_else(|error| panic!("create {}: {error}", path.display()));
        }
        Self { dir, root, runroot }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runroot(&self) -> &Path {
        &self.runroot
    }

    /// Runs `berth --root R --runroot RR ARGS...` with stdin from /dev/null.
    /// Panics if it runs longer than 60 s, or if a process it started keeps
    /// its stdout or stderr open after it exits.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.run_berth(args, None)
            .unwrap_or_else(|timeout| panic!("{timeout}"))
    }

    /// Like [`TestEnv::berth`], with `input` written to berth's stdin.
    pub fn berth_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        self.run_berth(args, Some(input))
            .unwrap_or_else(|timeout| panic!("{timeout}"))
    }

    /// Like [`TestEnv::berth`], with extra environment variables for berth
    /// (and for the programs it starts, such as the runtime).
    pub fn berth_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        run_with_timeout(command, None, &format!("berth {}", args.join(" ")))
            .unwrap_or_else(|timeout| panic!("{timeout}"))
    }

    /// Runs berth, asserts that it exits with 0, and returns its stdout.
    pub fn berth_ok(&self, args: &[&str]) -> String {
        let output = self.berth(args);
        assert!(
            output.status.success(),
            "berth {} exited with {}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            exit_code(&output),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        String::from_utf8(output.stdout).expect("berth stdout is UTF-8")
    }

    /// A new environment with the busybox image imported as `busybox`.
    pub fn with_busybox() -> Self {
        let env = Self::new();
        env.import_busybox("busybox");
        env
    }

    /// Imports the busybox root filesystem as image `name`.
    pub fn import_busybox(&self, name: &str) {
        let tarball = busybox_tarball().to_str().expect("tarball path is UTF-8");
        self.berth_ok(&["import", tarball, name]);
    }

    /// Lists the full ids of all containers, running or not
    /// (`berth ps -aq --no-trunc`).
    pub fn container_ids(&self) -> Vec<String> {
        self.berth_ok(&["ps", "-aq", "--no-trunc"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn run_berth(&self, args: &[&str], input: Option<&[u8]>) -> Result<Output, String> {
        let command = self.command(args);
        run_with_timeout(command, input, &format!("berth {}", args.join(" ")))
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(args);
        command
    }

    /// Removes the environment's containers and lists whatever of the
    /// environment is still there, after cleaning it up as far as possible.
    fn remove_and_find_leftovers(&self) -> Vec<String> {
        let mut leftovers = Vec::new();

        let ids = match self.run_berth(&["ps", "-aq", "--no-trunc"], None) {
            Ok(output) => String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(str::to_string)
                .collect(),
            Err(timeout) => {
                leftovers.push(timeout);
                Vec::new()
            }
        };
        // Failures of `rm` show up as the leftovers checked below.
        if let Err(timeout) = self.run_berth(&["rm", "-af"], None) {
            leftovers.push(timeout);
        }

        for pid in lingering_processes(&self.runroot) {
            // The process may exit on its own meanwhile; ignore that error.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            leftovers.push(format!("process {pid} still running; killed it"));
        }

        let mut mounts = mounts_under(self.dir.path());
        // Unmount nested mounts before the mounts that contain them.
        mounts.sort_by_key(|mount| std::cmp::Reverse(mount.as_os_str().len()));
        for mount in mounts {
            let result = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH);
            leftovers.push(format!(
                "mount {} still present; lazy unmount: {result:?}",
                mount.display()
            ));
        }

        for id in &ids {
            for cgroup in container_cgroups(id) {
                let killed = kill_cgroup_processes(&cgroup);
                let result = std::fs::remove_dir(&cgroup);
                leftovers.push(format!(
                    "cgroup {} still present; killed pids {killed:?}; rmdir: {result:?}",
                    cgroup.display()
                ));
            }
        }
        leftovers
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let leftovers = self.remove_and_find_leftovers();
        // A second panic while unwinding would abort the whole test binary
        // and hide the first failure.
        if !leftovers.is_empty() && !thread::panicking() {
            panic!(
                "test environment {} left state behind after `berth rm -af`:\n  {}",
                self.dir.path().display(),
                leftovers.join("\n  ")
            );
        }
        // The temporary directory itself is removed when `self.dir` drops.
    }
}

/// Decodes command output for messages and comparisons.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Returns the process's exit code, or 128 + the signal number if a signal
/// ended it, as a shell reports it.
pub fn exit_code(output: &Output) -> i32 {
    match (output.status.code(), output.status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => unreachable!("a finished process has an exit code or a signal"),
    }
}

/// Creates /var/tmp/berth-tests with mode 0700 if it is missing.
fn tests_dir() -> &'static Path {
    let path = Path::new(TESTS_DIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .unwrap_or_else(|error| panic!("create {TESTS_DIR}: {error}"));
    path
}

/// Builds the busybox tarball once per test process with
/// hack/make-busybox-rootfs.sh.
///
/// Every test process writes its own copy, then renames it over the shared
/// path: the rename is atomic, and the script's output is byte-identical
/// across runs, so a concurrent reader always sees a complete tarball.
pub fn busybox_tarball() -> &'static Path {
    static TARBALL: OnceLock<PathBuf> = OnceLock::new();
    TARBALL.get_or_init(|| {
        let shared = tests_dir().join("busybox-rootfs.tar");
        let own = tests_dir().join(format!("busybox-rootfs.{}.tar", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/make-busybox-rootfs.sh");
        let output = Command::new(&script)
            .arg(&own)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("run {}: {error}", script.display()));
        assert!(
            output.status.success(),
            "{} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::rename(&own, &shared).unwrap_or_else(|error| {
            panic!("rename {} to {}: {error}", own.display(), shared.display())
        });
        shared
    })
}

/// Runs `command` with stdout and stderr captured, killing it after
/// [`COMMAND_TIMEOUT`]. Returns an error message with everything it printed
/// if it timed out or left its output open.
fn run_with_timeout(
    mut command: Command,
    input: Option<&[u8]>,
    name: &str,
) -> Result<Output, String> {
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("start {name}: {error}"));

    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        // The write runs on its own thread so that a child that does not read
        // stdin cannot block the harness. A write error means it closed stdin.
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = Collector::start(child.stdout.take().expect("stdout is piped"));
    let stderr = Collector::start(child.stderr.take().expect("stderr is piped"));

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for berth") {
            break status;
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            // Child::kill sends SIGKILL to this child's pid only.
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{name} timed out after {COMMAND_TIMEOUT:?}; killed pid {}\nstdout:\n{}\nstderr:\n{}",
                child.id(),
                stdout.text(),
                stderr.text()
            ));
        }
        thread::sleep(Duration::from_millis(10));
    };

    let exited = Instant::now();
    while !(stdout.is_closed() && stderr.is_closed()) {
        if exited.elapsed() > OUTPUT_CLOSE_GRACE {
            return Err(format!(
                "{name} exited with {status}, but a process it started still holds its \
                 stdout or stderr open after {OUTPUT_CLOSE_GRACE:?}\nstdout:\n{}\nstderr:\n{}",
                stdout.text(),
                stderr.text()
            ));
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(Output {
        status,
        stdout: stdout.bytes(),
        stderr: stderr.bytes(),
    })
}

/// Reads a pipe on a thread into a buffer that can be inspected at any time,
/// so a timeout can still report what was printed.
struct Collector {
    buffer: Arc<Mutex<Vec<u8>>>,
    reader: thread::JoinHandle<()>,
}

impl Collector {
    fn start(mut pipe: impl Read + Send + 'static) -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let reader = thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(length) => sink.lock().unwrap().extend_from_slice(&chunk[..length]),
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    // Any other read error ends the output like end of file.
                    Err(_) => break,
                }
            }
        });
        Self { buffer, reader }
    }

    fn is_closed(&self) -> bool {
        self.reader.is_finished()
    }

    fn bytes(&self) -> Vec<u8> {
        self.buffer.lock().unwrap().clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }
}

/// Lists the processes that mention `path` and are still alive after
/// [`EXIT_GRACE`]. The grace covers `berth container cleanup`, which conmon
/// starts when a container exits and does not wait for, so it may still run
/// for a moment after `berth rm -af` has returned.
fn lingering_processes(path: &Path) -> Vec<i32> {
    let started = Instant::now();
    loop {
        let pids = processes_mentioning(path);
        if pids.is_empty() || started.elapsed() > EXIT_GRACE {
            return pids;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Lists the pids of processes whose command line contains `path`. The
/// arguments of conmon contain the run root of the container it monitors.
fn processes_mentioning(path: &Path) -> Vec<i32> {
    let needle = path.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own_pid = std::process::id() as i32;
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != own_pid)
        .filter(|pid| {
            // The process may have exited since /proc was listed.
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.windows(needle.len()).any(|part| part == needle))
        })
        .collect()
}

/// Lists mount points at or below `dir`, from /proc/self/mountinfo.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo");
    mountinfo
        .lines()
        // The fifth field is the mount point.
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .filter(|mount_point| mount_point.starts_with(dir))
        .collect()
}

/// Decodes the octal escapes (`\040` for a space) the kernel writes in
/// mountinfo paths.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = bytes.get(index + 1..index + 4);
        let code = escape
            .filter(|_| bytes[index] == b'\\')
            .and_then(|digits| u8::from_str_radix(std::str::from_utf8(digits).ok()?, 8).ok());
        match code {
            Some(code) => {
                out.push(code);
                index += 4;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lists the cgroups berth made for container `id` that still exist:
/// `/sys/fs/cgroup/<hierarchy>/berth/<id>` for every v1 hierarchy.
fn container_cgroups(id: &str) -> Vec<PathBuf> {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    hierarchies
        .filter_map(|entry| Some(entry.ok()?.path().join("berth").join(id)))
        .filter(|cgroup| cgroup.is_dir())
        .collect()
}

/// Sends SIGKILL to every process in a v1 cgroup, waits up to a second for
/// the cgroup to empty, and returns the pids it signalled.
fn kill_cgroup_processes(cgroup: &Path) -> Vec<i32> {
    let read_pids = || -> Vec<i32> {
        std::fs::read_to_string(cgroup.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.parse().ok())
            .collect()
    };
    let pids = read_pids();
    for &pid in &pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let started = Instant::now();
    while !read_pids().is_empty() && started.elapsed() < Duration::from_secs(1) {
        thread::sleep(Duration::from_millis(20));
    }
    pids
}
