//! Runtime spec (config.json) generation with Podman's defaults.
mod defaults;
mod exec;
mod seccomp;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capabilities, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxIdMapping,
    LinuxIdMappingBuilder, LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount, MountBuilder,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use crate::cgroup::{self, CgroupMode};
use crate::{OciError, Result};

pub use exec::{exec_process, load_process, write_process, ExecProcessOptions};
pub use seccomp::HOST_PROFILE as HOST_SECCOMP_PROFILE;

/// The runtime spec version Podman writes.
pub const OCI_VERSION: &str = "1.0.2-dev";
/// Where [`SpecOptions::init_path`] is mounted in the container.
pub const INIT_MOUNT_POINT: &str = "/run/berth-init";
/// `PATH` for containers whose environment has none (Podman's default).
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// CFS period used to turn `--cpus` into a quota, in microseconds.
const CPU_PERIOD: u64 = 100_000;

/// The container's process user, already resolved to numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// One mount in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    Bind {
        source: PathBuf,
        destination: String,
        read_only: bool,
    },
    /// `options` as `--tmpfs` gives them, e.g. `rw,size=64m`.
    Tmpfs {
        destination: String,
        options: Vec<String>,
    },
}

/// A `--ulimit` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// `nofile`, `nproc`... (without `RLIMIT_`).
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// One line of a user namespace's uid or gid map: `size` ids from
/// `container_id` map to ids from `host_id` in the runtime's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

/// A new user namespace for the container, with its id maps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserNamespace {
    pub uid_maps: Vec<IdMap>,
    pub gid_maps: Vec<IdMap>,
}

/// Network namespace choice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// A new, empty network namespace (loopback only).
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// An existing network namespace: a bind-mounted namespace file, or
    /// `/proc/PID/ns/net` of another container.
    Path(PathBuf),
}

/// What the engine decided about a container; [`generate`] turns it into a
/// spec with Podman's defaults (capabilities, masked and read-only paths,
/// /dev/shm, seccomp, rlimits capped at the engine's own hard limits).
#[derive(Debug, Clone, Default)]
pub struct SpecOptions {
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: ProcessUser,
    pub terminal: bool,
    pub hostname: String,
    pub mounts: Vec<MountSpec>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub no_new_privileges: bool,
    pub ulimits: Vec<Ulimit>,
    /// Bytes.
    pub memory_limit: Option<i64>,
    /// `--cpus` as a fraction of CPUs, turned into quota/period.
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    /// cgroupfs path, e.g. `/berth/<id>`.
    pub cgroups_path: String,
    /// Bytes; Podman's default is 64 MiB.
    pub shm_size: u64,
    pub annotations: BTreeMap<String, String>,
    /// A containers-style or OCI seccomp profile file; `None` uses the host's
    /// `/usr/share/containers/seccomp.json` when present, else a built-in one.
    pub seccomp_profile: Option<PathBuf>,
    /// The text of the `seccomp_profile` file as read when the container was
    /// created. When given it is used instead of the file, so a profile that
    /// was edited or removed since does not change the container.
    pub seccomp_profile_text: Option<String>,
    /// catatonit (or another init) bind-mounted at `/run/berth-init` and
    /// run as PID 1 in front of `args`.
    pub init_path: Option<PathBuf>,
    pub network: NetworkMode,
    /// The engine runs as an ordinary user, inside the user namespace of
    /// its pause process. The container then joins that namespace (the
    /// spec names none) and gets no cgroup and no resource limits. With the
    /// host's network namespace it gets /sys bind-mounted, because a user
    /// namespace may not mount the sysfs of a network namespace it does
    /// not own.
    pub rootless: bool,
    /// A user namespace of the container's own (`--uidmap`, `--userns=keep-id`);
    /// `None` keeps the engine's.
    pub user_namespace: Option<UserNamespace>,
}

/// Builds the runtime spec.
///
/// Privileged containers get every capability, no masked or read-only
/// paths, no seccomp filter, writable /sys and access to every device.
pub fn generate(options: &SpecOptions) -> Result<Spec> {
    let capability_names =
        defaults::resolve_capabilities(options.privileged, &options.cap_add, &options.cap_drop)?;

    let mut spec = SpecBuilder::default()
        .version(OCI_VERSION)
        .root(
            RootBuilder::default()
                .path(options.rootfs.clone())
                .readonly(options.readonly_rootfs)
                .build()?,
        )
        .hostname(options.hostname.clone())
        .process(build_process(options, &capability_names)?)
        .mounts(build_mounts(options)?)
        .linux(build_linux(options, &capability_names)?)
        .annotations(
            options
                .annotations
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect::<HashMap<_, _>>(),
        )
        .build()?;
    if options.hostname.is_empty() {
        // The runtime then keeps the hostname it inherits in the new UTS
        // namespace instead of setting an empty one.
        spec.set_hostname(None);
    }
    Ok(spec)
}

