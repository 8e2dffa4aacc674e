//! Unpacking a layer tarball into a directory without ever writing outside
//! it.
//!
//! Each entry path is cleaned lexically and must stay inside the layer; a
//! leading `/` is dropped, as Docker and containers-storage do. Every
//! ancestor of an entry is checked with `lstat`: a symlink there is
//! rejected, so no write goes through a link made by an earlier entry.
//! Symlinks are created as they are and never followed. Overlay whiteouts
//! in the tar format (`.wh.NAME`, `.wh..wh..opq`) become the kernel's
//! form: a 0/0 character device and the `trusted.overlay.opaque` xattr
//! (`user.overlay.opaque` inside a user namespace, see `userns.rs`).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;
use tar::EntryType;
use tracing::{debug, warn};

use crate::error::{archive_reason, io_err};
use crate::metadata::{lchown, set_mode, set_times};
use crate::xattr;
use crate::{Result, StorageError};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// The PAX record prefix that GNU tar and Docker use for xattrs.
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Owner, mode, times and xattrs of one entry, applied after its content.
struct Metadata {
    uid: u64,
    gid: u64,
    mode: u32,
    mtime: u64,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Unpacks one layer from `reader` into the existing directory `dest`.
/// `archive` names the input in error messages.
pub(crate) fn unpack_layer(reader: impl Read, archive: &Path, dest: &Path) -> Result<()> {
    let mut unpacker = Unpacker {
        archive,
        dest,
        dirs: BTreeMap::new(),
    };
    let mut tar = tar::Archive::new(reader);
    let entries = tar.entries().map_err(|e| unpacker.not_a_tarball(e))?;
    let mut count = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(|e| unpacker.not_a_tarball(e))?;
        unpacker.unpack_entry(&mut entry)?;
        count += 1;
    }
    unpacker.finish_dirs()?;
    debug!(archive = %archive.display(), dest = %dest.display(), entries = count, "unpacked layer");
    Ok(())
}

struct Unpacker<'a> {
    archive: &'a Path,
    dest: &'a Path,
    /// Directories whose metadata is applied at the end, so a read-only
    /// directory does not block its own children and its mtime is not
    /// changed by them. Keyed by path inside the layer.
    dirs: BTreeMap<PathBuf, Metadata>,
}

