//! User namespaces of containers: `--uidmap`/`--gidmap` for root's
//! containers, `--userns=keep-id` and `--userns=host` for an ordinary
//! user's, and the errors for the combinations that cannot work.
//!
//! The rootless tests need the test users of hack/prepare-host.sh.
mod common;

use std::os::unix::fs::MetadataExt;

use common::rootless::{RootlessEnv, USER};
use common::{exit_code, TestEnv};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads a `Uid:` or `Gid:` line of /proc/PID/status: real, effective,
/// saved and filesystem id.
fn status_ids(pid: &str, field: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} line"))
        .split_whitespace()
        .map(|id| id.parse().expect("numeric id"))
        .collect()
}

/// Lists the mount points in this process's mount namespace whose path
/// contains `fragment`.
fn mounts_containing(fragment: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("read mountinfo")
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|mount_point| mount_point.contains(fragment))
        .map(str::to_string)
        .collect()
}

#[test]
fn uidmap_shifts_rootfs_for_both_runtimes() {
    let env = TestEnv::with_busybox();
    for runtime in ["crun", "runc"] {
        let stdout = env.berth_ok(&[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "--uidmap",
            "0:100000:65536",
            "busybox",
            "sh",
            "-c",
            "id -u; id -g; ls -ln /bin/busybox; cat /proc/self/uid_map",
        ]);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], "0", "{runtime}: {stdout}");
        assert_eq!(lines[1], "0", "{runtime}: {stdout}");
        let owner: Vec<&str> = lines[2].split_whitespace().skip(2).take(2).collect();
        assert_eq!(owner, ["0", "0"], "{runtime}: {stdout}");
        let uid_map: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(uid_map, ["0", "100000", "65536"], "{runtime}: {stdout}");
    }
}

#[test]
fn uidmap_process_runs_as_mapped_host_ids() {
    let env = TestEnv::with_busybox();
    let id = env.berth_ok(&[
        "run",
        "-d",
        "--uidmap",
        "0:100000:65536",
        "--gidmap",
        "0:200000:65536",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let pid = env.berth_ok(&["inspect", "--format", "{{.State.Pid}}", id]);
    assert_eq!(status_ids(pid.trim(), "Uid:"), vec![100000; 4]);
    assert_eq!(status_ids(pid.trim(), "Gid:"), vec![200000; 4]);

    // Files the container writes land in its upper dir with host ids.
    env.berth_ok(&["exec", id, "sh", "-c", "echo data > /written"]);
    let upper = env.root().join("containers").join(id).join("upper/written");
    let metadata = std::fs::metadata(&upper).expect("file in the upper dir");
    assert_eq!((metadata.uid(), metadata.gid()), (100000, 200000));
    assert_eq!(
        env.berth_ok(&["exec", id, "stat", "-c", "%u %g", "/written"]),
        "0 0\n"
    );

    assert_eq!(
        env.berth_ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.UsernsMode}} {{json .HostConfig.IDMappings}}",
            id
        ]),
        "private {\"GidMap\":[\"0:200000:65536\"],\"UidMap\":[\"0:100000:65536\"]}\n"
    );
    // The idmapped layer mounts are detached once the overlay is mounted.
    assert_eq!(
        mounts_containing(&format!("{id}/idmapped")),
        Vec::<String>::new()
    );

    // A second start mounts the shifted layers again.
    env.berth_ok(&["stop", "-t", "0", id]);
    env.berth_ok(&["start", id]);
    assert_eq!(
        env.berth_ok(&[
            "exec",
            id,
            "stat",
            "-c",
            "%u %g",
            "/bin/busybox",
            "/written"
        ]),
        "0 0\n0 0\n"
    );
    env.berth_ok(&["rm", "-f", id]);
}

#[test]
fn uidmap_alone_maps_gids_too() {
    let env = TestEnv::with_busybox();
    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "--uidmap",
        "0:100000:1000",
        "--uidmap",
        "1000:300000:64536",
        "busybox",
        "cat",
        "/proc/self/gid_map",
    ]);
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        vec![vec!["0", "100000", "1000"], vec!["1000", "300000", "64536"]]
    );
}

#[test]
fn uidmap_rejects_bad_input() {
    let env = TestEnv::with_busybox();
    let expected_form = "expected CONTAINER_ID:HOST_ID:AMOUNT, three numbers with AMOUNT above \
                         0, e.g. 0:100000:65536";
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--uidmap", "foo"],
            format!("Error: invalid --uidmap \"foo\": {expected_form}\n"),
        ),
        (
            vec!["--uidmap", "0:100000:0"],
            format!("Error: invalid --uidmap \"0:100000:0\": {expected_form}\n"),
        ),
        (
            vec!["--gidmap", "0:100000"],
            format!("Error: invalid --gidmap \"0:100000\": {expected_form}\n"),
        ),
        (
            vec!["--uidmap", "0:100000:1000", "--uidmap", "500:300000:10"],
            "Error: invalid --uidmap \"500:300000:10\": its container ids overlap those of \
             0:100000:1000\n"
                .to_string(),
        ),
        (
            vec!["--uidmap", "0:100000:1000", "--uidmap", "2000:100500:10"],
            "Error: invalid --uidmap \"2000:100500:10\": its host ids overlap those of \
             0:100000:1000\n"
                .to_string(),
        ),
        (
            vec!["--userns", "keep-id"],
            "Error: keep-id is only supported in rootless mode: as root, give the container a \
             user namespace with --uidmap and --gidmap\n"
                .to_string(),
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec!["run", "--rm"];
        args.extend(&flags);
        args.extend(["busybox", "true"]);
        let output = env.berth(&args);
        assert_eq!(exit_code(&output), 125, "{flags:?}");
        assert_eq!(text(&output.stderr), message, "{flags:?}");
    }
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
    let containers = env.root().join("containers");
    let leftovers = std::fs::read_dir(&containers).map_or(0, |dir| dir.count());
    assert_eq!(
        leftovers,
        0,
        "container directories left in {}",
        containers.display()
    );
    assert_eq!(
        mounts_containing(&env.dir().display().to_string()),
        Vec::<String>::new()
    );
}

