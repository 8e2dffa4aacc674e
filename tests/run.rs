//! `berth run` against real conmon with crun and runc: output, exit codes,
//! terminals, stdin, and the options that shape the container.
mod common;

use common::{exit_code, text, TestEnv};

const RUNTIMES: [&str; 2] = ["crun", "runc"];

#[test]
fn run_separates_stdout_and_stderr() {
    let env = TestEnv::with_busybox();
    for runtime in RUNTIMES {
        let output = env.berth(&[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2",
        ]);
        assert_eq!(exit_code(&output), 0, "{runtime}: {}", text(&output.stderr));
        assert_eq!(text(&output.stdout), "out\n", "{runtime}");
        assert_eq!(text(&output.stderr), "err\n", "{runtime}");
    }
}

#[test]
fn run_delivers_large_output_in_order() {
    let env = TestEnv::with_busybox();
    for runtime in RUNTIMES {
        let stdout = env.berth_ok(&[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "busybox",
            "seq",
            "1",
            "50000",
        ]);
        let expected: String = (1..=50000).map(|n| format!("{n}\n")).collect();
        assert_eq!(stdout.len(), expected.len(), "{runtime}");
        assert!(
            stdout == expected,
            "{runtime}: output differs from seq 1 50000"
        );
    }
}

#[test]
fn run_keeps_output_without_trailing_newline() {
    let env = TestEnv::with_busybox();
    let stdout = env.berth_ok(&["run", "--rm", "busybox", "printf", "no newline"]);
    assert_eq!(stdout, "no newline");
}

