//! Command-line definitions (clap). Only flags live here; the commands are
//! in `commands/`.
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

mod image_args;
pub use image_args::{
    CommitArgs, ExportArgs, HistoryArgs, LoadArgs, LoginArgs, LogoutArgs, PullArgs, PushArgs,
    RegistryArgs, SaveArgs,
};

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

    /// Storage option KEY=VALUE (repeatable). overlay.mount_program=PATH
    /// mounts container overlays with that program, such as
    /// /usr/bin/fuse-overlayfs; the root records it for later commands.
    #[arg(long = "storage-opt", global = true, value_name = "KEY=VALUE")]
    pub storage_opt: Vec<String>,

    /// Log messages at this level and above: trace, debug, info, warn
    /// (warning), error (fatal, panic).
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

    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCommand),

    /// Import a rootfs tarball (plain, gzip or zstd) as a one-layer image.
    Import(ImportArgs),

    /// List images.
    Images(ImagesArgs),

    /// Pull an image from a registry.
    Pull(PullArgs),

    /// Push an image to a registry.
    Push(PushArgs),

    /// Log in to a registry and store the credentials.
    Login(LoginArgs),

    /// Remove the stored credentials of a registry.
    Logout(LogoutArgs),

    /// Remove images.
    Rmi(RmiArgs),

    /// Save images to an archive (docker-archive or oci-archive).
    Save(SaveArgs),

    /// Load images from an archive written by save, podman, docker or skopeo.
    Load(LoadArgs),

    /// Make an image of a container's changes.
    Commit(CommitArgs),

    /// List the files a container added (A), changed (C) or deleted (D).
    Diff { container: String },

    /// Write a container's root file system as a tarball.
    Export(ExportArgs),

    /// Show the history of an image.
    History(HistoryArgs),

    /// Add names to an image.
    Tag(TagArgs),

    /// Show how berth runs on this host.
    Info(FormatArgs),

    /// System-wide views.
    #[command(subcommand)]
    System(SystemCommand),

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

    /// Create the runtime containers of containers without starting them:
    /// their mounts and OCI bundle are made and can be inspected, and
    /// `start` then only starts the process. `ps` shows them as
    /// Initialized.
    Init(AllArgs),

    /// Freeze all processes of running containers.
    Pause(AllArgs),

    /// Thaw paused containers.
    Unpause(AllArgs),

    /// Stop (when running) and start containers again.
    Restart(StopArgs),

    /// Show container events: create, start, died, stop, kill, pause,
    /// unpause, restart, checkpoint, restore, remove.
    Events(EventsArgs),

    /// Show the processes of a running container. Descriptors choose the
    /// columns: user, group, pid, ppid, pcpu, etime, tty, time, comm, args,
    /// rss (default: user pid ppid pcpu etime tty time args).
    Top {
        container: String,
        descriptors: Vec<String>,
    },

    /// Rename a container.
    Rename { container: String, new_name: String },

    /// Run a command in a running container.
    Exec(ExecArgs),

    /// Show an exec session (its command, pid, whether it runs, its exit
    /// code) as JSON.
    #[command(name = "exec-inspect")]
    ExecInspect(ExecInspectArgs),

    /// List a container's published ports, or the host address of one port.
    Port(PortArgs),
}

