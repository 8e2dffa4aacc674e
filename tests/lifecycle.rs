//! Container lifecycle through the CLI: create, start, ps, inspect, logs,
//! wait, stop, kill, rm, rename, and the errors for bad names and ids.
mod common;

use common::{exit_code, text, TestEnv};

fn state(env: &TestEnv, name: &str) -> String {
    env.berth_ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        name,
    ])
    .trim()
    .to_string()
}

#[test]
fn states_follow_create_start_exit_rm() {
    let env = TestEnv::with_busybox();
    // The container exits with 3 once the test creates /ctl/go.
    let control = env.dir().join("control");
    std::fs::create_dir(&control).unwrap();
    let volume = format!("{}:/ctl", control.display());
    let id = env.berth_ok(&[
        "create",
        "--name",
        "job",
        "-v",
        &volume,
        "busybox",
        "sh",
        "-c",
        "until [ -e /ctl/go ]; do sleep 0.05; done; exit 3",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    assert_eq!(state(&env, "job"), "created 0");
    assert_eq!(
        env.berth_ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]),
        "job created\n"
    );
    assert_eq!(env.berth_ok(&["ps", "--format", "{{.Names}}"]), "");

    assert_eq!(env.berth_ok(&["start", "job"]), "job\n");
    assert_eq!(state(&env, "job"), "running 0");
    assert_eq!(
        env.berth_ok(&["ps", "--format", "{{.Names}} {{.State}}"]),
        "job running\n"
    );
    let pid: i32 = env
        .berth_ok(&["inspect", "--format", "{{.State.Pid}}", "job"])
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 0);

    std::fs::write(control.join("go"), "").unwrap();
    assert_eq!(env.berth_ok(&["wait", "job"]), "3\n");
    assert_eq!(state(&env, "job"), "exited 3");
    assert_eq!(
        env.berth_ok(&["inspect", "--format", "{{.State.Pid}}", "job"]),
        "0\n"
    );
    assert!(env.berth_ok(&["ps", "-a"]).contains("Exited (3)"));

    assert_eq!(env.berth_ok(&["rm", "job"]), "job\n");
    let output = env.berth(&["inspect", "job"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(text(&output.stderr), "Error: no such object: \"job\"\n");
}

#[test]
fn exited_container_can_start_again() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["run", "--name", "again", "busybox", "echo", "hi"]);
    env.berth_ok(&["start", "again"]);
    assert_eq!(env.berth_ok(&["wait", "again"]), "0\n");
    assert_eq!(env.berth_ok(&["logs", "again"]), "hi\nhi\n");
}

#[test]
fn logs_survive_exit_and_reassemble_partial_lines() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "run",
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "echo first; printf 'part'; sleep 0.1; printf 'ial\\n'; echo last; printf tail",
    ]);
    assert_eq!(
        env.berth_ok(&["logs", "talk"]),
        "first\npartial\nlast\ntail"
    );
    assert_eq!(env.berth_ok(&["logs", "--tail", "2", "talk"]), "last\ntail");
    let stamped = env.berth_ok(&["logs", "-t", "talk"]);
    let first = stamped.lines().next().unwrap();
    let (time, rest) = first.split_once(' ').unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok(),
        "{first}"
    );
    assert_eq!(rest, "first");
    assert_eq!(
        env.berth_ok(&["logs", "--since", "2099-01-01T00:00:00Z", "talk"]),
        ""
    );
}

#[test]
fn logs_follow_ends_when_container_exits() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "busybox",
        "sh",
        "-c",
        "echo a; sleep 1; echo b",
    ]);
    assert_eq!(env.berth_ok(&["logs", "-f", "slow"]), "a\nb\n");
}

#[test]
fn stop_sends_signal_then_kill() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "trapper",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' TERM; while true; do sleep 0.1; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(env.berth_ok(&["stop", "trapper"]), "trapper\n");
    assert_eq!(state(&env, "trapper"), "exited 7");

    env.berth_ok(&[
        "run", "-d", "--name", "stubborn", "busybox", "sleep", "1000",
    ]);
    assert_eq!(env.berth_ok(&["stop", "-t", "1", "stubborn"]), "stubborn\n");
    assert_eq!(state(&env, "stubborn"), "exited 137");

    // Stopping a stopped container succeeds quietly.
    assert_eq!(env.berth_ok(&["stop", "stubborn"]), "stubborn\n");
}

#[test]
fn stop_signal_option_is_used() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "usr",
        "--stop-signal",
        "USR1",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 10' USR1; while true; do sleep 0.1; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    env.berth_ok(&["stop", "usr"]);
    assert_eq!(state(&env, "usr"), "exited 10");
}

