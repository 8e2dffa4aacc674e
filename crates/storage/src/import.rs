//! `berth import`: a rootfs tarball becomes a one-layer image.
//!
//! The input is decompressed and read once. That pass checks the tar
//! structure, computes the diff id (sha256 of the uncompressed tar) and
//! writes the uncompressed layer blob to a temporary file. The layer is
//! then unpacked from that file, unless a layer with its chain id exists.
//! Temporary files and directories are renamed into place only when
//! complete, and everything runs under the store's lock.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;

use chrono::{SecondsFormat, Utc};
use serde_json::json;
use tempfile::NamedTempFile;
use tracing::{debug, warn};

use crate::db::{self, NewLayer};
use crate::digest::{chain_id, sha256_hex, strip_algorithm, TeeHasher};
use crate::error::{archive_reason, io_err};
use crate::manifest::{OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST};
use crate::reference::normalize;
use crate::unpack::unpack_layer;
use crate::{Image, Result, StorageError, Store};

/// Prefix of every temporary file and directory under `blobs/` and
/// `layers/`. Under the store's lock, any name with it is a leftover of a
/// killed process.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// `progress` is called each time this many more input bytes are read.
const PROGRESS_STEP: u64 = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Identifies the compression from the first bytes of the input. Formats
/// that are recognized but not supported are reported as such.
pub(crate) fn detect_compression(magic: &[u8]) -> std::result::Result<Compression, &'static str> {
    if magic.is_empty() {
        return Err("the file is empty");
    }
    if magic.starts_with(&[0x1f, 0x8b]) {
        return Ok(Compression::Gzip);
    }
    if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok(Compression::Zstd);
    }
    if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Err("xz compression is not supported: decompress it with `xz -d` first");
    }
    if magic.starts_with(b"BZh") {
        return Err("bzip2 compression is not supported: decompress it with `bzip2 -d` first");
    }
    Ok(Compression::None)
}

pub(crate) fn import(
    store: &Store,
    tarball: &Path,
    name: Option<&str>,
    progress: &dyn Fn(u64),
) -> Result<Image> {
    let name = name.map(normalize).transpose()?;
    let _lock = store.lock()?;
    remove_leftovers(&store.blobs_dir());
    remove_leftovers(&store.layers_dir());

    let (blob, diff_hex, size) = write_layer_blob(store, tarball, progress)?;
    let diff_id = format!("sha256:{diff_hex}");
    let chain = chain_id(None, &diff_id);
    debug!(tarball = %tarball.display(), diff_id = %diff_id, size, "read layer");

    let layer_dir = store.layers_dir().join(strip_algorithm(&chain));
    if layer_dir.exists() {
        debug!(layer = %layer_dir.display(), "layer already unpacked, reusing it");
    } else {
        let mut file = blob.reopen().map_err(io_err("reopen", blob.path()))?;
        file.rewind().map_err(io_err("rewind", blob.path()))?;
        unpack_new_layer(store, BufReader::new(file), tarball, &layer_dir)?;
    }
    persist_blob(blob, &store.blob_path(&diff_hex))?;

    let created = Utc::now();
    let created_text = created.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // `podman import` leaves the config's Cmd and Entrypoint empty too.
    let config = json!({
        "created": created_text,
        "architecture": go_arch(),
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{
            "created": created_text,
            "created_by": "berth import",
            "comment": "imported from tarball",
        }],
    });
    let config_bytes = serde_json::to_vec(&config).expect("a json! value always serializes");
    let config_hex = write_blob(store, &config_bytes)?;

    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": format!("sha256:{config_hex}"),
            "size": config_bytes.len(),
        },
        "layers": [{
            "mediaType": OCI_LAYER_TAR,
            "digest": diff_id,
            "size": size,
        }],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("a json! value always serializes");
    let manifest_hex = write_blob(store, &manifest_bytes)?;

    let image = Image {
        id: config_hex,
        names: name.into_iter().collect(),
        digest: format!("sha256:{manifest_hex}"),
        created,
        size,
        layers: vec![diff_id.clone()],
    };
    let layer = NewLayer {
        chain_id: &chain,
        diff_id: &diff_id,
        parent: None,
        size,
    };
    db::insert_image(&mut store.db(), &image, &[layer])?;
    debug!(image_id = %image.id, names = ?image.names, "imported image");
    Ok(image)
}

/// Reads the input once: decompresses it, checks that it is a tar archive,
/// and writes the uncompressed tar to a temporary file in `blobs/`.
/// Returns the file, the hex sha256 of its content and its size.
fn write_layer_blob(
    store: &Store,
    tarball: &Path,
    progress: &dyn Fn(u64),
) -> Result<(NamedTempFile, String, u64)> {
    let not_a_tarball = |reason: String| StorageError::NotATarball {
        path: tarball.to_path_buf(),
        reason,
    };

    let file = File::open(tarball).map_err(io_err("open", tarball))?;
    let mut input = BufReader::with_capacity(
        64 * 1024,
        ProgressReader {
            inner: file,
            read: 0,
            reported: 0,
            progress,
        },
    );
    let magic = input.fill_buf().map_err(io_err("read", tarball))?;
    let compression =
        detect_compression(magic).map_err(|reason| not_a_tarball(reason.to_string()))?;
    debug!(tarball = %tarball.display(), ?compression, "reading tarball");
    let decompressed: Box<dyn Read> = match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| not_a_tarball(format!("zstd: {e}")))?,
        ),
    };

    let blob = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(store.blobs_dir())
        .map_err(io_err("create temporary file in", store.blobs_dir()))?;
    let mut tee = TeeHasher::new(decompressed, BufWriter::new(blob.as_file()));

    let entries = check_tar(&mut tee).map_err(|e| match tee.take_sink_error() {
        Some(write_error) => io_err("write", blob.path())(write_error),
        None => not_a_tarball(archive_reason(&e)),
    })?;
    let (hex, size, mut sink) = tee.finish();
    sink.flush().map_err(io_err("write", blob.path()))?;
    drop(sink);
    debug!(entries, size, "checked tar archive");
    Ok((blob, hex, size))
}

