//! `berth exec` against real conmon with crun and runc: exit codes, user,
//! working directory, environment, stdin, terminals, detached sessions,
//! sessions ended by `stop`, concurrency, and bad input.
mod common;

use std::time::{Duration, Instant};

use common::{exit_code, text, TestEnv};

const RUNTIMES: [&str; 2] = ["crun", "runc"];

/// Creates an environment with the busybox image and one running container per
/// runtime, named after the runtime.
fn env_with_containers() -> TestEnv {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    for runtime in RUNTIMES {
        env.berth_ok(&[
            "run",
            "-d",
            "--name",
            runtime,
            "--runtime",
            runtime,
            "-e",
            "FROM_RUN=run",
            "busybox",
            "sleep",
            "1000",
        ]);
    }
    env
}

#[test]
fn exec_returns_command_exit_code() {
    let env = env_with_containers();
    for runtime in RUNTIMES {
        for code in [0, 1, 7, 255] {
            let output = env.berth(&["exec", runtime, "sh", "-c", &format!("exit {code}")]);
            assert_eq!(
                exit_code(&output),
                code,
                "{runtime}: {}",
                text(&output.stderr)
            );
        }
    }
}

#[test]
fn exec_missing_command_exits_127() {
    let env = env_with_containers();
    for runtime in RUNTIMES {
        let output = env.berth(&["exec", runtime, "no-such-command"]);
        assert_eq!(
            exit_code(&output),
            127,
            "{runtime}: {}",
            text(&output.stderr)
        );
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with("Error: "), "{runtime}: {stderr}");
        assert!(stderr.contains("no-such-command"), "{runtime}: {stderr}");
    }
    assert_no_sessions(&env);
}

#[test]
fn exec_non_executable_exits_126() {
    let env = env_with_containers();
    for runtime in RUNTIMES {
        for command in ["/etc", "/etc/passwd"] {
            let output = env.berth(&["exec", runtime, command]);
            assert_eq!(
                exit_code(&output),
                126,
                "{runtime} {command}: {}",
                text(&output.stderr)
            );
        }
    }
    assert_no_sessions(&env);
}

#[test]
fn exec_separates_stdout_and_stderr() {
    let env = env_with_containers();
    for runtime in RUNTIMES {
        let output = env.berth(&["exec", runtime, "sh", "-c", "echo out; echo err >&2"]);
        assert_eq!(exit_code(&output), 0, "{runtime}");
        assert_eq!(text(&output.stdout), "out\n", "{runtime}");
        assert_eq!(text(&output.stderr), "err\n", "{runtime}");
    }
}

#[test]
fn exec_user_nobody_runs_as_65534() {
    let env = env_with_containers();
    for runtime in RUNTIMES {
        let stdout = env.berth_ok(&["exec", "-u", "nobody", runtime, "id"]);
        assert_eq!(
            stdout, "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n",
            "{runtime}"
        );
        let stdout = env.berth_ok(&["exec", "-u", "berthuser:wheel", runtime, "id"]);
        assert_eq!(
            stdout, "uid=1000(berthuser) gid=10(wheel) groups=10(wheel)\n",
            "{runtime}"
        );
    }
}

#[test]
fn exec_workdir_and_default_cwd() {
    let env = env_with_containers();
    for runtime in RUNTIMES {
        assert_eq!(
            env.berth_ok(&["exec", "-w", "/tmp", runtime, "pwd"]),
            "/tmp\n"
        );
        assert_eq!(env.berth_ok(&["exec", runtime, "pwd"]), "/\n");
    }
}

