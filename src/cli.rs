//! Command-line definitions (clap). Only flags live here; the commands are
//! in `commands/`.
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

/// berth: run OCI containers without a daemon, with Podman's commands.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, long_about = None, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalOptions {
    /// Persistent storage root: state database, images, containers
    /// [default: /var/lib/berth, or $XDG_DATA_HOME/berth for an ordinary user].
    #[arg(long, global = true, env = "BERTH_ROOT")]
    pub root: Option<PathBuf>,

    /// Volatile state root: exit files, locks, runtime state [default:
    /// /run/berth, or $XDG_RUNTIME_DIR/berth for an ordinary user].
    #[arg(long, global = true, env = "BERTH_RUNROOT")]
    pub runroot: Option<PathBuf>,

    /// Default OCI runtime: crun, runc, or a path to a runtime binary.
    #[arg(long, global = true, env = "BERTH_RUNTIME", default_value = "crun")]
    pub runtime: String,

    /// Path to the conmon binary (default: searched in PATH).
    #[arg(long, global = true, env = "BERTH_CONMON")]
    pub conmon: Option<PathBuf>,

    /// Log messages at this level and above: error, warn, info, debug, trace.
    #[arg(long, global = true, default_value = "warn")]
    pub log_level: String,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    #[command(flatten)]
    Container(ContainerCommand),

    /// Manage containers.
    #[command(name = "container", subcommand)]
    ContainerGroup(ContainerGroupCommand),

    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),

    /// Import a rootfs tarball (plain, gzip or zstd) as a one-layer image.
    Import(ImportArgs),

    /// List images.
    Images(ImagesArgs),

    /// Remove images.
    Rmi(RmiArgs),

    /// Add names to an image.
    Tag(TagArgs),

    /// Show how berth runs on this host.
    Info(FormatArgs),

    /// Show berth's version.
    Version(FormatArgs),

    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    Completion { shell: clap_complete::Shell },
}

/// Container verbs, available at the top level and under `container`.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create a container from an image without starting it.
    Create(CreateArgs),

    /// Create and start a container, attached unless -d.
    Run(RunArgs),

    /// Start one or more containers.
    Start(StartArgs),

    /// Attach to a running container's output and input.
    Attach(AttachArgs),

    /// List containers.
    #[command(alias = "list", alias = "ls")]
    Ps(PsArgs),

    /// Show the configuration and state of containers or images as JSON.
    Inspect(InspectArgs),

    /// Show a container's output.
    Logs(LogsArgs),

    /// Wait for containers to exit and print their exit codes.
    Wait(WaitArgs),

    /// Stop running containers: stop signal, then SIGKILL after a timeout.
    Stop(StopArgs),

    /// Send a signal to running containers.
    Kill(KillArgs),

    /// Remove containers.
    Rm(RmArgs),

    /// Freeze all processes of running containers.
    Pause(AllArgs),

    /// Thaw paused containers.
    Unpause(AllArgs),

    /// Stop (when running) and start containers again.
    Restart(StopArgs),

    /// Show container events: create, start, died, stop, kill, pause,
    /// unpause, restart, remove.
    Events(EventsArgs),

    /// Rename a container.
    Rename { container: String, new_name: String },

    /// Run a command in a running container.
    Exec(ExecArgs),

    /// Show an exec session (its command, pid, whether it runs, its exit
    /// code) as JSON.
    #[command(name = "exec-inspect")]
    ExecInspect(ExecInspectArgs),
}

#[derive(Debug, Subcommand)]
// Parsed once per process, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum ContainerGroupCommand {
    #[command(flatten)]
    Verb(ContainerCommand),

    /// Clean up after an exited container: record its exit code, free its
    /// runtime state and mounts, and remove it if it was run with --rm.
    /// conmon runs this when the container exits.
    Cleanup {
        /// Clean up after this exec session of the (one) container instead:
        /// record its exit code and remove its files.
        #[arg(long = "exec", value_name = "SESSION")]
        exec: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "ls", alias = "list")]
    Images(ImagesArgs),
    /// Show images' configuration as JSON.
    Inspect(ImageInspectArgs),
    /// Import a rootfs tarball as a one-layer image.
    Import(ImportArgs),
    /// Remove images.
    Rm(RmiArgs),
    /// Add names to an image.
    Tag(TagArgs),
}

