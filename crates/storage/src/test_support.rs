//! Helpers shared by the unit tests: a store in a temp dir and a builder
//! for tar archives, including entries the `tar` crate's path setters
//! reject on purpose.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};
use tempfile::TempDir;

use crate::{StorageError, Store};

pub(crate) const MTIME: u64 = 1_700_000_000;

/// A store in its own temp dir; the dir also serves as "outside the store"
/// for escape checks.
pub(crate) fn test_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root"), &dir.path().join("run")).unwrap();
    (dir, store)
}

/// Builds a header with the path and link name written as raw bytes, so
/// tests can make entries the `tar` crate's own path setters reject.
pub(crate) fn raw_header(
    kind: EntryType,
    path: &str,
    link: Option<&str>,
    mode: u32,
    size: u64,
) -> Header {
    let mut header = Header::new_ustar();
    header.set_entry_type(kind);
    header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    if let Some(link) = link {
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(MTIME);
    header.set_cksum();
    header
}

pub(crate) struct TarBuilder(tar::Builder<Vec<u8>>);

impl TarBuilder {
    pub(crate) fn new() -> Self {
        TarBuilder(tar::Builder::new(Vec::new()))
    }

    pub(crate) fn dir(mut self, path: &str, mode: u32) -> Self {
        let header = raw_header(EntryType::Directory, path, None, mode, 0);
        self.0.append(&header, &[][..]).unwrap();
        self
    }

    pub(crate) fn file(mut self, path: &str, mode: u32, content: &[u8]) -> Self {
        let header = raw_header(EntryType::Regular, path, None, mode, content.len() as u64);
        self.0.append(&header, content).unwrap();
        self
    }

    pub(crate) fn owned_file(
        mut self,
        path: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        content: &[u8],
    ) -> Self {
        let mut header = raw_header(EntryType::Regular, path, None, mode, content.len() as u64);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_cksum();
        self.0.append(&header, content).unwrap();
        self
    }

    pub(crate) fn link(mut self, kind: EntryType, path: &str, target: &str) -> Self {
        let header = raw_header(kind, path, Some(target), 0o777, 0);
        self.0.append(&header, &[][..]).unwrap();
        self
    }

    pub(crate) fn device(mut self, kind: EntryType, path: &str, major: u32, minor: u32) -> Self {
        let mut header = raw_header(kind, path, None, 0o666, 0);
        header.set_device_major(major).unwrap();
        header.set_device_minor(minor).unwrap();
        header.set_cksum();
        self.0.append(&header, &[][..]).unwrap();
        self
    }

    pub(crate) fn xattr_file(mut self, path: &str, name: &str, value: &[u8]) -> Self {
        let key = format!("SCHILY.xattr.{name}");
        self.0
            .append_pax_extensions([(key.as_str(), value)])
            .unwrap();
        self.file(path, 0o644, b"x")
    }

    pub(crate) fn build(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// The sample rootfs: a dir, a 0755 file owned by 1000:1000, a setuid
/// file, a relative and an absolute symlink, and a hard link.
pub(crate) fn sample_tar() -> Vec<u8> {
    TarBuilder::new()
        .dir("./", 0o755)
        .dir("etc/", 0o755)
        .owned_file("etc/hello", 0o755, 1000, 1000, b"hello\n")
        .link(EntryType::Symlink, "etc/link", "hello")
        .link(EntryType::Symlink, "etc/abs", "/etc/passwd")
        .link(EntryType::Link, "etc/hard", "etc/hello")
        .dir("bin/", 0o755)
        .file("bin/su", 0o4755, b"#!/bin/sh\n")
        .build()
}

pub(crate) fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub(crate) fn layer_count(store: &Store) -> usize {
    fs::read_dir(store.layers_dir()).unwrap().count()
}

pub(crate) fn import_error(bytes: &[u8]) -> (TempDir, Store, StorageError) {
    let (dir, store) = test_store();
    let tarball = write_file(dir.path(), "input.tar", bytes);
    let err = store.import(&tarball, Some("bad"), &|_| {}).unwrap_err();
    (dir, store, err)
}

/// After a rejected import nothing may remain: no layer, no image, no blob.
pub(crate) fn assert_nothing_stored(store: &Store) {
    assert_eq!(layer_count(store), 0);
    assert_eq!(store.images().unwrap().len(), 0);
    assert_eq!(fs::read_dir(store.blob_path("")).unwrap().count(), 0);
}