#[test]
fn exec_env_overrides_container_env() {
    let env = env_with_containers();
    let env_file = env.dir().join("vars");
    std::fs::write(&env_file, "# comment\nFROM_FILE=file\nFROM_RUN=file\n").unwrap();
    for runtime in RUNTIMES {
        let script = "echo $FROM_RUN $FROM_FILE $NEW; env | grep -c '^FROM_RUN='";
        let stdout = env.berth_ok(&["exec", runtime, "sh", "-c", script]);
        assert_eq!(stdout, "run\n1\n", "{runtime}");

        let stdout = env.berth_ok(&[
            "exec",
            "--env-file",
            env_file.to_str().unwrap(),
            "-e",
            "NEW=flag",
            "-e",
            "FROM_FILE=flag",
            runtime,
            "sh",
            "-c",
            script,
        ]);
        assert_eq!(stdout, "file flag flag\n1\n", "{runtime}");
    }
}

#[test]
fn exec_interactive_pipes_binary_stdin_exactly() {
    let env = env_with_containers();
    // 5 MiB of pseudo-random bytes (xorshift), with every byte value.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let input: Vec<u8> = (0..5 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    for runtime in RUNTIMES {
        let output = env.berth_stdin(&["exec", "-i", runtime, "cat"], &input);
        assert_eq!(exit_code(&output), 0, "{runtime}: {}", text(&output.stderr));
        assert_eq!(output.stdout.len(), input.len(), "{runtime}");
        assert!(output.stdout == input, "{runtime}: stdin came back changed");
    }
}

#[test]
fn exec_output_without_trailing_newline() {
    let env = env_with_containers();
    for runtime in RUNTIMES {
        let stdout = env.berth_ok(&["exec", runtime, "printf", "no newline"]);
        assert_eq!(stdout, "no newline", "{runtime}");
    }
}

#[test]
fn exec_without_interactive_gives_no_stdin() {
    let env = env_with_containers();
    let output = env.berth_stdin(&["exec", "crun", "cat"], b"ignored");
    assert_eq!(exit_code(&output), 0);
    assert_eq!(text(&output.stdout), "");
}

#[test]
fn exec_tty_gives_a_terminal() {
    let env = env_with_containers();
    for runtime in RUNTIMES {
        let stdout = env.berth_ok(&[
            "exec",
            "-t",
            runtime,
            "sh",
            "-c",
            "test -t 0 && test -t 1 && echo yes",
        ]);
        // The terminal turns \n into \r\n.
        assert_eq!(stdout, "yes\r\n", "{runtime}");
        let stdout = env.berth_ok(&["exec", runtime, "sh", "-c", "tty || true"]);
        assert_eq!(stdout, "not a tty\n", "{runtime}");
    }
}

