//! Root filesystems for containers in a user namespace of their own
//! (`--uidmap`, `--userns=keep-id`): the image's files must show their
//! original owners inside, so the rootfs is shifted into the mapped range.
//!
//! As root, each lower layer is mounted idmapped (`mount_setattr` with
//! `MOUNT_ATTR_IDMAP`, Linux 5.12+; overlay accepts idmapped layers since
//! 5.19) and the overlay is mounted on top, so nothing is copied. Inside a
//! user namespace (rootless berth) the kernel refuses to idmap a mount whose
//! filesystem belongs to the initial user namespace, because that needs
//! CAP_SYS_ADMIN there. Then the layers are copied once per container into
//! `lower/`, with owners changed by the mapping, as containers/storage does
//! without fuse-overlayfs.
#![allow(unsafe_code)]

use std::collections::HashSet;
use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{umount2, MntFlags};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::copy::copy_layer;
use crate::error::io_err;
use crate::metadata::lchown;
use crate::{Result, StorageError};

/// Directory in a container dir where the idmapped layers are mounted
/// while the overlay is being mounted.
pub(crate) const IDMAPPED_DIR: &str = "idmapped";
/// Directory in a container dir with the shifted copy of the layers.
pub(crate) const SHIFTED_LOWER_DIR: &str = "lower";
/// File in a container dir written once `lower/` is complete.
pub(crate) const SHIFTED_LOWER_COMPLETE: &str = "lower.complete";

// From linux/mount.h; the libc crate does not have all of them.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x0000_0004;

/// `struct mount_attr` of linux/mount.h.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// One line of a uid or gid map: `size` ids from `container_id` inside
/// map to ids from `host_id` in the namespace of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

/// The uid and gid maps of a container's user namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMappings {
    pub uids: Vec<IdMapping>,
    pub gids: Vec<IdMapping>,
}

impl IdMappings {
    /// Returns the host uid of container uid `id`, if the map covers it.
    pub fn host_uid(&self, id: u32) -> Option<u32> {
        map_id(&self.uids, id)
    }

    /// Returns the host gid of container gid `id`, if the map covers it.
    pub fn host_gid(&self, id: u32) -> Option<u32> {
        map_id(&self.gids, id)
    }
}

fn map_id(mappings: &[IdMapping], id: u32) -> Option<u32> {
    mappings.iter().find_map(|mapping| {
        let offset = id.checked_sub(mapping.container_id)?;
        (offset < mapping.size).then(|| mapping.host_id + offset)
    })
}

/// Formats a map as `/proc/PID/uid_map` takes it.
fn proc_map(mappings: &[IdMapping]) -> String {
    mappings
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

/// Makes the overlay's lower dirs for a mapped container: idmapped mounts
/// of the layers as root, a shifted copy inside a user namespace. Returns
/// the dirs to give as `lowerdir`, top first, and whether they are mounts
/// that [`release_lower`] must detach once the overlay references them.
pub(crate) fn prepare_lower(
    container_id: &str,
    dir: &Path,
    layers: &[PathBuf],
    mappings: &IdMappings,
) -> Result<(Vec<PathBuf>, bool)> {
    if crate::userns::in_user_namespace() {
        let lower = shifted_copy(container_id, dir, layers, mappings)?;
        return Ok((vec![lower], false));
    }
    let mounted = idmapped_layers(container_id, dir, layers, mappings)?;
    Ok((mounted, true))
}

/// Detaches the idmapped layer mounts made by [`prepare_lower`]; the
/// overlay keeps its own references to them.
pub(crate) fn release_lower(container_id: &str, dir: &Path) {
    let idmapped = dir.join(IDMAPPED_DIR);
    let Ok(entries) = fs::read_dir(&idmapped) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match umount2(&path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(Errno::EINVAL) => {}
            Err(e) => {
                warn!(container_id, path = %path.display(), error = %e, "detaching an idmapped layer failed")
            }
        }
        if let Err(e) = fs::remove_dir(&path) {
            warn!(container_id, path = %path.display(), error = %e, "removing an idmapped layer mount point failed");
        }
    }
    let _ = fs::remove_dir(&idmapped);
}

/// Gives the upper dir's root the owner of the container's root, because
/// the overlay's root directory shows the upper dir's owner.
pub(crate) fn chown_upper(upper: &Path, mappings: &IdMappings) -> Result<()> {
    let (uid, gid) = root_ids(mappings, upper)?;
    lchown(upper, uid.into(), gid.into())
}

