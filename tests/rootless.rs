//! berth as an ordinary user: the user namespace, the XDG paths, files on
//! bind mounts, slirp4netns with published ports, the lifecycle verbs,
//! isolation between users, and the errors for what cannot work rootless.
//!
//! Needs the test users of hack/prepare-host.sh; the tests run as root and
//! switch to them with runuser.
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use common::exit_code;
use common::rootless::{RootlessEnv, OTHER_USER, USER, USER_WITHOUT_SUBIDS};

fn env_with_busybox(user: &'static str) -> RootlessEnv {
    let env = RootlessEnv::new(user);
    env.import_busybox("busybox");
    env
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads the `Uid:` line of /proc/PID/status: real, effective, saved, fs uid.
fn host_uids(pid: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .expect("Uid line")
        .split_whitespace()
        .map(|uid| uid.parse().expect("numeric uid"))
        .collect()
}

#[test]
fn root_in_container_is_user_on_host() {
    let env = env_with_busybox(USER);
    for runtime in ["crun", "runc"] {
        let stdout = env.berth_ok(&["run", "--rm", "--runtime", runtime, "busybox", "id", "-u"]);
        assert_eq!(stdout, "0\n", "{runtime}");
    }

    let id = env.berth_ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let pid = env.berth_ok(&["inspect", "--format", "{{.State.Pid}}", id]);
    assert_eq!(host_uids(pid.trim()), vec![env.uid(); 4]);
    env.berth_ok(&["rm", "-f", id]);
}

#[test]
fn info_reports_rootless_paths() {
    let env = RootlessEnv::new(USER);
    let output = env.berth_raw(&[
        "info".to_string(),
        "--format".to_string(),
        "{{.Host.Security.Rootless}} {{.Store.GraphRoot}} {{.Store.RunRoot}} {{.Store.GraphDriverName}}"
            .to_string(),
    ]);
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let expected = format!(
        "true {}/data/berth {}/xdg-runtime/berth overlay\n",
        env.dir().display(),
        env.dir().display()
    );
    assert_eq!(text(&output.stdout), expected);
}

#[test]
fn bind_mount_files_belong_to_user() {
    let env = env_with_busybox(USER);
    let data = env.dir().join("data-volume");
    std::fs::create_dir(&data).unwrap();
    nix::unistd::chown(&data, Some(nix::unistd::Uid::from_raw(env.uid())), None).unwrap();
    let volume = format!("{}:/data", data.display());
    env.berth_ok(&[
        "run",
        "--rm",
        "-v",
        &volume,
        "busybox",
        "sh",
        "-c",
        "echo written > /data/file",
    ]);
    let metadata = std::fs::metadata(data.join("file")).expect("file written by the container");
    assert_eq!(metadata.uid(), env.uid());
    assert_eq!(
        std::fs::read_to_string(data.join("file")).unwrap(),
        "written\n"
    );
}

/// Picks a port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GETs `/` from 127.0.0.1:`port`, retrying while httpd starts.
fn http_get(port: u16) -> String {
    let started = Instant::now();
    loop {
        let attempt = TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply)?;
            Ok(reply)
        });
        match attempt {
            Ok(reply) if !reply.is_empty() => return reply,
            _ if started.elapsed() > Duration::from_secs(10) => {
                panic!("no HTTP reply on 127.0.0.1:{port}: {attempt:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn published_port_serves_httpd() {
    let env = env_with_busybox(USER);
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "mkdir /www && echo hello from rootless > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let reply = http_get(port);
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(reply.ends_with("hello from rootless\n"), "{reply}");

    env.berth_ok(&["rm", "-f", "web"]);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still open after the container was removed"
    );
}

#[test]
fn lifecycle_verbs_work() {
    let env = env_with_busybox(USER);
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "worker",
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'exit 7' TERM; while true; do sleep 0.1; done",
    ]);
    assert_eq!(
        env.berth_ok(&["exec", "worker", "echo", "from exec"]),
        "from exec\n"
    );
    assert_eq!(env.berth_ok(&["exec", "worker", "id", "-u"]), "0\n");
    assert_eq!(env.berth_ok(&["logs", "worker"]), "started\n");

    env.berth_ok(&["stop", "-t", "5", "worker"]);
    assert_eq!(
        env.berth_ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            "worker"
        ]),
        "exited 7\n"
    );

    env.berth_ok(&["start", "worker"]);
    env.berth_ok(&["kill", "worker"]);
    let code = env.berth_ok(&["wait", "worker"]);
    assert_eq!(code, "137\n");

    env.berth_ok(&["rm", "worker"]);
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
}

