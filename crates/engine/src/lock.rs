//! Per-container locks: an exclusive flock on `runroot/locks/<id>`, so two
//! berth processes never act on one container at once. The lock is dropped
//! with the file descriptor, also when the process dies.
use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::{EngineError, Result};

pub(crate) struct ContainerLock {
    _file: Flock<File>,
}

impl ContainerLock {
    /// Blocks until the lock of container `id` is held.
    pub fn acquire(runroot: &Path, id: &str) -> Result<ContainerLock> {
        let (path, file) = open(runroot, id)?;
        let file = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| EngineError::io("lock", &path, errno.into()))?;
        Ok(ContainerLock { _file: file })
    }

    /// Takes the lock if no other process holds it; `None` when one does.
    pub fn try_acquire(runroot: &Path, id: &str) -> Result<Option<ContainerLock>> {
        let (path, file) = open(runroot, id)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(file) => Ok(Some(ContainerLock { _file: file })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, errno)) => Err(EngineError::io("lock", &path, errno.into())),
        }
    }

    /// Deletes the lock file of a removed container. Called with the lock
    /// held; a waiter that then takes the unlinked file's lock finds the
    /// container gone.
    pub fn remove_file(runroot: &Path, id: &str) {
        let _ = std::fs::remove_file(runroot.join("locks").join(id));
    }
}

fn open(runroot: &Path, id: &str) -> Result<(std::path::PathBuf, File)> {
    let dir = runroot.join("locks");
    std::fs::create_dir_all(&dir).map_err(|e| EngineError::io("create directory", &dir, e))?;
    let path = dir.join(id);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| EngineError::io("open lock", &path, e))?;
    Ok((path, file))
}
