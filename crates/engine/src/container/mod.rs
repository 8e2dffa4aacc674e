//! Containers: the persisted model and one lifecycle verb per file.

mod attach;
mod checkpoint;
mod cleanup;
mod commit;
mod create;
mod init;
mod inspect;
mod inspect_network;
mod list;
mod logs;
mod network;
mod pause;
mod refresh;
mod remove;
mod rename;
mod restart;
mod restore;
mod slirp;
mod start;
mod stop;
mod sync;
mod top;
mod userns;
mod wait;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use checkpoint::{CheckpointOptions, CheckpointReport, CheckpointState};
pub(crate) use checkpoint::{CHECKPOINT_DIR, INVENTORY};

pub use create::{CreateOptions, MountRequest};
pub(crate) use init::CGROUP_PARENT;
pub use inspect::{ContainerInspect, InspectIdMappings};
pub use inspect_network::{InspectEndpoint, InspectHostPort, InspectNetworkSettings};
pub use list::{human_duration, ContainerSummary, ListOptions};
pub use logs::{LogLine, LogOptions};
pub(crate) use network::published_ports;
pub use network::{InterfaceState, NetworkConfig, NetworkState};
pub use remove::RemoveOptions;
pub use restore::{RestoreOptions, RestoreReport};
pub use top::{ContainerProcess, DEFAULT_DESCRIPTORS};
pub use wait::WaitCondition;

pub(crate) use create::{apply_user_env, new_id, EnvList};
pub(crate) use init::classify_runtime_error;
pub(crate) use start::invalid_state;

/// A container's lifecycle state. `Configured` exists only in berth's
/// state; every other state is also the runtime's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Recorded, but the runtime does not know it yet (`create` without
    /// `start`, or after the runtime container was deleted on exit).
    Configured,
    /// The runtime has it and conmon is alive; the process has not started.
    Created,
    Running,
    Paused,
    /// The process exited and the exit code is recorded.
    Exited,
}

impl ContainerStatus {
    /// Returns the state name Podman shows users. Podman reports `configured` as
    /// `created`, because Docker has no such state, and `created` as
    /// `initialized`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Configured => "created",
            ContainerStatus::Created => "initialized",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Exited => "exited",
        }
    }

    /// Tells whether the container's process may be alive.
    pub fn is_active(self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Paused)
    }
}

/// Configuration requested at create time, resolved against the image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub image_name: String,
    /// The full command run in the container: entrypoint plus command.
    pub entrypoint: Vec<String>,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    /// As given by `-u` or the image, e.g. `1000:1000` or `nobody`.
    pub user: String,
    pub hostname: String,
    pub mounts: Vec<MountRequest>,
    pub read_only: bool,
    pub init: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub no_new_privileges: bool,
    /// `--security-opt seccomp=`: `unconfined` or the absolute path of a
    /// profile; `None` is the host's default profile.
    #[serde(default)]
    pub seccomp_profile: Option<String>,
    /// The text of the `seccomp_profile` file, read at create.
    #[serde(default)]
    pub seccomp_profile_text: Option<String>,
    pub ulimits: Vec<UlimitConfig>,
    pub memory_limit: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: i32,
    pub stop_timeout: u32,
    pub runtime: String,
    pub tty: bool,
    pub interactive: bool,
    pub auto_remove: bool,
    /// `bridge`, `none`, `host`, `ns:PATH` or `container:ID` (full id).
    pub network: String,
    #[serde(default)]
    pub network_config: NetworkConfig,
    /// Published ports (`-p`).
    #[serde(default)]
    pub ports: Vec<berth_network::PortMapping>,
    /// The command line that created the container, shown by inspect.
    pub create_command: Vec<String>,
    /// How readiness reaches systemd's `NOTIFY_SOCKET`: `container`,
    /// `conmon` or `ignore`.
    #[serde(default = "default_sdnotify")]
    pub sdnotify: String,
    /// Ports the image declares (`80/tcp`), recorded for inspect. Nothing
    /// is published: publishing needs `-p`, which needs a network.
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    /// Paths the image declares as volumes, recorded for inspect.
    // NOTE: no anonymous volume is mounted there yet, so data written to
    // these paths stays in the container's own layer, as with Podman's
    // `--image-volume ignore`.
    #[serde(default)]
    pub image_volumes: Vec<String>,
    /// Policy the cleanup path applies when the container exits.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// `--userns` mode: empty for berth's own user namespace, `keep-id`,
    /// or `private` for `--uidmap`/`--gidmap`.
    #[serde(default)]
    pub userns: String,
    /// The maps of the container's own user namespace, from container ids
    /// to ids of berth's namespace; `None` when it shares berth's.
    #[serde(default)]
    pub id_mappings: Option<berth_storage::IdMappings>,
}

