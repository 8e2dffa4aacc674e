//! Storing an image whose blobs arrive from elsewhere: the common end of
//! `pull` and `load`.
//!
//! Every blob is written to a temporary name and renamed to its digest only
//! after its sha256 matched, so a killed pull leaves no blob under a wrong
//! name. Each new layer is unpacked into a temporary directory, and its
//! uncompressed content is checked against the config's diff id before
//! the directory is renamed to its chain id. The image record is written
//! last, in one transaction: until then `images` does not show it.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use tracing::debug;

use crate::db::{self, NewLayer};
use crate::digest::{chain_ids, sha256_hex, strip_algorithm, TeeHasher};
use crate::error::{archive_reason, io_err};
use crate::import::{detect_compression, persist_blob, write_blob, Compression, TEMP_PREFIX};
use crate::manifest::{check_digest, Manifest};
use crate::unpack::unpack_layer;
use crate::{Image, Result, StorageError, Store};

/// Why copying a stream into a blob failed: the source (a network
/// transfer, which may be retried) or the store.
#[derive(Debug)]
pub(crate) enum BlobWriteError {
    Read(io::Error),
    Store(StorageError),
}

impl From<StorageError> for BlobWriteError {
    fn from(e: StorageError) -> Self {
        BlobWriteError::Store(e)
    }
}

/// Copies `reader` into a temporary blob and renames it to `expected`
/// (`sha256:<hex>`) when the content has that digest. `progress` receives
/// the bytes copied so far. Returns the size.
pub(crate) fn store_blob_verified(
    store: &Store,
    reader: impl Read,
    expected: &str,
    reference: &str,
    what: &'static str,
    progress: &dyn Fn(u64),
) -> std::result::Result<u64, BlobWriteError> {
    let blobs = store.blobs_dir();
    let blob = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(&blobs)
        .map_err(io_err("create temporary file in", &blobs))?;
    let mut tee = TeeHasher::new(reader, BufWriter::new(blob.as_file()));
    let mut buffer = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    loop {
        match tee.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                copied += n as u64;
                progress(copied);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(match tee.take_sink_error() {
                    Some(write_error) => io_err("write", blob.path())(write_error).into(),
                    None => BlobWriteError::Read(e),
                })
            }
        }
    }
    let (hex, size, mut sink) = tee.finish();
    sink.flush().map_err(io_err("write", blob.path()))?;
    drop(sink);

    let actual = format!("sha256:{hex}");
    if actual != expected {
        return Err(StorageError::DigestMismatch {
            reference: reference.to_string(),
            what,
            expected: expected.to_string(),
            actual,
        }
        .into());
    }
    persist_blob(blob, &store.blob_path(&hex))?;
    Ok(size)
}

/// Whether the store has the blob `digest` (`sha256:<hex>`).
pub(crate) fn has_blob(store: &Store, digest: &str) -> bool {
    store.blob_path(strip_algorithm(digest)).is_file()
}

