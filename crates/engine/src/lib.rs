//! berth's engine: container lifecycle on top of the runtime layer
//! (`berth-oci`) and the image store (`berth-storage`), with state in
//! SQLite. This is the library API the `berth` CLI is built on; another
//! program can embed it without a daemon.
//!
//! ```no_run
//! use berth_engine::{CreateOptions, Engine, EngineOptions};
//!
//! let engine = Engine::open(EngineOptions::rootful())?;
//! let id = engine.create(&CreateOptions {
//!     image: "busybox".into(),
//!     command: Some(vec!["echo".into(), "hello".into()]),
//!     ..CreateOptions::default()
//! })?;
//! engine.start(&id)?;
//! let exit_code = engine.wait(&id)?;
//! assert_eq!(exit_code, 0);
//! # Ok::<(), berth_engine::EngineError>(())
//! ```
#![deny(unsafe_code)]

mod checkpoint_archive;
pub mod container;
mod disk_usage;
mod error;
mod etc_files;
pub mod events;
mod exec;
mod image;
mod info;
mod lock;
mod names;
mod network;
mod pause_point;
mod process;
pub mod rootless;
mod state;
mod systemd;
mod user;

use std::path::{Path, PathBuf};

pub use berth_network::{Network, NetworkRequest, PortMapping};
pub use berth_oci::attach::{AttachIo, AttachSocket};
pub use berth_oci::cgroup::start_migration_wait as start_cgroup_migration_wait;
pub use berth_oci::logs::Stream as LogStream;
pub use berth_storage::registry::{
    default_auth_file, search_registries, Credentials, NoProgress, PullOptions, RegistryOptions,
    TransferProgress,
};
pub use berth_storage::StorageError;
pub use berth_storage::{ArchiveFormat, Change, ChangeKind, CommitOptions, PlatformChoice};
pub use container::{
    CheckpointOptions, CheckpointReport, CheckpointState, Container, ContainerConfig,
    ContainerInspect, ContainerState, ContainerStatus, ContainerSummary, CreateOptions,
    InterfaceState, ListOptions, LogLine, LogOptions, MountRequest, NetworkConfig, NetworkState,
    RemoveOptions, RestartPolicy, RestoreOptions, RestoreReport, WaitCondition,
};
pub use disk_usage::{DiskUsage, UsageSummary};
pub use error::{ArchiveProblem, EngineError, Result};
pub use exec::{ExecInspect, ExecOptions, ExecProcessConfig, ExecTerminal};
pub use image::{
    login, logout, HistoryEntry, ImageInspect, ImageSummary, LoadedImage, RemovedImage,
};
pub use info::{CheckpointInfo, Info, MountProgramInfo};
pub use network::NetworkSummary;

use berth_network::NetworkStore;
use berth_oci::Monitor;
use berth_storage::{Store, StoreOptions};
use state::StateDb;

/// Where the engine keeps its files and which programs it runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Persistent root: `state.db`, blobs, layers, containers.
    pub root: PathBuf,
    /// Volatile run root: exit files, locks, runtime state, boot marker.
    pub runroot: PathBuf,
    /// Default OCI runtime: `crun`, `runc` or a path.
    pub runtime: String,
    /// conmon binary; `None` searches PATH.
    pub conmon: Option<PathBuf>,
    /// The program conmon runs when a container exits, with the arguments
    /// that select this root and run root; the engine appends
    /// `container cleanup ID`. Defaults to the running executable.
    pub cleanup_program: Option<PathBuf>,
    /// Passes debug log levels to conmon and the runtime.
    pub debug: bool,
    /// The engine runs for an ordinary user, inside the user namespace of
    /// [`rootless::enter`]: containers get no cgroup, slirp4netns networks
    /// and only init-process signals.
    pub rootless: bool,
    /// The user's `--storage-opt KEY=VALUE` options for the image store.
    pub storage_options: Vec<String>,
}

impl EngineOptions {
    /// The default paths of a rootful engine: `/var/lib/berth` and
    /// `/run/berth`, with crun.
    pub fn rootful() -> EngineOptions {
        EngineOptions {
            root: PathBuf::from("/var/lib/berth"),
            runroot: PathBuf::from("/run/berth"),
            runtime: "crun".into(),
            conmon: None,
            cleanup_program: None,
            debug: false,
            rootless: false,
            storage_options: Vec::new(),
        }
    }
}

/// An open engine: one per command. Cheap to open; holds two SQLite
/// connections (containers and images).
pub struct Engine {
    options: EngineOptions,
    db: StateDb,
    store: Store,
    /// Network definitions and IP allocations under `root/networks`.
    networks: NetworkStore,
    /// Runtimes found so far, by the name or path they were asked for, so
    /// that one command searches `PATH` once per runtime.
    runtimes: std::sync::Mutex<Vec<(String, berth_oci::Runtime)>>,
}

impl Engine {
    /// Opens (and on first use creates) the state under `options.root` and
    /// `options.runroot`. After a reboot (no boot marker in the run root)
    /// this refreshes container states first.
    pub fn open(options: EngineOptions) -> Result<Engine> {
        for dir in [&options.root, &options.runroot] {
            std::fs::create_dir_all(dir)
                .map_err(|e| EngineError::io("create directory", dir, e))?;
        }
        let options = EngineOptions {
            root: canonical(&options.root)?,
            runroot: canonical(&options.runroot)?,
            ..options
        };
        let db = StateDb::open(&options.root.join("state.db"))?;
        let store_options = StoreOptions::parse(&options.storage_options)?;
        let store = Store::open_with_options(&options.root, &options.runroot, &store_options)?;
        let networks = NetworkStore::open(&options.root.join("networks"))?;
        let engine = Engine {
            options,
            db,
            store,
            networks,
            runtimes: std::sync::Mutex::new(Vec::new()),
        };
        engine.refresh_after_reboot()?;
        Ok(engine)
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    fn monitor(&self) -> Result<Monitor> {
        Ok(Monitor::find(self.options.conmon.as_deref())?)
    }

    fn runtime(&self, name: &str) -> Result<berth_oci::Runtime> {
        let mut runtimes = self
            .runtimes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, runtime)) = runtimes.iter().find(|(found, _)| found == name) {
            return Ok(runtime.clone());
        }
        let runtime = berth_oci::Runtime::find(name, &self.options.runroot.join("runtime"))?;
        runtimes.push((name.to_string(), runtime.clone()));
        Ok(runtime)
    }
}

/// Parses a signal as users write it (`TERM`, `SIGKILL`, `9`, `RTMIN+3`).
pub fn parse_signal(signal: &str) -> Result<i32> {
    Ok(berth_oci::signal::parse(signal)?)
}

fn canonical(path: &Path) -> Result<PathBuf> {
    path.canonicalize()
        .map_err(|e| EngineError::io("resolve path", path, e))
}