#[test]
fn run_returns_container_exit_codes() {
    let env = TestEnv::with_busybox();
    for runtime in RUNTIMES {
        for code in [0, 1, 42] {
            let output = env.berth(&[
                "run",
                "--rm",
                "--runtime",
                runtime,
                "busybox",
                "sh",
                "-c",
                &format!("exit {code}"),
            ]);
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
fn run_missing_command_exits_127() {
    let env = TestEnv::with_busybox();
    for runtime in RUNTIMES {
        let output = env.berth(&[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "busybox",
            "no-such-command",
        ]);
        assert_eq!(exit_code(&output), 127, "{runtime}");
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with("Error: "), "{runtime}: {stderr}");
        assert!(stderr.contains("no-such-command"), "{runtime}: {stderr}");
    }
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn run_non_executable_command_exits_126() {
    let env = TestEnv::with_busybox();
    for runtime in RUNTIMES {
        let output = env.berth(&["run", "--rm", "--runtime", runtime, "busybox", "/etc"]);
        assert_eq!(
            exit_code(&output),
            126,
            "{runtime}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn run_unknown_image_exits_125() {
    let env = TestEnv::new();
    let output = env.berth(&["run", "--rm", "nosuchimage", "true"]);
    assert_eq!(exit_code(&output), 125);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "Error: image not found: nosuchimage: it is not in the store, and pulling it failed: "
        ),
        "{stderr}"
    );
    let output = env.berth(&["run", "--rm", "--pull", "never", "nosuchimage", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        "Error: image not found: nosuchimage: pull, load or import it, or check `berth images`\n"
    );
}

#[test]
fn run_bad_flag_exits_125() {
    let env = TestEnv::with_busybox();
    let output = env.berth(&["run", "--no-such-flag", "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
    let output = env.berth(&["run", "--memory", "lots", "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains("invalid --memory \"lots\""),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn run_without_command_exits_125() {
    let env = TestEnv::with_busybox();
    let output = env.berth(&["run", "--rm", "busybox"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        "Error: no command or entrypoint given, and image busybox has no Cmd or Entrypoint: add a command after the image name\n"
    );
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn run_memory_zero_means_no_limit() {
    let env = TestEnv::with_busybox();
    let limit = env.berth_ok(&[
        "run",
        "--rm",
        "--memory",
        "0",
        "busybox",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    // cgroup v1 shows "no limit" as the largest page-aligned value.
    assert_eq!(limit, "9223372036854771712\n");
}

#[test]
fn unknown_log_level_exits_1() {
    let env = TestEnv::new();
    let output = env.berth(&["--log-level", "bogus", "ps"]);
    assert_eq!(exit_code(&output), 1);
    assert_eq!(
        text(&output.stderr),
        "Log Level \"bogus\" is not supported, choose from: trace, debug, info, warn, warning, error, fatal, panic\n"
    );
    assert_eq!(exit_code(&env.berth(&["--log-level", "warning", "ps"])), 0);
}

#[test]
fn run_name_in_use_exits_125() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["create", "--name", "taken", "busybox", "true"]);
    let output = env.berth(&["run", "--name", "taken", "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert!(text(&output.stderr).contains("the container name \"taken\" is already in use"));
    assert_eq!(env.container_ids().len(), 1);
}

#[test]
fn run_invalid_name_exits_125() {
    let env = TestEnv::with_busybox();
    for name in ["-bad", "a/b", "white space"] {
        let flag = format!("--name={name}");
        let output = env.berth(&["run", &flag, "busybox", "true"]);
        assert_eq!(exit_code(&output), 125, "{name}");
        assert!(
            text(&output.stderr).contains(&format!("invalid container name {name:?}")),
            "{name}"
        );
    }
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn run_unknown_flag_is_not_an_image() {
    let env = TestEnv::with_busybox();
    let output = env.berth(&["run", "--bogus", "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).starts_with("error: unexpected argument '--bogus' found"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn run_read_only_keeps_tmp_writable() {
    let env = TestEnv::with_busybox();
    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "--read-only",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/a /var/tmp/b /run/c && echo ok",
    ]);
    assert_eq!(stdout, "ok\n");
    let output = env.berth(&[
        "run",
        "--rm",
        "--read-only",
        "--read-only-tmpfs=false",
        "busybox",
        "touch",
        "/tmp/a",
    ]);
    assert_eq!(exit_code(&output), 1);
}

#[test]
fn run_pids_limit_defaults_and_unlimited() {
    let env = TestEnv::with_busybox();
    let read = |args: &[&str]| {
        let mut full = vec!["run", "--rm"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["busybox", "cat", "/sys/fs/cgroup/pids/pids.max"]);
        env.berth_ok(&full)
    };
    assert_eq!(read(&[]), "2048\n");
    assert_eq!(read(&["--pids-limit", "-1"]), "max\n");
}

#[test]
fn run_rm_leaves_nothing() {
    let env = TestEnv::with_busybox();
    for runtime in RUNTIMES {
        env.berth_ok(&["run", "--rm", "--runtime", runtime, "busybox", "true"]);
    }
    assert_eq!(env.container_ids(), Vec::<String>::new());
    let containers = env.root().join("containers");
    let left: Vec<_> = std::fs::read_dir(&containers).unwrap().collect();
    assert!(left.is_empty(), "container dirs left: {left:?}");

    // The files wait in the trash for conmon's cleanup process, which
    // deletes them after `run` has returned.
    let trash = env.root().join("trash");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_dir(&trash).is_ok_and(|mut entries| entries.next().is_some()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the trash was not emptied"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn wait_after_auto_removal_gives_exit_code() {
    let env = TestEnv::with_busybox();
    let id = env.berth_ok(&["run", "-d", "--rm", "busybox", "sh", "-c", "exit 5"]);
    let id = id.trim();

    // conmon's cleanup removes the container without anyone waiting.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !env.container_ids().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the container was not removed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    assert_eq!(env.berth_ok(&["wait", id]), "5\n");
    assert_eq!(env.berth_ok(&["wait", &id[..12]]), "5\n");
    let output = env.berth(&["wait", "nothere"]);
    assert_eq!(exit_code(&output), 125);
}

#[test]
fn rm_keeps_container_whose_files_stay() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["run", "--name", "sticky", "busybox", "touch", "/kept"]);
    let id = env.container_ids().pop().unwrap();
    let immutable_file = env.root().join("containers").join(&id).join("upper/kept");
    // An immutable file cannot be deleted, not even by root.
    let chattr = std::process::Command::new("chattr")
        .arg("+i")
        .arg(&immutable_file)
        .status();
    if !chattr.is_ok_and(|status| status.success()) {
        eprintln!(
            "skipped: the file system of {} has no immutable flag",
            immutable_file.display()
        );
        return;
    }

    let output = env.berth(&["rm", "sticky"]);
    let _ = std::process::Command::new("chattr")
        .arg("-i")
        .arg(&immutable_file)
        .status();
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains("Operation not permitted"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(env.container_ids(), vec![id]);
    env.berth_ok(&["rm", "sticky"]);
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn rm_deletes_container_files_at_once() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["run", "--name", "done", "busybox", "true"]);
    env.berth_ok(&["rm", "done"]);

    // rm deletes in place; only run --rm goes through the trash.
    let trash = env.root().join("trash");
    assert!(!trash.exists(), "{} exists", trash.display());
    let containers: Vec<_> = std::fs::read_dir(env.root().join("containers"))
        .unwrap()
        .collect();
    assert!(containers.is_empty(), "container dirs left: {containers:?}");
}

#[test]
fn run_tty_gives_a_terminal() {
    let env = TestEnv::with_busybox();
    for runtime in RUNTIMES {
        let stdout = env.berth_ok(&[
            "run",
            "--rm",
            "-t",
            "--runtime",
            runtime,
            "busybox",
            "sh",
            "-c",
            "tty; echo $TERM",
        ]);
        assert_eq!(stdout, "/dev/pts/0\r\nxterm\r\n", "{runtime}");
    }
    let stdout = env.berth_ok(&["run", "--rm", "busybox", "sh", "-c", "tty || true"]);
    assert_eq!(stdout, "not a tty\n");
}

#[test]
fn run_interactive_forwards_stdin_until_eof() {
    let env = TestEnv::with_busybox();
    let input: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let output = env.berth_stdin(&["run", "--rm", "-i", "busybox", "cat"], &input);
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    assert!(
        output.stdout == input,
        "stdin came back changed: {} bytes",
        output.stdout.len()
    );
}

#[test]
fn run_without_interactive_gives_no_stdin() {
    let env = TestEnv::with_busybox();
    let output = env.berth_stdin(&["run", "--rm", "busybox", "cat"], b"ignored");
    assert_eq!(exit_code(&output), 0);
    assert_eq!(text(&output.stdout), "");
}

#[test]
fn run_applies_env_workdir_user_hostname() {
    let env = TestEnv::with_busybox();
    let env_file = env.dir().join("vars");
    std::fs::write(&env_file, "# comment\nFROM_FILE=yes\nB=file\n").unwrap();
    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "-e",
        "A=1",
        "-e",
        "B=flag",
        "--env-file",
        env_file.to_str().unwrap(),
        "-w",
        "/tmp",
        "-u",
        "berthuser",
        "--hostname",
        "box",
        "busybox",
        "sh",
        "-c",
        "echo $A $B $FROM_FILE; pwd; id; hostname; cat /etc/hostname",
    ]);
    assert_eq!(
        stdout,
        "1 flag yes\n/tmp\nuid=1000(berthuser) gid=1000(berthuser) groups=10(wheel),1000(berthuser)\nbox\nbox\n"
    );
}

#[test]
fn run_entrypoint_replaces_command() {
    let env = TestEnv::with_busybox();
    let stdout = env.berth_ok(&["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"]);
    assert_eq!(stdout, "a b\n");
    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        r#"["sh","-c"]"#,
        "busybox",
        "echo json",
    ]);
    assert_eq!(stdout, "json\n");
}

#[test]
fn run_unknown_user_exits_126() {
    let env = TestEnv::with_busybox();
    let output = env.berth(&["run", "--rm", "-u", "nobody-here", "busybox", "true"]);
    assert_eq!(exit_code(&output), 126);
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("Error: unable to find user nobody-here: no matching entries in the container's /etc/passwd: "),
        "{stderr}"
    );
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn run_bind_mounts_and_read_only() {
    let env = TestEnv::with_busybox();
    let data = env.dir().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("in.txt"), "from host\n").unwrap();
    let rw = format!("{}:/data", data.display());
    let ro = format!("{}:/ro:ro", data.display());

    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "-v",
        &ro,
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt; echo new > /data/out.txt; echo x > /ro/x 2>/dev/null || echo ro-refused",
    ]);
    assert_eq!(stdout, "from host\nro-refused\n");
    assert_eq!(
        std::fs::read_to_string(data.join("out.txt")).unwrap(),
        "new\n"
    );

    let output = env.berth(&["run", "--rm", "--read-only", "busybox", "touch", "/newfile"]);
    assert_eq!(exit_code(&output), 1);
    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "touch /scratch/f && echo ok",
    ]);
    assert_eq!(stdout, "ok\n");
}

#[test]
fn run_missing_volume_source_exits_125() {
    let env = TestEnv::with_busybox();
    let output = env.berth(&["run", "--rm", "-v", "/no/such/dir:/data", "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains("/no/such/dir"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn run_capabilities_follow_flags() {
    let env = TestEnv::with_busybox();
    let capeff = |args: &[&str]| {
        let mut full = vec!["run", "--rm"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["busybox", "sh", "-c", "grep CapEff /proc/self/status"]);
        env.berth_ok(&full)
    };
    // Podman's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL
    // NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT.
    assert_eq!(capeff(&[]), "CapEff:\t00000000800405fb\n");
    assert_eq!(
        capeff(&["--cap-drop", "ALL"]),
        "CapEff:\t0000000000000000\n"
    );
    assert_eq!(
        capeff(&["--cap-drop", "ALL", "--cap-add", "net_admin"]),
        "CapEff:\t0000000000001000\n"
    );
}

#[test]
fn run_limits_are_applied() {
    let env = TestEnv::with_busybox();
    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=512:1024",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn",
    ]);
    assert_eq!(stdout, "512\n1024\n");
    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "--pids-limit",
        "33",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    assert_eq!(stdout, "33\n67108864\n");
}

#[test]
fn run_default_nofile_fits_host_hard_limit() {
    let env = TestEnv::with_busybox();
    let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap()
        .1;
    let stdout = env.berth_ok(&["run", "--rm", "busybox", "sh", "-c", "ulimit -Hn"]);
    assert_eq!(stdout.trim().parse::<u64>().unwrap(), hard.min(1_048_576));
}

#[test]
fn run_detached_prints_id_and_keeps_logs() {
    let env = TestEnv::with_busybox();
    let id = env.berth_ok(&["run", "-d", "busybox", "sh", "-c", "echo one; echo two >&2"]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    assert_eq!(env.berth_ok(&["wait", id]), "0\n");
    let output = env.berth(&["logs", id]);
    assert_eq!(text(&output.stdout), "one\n");
    assert_eq!(text(&output.stderr), "two\n");
}

#[test]
fn run_init_reaps_as_pid_one() {
    let env = TestEnv::with_busybox();
    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert!(stdout.starts_with("/run/berth-init"), "{stdout}");
}

#[test]
fn run_security_options_apply() {
    let env = TestEnv::with_busybox();
    let status = |args: &[&str]| {
        let mut full = vec!["run", "--rm"];
        full.extend_from_slice(args);
        full.extend_from_slice(&[
            "busybox",
            "sh",
            "-c",
            "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
        ]);
        env.berth_ok(&full)
    };
    assert_eq!(status(&[]), "NoNewPrivs:\t0\nSeccomp:\t2\n");
    assert_eq!(
        status(&["--security-opt", "no-new-privileges"]),
        "NoNewPrivs:\t1\nSeccomp:\t2\n"
    );
    assert_eq!(status(&["--privileged"]), "NoNewPrivs:\t0\nSeccomp:\t0\n");
    assert_eq!(
        status(&["--security-opt", "seccomp=unconfined"]),
        "NoNewPrivs:\t0\nSeccomp:\t0\n"
    );
    // berth sets no SELinux label or AppArmor profile, so these are no-ops.
    assert_eq!(
        status(&[
            "--security-opt",
            "label=disable",
            "--security-opt",
            "apparmor=unconfined"
        ]),
        "NoNewPrivs:\t0\nSeccomp:\t2\n"
    );
    let output = env.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "apparmor=custom",
        "busybox",
        "true",
    ]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        "Error: --security-opt apparmor=custom is not supported yet\n"
    );
}