/// Records an image from its manifest and config. The caller holds the
/// store lock, and every layer blob the manifest names is in the store,
/// verified against its digest. Layers not unpacked yet are unpacked, and
/// their content is checked against the config's diff ids.
pub(crate) fn record_image(
    store: &Store,
    reference: &str,
    manifest_bytes: &[u8],
    manifest: &Manifest,
    config_bytes: &[u8],
    names: &[String],
) -> Result<Image> {
    let config_hex = sha256_hex(config_bytes);
    let config_digest = format!("sha256:{config_hex}");
    if config_digest != manifest.config.digest {
        return Err(StorageError::DigestMismatch {
            reference: reference.to_string(),
            what: "config",
            expected: manifest.config.digest.clone(),
            actual: config_digest,
        });
    }
    let invalid = |reason: String| StorageError::InvalidManifest {
        reference: reference.to_string(),
        reason,
    };
    let config: serde_json::Value = serde_json::from_slice(config_bytes)
        .map_err(|e| invalid(format!("the image config is not JSON: {e}")))?;
    let diff_ids: Vec<String> = config
        .pointer("/rootfs/diff_ids")
        .and_then(|ids| serde_json::from_value(ids.clone()).ok())
        .ok_or_else(|| invalid("the image config has no rootfs.diff_ids list".into()))?;
    if diff_ids.len() != manifest.layers.len() {
        return Err(invalid(format!(
            "the manifest has {} layers but the config lists {} diff ids",
            manifest.layers.len(),
            diff_ids.len()
        )));
    }
    for diff_id in &diff_ids {
        check_digest(reference, diff_id)?;
    }

    let chains = chain_ids(&diff_ids);
    let mut sizes = Vec::with_capacity(chains.len());
    for ((layer, diff_id), chain) in manifest.layers.iter().zip(&diff_ids).zip(&chains) {
        let layer_dir = store.layers_dir().join(strip_algorithm(chain));
        let recorded = db::layer_size(&store.db(), chain)?;
        let size = match recorded {
            Some(size) if layer_dir.exists() => {
                debug!(chain_id = %chain, "layer already unpacked, skipping it");
                size
            }
            _ => {
                let blob = store.blob_path(strip_algorithm(&layer.digest));
                let dest = (!layer_dir.exists()).then_some(layer_dir.as_path());
                unpack_verified(store, reference, &blob, diff_id, dest)?
            }
        };
        sizes.push(size);
    }

    write_blob(store, config_bytes)?;
    let manifest_hex = write_blob(store, manifest_bytes)?;
    let created = config
        .get("created")
        .and_then(|c| c.as_str())
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|c| c.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    let image = Image {
        id: config_hex,
        names: names.to_vec(),
        digest: format!("sha256:{manifest_hex}"),
        created,
        size: sizes.iter().sum(),
        layers: diff_ids.clone(),
    };
    let layers: Vec<NewLayer<'_>> = (0..chains.len())
        .map(|i| NewLayer {
            chain_id: &chains[i],
            diff_id: &diff_ids[i],
            parent: i.checked_sub(1).map(|p| chains[p].as_str()),
            size: sizes[i],
        })
        .collect();
    db::insert_image(&mut store.db(), &image, &layers)?;
    debug!(image_id = %image.id, digest = %image.digest, names = ?image.names, "recorded image");
    Ok(image)
}

/// Opens a layer file (plain, gzip or zstd tar) for reading its
/// uncompressed content. The compression is detected from the content.
pub(crate) fn open_decompressed(path: &Path) -> Result<Box<dyn Read>> {
    let file = File::open(path).map_err(io_err("open", path))?;
    let mut input = BufReader::with_capacity(64 * 1024, file);
    let magic = input.fill_buf().map_err(io_err("read", path))?;
    let not_a_tarball = |reason: String| StorageError::NotATarball {
        path: path.to_path_buf(),
        reason,
    };
    let compression = detect_compression(magic).map_err(|r| not_a_tarball(r.to_string()))?;
    Ok(match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| not_a_tarball(format!("zstd: {e}")))?,
        ),
    })
}

/// Decompresses the layer blob at `blob`, checks that its content has
/// `diff_id`, and, when `dest` is given, unpacks it there: into a
/// temporary directory first, renamed to `dest` only after the check.
/// Returns the uncompressed size.
fn unpack_verified(
    store: &Store,
    reference: &str,
    blob: &Path,
    diff_id: &str,
    dest: Option<&Path>,
) -> Result<u64> {
    let not_a_tarball = |reason: String| StorageError::NotATarball {
        path: blob.to_path_buf(),
        reason,
    };
    let mut tee = TeeHasher::new(open_decompressed(blob)?, io::sink());

    let temp = match dest {
        Some(_) => {
            let temp = tempfile::Builder::new()
                .prefix(TEMP_PREFIX)
                .tempdir_in(store.layers_dir())
                .map_err(io_err("create temporary directory in", store.layers_dir()))?;
            let diff = temp.path().join("diff");
            fs::create_dir(&diff).map_err(io_err("create directory", &diff))?;
            unpack_layer(&mut tee, blob, &diff)?;
            Some(temp)
        }
        None => None,
    };
    // The tar reader stops at the end-of-archive marker; the diff id
    // covers the padding after it too.
    io::copy(&mut tee, &mut io::sink()).map_err(|e| not_a_tarball(archive_reason(&e)))?;
    let (hex, size, _) = tee.finish();

    let actual = format!("sha256:{hex}");
    if actual != diff_id {
        return Err(StorageError::DigestMismatch {
            reference: reference.to_string(),
            what: "uncompressed layer",
            expected: diff_id.to_string(),
            actual,
        });
    }
    if let (Some(temp), Some(dest)) = (temp, dest) {
        // The store lock is held, so no other process creates `dest` now.
        fs::rename(temp.path(), dest).map_err(io_err("rename layer into place at", dest))?;
        let _ = temp.keep();
        debug!(layer = %dest.display(), diff_id, "layer unpacked");
    }
    Ok(size)
}