impl Unpacker<'_> {
    fn not_a_tarball(&self, e: io::Error) -> StorageError {
        StorageError::NotATarball {
            path: self.archive.to_path_buf(),
            reason: archive_reason(&e),
        }
    }

    fn unsafe_entry(&self, entry: &[u8], reason: String) -> StorageError {
        StorageError::UnsafeEntry {
            path: self.archive.to_path_buf(),
            entry: String::from_utf8_lossy(entry).into_owned(),
            reason,
        }
    }

    fn unpack_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw_path = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            debug!("skipping PAX global header");
            return Ok(());
        }

        let rel =
            clean_path(&raw_path).map_err(|reason| self.unsafe_entry(&raw_path, reason.into()))?;
        let meta = read_metadata(entry).map_err(|e| self.not_a_tarball(e))?;

        if rel.as_os_str().is_empty() {
            // The layer root itself, usually `./`: keep its metadata only.
            if kind != EntryType::Directory {
                return Err(
                    self.unsafe_entry(&raw_path, "entry would replace the layer root".into())
                );
            }
            self.dirs.insert(rel, meta);
            return Ok(());
        }

        self.make_parents(&raw_path, &rel)?;

        let name = rel.file_name().unwrap_or_default().as_bytes();
        if name.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.unpack_whiteout(&raw_path, &rel, &meta);
        }

        let target = self.dest.join(&rel);
        match kind {
            EntryType::Directory => {
                self.remove_existing(&target, true)?;
                if !target.is_dir() {
                    fs::create_dir(&target).map_err(io_err("create directory", &target))?;
                }
                self.dirs.insert(rel, meta);
                return Ok(());
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.remove_existing(&target, false)?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&target)
                    .map_err(io_err("create file", &target))?;
                self.copy_data(entry, &mut file, &target)?;
            }
            EntryType::Symlink => {
                let link = entry.link_name_bytes().ok_or_else(|| {
                    self.unsafe_entry(&raw_path, "symlink without a target".into())
                })?;
                self.remove_existing(&target, false)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&link), &target)
                    .map_err(io_err("create symlink", &target))?;
            }
            EntryType::Link => {
                return self.unpack_hard_link(entry, &raw_path, &rel);
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (kind_flag, dev) = match kind {
                    EntryType::Char => (SFlag::S_IFCHR, device_number(entry)),
                    EntryType::Block => (SFlag::S_IFBLK, device_number(entry)),
                    _ => (SFlag::S_IFIFO, 0),
                };
                self.remove_existing(&target, false)?;
                mknod(&target, kind_flag, Mode::from_bits_truncate(0o600), dev).map_err(|e| {
                    StorageError::Io {
                        op: "create device node",
                        path: target.clone(),
                        source: e.into(),
                    }
                })?;
            }
            other => {
                warn!(entry = %String::from_utf8_lossy(&raw_path), kind = ?other, "skipping tar entry of unsupported type");
                return Ok(());
            }
        }
        apply_metadata(&target, &meta, kind == EntryType::Symlink)
    }

    /// Copies an entry's data to `file`, telling archive read errors from
    /// write errors.
    fn copy_data(&self, entry: &mut impl Read, file: &mut fs::File, target: &Path) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = entry.read(&mut buf).map_err(|e| self.not_a_tarball(e))?;
            if n == 0 {
                return Ok(());
            }
            file.write_all(&buf[..n]).map_err(io_err("write", target))?;
        }
    }

    /// Turns `.wh.NAME` into a 0/0 character device `NAME`, and
    /// `.wh..wh..opq` into the opaque xattr on its directory.
    fn unpack_whiteout(&mut self, raw_path: &[u8], rel: &Path, meta: &Metadata) -> Result<()> {
        let parent = self.dest.join(rel.parent().unwrap_or(Path::new("")));
        let name = rel.file_name().unwrap_or_default().as_bytes();

        if name == OPAQUE_WHITEOUT.as_bytes() {
            if let Err(e) = xattr::set(&parent, OsStr::new(crate::userns::opaque_xattr()), b"y") {
                warn!(dir = %parent.display(), error = %e, "cannot mark directory opaque; lower layers will show through it");
            }
            return Ok(());
        }
        if name.starts_with(b".wh..wh.") {
            // AUFS metadata such as `.wh..wh.plnk`, meaningless to overlay.
            debug!(entry = %String::from_utf8_lossy(raw_path), "skipping AUFS metadata entry");
            return Ok(());
        }

        let hidden = &name[WHITEOUT_PREFIX.len()..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(self.unsafe_entry(raw_path, "whiteout without a valid file name".into()));
        }
        let target = parent.join(OsStr::from_bytes(hidden));
        self.remove_existing(&target, false)?;
        mknod(&target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(|e| {
            StorageError::Io {
                op: "create whiteout",
                path: target.clone(),
                source: e.into(),
            }
        })?;
        lchown(&target, meta.uid, meta.gid)
    }

    fn unpack_hard_link<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        raw_path: &[u8],
        rel: &Path,
    ) -> Result<()> {
        let raw_link = entry
            .link_name_bytes()
            .ok_or_else(|| self.unsafe_entry(raw_path, "hard link without a target".into()))?
            .into_owned();
        let link_rel = clean_path(&raw_link).map_err(|reason| {
            self.unsafe_entry(
                raw_path,
                format!(
                    "hard link target {:?}: {reason}",
                    String::from_utf8_lossy(&raw_link)
                ),
            )
        })?;
        if link_rel.as_os_str().is_empty() {
            return Err(self.unsafe_entry(raw_path, "hard link to the layer root".into()));
        }
        if link_rel == rel {
            debug!(entry = %rel.display(), "skipping hard link to itself");
            return Ok(());
        }

        // The target's ancestors must be real directories, or the link
        // could reach through a symlink to a file outside the layer.
        let mut ancestor = PathBuf::new();
        for component in link_rel.parent().unwrap_or(Path::new("")).components() {
            ancestor.push(component);
            let meta = fs::symlink_metadata(self.dest.join(&ancestor));
            if !meta.is_ok_and(|m| m.is_dir()) {
                return Err(self.unsafe_entry(
                    raw_path,
                    format!(
                        "hard link target parent {} is not a directory in the layer",
                        ancestor.display()
                    ),
                ));
            }
        }
        let source = self.dest.join(&link_rel);
        match fs::symlink_metadata(&source) {
            Ok(m) if m.is_dir() => {
                return Err(self.unsafe_entry(
                    raw_path,
                    format!("hard link target {} is a directory", link_rel.display()),
                ));
            }
            Ok(_) => {}
            Err(_) => {
                return Err(self.unsafe_entry(
                    raw_path,
                    format!(
                        "hard link target {} does not exist in the layer",
                        link_rel.display()
                    ),
                ));
            }
        }

        let target = self.dest.join(rel);
        self.remove_existing(&target, false)?;
        // linkat without AT_SYMLINK_FOLLOW: a symlink source is linked itself.
        fs::hard_link(&source, &target).map_err(io_err("create hard link", &target))
    }

    /// Creates the missing ancestors of `rel` and rejects any ancestor that
    /// is a symlink or not a directory.
    fn make_parents(&mut self, raw_path: &[u8], rel: &Path) -> Result<()> {
        let mut ancestor = PathBuf::new();
        for component in rel.parent().unwrap_or(Path::new("")).components() {
            ancestor.push(component);
            let path = self.dest.join(&ancestor);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.unsafe_entry(
                        raw_path,
                        format!("parent {} is a symlink", ancestor.display()),
                    ));
                }
                Ok(_) => {
                    return Err(self.unsafe_entry(
                        raw_path,
                        format!("parent {} is not a directory", ancestor.display()),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    debug!(dir = %path.display(), "creating missing parent directory");
                    fs::create_dir(&path).map_err(io_err("create directory", &path))?;
                    set_mode(&path, 0o755)?;
                }
                Err(e) => return Err(io_err("inspect", path)(e)),
            }
        }
        Ok(())
    }

    /// Removes what is at `path` unless both it and the new entry are
    /// directories, the one case where a tar entry merges with what exists.
    fn remove_existing(&mut self, path: &Path, new_is_dir: bool) -> Result<()> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() && new_is_dir => Ok(()),
            Ok(m) if m.is_dir() => {
                fs::remove_dir_all(path).map_err(io_err("remove directory", path))
            }
            Ok(_) => fs::remove_file(path).map_err(io_err("remove file", path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("inspect", path)(e)),
        }
    }

    /// Applies directory metadata, children before parents.
    fn finish_dirs(&mut self) -> Result<()> {
        for (rel, meta) in std::mem::take(&mut self.dirs).iter().rev() {
            let path = self.dest.join(rel);
            // A later entry may have replaced the directory with a file that
            // already has its own metadata.
            if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            apply_metadata(&path, meta, false)?;
        }
        Ok(())
    }
}