/// `--restart`: whether the cleanup path starts the container again after
/// it exits. A container stopped with `stop` is never restarted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    /// Restart after a non-zero exit, at most `max_retries` times (0 means
    /// no limit).
    OnFailure {
        max_retries: u32,
    },
    UnlessStopped,
}

impl RestartPolicy {
    /// Parses Podman's forms: `no`, `always`, `on-failure`, `on-failure:N`,
    /// `unless-stopped`.
    pub fn parse(value: &str) -> Option<RestartPolicy> {
        match value.split_once(':') {
            None => match value {
                "" | "no" => Some(RestartPolicy::No),
                "always" => Some(RestartPolicy::Always),
                "on-failure" => Some(RestartPolicy::OnFailure { max_retries: 0 }),
                "unless-stopped" => Some(RestartPolicy::UnlessStopped),
                _ => None,
            },
            Some(("on-failure", retries)) => retries
                .parse()
                .ok()
                .map(|max_retries| RestartPolicy::OnFailure { max_retries }),
            Some(_) => None,
        }
    }

    /// Podman's name of the policy, as inspect shows it.
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// Whether a container that exited with `exit_code` after
    /// `restart_count` restarts is started again.
    pub fn should_restart(self, exit_code: i32, restart_count: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => {
                exit_code != 0 && (max_retries == 0 || restart_count < max_retries)
            }
        }
    }
}

fn default_sdnotify() -> String {
    "container".into()
}

/// A `--ulimit` as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UlimitConfig {
    /// `nofile`, `nproc`... (without `RLIMIT_`).
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

impl From<&UlimitConfig> for berth_oci::spec::Ulimit {
    fn from(u: &UlimitConfig) -> Self {
        berth_oci::spec::Ulimit {
            name: u.name.clone(),
            soft: u.soft,
            hard: u.hard,
        }
    }
}

/// State that changes while the container lives.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerState {
    pub status: Option<ContainerStatus>,
    pub pid: i32,
    /// Start time of `pid` in clock ticks since boot (`/proc/PID/stat`
    /// field 22), so a reused pid is never mistaken for the container.
    pub pid_start_time: u64,
    pub monitor_pid: i32,
    pub monitor_start_time: u64,
    pub exit_code: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub oom_killed: bool,
    /// Whether the root filesystem is mounted.
    pub mounted: bool,
    /// The last error of init or start, shown by inspect.
    pub error: String,
    /// Restarts done by the restart policy since the last user start.
    #[serde(default)]
    pub restart_count: u32,
    /// Set by `stop`, cleared by `start`: the restart policy leaves such a
    /// container alone.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Set from the network setup at init until the teardown.
    #[serde(default)]
    pub network: Option<NetworkState>,
    /// The last checkpoint and restore.
    #[serde(default)]
    pub checkpoint: CheckpointState,
}

impl ContainerState {
    pub fn status(&self) -> ContainerStatus {
        self.status.unwrap_or(ContainerStatus::Configured)
    }
}

/// A container as stored.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub created_at: DateTime<Utc>,
    pub config: ContainerConfig,
    pub state: ContainerState,
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// Whether a mount, a runtime container or a conmon may be left to
    /// free. Init records the mount before it starts conmon, and the
    /// release clears both fields, so a container for which this is false
    /// (never started, or already cleaned up) needs no runtime `delete`.
    pub(crate) fn has_runtime_resources(&self) -> bool {
        self.state.mounted || self.state.monitor_pid != 0 || self.state.network.is_some()
    }
}

/// Paths of one container's files.
#[derive(Debug, Clone)]
pub(crate) struct ContainerPaths {
    /// `root/containers/<id>/userdata`: the bundle, logs, /etc files.
    pub userdata: PathBuf,
    pub log: PathBuf,
    pub pid_file: PathBuf,
    pub monitor_pid_file: PathBuf,
    pub exit_file: PathBuf,
    pub exit_dir: PathBuf,
    pub persist_dir: PathBuf,
}
