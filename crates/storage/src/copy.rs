//! The copy driver: applies an unpacked layer onto a directory the way an
//! overlay mount would show it, honouring whiteouts and opaque dirs.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;
use tracing::warn;

use crate::error::io_err;
use crate::metadata::{lchown, set_mode, set_times};
use crate::{xattr, Result, StorageError};

/// Copies of already copied hard-linked files, by (device, inode) of the
/// source, so hard links stay hard links in the copy.
type LinkMap = HashMap<(u64, u64), PathBuf>;

/// Copies the layer tree `layer` onto `dest`. A 0/0 character device in the
/// layer deletes that name from `dest`. A directory marked opaque replaces
/// what `dest` has at its path instead of merging with it.
pub(crate) fn copy_layer(layer: &Path, dest: &Path) -> Result<()> {
    let mut links = LinkMap::new();
    copy_dir_contents(layer, dest, &mut links)?;
    let meta = fs::symlink_metadata(layer).map_err(io_err("inspect", layer))?;
    copy_metadata(layer, dest, &meta)
}

fn copy_dir_contents(src: &Path, dest: &Path, links: &mut LinkMap) -> Result<()> {
    for entry in fs::read_dir(src).map_err(io_err("read directory", src))? {
        let entry = entry.map_err(io_err("read directory", src))?;
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let meta = fs::symlink_metadata(&from).map_err(io_err("inspect", &from))?;
        let kind = meta.file_type();

        if kind.is_char_device() && meta.rdev() == 0 {
            remove_any(&to)?;
            continue;
        }
        if kind.is_dir() {
            let existing = fs::symlink_metadata(&to).ok();
            match existing {
                Some(m) if m.is_dir() && is_opaque(&from) => {
                    fs::remove_dir_all(&to).map_err(io_err("remove directory", &to))?;
                    fs::create_dir(&to).map_err(io_err("create directory", &to))?;
                }
                Some(m) if m.is_dir() => {}
                Some(_) => {
                    remove_any(&to)?;
                    fs::create_dir(&to).map_err(io_err("create directory", &to))?;
                }
                None => fs::create_dir(&to).map_err(io_err("create directory", &to))?,
            }
            copy_dir_contents(&from, &to, links)?;
            copy_metadata(&from, &to, &meta)?;
            continue;
        }

        remove_any(&to)?;
        if meta.nlink() > 1 {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                fs::hard_link(first, &to).map_err(io_err("create hard link", &to))?;
                continue;
            }
            links.insert((meta.dev(), meta.ino()), to.clone());
        }
        copy_node(&from, &to, &meta)?;
        copy_metadata(&from, &to, &meta)?;
    }
    Ok(())
}

/// Creates a copy of a non-directory at `to`, which must not exist.
fn copy_node(from: &Path, to: &Path, meta: &Metadata) -> Result<()> {
    let kind = meta.file_type();
    if kind.is_file() {
        let mut source = File::open(from).map_err(io_err("open", from))?;
        let mut target = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(to)
            .map_err(io_err("create file", to))?;
        io::copy(&mut source, &mut target).map_err(io_err("copy to", to))?;
        return Ok(());
    }
    if kind.is_symlink() {
        let target = fs::read_link(from).map_err(io_err("read symlink", from))?;
        return std::os::unix::fs::symlink(target, to).map_err(io_err("create symlink", to));
    }

    let flag = if kind.is_char_device() {
        SFlag::S_IFCHR
    } else if kind.is_block_device() {
        SFlag::S_IFBLK
    } else if kind.is_fifo() {
        SFlag::S_IFIFO
    } else {
        SFlag::S_IFSOCK
    };
    mknod(to, flag, Mode::from_bits_truncate(0o600), meta.rdev()).map_err(|e| StorageError::Io {
        op: "create device node",
        path: to.to_path_buf(),
        source: e.into(),
    })
}

/// Copies owner, mode, xattrs (except overlay's own) and times, in the
/// order that keeps setuid bits and file capabilities.
fn copy_metadata(from: &Path, to: &Path, meta: &Metadata) -> Result<()> {
    lchown(to, meta.uid().into(), meta.gid().into())?;
    let is_symlink = meta.file_type().is_symlink();
    if !is_symlink {
        set_mode(to, meta.mode())?;
    }
    copy_xattrs(from, to);
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    set_times(to, atime, mtime)
}

fn copy_xattrs(from: &Path, to: &Path) {
    let names = match xattr::list(from) {
        Ok(names) => names,
        Err(e) => {
            warn!(path = %from.display(), error = %e, "cannot list xattrs; copying without them");
            return;
        }
    };
    for name in names {
        if name.as_encoded_bytes().starts_with(b"trusted.overlay.") {
            continue;
        }
        let copied = xattr::get(from, &name).and_then(|value| match value {
            Some(value) => xattr::set(to, &name, &value),
            None => Ok(()),
        });
        if let Err(e) = copied {
            warn!(path = %to.display(), xattr = %name.to_string_lossy(), error = %e, "cannot copy xattr");
        }
    }
}

fn is_opaque(dir: &Path) -> bool {
    matches!(xattr::get(dir, OsStr::new(crate::userns::opaque_xattr())), Ok(Some(value)) if value == b"y")
}

fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(io_err("remove directory", path)),
        Ok(_) => fs::remove_file(path).map_err(io_err("remove file", path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("inspect", path)(e)),
    }
}