/// Cleans an entry path lexically into a relative path inside the layer:
/// drops a leading `/`, `.` and empty components, and resolves `..`
/// against earlier components. Fails when `..` would leave the layer.
fn clean_path(raw: &[u8]) -> std::result::Result<PathBuf, &'static str> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err("path escapes the layer directory through '..'");
                }
            }
            _ => parts.push(part),
        }
    }
    Ok(parts.iter().map(|p| OsStr::from_bytes(p)).collect())
}

fn read_metadata<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Metadata> {
    let header = entry.header();
    let mut meta = Metadata {
        // The tar crate has already applied PAX uid and gid records.
        uid: header.uid()?,
        gid: header.gid()?,
        mode: header.mode()?,
        mtime: header.mtime()?,
        xattrs: Vec::new(),
    };
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            if let Some(name) = extension
                .key_bytes()
                .strip_prefix(PAX_XATTR_PREFIX.as_bytes())
            {
                meta.xattrs.push((
                    OsStr::from_bytes(name).to_owned(),
                    extension.value_bytes().to_vec(),
                ));
            }
        }
    }
    Ok(meta)
}

fn device_number<R: Read>(entry: &tar::Entry<'_, R>) -> u64 {
    let header = entry.header();
    let major = header.device_major().ok().flatten().unwrap_or(0);
    let minor = header.device_minor().ok().flatten().unwrap_or(0);
    makedev(major.into(), minor.into())
}

/// Sets owner, then mode (chown clears setuid bits), then xattrs (chown
/// also clears `security.capability`), then mtime.
fn apply_metadata(path: &Path, meta: &Metadata, is_symlink: bool) -> Result<()> {
    lchown(path, meta.uid, meta.gid)?;
    if !is_symlink {
        set_mode(path, meta.mode)?;
    }
    for (name, value) in &meta.xattrs {
        if let Err(e) = xattr::set(path, name, value) {
            warn!(path = %path.display(), xattr = %name.to_string_lossy(), error = %e, "cannot set xattr from archive");
        }
    }
    let mtime = TimeSpec::new(i64::try_from(meta.mtime).unwrap_or(i64::MAX), 0);
    set_times(path, mtime, mtime)
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