#[test]
fn users_do_not_see_each_other() {
    let first = env_with_busybox(USER);
    let second = env_with_busybox(OTHER_USER);
    first.berth_ok(&["run", "-d", "--name", "secret", "busybox", "sleep", "1000"]);

    assert_eq!(second.berth_ok(&["ps", "-a", "--format", "{{.Names}}"]), "");
    let first_root = first.root().display().to_string();
    let output = second.berth_raw(&["--root".to_string(), first_root, "ps".to_string()]);
    assert_eq!(exit_code(&output), 125, "{}", text(&output.stdout));
    assert!(
        text(&output.stderr).contains("Permission denied"),
        "{}",
        text(&output.stderr)
    );

    let output = second.berth(&["stop", "secret"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(text(&output.stderr), "Error: no such container: secret\n");
    first.berth_ok(&["rm", "-f", "secret"]);
}

#[test]
fn user_without_subordinate_ids_gets_fix() {
    let env = RootlessEnv::new(USER_WITHOUT_SUBIDS);
    let output = env.berth(&["ps"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        format!(
            "Error: user {USER_WITHOUT_SUBIDS} (uid {}) has no subordinate uid range in \
             /etc/subuid: add one as root, e.g. `usermod --add-subuids 100000-165535 \
             --add-subgids 100000-165535 {USER_WITHOUT_SUBIDS}`\n",
            env.uid()
        )
    );
    assert!(!env.root().exists(), "the root was created anyway");
    assert!(env.pause_pid().is_none(), "a pause process was recorded");
}

#[test]
fn resource_limits_rejected_without_cgroup() {
    let env = env_with_busybox(USER);
    for (flag, value) in [
        ("--memory", "64m"),
        ("--cpus", "1"),
        ("--pids-limit", "100"),
    ] {
        let output = env.berth(&["run", "--rm", flag, value, "busybox", "true"]);
        assert_eq!(exit_code(&output), 125, "{flag}");
        assert_eq!(
            text(&output.stderr),
            format!(
                "Error: {flag} needs a cgroup of the container's own, and an ordinary user \
                 cannot own one on this cgroup v1 host: run the container without {flag}, or \
                 as root\n"
            )
        );
    }
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");

    // No default pids limit either: there is no cgroup to hold it.
    env.berth_ok(&["create", "--name", "plain", "busybox", "true"]);
    assert_eq!(
        env.berth_ok(&["inspect", "--format", "{{.HostConfig.PidsLimit}}", "plain"]),
        "0\n"
    );
}

#[test]
fn privileged_port_rejected() {
    let first_unprivileged: u16 =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    assert!(
        first_unprivileged > 80,
        "this host lets every user bind port 80 (net.ipv4.ip_unprivileged_port_start = {first_unprivileged})"
    );
    let env = env_with_busybox(USER);
    let output = env.berth(&["run", "--rm", "-p", "127.0.0.1:80:80", "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        format!(
            "Error: host port 80 is below {first_unprivileged} \
             (net.ipv4.ip_unprivileged_port_start), which an ordinary user cannot bind: publish \
             on port {first_unprivileged} or above, e.g. -p 8080:80\n"
        )
    );
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
}

/// Kills the environment's pause process with SIGKILL and waits until it
/// is gone. Returns its pid.
fn kill_pause_process(env: &RootlessEnv) -> i32 {
    let pid = env.pause_pid().expect("pause process");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the pause process");
    let started = Instant::now();
    // The pause process is reparented to init, which reaps it.
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "pause process {pid} survived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    pid
}

fn user_namespace(pid: &str) -> std::path::PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/user")).expect("read the user namespace link")
}

#[test]
fn killed_pause_process_rejoined_through_conmon() {
    let env = env_with_busybox(USER);
    env.berth_ok(&["run", "--name", "finished", "busybox", "true"]);
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "running",
        "busybox",
        "sh",
        "-c",
        "echo before; trap 'echo stopping; exit 3' TERM; while true; do sleep 0.1; done",
    ]);
    let conmon = env.berth_ok(&["inspect", "--format", "{{.State.ConmonPid}}", "running"]);
    let conmon = conmon.trim().to_string();
    let namespace = user_namespace(&conmon);

    let old_pause = kill_pause_process(&env);

    // The next command starts a pause process in the namespaces of the
    // running container's conmon, with its id mapping.
    let listed = env.berth_ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort_unstable();
    assert_eq!(listed, vec!["finished exited", "running running"]);
    let new_pause = env.pause_pid().expect("a new pause process");
    assert_ne!(new_pause, old_pause);
    assert_eq!(user_namespace(&new_pause.to_string()), namespace);
    let uid_map = std::fs::read_to_string(format!("/proc/{new_pause}/uid_map")).unwrap();
    let first_line: Vec<&str> = uid_map.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(first_line, vec!["0", &env.uid().to_string(), "1"]);

    assert_eq!(env.berth_ok(&["logs", "running"]), "before\n");
    assert_eq!(
        env.berth_ok(&["exec", "running", "echo", "joined"]),
        "joined\n"
    );
    env.berth_ok(&["stop", "-t", "5", "running"]);
    assert_eq!(
        env.berth_ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            "running"
        ]),
        "exited 3\n"
    );
    env.berth_ok(&["rm", "running"]);

    // With no conmon left, the next pause process makes new namespaces,
    // and the stopped container starts in them.
    let second_pause = kill_pause_process(&env);
    assert_eq!(
        env.berth_ok(&["ps", "-aq", "--filter", "name=finished"])
            .lines()
            .count(),
        1
    );
    let third_pause = env.pause_pid().expect("a third pause process");
    assert_ne!(third_pause, second_pause);
    assert_ne!(user_namespace(&third_pause.to_string()), namespace);
    env.berth_ok(&["start", "finished"]);
    assert_eq!(env.berth_ok(&["wait", "finished"]), "0\n");
    env.berth_ok(&["rm", "finished"]);
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
}

