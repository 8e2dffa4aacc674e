//! `create`: record a container. The runtime container and conmon are made
//! later by `init`, on start, as Podman does, so created containers cost
//! only a row and a directory.
use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::Utc;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tracing::debug;

use super::{
    Container, ContainerConfig, ContainerState, ContainerStatus, RestartPolicy, UlimitConfig,
};
use crate::{names, Engine, EngineError, Result};

/// The default stop timeout in seconds, as Podman's.
const DEFAULT_STOP_TIMEOUT: u32 = 10;

/// Podman's default limit on the number of processes in a container.
const DEFAULT_PIDS_LIMIT: i64 = 2048;

/// Linux's limit on a hostname's length (HOST_NAME_MAX).
const HOSTNAME_MAX: usize = 64;

/// Podman's default PATH for containers whose image sets none.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Options of `create` and `run`, as the CLI flags give them.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub image: String,
    pub name: Option<String>,
    /// The command after the image name; `None` uses the image's Cmd.
    pub command: Option<Vec<String>>,
    /// `--entrypoint`: `Some(vec![])` for `--entrypoint ""` clears it.
    pub entrypoint: Option<Vec<String>>,
    /// `-e KEY=VALUE` or `-e KEY` (taken from berth's own environment).
    pub env: Vec<String>,
    pub env_files: Vec<PathBuf>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    /// `-v SOURCE:DEST[:ro|rw]`.
    pub volumes: Vec<String>,
    /// `--tmpfs DEST[:OPTIONS]`.
    pub tmpfs: Vec<String>,
    /// `--mount type=bind|tmpfs,...`.
    pub mount_specs: Vec<String>,
    pub read_only: bool,
    /// With `read_only`, mount tmpfs on /tmp, /var/tmp and /run (Podman's
    /// `--read-only-tmpfs`, default true when `None`).
    pub read_only_tmpfs: Option<bool>,
    pub init: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    /// `--security-opt` values; `no-new-privileges` is supported.
    pub security_opt: Vec<String>,
    /// `--ulimit NAME=SOFT[:HARD]`.
    pub ulimits: Vec<String>,
    /// `--memory`, e.g. `512m`.
    pub memory: Option<String>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    /// `--label KEY=VALUE`.
    pub labels: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    /// `crun`, `runc` or a path; `None` uses the engine's default.
    pub runtime: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    /// `--rm`.
    pub auto_remove: bool,
    /// `bridge` (the default for root), `none`, `host`, a network name,
    /// `ns:PATH` or `container:NAME`.
    pub network: Option<String>,
    /// `-p [HOSTIP:][HOSTPORT:]CPORT[/PROTOCOL]`.
    pub publish: Vec<String>,
    /// `-P`: publish every port the image exposes on a free host port.
    pub publish_all: bool,
    /// `--dns`: name servers for /etc/resolv.conf.
    pub dns: Vec<String>,
    /// `--dns-search`: search domains for /etc/resolv.conf.
    pub dns_search: Vec<String>,
    /// `--add-host NAME:IP` lines for /etc/hosts.
    pub add_hosts: Vec<String>,
    /// `--userns`: `host` (the default) or, for an ordinary user, `keep-id`.
    pub userns: Option<String>,
    /// `--uidmap CONTAINER_ID:HOST_ID:AMOUNT` values (root only).
    pub uidmap: Vec<String>,
    /// `--gidmap CONTAINER_ID:HOST_ID:AMOUNT` values (root only).
    pub gidmap: Vec<String>,
    pub create_command: Vec<String>,
    /// `--sdnotify`: `container` (default), `conmon` or `ignore`.
    pub sdnotify: Option<String>,
    /// `--restart`: `no`, `always`, `on-failure[:N]`, `unless-stopped`.
    pub restart: Option<String>,
}

/// A mount the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MountRequest {
    Bind {
        source: PathBuf,
        destination: String,
        read_only: bool,
    },
    Tmpfs {
        destination: String,
        options: Vec<String>,
    },
}