#[test]
fn run_seccomp_profile_from_file() {
    let env = TestEnv::with_busybox();
    let profile = env.dir().join("deny-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )
    .unwrap();
    let option = format!("seccomp={}", profile.display());

    let output = env.berth(&[
        "run",
        "--rm",
        "--security-opt",
        &option,
        "busybox",
        "mkdir",
        "/new",
    ]);
    assert_eq!(exit_code(&output), 1);
    assert_eq!(
        text(&output.stderr),
        "mkdir: can't create directory '/new': Permission denied\n"
    );
    let id = env.berth_ok(&[
        "create",
        "--security-opt",
        &option,
        "busybox",
        "mkdir",
        "/new",
    ]);
    let security_opt = env.berth_ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.SecurityOpt}}",
        id.trim(),
    ]);
    assert_eq!(security_opt, format!("[{option}]\n"));

    // The container keeps the profile it was created with, as in Podman.
    std::fs::remove_file(&profile).unwrap();
    let output = env.berth(&["start", "-a", id.trim()]);
    assert_eq!(exit_code(&output), 1);
    assert_eq!(
        text(&output.stderr),
        "mkdir: can't create directory '/new': Permission denied\n"
    );
}

#[test]
fn run_bad_seccomp_profile_exits_125() {
    let env = TestEnv::with_busybox();
    let missing = env.dir().join("missing.json");
    let invalid = env.dir().join("invalid.json");
    std::fs::write(&invalid, "{not json").unwrap();

    let output = env.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=",
        "busybox",
        "true",
    ]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        "Error: invalid --security-opt \"seccomp=\": expected seccomp=unconfined or seccomp=PROFILE.json\n"
    );
    for (path, reason) in [
        (&missing, "read seccomp profile"),
        (&invalid, "invalid JSON"),
    ] {
        let option = format!("seccomp={}", path.display());
        let output = env.berth(&["run", "--rm", "--security-opt", &option, "busybox", "true"]);
        assert_eq!(exit_code(&output), 125);
        let stderr = text(&output.stderr);
        assert!(
            stderr.starts_with(&format!("Error: invalid --security-opt \"{option}\": ")),
            "{stderr}"
        );
        assert!(stderr.contains(reason), "{stderr}");
    }
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn run_cpus_sets_cfs_quota() {
    let env = TestEnv::with_busybox();
    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "--cpus",
        "0.5",
        "busybox",
        "cat",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    ]);
    assert_eq!(stdout, "50000\n");
    let output = env.berth(&["run", "--rm", "--cpus", "-1", "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
}

#[test]
fn run_runtime_by_path() {
    let env = TestEnv::with_busybox();
    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "--runtime",
        "/usr/sbin/runc",
        "busybox",
        "echo",
        "path",
    ]);
    assert_eq!(stdout, "path\n");
}

