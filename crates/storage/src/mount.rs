//! Container root filesystems: an overlay mount of the image layers under
//! the container's own upper dir, or with [`Driver::Copy`] a full copy.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount as mount_syscall, umount, umount2, MntFlags, MsFlags};
use tracing::{debug, warn};

use crate::copy::copy_layer;
use crate::digest::{chain_ids, strip_algorithm};
use crate::error::io_err;
use crate::idmap::{self, IdMappings};
use crate::{fuse_overlay, Driver, Image, Result, StorageError, Store};

/// File in the run root that caches the probed driver until reboot.
const DRIVER_CACHE: &str = "storage-driver";
/// File in the root that names the overlay mount program its containers
/// were mounted with; it stays for the life of the root.
pub(crate) const MOUNT_PROGRAM_RECORD: &str = "overlay-mount-program";
/// File in a container dir written once its copy of the image is complete.
const COPY_COMPLETE: &str = "merged.complete";

/// Directory under the root where removed containers' files wait to be
/// deleted.
const TRASH_DIR: &str = "trash";
/// Directory, relative to the overlay work dir, that a "volatile" mount
/// leaves behind.
const VOLATILE_MARKER: &str = "work/incompat/volatile";
/// The kernel copies mount options into one page, NUL included.
const MAX_MOUNT_OPTIONS: usize = 4095;

/// Chooses how this root makes container root filesystems, and with which
/// mount program if any.
///
/// A mount program recorded in the root wins: the containers' upper dirs
/// were written through it. `requested` (the user's `overlay.mount_program`)
/// must match a recorded one, and is recorded when the root has none.
/// Otherwise the kernel's overlay is probed once per run root. Where it
/// fails inside a user namespace and fuse-overlayfs is usable, fuse-overlayfs
/// is recorded and used, as containers/storage does. Elsewhere each
/// container gets a full copy.
pub(crate) fn choose_driver(
    root: &Path,
    runroot: &Path,
    requested: Option<&Path>,
) -> Result<(Driver, Option<PathBuf>)> {
    let record = root.join(MOUNT_PROGRAM_RECORD);
    let recorded = match fs::read_to_string(&record) {
        Ok(text) => Some(PathBuf::from(text.trim())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("read", &record)(e)),
    };
    match (recorded, requested) {
        (Some(recorded), Some(requested)) if recorded != requested => {
            Err(StorageError::MountProgramMismatch {
                root: root.to_path_buf(),
                recorded,
                requested: requested.to_path_buf(),
            })
        }
        (Some(recorded), _) => {
            debug!(root = %root.display(), program = %recorded.display(), "the root records an overlay mount program");
            Ok((Driver::Overlay, Some(recorded)))
        }
        (None, Some(requested)) => {
            check_root_path(root)?;
            fuse_overlay::check_usable(requested)?;
            record_mount_program(&record, requested)?;
            Ok((Driver::Overlay, Some(requested.to_path_buf())))
        }
        (None, None) => match probe_driver(root, runroot) {
            Driver::Copy if crate::userns::in_user_namespace() => {
                let Some(program) = fuse_overlay::find_fuse_overlayfs() else {
                    return Ok((Driver::Copy, None));
                };
                if let Err(e) = fuse_overlay::check_usable(&program) {
                    warn!(error = %e, "fuse-overlayfs cannot replace the failed overlay mount");
                    return Ok((Driver::Copy, None));
                }
                warn!(root = %root.display(), program = %program.display(), "overlay mounts fail in the user namespace here; the root will use fuse-overlayfs");
                record_mount_program(&record, &program)?;
                Ok((Driver::Overlay, Some(program)))
            }
            driver => Ok((driver, None)),
        },
    }
}

fn record_mount_program(record: &Path, program: &Path) -> Result<()> {
    let temporary = record.with_extension("tmp");
    fs::write(&temporary, format!("{}\n", program.display()))
        .map_err(io_err("write", &temporary))?;
    fs::rename(&temporary, record).map_err(io_err("rename", &temporary))?;
    debug!(record = %record.display(), program = %program.display(), "recorded the overlay mount program");
    Ok(())
}

