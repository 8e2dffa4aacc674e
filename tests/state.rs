//! The truth about container state: stop and kill exit codes, pause,
//! restart policies, wait conditions, events, crashes of conmon and of berth,
//! a simulated reboot, and many commands at once.
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{exit_code, text, TestEnv};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn status(env: &TestEnv, name: &str) -> String {
    env.berth_ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        name,
    ])
    .trim()
    .to_string()
}

fn inspect_number(env: &TestEnv, name: &str, field: &str) -> i32 {
    env.berth_ok(&["inspect", "--format", &format!("{{{{{field}}}}}"), name])
        .trim()
        .parse()
        .unwrap()
}

/// Waits (bounded) until `path` holds some text, for containers that report
/// through a bind-mounted directory.
fn wait_for_file(path: &std::path::Path) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.trim().is_empty() {
                return text;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never got content", path.display());
}

/// A container that writes an increasing counter to `dir/n` ten times a
/// second, and signals readiness by the file's existence.
fn run_counter(env: &TestEnv, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let dir = env.dir().join(format!("{name}-out"));
    std::fs::create_dir(&dir).unwrap();
    let volume = format!("{}:/out", dir.display());
    let mut args = vec!["run", "-d", "--name", name, "-v", &volume];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "busybox", "sh", "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n; sleep 0.05; done",
    ]);
    env.berth_ok(&args);
    wait_for_file(&dir.join("n"));
    dir
}

#[test]
fn stop_exit_codes_follow_signals() {
    let env = TestEnv::with_busybox();
    // With --init, catatonit forwards SIGTERM to sleep, which dies of it.
    env.berth_ok(&[
        "run", "-d", "--init", "--name", "term", "busybox", "sleep", "1000",
    ]);
    env.berth_ok(&["stop", "term"]);
    assert_eq!(status(&env, "term"), "exited 143");

    env.berth_ok(&["run", "-d", "--name", "zero", "busybox", "sleep", "1000"]);
    env.berth_ok(&["stop", "-t", "0", "zero"]);
    assert_eq!(status(&env, "zero"), "exited 137");
}

#[test]
fn stop_returns_soon_after_exit() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "trap",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.05; done",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    env.berth_ok(&["stop", "-t", "30", "trap"]);
    // The process exits on the signal, so stop returns far inside the 30 s
    // timeout.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stop took {:?}",
        started.elapsed()
    );
    assert_eq!(status(&env, "trap"), "exited 0");
}

#[test]
fn kill_by_name_number_and_rtmin() {
    let env = TestEnv::with_busybox();
    let script = "trap 'exit 10' USR1; trap 'exit 12' USR2; trap 'exit 37' 37; while true; do sleep 0.05; done";
    for (signal, code) in [("SIGUSR1", 10), ("12", 12), ("RTMIN+3", 37)] {
        let name = format!("k{code}");
        env.berth_ok(&["run", "-d", "--name", &name, "busybox", "sh", "-c", script]);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            env.berth_ok(&["kill", "-s", signal, &name]),
            format!("{name}\n")
        );
        assert_eq!(
            env.berth_ok(&["wait", &name]),
            format!("{code}\n"),
            "{signal}"
        );
    }
}