impl Engine {
    /// Creates a container from an image and returns its 64-hex id. Nothing
    /// runs yet: the container is `created` and [`Engine::start`] starts it.
    pub fn create(&self, options: &CreateOptions) -> Result<String> {
        let image = self.store.lookup(&options.image)?;
        let image_config = self.store.config(&image)?;
        let image_config = image_config.config().clone().unwrap_or_default();
        let config = resolve_config(self, options, &image_config, &image.names)?;

        // A missing runtime or conmon is reported now, before a container
        // exists that could only fail to start.
        self.runtime(&config.runtime)?;
        self.monitor()?;

        let name = match &options.name {
            Some(name) => {
                names::validate(name)?;
                name.clone()
            }
            None => self.unused_name()?,
        };
        let id = new_id();
        let container = Container {
            id: id.clone(),
            name,
            image_id: image.id.clone(),
            created_at: Utc::now(),
            config,
            state: ContainerState {
                status: Some(ContainerStatus::Configured),
                ..ContainerState::default()
            },
        };

        // The row comes first: a crash after it leaves a container that
        // `rm` removes, while a directory without a row would be lost.
        self.db.insert(&container)?;
        crate::pause_point::reach("create-after-insert");
        let userdata = self.paths(&id).userdata;
        if let Err(e) = std::fs::create_dir_all(&userdata) {
            let error = EngineError::io("create directory", &userdata, e);
            return Err(match self.db.delete(&id, None) {
                Ok(()) => error,
                Err(cleanup) => EngineError::WithCleanupFailure {
                    error: Box::new(error),
                    cleanup: Box::new(cleanup),
                },
            });
        }
        debug!(container_id = %id, name = %container.name, image = %image.id, "container created");
        self.emit(&container, "create");
        Ok(id)
    }

    fn unused_name(&self) -> Result<String> {
        for _ in 0..100 {
            let name = names::generate();
            if !self.db.name_exists(&name)? {
                return Ok(name);
            }
        }
        // After 100 collisions, a numbered suffix still gives a readable name.
        Ok(format!("{}_{}", names::generate(), rand::random::<u16>()))
    }
}