#[test]
fn info_and_version_describe_host() {
    let env = TestEnv::new();
    let info: serde_json::Value =
        serde_json::from_str(&env.berth_ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(info["store"]["graphDriverName"], "overlay");
    assert_eq!(info["host"]["ociRuntime"]["name"], "crun");
    assert_eq!(
        info["store"]["graphRoot"],
        env.root().canonicalize().unwrap().to_str().unwrap()
    );
    assert!(info["host"]["conmon"]["version"]
        .as_str()
        .unwrap()
        .starts_with("conmon version"));
    assert_eq!(
        env.berth_ok(&["info", "--format", "{{.Store.GraphDriverName}}"]),
        "overlay\n"
    );
    let version = env.berth_ok(&["version"]);
    assert!(
        version.starts_with(&format!("Version:      {}\n", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
}

#[test]
fn run_with_debug_log_level_works() {
    let env = TestEnv::with_busybox();
    for runtime in ["crun", "runc"] {
        let output = env.berth(&[
            "--log-level",
            "debug",
            "run",
            "--rm",
            "--runtime",
            runtime,
            "busybox",
            "echo",
            "debug",
        ]);
        assert_eq!(exit_code(&output), 0, "{runtime}: {}", text(&output.stderr));
        assert_eq!(text(&output.stdout), "debug\n", "{runtime}");
        assert!(
            text(&output.stderr).contains("running conmon"),
            "{runtime}: no debug log"
        );
    }
}

/// The first container compiles the seccomp profile in crun. Later ones
/// with the same profile get crun's program in the annotation, so crun
/// loads the same filter without compiling it again.
#[test]
fn run_reuses_the_seccomp_program_crun_compiled() {
    let env = TestEnv::with_busybox();
    let start = |extra: &[&str]| {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sleep", "100"]);
        env.berth_ok(&args).trim().to_string()
    };
    let config = |id: &str| -> serde_json::Value {
        let path = env
            .root()
            .join(format!("containers/{id}/userdata/config.json"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let program = |id: &str| {
        std::fs::read(env.runroot().join(format!("runtime/crun/{id}/seccomp.bpf"))).unwrap()
    };
    let annotation = "run.oci.seccomp_bpf_data";

    let first = start(&[]);
    let second = start(&[]);
    assert!(config(&first)["annotations"].get(annotation).is_none());
    let compiled = program(&first);
    assert_eq!(compiled.len() % 8, 0);
    assert!(!compiled.is_empty());
    assert_eq!(program(&second), compiled);
    let encoded = config(&second)["annotations"][annotation]
        .as_str()
        .unwrap()
        .to_string();
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
        compiled
    );
    assert_eq!(
        env.berth_ok(&["exec", &second, "grep", "^Seccomp:", "/proc/self/status"]),
        "Seccomp:\t2\n"
    );

    // A damaged cache file is ignored, and crun compiles the profile again.
    let cache = env.runroot().join("seccomp");
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let length = std::fs::metadata(&entry).unwrap().len() as usize;
    std::fs::write(&entry, vec![0u8; length]).unwrap();
    let third = start(&[]);
    assert!(config(&third)["annotations"].get(annotation).is_none());
    assert_eq!(program(&third), compiled);

    // A program the kernel rejects (one `ld #0`, no return) fails one create,
    // is then dropped, and the next container compiles the profile again.
    let key = entry.file_name().unwrap().to_str().unwrap().to_string();
    let rejected = [0u8; 8];
    let mut damaged = {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        hasher.update(key.as_bytes());
        hasher.update(rejected);
        hasher.finalize().to_vec()
    };
    damaged.extend_from_slice(&rejected);
    std::fs::write(&entry, damaged).unwrap();
    let output = env.berth(&["run", "--rm", "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert!(!entry.exists());
    env.berth_ok(&["run", "--rm", "busybox", "true"]);

    // CAP_SYS_ADMIN changes the profile (it allows mount and friends), so
    // crun compiles that one itself.
    let other = start(&["--cap-add", "SYS_ADMIN"]);
    assert!(config(&other)["annotations"].get(annotation).is_none());
    assert_ne!(program(&other), compiled);
    env.berth_ok(&["rm", "-f", "-t", "0", &first, &second, &third, &other]);
}

/// Starts an attached `berth run` whose container prints `ready` first,
/// waits for that line, sends SIGTERM to berth, and returns the rest of
/// the output and berth's exit status.
fn run_then_sigterm(env: &TestEnv, args: &[&str]) -> (String, std::process::ExitStatus) {
    let mut child = env
        .command(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "ready\n");

    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    (rest, child.wait().unwrap())
}

/// An attached `run` passes the signals it receives on to the container.
#[test]
fn run_forwards_signals_to_container() {
    let env = TestEnv::with_busybox();
    // Bounded: without the signal the container ends by itself after 30 s.
    let script = "trap 'echo got TERM; exit 3' TERM; echo ready; \
                  for i in $(seq 300); do sleep 0.1; done; exit 9";
    let (rest, status) = run_then_sigterm(
        &env,
        &["run", "--name", "trapper", "busybox", "sh", "-c", script],
    );
    assert_eq!(rest, "got TERM\n");
    assert_eq!(status.code(), Some(3));
}

/// With `--sig-proxy=false` a signal ends the attached `run` only; the
/// container keeps running.
#[test]
fn run_without_sig_proxy_keeps_container_running() {
    let env = TestEnv::with_busybox();
    let (rest, status) = run_then_sigterm(
        &env,
        &[
            "run",
            "--sig-proxy=false",
            "--name",
            "kept",
            "busybox",
            "sh",
            "-c",
            "echo ready; sleep 60",
        ],
    );
    assert_eq!(rest, "");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGTERM)
    );
    assert_eq!(
        env.berth_ok(&["inspect", "--format", "{{.State.Status}}", "kept"]),
        "running\n"
    );
}

/// `--mount` attaches bind and tmpfs mounts in Podman's KEY=VALUE form.
#[test]
fn run_mount_flag_binds_and_mounts_tmpfs() {
    let env = TestEnv::with_busybox();
    let shared = env.dir().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("greeting"), "hello\n").unwrap();
    let bind = format!(
        "type=bind,source={},destination=/data,readonly",
        shared.display()
    );

    let output = env.berth(&[
        "run",
        "--rm",
        "--mount",
        &bind,
        "busybox",
        "sh",
        "-c",
        "cat /data/greeting; touch /data/new",
    ]);
    assert_eq!(exit_code(&output), 1);
    assert_eq!(text(&output.stdout), "hello\n");
    assert_eq!(
        text(&output.stderr),
        "touch: /data/new: Read-only file system\n"
    );

    let size = env.berth_ok(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,destination=/scratch,tmpfs-size=1m",
        "busybox",
        "sh",
        "-c",
        "df -k /scratch | tail -1 | awk '{print $2}'",
    ]);
    assert_eq!(size, "1024\n");

    let output = env.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,dst=/d",
        "busybox",
        "true",
    ]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        "Error: invalid --mount \"type=bind,dst=/d\": source= must be an absolute host path\n"
    );
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]), "");
}