#[test]
fn kill_unknown_signal_sends_nothing() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["run", "-d", "--name", "alive", "busybox", "sleep", "1000"]);
    let output = env.berth(&["kill", "-s", "SIGNOPE", "alive"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        "Error: invalid signal \"SIGNOPE\": use a name (TERM, SIGKILL, RTMIN+3) or a number from 1 to 64\n"
    );
    assert_eq!(status(&env, "alive"), "running 0");
    let output = env.berth(&["stop", "-t", "-1", "alive"]);
    assert_eq!(exit_code(&output), 125, "negative timeout");
    let output = env.berth(&["stop", "nosuch"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(env.berth_ok(&["stop", "--ignore", "nosuch"]), "");
}

#[test]
fn pause_freezes_and_unpause_resumes() {
    let env = TestEnv::with_busybox();
    for runtime in ["crun", "runc"] {
        let name = format!("counter-{runtime}");
        let dir = run_counter(&env, &name, &["--runtime", runtime]);
        env.berth_ok(&["pause", &name]);
        assert_eq!(status(&env, &name), "paused 0");
        let frozen = wait_for_file(&dir.join("n"));
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(
            wait_for_file(&dir.join("n")),
            frozen,
            "{runtime}: counter moved while paused"
        );
        assert!(env
            .berth_ok(&["ps", "--format", "{{.Names}} {{.Status}}"])
            .contains(&format!("{name} Paused")));

        let output = env.berth(&["pause", &name]);
        assert_eq!(exit_code(&output), 125);

        env.berth_ok(&["unpause", &name]);
        std::thread::sleep(Duration::from_millis(400));
        assert_ne!(
            wait_for_file(&dir.join("n")),
            frozen,
            "{runtime}: counter did not resume"
        );
        let output = env.berth(&["unpause", &name]);
        assert_eq!(exit_code(&output), 125);
        assert!(text(&output.stderr).contains("it is not paused"));
    }
    // Stopping a paused container works too.
    env.berth_ok(&["pause", "counter-crun"]);
    env.berth_ok(&["stop", "-t", "1", "counter-crun"]);
    assert_eq!(status(&env, "counter-crun"), "exited 137");
}

#[test]
fn restart_policy_on_failure_counts_retries() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    let started = Instant::now();
    while inspect_number(&env, "flaky", ".RestartCount") < 2 || status(&env, "flaky") != "exited 3"
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "restarts did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Give a third restart, which must not happen, a chance to show.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inspect_number(&env, "flaky", ".RestartCount"), 2);
    assert_eq!(
        env.berth_ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "flaky"
        ]),
        "on-failure 2\n"
    );
}

#[test]
fn restart_policy_always_spares_user_stop() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    let started = Instant::now();
    while inspect_number(&env, "again", ".RestartCount") < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never restarted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    env.berth_ok(&["stop", "-t", "0", "again"]);
    let count = inspect_number(&env, "again", ".RestartCount");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(status(&env, "again").split(' ').next(), Some("exited"));
    assert_eq!(inspect_number(&env, "again", ".RestartCount"), count);

    let output = env.berth(&["create", "--restart", "sometimes", "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert!(text(&output.stderr).contains("invalid --restart \"sometimes\""));
}

#[test]
fn restart_command_restarts_running_container() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["run", "-d", "--name", "r", "busybox", "sleep", "1000"]);
    let pid = inspect_number(&env, "r", ".State.Pid");
    assert_eq!(env.berth_ok(&["restart", "-t", "0", "r"]), "r\n");
    assert_eq!(status(&env, "r"), "running 0");
    assert_ne!(inspect_number(&env, "r", ".State.Pid"), pid);
}

#[test]
fn wait_conditions_and_several_containers() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["create", "--name", "later", "busybox", "sh", "-c", "exit 4"]);
    assert_eq!(
        exit_code(&env.berth(&["run", "--name", "early", "busybox", "sh", "-c", "exit 9"])),
        9
    );
    assert_eq!(
        env.berth_ok(&["wait", "--condition", "created", "later"]),
        "-1\n"
    );
    env.berth_ok(&["start", "later"]);
    assert_eq!(env.berth_ok(&["wait", "early", "later"]), "9\n4\n");
    assert_eq!(
        env.berth_ok(&["wait", "--condition", "stopped", "early"]),
        "9\n"
    );
    let output = env.berth(&["wait", "--condition", "sleeping", "early"]);
    assert_eq!(exit_code(&output), 125);
}

#[test]
fn events_record_the_lifecycle() {
    let env = TestEnv::with_busybox();
    assert_eq!(
        exit_code(&env.berth(&["run", "--name", "ev", "busybox", "sh", "-c", "exit 6"])),
        6
    );
    env.berth_ok(&["rm", "ev"]);
    let lines = env.berth_ok(&[
        "events",
        "--stream=false",
        "--filter",
        "container=ev",
        "--format",
        "{{.Status}}",
    ]);
    let statuses: Vec<&str> = lines.lines().collect();
    for expected in ["create", "init", "start", "died", "remove"] {
        assert!(
            statuses.contains(&expected),
            "{expected} missing from {statuses:?}"
        );
    }
    let json = env.berth_ok(&[
        "events",
        "--stream=false",
        "--filter",
        "event=died",
        "--format",
        "json",
    ]);
    let event: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(event["Name"], "ev");
    assert_eq!(event["ContainerExitCode"], 6);
    assert_eq!(
        env.berth_ok(&[
            "events",
            "--stream=false",
            "--since",
            "2099-01-01T00:00:00Z"
        ]),
        ""
    );
}

