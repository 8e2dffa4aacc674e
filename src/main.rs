//! `berth`: the command-line interface of the berth container engine.
#![deny(unsafe_code)]

mod cli;
mod commands;
mod format;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

/// Podman's exit code for errors of the engine itself.
const ENGINE_ERROR: u8 = 125;

fn main() -> ExitCode {
    if std::env::var_os(berth_engine::rootless::PAUSE_PROCESS_ENV).is_some() {
        berth_engine::rootless::run_pause_process();
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let is_error = error.use_stderr();
            let _ = error.print();
            // Bad flags are engine errors (125) in Podman, not clap's 2.
            return if is_error {
                ExitCode::from(ENGINE_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let mut low_priority = false;
    if let cli::Command::ContainerGroup(cli::ContainerGroupCommand::Cleanup {
        low_priority: requested,
        ..
    }) = cli.command
    {
        close_inherited_fds();
        low_priority = requested;
    }
    if !attaches(&cli.command) {
        restore_sigpipe();
    }
    if !LOG_LEVELS.contains(&cli.global.log_level.as_str()) {
        // Podman's message and exit code for this case.
        eprintln!(
            "Log Level {:?} is not supported, choose from: {}",
            cli.global.log_level,
            LOG_LEVELS.join(", ")
        );
        return ExitCode::from(1);
    }
    init_logging(&cli.global.log_level);
    if low_priority {
        lower_cpu_priority();
    }

    match commands::dispatch(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(error) => {
            eprintln!("Error: {error}");
            ExitCode::from(error.exit_code().clamp(0, 255) as u8)
        }
    }
}

/// Sets this process's nice value to 10. conmon starts the cleanup of a
/// `--rm` container the moment it exits, while an attached `run` removes
/// the same container. On a 2-CPU host the two compete for the CPU, and
/// `run` is the one the user waits for. A `--rm` container has no restart
/// policy, so nothing this process starts (crun delete) outlives it at the
/// lower priority.
fn lower_cpu_priority() {
    // SAFETY: setpriority takes plain integers and changes only this
    // process's scheduling priority.
    #[allow(unsafe_code)]
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "lowering the cleanup's CPU priority failed");
    }
}

/// Closes every descriptor above stderr. conmon runs the cleanup command
/// with the descriptors it holds, among them the sockets that reserve the
/// container's published ports. If cleanup kept them while waiting for the
/// container's lock, a `start` that holds the lock would fail with "port in
/// use". Nothing of berth's own is open yet.
fn close_inherited_fds() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // The directory's own descriptor is closed already: EBADF.
        let _ = nix::unistd::close(fd);
    }
}

/// Whether the command copies a container's streams through conmon's
/// attach socket. A write to that socket after the container closed it
/// must be an error berth handles, not a SIGPIPE that ends berth before
/// it collects the exit code.
fn attaches(command: &cli::Command) -> bool {
    use cli::{Command, ContainerCommand, ContainerGroupCommand};
    let verb = match command {
        Command::Container(verb) | Command::ContainerGroup(ContainerGroupCommand::Verb(verb)) => {
            verb
        }
        _ => return false,
    };
    matches!(
        verb,
        ContainerCommand::Run(_)
            | ContainerCommand::Start(_)
            | ContainerCommand::Attach(_)
            | ContainerCommand::Exec(_)
    )
}

/// Rust ignores SIGPIPE, so writing to a closed pipe (`berth logs | head`)
/// returns an error that would be printed. Like other command-line tools,
/// berth ends quietly instead.
#[allow(unsafe_code)]
fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition to the default touches no
    // memory; it runs first in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The values of `--log-level`, as Podman names them.
const LOG_LEVELS: &[&str] = &[
    "trace", "debug", "info", "warn", "warning", "error", "fatal", "panic",
];

fn init_logging(level: &str) {
    // Podman's levels above error stop the program; here they only log
    // errors.
    let level = match level {
        "warning" => "warn",
        "fatal" | "panic" => "error",
        other => other,
    };
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