#[test]
fn kill_sends_named_signal() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["run", "-d", "--name", "k", "busybox", "sleep", "1000"]);
    assert_eq!(env.berth_ok(&["kill", "-s", "sigkill", "k"]), "k\n");
    assert_eq!(env.berth_ok(&["wait", "k"]), "137\n");

    let output = env.berth(&["kill", "-s", "NOPE", "k"]);
    assert_eq!(exit_code(&output), 125);
    assert!(text(&output.stderr).contains("invalid signal \"NOPE\""));

    let output = env.berth(&["kill", "k"]);
    assert_eq!(exit_code(&output), 125, "killing an exited container");
}

#[test]
fn rm_refuses_running_container_without_force() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "1000"]);
    let output = env.berth(&["rm", "busy"]);
    assert_eq!(
        exit_code(&output),
        2,
        "Podman's code for a running container"
    );
    assert!(
        text(&output.stderr).contains("stop it first or use --force"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(env.berth_ok(&["rm", "-f", "busy"]), "busy\n");
    // Forcing the removal of a container that does not exist is quiet.
    assert_eq!(env.berth_ok(&["rm", "-f", "busy"]), "");
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn rm_all_removes_every_container() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["create", "busybox", "true"]);
    env.berth_ok(&["run", "-d", "busybox", "sleep", "1000"]);
    env.berth_ok(&["run", "busybox", "true"]);
    assert_eq!(env.container_ids().len(), 3);
    env.berth_ok(&["rm", "-af"]);
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn names_are_reusable_after_rm_and_rename() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["create", "--name", "first", "busybox", "true"]);
    env.berth_ok(&["rm", "first"]);
    env.berth_ok(&["create", "--name", "first", "busybox", "true"]);
    env.berth_ok(&["rename", "first", "second"]);
    env.berth_ok(&["create", "--name", "first", "busybox", "true"]);
    let mut names: Vec<String> = env
        .berth_ok(&["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(String::from)
        .collect();
    names.sort();
    assert_eq!(names, ["first", "second"]);
    let output = env.berth(&["rename", "second", "first"]);
    assert_eq!(exit_code(&output), 125);
}

#[test]
fn generated_names_are_adjective_noun() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["create", "busybox", "true"]);
    let name = env.berth_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let name = name.trim();
    let parts: Vec<&str> = name.split('_').collect();
    assert_eq!(parts.len(), 2, "{name}");
    assert!(
        parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase())),
        "{name}"
    );
}

#[test]
fn id_prefixes_resolve_or_report_ambiguity() {
    let env = TestEnv::with_busybox();
    let mut ids = Vec::new();
    // Enough containers that two share a first hex digit.
    for _ in 0..17 {
        ids.push(
            env.berth_ok(&["create", "busybox", "true"])
                .trim()
                .to_string(),
        );
    }
    let id = &ids[0];
    assert_eq!(
        env.berth_ok(&["inspect", "--format", "{{.Id}}", &id[..12]])
            .trim(),
        id
    );

    let first_digit = (0..ids.len())
        .find_map(|i| {
            ids.iter()
                .skip(i + 1)
                .find(|other| other[..1] == ids[i][..1])
                .map(|o| o[..1].to_string())
        })
        .unwrap();
    let output = env.berth(&["inspect", &first_digit]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains("is ambiguous"),
        "{}",
        text(&output.stderr)
    );

    let output = env.berth(&["rm", "nosuch"]);
    assert_eq!(
        exit_code(&output),
        1,
        "Podman's code for a missing container"
    );
    assert_eq!(text(&output.stderr), "Error: no such container: nosuch\n");
}

