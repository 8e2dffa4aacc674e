//! Rootless storage with fuse-overlayfs: forced with `--storage-opt
//! overlay.mount_program=...`, recorded per root, and chosen by itself where
//! the kernel's overlay fails in the user namespace (a root that lies on an
//! overlay mount). Checks that every mount and fuse-overlayfs daemon goes
//! away with the container.
//!
//! Needs the test users of hack/prepare-host.sh, fuse-overlayfs and a
//! /dev/fuse the users may open (the script sets both up).
mod common;

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use common::exit_code;
use common::rootless::{RootlessEnv, USER};
use serde_json::Value;

const FUSE_OVERLAYFS: &str = "/usr/bin/fuse-overlayfs";
const FORCE_FUSE: &str = "--storage-opt=overlay.mount_program=/usr/bin/fuse-overlayfs";
/// The file in a root that records its mount program.
const MOUNT_PROGRAM_RECORD: &str = "overlay-mount-program";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn info(output: std::process::Output) -> Value {
    assert_eq!(exit_code(&output), 0, "info: {}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("info --format json is JSON")
}

/// Lists the pids of fuse-overlayfs processes whose arguments mention `path`.
fn fuse_daemons_under(path: &Path) -> Vec<i32> {
    let needle = path.display().to_string();
    std::fs::read_dir("/proc")
        .expect("list /proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "fuse-overlayfs")
        })
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(&needle))
        })
        .collect()
}

/// Lists the mount points below `dir`, with their file system type, in the
/// mount namespace of `pid`.
fn mounts_below(pid: i32, dir: &Path) -> Vec<(PathBuf, String)> {
    let mountinfo =
        std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("read mountinfo");
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let separator = fields.iter().position(|field| *field == "-")?;
            let fs_type = fields.get(separator + 1)?.to_string();
            Some((PathBuf::from(fields.get(4)?), fs_type))
        })
        .filter(|(mount_point, _)| mount_point.starts_with(dir))
        .collect()
}

/// Waits up to 10 s for `condition`, for the unmount that conmon's exit
/// command makes after a container stops.
fn eventually(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting until {what}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Returns the first subordinate uid of `user` in /etc/subuid.
fn first_subuid(user: &str) -> u32 {
    let subuid = std::fs::read_to_string("/etc/subuid").expect("read /etc/subuid");
    subuid
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            (fields.next()? == user).then(|| fields.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("{user} has no range in /etc/subuid"))
}

#[test]
fn forced_fuse_overlayfs_runs_container() {
    let env = RootlessEnv::new(USER);
    let tarball = env.tarball().display().to_string();
    env.berth_ok(&[FORCE_FUSE, "import", &tarball, "busybox"]);

    let info = info(env.berth(&["info", "--format", "json"]));
    let store = &info["store"];
    assert_eq!(store["graphDriverName"], "overlay");
    assert_eq!(
        store["graphOptions"]["overlay.mount_program"]["Executable"],
        FUSE_OVERLAYFS
    );
    let version = store["graphOptions"]["overlay.mount_program"]["Version"]
        .as_str()
        .expect("version string");
    assert!(version.starts_with("fuse-overlayfs"), "{version}");
    assert_eq!(store["graphStatus"]["Native Overlay Diff"], "false");

    // Root in the container writes one file and gives another to uid 1000.
    let id = env.berth_ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "echo written > /by-root && echo other > /by-1000 && chown 1000:1000 /by-1000 && sleep 1000",
    ]);
    let id = id.trim().to_string();
    let container_dir = env.root().join("containers").join(&id);
    let merged = container_dir.join("merged");
    let upper = container_dir.join("upper");
    eventually("the container wrote its files", || {
        upper
            .join("by-1000")
            .metadata()
            .is_ok_and(|meta| meta.uid() != env.uid())
    });

    let pause = env.pause_pid().expect("pause process");
    let mounts = mounts_below(pause, &container_dir);
    assert_eq!(
        mounts,
        vec![(merged.clone(), "fuse.fuse-overlayfs".to_string())],
        "the root filesystem is a fuse-overlayfs mount"
    );
    assert_eq!(fuse_daemons_under(&merged).len(), 1, "one daemon per mount");

    // The upper dir contains the files with ids shifted into the user's range.
    let by_root = upper.join("by-root").metadata().expect("stat by-root");
    assert_eq!(by_root.uid(), env.uid());
    let by_1000 = upper.join("by-1000").metadata().expect("stat by-1000");
    assert_eq!(by_1000.uid(), first_subuid(USER) + 999);
    assert_eq!(
        std::fs::read_to_string(upper.join("by-root")).unwrap(),
        "written\n"
    );

    // Stopped: conmon's exit command unmounts, and the daemon exits.
    env.berth_ok(&["stop", "-t", "0", &id]);
    eventually("the stopped container is unmounted", || {
        mounts_below(pause, &container_dir).is_empty()
    });
    eventually("the fuse-overlayfs daemon exited", || {
        fuse_daemons_under(&merged).is_empty()
    });

    // Started again on a new mount, with the files kept.
    env.berth_ok(&["start", &id]);
    let stdout = env.berth_ok(&["exec", &id, "stat", "-c", "%u %n", "/by-root", "/by-1000"]);
    assert_eq!(stdout, "0 /by-root\n1000 /by-1000\n");

    // rm returns after the unmount and after the daemon exited.
    env.berth_ok(&["rm", "-f", &id]);
    assert_eq!(mounts_below(pause, &env.root()), vec![]);
    assert_eq!(fuse_daemons_under(env.dir()), Vec::<i32>::new());
    assert!(!container_dir.exists(), "rm removes the container dir");
}

