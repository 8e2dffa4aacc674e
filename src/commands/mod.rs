//! One function per command; each returns the process exit code.
mod archive;
mod changes;
mod checkpoint;
mod containers;
mod events;
mod exec;
mod images;
mod network;
mod registry;
mod run;
mod system;
mod top;

use std::fmt;

use berth_engine::{rootless, Engine, EngineError, EngineOptions};

use crate::cli::{
    Cli, Command, ContainerCommand, ContainerGroupCommand, GlobalOptions, ImageCommand,
    SystemCommand,
};
use crate::format::FormatError;

/// An error of a command, with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    Engine(EngineError),
    Format(FormatError),
    /// Bad use of the command line that clap cannot catch.
    Usage(String),
    Io(std::io::Error),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Engine(e) => e.exit_code(),
            _ => 125,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Engine(e) => write!(f, "{e}"),
            CliError::Format(e) => write!(f, "{e}"),
            CliError::Usage(message) => write!(f, "{message}"),
            CliError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        CliError::Engine(e)
    }
}

impl From<FormatError> for CliError {
    fn from(e: FormatError) -> Self {
        CliError::Format(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Io(e)
    }
}

pub type CliResult = Result<i32, CliError>;

pub fn dispatch(cli: Cli) -> CliResult {
    let mut global = cli.global;
    if !matches!(
        cli.command,
        Command::Version(_) | Command::Completion { .. }
    ) {
        prepare_paths(&mut global)?;
    }
    match cli.command {
        Command::Container(command) => container_command(&global, command),
        Command::ContainerGroup(ContainerGroupCommand::Verb(mut command)) => {
            // `container inspect` looks at containers only, as in Podman.
            if let ContainerCommand::Inspect(args) = &mut command {
                args.kind = "container".to_string();
            }
            container_command(&global, command)
        }
        Command::ContainerGroup(ContainerGroupCommand::Checkpoint(args)) => {
            checkpoint::checkpoint(&open(&global)?, &args)
        }
        Command::ContainerGroup(ContainerGroupCommand::Restore(args)) => {
            checkpoint::restore(&open(&global)?, &args)
        }
        Command::ContainerGroup(ContainerGroupCommand::Cleanup {
            exec, containers, ..
        }) => {
            let engine = open(&global)?;
            match exec {
                Some(session) => exec::cleanup(&engine, &session, &containers),
                None => containers::cleanup(&engine, &containers),
            }
        }
        Command::Image(command) => image_command(&global, command),
        Command::Network(command) => network::dispatch(&open(&global)?, command),
        Command::Import(args) => images::import(&open(&global)?, &args),
        Command::Images(args) => images::list(&open(&global)?, &args),
        Command::Pull(args) => registry::pull(&open(&global)?, &args),
        Command::Push(args) => registry::push(&open(&global)?, &args),
        Command::Login(args) => registry::login(&args),
        Command::Logout(args) => registry::logout(&args),
        Command::Rmi(args) => images::remove(&open(&global)?, &args),
        Command::Save(args) => archive::save(&open(&global)?, &args),
        Command::Load(args) => archive::load(&open(&global)?, &args),
        Command::Commit(args) => changes::commit(&open(&global)?, &args),
        Command::Diff { container } => changes::diff(&open(&global)?, &container),
        Command::Export(args) => changes::export(&open(&global)?, &args),
        Command::History(args) => changes::history(&open(&global)?, &args),
        Command::Tag(args) => images::tag(&open(&global)?, &args),
        Command::Info(args) => system::info(&open(&global)?, &args),
        Command::System(SystemCommand::Info(args)) => system::info(&open(&global)?, &args),
        Command::System(SystemCommand::Df(args)) => system::df(&open(&global)?, &args),
        Command::Version(args) => system::version(&args),
        Command::Completion { shell } => system::completion(shell),
    }
}

fn container_command(global: &GlobalOptions, command: ContainerCommand) -> CliResult {
    if let ContainerCommand::Exec(args) = &command {
        // Before the engine opens files that could take those numbers.
        exec::check_preserved_fds(args.preserve_fds)?;
    }
    if matches!(
        command,
        ContainerCommand::Run(_) | ContainerCommand::Start(_) | ContainerCommand::Restart(_)
    ) && !rootless::is_rootless()
    {
        // The kernel's wait for the first cgroup migration then runs while
        // the engine opens its databases and prepares the bundle.
        berth_engine::start_cgroup_migration_wait();
    }
    let engine = open(global)?;
    match command {
        ContainerCommand::Create(args) => run::create(&engine, &args),
        ContainerCommand::Run(args) => run::run(&engine, global, &args),
        ContainerCommand::Start(args) => run::start(&engine, global, &args),
        ContainerCommand::Attach(args) => run::attach(&engine, global, &args),
        ContainerCommand::Ps(args) => containers::ps(&engine, &args),
        ContainerCommand::Inspect(args) => containers::inspect(&engine, &args),
        ContainerCommand::Logs(args) => containers::logs(&engine, &args),
        ContainerCommand::Wait(args) => containers::wait(&engine, &args),
        ContainerCommand::Stop(args) => containers::stop(&engine, &args),
        ContainerCommand::Kill(args) => containers::kill(&engine, &args),
        ContainerCommand::Rm(args) => containers::remove(&engine, &args),
        ContainerCommand::Top {
            container,
            descriptors,
        } => top::top(&engine, &container, &descriptors),
        ContainerCommand::Init(args) => containers::init(&engine, &args),
        ContainerCommand::Pause(args) => containers::pause(&engine, &args, true),
        ContainerCommand::Unpause(args) => containers::pause(&engine, &args, false),
        ContainerCommand::Restart(args) => containers::restart(&engine, &args),
        ContainerCommand::Events(args) => events::events(&engine, &args),
        ContainerCommand::Port(args) => network::port(&engine, &args),
        ContainerCommand::Rename {
            container,
            new_name,
        } => {
            engine.rename(&container, &new_name)?;
            Ok(0)
        }
        ContainerCommand::Exec(args) => exec::exec(&engine, &args),
        ContainerCommand::ExecInspect(args) => exec::inspect(&engine, &args),
    }
}

fn image_command(global: &GlobalOptions, command: ImageCommand) -> CliResult {
    let engine = open(global)?;
    match command {
        ImageCommand::Images(args) => images::list(&engine, &args),
        ImageCommand::Inspect(args) => {
            images::inspect(&engine, &args.images, args.format.as_deref())
        }
        ImageCommand::Import(args) => images::import(&engine, &args),
        ImageCommand::Pull(args) => registry::pull(&engine, &args),
        ImageCommand::Push(args) => registry::push(&engine, &args),
        ImageCommand::Rm(args) => images::remove(&engine, &args),
        ImageCommand::Save(args) => archive::save(&engine, &args),
        ImageCommand::Load(args) => archive::load(&engine, &args),
        ImageCommand::History(args) => changes::history(&engine, &args),
        ImageCommand::Prune(args) => images::prune(&engine, &args),
        ImageCommand::Tag(args) => images::tag(&engine, &args),
    }
}

pub fn open(global: &GlobalOptions) -> Result<Engine, CliError> {
    Ok(Engine::open(engine_options(global))?)
}

/// Fills in the default root and run root. For an ordinary user these are
/// the XDG directories, and this process then joins the user's rootless
/// user namespace (starting its pause process when needed), so it must run
/// before any thread or engine exists.
fn prepare_paths(global: &mut GlobalOptions) -> Result<(), CliError> {
    if !rootless::is_rootless() {
        let defaults = EngineOptions::rootful();
        global.root.get_or_insert(defaults.root);
        global.runroot.get_or_insert(defaults.runroot);
        return Ok(());
    }

    let paths = rootless::default_paths(rootless::host_uid()).map_err(EngineError::from)?;
    let root = global.root.get_or_insert(paths.root.clone()).clone();
    let runroot = global.runroot.get_or_insert(paths.runroot.clone()).clone();
    if !nix::unistd::geteuid().is_root() {
        // Not yet inside: conmon's exit command inherits the namespaces.
        rootless::enter(&paths, &root, &runroot).map_err(EngineError::from)?;
    }
    Ok(())
}

pub fn engine_options(global: &GlobalOptions) -> EngineOptions {
    let defaults = EngineOptions::rootful();
    EngineOptions {
        root: global.root.clone().unwrap_or(defaults.root),
        runroot: global.runroot.clone().unwrap_or(defaults.runroot),
        runtime: global.runtime.clone(),
        conmon: global.conmon.clone(),
        cleanup_program: std::env::current_exe().ok(),
        debug: matches!(global.log_level.as_str(), "debug" | "trace"),
        rootless: rootless::is_rootless(),
        storage_options: global.storage_opt.clone(),
    }
}

/// Runs `action` on each name, printing the name on success as Podman does
/// (unless the action returns `Ok(false)`: a missing container ignored with
/// `--ignore`); the first error is returned after every name was tried.
pub fn for_each_name(
    names: &[String],
    mut action: impl FnMut(&str) -> Result<bool, EngineError>,
) -> CliResult {
    let mut failure: Option<EngineError> = None;
    for name in names {
        match action(name) {
            Ok(true) => println!("{name}"),
            Ok(false) => {}
            Err(error) => {
                if let Some(previous) = failure.replace(error) {
                    eprintln!("Error: {previous}");
                }
            }
        }
    }
    match failure {
        Some(error) => Err(error.into()),
        None => Ok(0),
    }
}