#[test]
fn ps_filters_and_formats() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "create", "--name", "labelled", "--label", "tier=web", "busybox", "true",
    ]);
    env.berth_ok(&["run", "--name", "done", "busybox", "true"]);
    let names =
        |filter: &str| env.berth_ok(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]);
    assert_eq!(names("status=exited"), "done\n");
    assert_eq!(names("status=created"), "labelled\n");
    assert_eq!(names("label=tier=web"), "labelled\n");
    assert_eq!(names("label=tier"), "labelled\n");
    assert_eq!(names("name=don"), "done\n");

    let json: serde_json::Value =
        serde_json::from_str(&env.berth_ok(&["ps", "-a", "--format", "json"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let done = rows.iter().find(|r| r["Names"][0] == "done").unwrap();
    assert_eq!(done["State"], "exited");
    assert_eq!(done["ExitCode"], 0);
    assert_eq!(done["Id"].as_str().unwrap().len(), 64);

    let table = env.berth_ok(&["ps", "-a", "--format", "table {{.Names}} {{.Status}}"]);
    assert!(table.starts_with("NAMES "), "{table}");

    let output = env.berth(&["ps", "--filter", "bogus=1"]);
    assert_eq!(exit_code(&output), 125);
    let output = env.berth(&["ps", "--format", "{{.NoSuchField}}", "-a"]);
    assert_eq!(exit_code(&output), 125);
}

#[test]
fn inspect_shows_podman_fields() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "create", "--name", "shape", "-e", "X=1", "--label", "a=b", "busybox", "echo", "hi",
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&env.berth_ok(&["inspect", "shape"])).unwrap();
    let c = &json[0];
    assert_eq!(c["Name"], "shape");
    assert_eq!(c["Path"], "echo");
    assert_eq!(c["Args"], serde_json::json!(["hi"]));
    assert_eq!(c["State"]["Status"], "created");
    assert_eq!(c["ImageName"], "localhost/busybox:latest");
    assert_eq!(c["Config"]["Labels"]["a"], "b");
    assert!(c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "X=1"));
    assert_eq!(c["OCIRuntime"], "crun");
}

#[test]
fn wait_returns_code_after_rm() {
    let env = TestEnv::with_busybox();
    let id = env.berth_ok(&["run", "-d", "--rm", "busybox", "sh", "-c", "exit 5"]);
    assert_eq!(env.berth_ok(&["wait", id.trim()]), "5\n");
}

#[test]
fn create_error_at_runtime_leaves_nothing() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["create", "--name", "broken", "busybox", "/no/such/binary"]);
    let output = env.berth(&["start", "broken"]);
    assert_eq!(exit_code(&output), 127);
    assert_eq!(state(&env, "broken"), "created 0");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(env.root().to_str().unwrap()),
        "rootfs still mounted"
    );
}