#[test]
fn exec_detached_session_shown_in_inspect() {
    let env = env_with_containers();
    for runtime in RUNTIMES {
        let session = env.berth_ok(&["exec", "-d", runtime, "sh", "-c", "sleep 0.5; exit 3"]);
        let session = session.trim();
        assert_eq!(session.len(), 64, "{runtime}: {session:?}");

        let ids = env.berth_ok(&["inspect", "--format", "{{.ExecIDs}}", runtime]);
        assert_eq!(ids, format!("[{session}]\n"), "{runtime}");
        let running = env.berth_ok(&["exec-inspect", "--format", "{{.Running}}", session]);
        assert_eq!(running, "true\n", "{runtime}");

        let deadline = Instant::now() + Duration::from_secs(10);
        let state = loop {
            let state = env.berth_ok(&[
                "exec-inspect",
                "--format",
                "{{.Running}} {{.ExitCode}} {{.ContainerID}}",
                session,
            ]);
            if !state.starts_with("true") || Instant::now() > deadline {
                break state;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let container_id = env
            .berth_ok(&["inspect", "--format", "{{.Id}}", runtime])
            .trim()
            .to_string();
        assert_eq!(state, format!("false 3 {container_id}\n"), "{runtime}");
        let ids = env.berth_ok(&["inspect", "--format", "{{.ExecIDs}}", runtime]);
        assert_eq!(ids, format!("[{session}]\n"), "{runtime}");
    }
}

#[test]
fn exec_session_ended_by_stop() {
    let env = env_with_containers();
    for runtime in RUNTIMES {
        let session = env.berth_ok(&["exec", "-d", runtime, "sleep", "1000"]);
        let session = session.trim();
        let started = Instant::now();
        env.berth_ok(&["stop", "-t", "2", runtime]);
        // The container's sleep is PID 1 and ignores SIGTERM, so stop
        // waits its 2 s; the exec session must not add to that.
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{runtime}: stop took {:?}",
            started.elapsed()
        );
        let state = env.berth_ok(&[
            "exec-inspect",
            "--format",
            "{{.Running}} {{.ExitCode}}",
            session,
        ]);
        // SIGTERM ends the exec'd sleep: 128 + 15.
        assert_eq!(state, "false 143\n", "{runtime}");
    }
}

#[test]
fn exec_attached_session_ended_by_stop() {
    let env = env_with_containers();
    let exec = std::thread::scope(|scope| {
        let exec = scope.spawn(|| env.berth(&["exec", "crun", "sleep", "1000"]));
        let deadline = Instant::now() + Duration::from_secs(10);
        while env.berth_ok(&["inspect", "--format", "{{.ExecIDs}}", "crun"]) == "[]\n" {
            assert!(Instant::now() < deadline, "the exec session never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        env.berth_ok(&["stop", "-t", "2", "crun"]);
        exec.join().unwrap()
    });
    assert_eq!(exit_code(&exec), 143, "{}", text(&exec.stderr));
    // Attached sessions are forgotten once their exit code is delivered.
    let ids = env.berth_ok(&["inspect", "--format", "{{.ExecIDs}}", "crun"]);
    assert_eq!(ids, "[]\n");
}

#[test]
fn concurrent_execs_keep_their_exit_codes() {
    let env = env_with_containers();
    let results: Vec<(i32, i32, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=20)
            .map(|code| {
                let env = &env;
                scope.spawn(move || {
                    let script = format!("echo {code}; exit {code}");
                    let output = env.berth(&["exec", "crun", "sh", "-c", &script]);
                    (code, exit_code(&output), text(&output.stdout))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (code, exit, stdout) in results {
        assert_eq!(exit, code);
        assert_eq!(stdout, format!("{code}\n"));
    }
    assert_no_sessions(&env);
}

#[test]
fn exec_into_stopped_container_exits_125() {
    let env = env_with_containers();
    env.berth_ok(&["stop", "-t", "0", "crun"]);
    let output = env.berth(&["exec", "crun", "true"]);
    assert_eq!(exit_code(&output), 125);
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("Error: container crun (")
            && stderr.ends_with(") is exited: cannot exec into it: start it first\n"),
        "{stderr}"
    );

    env.berth_ok(&["create", "--name", "created", "busybox", "true"]);
    let output = env.berth(&["exec", "created", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert_no_sessions(&env);
}

#[test]
fn exec_bad_input_exits_125_without_session() {
    let env = env_with_containers();
    let cases: [(&[&str], &str); 6] = [
        (&["exec", "no-such-container", "true"], "Error: no such container: no-such-container\n"),
        (
            &["exec", "crun"],
            "Error: no command given to exec in container crun: put the command and its arguments after the container name\n",
        ),
        (
            &["exec", "-u", "nosuchuser", "crun", "true"],
            "Error: unable to find user nosuchuser: no matching entries in the container's /etc/passwd\n",
        ),
        (
            &["exec", "-w", "/no/such/dir", "crun", "true"],
            "Error: workdir \"/no/such/dir\" does not exist in container crun: create it or choose another --workdir\n",
        ),
        (
            &["exec", "-w", "relative", "crun", "true"],
            "Error: invalid --workdir \"relative\": the working directory must be an absolute path\n",
        ),
        (
            &["exec", "--cap-add", "NOT_A_CAP", "crun", "true"],
            "Error: unknown capability \"NOT_A_CAP\": use a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL\n",
        ),
    ];
    for (args, expected) in cases {
        let output = env.berth(args);
        assert_eq!(exit_code(&output), 125, "{args:?}");
        assert_eq!(text(&output.stderr), expected, "{args:?}");
    }
    assert_no_sessions(&env);
}

#[test]
fn exec_preserve_fds_passes_fd_three() {
    let env = env_with_containers();
    let file = env.dir().join("input");
    std::fs::write(&file, "from fd three\n").unwrap();
    for runtime in RUNTIMES {
        // The shell opens fd 3 for berth; the harness cannot pass fds.
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" --root "$1" --runroot "$2" exec --preserve-fds 1 "$3" sh -c 'cat <&3' 3<"$4""#)
            .arg(env!("CARGO_BIN_EXE_berth"))
            .arg(env.root())
            .arg(env.runroot())
            .arg(runtime)
            .arg(&file)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(exit_code(&output), 0, "{runtime}: {}", text(&output.stderr));
        assert_eq!(text(&output.stdout), "from fd three\n", "{runtime}");
    }
}

#[test]
fn exec_preserve_fds_needs_open_fds() {
    let env = env_with_containers();
    let output = env.berth(&["exec", "--preserve-fds", "40", "crun", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).starts_with("Error: invalid --preserve-fds 40: file descriptor "),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn exec_privileged_and_cap_add_change_capabilities() {
    let env = env_with_containers();
    let bounding = |args: &[&str]| {
        let mut full = vec!["exec"];
        full.extend_from_slice(args);
        full.extend(["crun", "sh", "-c", "grep CapBnd /proc/self/status"]);
        env.berth_ok(&full)
    };
    // Podman's default set, then with NET_ADMIN (bit 12) added.
    assert_eq!(bounding(&[]), "CapBnd:\t00000000800405fb\n");
    assert_eq!(
        bounding(&["--cap-add", "NET_ADMIN"]),
        "CapBnd:\t00000000800415fb\n"
    );
    let privileged = bounding(&["--privileged"]);
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let host_bounding = host.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    assert_eq!(privileged, format!("{host_bounding}\n"));
}

/// Checks that no exec session of any container is recorded.
fn assert_no_sessions(env: &TestEnv) {
    for id in env.container_ids() {
        let ids = env.berth_ok(&["inspect", "--format", "{{.ExecIDs}}", &id]);
        assert_eq!(ids, "[]\n", "container {id}");
    }
    let exec_dir = env.runroot().join("exec");
    let leftovers: Vec<_> = std::fs::read_dir(&exec_dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "session directories left: {leftovers:?}"
    );
}

/// Runs `berth ARGS` on a pseudo-terminal of 30x100 that becomes 40x120
/// after a second (with SIGWINCH to berth), and returns what it printed.
/// Python's pty module does the terminal work.
const WINDOW_CHANGE_SCRIPT: &str = r#"
import os, pty, fcntl, termios, struct, time, signal, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
time.sleep(1.0)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
os.kill(pid, signal.SIGWINCH)
out = b""
deadline = time.time() + 20
while time.time() < deadline:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
os.waitpid(pid, 0)
sys.stdout.write(out.decode())
"#;

#[test]
fn exec_tty_follows_window_changes() {
    let env = env_with_containers();
    let script = env.dir().join("winch.py");
    std::fs::write(&script, WINDOW_CHANGE_SCRIPT).unwrap();
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_berth"))
        .args([
            "--root",
            env.root().to_str().unwrap(),
            "--runroot",
            env.runroot().to_str().unwrap(),
        ])
        .args([
            "exec",
            "-t",
            "crun",
            "sh",
            "-c",
            "stty size; sleep 2; stty size",
        ])
        .output()
        .unwrap();
    assert_eq!(
        text(&output.stdout),
        "30 100\r\r\n40 120\r\r\n",
        "{}",
        text(&output.stderr)
    );
}