#[derive(Debug, Subcommand)]
// Parsed once per process, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum ContainerGroupCommand {
    #[command(flatten)]
    Verb(ContainerCommand),

    /// Checkpoint running containers with CRIU: write their processes to
    /// disk (needs a runtime with CRIU support, such as runc).
    Checkpoint(CheckpointArgs),

    /// Restore checkpointed containers, or a container from an archive
    /// written by `checkpoint --export`.
    Restore(RestoreArgs),

    /// Clean up after an exited container: record its exit code, free its
    /// runtime state and mounts, and remove it if it was run with --rm.
    /// conmon runs this when the container exits.
    Cleanup {
        /// Clean up after this exec session of the (one) container instead:
        /// record its exit code and remove its files.
        #[arg(long = "exec", value_name = "SESSION")]
        exec: Option<String>,
        /// Run at a lower CPU priority (nice 10). berth passes it for `--rm`
        /// containers, whose removal is also done by an attached `run`.
        #[arg(long, hide = true)]
        low_priority: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network.
    Create(NetworkCreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(NetworkLsArgs),
    /// Show networks' configuration as JSON.
    Inspect(NetworkInspectArgs),
    /// Remove networks.
    #[command(alias = "remove")]
    Rm(NetworkRmArgs),
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Subnet in CIDR form, e.g. 10.91.5.0/24 (default: the next free /24 of 10.91.0.0/16).
    #[arg(long)]
    pub subnet: Option<String>,
    /// Gateway address, the bridge's (default: the subnet's first address).
    #[arg(long)]
    pub gateway: Option<String>,
    /// Give the network no route out of the host.
    #[arg(long)]
    pub internal: bool,
    /// Do not resolve container names through aardvark-dns on this network.
    #[arg(long = "disable-dns")]
    pub disable_dns: bool,
    /// Bridge driver only; other drivers are rejected.
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Set a label KEY=VALUE.
    #[arg(long)]
    pub label: Vec<String>,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct NetworkLsArgs {
    /// Print only network names.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Output: json, a Go template such as '{{.Name}}', or 'table ...'.
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct NetworkInspectArgs {
    /// A Go template applied to each network, e.g. '{{.Subnets}}'.
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkRmArgs {
    /// Remove the containers that use the network too.
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// Only this container port: PORT[/PROTOCOL].
    pub container: String,
    pub port: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show the disk space images and containers use.
    Df(FormatArgs),
    /// Show how berth runs on this host (as `berth info`).
    Info(FormatArgs),
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
    /// Pull an image from a registry.
    Pull(PullArgs),
    /// Push an image to a registry.
    Push(PushArgs),
    /// Remove images.
    Rm(RmiArgs),
    /// Save images to an archive.
    Save(SaveArgs),
    /// Load images from an archive.
    Load(LoadArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Remove unnamed images that no container uses (-a: all unused
    /// images) and the blobs and layers no image uses.
    Prune(PruneArgs),
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

    /// Attach a mount, in Podman's KEY=VALUE form:
    /// type=bind,source=/host,destination=/path[,readonly] or
    /// type=tmpfs,destination=/path[,tmpfs-size=64m][,tmpfs-mode=1777].
    #[arg(long = "mount")]
    pub mount: Vec<String>,

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

    /// Security options: no-new-privileges, seccomp=unconfined or
    /// seccomp=PROFILE.json, and label=disable or apparmor=unconfined, which
    /// change nothing because berth applies neither SELinux labels nor
    /// AppArmor profiles.
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

    /// How readiness reaches systemd's NOTIFY_SOCKET: container (the socket
    /// is mounted into the container), conmon (berth reports ready once the
    /// container runs) or ignore.
    #[arg(long)]
    pub sdnotify: Option<String>,

    /// When to pull the image: missing (the default: only when it is not in
    /// the store), always, never, or newer (here the same as missing).
    #[arg(long, default_value = "missing", value_name = "POLICY")]
    pub pull: String,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// USERNAME:PASSWORD for the registry when the image is pulled.
    #[arg(long, value_name = "USERNAME:PASSWORD")]
    pub creds: Option<String>,

    /// Restart policy applied when the container exits: no, always,
    /// on-failure[:MAX_RETRIES] or unless-stopped.
    #[arg(long)]
    pub restart: Option<String>,

    /// Network: bridge (the default network, default for root), none, host,
    /// a network NAME, ns:PATH (an existing namespace file) or
    /// container:NAME (share another running container's network); for an
    /// ordinary user slirp4netns (the default), none or host.
    #[arg(long, alias = "net")]
    pub network: Option<String>,

    /// Publish a container port on the host: [HOSTIP:][HOSTPORT:]CPORT[/tcp|udp];
    /// ports may be ranges such as 8000-8010. Without HOSTPORT a free port is
    /// picked (root only).
    #[arg(short = 'p', long)]
    pub publish: Vec<String>,

    /// Publish every port the image exposes on a free host port.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,

    /// Name server for the container's /etc/resolv.conf (IPv4 address).
    #[arg(long)]
    pub dns: Vec<String>,

    /// Search domain for the container's /etc/resolv.conf; "." sets none.
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,

    /// Add a NAME:IP line to the container's /etc/hosts.
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,

    /// User namespace: host (the default: berth's own, which for an ordinary
    /// user is the one of its pause process), or keep-id (ordinary users
    /// only: your uid and gid keep their numbers in the container, and the
    /// process runs as you).
    #[arg(long)]
    pub userns: Option<String>,

    /// Run the container in a new user namespace that maps AMOUNT container
    /// uids from CONTAINER_ID to host uids from HOST_ID (root only; may be
    /// repeated). Without --gidmap the gids are mapped the same way.
    #[arg(long, value_name = "CONTAINER_ID:HOST_ID:AMOUNT")]
    pub uidmap: Vec<String>,

    /// Like --uidmap, for gids. Without --uidmap the uids are mapped the
    /// same way.
    #[arg(long, value_name = "CONTAINER_ID:HOST_ID:AMOUNT")]
    pub gidmap: Vec<String>,

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

    /// Forward the signals berth receives to the container's process
    /// (attached only).
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set)]
    pub sig_proxy: bool,

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
    /// Forward the signals berth receives to the container's process
    /// (attached only).
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set)]
    pub sig_proxy: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not forward stdin.
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Forward the signals berth receives to the container's process
    /// (attached only).
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set)]
    pub sig_proxy: bool,
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
    /// Wait until the container is in one of these states: created,
    /// initialized, running, paused, exited or stopped (default: stopped).
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
pub struct PruneArgs {
    /// Remove every image no container uses, not only unnamed ones.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
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

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Checkpoint all running containers.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Keep the container running after the checkpoint.
    #[arg(short = 'R', long = "leave-running")]
    pub leave_running: bool,
    /// Keep CRIU's log and statistics files in the container's directory.
    #[arg(short = 'k', long)]
    pub keep: bool,
    /// Checkpoint established TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Checkpoint file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Also write the checkpoint, the container's configuration, its root
    /// filesystem changes and its log to this zstd-compressed tar file, for
    /// `restore --import` on another root or host (one container only).
    #[arg(short = 'e', long = "export", value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// With --export, leave the root filesystem changes out of the archive.
    #[arg(long = "ignore-rootfs")]
    pub ignore_rootfs: bool,
    /// Print CRIU's statistics and the time taken, as JSON.
    #[arg(long = "print-stats")]
    pub print_stats: bool,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Restore all checkpointed containers.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Keep the checkpoint images and CRIU's logs after the restore.
    #[arg(short = 'k', long)]
    pub keep: bool,
    /// Restore established TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Restore file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Recreate and restore the container of an archive written by
    /// `checkpoint --export`.
    #[arg(short = 'i', long = "import", value_name = "FILE")]
    pub import: Option<PathBuf>,
    /// With --import, name the restored container (it then gets a new id).
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    /// With --import, do not apply the archive's root filesystem changes.
    #[arg(long = "ignore-rootfs")]
    pub ignore_rootfs: bool,
    /// Do not reuse the container's static IP address (berth containers
    /// have none yet, so this changes nothing).
    #[arg(long = "ignore-static-ip")]
    pub ignore_static_ip: bool,
    /// Publish a different port for the restored container; not supported
    /// yet (a restored container keeps the ports it was created with).
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Print CRIU's statistics and the time taken, as JSON.
    #[arg(long = "print-stats")]
    pub print_stats: bool,
    pub containers: Vec<String>,
}