#[test]
fn missing_runtime_is_a_clear_error() {
    let env = TestEnv::with_busybox();
    let output = env.berth(&[
        "run",
        "--rm",
        "--runtime",
        "/no/such/runtime",
        "busybox",
        "true",
    ]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains("/no/such/runtime"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn missing_conmon_is_a_clear_error() {
    let env = TestEnv::with_busybox();
    let output = env.berth(&[
        "--conmon",
        "/no/such/conmon",
        "run",
        "--rm",
        "busybox",
        "true",
    ]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains("conmon not found at /no/such/conmon"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn parallel_runs_do_not_collide() {
    let env = TestEnv::with_busybox();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let env = &env;
                scope.spawn(move || {
                    env.berth(&[
                        "run",
                        "--rm",
                        "busybox",
                        "sh",
                        "-c",
                        &format!("echo {i}; exit {i}"),
                    ])
                })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            let output = handle.join().unwrap();
            assert_eq!(exit_code(&output), i as i32, "{}", text(&output.stderr));
            assert_eq!(text(&output.stdout), format!("{i}\n"));
        }
    });
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn top_lists_processes_with_container_pids() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-u",
        "berthuser",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & exec sleep 999",
    ]);
    // Wait (bounded) until the background sleep has started.
    let started = std::time::Instant::now();
    let listing = loop {
        let listing = env.berth_ok(&["top", "busy", "user,pid,ppid,args"]);
        if listing.lines().count() == 3 || started.elapsed() > std::time::Duration::from_secs(10) {
            break listing;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let rows: Vec<Vec<&str>> = listing
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["USER", "PID", "PPID", "COMMAND"]);
    assert_eq!(rows[1], ["berthuser", "1", "0", "sleep", "999"]);
    assert_eq!(rows[2], ["berthuser", "2", "1", "sleep", "1000"]);

    let output = env.berth(&["top", "busy", "bogus"]);
    assert_eq!(exit_code(&output), 125);
    env.berth_ok(&["stop", "-t", "0", "busy"]);
    let output = env.berth(&["top", "busy"]);
    assert_eq!(exit_code(&output), 125);
}

/// conmon's exit command for a `--rm` container lowers its own CPU priority,
/// so it does not compete with the attached `run` that removes the same
/// container. Other containers' cleanup keeps the normal priority, because it
/// may restart the container, which would inherit it.
#[test]
fn rm_container_cleanup_runs_at_low_priority() {
    let env = TestEnv::with_busybox();
    let exit_command = |extra: &[&str]| {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sleep", "100"]);
        let id = env.berth_ok(&args).trim().to_string();
        let pid = env.berth_ok(&["inspect", "--format", "{{.State.ConmonPid}}", &id]);
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap();
        env.berth_ok(&["rm", "-f", "-t", "0", &id]);
        let args: Vec<String> = cmdline
            .split(|byte| *byte == 0)
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect();
        let cleanup = args.iter().position(|arg| arg == "cleanup").unwrap();
        args[cleanup..]
            .iter()
            .filter(|arg| !arg.is_empty() && arg.as_str() != "--exit-command-arg")
            .cloned()
            .collect::<Vec<_>>()
    };

    let removed = exit_command(&["--rm"]);
    assert_eq!(removed[..2], ["cleanup", "--low-priority"]);
    let normal = exit_command(&[]);
    assert_eq!(normal.len(), 2);
    assert_eq!(normal[0], "cleanup");
}

/// A container that exits at once still finishes no earlier than it started.
#[test]
fn finished_at_is_not_before_started_at() {
    let env = TestEnv::with_busybox();
    for round in 0..5 {
        let name = format!("quick{round}");
        env.berth_ok(&["run", "--name", &name, "busybox", "true"]);
        let times = env.berth_ok(&[
            "inspect",
            "--format",
            "{{.State.StartedAt}}|{{.State.FinishedAt}}",
            &name,
        ]);
        let (started, finished) = times.trim().split_once('|').unwrap();
        let parse = |value: &str| {
            chrono::DateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f %z UTC").unwrap()
        };
        assert!(parse(finished) >= parse(started), "{times}");
    }
}

/// `container inspect` finds containers only; plain `inspect` also finds
/// images.
#[test]
fn container_inspect_ignores_images() {
    let env = TestEnv::with_busybox();
    let output = env.berth(&["container", "inspect", "busybox"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(text(&output.stdout), "[]\n");
    assert_eq!(text(&output.stderr), "Error: no such container: busybox\n");
    let image = env.berth(&["inspect", "--format", "{{.Id}}", "busybox"]);
    assert_eq!(exit_code(&image), 0);
}

#[test]
fn init_creates_the_runtime_container_without_starting_it() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["create", "--name", "early", "busybox", "echo", "hello"]);

    assert_eq!(env.berth_ok(&["init", "early"]), "early\n");
    assert_eq!(
        env.berth_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]),
        "early Initialized\n"
    );
    assert_eq!(state(&env, "early"), "initialized 0");
    assert_eq!(
        env.berth_ok(&["ps", "-a", "--format", "{{.State}} {{.Mounts}}"]),
        "initialized []\n"
    );
    assert_eq!(
        env.berth_ok(&["wait", "--condition", "initialized", "early"]),
        "-1\n"
    );

    // The process waiting to start is a fork of crun, which runs from
    // berth's sealed in-memory copy rather than from a copy of its own.
    let pid = env.berth_ok(&["inspect", "--format", "{{.State.Pid}}", "early"]);
    let exe = std::fs::read_link(format!("/proc/{}/exe", pid.trim())).unwrap();
    assert_eq!(exe.to_string_lossy(), "/memfd:berth-runtime (deleted)");

    let again = env.berth(&["init", "early"]);
    assert_eq!(exit_code(&again), 125);
    assert!(
        text(&again.stderr)
            .contains("is initialized: cannot init: the runtime has already created it"),
        "{}",
        text(&again.stderr)
    );

    assert_eq!(env.berth_ok(&["start", "--attach", "early"]), "hello\n");
    assert_eq!(state(&env, "early"), "exited 0");

    // An exited container can be initialized again, and removed from there.
    assert_eq!(
        env.berth_ok(&["init", "--all"]),
        format!("{}\n", env.container_ids()[0])
    );
    env.berth_ok(&["rm", "early"]);
    assert!(env.container_ids().is_empty());
}

#[test]
fn stop_of_initialized_container_exits_137() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["create", "--name", "waiting", "busybox", "true"]);
    env.berth_ok(&["init", "waiting"]);

    assert_eq!(env.berth_ok(&["stop", "-t", "0", "waiting"]), "waiting\n");
    assert_eq!(state(&env, "waiting"), "exited 137");
    assert_eq!(env.berth_ok(&["start", "--attach", "waiting"]), "");
    assert_eq!(state(&env, "waiting"), "exited 0");
}

#[test]
fn init_of_a_missing_container_fails_with_125() {
    let env = TestEnv::new();
    let output = env.berth(&["init", "nothere"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(text(&output.stderr), "Error: no such container: nothere\n");

    let output = env.berth(&["init"]);
    assert_eq!(exit_code(&output), 125);
}