/// Returns the driver for this root, probed once per run root: an overlay
/// mount is tried in a scratch dir under `root`, where upper and work dirs
/// of containers will live.
fn probe_driver(root: &Path, runroot: &Path) -> Driver {
    let cache = runroot.join(DRIVER_CACHE);
    match fs::read_to_string(&cache).as_deref().map(str::trim) {
        Ok("overlay") => return Driver::Overlay,
        Ok("vfs") => return Driver::Copy,
        _ => {}
    }

    let driver = match try_overlay(root) {
        Ok(()) => Driver::Overlay,
        Err(reason) => {
            warn!(root = %root.display(), reason = %reason, "overlay mount failed; container root filesystems will be full copies");
            Driver::Copy
        }
    };
    debug!(driver = driver.name(), cache = %cache.display(), "probed storage driver");
    if let Err(e) = fs::write(&cache, driver.name()) {
        warn!(cache = %cache.display(), error = %e, "cannot cache the storage driver; it will be probed again");
    }
    driver
}

fn try_overlay(root: &Path) -> std::result::Result<(), String> {
    check_root_path(root).map_err(|e| e.to_string())?;
    let scratch = tempfile::Builder::new()
        .prefix(crate::import::TEMP_PREFIX)
        .tempdir_in(root)
        .map_err(|e| format!("create scratch dir in {}: {e}", root.display()))?;
    let dir = |name: &str| -> std::result::Result<PathBuf, String> {
        let path = scratch.path().join(name);
        fs::create_dir(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
        Ok(path)
    };
    let (lower, upper, work, merged) = (dir("lower")?, dir("upper")?, dir("work")?, dir("merged")?);

    let options = overlay_options(&[lower], &upper, &work);
    mount_syscall(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(|e| format!("mount -t overlay -o {options} {}: {e}", merged.display()))?;
    if let Err(e) = umount(&merged) {
        warn!(path = %merged.display(), error = %e, "cannot unmount the overlay probe; detaching it");
        let _ = umount2(&merged, MntFlags::MNT_DETACH);
    }
    Ok(())
}

/// Overlay options cannot escape ',' and ':' everywhere, so a root whose
/// path contains them is rejected.
fn check_root_path(root: &Path) -> Result<()> {
    let bytes = root.as_os_str().as_bytes();
    if bytes.contains(&b',') || bytes.contains(&b':') {
        return Err(StorageError::UnsupportedRootPath {
            path: root.to_path_buf(),
        });
    }
    Ok(())
}

/// Builds the option string; `lower` is ordered top layer first.
fn overlay_options(lower: &[PathBuf], upper: &Path, work: &Path) -> String {
    let lower: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    // index=off: the same lower layers are shared by many containers, and an
    // index would tie each upper dir to one set of lower dirs.
    format!(
        "lowerdir={},upperdir={},workdir={},index=off{}",
        lower.join(":"),
        upper.display(),
        work.display(),
        crate::userns::overlay_extra_options()
    )
}

/// Builds fuse-overlayfs's options: the layer dirs only, because
/// `index=off` and `userxattr` are options of the kernel's overlay.
fn fuse_overlay_options(lower: &[PathBuf], upper: &Path, work: &Path) -> String {
    let lower: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    )
}

/// Rejects ids that would name a path outside `containers/`.
fn check_container_id(container_id: &str) -> Result<()> {
    if container_id.is_empty()
        || container_id.contains('/')
        || container_id == "."
        || container_id == ".."
    {
        return Err(StorageError::InvalidContainerId {
            container_id: container_id.to_string(),
        });
    }
    Ok(())
}

/// Mounts the container's root filesystem; with `mappings`, shifted so the
/// image's files show their own owners in the container's user namespace.
pub(crate) fn mount(
    store: &Store,
    container_id: &str,
    image: &Image,
    mappings: Option<&IdMappings>,
    volatile: bool,
) -> Result<PathBuf> {
    check_container_id(container_id)?;
    let dir = store.container_dir(container_id);
    let merged = dir.join("merged");
    if is_mounted(store, container_id) {
        if store.mount_program.is_some() && !fuse_overlay::is_connected(&merged) {
            // The daemon of an earlier mount died: remount.
            warn!(container_id, path = %merged.display(), "the overlay mount program of this root filesystem is gone; mounting it again");
            unmount(store, container_id)?;
        } else {
            debug!(container_id, path = %merged.display(), "root filesystem already mounted");
            return Ok(merged);
        }
    }

    let lower = layer_dirs(store, image)?;
    match (store.driver, mappings) {
        (Driver::Overlay, None) => mount_overlay(store, container_id, &dir, &lower, volatile)?,
        (Driver::Overlay, Some(mappings)) => {
            mount_overlay_mapped(store, container_id, &dir, &lower, mappings, volatile)?
        }
        (Driver::Copy, _) => copy_rootfs(container_id, &dir, &lower, mappings)?,
    }
    Ok(merged)
}

/// Returns the image's layer dirs, top layer first, checking each exists.
pub(crate) fn layer_dirs(store: &Store, image: &Image) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::with_capacity(image.layers.len());
    for chain_id in chain_ids(&image.layers).iter().rev() {
        let diff = store.layer_diff(strip_algorithm(chain_id));
        if !diff.is_dir() {
            return Err(StorageError::MissingLayer {
                image_id: image.id.clone(),
                chain_id: chain_id.clone(),
                path: diff,
            });
        }
        dirs.push(diff);
    }
    Ok(dirs)
}

