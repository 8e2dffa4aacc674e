//! `create`, `run`, `start`, `attach`.
use std::io::IsTerminal;

use berth_engine::{AttachIo, CreateOptions, Engine, EngineError, RemoveOptions};

use super::{engine_options, CliError, CliResult};
use crate::cli::{AttachArgs, CreateArgs, GlobalOptions, RunArgs, StartArgs};
use crate::terminal;

pub fn create(engine: &Engine, args: &CreateArgs) -> CliResult {
    super::registry::pull_for_create(engine, args)?;
    let id = engine.create(&create_options(args)?)?;
    println!("{id}");
    Ok(0)
}

pub fn run(engine: &Engine, global: &GlobalOptions, args: &RunArgs) -> CliResult {
    let options = create_options(&args.create)?;
    super::registry::pull_for_create(engine, &args.create)?;
    let id = engine.create(&options)?;

    if args.detach {
        if let Err(error) = engine.start(&id) {
            remove_after_failure(engine, &id, options.auto_remove);
            return Err(error.into());
        }
        println!("{id}");
        return Ok(0);
    }

    let session = Session {
        tty: options.tty,
        interactive: options.interactive,
        start: true,
        sig_proxy: args.sig_proxy,
    };
    let code = attach_and_wait(engine, global, &id, &session);
    if options.auto_remove {
        remove_quietly(engine, &id, code.is_ok());
    }
    code
}

pub fn start(engine: &Engine, global: &GlobalOptions, args: &StartArgs) -> CliResult {
    if args.attach {
        let [name] = args.containers.as_slice() else {
            return Err(CliError::Usage(
                "start --attach takes exactly one container".into(),
            ));
        };
        let container = engine.container(name)?;
        let interactive = args.interactive && container.config.interactive;
        let session = Session {
            tty: container.config.tty,
            interactive,
            start: true,
            sig_proxy: args.sig_proxy,
        };
        return attach_and_wait(engine, global, &container.id, &session);
    }
    super::for_each_name(&args.containers, |name| engine.start(name).map(|()| true))
}

pub fn attach(engine: &Engine, global: &GlobalOptions, args: &AttachArgs) -> CliResult {
    let container = engine.container(&args.container)?;
    let interactive = !args.no_stdin && container.config.interactive;
    let session = Session {
        tty: container.config.tty,
        interactive,
        start: false,
        sig_proxy: args.sig_proxy,
    };
    attach_and_wait(engine, global, &container.id, &session)
}

/// The settings of an attached command's connection to its container.
struct Session {
    tty: bool,
    interactive: bool,
    /// Start the container (run, start -a) rather than join it (attach).
    start: bool,
    /// Forward the signals berth receives to the container.
    sig_proxy: bool,
}

/// Attaches to the container (starting it when `start`), copies its output
/// until it exits, and returns its exit code.
fn attach_and_wait(
    engine: &Engine,
    global: &GlobalOptions,
    id: &str,
    session: &Session,
) -> CliResult {
    let &Session {
        tty,
        interactive,
        start,
        sig_proxy,
    } = session;
    if sig_proxy {
        terminal::proxy_signals(engine_options(global), id.to_string(), tty);
    }
    if tty && interactive {
        terminal::warn_if_stdin_not_a_terminal();
    }
    let raw_mode = if tty && interactive && std::io::stdin().is_terminal() {
        terminal::RawMode::enable()
    } else {
        None
    };

    let socket = if start {
        match engine.start_attached(id) {
            Ok(Some(socket)) => socket,
            // Already running: attach to it instead.
            Ok(None) => engine.attach(id)?,
            Err(error) => {
                drop(raw_mode);
                return Err(error.into());
            }
        }
    } else {
        engine.attach(id)?
    };
    if tty {
        if let Some((rows, cols)) = terminal::size() {
            let _ = engine.resize(id, rows, cols);
        }
    }

    let io = AttachIo {
        stdin: if interactive {
            Some(Box::new(std::io::stdin()))
        } else {
            None
        },
        stdout: Box::new(std::io::stdout()),
        stderr: Box::new(std::io::stderr()),
    };
    let pumped = socket.pump(io);
    drop(raw_mode);
    pumped.map_err(EngineError::from)?;

    Ok(engine.wait(id)?)
}

fn remove_after_failure(engine: &Engine, id: &str, auto_remove: bool) {
    // No container process ran, so no cleanup process will delete files.
    if auto_remove {
        remove_quietly(engine, id, false);
    }
}

/// Removes a `--rm` container; conmon's cleanup may have removed it first.
/// With `exited`, the container's files are left to that cleanup process.
fn remove_quietly(engine: &Engine, id: &str, exited: bool) {
    match engine.remove(
        id,
        &RemoveOptions {
            force: true,
            timeout: None,
            defer_file_deletion: exited,
        },
    ) {
        Ok(()) | Err(EngineError::NoSuchContainer { .. }) => {}
        Err(error) => eprintln!("Error: removing container {id:.12}: {error}"),
    }
}

fn create_options(args: &CreateArgs) -> Result<CreateOptions, CliError> {
    let (image, command) = (&args.image, &args.command);
    Ok(CreateOptions {
        image: image.clone(),
        name: args.name.clone(),
        command: if command.is_empty() {
            None
        } else {
            Some(command.to_vec())
        },
        entrypoint: args
            .entrypoint
            .as_deref()
            .map(parse_entrypoint)
            .transpose()?,
        env: args.env.clone(),
        env_files: args.env_file.clone(),
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        volumes: args.volume.clone(),
        mount_specs: args.mount.clone(),
        tmpfs: args.tmpfs.clone(),
        read_only: args.read_only,
        read_only_tmpfs: Some(args.read_only_tmpfs),
        init: args.init,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        privileged: args.privileged,
        security_opt: args.security_opt.clone(),
        ulimits: args.ulimit.clone(),
        memory: args.memory.clone(),
        cpus: args.cpus,
        pids_limit: args.pids_limit,
        labels: args.label.clone(),
        stop_signal: args.stop_signal.clone(),
        stop_timeout: args.stop_timeout,
        runtime: args.runtime.clone(),
        tty: args.tty,
        interactive: args.interactive,
        auto_remove: args.rm,
        network: args.network.clone(),
        publish: args.publish.clone(),
        publish_all: args.publish_all,
        dns: args.dns.clone(),
        dns_search: args.dns_search.clone(),
        add_hosts: args.add_host.clone(),
        userns: args.userns.clone(),
        uidmap: args.uidmap.clone(),
        gidmap: args.gidmap.clone(),
        create_command: std::env::args().collect(),
        restart: args.restart.clone(),
        sdnotify: args.sdnotify.clone(),
    })
}

/// `--entrypoint` takes a JSON array (`["sh","-c"]`), or one command.
fn parse_entrypoint(value: &str) -> Result<Vec<String>, CliError> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    if value.trim_start().starts_with('[') {
        return serde_json::from_str(value).map_err(|e| {
            CliError::Usage(format!(
                "invalid --entrypoint {value:?}: not a JSON array of strings: {e}"
            ))
        });
    }
    Ok(vec![value.to_string()])
}
