//! `exec`, `exec-inspect` and `container cleanup --exec`.
use std::io::IsTerminal;

use berth_engine::{AttachIo, Engine, ExecOptions};
use serde_json::json;

use super::containers::print_inspect;
use super::{CliError, CliResult};
use crate::cli::{ExecArgs, ExecInspectArgs};
use crate::terminal;

pub fn exec(engine: &Engine, args: &ExecArgs) -> CliResult {
    let options = ExecOptions {
        command: args.command.clone(),
        env: args.env.clone(),
        env_files: args.env_file.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        tty: args.tty,
        interactive: args.interactive,
        privileged: args.privileged,
        cap_add: args.cap_add.clone(),
        preserve_fds: args.preserve_fds,
        terminal_size: if args.tty { terminal::size() } else { None },
    };

    if args.detach {
        let session_id = engine.exec_detached(&args.container, &options)?;
        println!("{session_id}");
        return Ok(0);
    }

    // Signals to berth are not forwarded to the command (Podman's exec has
    // no signal proxy either); window-size changes are, with -t.
    if args.tty {
        terminal::block_window_changes();
    }
    if args.tty && args.interactive {
        terminal::warn_if_stdin_not_a_terminal();
    }
    let raw_mode = if args.tty && args.interactive && std::io::stdin().is_terminal() {
        terminal::RawMode::enable()
    } else {
        None
    };
    let io = AttachIo {
        stdin: if args.interactive {
            Some(Box::new(std::io::stdin()))
        } else {
            None
        },
        stdout: Box::new(std::io::stdout()),
        stderr: Box::new(std::io::stderr()),
    };
    let exit_code = engine.exec_attached_with(&args.container, &options, io, |session| {
        if args.tty {
            terminal::forward_window_changes(move |rows, cols| session.resize(rows, cols).is_ok());
        }
    });
    drop(raw_mode);
    Ok(exit_code?)
}

pub fn inspect(engine: &Engine, args: &ExecInspectArgs) -> CliResult {
    let session = engine.exec_inspect(&args.session)?;
    print_inspect(&[json!(session)], args.format.as_deref())?;
    Ok(0)
}

/// Records an ended exec session. conmon's exit command runs this.
pub fn cleanup(engine: &Engine, session_id: &str, containers: &[String]) -> CliResult {
    let [container] = containers else {
        return Err(CliError::Usage(
            "container cleanup --exec takes exactly one container".into(),
        ));
    };
    if let Err(error) = engine.cleanup_exec(container, session_id) {
        // conmon discards this process's output; the log is the only place
        // the failure can be seen.
        tracing::error!(container = %container, exec_id = session_id, %error, "exec session cleanup failed");
        eprintln!("Error: {error}");
        return Ok(error.exit_code());
    }
    Ok(0)
}

/// Checks that fds 3 to 3+`count`-1 are open, as `--preserve-fds` needs.
pub fn check_preserved_fds(count: u32) -> Result<(), CliError> {
    for fd in 3..3 + count as i32 {
        if nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_err() {
            return Err(CliError::Usage(format!(
                "invalid --preserve-fds {count}: file descriptor {fd} is not open; open fds 3 to {} before running berth",
                2 + count
            )));
        }
    }
    Ok(())
}