#[test]
fn killed_conmon_is_seen_as_exited() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["run", "-d", "--name", "orphan", "busybox", "sleep", "1000"]);
    let monitor = inspect_number(&env, "orphan", ".State.ConmonPid");
    let pid = inspect_number(&env, "orphan", ".State.Pid");
    kill(Pid::from_raw(monitor), Signal::SIGKILL).unwrap();
    let started = Instant::now();
    while std::path::Path::new(&format!("/proc/{monitor}")).exists() {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(status(&env, "orphan"), "exited -1");
    // The container's own process outlived its monitor; rm cleans it up.
    env.berth_ok(&["rm", "-f", "orphan"]);
    let started = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.starts_with("sleep"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "container process {pid} survived rm -f"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn reboot_refresh_makes_containers_startable() {
    let env = TestEnv::with_busybox();
    // Without a network, the simulated reboot below leaves no bridge or
    // firewall rule behind, which only a real reboot would clear.
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "survivor",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    env.berth_ok(&["create", "--name", "fresh", "busybox", "echo", "fresh"]);
    let id = env
        .berth_ok(&["inspect", "--format", "{{.Id}}", "survivor"])
        .trim()
        .to_string();

    // A reboot ends every process and mount and empties the run root.
    for pid in [
        inspect_number(&env, "survivor", ".State.ConmonPid"),
        inspect_number(&env, "survivor", ".State.Pid"),
    ] {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(300));
    let merged = env.root().join("containers").join(&id).join("merged");
    let _ = nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH);
    for cgroup in std::fs::read_dir("/sys/fs/cgroup").unwrap() {
        let _ = std::fs::remove_dir(cgroup.unwrap().path().join("berth").join(&id));
    }
    std::fs::remove_dir_all(env.runroot()).unwrap();
    std::fs::create_dir(env.runroot()).unwrap();

    assert_eq!(status(&env, "survivor"), "exited -1");
    assert_eq!(status(&env, "fresh"), "created 0");
    env.berth_ok(&["start", "survivor"]);
    assert_eq!(status(&env, "survivor"), "running 0");
    env.berth_ok(&["start", "fresh"]);
    assert_eq!(env.berth_ok(&["wait", "fresh"]), "0\n");
}

#[test]
fn parallel_commands_keep_state_consistent() {
    let env = TestEnv::with_busybox();
    let names: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    for name in &names {
        env.berth_ok(&["run", "-d", "--name", name, "busybox", "sleep", "1000"]);
    }
    std::thread::scope(|scope| {
        for (i, name) in names.iter().enumerate() {
            let env = &env;
            scope.spawn(move || {
                for step in 0..2 {
                    let args: Vec<&str> = match (i + step) % 4 {
                        0 => vec!["stop", "-t", "0", name],
                        1 => vec!["start", name],
                        2 => vec!["inspect", name],
                        _ => vec!["ps", "-a"],
                    };
                    let output = env.berth(&args);
                    let stderr = text(&output.stderr);
                    assert!(!stderr.contains("database is locked"), "{stderr}");
                    assert_eq!(exit_code(&output), 0, "{args:?}: {stderr}");
                }
            });
        }
    });
    // Every container ends in a state whose record matches its processes.
    for name in &names {
        let state = status(&env, name);
        let pid = inspect_number(&env, name, ".State.Pid");
        match state.split(' ').next().unwrap() {
            "running" => assert!(
                std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "{name}: {state}"
            ),
            "exited" => assert_eq!(pid, 0, "{name}: {state}"),
            other => panic!("{name} in unexpected state {other}"),
        }
    }
    std::thread::scope(|scope| {
        for name in &names {
            let env = &env;
            scope.spawn(move || env.berth_ok(&["rm", "-f", name]));
        }
    });
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

/// Runs berth with a pause point and SIGKILLs it once it gets there.
fn kill_berth_at(env: &TestEnv, point: &str, args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(env.root())
        .arg("--runroot")
        .arg(env.runroot())
        .args(args)
        .env("BERTH_TEST_PAUSE_AT", point)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("paused at") {
                let _ = sender.send(line);
                return;
            }
        }
    });
    let reached = receiver.recv_timeout(Duration::from_secs(30));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(reached.unwrap(), format!("berth: paused at {point}"));
}

