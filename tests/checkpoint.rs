//! Checkpoint and restore with runc and CRIU: a counting container goes on
//! from where it was checkpointed, on the same root and on a fresh one, and
//! bad requests leave containers as they were.
//!
//! Tests that need CRIU skip, printing why, when `criu check` fails on this
//! host (hack/prepare-host.sh installs a CRIU that passes it).
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{exit_code, TestEnv};

/// Shell script that counts ten times a second into `/out/n` (renamed into
/// place, so a reader never sees a half-written number) and prints each
/// number to its log.
const COUNTER: &str = "i=0; while true; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n; echo count $i; sleep 0.1; done";

/// Returns why CRIU cannot be used here, or `None` when `criu check` passes.
fn criu_unavailable() -> Option<String> {
    match Command::new("criu")
        .arg("check")
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!(
            "`criu check` fails: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(error) => Some(format!("cannot run criu: {error}")),
    }
}

/// Creates a test environment with busybox, or prints why CRIU does not
/// work on this host and returns `None`.
fn env_with_criu(test: &str) -> Option<TestEnv> {
    if let Some(reason) = criu_unavailable() {
        eprintln!("skipping {test}: {reason}");
        return None;
    }
    Some(env_with_busybox())
}

fn env_with_busybox() -> TestEnv {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    env
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn inspect(env: &TestEnv, name: &str, template: &str) -> String {
    env.berth_ok(&["inspect", "--format", template, name])
        .trim()
        .to_string()
}

/// Starts the counter with `--runtime runc` (or the given runtime) and
/// waits for its first numbers. Returns the directory that contains `n`.
fn run_counter(env: &TestEnv, name: &str, runtime: &str) -> PathBuf {
    let dir = env.dir().join(format!("{name}-out"));
    std::fs::create_dir(&dir).unwrap();
    let volume = format!("{}:/out", dir.display());
    env.berth_ok(&[
        "run",
        "-d",
        "--runtime",
        runtime,
        "--name",
        name,
        "-v",
        &volume,
        "busybox",
        "sh",
        "-c",
        COUNTER,
    ]);
    wait_for_count(&dir, 3);
    dir
}

fn read_count(dir: &Path) -> Option<u64> {
    std::fs::read_to_string(dir.join("n"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Waits (bounded) until the counter reaches `at_least`, and returns it.
fn wait_for_count(dir: &Path, at_least: u64) -> u64 {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Some(count) = read_count(dir).filter(|&count| count >= at_least) {
            return count;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the counter in {} never reached {at_least}", dir.display());
}

/// Waits (bounded) for the counter to move away from `from`, and returns
/// the first new value.
fn wait_for_change(dir: &Path, from: u64) -> u64 {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Some(count) = read_count(dir).filter(|&count| count != from) {
            return count;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the counter in {} stayed at {from}", dir.display());
}

/// Asserts that a counter restored from a checkpoint went on from there.
/// The checkpoint was taken while the counter was between `lowest` and
/// `highest`, so the restored counter shows a number above `lowest` but no
/// more than it can have counted (ten a second) since the restore
/// `started`. A counter started afresh would show a low number instead.
fn assert_resumed(first: u64, lowest: u64, highest: u64, started: Instant) {
    let max = highest + 2 + (started.elapsed().as_millis() / 100) as u64;
    assert!(
        first > lowest,
        "the counter went on at {first}, not above {lowest} where it was checkpointed"
    );
    assert!(
        first <= max,
        "the counter went on at {first}, above the {max} it can have reached from {highest}"
    );
}

#[test]
fn restore_continues_counter() {
    let Some(env) = env_with_criu("restore_continues_counter") else {
        return;
    };
    let dir = run_counter(&env, "counter", "runc");
    let pid_before = inspect(&env, "counter", "{{.State.Pid}}");

    env.berth_ok(&["container", "checkpoint", "counter"]);
    assert_eq!(
        inspect(&env, "counter", "{{.State.Status}} {{.State.Checkpointed}}"),
        "exited true"
    );
    assert_ne!(inspect(&env, "counter", "{{.State.CheckpointPath}}"), "");
    let checkpointed = read_count(&dir).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        read_count(&dir),
        Some(checkpointed),
        "the counter ran on after the checkpoint"
    );

    let started = Instant::now();
    assert_eq!(
        env.berth_ok(&["container", "restore", "counter"]),
        "counter\n"
    );
    let first = wait_for_change(&dir, checkpointed);
    assert_resumed(first, checkpointed, checkpointed, started);
    assert_eq!(
        inspect(
            &env,
            "counter",
            "{{.State.Status}} {{.State.Checkpointed}} {{.State.Restored}}"
        ),
        "running false true"
    );
    let pid_after = inspect(&env, "counter", "{{.State.Pid}}");
    assert_ne!(pid_after, "0");
    assert_ne!(pid_after, pid_before, "the pid was not updated");
    // Without --keep the images are gone after the restore.
    assert_eq!(inspect(&env, "counter", "{{.State.CheckpointPath}}"), "");

    // The restored container has a monitor: it stops with an exit code.
    env.berth_ok(&["stop", "-t", "0", "counter"]);
    assert_eq!(
        inspect(&env, "counter", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    let logs = env.berth_ok(&["logs", "counter"]);
    assert!(
        logs.contains(&format!("count {}\n", checkpointed + 1)),
        "{logs}"
    );
}

#[test]
fn leave_running_keeps_counting() {
    let Some(env) = env_with_criu("leave_running_keeps_counting") else {
        return;
    };
    let dir = run_counter(&env, "counter", "runc");

    // The counter goes on during the checkpoint, so its value there is
    // only known to lie between two reads.
    let before = read_count(&dir).unwrap();
    env.berth_ok(&[
        "container",
        "checkpoint",
        "--leave-running",
        "--keep",
        "counter",
    ]);
    let checkpointed = read_count(&dir).unwrap();
    assert_eq!(
        inspect(&env, "counter", "{{.State.Status}} {{.State.Checkpointed}}"),
        "running false"
    );
    let log = inspect(&env, "counter", "{{.State.CheckpointLog}}");
    assert!(Path::new(&log).is_file(), "--keep lost CRIU's log {log:?}");
    wait_for_count(&dir, checkpointed + 30);

    // The kept images still restore the state of the checkpoint.
    env.berth_ok(&["stop", "-t", "0", "counter"]);
    let stopped = read_count(&dir).unwrap();
    let started = Instant::now();
    env.berth_ok(&["container", "restore", "counter"]);
    let first = wait_for_change(&dir, stopped);
    assert!(
        first < stopped,
        "the counter went on from where it stopped ({stopped}), not from the checkpoint ({checkpointed}): {first}"
    );
    assert_resumed(first, before, checkpointed, started);
}

#[test]
fn export_restores_on_fresh_root() {
    let Some(source) = env_with_criu("export_restores_on_fresh_root") else {
        return;
    };
    let dir = run_counter(&source, "counter", "runc");
    let archive = source.dir().join("counter.tar.zst");
    let archive_arg = archive.to_str().unwrap();
    source.berth_ok(&[
        "container",
        "checkpoint",
        "--export",
        archive_arg,
        "counter",
    ]);
    let checkpointed = read_count(&dir).unwrap();
    let id = inspect(&source, "counter", "{{.Id}}");

    let target = TestEnv::new();
    let missing_image = target.berth(&["container", "restore", "--import", archive_arg]);
    assert_eq!(exit_code(&missing_image), 125);
    assert!(
        stderr(&missing_image).contains("needs image localhost/busybox:latest"),
        "{}",
        stderr(&missing_image)
    );
    assert_eq!(target.container_ids(), Vec::<String>::new());

    target.import_busybox("busybox");
    let started = Instant::now();
    let restored = target.berth_ok(&["container", "restore", "--import", archive_arg]);
    assert_eq!(restored.trim(), id);
    let first = wait_for_change(&dir, checkpointed);
    assert_resumed(first, checkpointed, checkpointed, started);
    assert_eq!(inspect(&target, "counter", "{{.State.Status}}"), "running");
    let logs = target.berth_ok(&["logs", "counter"]);
    assert!(
        logs.starts_with("count 1\n"),
        "the log was not carried over: {logs}"
    );

    // A copy under another name gets its own id.
    target.berth_ok(&["stop", "-t", "0", "counter"]);
    let copy = target.berth_ok(&["container", "restore", "-i", archive_arg, "-n", "copy"]);
    assert_ne!(copy.trim(), id);
    assert_eq!(inspect(&target, "copy", "{{.State.Status}}"), "running");
}

#[test]
fn checkpoint_rejects_crun_container() {
    let env = env_with_busybox();
    let dir = run_counter(&env, "counter", "crun");

    let output = env.berth(&["container", "checkpoint", "counter"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        stderr(&output),
        "Error: cannot checkpoint container counter: crun version 1.8.1 is built without CRIU support (no +CRIU in `crun --version`): create the container with --runtime runc to checkpoint it\n"
    );
    assert_eq!(inspect(&env, "counter", "{{.State.Status}}"), "running");
    let count = read_count(&dir).unwrap();
    wait_for_count(&dir, count + 2);
}

#[test]
fn checkpoint_rejects_exited_container() {
    let env = env_with_busybox();
    env.berth_ok(&[
        "run",
        "--runtime",
        "runc",
        "--name",
        "done",
        "busybox",
        "true",
    ]);

    let output = env.berth(&["container", "checkpoint", "done"]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        stderr(&output)
            .contains("is exited: cannot checkpoint: only running containers can be checkpointed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        inspect(
            &env,
            "done",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Checkpointed}}"
        ),
        "exited 0 false"
    );

    let output = env.berth(&["container", "restore", "done"]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        stderr(&output).contains("has no checkpoint to restore"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn restore_rejects_running_container() {
    let env = env_with_busybox();
    env.berth_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "up",
        "busybox",
        "sleep",
        "100",
    ]);

    let output = env.berth(&["container", "restore", "up"]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        stderr(&output).contains("is running: cannot restore: it is already running"),
        "{}",
        stderr(&output)
    );
    assert_eq!(inspect(&env, "up", "{{.State.Status}}"), "running");
}

#[test]
fn import_rejects_corrupt_archive() {
    let env = env_with_busybox();
    let garbage = env.dir().join("garbage.tar");
    std::fs::write(&garbage, vec![0x55u8; 3000]).unwrap();
    let empty_tar = env.dir().join("empty.tar");
    tar::Builder::new(std::fs::File::create(&empty_tar).unwrap())
        .finish()
        .unwrap();

    let cases = [
        (garbage, "it is corrupt or truncated"),
        (
            empty_tar,
            "config.dump is missing: the archive is truncated or was not written by `berth container checkpoint --export`",
        ),
    ];
    for (archive, expected) in cases {
        let output = env.berth(&["container", "restore", "-i", archive.to_str().unwrap()]);
        assert_eq!(exit_code(&output), 125);
        assert!(
            stderr(&output).starts_with(&format!(
                "Error: checkpoint archive {}: {expected}",
                archive.display()
            )),
            "{}",
            stderr(&output)
        );
        assert_eq!(env.container_ids(), Vec::<String>::new());
    }
}

#[test]
fn import_rejects_truncated_export() {
    let Some(env) = env_with_criu("import_rejects_truncated_export") else {
        return;
    };
    run_counter(&env, "counter", "runc");
    let archive = env.dir().join("counter.tar.zst");
    env.berth_ok(&[
        "container",
        "checkpoint",
        "--export",
        archive.to_str().unwrap(),
        "counter",
    ]);
    let bytes = std::fs::read(&archive).unwrap();
    let truncated = env.dir().join("truncated.tar.zst");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let output = env.berth(&[
        "container",
        "restore",
        "-i",
        truncated.to_str().unwrap(),
        "-n",
        "copy",
    ]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        stderr(&output).contains("it is corrupt or truncated"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        env.berth_ok(&["ps", "-a", "--format", "{{.Names}}"]),
        "counter\n"
    );
    assert_eq!(
        inspect(&env, "counter", "{{.State.Status}} {{.State.Checkpointed}}"),
        "exited true"
    );
}

#[test]
fn checkpoint_without_criu_leaves_container_running() {
    let env = env_with_busybox();
    let dir = run_counter(&env, "counter", "runc");

    // runc runs the `criu` in its PATH; without one, berth refuses first.
    let output = env.berth_env(
        &["container", "checkpoint", "counter"],
        &[("PATH", "/usr/bin:/bin")],
    );
    assert_eq!(exit_code(&output), 125);
    assert!(
        stderr(&output)
            .starts_with("Error: cannot checkpoint container counter: CRIU not found in PATH"),
        "{}",
        stderr(&output)
    );
    assert_eq!(inspect(&env, "counter", "{{.State.Status}}"), "running");
    let count = read_count(&dir).unwrap();
    wait_for_count(&dir, count + 2);

    // Debian 12's criu 3.17 fails `criu check` on recent kernels.
    let debian_criu = Command::new("/usr/sbin/criu")
        .arg("check")
        .stdin(Stdio::null())
        .output();
    if debian_criu.is_ok_and(|output| !output.status.success()) {
        let output = env.berth_env(
            &["container", "checkpoint", "counter"],
            &[("PATH", "/usr/sbin:/usr/bin:/bin")],
        );
        assert_eq!(exit_code(&output), 125);
        assert!(
            stderr(&output).contains("/usr/sbin/criu (CRIU 3.17.1) fails `criu check`: "),
            "{}",
            stderr(&output)
        );
        assert_eq!(inspect(&env, "counter", "{{.State.Status}}"), "running");
    }
}

#[test]
fn failed_checkpoint_quotes_criu() {
    let Some(env) = env_with_criu("failed_checkpoint_quotes_criu") else {
        return;
    };
    // An established TCP connection over loopback: CRIU refuses to dump it
    // without --tcp-established.
    env.berth_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "tcp",
        "busybox",
        "sh",
        "-c",
        "nc -l -p 8080 -e cat & sleep 0.3; while true; do echo hi; sleep 0.2; done | nc 127.0.0.1 8080 >/dev/null",
    ]);
    std::thread::sleep(Duration::from_millis(800));

    let output = env.berth(&["container", "checkpoint", "tcp"]);
    assert_eq!(exit_code(&output), 125);
    let message = stderr(&output);
    assert!(
        message.contains(
            ": CRIU: inet: Connected TCP socket, consider using --tcp-established option. (log: "
        ),
        "{message}"
    );
    assert!(message.ends_with("/userdata/dump.log)\n"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert_eq!(
        inspect(&env, "tcp", "{{.State.Status}} {{.State.Checkpointed}}"),
        "running false"
    );
}

#[test]
fn export_to_missing_directory_keeps_container_running() {
    let env = TestEnv::with_busybox();
    let dir = run_counter(&env, "counter", "runc");
    let output = env.berth(&[
        "container",
        "checkpoint",
        "--export",
        "/no/such/dir/c.tar.zst",
        "counter",
    ]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        stderr(&output),
        "Error: invalid --export \"/no/such/dir/c.tar.zst\": the directory /no/such/dir does not exist\n"
    );
    assert_eq!(inspect(&env, "counter", "{{.State.Status}}"), "running");
    let count = read_count(&dir).unwrap();
    wait_for_count(&dir, count + 2);
}