/// Lists the mount points at or below `dir` in the mount namespace of `pid`.
fn mounts_in_namespace(pid: i32, dir: &std::path::Path) -> Vec<String> {
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let prefix = dir.display().to_string();
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|mount_point| mount_point.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn pause_process_loses_copies_of_stopped_root_mounts() {
    let root_env = common::TestEnv::with_busybox();
    let id = root_env.berth_ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let id = id.trim().to_string();
    let merged = root_env.root().join("containers").join(&id).join("merged");

    // Made while root's container runs, the user's mount namespace starts
    // as a copy of the host's, root's container mounts included.
    let env = env_with_busybox(USER);
    let pause = env.pause_pid().expect("pause process");
    assert!(
        mounts_in_namespace(pause, root_env.dir()).contains(&merged.display().to_string()),
        "the pause process's namespace has a copy of root's container mount"
    );

    // Stopping the container removes the copies too, so they no longer
    // keep root's overlay alive.
    root_env.berth_ok(&["stop", "-t", "0", &id]);
    let started = Instant::now();
    while !mounts_in_namespace(pause, root_env.dir()).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "copies of root's mounts stay in the user's namespace: {:?}",
            mounts_in_namespace(pause, root_env.dir())
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The mount point comes back with the next start.
    root_env.berth_ok(&["start", &id]);
    assert_eq!(
        root_env.berth_ok(&["exec", &id, "echo", "started again"]),
        "started again\n"
    );
    root_env.berth_ok(&["rm", "-f", &id]);
}