/// A new random 64-hex-digit id, for containers and exec sessions.
pub(crate) fn new_id() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn resolve_config(
    engine: &Engine,
    options: &CreateOptions,
    image: &oci_spec::image::Config,
    image_names: &[String],
) -> Result<ContainerConfig> {
    let entrypoint = match &options.entrypoint {
        Some(entrypoint) => entrypoint.clone(),
        None => image.entrypoint().clone().unwrap_or_default(),
    };
    // An explicit entrypoint drops the image's Cmd, as Docker and Podman do.
    let command = match (&options.command, &options.entrypoint) {
        (Some(command), _) if !command.is_empty() => command.clone(),
        (_, Some(_)) => Vec::new(),
        _ => image.cmd().clone().unwrap_or_default(),
    };
    if entrypoint.is_empty() && command.is_empty() {
        return Err(EngineError::NoCommand {
            image: options.image.clone(),
        });
    }

    let stop_signal = match options
        .stop_signal
        .as_deref()
        .or(image.stop_signal().as_deref())
    {
        Some(signal) => berth_oci::signal::parse(signal)?,
        None => libc::SIGTERM,
    };
    let rootless = engine.options.rootless;
    let userns = super::userns::resolve(
        options.userns.as_deref(),
        &options.uidmap,
        &options.gidmap,
        rootless,
    )?;
    // `--memory 0` means no limit, as in Podman.
    let memory_limit = options
        .memory
        .as_deref()
        .filter(|value| value.trim() != "0")
        .map(parse_memory)
        .transpose()?;
    let cpus = validate_cpus(options.cpus)?;
    // A rootless container has slirp4netns (and its own port forwarding)
    // instead of netavark's networks.
    let (network, network_config, ports) = if rootless {
        reject_rootless_limits(memory_limit, cpus, options.pids_limit)?;
        let network = resolve_rootless_network(options.network.as_deref())?;
        let ports = resolve_rootless_ports(&options.publish, &network)?;
        (network, super::network::NetworkConfig::default(), ports)
    } else {
        let exposed_ports = image.exposed_ports().clone().unwrap_or_default();
        let (network, network_config) = super::network::resolve(engine, options, &exposed_ports)?;
        (network, network_config, Vec::new())
    };
    let security = parse_security_opts(&options.security_opt)?;

    Ok(ContainerConfig {
        // The name the user gave, when the image has it; an id gets the
        // image's first name, as in Podman.
        image_name: image_names
            .iter()
            .find(|name| crate::image::names_match(name, &options.image))
            .or(image_names.first())
            .cloned()
            .unwrap_or_else(|| options.image.clone()),
        entrypoint,
        command,
        env: resolve_env(options, image)?,
        workdir: options
            .workdir
            .clone()
            .or_else(|| image.working_dir().clone().filter(|w| !w.is_empty()))
            .unwrap_or_else(|| "/".into()),
        // keep-id runs the process as the user, over the image's USER too,
        // as Podman does.
        user: options
            .user
            .clone()
            .or(userns.default_user)
            .or_else(|| image.user().clone().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "0:0".into()),
        hostname: validate_hostname(options.hostname.as_deref())?,
        mounts: read_only_tmpfs(
            parse_mounts(&options.volumes, &options.tmpfs, &options.mount_specs)?,
            options.read_only && options.read_only_tmpfs.unwrap_or(true),
        ),
        read_only: options.read_only,
        init: options.init,
        cap_add: options.cap_add.clone(),
        cap_drop: options.cap_drop.clone(),
        privileged: options.privileged,
        no_new_privileges: security.no_new_privileges,
        seccomp_profile: security.seccomp_profile,
        seccomp_profile_text: security.seccomp_profile_text,
        ulimits: options
            .ulimits
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<Result<_>>()?,
        memory_limit,
        cpus,
        pids_limit: match options.pids_limit {
            // A rootless container has no cgroup to hold a limit.
            None if rootless => None,
            // Podman's default (containers.conf pids_limit).
            None => Some(DEFAULT_PIDS_LIMIT),
            // 0 and -1 mean no limit.
            Some(limit) if limit <= 0 => None,
            limit => limit,
        },
        labels: merge_labels(image, parse_labels(&options.labels)?),
        stop_signal,
        stop_timeout: options.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT),
        runtime: absolute_runtime(
            options
                .runtime
                .as_deref()
                .unwrap_or(&engine.options.runtime),
        ),
        tty: options.tty,
        interactive: options.interactive,
        auto_remove: options.auto_remove,
        network,
        network_config,
        ports,
        create_command: options.create_command.clone(),
        restart_policy: parse_restart(options.restart.as_deref(), options.auto_remove)?,
        sdnotify: crate::systemd::parse_sdnotify(options.sdnotify.as_deref())?,
        exposed_ports: image.exposed_ports().clone().unwrap_or_default(),
        image_volumes: image.volumes().clone().unwrap_or_default(),
        userns: userns.mode,
        id_mappings: userns.mappings,
    })
}

/// The image's labels overridden by the `-l` ones, as Podman merges them.
fn merge_labels(
    image: &oci_spec::image::Config,
    given: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = image
        .labels()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    labels.extend(given);
    labels
}

/// Checks `--network` of a rootless container: `slirp4netns` (the
/// default), `none` or `host`.
fn resolve_rootless_network(network: Option<&str>) -> Result<String> {
    let network = network.unwrap_or("slirp4netns");
    match network {
        "none" | "host" | "slirp4netns" => Ok(network.to_string()),
        other => Err(EngineError::Unsupported {
            feature: format!(
                "--network {other} for rootless containers (available: slirp4netns, none, host)"
            ),
        }),
    }
}

