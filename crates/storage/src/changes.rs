//! A container's changes to its image: listed (`diff`), written as a layer
//! (`commit`), and its whole root filesystem as a tarball (`export`).
//!
//! With the overlay driver the changes are the container's upper dir: a
//! 0/0 character device there is a deleted file, and a directory with
//! the `trusted.overlay.opaque` xattr hides everything below it in the
//! image. In a layer tarball these become `.wh.NAME` and `.wh..wh..opq`
//! entries. Owners, modes, times, symlinks, hard links, device nodes and
//! xattrs (file capabilities among them) are kept.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::io_err;

use crate::{xattr, Driver, Image, Result, StorageError, Store};

/// The kind of difference between a container path and its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
}

impl ChangeKind {
    /// Returns the letter `diff` prints: A, C or D.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path of a container, absolute inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
}

/// The prefix of a whiteout entry in a layer tarball.
const WHITEOUT_PREFIX: &str = ".wh.";
/// The entry that marks its directory opaque in a layer tarball.
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

impl Store {
    /// Lists the container's changes to its image, sorted by path. Needs
    /// the overlay driver.
    pub fn changes(&self, container_id: &str, image: &Image) -> Result<Vec<Change>> {
        let upper = self.upper_dir(container_id, "diff")?;
        let lower = crate::mount::layer_dirs(self, image)?;
        let mut changes = Vec::new();
        if upper.is_dir() {
            list_changes(&upper, Path::new(""), &lower, &mut changes)?;
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(changes)
    }

    /// Writes the container's upper dir as a layer tarball. Needs the
    /// overlay driver.
    pub(crate) fn write_upper_layer(&self, container_id: &str, output: impl Write) -> Result<()> {
        let upper = self.upper_dir(container_id, "commit")?;
        let mut writer = TreeWriter::new(output, true);
        if upper.is_dir() {
            writer.append_tree(&upper, Path::new(""))?;
        }
        writer.finish()
    }

    /// Writes the tree at `rootfs` (a mounted container root) as a tarball.
    pub fn export_tree(&self, rootfs: &Path, output: &mut dyn Write) -> Result<()> {
        let mut writer = TreeWriter::new(output, false);
        writer.append_tree(rootfs, Path::new(""))?;
        writer.finish()
    }

    fn upper_dir(&self, container_id: &str, operation: &'static str) -> Result<PathBuf> {
        if self.driver == Driver::Copy {
            return Err(StorageError::UnsupportedWithDriver {
                operation,
                driver: self.driver.name(),
            });
        }
        Ok(self.container_dir(container_id).join("upper"))
    }
}

fn list_changes(
    upper: &Path,
    rel: &Path,
    lower: &[PathBuf],
    changes: &mut Vec<Change>,
) -> Result<()> {
    let dir = upper.join(rel);
    for entry in sorted_entries(&dir)? {
        let rel = rel.join(entry.file_name().unwrap_or_default());
        let meta = fs::symlink_metadata(&entry).map_err(io_err("inspect", &entry))?;
        let in_image = lower
            .iter()
            .any(|layer| fs::symlink_metadata(layer.join(&rel)).is_ok());
        let kind = if is_whiteout(&meta) {
            ChangeKind::Deleted
        } else if in_image {
            ChangeKind::Changed
        } else {
            ChangeKind::Added
        };
        changes.push(Change {
            kind,
            path: format!("/{}", rel.display()),
        });
        if meta.is_dir() {
            list_changes(upper, &rel, lower, changes)?;
        }
    }
    Ok(())
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_err("read directory", dir))?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()
        .map_err(io_err("read directory", dir))?;
    entries.sort();
    Ok(entries)
}

/// Writes a directory tree as tar entries with full metadata.
struct TreeWriter<W: Write> {
    builder: tar::Builder<W>,
    /// Turn overlay whiteouts into `.wh.` entries (a layer), rather than
    /// writing them as device nodes.
    whiteouts: bool,
    /// First path written for each (device, inode) with several links.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> TreeWriter<W> {
    fn new(output: W, whiteouts: bool) -> Self {
        TreeWriter {
            builder: tar::Builder::new(output),
            whiteouts,
            links: HashMap::new(),
        }
    }

    fn finish(self) -> Result<()> {
        let mut output = self
            .builder
            .into_inner()
            .map_err(io_err("write tarball", "output"))?;
        output.flush().map_err(io_err("write tarball", "output"))
    }

