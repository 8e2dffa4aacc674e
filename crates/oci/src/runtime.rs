//! The OCI runtime binary (crun, runc): one method per runtime verb.
use std::path::{Path, PathBuf};

use crate::Result;

/// What `<runtime> state` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeState {
    /// `creating`, `created`, `running`, `paused` or `stopped`.
    pub status: String,
    pub pid: i32,
}

/// An OCI runtime binary with its own state directory (`--root`), so that
/// each berth run root sees only its own containers.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// `crun`, `runc`, or the file name of a runtime given by path.
    pub name: String,
    pub path: PathBuf,
    /// Passed as `--root` before every verb.
    pub state_root: PathBuf,
}

impl Runtime {
    /// Resolves `crun`, `runc` (searched in PATH) or a path to a runtime
    /// binary. The state root is `state_root_base/<name>`.
    pub fn find(name_or_path: &str, state_root_base: &Path) -> Result<Runtime> {
        let _ = (name_or_path, state_root_base);
        todo!()
    }

    /// Global arguments that go before the verb (`--root DIR`).
    pub fn global_args(&self) -> Vec<String> {
        todo!()
    }

    /// The runtime's view of a container, or `None` when it does not know it.
    pub fn state(&self, id: &str) -> Result<Option<RuntimeState>> {
        let _ = id;
        todo!()
    }

    pub fn start(&self, id: &str) -> Result<()> {
        let _ = id;
        todo!()
    }

    /// Sends `signal` to the init process, or to every process of the
    /// container with `all`.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let _ = (id, signal, all);
        todo!()
    }

    /// Deletes the container from the runtime; succeeds when the runtime
    /// does not know it.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let _ = (id, force);
        todo!()
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        let _ = id;
        todo!()
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        let _ = id;
        todo!()
    }

    /// The first line of `<runtime> --version`.
    pub fn version(&self) -> Result<String> {
        todo!()
    }
}