/// Parses the `-p` values of a rootless container. Its ports are published
/// through slirp4netns, so they need that network, and host ports an
/// ordinary user may bind.
fn resolve_rootless_ports(
    publish: &[String],
    network: &str,
) -> Result<Vec<berth_network::PortMapping>> {
    if publish.is_empty() {
        return Ok(Vec::new());
    }
    if network != "slirp4netns" {
        return Err(EngineError::InvalidOption {
            option: "--publish",
            value: publish.join(" "),
            reason: format!(
                "ports can only be published with --network slirp4netns, not {network}"
            ),
        });
    }
    let first_unprivileged = berth_network::ports::first_unprivileged_port();
    let mut ports = Vec::new();
    for mapping in publish
        .iter()
        .map(|value| berth_network::ports::parse_publish(value))
    {
        for mapping in mapping? {
            // Not supported yet: nothing reserves a free host port for
            // slirp4netns, so a rootless -p needs an explicit host port.
            if mapping.host_port == 0 {
                return Err(EngineError::Unsupported {
                    feature: format!("-p {mapping} without a host port for rootless containers"),
                });
            }
            ports.push(check_rootless_port(mapping, first_unprivileged)?);
        }
    }
    Ok(ports)
}

fn check_rootless_port(
    mapping: berth_network::PortMapping,
    first_unprivileged: u16,
) -> Result<berth_network::PortMapping> {
    if mapping.host_port < first_unprivileged {
        return Err(EngineError::RootlessPrivilegedPort {
            port: mapping.host_port,
            container_port: mapping.container_port,
            first_unprivileged,
            suggestion: u32::from(mapping.host_port) + 8000,
        });
    }
    Ok(mapping)
}

/// Rejects resource limits for a rootless container on a host where the
/// user cannot own a cgroup.
// NOTE: cgroup v2 hosts that delegate a cgroup to the user (systemd's
// user@.service) could honour the limits; berth rejects them there too,
// because it has no systemd cgroup manager to place the container.
fn reject_rootless_limits(
    memory_limit: Option<i64>,
    cpus: Option<f64>,
    pids_limit: Option<i64>,
) -> Result<()> {
    let option = if memory_limit.is_some() {
        "--memory"
    } else if cpus.is_some() {
        "--cpus"
    } else if pids_limit.is_some_and(|limit| limit > 0) {
        "--pids-limit"
    } else {
        return Ok(());
    };
    Err(EngineError::RootlessResourceLimit {
        option,
        cgroup_version: match berth_oci::cgroup::detect() {
            berth_oci::cgroup::CgroupMode::Unified => "v2",
            berth_oci::cgroup::CgroupMode::Hybrid | berth_oci::cgroup::CgroupMode::Legacy => "v1",
        },
    })
}

/// Image Env, then env files, then `-e`, later ones overriding earlier ones.
fn resolve_env(options: &CreateOptions, image: &oci_spec::image::Config) -> Result<Vec<String>> {
    let mut env = EnvList::default();
    env.set(DEFAULT_PATH);
    for entry in image.env().clone().unwrap_or_default() {
        env.set(&entry);
    }
    apply_user_env(&mut env, &options.env_files, &options.env)?;
    if options.tty && !env.contains("TERM") {
        env.set("TERM=xterm");
    }
    env.set("container=berth");
    Ok(env.into_entries())
}

/// Applies `--env-file` files, then `-e` entries, later ones overriding
/// earlier ones.
pub(crate) fn apply_user_env(
    env: &mut EnvList,
    env_files: &[PathBuf],
    entries: &[String],
) -> Result<()> {
    for file in env_files {
        let text =
            std::fs::read_to_string(file).map_err(|e| EngineError::io("read env file", file, e))?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            env.set(line);
        }
    }
    for entry in entries {
        if entry.is_empty() || entry.starts_with('=') {
            return Err(EngineError::InvalidOption {
                option: "--env",
                value: entry.clone(),
                reason: "expected KEY=VALUE or KEY".into(),
            });
        }
        env.set(entry);
    }
    Ok(())
}

/// Environment entries in order of first definition.
#[derive(Default)]
pub(crate) struct EnvList {
    entries: Vec<(String, String)>,
}