#[test]
fn uidmap_container_cannot_be_committed() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "create",
        "--name",
        "mapped",
        "--uidmap",
        "0:100000:65536",
        "busybox",
        "true",
    ]);
    let output = env.berth(&["commit", "mapped", "mapped-image"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        "Error: commit of container mapped with --uidmap or --userns=keep-id is not supported \
         yet\n"
    );
}

fn rootless_env() -> RootlessEnv {
    let env = RootlessEnv::new(USER);
    env.import_busybox("busybox");
    env
}

fn user_gid() -> u32 {
    nix::unistd::User::from_name(USER)
        .unwrap()
        .expect("test user")
        .gid
        .as_raw()
}

#[test]
fn keep_id_runs_as_user() {
    let env = rootless_env();
    let (uid, gid) = (env.uid(), user_gid());
    for runtime in ["crun", "runc"] {
        let stdout = env.berth_ok(&[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "--userns=keep-id",
            "busybox",
            "sh",
            "-c",
            "id -u; id -g; id -un; ls -ln /bin/busybox; echo HOME=$HOME; tail -n 1 /etc/passwd",
        ]);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], uid.to_string(), "{runtime}: {stdout}");
        assert_eq!(lines[1], gid.to_string(), "{runtime}: {stdout}");
        assert_eq!(lines[2], USER, "{runtime}: {stdout}");
        let owner: Vec<&str> = lines[3].split_whitespace().skip(2).take(2).collect();
        assert_eq!(owner, ["0", "0"], "{runtime}: {stdout}");
        assert_eq!(lines[4], "HOME=/", "{runtime}: {stdout}");
        assert_eq!(
            lines[5],
            format!("{USER}:*:{uid}:{gid}::/:/bin/sh"),
            "{runtime}: {stdout}"
        );
    }
}

#[test]
fn keep_id_process_is_user_on_host() {
    let env = rootless_env();
    let id = env.berth_ok(&["run", "-d", "--userns=keep-id", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let pid = env.berth_ok(&["inspect", "--format", "{{.State.Pid}}", id]);
    assert_eq!(status_ids(pid.trim(), "Uid:"), vec![env.uid(); 4]);
    assert_eq!(
        env.berth_ok(&["exec", id, "id", "-u"]),
        format!("{}\n", env.uid())
    );
    assert_eq!(
        env.berth_ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.UsernsMode}} {{.Config.User}}",
            id
        ]),
        format!("keep-id {}:{}\n", env.uid(), user_gid())
    );
    env.berth_ok(&["rm", "-f", id]);
}

#[test]
fn keep_id_bind_mount_files_belong_to_user() {
    let env = rootless_env();
    let data = env.dir().join("keep-id-volume");
    std::fs::create_dir(&data).unwrap();
    nix::unistd::chown(&data, Some(nix::unistd::Uid::from_raw(env.uid())), None).unwrap();
    let volume = format!("{}:/data", data.display());
    env.berth_ok(&[
        "run",
        "--rm",
        "--userns=keep-id",
        "-v",
        &volume,
        "busybox",
        "sh",
        "-c",
        "echo written > /data/file",
    ]);
    let metadata = std::fs::metadata(data.join("file")).expect("file written by the container");
    assert_eq!((metadata.uid(), metadata.gid()), (env.uid(), user_gid()));
}

#[test]
fn keep_id_user_flag_and_read_only_rootfs() {
    let env = rootless_env();
    // -u overrides the user; container root is the first subordinate uid.
    let id = env.berth_ok(&[
        "run",
        "-d",
        "--userns=keep-id",
        "-u",
        "0",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let pid = env.berth_ok(&["inspect", "--format", "{{.State.Pid}}", id]);
    let first_subordinate: u32 = std::fs::read_to_string("/etc/subuid")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{USER}:")))
        .and_then(|range| range.split(':').next()?.parse().ok())
        .expect("subordinate range of the test user");
    assert_eq!(status_ids(pid.trim(), "Uid:"), vec![first_subordinate; 4]);
    env.berth_ok(&["rm", "-f", id]);

    // A read-only rootfs gets the passwd entry through a bind-mounted copy.
    assert_eq!(
        env.berth_ok(&[
            "run",
            "--rm",
            "--read-only",
            "--userns=keep-id",
            "busybox",
            "id",
            "-un"
        ]),
        format!("{USER}\n")
    );
}

#[test]
fn rootless_userns_host_accepted_uidmap_rejected() {
    let env = rootless_env();
    assert_eq!(
        env.berth_ok(&["run", "--rm", "--userns", "host", "busybox", "id", "-u"]),
        "0\n"
    );
    let output = env.berth(&["run", "--rm", "--uidmap", "0:1:1000", "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        "Error: --uidmap and --gidmap are not supported for rootless containers: their host \
         ids would be ids of the pause process's user namespace, which berth does not \
         translate; use --userns=keep-id to keep your own uid\n"
    );
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
}