/// Walks the archive to its end, then reads whatever follows the end
/// marker so the digest covers the whole stream. Returns the entry count.
fn check_tar(reader: &mut impl Read) -> io::Result<u64> {
    let mut first_block = Vec::with_capacity(TAR_BLOCK);
    reader
        .by_ref()
        .take(TAR_BLOCK as u64)
        .read_to_end(&mut first_block)?;
    check_first_block(&first_block).map_err(io::Error::other)?;

    let mut count = 0;
    let mut archive = tar::Archive::new(io::Cursor::new(first_block).chain(&mut *reader));
    for entry in archive.entries()? {
        entry?;
        count += 1;
    }
    drop(archive);
    io::copy(reader, &mut io::sink())?;
    Ok(count)
}

const TAR_BLOCK: usize = 512;

/// Checks that a stream starts with a tar header (or an end-of-archive
/// block of zeros), so random data gets a plain reason instead of the
/// tar parser's complaint about one of its fields.
fn check_first_block(block: &[u8]) -> std::result::Result<(), &'static str> {
    if block.len() < TAR_BLOCK {
        return Err("the data is shorter than one 512-byte tar block");
    }
    if block.iter().all(|&b| b == 0) {
        return Ok(());
    }
    // The checksum is the sum of the header bytes with its own 8-byte
    // field (offset 148) counted as spaces, stored as octal text.
    let field = &block[148..156];
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .filter(|b| (b'0'..=b'7').contains(b))
        .collect();
    let stored = std::str::from_utf8(&digits)
        .ok()
        .and_then(|d| u32::from_str_radix(d, 8).ok());
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    if stored != Some(sum) {
        return Err("no tar header at the start of the data (checksum mismatch)");
    }
    Ok(())
}

/// Unpacks into a temporary dir under `layers/`, then renames it to
/// `layer_dir`, so a layer dir under its id is always complete.
pub(crate) fn unpack_new_layer(
    store: &Store,
    reader: impl Read,
    tarball: &Path,
    layer_dir: &Path,
) -> Result<()> {
    let temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempdir_in(store.layers_dir())
        .map_err(io_err("create temporary directory in", store.layers_dir()))?;
    let diff = temp.path().join("diff");
    fs::create_dir(&diff).map_err(io_err("create directory", &diff))?;
    debug!(dest = %diff.display(), "unpacking layer");
    unpack_layer(reader, tarball, &diff)?;

    // The store lock is held, so no other process creates `layer_dir` now.
    fs::rename(temp.path(), layer_dir).map_err(io_err("rename layer into place at", layer_dir))?;
    let _ = temp.keep();
    debug!(layer = %layer_dir.display(), "layer unpacked");
    Ok(())
}

/// Renames a complete temporary blob to its content address, or drops it
/// when an identical blob exists.
pub(crate) fn persist_blob(blob: NamedTempFile, path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    blob.as_file()
        .sync_all()
        .map_err(io_err("sync", blob.path()))?;
    blob.persist(path)
        .map_err(|e| io_err("rename blob into place at", path)(e.error))?;
    debug!(blob = %path.display(), "stored blob");
    Ok(())
}

/// Stores `bytes` as a blob and returns its hex sha256.
pub(crate) fn write_blob(store: &Store, bytes: &[u8]) -> Result<String> {
    let hex = sha256_hex(bytes);
    let mut blob = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(store.blobs_dir())
        .map_err(io_err("create temporary file in", store.blobs_dir()))?;
    blob.write_all(bytes)
        .map_err(io_err("write", blob.path()))?;
    persist_blob(blob, &store.blob_path(&hex))?;
    Ok(hex)
}

/// Deletes temporary files and dirs left in `dir` by killed processes.
/// The caller holds the store lock, so none of them is in use.
pub(crate) fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let path = entry.path();
        let result = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        match result {
            Ok(()) => debug!(path = %path.display(), "removed leftover temporary file"),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot remove leftover temporary file")
            }
        }
    }
}

/// The host architecture in the GOARCH spelling that image configs use.
pub(crate) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Counts bytes read from the input and reports them to `progress`.
struct ProgressReader<'a, R> {
    inner: R,
    read: u64,
    reported: u64,
    progress: &'a dyn Fn(u64),
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let at_end = n == 0 && !buf.is_empty();
        if self.read - self.reported >= PROGRESS_STEP || (at_end && self.read != self.reported) {
            (self.progress)(self.read);
            self.reported = self.read;
        }
        Ok(n)
    }
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
