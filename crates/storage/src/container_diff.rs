//! A container's changes to its image, as a layer tarball: written from the
//! overlay upper dir for a checkpoint export, applied to a new container on
//! import.
//!
//! The tarball uses the layer format: a 0/0 character device (an overlay
//! whiteout) becomes an empty `.wh.NAME` file, and an opaque directory gets
//! a `.wh..wh..opq` entry. Files are stored with owner, mode and mtime.
//! NOTE: hard links are stored as separate files and extended attributes
//! other than the opaque mark are not stored.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use tar::{EntryType, Header};
use tracing::debug;

use crate::copy::copy_layer;
use crate::error::io_err;
use crate::unpack::unpack_layer;
use crate::{xattr, Driver, Image, Result, StorageError, Store};

/// Directory in the container dir where an imported diff is unpacked first.
const IMPORTED_DIFF: &str = "diff-import";

impl Store {
    /// Writes the container's changes to its image as a layer tarball.
    /// Needs the overlay driver: a full copy keeps no record of changes.
    pub fn export_container_diff(&self, container_id: &str, writer: impl Write) -> Result<()> {
        if self.driver() != Driver::Overlay {
            return Err(StorageError::ContainerDiffUnsupported {
                container_id: container_id.to_string(),
            });
        }
        let upper = self.container_dir(container_id).join("upper");
        let mut builder = tar::Builder::new(writer);
        if upper.is_dir() {
            append_tree(&mut builder, &upper, Path::new(""))?;
        }
        builder
            .into_inner()
            .and_then(|mut writer| writer.flush())
            .map_err(io_err("write container diff of", &upper))?;
        debug!(container_id, upper = %upper.display(), "exported container diff");
        Ok(())
    }

    /// Applies a layer tarball written by [`Store::export_container_diff`]
    /// to a container that has not been mounted yet. `archive` names the
    /// input in error messages.
    ///
    /// With overlay the diff becomes the container's upper dir. With the copy
    /// driver the image is copied first and the diff applied on top.
    pub fn apply_container_diff(
        &self,
        container_id: &str,
        image: &Image,
        reader: impl Read,
        archive: &Path,
    ) -> Result<()> {
        let dir = self.container_dir(container_id);
        let staging = dir.join(IMPORTED_DIFF);
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_err("remove", &staging))?;
        }
        fs::create_dir_all(&staging).map_err(io_err("create directory", &staging))?;
        unpack_layer(reader, archive, &staging)?;

        match self.driver() {
            Driver::Overlay => {
                let upper = dir.join("upper");
                if upper.exists() {
                    fs::remove_dir_all(&upper).map_err(io_err("remove", &upper))?;
                }
                fs::rename(&staging, &upper).map_err(io_err("rename", &staging))?;
            }
            Driver::Copy => {
                let merged = self.mount(container_id, image, false)?;
                copy_layer(&staging, &merged)?;
                fs::remove_dir_all(&staging).map_err(io_err("remove", &staging))?;
            }
        }
        debug!(container_id, archive = %archive.display(), "applied container diff");
        Ok(())
    }
}

/// Appends `dir`'s children, named under `prefix`, in name order so that
/// the same tree always gives the same tarball.
fn append_tree<W: Write>(builder: &mut tar::Builder<W>, dir: &Path, prefix: &Path) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(io_err("read directory", dir))?
        .collect::<io::Result<_>>()
        .map_err(io_err("read directory", dir))?;
    entries.sort_by_key(|entry| entry.file_name());

    for entry in entries {
        let path = entry.path();
        let name = prefix.join(entry.file_name());
        let meta = fs::symlink_metadata(&path).map_err(io_err("inspect", &path))?;
        let kind = meta.file_type();
        let mut header = header_for(&meta);

        if kind.is_char_device() && meta.rdev() == 0 {
            let whiteout = prefix.join(format!(".wh.{}", entry.file_name().to_string_lossy()));
            append_empty(builder, &whiteout, &meta, &path)?;
        } else if kind.is_dir() {
            header.set_entry_type(EntryType::Directory);
            append_header(builder, header, &name, io::empty(), &path)?;
            let opaque = xattr::get(&path, OsStr::new(crate::userns::opaque_xattr()))
                .map_err(io_err("read xattrs of", &path))?;
            if opaque.as_deref() == Some(b"y") {
                append_empty(builder, &name.join(".wh..wh..opq"), &meta, &path)?;
            }
            append_tree(builder, &path, &name)?;
        } else if kind.is_file() {
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            let file = File::open(&path).map_err(io_err("open", &path))?;
            append_header(builder, header, &name, file, &path)?;
        } else if kind.is_symlink() {
            let target = fs::read_link(&path).map_err(io_err("read link", &path))?;
            header.set_entry_type(EntryType::Symlink);
            builder
                .append_link(&mut header, &name, &target)
                .map_err(io_err("write container diff entry for", &path))?;
        } else {
            let entry_type = if kind.is_char_device() {
                EntryType::Char
            } else if kind.is_block_device() {
                EntryType::Block
            } else if kind.is_fifo() {
                EntryType::Fifo
            } else {
                debug!(path = %path.display(), "skipping a socket in the container diff");
                continue;
            };
            header.set_entry_type(entry_type);
            let device = meta.rdev();
            header
                .set_device_major(nix::sys::stat::major(device) as u32)
                .and_then(|()| header.set_device_minor(nix::sys::stat::minor(device) as u32))
                .map_err(io_err("write container diff entry for", &path))?;
            append_header(builder, header, &name, io::empty(), &path)?;
        }
    }
    Ok(())
}

fn header_for(meta: &fs::Metadata) -> Header {
    let mut header = Header::new_gnu();
    header.set_mode(meta.mode() & 0o7777);
    header.set_uid(meta.uid().into());
    header.set_gid(meta.gid().into());
    header.set_mtime(meta.mtime().max(0) as u64);
    header.set_size(0);
    header
}

fn append_empty<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &Path,
    meta: &fs::Metadata,
    source: &Path,
) -> Result<()> {
    let mut header = header_for(meta);
    header.set_entry_type(EntryType::Regular);
    header.set_mode(0o644);
    append_header(builder, header, name, io::empty(), source)
}

fn append_header<W: Write>(
    builder: &mut tar::Builder<W>,
    mut header: Header,
    name: &Path,
    data: impl Read,
    source: &Path,
) -> Result<()> {
    builder
        .append_data(&mut header, name, data)
        .map_err(io_err("write container diff entry for", source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};

    fn entry_names(tarball: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tarball);
        archive
            .entries()
            .unwrap()
            .map(|entry| entry.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn upper_dir_becomes_layer_entries() {
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path().join("upper");
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/motd"), "hi").unwrap();
        std::os::unix::fs::symlink("motd", upper.join("etc/link")).unwrap();
        mknod(
            &upper.join("gone"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o600),
            makedev(0, 0),
        )
        .unwrap();

        let mut tarball = Vec::new();
        let mut builder = tar::Builder::new(&mut tarball);
        append_tree(&mut builder, &upper, Path::new("")).unwrap();
        builder.finish().unwrap();
        drop(builder);

        assert_eq!(
            entry_names(&tarball),
            vec!["etc", "etc/link", "etc/motd", ".wh.gone"]
        );
    }
}