fn build_process(
    options: &SpecOptions,
    capability_names: &[&str],
) -> Result<oci_spec::runtime::Process> {
    let capabilities: Capabilities = capability_names
        .iter()
        .map(|name| defaults::to_oci_capability(name))
        .collect::<Result<HashSet<_>>>()?;
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(capabilities.clone())
        .effective(capabilities.clone())
        .permitted(capabilities)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()?;

    let mut args = Vec::new();
    if options.init_path.is_some() {
        args.extend([INIT_MOUNT_POINT.to_string(), "--".to_string()]);
    }
    args.extend(options.args.iter().cloned());

    let mut env = options.env.clone();
    if !env.iter().any(|entry| entry.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH_ENV.to_string());
    }
    if options.terminal && !env.iter().any(|entry| entry.starts_with("TERM=")) {
        env.push("TERM=xterm".to_string());
    }

    let cwd = if options.cwd.is_empty() {
        "/"
    } else {
        options.cwd.as_str()
    };
    let user = UserBuilder::default()
        .uid(options.user.uid)
        .gid(options.user.gid)
        .additional_gids(options.user.additional_gids.clone())
        .build()?;

    Ok(ProcessBuilder::default()
        .terminal(options.terminal)
        .user(user)
        .args(args)
        .env(env)
        .cwd(cwd)
        .capabilities(capabilities)
        .rlimits(defaults::rlimits(&options.ulimits)?)
        .no_new_privileges(options.no_new_privileges)
        .build()?)
}

/// Lists the default mounts, then the user's. A user mount replaces a
/// default mount at the same destination.
fn build_mounts(options: &SpecOptions) -> Result<Vec<Mount>> {
    let mut user_mounts = Vec::new();
    if let Some(init_path) = &options.init_path {
        user_mounts.push(
            MountBuilder::default()
                .destination(INIT_MOUNT_POINT)
                .typ("bind")
                .source(init_path.clone())
                .options(vec![
                    "bind".to_string(),
                    "ro".to_string(),
                    "nosuid".to_string(),
                    "nodev".to_string(),
                ])
                .build()?,
        );
    }
    for mount in &options.mounts {
        user_mounts.push(user_mount(mount)?);
    }

    let mut mounts = defaults::default_mounts(options.shm_size, options.privileged)?;
    // A user namespace may mount sysfs only for a network namespace it
    // owns: one the runtime creates with it (NetworkMode::None), not the
    // host's or one made beforehand.
    let sysfs_forbidden = match &options.network {
        NetworkMode::None => false,
        NetworkMode::Host => options.rootless || options.user_namespace.is_some(),
        NetworkMode::Path(_) => options.user_namespace.is_some(),
    };
    if sysfs_forbidden {
        defaults::bind_host_sys(&mut mounts, options.privileged)?;
    }
    mounts.retain(|default| {
        !user_mounts
            .iter()
            .any(|user| user.destination() == default.destination())
    });
    mounts.extend(user_mounts);
    Ok(mounts)
}

fn user_mount(mount: &MountSpec) -> Result<Mount> {
    let built = match mount {
        MountSpec::Bind {
            source,
            destination,
            read_only,
        } => {
            let mut mount_options = vec!["rbind".to_string(), "rprivate".to_string()];
            if *read_only {
                mount_options.push("ro".to_string());
            }
            MountBuilder::default()
                .destination(destination)
                .typ("bind")
                .source(source.clone())
                .options(mount_options)
                .build()?
        }
        MountSpec::Tmpfs {
            destination,
            options,
        } => {
            let mount_options = if options.is_empty() {
                ["rw", "rprivate", "nosuid", "nodev"]
                    .map(str::to_string)
                    .to_vec()
            } else {
                options.clone()
            };
            MountBuilder::default()
                .destination(destination)
                .typ("tmpfs")
                .source("tmpfs")
                .options(mount_options)
                .build()?
        }
    };
    Ok(built)
}

fn namespace(typ: LinuxNamespaceType) -> Result<LinuxNamespace> {
    Ok(LinuxNamespaceBuilder::default().typ(typ).build()?)
}