fn root_ids(mappings: &IdMappings, path: &Path) -> Result<(u32, u32)> {
    match (mappings.host_uid(0), mappings.host_gid(0)) {
        (Some(uid), Some(gid)) => Ok((uid, gid)),
        _ => Err(StorageError::UnmappedOwner {
            path: path.to_path_buf(),
            uid: 0,
            gid: 0,
        }),
    }
}

/// Mounts each layer idmapped at `dir/idmapped/N` and returns those paths.
fn idmapped_layers(
    container_id: &str,
    dir: &Path,
    layers: &[PathBuf],
    mappings: &IdMappings,
) -> Result<Vec<PathBuf>> {
    let userns = user_namespace(mappings)?;
    let idmapped = dir.join(IDMAPPED_DIR);
    // A mount point left by an interrupted mount would be in the way.
    release_lower(container_id, dir);
    fs::create_dir_all(&idmapped).map_err(io_err("create directory", &idmapped))?;

    let mut mounted = Vec::with_capacity(layers.len());
    for (index, layer) in layers.iter().enumerate() {
        let target = idmapped.join(index.to_string());
        let result = fs::create_dir(&target)
            .map_err(io_err("create directory", &target))
            .and_then(|()| mount_idmapped(layer, &target, &userns));
        if let Err(error) = result {
            release_lower(container_id, dir);
            return Err(error);
        }
        mounted.push(target);
    }
    debug!(
        container_id,
        layers = layers.len(),
        "mounted idmapped layers"
    );
    Ok(mounted)
}

/// Clones the mount at `source`, attaches the id mapping of `userns` to
/// the clone and moves it to `target`.
fn mount_idmapped(source: &Path, target: &Path, userns: &OwnedFd) -> Result<()> {
    let failed = |step: &'static str| {
        let errno = Errno::last();
        move || StorageError::IdmappedMountFailed {
            path: source.to_path_buf(),
            step,
            source: errno,
        }
    };
    let source_c = c_path(source)?;
    let target_c = c_path(target)?;

    // SAFETY: open_tree reads a NUL-terminated path and returns a new fd or -1.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            source_c.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | AT_RECURSIVE,
        )
    };
    if tree < 0 {
        return Err(failed("open_tree")());
    }
    // SAFETY: the kernel just returned this fd, and nothing else owns it.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as i32) };

    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let empty = c"";
    // SAFETY: `attr` is a valid mount_attr of the size passed, and the
    // empty path with AT_EMPTY_PATH names the detached tree itself.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if result < 0 {
        return Err(failed("mount_setattr")());
    }

    // SAFETY: both paths are NUL-terminated; the empty source path with
    // MOVE_MOUNT_F_EMPTY_PATH names the detached tree.
    let result = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target_c.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if result < 0 {
        return Err(failed("move_mount")());
    }
    Ok(())
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| StorageError::IdmappedMountFailed {
        path: path.to_path_buf(),
        step: "path",
        source: Errno::EINVAL,
    })
}