#[test]
fn sigkill_of_berth_mid_operation_is_recoverable() {
    let env = TestEnv::with_busybox();
    kill_berth_at(
        &env,
        "create-after-insert",
        &["create", "--name", "c1", "busybox", "true"],
    );
    kill_berth_at(
        &env,
        "init-after-mount",
        &["run", "-d", "--name", "c2", "busybox", "sleep", "1000"],
    );
    kill_berth_at(
        &env,
        "init-after-monitor",
        &["run", "-d", "--name", "c3", "busybox", "sleep", "1000"],
    );

    // An interrupted init is finished by the next start.
    env.berth_ok(&["start", "c3"]);
    assert_eq!(status(&env, "c3"), "running 0");

    env.berth_ok(&["run", "-d", "--name", "c4", "busybox", "sleep", "1000"]);
    kill_berth_at(&env, "stop-after-kill", &["stop", "-t", "0", "c4"]);
    // SIGKILL was sent before berth died; the process dies on its own time.
    assert_eq!(env.berth_ok(&["wait", "c4"]), "137\n");
    assert_eq!(status(&env, "c4"), "exited 137");

    // Killed after the runtime started the process but before berth
    // recorded it: the next start finds it running.
    kill_berth_at(
        &env,
        "start-after-runtime-start",
        &["run", "-d", "--name", "c6", "busybox", "sleep", "1000"],
    );
    assert_eq!(status(&env, "c6"), "initialized 0");
    assert_eq!(env.berth_ok(&["start", "c6"]), "c6\n");
    assert_eq!(status(&env, "c6"), "running 0");

    env.berth_ok(&["run", "-d", "--name", "c5", "busybox", "sleep", "1000"]);
    kill_berth_at(&env, "remove-after-release", &["rm", "-f", "c5"]);

    for name in ["c1", "c2", "c3", "c4", "c5", "c6"] {
        assert_eq!(env.berth_ok(&["rm", "-f", name]), format!("{name}\n"));
    }
    assert_eq!(env.container_ids(), Vec::<String>::new());
    assert_eq!(
        std::fs::read_dir(env.root().join("containers"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn berth_killed_before_start_byte_creates_nothing() {
    let env = TestEnv::with_busybox();
    // conmon is already running here, waiting for its start byte.
    kill_berth_at(
        &env,
        "init-after-mount",
        &["run", "-d", "--name", "early", "busybox", "sleep", "1000"],
    );
    let id = env.container_ids().pop().unwrap();

    // conmon dies with berth. Otherwise it would read the end of its start
    // pipe as the start byte, fork its monitor process, which writes the
    // pid file, and try to create the container.
    std::thread::sleep(Duration::from_millis(500));
    let monitor_pid_file = env.runroot().join("pids").join(format!("{id}.conmon.pid"));
    assert!(
        !monitor_pid_file.exists(),
        "{} exists",
        monitor_pid_file.display()
    );
    let runtime_state = env.runroot().join("runtime/crun").join(&id);
    assert!(
        !runtime_state.exists(),
        "{} exists",
        runtime_state.display()
    );

    env.berth_ok(&["start", "early"]);
    assert_eq!(status(&env, "early"), "running 0");
    env.berth_ok(&["rm", "-f", "early"]);
}

#[test]
fn restart_policy_spares_user_kill() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "killed",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "1000",
    ]);
    env.berth_ok(&["kill", "killed"]);
    assert_eq!(env.berth_ok(&["wait", "killed"]), "137\n");
    // Give a restart, which must not happen, a chance to show.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(status(&env, "killed"), "exited 137");
    assert_eq!(inspect_number(&env, "killed", ".RestartCount"), 0);
}

#[test]
fn events_record_image_changes() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["tag", "busybox", "other:1"]);
    env.berth_ok(&["rmi", "other:1"]);
    let statuses = env.berth_ok(&[
        "events",
        "--stream=false",
        "--filter",
        "type=image",
        "--format",
        "{{.Status}} {{.Name}}",
    ]);
    assert_eq!(
        statuses,
        "import localhost/busybox:latest\ntag other:1\nuntag localhost/other:1\n"
    );
    let output = env.berth(&["events", "--stream=false", "--format", "{{.Bogus}}"]);
    assert_eq!(exit_code(&output), 125);
}