#[test]
fn mount_program_choice_recorded_per_root() {
    let env = RootlessEnv::new(USER);
    let forced_root = env.root();
    let record = forced_root.join(MOUNT_PROGRAM_RECORD);

    // Forcing records the program in the root.
    let first = info(env.berth(&[FORCE_FUSE, "info", "--format", "json"]));
    assert_eq!(
        first["store"]["graphOptions"]["overlay.mount_program"]["Executable"],
        FUSE_OVERLAYFS
    );
    assert_eq!(
        std::fs::read_to_string(&record).expect("read the record"),
        format!("{FUSE_OVERLAYFS}\n")
    );

    // Later commands on that root use it without the option, among them
    // the exit command conmon runs, which gets no --storage-opt.
    let later = info(env.berth(&["info", "--format", "json"]));
    assert_eq!(
        later["store"]["graphOptions"]["overlay.mount_program"]["Executable"],
        FUSE_OVERLAYFS
    );
    env.import_busybox("busybox");
    let stdout = env.berth_ok(&["run", "--rm", "busybox", "cat", "/proc/self/mounts"]);
    let root_line = stdout.lines().next().expect("a mount line");
    assert!(
        root_line.starts_with("fuse-overlayfs / fuse.fuse-overlayfs "),
        "{root_line}"
    );

    // Another root of the same user, in the same namespace, stays native.
    let native_root = env.dir().join("root-native");
    let native_runroot = env.dir().join("runroot-native");
    let native = info(env.berth_at(&native_root, &native_runroot, &["info", "--format", "json"]));
    assert_eq!(native["store"]["graphDriverName"], "overlay");
    assert_eq!(native["store"]["graphOptions"], serde_json::json!({}));
    assert_eq!(
        native["store"]["graphStatus"]["Native Overlay Diff"],
        "true"
    );
    assert!(!native_root.join(MOUNT_PROGRAM_RECORD).exists());

    // A different program for the recorded root is rejected.
    let output = env.berth(&[
        "--storage-opt",
        "overlay.mount_program=/usr/local/bin/fuse-overlayfs",
        "info",
    ]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        format!(
            "Error: storage root {root} mounts overlays with {FUSE_OVERLAYFS}, not /usr/local/bin/fuse-overlayfs: \
             drop --storage-opt overlay.mount_program, give {FUSE_OVERLAYFS}, or use another --root\n",
            root = forced_root.display()
        )
    );

    // A program that does not exist, and an unknown option, are rejected
    // before anything is recorded.
    let missing_root = env.dir().join("root-missing");
    let output = env.berth_at(
        &missing_root,
        &native_runroot,
        &[
            "--storage-opt",
            "overlay.mount_program=/nonexistent/fuse-overlayfs",
            "info",
        ],
    );
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        "Error: overlay mount program /nonexistent/fuse-overlayfs cannot be used: no executable file at this path\n"
    );
    assert!(!missing_root.join(MOUNT_PROGRAM_RECORD).exists());
    let output = env.berth(&["--storage-opt", "overlay.mountopt=nodev", "info"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        "Error: invalid --storage-opt \"overlay.mountopt=nodev\": unsupported option: berth supports only overlay.mount_program=PATH\n"
    );
}