impl EnvList {
    /// A list holding `KEY=VALUE` entries as a runtime spec has them.
    pub(crate) fn from_entries(entries: &[String]) -> EnvList {
        let mut env = EnvList::default();
        for entry in entries {
            if let Some((key, value)) = entry.split_once('=') {
                env.set(&format!("{key}={value}"));
            }
        }
        env
    }

    pub(crate) fn into_entries(self) -> Vec<String> {
        self.entries
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Sets `KEY=VALUE`; a bare `KEY` takes berth's own value and is
    /// skipped when berth has none.
    pub(crate) fn set(&mut self, entry: &str) {
        let (key, value) = match entry.split_once('=') {
            Some((key, value)) => (key.to_string(), value.to_string()),
            None => match std::env::var(entry) {
                Ok(value) => (entry.to_string(), value),
                Err(_) => return,
            },
        };
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(existing) => existing.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }
}

fn parse_restart(value: Option<&str>, auto_remove: bool) -> Result<RestartPolicy> {
    let Some(value) = value else {
        return Ok(RestartPolicy::No);
    };
    let policy = RestartPolicy::parse(value).ok_or_else(|| EngineError::InvalidOption {
        option: "--restart",
        value: value.to_string(),
        reason: "use no, always, on-failure[:MAX_RETRIES] or unless-stopped".into(),
    })?;
    if auto_remove && policy != RestartPolicy::No {
        return Err(EngineError::InvalidOption {
            option: "--restart",
            value: value.to_string(),
            reason: "a restart policy cannot be combined with --rm".into(),
        });
    }
    Ok(policy)
}

fn validate_hostname(hostname: Option<&str>) -> Result<String> {
    let Some(hostname) = hostname else {
        return Ok(String::new());
    };
    let valid_chars = hostname
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if hostname.is_empty() || hostname.len() > HOSTNAME_MAX || !valid_chars {
        return Err(EngineError::InvalidOption {
            option: "--hostname",
            value: hostname.chars().take(80).collect(),
            reason: format!("a hostname has 1 to {HOSTNAME_MAX} letters, digits, '-', '.' or '_'"),
        });
    }
    Ok(hostname.to_string())
}

/// Adds Podman's tmpfs mounts of a read-only container on /tmp, /var/tmp and
/// /run, except where the user mounts something there already.
fn read_only_tmpfs(mut mounts: Vec<MountRequest>, enabled: bool) -> Vec<MountRequest> {
    if !enabled {
        return mounts;
    }
    for destination in ["/tmp", "/var/tmp", "/run"] {
        let taken = mounts.iter().any(|m| match m {
            MountRequest::Bind { destination: d, .. }
            | MountRequest::Tmpfs { destination: d, .. } => d == destination,
        });
        if !taken {
            mounts.push(MountRequest::Tmpfs {
                destination: destination.to_string(),
                options: vec!["rw".into(), "nosuid".into(), "nodev".into()],
            });
        }
    }
    mounts
}

/// The settings requested with `--security-opt`.
#[derive(Debug, Default)]
struct SecurityOptions {
    no_new_privileges: bool,
    seccomp_profile: Option<String>,
    seccomp_profile_text: Option<String>,
}

/// Parses `--security-opt`, in Podman's `key=value` and older `key:value`
/// forms.
fn parse_security_opts(values: &[String]) -> Result<SecurityOptions> {
    let mut security = SecurityOptions::default();
    for value in values {
        let (key, setting) = value.split_once(['=', ':']).unwrap_or((value.as_str(), ""));
        match (key, setting) {
            ("no-new-privileges", "" | "true") => security.no_new_privileges = true,
            ("no-new-privileges", "false") => security.no_new_privileges = false,
            ("seccomp", "") => {
                return Err(EngineError::InvalidOption {
                    option: "--security-opt",
                    value: value.clone(),
                    reason: "expected seccomp=unconfined or seccomp=PROFILE.json".into(),
                })
            }
            ("seccomp", "unconfined") => {
                security.seccomp_profile = Some(setting.to_string());
                security.seccomp_profile_text = None;
            }
            ("seccomp", path) => {
                let (absolute, text) = read_seccomp_profile(value, path)?;
                security.seccomp_profile = Some(absolute);
                security.seccomp_profile_text = Some(text);
            }
            // berth sets no SELinux label and no AppArmor profile, so these
            // request the behaviour it has anyway.
            ("label", "disable") | ("apparmor", "unconfined") => {}
            _ => {
                return Err(EngineError::Unsupported {
                    feature: format!("--security-opt {value}"),
                })
            }
        }
    }
    Ok(security)
}

/// Reads and converts a `seccomp=PATH` profile at create, so a missing or
/// invalid file fails here, and the container keeps the text it had then,
/// as Podman does. Returns the absolute path and the text.
fn read_seccomp_profile(value: &str, path: &str) -> Result<(String, String)> {
    let invalid = |reason: String| EngineError::InvalidOption {
        option: "--security-opt",
        value: value.to_string(),
        reason,
    };
    let absolute =
        std::path::absolute(path).map_err(|e| invalid(format!("cannot resolve the path: {e}")))?;
    let text =
        berth_oci::spec::read_seccomp_profile(&absolute).map_err(|e| invalid(e.to_string()))?;
    Ok((absolute.to_string_lossy().into_owned(), text))
}

fn parse_mounts(
    volumes: &[String],
    tmpfs: &[String],
    mount_specs: &[String],
) -> Result<Vec<MountRequest>> {
    let mut mounts = Vec::new();
    for volume in volumes {
        mounts.push(parse_volume(volume)?);
    }
    for spec in mount_specs {
        mounts.push(parse_mount_spec(spec)?);
    }
    for entry in tmpfs {
        let (destination, options) = entry.split_once(':').unwrap_or((entry.as_str(), ""));
        if !destination.starts_with('/') {
            return Err(EngineError::InvalidOption {
                option: "--tmpfs",
                value: entry.clone(),
                reason: "the mount point must be an absolute path".into(),
            });
        }
        mounts.push(MountRequest::Tmpfs {
            destination: destination.to_string(),
            options: options
                .split(',')
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect(),
        });
    }
    Ok(mounts)
}

/// Parses `--mount` in Podman's form: comma-separated `KEY=VALUE` fields
/// (and the bare flags `ro`, `readonly`, `rw`) with `type=bind` or
/// `type=tmpfs`.
fn parse_mount_spec(spec: &str) -> Result<MountRequest> {
    let invalid = |reason: String| EngineError::InvalidOption {
        option: "--mount",
        value: spec.to_string(),
        reason,
    };
    let mut kind = None;
    let mut source = None;
    let mut destination = None;
    let mut read_only = false;
    let mut tmpfs_options = Vec::new();
    for field in spec.split(',').filter(|field| !field.is_empty()) {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match (key, value) {
            ("type", value) => kind = Some(value),
            ("source" | "src", value) => source = Some(value),
            ("destination" | "dst" | "target", value) => destination = Some(value),
            ("ro" | "readonly", "" | "true") | ("rw", "false") => read_only = true,
            ("ro" | "readonly", "false") | ("rw", "" | "true") => read_only = false,
            ("tmpfs-size", value) => tmpfs_options.push(format!("size={value}")),
            ("tmpfs-mode", value) => tmpfs_options.push(format!("mode={value}")),
            // SELinux relabeling has no effect on this host (no SELinux).
            ("relabel", "shared" | "private") => {}
            _ => return Err(invalid(format!("unknown field {field:?}"))),
        }
    }

    let Some(destination) = destination.filter(|d| d.starts_with('/')) else {
        return Err(invalid(
            "destination= must be an absolute path in the container".into(),
        ));
    };
    match kind {
        Some("bind") => {
            let Some(source) = source.filter(|s| s.starts_with('/')) else {
                return Err(invalid("source= must be an absolute host path".into()));
            };
            if !tmpfs_options.is_empty() {
                return Err(invalid("tmpfs-size and tmpfs-mode need type=tmpfs".into()));
            }
            bind_request(source, destination, read_only)
        }
        Some("tmpfs") => {
            if source.is_some() {
                return Err(invalid("a tmpfs mount takes no source".into()));
            }
            if read_only {
                tmpfs_options.push("ro".into());
            }
            Ok(MountRequest::Tmpfs {
                destination: destination.to_string(),
                options: tmpfs_options,
            })
        }
        Some(other @ ("volume" | "image" | "devpts" | "glob")) => Err(EngineError::Unsupported {
            feature: format!("--mount type={other}"),
        }),
        _ => Err(invalid("type= must be bind or tmpfs".into())),
    }
}

fn parse_volume(volume: &str) -> Result<MountRequest> {
    let invalid = |reason: &str| EngineError::InvalidOption {
        option: "--volume",
        value: volume.to_string(),
        reason: reason.to_string(),
    };
    let parts: Vec<&str> = volume.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [source, destination] => (*source, *destination, ""),
        [source, destination, mode] => (*source, *destination, *mode),
        _ => return Err(invalid("expected SOURCE:DESTINATION[:ro|rw]")),
    };
    if !source.starts_with('/') {
        return Err(EngineError::Unsupported {
            feature: format!("named volume {source:?} (give an absolute host path to bind-mount)"),
        });
    }
    if !destination.starts_with('/') {
        return Err(invalid(
            "the destination must be an absolute path in the container",
        ));
    }
    let mut read_only = false;
    for option in mode.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" => read_only = false,
            // SELinux relabeling has no effect on this host (no SELinux).
            "z" | "Z" => {}
            _ => return Err(invalid("unknown option: use ro or rw")),
        }
    }
    bind_request(source, destination, read_only)
}