fn mount_overlay(
    store: &Store,
    container_id: &str,
    dir: &Path,
    lower: &[PathBuf],
    volatile: bool,
) -> Result<()> {
    check_root_path(&store.root)?;
    let (upper, work, merged) = (dir.join("upper"), dir.join("work"), dir.join("merged"));
    for path in [&upper, &work, &merged] {
        fs::create_dir_all(path).map_err(io_err("create directory", path))?;
    }

    if let Some(program) = &store.mount_program {
        // The mount program gets the options as an argument and passes
        // only its own to the kernel, so the page limit does not apply.
        let options = fuse_overlay_options(lower, &upper, &work);
        return fuse_overlay::mount(program, container_id, &options, &merged);
    }
    let options = overlay_options(lower, &upper, &work);
    if options.len() > MAX_MOUNT_OPTIONS {
        return Err(StorageError::OverlayOptionsTooLong {
            container_id: container_id.to_string(),
            layers: lower.len(),
            len: options.len(),
            max: MAX_MOUNT_OPTIONS,
        });
    }
    let mount_with = |options: &str| {
        debug!(container_id, path = %merged.display(), options, "mounting overlay");
        mount_syscall(
            Some("overlay"),
            &merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(options),
        )
    };

    if work.join(VOLATILE_MARKER).exists() {
        clear_volatile_marker(container_id, &upper, &work)?;
    }
    let result = if volatile {
        match mount_with(&format!("{options},volatile")) {
            // Kernels before 5.10 do not know the option.
            Err(Errno::EINVAL) => {
                debug!(
                    container_id,
                    "overlay rejected the volatile option; mounting without it"
                );
                mount_with(&options)
            }
            result => result,
        }
    } else {
        mount_with(&options)
    };
    result.map_err(|source| StorageError::MountFailed {
        container_id: container_id.to_string(),
        path: merged.clone(),
        source,
    })
}

/// Lets a work dir that a "volatile" mount used be mounted again. Overlay
/// marks such a work dir and rejects every later mount of it. Linux's
/// Documentation/filesystems/overlayfs.rst ("Volatile mount") allows
/// removing the mark when the host has not crashed since that mount, and
/// the sync first makes the upper dir durable.
///
/// NOTE: the upper dir may have lost writes if the host crashed while it
/// was mounted; nothing here can tell. Only `--rm` containers are mounted
/// volatile, and those are removed after they exit.
fn clear_volatile_marker(container_id: &str, upper: &Path, work: &Path) -> Result<()> {
    let upper_dir = fs::File::open(upper).map_err(io_err("open", upper))?;
    nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&upper_dir))
        .map_err(io::Error::from)
        .map_err(io_err("sync the file system of", upper))?;
    let marker = work.join(VOLATILE_MARKER);
    fs::remove_dir_all(&marker).map_err(io_err("remove", &marker))?;
    debug!(container_id, path = %marker.display(), "removed the mark of an earlier volatile mount");
    Ok(())
}

