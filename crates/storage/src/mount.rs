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
use crate::{Driver, Image, Result, StorageError, Store};

/// File in the run root that caches the probed driver until reboot.
const DRIVER_CACHE: &str = "storage-driver";
/// File in a container dir written once its copy of the image is complete.
const COPY_COMPLETE: &str = "merged.complete";
/// Directory, relative to the overlay work dir, that a "volatile" mount
/// leaves behind.
const VOLATILE_MARKER: &str = "work/incompat/volatile";
/// The kernel copies mount options into one page, NUL included.
const MAX_MOUNT_OPTIONS: usize = 4095;

/// Returns the driver for this root, probed once per run root: an overlay
/// mount is tried in a scratch dir under `root`, where upper and work dirs
/// of containers will live.
pub(crate) fn probe_driver(root: &Path, runroot: &Path) -> Driver {
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
        debug!(container_id, path = %merged.display(), "root filesystem already mounted");
        return Ok(merged);
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
    match umount(&merged) {
        Ok(()) => {}
        Err(Errno::EINVAL) => debug!(container_id, "root filesystem was unmounted meanwhile"),
        Err(Errno::EBUSY) => {
            warn!(container_id, path = %merged.display(), "root filesystem is busy; detaching it lazily");
            umount2(&merged, MntFlags::MNT_DETACH).map_err(failed)?;
        }
        Err(e) => return Err(failed(e)),
    }
    debug!(container_id, path = %merged.display(), "unmounted root filesystem");
    Ok(())
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
