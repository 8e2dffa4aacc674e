//! Owner, mode and time changes that never follow a symlink, shared by
//! layer unpacking and the copy driver.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::fcntl::AtFlags;
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, Gid, Uid};

use crate::error::io_err;
use crate::{Result, StorageError};

fn nix_io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> StorageError + 'a {
    move |e| StorageError::Io {
        op,
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Changes the owner of `path` itself, like `lchown(2)`.
pub(crate) fn lchown(path: &Path, uid: u64, gid: u64) -> Result<()> {
    let uid =
        u32::try_from(uid).map_err(|_| nix_io("change owner of", path)(nix::Error::EOVERFLOW))?;
    let gid =
        u32::try_from(gid).map_err(|_| nix_io("change owner of", path)(nix::Error::EOVERFLOW))?;
    fchownat(
        None,
        path,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(nix_io("change owner of", path))
}

/// Sets the permission bits, including setuid, setgid and sticky. Call it
/// after [`lchown`], which clears setuid and setgid. `path` must not be a
/// symlink, because `chmod` follows it.
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))
        .map_err(io_err("set mode of", path))
}

/// Sets access and modification time of `path` itself.
pub(crate) fn set_times(path: &Path, atime: TimeSpec, mtime: TimeSpec) -> Result<()> {
    utimensat(None, path, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(nix_io("set times of", path))
}