/// Mounts the overlay over lower dirs whose owners `mappings` shifted
/// (see `idmap.rs`), with the upper dir's root owned by the mapped root.
fn mount_overlay_mapped(
    store: &Store,
    container_id: &str,
    dir: &Path,
    layers: &[PathBuf],
    mappings: &IdMappings,
    volatile: bool,
) -> Result<()> {
    let upper = dir.join("upper");
    fs::create_dir_all(&upper).map_err(io_err("create directory", &upper))?;
    idmap::chown_upper(&upper, mappings)?;
    let (lower, idmapped) = idmap::prepare_lower(container_id, dir, layers, mappings)?;
    let result = mount_overlay(store, container_id, dir, &lower, volatile);
    if idmapped {
        idmap::release_lower(container_id, dir);
    }
    result
}

/// Copies the layers into `merged`, base layer first, and shifts the
/// owners by `mappings`. An earlier copy that did not complete is
/// discarded first.
fn copy_rootfs(
    container_id: &str,
    dir: &Path,
    lower: &[PathBuf],
    mappings: Option<&IdMappings>,
) -> Result<()> {
    let merged = dir.join("merged");
    if merged.exists() {
        fs::remove_dir_all(&merged).map_err(io_err("remove incomplete copy", &merged))?;
    }
    fs::create_dir_all(&merged).map_err(io_err("create directory", &merged))?;
    debug!(container_id, path = %merged.display(), layers = lower.len(), "copying image layers");
    for layer in lower.iter().rev() {
        copy_layer(layer, &merged)?;
    }
    if let Some(mappings) = mappings {
        idmap::shift_owners(&merged, mappings)?;
    }
    let marker = dir.join(COPY_COMPLETE);
    fs::write(&marker, b"").map_err(io_err("write", &marker))?;
    Ok(())
}

pub(crate) fn unmount(store: &Store, container_id: &str) -> Result<()> {
    check_container_id(container_id)?;
    let merged = store.container_dir(container_id).join("merged");
    if !is_mount_point(&merged) {
        return Ok(());
    }
    let failed = |source| StorageError::UnmountFailed {
        container_id: container_id.to_string(),
        path: merged.clone(),
        source,
    };
    // Found before the unmount, while the daemon's mount point is known.
    let daemons = store
        .mount_program
        .is_some()
        .then(|| fuse_overlay::Daemons::of_mount(&merged));
    match umount(&merged) {
        Ok(()) => {}
        Err(Errno::EINVAL) => debug!(container_id, "root filesystem was unmounted meanwhile"),
        Err(Errno::EBUSY) => {
            warn!(container_id, path = %merged.display(), "root filesystem is busy; detaching it lazily");
            umount2(&merged, MntFlags::MNT_DETACH).map_err(failed)?;
            // A mount program's daemon serves the detached mount until its
            // last user is gone, and then exits by itself.
            return Ok(());
        }
        Err(e) => return Err(failed(e)),
    }
    if let Some(daemons) = daemons {
        daemons.wait_for_exit(container_id);
    }
    debug!(container_id, path = %merged.display(), "unmounted root filesystem");
    drop_copies_in_other_namespaces(container_id, &merged);
    Ok(())
}

/// Removes the empty mount point, which the next mount creates again.
///
/// A mount namespace made while the container ran keeps a copy of this
/// mount when the host's mount propagation is private. A rootless user's
/// pause process is such a namespace. The unmount above does not reach the
/// copy, and that namespace cannot unmount it either, because the kernel
/// locks mounts copied into a namespace of a less privileged user
/// namespace. Removing the mount point detaches the copies in every other
/// namespace (Linux 3.18 and later), so they no longer hold the overlay's
/// upper and work dirs.
fn drop_copies_in_other_namespaces(container_id: &str, merged: &Path) {
    match fs::remove_dir(merged) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            warn!(container_id, path = %merged.display(), error = %e, "cannot remove the mount point; copies of the mount in other mount namespaces stay");
        }
    }
}

pub(crate) fn is_mounted(store: &Store, container_id: &str) -> bool {
    if check_container_id(container_id).is_err() {
        return false;
    }
    let dir = store.container_dir(container_id);
    match store.driver {
        Driver::Overlay => is_mount_point(&dir.join("merged")),
        Driver::Copy => dir.join(COPY_COMPLETE).exists(),
    }
}