/// An overlay mount made by the test, as root, with a directory the test
/// user owns on it. Unmounted when dropped.
struct OverlayBase {
    dir: tempfile::TempDir,
}

impl OverlayBase {
    fn new(owner: u32) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("overlay-base-")
            .tempdir_in("/var/tmp/berth-rootless-tests")
            .expect("create the overlay base dir");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();

        for name in ["lower", "upper", "work", "merged"] {
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(dir.path().join(name))
                .unwrap();
        }

        let path = |name: &str| dir.path().join(name).display().to_string();
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            path("lower"),
            path("upper"),
            path("work")
        );
        let status = std::process::Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &options, &path("merged")])
            .status()
            .expect("run mount");
        assert!(status.success(), "mount the test's overlay");

        let base = OverlayBase { dir };
        let owned = base.merged().join("berth");
        std::fs::create_dir(&owned).unwrap();
        nix::unistd::chown(&owned, Some(nix::unistd::Uid::from_raw(owner)), None).unwrap();
        base
    }

    fn merged(&self) -> PathBuf {
        self.dir.path().join("merged")
    }
}

impl Drop for OverlayBase {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.merged())
            .status();
    }
}

#[test]
fn native_overlay_failure_falls_back_to_fuse() {
    let env = RootlessEnv::new(USER);
    // Mounted before the user's first berth command, so the pause process's
    // mount namespace, a copy of the host's, has it too.
    let base = OverlayBase::new(env.uid());
    let root = base.merged().join("berth/root");
    // Below the environment's run root path, so the harness looks for
    // processes left behind there too.
    let runroot = PathBuf::from(format!("{}-on-overlay", env.runroot().display()));
    let tarball = env.tarball().display().to_string();

    let output = env.berth_at(&root, &runroot, &["import", &tarball, "busybox"]);
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains(
            "overlay mounts fail in the user namespace here; the root will use fuse-overlayfs"
        ),
        "the fallback is announced once: {}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(root.join(MOUNT_PROGRAM_RECORD)).expect("read the record"),
        format!("{FUSE_OVERLAYFS}\n")
    );

    let info = info(env.berth_at(&root, &runroot, &["info", "--format", "json"]));
    assert_eq!(
        info["store"]["graphOptions"]["overlay.mount_program"]["Executable"],
        FUSE_OVERLAYFS
    );

    let output = env.berth_at(
        &root,
        &runroot,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo ok > /file && cat /file",
        ],
    );
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "ok\n");
    let pause = env.pause_pid().expect("pause process");
    let container_mounts: Vec<_> = mounts_below(pause, &root.join("containers"));
    assert_eq!(container_mounts, vec![]);
    assert_eq!(fuse_daemons_under(&root), Vec::<i32>::new());
}

#[test]
fn fuse_mount_released_after_conmon_killed() {
    let env = RootlessEnv::new(USER);
    let tarball = env.tarball().display().to_string();
    env.berth_ok(&[FORCE_FUSE, "import", &tarball, "busybox"]);
    let id = env.berth_ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let id = id.trim().to_string();
    let merged = env.root().join("containers").join(&id).join("merged");
    assert_eq!(fuse_daemons_under(&merged).len(), 1);

    // conmon dies without writing an exit file, so no cleanup runs.
    let conmon = env.berth_ok(&["inspect", "--format", "{{.State.ConmonPid}}", &id]);
    let conmon: i32 = conmon.trim().parse().expect("conmon pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(conmon),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill conmon");
    eventually("conmon is gone", || {
        !Path::new(&format!("/proc/{conmon}")).exists()
    });

    // rm -f finds the mount and its daemon and releases both.
    env.berth_ok(&["rm", "-f", &id]);
    let pause = env.pause_pid().expect("pause process");
    assert_eq!(mounts_below(pause, &env.root()), vec![]);
    assert_eq!(fuse_daemons_under(env.dir()), Vec::<i32>::new());
}
