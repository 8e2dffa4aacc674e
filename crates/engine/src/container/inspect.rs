//! `inspect`: Podman-shaped JSON of one container.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::inspect_network::{self, InspectHostPort, InspectNetworkSettings};
use super::{ContainerStatus, MountRequest};
use crate::{Engine, Result};

/// The zero time Go prints for unset timestamps, as Podman shows it.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    pub id: String,
    pub created: DateTime<Utc>,
    pub path: String,
    pub args: Vec<String>,
    pub state: InspectState,
    pub image: String,
    pub image_name: String,
    pub rootfs: String,
    pub pid_file: String,
    pub conmon_pid_file: String,
    pub name: String,
    pub restart_count: u32,
    pub driver: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Vec<String>,
    pub graph_driver: GraphDriver,
    pub mounts: Vec<InspectMount>,
    pub dependencies: Vec<String>,
    pub static_dir: String,
    #[serde(rename = "OCIConfigPath")]
    pub oci_config_path: String,
    #[serde(rename = "OCIRuntime")]
    pub oci_runtime: String,
    pub log_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub resolv_conf_path: String,
    pub is_infra: bool,
    pub config: InspectConfig,
    pub host_config: InspectHostConfig,
    pub network_settings: InspectNetworkSettings,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectState {
    pub oci_version: String,
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i32,
    pub conmon_pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub checkpointed: bool,
    pub checkpointed_at: String,
    pub checkpoint_path: String,
    pub checkpoint_log: String,
    pub restored: bool,
    pub restored_at: String,
    pub restore_log: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    pub name: String,
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectMount {
    #[serde(rename = "Type")]
    pub kind: String,
    pub source: String,
    pub destination: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectConfig {
    pub hostname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub open_stdin: bool,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub image: String,
    pub working_dir: String,
    pub entrypoint: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: i32,
    pub stop_timeout: u32,
    pub create_command: Vec<String>,
    /// `{"80/tcp": {}}`, the shape Docker and Podman print.
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    pub volumes: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectHostConfig {
    pub binds: Vec<String>,
    pub tmpfs: BTreeMap<String, String>,
    pub network_mode: String,
    pub port_bindings: BTreeMap<String, Vec<InspectHostPort>>,
    pub auto_remove: bool,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub memory: i64,
    pub nano_cpus: i64,
    pub pids_limit: i64,
    pub ulimits: Vec<BTreeMap<String, serde_json::Value>>,
    pub init: bool,
    pub restart_policy: BTreeMap<String, serde_json::Value>,
    pub runtime: String,
    pub security_opt: Vec<String>,
    /// `private` with `--uidmap`, `keep-id`, or empty for berth's own user
    /// namespace.
    pub userns_mode: String,
    #[serde(rename = "IDMappings", skip_serializing_if = "Option::is_none")]
    pub id_mappings: Option<InspectIdMappings>,
}

/// The maps of a container's own user namespace, each line as
/// `CONTAINER_ID:HOST_ID:AMOUNT`.
#[derive(Debug, Clone, Serialize)]
pub struct InspectIdMappings {
    #[serde(rename = "UidMap")]
    pub uid_map: Vec<String>,
    #[serde(rename = "GidMap")]
    pub gid_map: Vec<String>,
}

impl Engine {
    /// The container's configuration and synced state.
    pub fn inspect(&self, name_or_id: &str) -> Result<ContainerInspect> {
        let (_lock, container) = self.lock_container(name_or_id)?;
        let paths = self.paths(&container.id);
        let config = &container.config;
        let state = &container.state;
        let status = state.status();
        let container_dir = self.store.container_dir(&container.id);
        let driver = self.store.driver();

        let mut graph_data = BTreeMap::new();
        graph_data.insert(
            "MergedDir".to_string(),
            container_dir.join("merged").display().to_string(),
        );
        if driver == berth_storage::Driver::Overlay {
            graph_data.insert(
                "UpperDir".to_string(),
                container_dir.join("upper").display().to_string(),
            );
            graph_data.insert(
                "WorkDir".to_string(),
                container_dir.join("work").display().to_string(),
            );
        }

        let args: Vec<String> = config
            .entrypoint
            .iter()
            .chain(&config.command)
            .cloned()
            .collect();
        let userdata = |name: &str| paths.userdata.join(name).display().to_string();

        Ok(ContainerInspect {
            id: container.id.clone(),
            created: container.created_at,
            path: args.first().cloned().unwrap_or_default(),
            args: args.iter().skip(1).cloned().collect(),
            state: InspectState {
                oci_version: "1.0.2-dev".into(),
                status: status.as_str().into(),
                running: status == ContainerStatus::Running,
                paused: status == ContainerStatus::Paused,
                restarting: false,
                oom_killed: state.oom_killed,
                dead: false,
                pid: state.pid,
                conmon_pid: state.monitor_pid,
                exit_code: state.exit_code.unwrap_or(0),
                error: state.error.clone(),
                started_at: go_time(state.started_at),
                finished_at: go_time(state.finished_at),
                checkpointed: state.checkpoint.checkpointed,
                checkpointed_at: go_time(state.checkpoint.checkpointed_at),
                checkpoint_path: path_text(&state.checkpoint.path),
                checkpoint_log: path_text(&state.checkpoint.log),
                restored: state.checkpoint.restored,
                restored_at: go_time(state.checkpoint.restored_at),
                restore_log: path_text(&state.checkpoint.restore_log),
            },
            image: container.image_id.clone(),
            image_name: config.image_name.clone(),
            rootfs: String::new(),
            pid_file: paths.pid_file.display().to_string(),
            conmon_pid_file: paths.monitor_pid_file.display().to_string(),
            name: container.name.clone(),
            restart_count: state.restart_count,
            driver: driver.name().into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: self
                .synced_exec_sessions(&container.id)?
                .into_iter()
                .map(|session| session.id)
                .collect(),
            graph_driver: GraphDriver {
                name: driver.name().into(),
                data: graph_data,
            },
            mounts: config.mounts.iter().filter_map(inspect_mount).collect(),
            dependencies: Vec::new(),
            static_dir: paths.userdata.display().to_string(),
            oci_config_path: userdata("config.json"),
            oci_runtime: config.runtime.clone(),
            log_path: paths.log.display().to_string(),
            hostname_path: userdata("hostname"),
            hosts_path: userdata("hosts"),
            resolv_conf_path: userdata("resolv.conf"),
            is_infra: false,
            config: InspectConfig {
                hostname: if config.hostname.is_empty() {
                    container.short_id().into()
                } else {
                    config.hostname.clone()
                },
                user: config.user.clone(),
                attach_stdin: config.interactive,
                attach_stdout: true,
                attach_stderr: true,
                tty: config.tty,
                open_stdin: config.interactive,
                env: config.env.clone(),
                cmd: config.command.clone(),
                image: config.image_name.clone(),
                working_dir: config.workdir.clone(),
                entrypoint: config.entrypoint.clone(),
                labels: config.labels.clone(),
                stop_signal: config.stop_signal,
                stop_timeout: config.stop_timeout,
                create_command: config.create_command.clone(),
                exposed_ports: config
                    .exposed_ports
                    .iter()
                    .map(|port| (port.clone(), serde_json::json!({})))
                    .collect(),
                volumes: config
                    .image_volumes
                    .iter()
                    .map(|path| (path.clone(), serde_json::json!({})))
                    .collect(),
            },
            host_config: InspectHostConfig {
                binds: config
                    .mounts
                    .iter()
                    .filter_map(|m| match m {
                        MountRequest::Bind {
                            source,
                            destination,
                            read_only,
                        } => Some(format!(
                            "{}:{}:{}",
                            source.display(),
                            destination,
                            if *read_only { "ro" } else { "rw" }
                        )),
                        MountRequest::Tmpfs { .. } => None,
                    })
                    .collect(),
                tmpfs: config
                    .mounts
                    .iter()
                    .filter_map(|m| match m {
                        MountRequest::Tmpfs {
                            destination,
                            options,
                        } => Some((destination.clone(), options.join(","))),
                        MountRequest::Bind { .. } => None,
                    })
                    .collect(),
                network_mode: config.network.clone(),
                port_bindings: inspect_network::port_bindings(&container),
                auto_remove: config.auto_remove,
                privileged: config.privileged,
                readonly_rootfs: config.read_only,
                cap_add: config.cap_add.clone(),
                cap_drop: config.cap_drop.clone(),
                memory: config.memory_limit.unwrap_or(0),
                nano_cpus: config.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
                pids_limit: config.pids_limit.unwrap_or(0),
                ulimits: config
                    .ulimits
                    .iter()
                    .map(|u| {
                        BTreeMap::from([
                            (
                                "Name".to_string(),
                                serde_json::json!(format!("RLIMIT_{}", u.name.to_uppercase())),
                            ),
                            ("Soft".to_string(), serde_json::json!(u.soft)),
                            ("Hard".to_string(), serde_json::json!(u.hard)),
                        ])
                    })
                    .collect(),
                init: config.init,
                restart_policy: BTreeMap::from([
                    (
                        "Name".to_string(),
                        serde_json::json!(config.restart_policy.name()),
                    ),
                    (
                        "MaximumRetryCount".to_string(),
                        serde_json::json!(match config.restart_policy {
                            super::RestartPolicy::OnFailure { max_retries } => max_retries,
                            _ => 0,
                        }),
                    ),
                ]),
                runtime: config.runtime.clone(),
                security_opt: security_opt(config),
                userns_mode: config.userns.clone(),
                id_mappings: config
                    .id_mappings
                    .as_ref()
                    .map(|mappings| InspectIdMappings {
                        uid_map: super::userns::inspect_maps(&mappings.uids),
                        gid_map: super::userns::inspect_maps(&mappings.gids),
                    }),
            },
            network_settings: inspect_network::settings(&container),
        })
    }
}

fn inspect_mount(mount: &MountRequest) -> Option<InspectMount> {
    match mount {
        MountRequest::Bind {
            source,
            destination,
            read_only,
        } => Some(InspectMount {
            kind: "bind".into(),
            source: source.display().to_string(),
            destination: destination.clone(),
            rw: !read_only,
            options: vec!["rbind".into()],
        }),
        MountRequest::Tmpfs { .. } => None,
    }
}

fn path_text(path: &Option<std::path::PathBuf>) -> String {
    path.as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default()
}

fn go_time(time: Option<DateTime<Utc>>) -> String {
    time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_else(|| GO_ZERO_TIME.into())
}

/// Builds `HostConfig.SecurityOpt` as Podman shows it.
fn security_opt(config: &super::ContainerConfig) -> Vec<String> {
    let mut options = Vec::new();
    if config.no_new_privileges {
        options.push("no-new-privileges".to_string());
    }
    if let Some(profile) = &config.seccomp_profile {
        options.push(format!("seccomp={profile}"));
    }
    options
}