    fn append_tree(&mut self, root: &Path, rel: &Path) -> Result<()> {
        let dir = root.join(rel);
        for path in sorted_entries(&dir)? {
            let rel = rel.join(path.file_name().unwrap_or_default());
            self.append_entry(root, &rel)?;
        }
        Ok(())
    }

    fn append_entry(&mut self, root: &Path, rel: &Path) -> Result<()> {
        let path = root.join(rel);
        let meta = fs::symlink_metadata(&path).map_err(io_err("inspect", &path))?;
        let write_err = |e| io_err("write tarball entry", rel)(e);

        if self.whiteouts && is_whiteout(&meta) {
            let name = rel.file_name().unwrap_or_default().as_bytes();
            let mut whiteout = rel.parent().unwrap_or(Path::new("")).to_path_buf();
            whiteout.push(OsStr::from_bytes(
                &[WHITEOUT_PREFIX.as_bytes(), name].concat(),
            ));
            let mut header = header_from(&meta, tar::EntryType::Regular);
            header.set_size(0);
            header.set_mode(0o644);
            return self
                .builder
                .append_data(&mut header, &whiteout, io::empty())
                .map_err(write_err);
        }

        self.append_xattrs(&path)?;
        let kind = meta.file_type();
        if meta.nlink() > 1 && !kind.is_dir() {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                let mut header = header_from(&meta, tar::EntryType::Link);
                header.set_size(0);
                return self
                    .builder
                    .append_link(&mut header, rel, first)
                    .map_err(write_err);
            }
            self.links.insert(key, rel.to_path_buf());
        }

        if kind.is_dir() {
            let mut header = header_from(&meta, tar::EntryType::Directory);
            header.set_size(0);
            self.builder
                .append_data(&mut header, rel, io::empty())
                .map_err(write_err)?;
            let opaque = xattr::get(&path, OsStr::new(crate::userns::opaque_xattr()))
                .ok()
                .flatten();
            if self.whiteouts && opaque.as_deref() == Some(b"y") {
                let mut header = header_from(&meta, tar::EntryType::Regular);
                header.set_size(0);
                header.set_mode(0o644);
                self.builder
                    .append_data(&mut header, rel.join(OPAQUE_WHITEOUT), io::empty())
                    .map_err(write_err)?;
            }
            return self.append_tree(root, rel);
        }
        if kind.is_symlink() {
            let target = fs::read_link(&path).map_err(io_err("read symlink", &path))?;
            let mut header = header_from(&meta, tar::EntryType::Symlink);
            header.set_size(0);
            return self
                .builder
                .append_link(&mut header, rel, target)
                .map_err(write_err);
        }
        if kind.is_file() {
            let file = fs::File::open(&path).map_err(io_err("open", &path))?;
            let mut header = header_from(&meta, tar::EntryType::Regular);
            header.set_size(meta.len());
            return self
                .builder
                .append_data(&mut header, rel, file)
                .map_err(write_err);
        }

        let entry_type = if kind.is_char_device() {
            tar::EntryType::Char
        } else if kind.is_block_device() {
            tar::EntryType::Block
        } else if kind.is_fifo() {
            tar::EntryType::Fifo
        } else {
            // Sockets cannot be archived; tar and Podman skip them too.
            return Ok(());
        };
        let mut header = header_from(&meta, entry_type);
        header.set_size(0);
        let rdev = meta.rdev();
        header
            .set_device_major(nix::sys::stat::major(rdev) as u32)
            .map_err(write_err)?;
        header
            .set_device_minor(nix::sys::stat::minor(rdev) as u32)
            .map_err(write_err)?;
        self.builder
            .append_data(&mut header, rel, io::empty())
            .map_err(write_err)
    }

    /// Writes the file's xattrs as a PAX header for the next entry, except
    /// overlay's own, which the whiteout entries carry.
    fn append_xattrs(&mut self, path: &Path) -> Result<()> {
        let names = xattr::list(path).unwrap_or_default();
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        for name in names {
            let text = name.to_string_lossy().into_owned();
            if text.starts_with("trusted.overlay.") {
                continue;
            }
            if let Ok(Some(value)) = xattr::get(path, &name) {
                records.push((format!("SCHILY.xattr.{text}"), value));
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(io_err("write tarball entry", path))
    }
}

fn header_from(meta: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(meta.mode() & 0o7777);
    header.set_uid(u64::from(meta.uid()));
    header.set_gid(u64::from(meta.gid()));
    header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    header
}
