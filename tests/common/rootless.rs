//! Harness for rootless tests: berth run as one of the ordinary test users
//! that hack/prepare-host.sh creates, through `runuser`.
//!
//! Each [`RootlessEnv`] has its own directory, owned by its user, with the
//! root, the run root, `XDG_RUNTIME_DIR` and a copy of the busybox tarball.
//! Its own `XDG_RUNTIME_DIR` gives it its own pause process and user
//! namespace. Dropping it removes its containers, fails the test if a
//! process or mount of the environment is left behind, and kills the
//! pause process.
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;

use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, User};

use super::{
    busybox_tarball, exit_code, lingering_processes, run_with_timeout, unescape_mountinfo,
};

/// Parent of every rootless environment. Mode 0711: each user can reach
/// its own environment but cannot list the others.
const ROOTLESS_TESTS_DIR: &str = "/var/tmp/berth-rootless-tests";

/// A test user with subordinate id ranges.
pub const USER: &str = "berthtest1";
/// A second test user with other ranges.
pub const OTHER_USER: &str = "berthtest2";
/// A test user without subordinate id ranges.
pub const USER_WITHOUT_SUBIDS: &str = "berthtest3";

pub struct RootlessEnv {
    dir: tempfile::TempDir,
    user: &'static str,
    uid: u32,
}

impl RootlessEnv {
    /// Creates the environment of `user`; panics with the fix when the
    /// user does not exist.
    pub fn new(user: &'static str) -> Self {
        let account = User::from_name(user)
            .expect("look up the test user")
            .unwrap_or_else(|| {
                panic!("test user {user} is missing: run hack/prepare-host.sh as root")
            });
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(ROOTLESS_TESTS_DIR)
            .unwrap_or_else(|error| panic!("create {ROOTLESS_TESTS_DIR}: {error}"));
        let dir = tempfile::Builder::new()
            .prefix("env-")
            .tempdir_in(ROOTLESS_TESTS_DIR)
            .expect("create rootless test environment directory");
        let env = Self {
            dir,
            user,
            uid: account.uid.as_raw(),
        };
        std::fs::copy(busybox_tarball(), env.tarball()).expect("copy the busybox tarball");
        std::fs::set_permissions(env.tarball(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod the busybox tarball");
        for path in [env.dir.path().to_path_buf(), env.xdg_runtime_dir()] {
            std::fs::create_dir_all(&path).expect("create directory");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
                .expect("chmod directory");
            nix::unistd::chown(&path, Some(account.uid), Some(account.gid))
                .unwrap_or_else(|error| panic!("chown {}: {error}", path.display()));
        }
        env
    }

    pub fn uid(&self) -> u32 {
        self.uid
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("runroot")
    }

    fn xdg_runtime_dir(&self) -> PathBuf {
        self.dir.path().join("xdg-runtime")
    }

    pub fn tarball(&self) -> PathBuf {
        self.dir.path().join("busybox-rootfs.tar")
    }

    /// Runs berth as the user with this environment's root and run root.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_at(&self.root(), &self.runroot(), args)
    }

    /// Runs berth as the user with another root and run root, in this
    /// environment's user namespace. The caller removes what it creates
    /// there; a run root whose path starts with [`RootlessEnv::runroot`]
    /// is still searched for leftover processes.
    pub fn berth_at(&self, root: &Path, runroot: &Path, args: &[&str]) -> Output {
        let mut full_args = vec![
            "--root".to_string(),
            root.display().to_string(),
            "--runroot".to_string(),
            runroot.display().to_string(),
        ];
        full_args.extend(args.iter().map(|arg| arg.to_string()));
        self.berth_raw(&full_args)
    }

    /// Runs berth as the user with exactly `args`, so the default paths
    /// apply unless they are given.
    pub fn berth_raw(&self, args: &[String]) -> Output {
        let home = format!("/home/{}", self.user);
        let mut command = Command::new("runuser");
        command
            .args(["-u", self.user, "--", "env"])
            .arg(format!("HOME={home}"))
            .arg(format!(
                "XDG_RUNTIME_DIR={}",
                self.xdg_runtime_dir().display()
            ))
            .arg(format!(
                "XDG_DATA_HOME={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!(
                "XDG_CONFIG_HOME={}",
                self.dir.path().join("config").display()
            ))
            .arg(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            // runuser starts in the caller's working directory, which the
            // user may not be allowed to enter.
            .current_dir("/");
        let name = format!("berth {} (as {})", args.join(" "), self.user);
        run_with_timeout(command, None, &name).unwrap_or_else(|timeout| panic!("{timeout}"))
    }

    /// Runs berth, asserts exit code 0 and returns its stdout.
    pub fn berth_ok(&self, args: &[&str]) -> String {
        let output = self.berth(args);
        assert!(
            output.status.success(),
            "berth {} as {} exited with {}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            self.user,
            exit_code(&output),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        String::from_utf8(output.stdout).expect("berth stdout is UTF-8")
    }

    /// Imports the busybox root filesystem as image `name`.
    pub fn import_busybox(&self, name: &str) {
        let tarball = self.tarball().display().to_string();
        self.berth_ok(&["import", &tarball, name]);
    }

    /// Reads the pid of the environment's pause process from its pid file.
    pub fn pause_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.xdg_runtime_dir().join("berth/pause.pid")).ok()?;
        text.split_whitespace().next()?.parse().ok()
    }

    fn remove_and_find_leftovers(&self) -> Vec<String> {
        let mut leftovers = Vec::new();
        if self.root().exists() {
            let output = self.berth(&["rm", "-af"]);
            if !output.status.success() {
                leftovers.push(format!(
                    "berth rm -af failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
        for pid in lingering_processes(&self.runroot()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            leftovers.push(format!("process {pid} still running; killed it"));
        }
        if let Some(pid) = self.pause_pid() {
            for mount in mounts_in_namespace_of(pid, self.dir.path()) {
                leftovers.push(format!(
                    "mount {} still present in the user's mount namespace",
                    mount.display()
                ));
            }
            // The pause process belongs to this environment only; its
            // namespaces and whatever mounts remain go with it.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        leftovers
    }
}

impl Drop for RootlessEnv {
    fn drop(&mut self) {
        let leftovers = self.remove_and_find_leftovers();
        if !leftovers.is_empty() && !thread::panicking() {
            panic!(
                "rootless test environment {} left state behind after `berth rm -af`:\n  {}",
                self.dir.path().display(),
                leftovers.join("\n  ")
            );
        }
    }
}

/// Lists the mount points at or below `dir` in the mount namespace of `pid`.
fn mounts_in_namespace_of(pid: i32, dir: &Path) -> Vec<PathBuf> {
    let Ok(mountinfo) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) else {
        return Vec::new();
    };
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .filter(|mount_point| mount_point.starts_with(dir))
        .collect()
}