/// Returns an fd of a new user namespace with `mappings`, made by a child
/// process that waits until the maps are written and the fd is open.
fn user_namespace(mappings: &IdMappings) -> Result<OwnedFd> {
    let failed = |step: &'static str| {
        move |source: Errno| StorageError::UserNamespaceFailed { step, source }
    };
    let (ready_read, ready_write) = nix::unistd::pipe().map_err(failed("pipe"))?;
    let (done_read, done_write) = nix::unistd::pipe().map_err(failed("pipe"))?;

    // SAFETY: the child only makes async-signal-safe system calls (close,
    // unshare, write, read, _exit) and allocates nothing, so forking a
    // process that may have other threads is sound.
    let child = match unsafe { nix::unistd::fork() }.map_err(failed("fork"))? {
        nix::unistd::ForkResult::Child => {
            drop(ready_read);
            drop(done_write);
            let created = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = nix::unistd::write(&ready_write, &[u8::from(created)]);
            let mut byte = [0u8; 1];
            let _ = nix::unistd::read(done_read.as_raw_fd(), &mut byte);
            // SAFETY: _exit ends the child without running the parent's
            // exit handlers or destructors.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => child,
    };
    drop(ready_write);
    drop(done_read);

    let result = (|| {
        let mut byte = [0u8; 1];
        let read = nix::unistd::read(ready_read.as_raw_fd(), &mut byte).map_err(failed("read"))?;
        if read != 1 || byte[0] != 1 {
            return Err(failed("unshare")(Errno::EPERM));
        }
        for (file, map) in [
            ("uid_map", proc_map(&mappings.uids)),
            ("gid_map", proc_map(&mappings.gids)),
        ] {
            let path = format!("/proc/{child}/{file}");
            fs::write(&path, map.as_bytes()).map_err(|e| StorageError::UserNamespaceFailed {
                step: if file == "uid_map" {
                    "write uid_map"
                } else {
                    "write gid_map"
                },
                source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            })?;
        }
        let path = format!("/proc/{child}/ns/user");
        let file = fs::File::open(&path).map_err(|e| StorageError::UserNamespaceFailed {
            step: "open the namespace",
            source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
        Ok(OwnedFd::from(file))
    })();

    drop(done_write);
    let _ = nix::sys::wait::waitpid(child, None);
    result
}

/// Copies the layers into `dir/lower` with owners shifted by `mappings`,
/// unless a complete copy is there from an earlier start.
fn shifted_copy(
    container_id: &str,
    dir: &Path,
    layers: &[PathBuf],
    mappings: &IdMappings,
) -> Result<PathBuf> {
    let lower = dir.join(SHIFTED_LOWER_DIR);
    let marker = dir.join(SHIFTED_LOWER_COMPLETE);
    if marker.exists() {
        return Ok(lower);
    }
    if lower.exists() {
        fs::remove_dir_all(&lower).map_err(io_err("remove incomplete copy", &lower))?;
    }
    fs::create_dir_all(&lower).map_err(io_err("create directory", &lower))?;
    debug!(container_id, path = %lower.display(), layers = layers.len(), "copying image layers to shift their owners");
    for layer in layers.iter().rev() {
        copy_layer(layer, &lower)?;
    }
    shift_owners(&lower, mappings)?;
    fs::write(&marker, b"").map_err(io_err("write", &marker))?;
    Ok(lower)
}

/// Changes the owner of every file under `root`, `root` included, from
/// the id it has to the host id `mappings` gives that id.
// NOTE: chown drops a file's security.capability xattr, which is not
// restored, so file capabilities of the image are lost in the copy.
pub(crate) fn shift_owners(root: &Path, mappings: &IdMappings) -> Result<()> {
    let mut seen = HashSet::new();
    shift_path(root, mappings, &mut seen)
}

fn shift_path(path: &Path, mappings: &IdMappings, seen: &mut HashSet<(u64, u64)>) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(io_err("inspect", path))?;
    // A hard-linked file is shifted once, through its first name.
    if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
        return Ok(());
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(io_err("read directory", path))? {
            let entry = entry.map_err(io_err("read directory", path))?;
            shift_path(&entry.path(), mappings, seen)?;
        }
    }
    let (uid, gid) = match (mappings.host_uid(meta.uid()), mappings.host_gid(meta.gid())) {
        (Some(uid), Some(gid)) => (uid, gid),
        _ => {
            return Err(StorageError::UnmappedOwner {
                path: path.to_path_buf(),
                uid: meta.uid(),
                gid: meta.gid(),
            })
        }
    };
    lchown(path, uid.into(), gid.into())?;
    // chown clears the set-user-ID and set-group-ID bits, even for root.
    let mode = meta.mode() & 0o7777;
    if !meta.file_type().is_symlink() && mode & 0o6000 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(io_err("chmod", path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep_id_like() -> IdMappings {
        let uids = vec![
            IdMapping {
                container_id: 0,
                host_id: 1,
                size: 1000,
            },
            IdMapping {
                container_id: 1000,
                host_id: 0,
                size: 1,
            },
            IdMapping {
                container_id: 1001,
                host_id: 1001,
                size: 100,
            },
        ];
        IdMappings {
            gids: uids.clone(),
            uids,
        }
    }

    #[test]
    fn host_uid_follows_each_range() {
        let mappings = keep_id_like();
        assert_eq!(mappings.host_uid(0), Some(1));
        assert_eq!(mappings.host_uid(999), Some(1000));
        assert_eq!(mappings.host_uid(1000), Some(0));
        assert_eq!(mappings.host_uid(1001), Some(1001));
        assert_eq!(mappings.host_uid(1100), Some(1100));
        assert_eq!(mappings.host_uid(1101), None);
    }

    #[test]
    fn proc_map_has_one_line_per_range() {
        assert_eq!(
            proc_map(&keep_id_like().uids),
            "0 1 1000\n1000 0 1\n1001 1001 100\n"
        );
    }
}
