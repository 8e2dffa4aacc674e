//! Runtime spec (config.json) generation with Podman's defaults.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::Result;

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
    Bind { source: PathBuf, destination: String, read_only: bool },
    /// `options` as `--tmpfs` gives them, e.g. `rw,size=64m`.
    Tmpfs { destination: String, options: Vec<String> },
}

/// A `--ulimit` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// `nofile`, `nproc`... (without `RLIMIT_`).
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// Network namespace choice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// A new, empty network namespace (loopback only).
    #[default]
    None,
    /// The host's network namespace.
    Host,
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
    /// catatonit (or another init) bind-mounted at `/run/berth-init` and
    /// run as PID 1 in front of `args`.
    pub init_path: Option<PathBuf>,
    pub network: NetworkMode,
}

/// Builds the runtime spec.
pub fn generate(options: &SpecOptions) -> Result<Spec> {
    let _ = options;
    todo!()
}

/// Writes `bundle/config.json`.
pub fn write_config(bundle: &Path, spec: &Spec) -> Result<()> {
    let _ = (bundle, spec);
    todo!()
}