/// Flags shared by `create` and `run`.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,

    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,

    /// Set an environment variable: KEY=VALUE, or KEY to copy berth's own.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,

    /// Read environment variables from a file of KEY=VALUE lines.
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,

    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,

    /// User (name or uid) and optional group to run as: USER[:GROUP].
    #[arg(short = 'u', long)]
    pub user: Option<String>,

    /// Override the image's entrypoint: a command or a JSON array; "" clears it.
    #[arg(long)]
    pub entrypoint: Option<String>,

    /// The container's hostname (default: the short container id).
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,

    /// Bind-mount a host path: SOURCE:DEST[:ro|rw].
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,

    /// Mount a tmpfs: DEST[:OPTIONS], e.g. /scratch:size=64m.
    #[arg(long)]
    pub tmpfs: Vec<String>,

    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,

    /// With --read-only, mount writable tmpfs on /tmp, /var/tmp and /run.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    pub read_only_tmpfs: bool,

    /// Run catatonit as PID 1 to reap zombies and forward signals.
    #[arg(long)]
    pub init: bool,

    /// Add a Linux capability, e.g. NET_ADMIN, or ALL.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,

    /// Drop a Linux capability, e.g. CHOWN, or ALL.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,

    /// Give the container all capabilities and no seccomp or masked paths.
    #[arg(long)]
    pub privileged: bool,

    /// Security options; supported: no-new-privileges.
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,

    /// Resource limit NAME=SOFT[:HARD], e.g. nofile=1024:2048.
    #[arg(long)]
    pub ulimit: Vec<String>,

    /// Memory limit, e.g. 512m or 1g.
    #[arg(short = 'm', long)]
    pub memory: Option<String>,

    /// Number of CPUs the container may use, e.g. 0.5.
    #[arg(long)]
    pub cpus: Option<f64>,

    /// Maximum number of processes in the container (default 2048; 0 or -1:
    /// no limit).
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,

    /// Set a label KEY=VALUE.
    #[arg(short = 'l', long)]
    pub label: Vec<String>,

    /// Signal that stops the container (default: the image's, else SIGTERM).
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,

    /// Seconds to wait after the stop signal before SIGKILL (default 10).
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u32>,

    /// OCI runtime for this container: crun, runc or a path.
    #[arg(long)]
    pub runtime: Option<String>,

    /// Allocate a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,

    /// Keep stdin open and forward it to the container.
    #[arg(short = 'i', long)]
    pub interactive: bool,

    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,

    /// Restart policy applied when the container exits: no, always,
    /// on-failure[:MAX_RETRIES] or unless-stopped.
    #[arg(long)]
    pub restart: Option<String>,

    /// Network mode: none (the default for root), host, or slirp4netns (the
    /// default for an ordinary user).
    #[arg(long, alias = "net")]
    pub network: Option<String>,

    /// Publish a container port on the host: [HOSTIP:]HOSTPORT:CPORT[/tcp|udp];
    /// ports may be ranges such as 8000-8010. Needs --network slirp4netns.
    #[arg(short = 'p', long)]
    pub publish: Vec<String>,

    /// User namespace: host (the default: berth's own, which for an ordinary
    /// user is the one of its pause process). keep-id is not available yet.
    #[arg(long)]
    pub userns: Option<String>,

    /// The image to run.
    pub image: String,

    /// The command and its arguments (default: the image's entrypoint and
    /// command). Everything after the image belongs to the command.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND [ARG...]"
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short = 'd', long)]
    pub detach: bool,

    #[command(flatten)]
    pub create: CreateArgs,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run the command in the background and print the exec session id.
    #[arg(short = 'd', long)]
    pub detach: bool,

    /// Set an environment variable: KEY=VALUE, or KEY to copy berth's own.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,

    /// Read environment variables from a file of KEY=VALUE lines.
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,

    /// Keep stdin open and forward it to the command.
    #[arg(short = 'i', long)]
    pub interactive: bool,

    /// Allocate a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,

    /// User (name or uid) and optional group to run as: USER[:GROUP]
    /// (default: the container's user).
    #[arg(short = 'u', long)]
    pub user: Option<String>,

    /// Working directory inside the container, an absolute path (default:
    /// the container's).
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,

    /// Give the command every capability.
    #[arg(long)]
    pub privileged: bool,

    /// Add a Linux capability to the container's, e.g. NET_ADMIN, or ALL.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,

    /// Pass N more file descriptors (3 to 3+N-1) on to the command.
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,

    /// The container.
    pub container: String,

    /// The command and its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND [ARG...]"
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecInspectArgs {
    /// A Go template applied to the result, e.g. '{{.ExitCode}}'.
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// The exec session id (or a unique prefix of it).
    pub session: String,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach to the container's output (one container only).
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Forward stdin (with --attach).
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not forward stdin.
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers, not only running ones.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Print only container ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate ids and commands.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter: status=, name=, id=, label=KEY[=VALUE].
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Output: json, a Go template such as '{{.Names}} {{.Status}}', or 'table ...'.
    #[arg(long)]
    pub format: Option<String>,
    /// Show only the latest container.
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Show the N most recently created containers (all states).
    #[arg(short = 'n', long)]
    pub last: Option<usize>,
    /// Sort by command, created, id, image, names or status.
    #[arg(long)]
    pub sort: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A Go template applied to each result, e.g. '{{.State.ExitCode}}'.
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// What to inspect: container, image, or all (containers first).
    #[arg(short = 't', long = "type", default_value = "all")]
    pub kind: String,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new output until the container stops.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Print only the last N lines (-1: all).
    #[arg(long, allow_negative_numbers = true)]
    pub tail: Option<i64>,
    /// Only output since this time: RFC 3339, Unix seconds, or a duration such as 10m.
    #[arg(long)]
    pub since: Option<String>,
    /// Only output before this time, in the same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    /// Prefix each line with its RFC 3339 timestamp.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct AllArgs {
    /// Act on all containers in the right state.
    #[arg(short = 'a', long)]
    pub all: bool,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events since this time: RFC 3339, Unix seconds, or a duration such as 10m.
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before this time, in the same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    /// Filter: container=NAME_OR_ID, event=STATUS, type=container, image=NAME.
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Output: json (one object per line) or a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Keep printing new events (true) or print past events and exit (false).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub stream: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait until the container is in one of these states: created, running,
    /// paused, exited or stopped (default: stopped).
    #[arg(long)]
    pub condition: Vec<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL (default: the container's stop timeout).
    #[arg(short = 't', long = "time")]
    pub time: Option<u32>,
    /// Stop all running containers.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Ignore containers that do not exist.
    #[arg(short = 'i', long)]
    pub ignore: bool,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send: a name (TERM, SIGKILL, RTMIN+3) or a number.
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// Signal all running containers.
    #[arg(short = 'a', long)]
    pub all: bool,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Stop and remove running containers.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove all containers.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Ignore containers that do not exist.
    #[arg(short = 'i', long)]
    pub ignore: bool,
    /// Seconds to wait after the stop signal before SIGKILL, with --force (default: kill at once).
    #[arg(short = 't', long = "time")]
    pub time: Option<u32>,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Suppress the progress bar.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// The rootfs tarball.
    pub tarball: PathBuf,
    /// Name for the image, e.g. busybox or myimage:1.0.
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print only image ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate image ids.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show all images (there are no intermediate images; same as the default).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Output: json, a Go template, or 'table ...'.
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove images that containers use, with those containers.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove all images.
    #[arg(short = 'a', long)]
    pub all: bool,
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    pub image: String,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Output: json or a Go template.
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}
