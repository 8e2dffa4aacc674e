//! Network namespaces kept alive by a bind mount on a file, as `ip netns`
//! does, so netavark and the runtime can join them by path.
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use tracing::{debug, warn};

use crate::{NetworkError, Result};

/// Creates a new network namespace and bind-mounts it on `path`.
///
/// The namespace is made by a helper thread: `unshare(CLONE_NEWNET)` moves
/// only the calling thread, so berth's own threads stay in the host's
/// namespace, and the thread ends once its namespace is mounted.
pub fn create(path: &Path) -> Result<()> {
    let error = |op: &'static str, source: std::io::Error| NetworkError::Namespace {
        op,
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| error("create directory for", e))?;
    }
    // A berth killed between making the mount point and recording it leaves
    // one behind; nothing else uses this container's path.
    if path.exists() {
        remove(path)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| error("create mount point for", e))?;

    let target = path.to_path_buf();
    let mounted = std::thread::spawn(move || -> std::io::Result<()> {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET)?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("the namespace thread panicked")));

    if let Err(source) = mounted {
        let _ = std::fs::remove_file(path);
        return Err(error("create", source));
    }
    debug!(path = %path.display(), "network namespace created");
    Ok(())
}

/// Unmounts and deletes a namespace made by [`create`]. A missing one is
/// not an error, so cleanup can run more than once.
pub fn remove(path: &Path) -> Result<()> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) => {}
        // Not mounted (EINVAL) or already gone (ENOENT).
        Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(errno) => {
            warn!(path = %path.display(), %errno, "unmounting the network namespace failed");
            return Err(NetworkError::Namespace {
                op: "unmount",
                path: path.to_path_buf(),
                source: errno.into(),
            });
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(NetworkError::Namespace {
            op: "remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}