fn build_linux(
    options: &SpecOptions,
    capability_names: &[&str],
) -> Result<oci_spec::runtime::Linux> {
    let mut namespaces = vec![
        namespace(LinuxNamespaceType::Pid)?,
        namespace(LinuxNamespaceType::Ipc)?,
        namespace(LinuxNamespaceType::Uts)?,
        namespace(LinuxNamespaceType::Mount)?,
    ];
    match &options.network {
        NetworkMode::None => namespaces.push(namespace(LinuxNamespaceType::Network)?),
        NetworkMode::Host => {}
        NetworkMode::Path(path) => namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path(path.clone())
                .build()?,
        ),
    }
    if options.user_namespace.is_some() {
        namespaces.push(namespace(LinuxNamespaceType::User)?);
    }
    // Podman uses a private cgroup namespace on cgroup v2 hosts only.
    if cgroup::detect() == CgroupMode::Unified {
        namespaces.push(namespace(LinuxNamespaceType::Cgroup)?);
    }

    let mut resources =
        LinuxResourcesBuilder::default().devices(defaults::device_rules(options.privileged)?);
    if let Some(limit) = options.memory_limit {
        resources = resources.memory(LinuxMemoryBuilder::default().limit(limit).build()?);
    }
    if let Some(cpus) = options.cpus {
        let quota = (cpus * CPU_PERIOD as f64).round() as i64;
        resources = resources.cpu(
            LinuxCpuBuilder::default()
                .quota(quota)
                .period(CPU_PERIOD)
                .build()?,
        );
    }
    if let Some(limit) = options.pids_limit {
        resources = resources.pids(LinuxPidsBuilder::default().limit(limit).build()?);
    }

    let mut linux = LinuxBuilder::default().namespaces(namespaces);
    if let Some(user_namespace) = &options.user_namespace {
        linux = linux
            .uid_mappings(id_mappings(&user_namespace.uid_maps)?)
            .gid_mappings(id_mappings(&user_namespace.gid_maps)?);
    }
    // A rootless container has no cgroup of its own to hold limits; the
    // engine rejects limits before it gets here.
    if !options.rootless {
        linux = linux
            .resources(resources.build()?)
            .cgroups_path(PathBuf::from(&options.cgroups_path));
    }
    if !options.privileged {
        let capabilities: Vec<String> = capability_names
            .iter()
            .map(|name| format!("CAP_{name}"))
            .collect();
        let target = seccomp::Target::host(&capabilities);
        let filter = match (&options.seccomp_profile, &options.seccomp_profile_text) {
            (Some(origin), Some(text)) => Some(seccomp::convert(text, origin, &target)?),
            (path, _) => seccomp::load(path.as_deref(), &target)?,
        };
        if let Some(filter) = filter {
            linux = linux.seccomp(filter);
        }
        linux = linux
            .masked_paths(
                defaults::MASKED_PATHS
                    .iter()
                    .map(|path| path.to_string())
                    .collect::<Vec<_>>(),
            )
            .readonly_paths(
                defaults::READONLY_PATHS
                    .iter()
                    .map(|path| path.to_string())
                    .collect::<Vec<_>>(),
            );
    }
    let mut linux = linux.build()?;
    if options.rootless {
        // oci-spec's builder starts with a deny-all device rule.
        linux.set_resources(None);
    }
    if options.privileged {
        // oci-spec's builder starts from its own default masked and
        // read-only lists.
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    }
    Ok(linux)
}

/// Reads the seccomp profile at `path` and converts it for the host, as a
/// container start would, so a missing or invalid file is reported at
/// create. Returns the file's text, which the container keeps.
pub fn read_seccomp_profile(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| OciError::io("read seccomp profile", path, source))?;
    seccomp::convert(&text, path, &seccomp::Target::host(&[]))?;
    Ok(text)
}

fn id_mappings(maps: &[IdMap]) -> Result<Vec<LinuxIdMapping>> {
    maps.iter()
        .map(|map| {
            Ok(LinuxIdMappingBuilder::default()
                .container_id(map.container_id)
                .host_id(map.host_id)
                .size(map.size)
                .build()?)
        })
        .collect()
}

/// Writes `bundle/config.json`.
///
/// The JSON goes to a temporary file in the bundle that is then renamed
/// over config.json, so a reader never sees a partial file.
pub fn write_config(bundle: &Path, spec: &Spec) -> Result<()> {
    let path = bundle.join("config.json");
    let json = serde_json::to_vec_pretty(spec)
        .map_err(|error| OciError::io("serialize", &path, error.into()))?;

    // The rename keeps a crash from leaving half a file. No fsync: the
    // engine writes config.json anew on every start, so a copy lost to a
    // power failure is never read, and an fsync here costs milliseconds on
    // every start of a container on a busy disk.
    let mut temporary = tempfile::NamedTempFile::new_in(bundle)
        .map_err(|source| OciError::io("create temporary file in", bundle, source))?;
    temporary
        .write_all(&json)
        .map_err(|source| OciError::io("write", temporary.path(), source))?;
    temporary
        .persist(&path)
        .map_err(|error| OciError::io("rename to", &path, error.error))?;
    tracing::debug!(path = %path.display(), "wrote runtime spec");
    Ok(())
}

#[cfg(test)]
mod tests;