/// Returns a bind mount of `source`, which must exist on the host, as
/// both `-v` and `--mount type=bind` give it.
fn bind_request(source: &str, destination: &str, read_only: bool) -> Result<MountRequest> {
    let source = PathBuf::from(source);
    if let Err(e) = std::fs::metadata(&source) {
        return Err(EngineError::io("bind mount source", source, e));
    }
    Ok(MountRequest::Bind {
        source,
        destination: destination.to_string(),
        read_only,
    })
}

fn parse_ulimit(value: &str) -> Result<UlimitConfig> {
    let invalid = |reason: &str| EngineError::InvalidOption {
        option: "--ulimit",
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let (name, limits) = value
        .split_once('=')
        .ok_or_else(|| invalid("expected NAME=SOFT[:HARD]"))?;
    let parse = |s: &str| -> Result<u64> {
        if s == "-1" || s == "unlimited" {
            return Ok(u64::MAX);
        }
        s.parse()
            .map_err(|_| invalid("limits must be numbers, -1 or unlimited"))
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((soft, hard)) => (parse(soft)?, parse(hard)?),
        None => {
            let limit = parse(limits)?;
            (limit, limit)
        }
    };
    if soft > hard {
        return Err(invalid("the soft limit is above the hard limit"));
    }
    Ok(UlimitConfig {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// Parses `--memory` values such as `512m`, `1g`, `1048576`, `64k`.
/// Returns a runtime given by a relative path as an absolute one, so that
/// later commands run from another directory find it. Names stay names.
fn absolute_runtime(runtime: &str) -> String {
    if runtime.contains('/') {
        if let Ok(path) = std::path::absolute(runtime) {
            return path.to_string_lossy().into_owned();
        }
    }
    runtime.to_string()
}

pub(crate) fn parse_memory(value: &str) -> Result<i64> {
    let invalid = || EngineError::InvalidOption {
        option: "--memory",
        value: value.to_string(),
        reason: "expected a size such as 512m, 1g or a number of bytes".into(),
    };
    let lower = value.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, multiplier) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        Some('t') => (&lower[..lower.len() - 1], 1 << 40),
        _ => (lower, 1),
    };
    let number: f64 = digits.parse().map_err(|_| invalid())?;
    let bytes = number * multiplier as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < i64::MAX as f64) {
        return Err(invalid());
    }
    // The kernel refuses memory limits below a few pages; Podman's minimum is 6 MiB.
    if bytes < (6 << 20) as f64 {
        return Err(EngineError::InvalidOption {
            option: "--memory",
            value: value.to_string(),
            reason: "the minimum memory limit is 6m".into(),
        });
    }
    Ok(bytes as i64)
}

fn validate_cpus(cpus: Option<f64>) -> Result<Option<f64>> {
    match cpus {
        Some(c) if !(c.is_finite() && c > 0.0) => Err(EngineError::InvalidOption {
            option: "--cpus",
            value: c.to_string(),
            reason: "expected a positive number of CPUs, such as 0.5 or 2".into(),
        }),
        other => Ok(other),
    }
}

fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for label in labels {
        let (key, value) = label.split_once('=').unwrap_or((label.as_str(), ""));
        if key.is_empty() {
            return Err(EngineError::InvalidOption {
                option: "--label",
                value: label.clone(),
                reason: "expected KEY=VALUE".into(),
            });
        }
        map.insert(key.to_string(), value.to_string());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_runtime_path_made_absolute() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            absolute_runtime("./wrap.sh"),
            cwd.join("wrap.sh").to_string_lossy()
        );
        assert_eq!(absolute_runtime("/usr/bin/crun"), "/usr/bin/crun");
        assert_eq!(absolute_runtime("crun"), "crun");
    }

    #[test]
    fn parse_memory_accepts_units() {
        assert_eq!(parse_memory("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory("1GB").unwrap(), 1 << 30);
        assert_eq!(parse_memory("8388608").unwrap(), 8 << 20);
    }

    #[test]
    fn parse_memory_rejects_garbage_and_tiny_limits() {
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("-5m").is_err());
        assert!(parse_memory("1k").is_err());
    }

    #[test]
    fn parse_ulimit_reads_soft_and_hard() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 1024, 2048));
        let u = parse_ulimit("nproc=64").unwrap();
        assert_eq!((u.soft, u.hard), (64, 64));
        assert!(parse_ulimit("nofile=2048:1024").is_err());
        assert!(parse_ulimit("nofile").is_err());
    }

    #[test]
    fn parse_mount_spec_reads_bind_and_tmpfs() {
        assert_eq!(
            parse_mount_spec("type=bind,source=/tmp,destination=/data,readonly").unwrap(),
            MountRequest::Bind {
                source: PathBuf::from("/tmp"),
                destination: "/data".into(),
                read_only: true
            }
        );
        assert_eq!(
            parse_mount_spec("type=tmpfs,dst=/scratch,tmpfs-size=1m,tmpfs-mode=1777").unwrap(),
            MountRequest::Tmpfs {
                destination: "/scratch".into(),
                options: vec!["size=1m".into(), "mode=1777".into()]
            }
        );
        for bad in [
            "type=bind,src=/tmp",
            "type=bind,src=tmp,dst=/data",
            "type=tmpfs,src=/tmp,dst=/data",
            "type=bind,src=/tmp,dst=/data,tmpfs-size=1m",
            "type=nfs,dst=/data",
            "type=bind,src=/tmp,dst=/data,bogus=1",
        ] {
            assert!(
                matches!(
                    parse_mount_spec(bad),
                    Err(EngineError::InvalidOption { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_mount_spec("type=volume,src=v,dst=/data"),
            Err(EngineError::Unsupported { .. })
        ));
    }

    #[test]
    fn parse_volume_reads_mode() {
        let mount = parse_volume("/tmp:/data:ro").unwrap();
        assert_eq!(
            mount,
            MountRequest::Bind {
                source: PathBuf::from("/tmp"),
                destination: "/data".into(),
                read_only: true
            }
        );
        assert!(parse_volume("/tmp:data").is_err());
        assert!(parse_volume("/tmp:/data:bogus").is_err());
        assert!(parse_volume("/nonexistent-berth-source:/data").is_err());
        assert!(matches!(
            parse_volume("vol:/data"),
            Err(EngineError::Unsupported { .. })
        ));
    }
}