pub(crate) fn remove_container_fs(store: &Store, container_id: &str) -> Result<()> {
    let dir = detach_container_fs(store, container_id)?;
    for marker in [COPY_COMPLETE, idmap::SHIFTED_LOWER_COMPLETE] {
        let marker = dir.join(marker);
        match fs::remove_file(&marker) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &marker)(e)),
        }
    }
    for name in ["merged", "upper", "work", idmap::SHIFTED_LOWER_DIR] {
        let path = dir.join(name);
        match fs::remove_dir_all(&path) {
            Ok(()) => debug!(container_id, path = %path.display(), "removed"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &path)(e)),
        }
    }
    // The engine keeps `userdata/` here; the dir goes only when empty.
    match fs::remove_dir(&dir) {
        Ok(()) => debug!(container_id, path = %dir.display(), "removed container dir"),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::ENOENT)) => {}
        Err(e) => return Err(io_err("remove", &dir)(e)),
    }
    Ok(())
}

/// Unmounts a container's root filesystem and releases its idmapped lower
/// layers, so that nothing under its directory is mounted any more.
/// Returns the container's directory.
fn detach_container_fs(store: &Store, container_id: &str) -> Result<PathBuf> {
    unmount(store, container_id)?;
    let dir = store.container_dir(container_id);
    let merged = dir.join("merged");
    // Never delete through a mount: that would reach into the upper dir
    // of a live container, or fail on read-only lower layers.
    if is_mount_point(&merged) {
        return Err(StorageError::UnmountFailed {
            container_id: container_id.to_string(),
            path: merged,
            source: Errno::EBUSY,
        });
    }

    idmap::release_lower(container_id, &dir);
    Ok(dir)
}

/// Unmounts a container's root filesystem and moves its whole directory,
/// the engine's files included, into the trash directory for
/// [`sweep_trash`] to delete. A rename is one quick system call. Deleting
/// an upper dir takes a while, longer on a disk that discards freed blocks
/// synchronously. When the rename fails, the directory is deleted in place.
pub(crate) fn retire_container(store: &Store, container_id: &str) -> Result<()> {
    let dir = detach_container_fs(store, container_id)?;
    if !dir.exists() {
        return Ok(());
    }

    let trash = store.root.join(TRASH_DIR);
    let target = trash.join(container_id);
    match fs::create_dir_all(&trash).and_then(|()| fs::rename(&dir, &target)) {
        Ok(()) => {
            debug!(container_id, path = %target.display(), "moved container dir to the trash");
            Ok(())
        }
        Err(e) => {
            debug!(container_id, error = %e, "cannot move the container dir to the trash, deleting it in place");
            remove_dir_if_present(&dir)
        }
    }
}

/// Unmounts a container's root filesystem and deletes its whole directory,
/// the engine's files included, in place.
pub(crate) fn delete_container(store: &Store, container_id: &str) -> Result<()> {
    let dir = detach_container_fs(store, container_id)?;
    remove_dir_if_present(&dir)
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", dir)(e)),
    }
}

/// Deletes everything in the trash directory. Several berth processes may
/// sweep at once: a file another one deleted first is not an error.
pub(crate) fn sweep_trash(store: &Store) {
    let trash = store.root.join(TRASH_DIR);
    let Ok(entries) = fs::read_dir(&trash) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match fs::remove_dir_all(&path) {
            Ok(()) => debug!(path = %path.display(), "deleted from the trash"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => warn!(path = %path.display(), error = %e, "cannot delete from the trash"),
        }
    }
}

/// Whether `path` is a mount point, by `/proc/self/mountinfo`.
pub(crate) fn is_mount_point(path: &Path) -> bool {
    let mountinfo = match fs::read("/proc/self/mountinfo") {
        Ok(bytes) => bytes,
        Err(e) => {
            warn!(error = %e, "cannot read /proc/self/mountinfo; assuming not mounted");
            return false;
        }
    };
    let wanted = path.as_os_str().as_bytes();
    mountinfo
        .split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b' ').nth(4))
        .any(|mount_point| unescape_mountinfo(mount_point) == wanted)
}

/// Decodes the octal escapes (`\040` for a space) the kernel writes in
/// mountinfo paths.
fn unescape_mountinfo(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (field[i], octal) {
            (b'\\', Some(digits)) => {
                out.push(
                    digits
                        .iter()
                        .fold(0u8, |acc, d| acc.wrapping_mul(8).wrapping_add(d - b'0')),
                );
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "mount_tests.rs"]
mod tests;
