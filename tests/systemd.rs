//! A container started from a systemd unit: socket activation sockets
//! reach its process, and readiness reaches `NOTIFY_SOCKET`.
// The test hands a socket to berth at fd 3, which needs dup2 after fork.
#![allow(unsafe_code)]

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{exit_code, text, TestEnv};

/// The berth command line for `env`, as `sh -c` words.
fn berth_words(env: &TestEnv, args: &[&str]) -> String {
    let mut words = vec![
        env!("CARGO_BIN_EXE_berth").to_string(),
        "--root".into(),
        env.root().display().to_string(),
        "--runroot".into(),
        env.runroot().display().to_string(),
    ];
    words.extend(args.iter().map(|a| format!("'{a}'")));
    words.join(" ")
}

#[test]
fn activation_socket_reaches_container_as_fd_three() {
    let env = TestEnv::with_busybox();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let inode = std::fs::metadata(format!("/proc/self/fd/{}", listener.as_raw_fd()))
        .unwrap()
        .ino();

    // As systemd does: the socket is fd 3, and LISTEN_PID names the process
    // that execs berth (the shell's $$ survives the exec).
    let script = format!(
        "LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web exec {}",
        berth_words(
            &env,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "echo $LISTEN_FDS $LISTEN_PID $LISTEN_FDNAMES; readlink /proc/self/fd/3"
            ]
        )
    );
    let listener_fd = listener.as_raw_fd();
    let mut command = Command::new("sh");
    command.arg("-c").arg(&script).stdin(Stdio::null());
    // SAFETY: dup2 is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec, so clear it then.
            let result = if listener_fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(listener_fd, 3)
            };
            if result < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), format!("1 1 web\nsocket:[{inode}]\n"));
}

#[test]
fn activation_needs_matching_listen_pid() {
    let env = TestEnv::with_busybox();
    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo ${LISTEN_FDS:-none}",
    ]);
    assert_eq!(stdout, "none\n");
}

fn notify_listener(env: &TestEnv) -> (UnixDatagram, std::path::PathBuf) {
    let path = env.dir().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (socket, path)
}

#[test]
fn sdnotify_conmon_reports_ready_with_monitor_pid() {
    let env = TestEnv::with_busybox();
    let (socket, path) = notify_listener(&env);
    let output = env.berth_env(
        &[
            "run",
            "-d",
            "--name",
            "svc",
            "--network",
            "none",
            "--sdnotify",
            "conmon",
            "busybox",
            "sleep",
            "1000",
        ],
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
    );
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let mut buffer = [0u8; 256];
    let length = socket.recv(&mut buffer).unwrap();
    let monitor = env.berth_ok(&["inspect", "--format", "{{.State.ConmonPid}}", "svc"]);
    assert_eq!(
        text(&buffer[..length]),
        format!("MAINPID={}\nREADY=1\n", monitor.trim())
    );
}

#[test]
fn sdnotify_container_mounts_the_socket() {
    let env = TestEnv::with_busybox();
    let (_socket, path) = notify_listener(&env);
    let output = env.berth_env(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo $NOTIFY_SOCKET; test -S $NOTIFY_SOCKET && echo socket",
        ],
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
    );
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "/run/notify/notify.sock\nsocket\n");

    let output = env.berth_env(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--sdnotify",
            "ignore",
            "busybox",
            "sh",
            "-c",
            "echo ${NOTIFY_SOCKET:-unset}",
        ],
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
    );
    assert_eq!(text(&output.stdout), "unset\n");

    let output = env.berth(&["run", "--rm", "--sdnotify", "always", "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
    assert!(text(&output.stderr).contains("invalid --sdnotify \"always\""));
}
