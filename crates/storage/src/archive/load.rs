//! `load`: every image of an OCI or Docker archive into the store.
//!
//! The archive is first extracted into a temporary directory in the store,
//! regular files only: a symlink entry (Docker archives link layers that
//! several images share) is remembered and resolved inside the archive,
//! never created. Then each image goes the way of a pulled one: blobs
//! verified against their digests, layers against their diff ids, and the
//! record written last.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::json;
use tempfile::TempDir;
use tracing::debug;

use super::save::REF_NAME;
use crate::digest::{sha256_hex, strip_algorithm};
use crate::error::{archive_reason, io_err};
use crate::import::{detect_compression, remove_leftovers, Compression, TEMP_PREFIX};
use crate::ingest::{has_blob, record_image, store_blob_verified, BlobWriteError};
use crate::manifest::{
    check_digest, parse_document, select_platform, Descriptor, Index, Manifest, ManifestDocument,
    PlatformChoice, OCI_CONFIG, OCI_MANIFEST,
};
use crate::reference::normalize;
use crate::{Image, Result, StorageError, Store};

/// An extracted archive: its directory and the symlinks it contained.
struct Extracted {
    dir: TempDir,
    /// Symlink entries: path in the archive → target as written.
    links: HashMap<PathBuf, PathBuf>,
    source: PathBuf,
}

impl Extracted {
    fn invalid(&self, reason: impl Into<String>) -> StorageError {
        StorageError::InvalidArchive {
            path: self.source.clone(),
            reason: reason.into(),
        }
    }

    /// Returns the extracted file at `name`, following the archive's own symlinks
    /// (at most 8 deep) without leaving the archive.
    fn file(&self, name: &str) -> Result<PathBuf> {
        let mut path = clean(Path::new(name))
            .ok_or_else(|| self.invalid(format!("path {name:?} leaves the archive")))?;
        for _ in 0..8 {
            match self.links.get(&path) {
                Some(target) => {
                    let joined = path.parent().unwrap_or(Path::new("")).join(target);
                    path = clean(&joined).ok_or_else(|| {
                        self.invalid(format!("symlink {name:?} points outside the archive"))
                    })?;
                }
                None => {
                    let full = self.dir.path().join(&path);
                    if !full.is_file() {
                        return Err(self.invalid(format!("{name} is missing")));
                    }
                    return Ok(full);
                }
            }
        }
        Err(self.invalid(format!("too many symlinks at {name}")))
    }

    fn read(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.file(name)?;
        fs::read(&path).map_err(io_err("read", &path))
    }
}

pub(super) fn load(store: &Store, path: &Path) -> Result<Vec<Image>> {
    let _lock = store.lock()?;
    remove_leftovers(&store.blobs_dir());
    remove_leftovers(&store.layers_dir());
    let archive = extract(store, path)?;

    let images = if archive.dir.path().join("index.json").is_file() {
        load_oci(store, &archive)?
    } else if archive.dir.path().join("manifest.json").is_file() {
        load_docker(store, &archive)?
    } else {
        return Err(archive.invalid(
            "it has neither index.json nor manifest.json: not an OCI or Docker image archive",
        ));
    };
    if images.is_empty() {
        return Err(archive.invalid("the archive contains no image"));
    }
    Ok(images)
}

fn extract(store: &Store, path: &Path) -> Result<Extracted> {
    let invalid = |reason: String| StorageError::InvalidArchive {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(io_err("open", path))?;
    let mut input = BufReader::with_capacity(64 * 1024, file);
    let magic = input.fill_buf().map_err(io_err("read", path))?;
    let compression = detect_compression(magic).map_err(|r| invalid(r.to_string()))?;
    let reader: Box<dyn Read> = match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| invalid(format!("zstd: {e}")))?,
        ),
    };

    let dir = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempdir_in(store.blobs_dir())
        .map_err(io_err("create temporary directory in", store.blobs_dir()))?;
    let mut links = HashMap::new();
    let mut tar = tar::Archive::new(reader);
    let entries = tar.entries().map_err(|e| invalid(archive_reason(&e)))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(archive_reason(&e)))?;
        let raw = entry.path().map_err(|e| invalid(archive_reason(&e)))?;
        let name = clean(&raw)
            .ok_or_else(|| invalid(format!("entry {:?} leaves the archive", raw.display())))?;
        if name.as_os_str().is_empty() {
            continue;
        }
        let target = dir.path().join(&name);
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
                }
                let mut out = File::create(&target).map_err(io_err("create file", &target))?;
                io::copy(&mut entry, &mut out).map_err(|e| invalid(archive_reason(&e)))?;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(|e| invalid(archive_reason(&e)))?
                    .ok_or_else(|| invalid(format!("symlink {} has no target", name.display())))?;
                links.insert(name, link.into_owned());
            }
            _ => {}
        }
    }
    debug!(archive = %path.display(), dir = %dir.path().display(), "extracted archive");
    Ok(Extracted {
        dir,
        links,
        source: path.to_path_buf(),
    })
}

/// Cleans a relative archive path lexically; `None` if it leaves the root.
fn clean(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Copies a file of the archive into the store as blob `digest`, checking
/// the digest. A blob the store has is not copied again.
fn import_blob(store: &Store, archive: &Extracted, file: &Path, digest: &str) -> Result<()> {
    if has_blob(store, digest) {
        return Ok(());
    }
    let reader = File::open(file).map_err(io_err("open", file))?;
    let label = archive.source.display().to_string();
    match store_blob_verified(store, reader, digest, &label, "blob", &|_| {}) {
        Ok(_) => Ok(()),
        Err(BlobWriteError::Store(e)) => Err(e),
        Err(BlobWriteError::Read(e)) => Err(io_err("read", file)(e)),
    }
}

fn load_oci(store: &Store, archive: &Extracted) -> Result<Vec<Image>> {
    let label = archive.source.display().to_string();
    let index: Index = serde_json::from_slice(&archive.read("index.json")?)
        .map_err(|e| archive.invalid(format!("index.json: {e}")))?;
    let mut images = Vec::new();
    for descriptor in &index.manifests {
        let name = descriptor
            .annotations
            .get(REF_NAME)
            .and_then(|n| image_name(n));
        let image = load_oci_manifest(store, archive, &label, descriptor, name)?;
        images.push(image);
    }
    Ok(images)
}

/// Returns the image name an OCI ref name annotation gives. By the OCI image spec
/// it is often only a tag (`latest`), which names no image, but Podman
/// and Skopeo write full names such as `localhost/busybox:latest`.
fn image_name(ref_name: &str) -> Option<String> {
    if !ref_name.contains('/') && !ref_name.contains(':') {
        return None;
    }
    normalize(ref_name).ok()
}

fn load_oci_manifest(
    store: &Store,
    archive: &Extracted,
    label: &str,
    descriptor: &Descriptor,
    name: Option<String>,
) -> Result<Image> {
    check_digest(label, &descriptor.digest)?;
    let blob_name = |digest: &str| format!("blobs/sha256/{}", strip_algorithm(digest));
    let mut bytes = archive.read(&blob_name(&descriptor.digest))?;
    let mut expected = descriptor.digest.clone();
    loop {
        let actual = format!("sha256:{}", sha256_hex(&bytes));
        if actual != expected {
            return Err(StorageError::DigestMismatch {
                reference: label.to_string(),
                what: "manifest",
                expected,
                actual,
            });
        }
        let content_type = Some(descriptor.media_type.as_str()).filter(|t| !t.is_empty());
        match parse_document(label, &bytes, content_type)? {
            ManifestDocument::Image(manifest) => {
                for layer in &manifest.layers {
                    let file = archive.file(&blob_name(&layer.digest))?;
                    import_blob(store, archive, &file, &layer.digest)?;
                }
                let config = archive.read(&blob_name(&manifest.config.digest))?;
                let names: Vec<String> = name.into_iter().collect();
                return record_image(store, label, &bytes, &manifest, &config, &names);
            }
            ManifestDocument::List(list) => {
                // A multi-platform image, as `skopeo copy --all` writes it.
                let chosen = select_platform(label, &list, &PlatformChoice::host())?;
                expected = chosen.digest.clone();
                bytes = archive.read(&blob_name(&chosen.digest))?;
            }
        }
    }
}

/// One entry of a Docker archive's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn load_docker(store: &Store, archive: &Extracted) -> Result<Vec<Image>> {
    let label = archive.source.display().to_string();
    let entries: Vec<DockerEntry> = serde_json::from_slice(&archive.read("manifest.json")?)
        .map_err(|e| archive.invalid(format!("manifest.json: {e}")))?;
    let mut images = Vec::new();
    for entry in entries {
        let config = archive.read(&entry.config)?;
        let mut layers = Vec::new();
        for layer in &entry.layers {
            let file = archive.file(layer)?;
            layers.push(docker_layer(store, archive, &file)?);
        }
        // Docker archives carry no manifest: make an OCI one, as
        // `podman load` does, so the image has a digest and can be pushed.
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": format!("sha256:{}", sha256_hex(&config)),
                "size": config.len(),
            },
            "layers": layers,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).expect("a JSON value always serializes");
        let parsed: Manifest =
            serde_json::from_value(manifest).expect("the manifest was built from typed values");
        let names = entry
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|tag| normalize(tag))
            .collect::<Result<Vec<_>>>()?;
        images.push(record_image(
            store,
            &label,
            &manifest_bytes,
            &parsed,
            &config,
            &names,
        )?);
    }
    Ok(images)
}

/// Stores one layer file of a Docker archive as a blob, as it is (plain
/// or compressed), and returns its descriptor.
fn docker_layer(store: &Store, archive: &Extracted, file: &Path) -> Result<serde_json::Value> {
    let mut reader = BufReader::new(File::open(file).map_err(io_err("open", file))?);
    let magic = reader.fill_buf().map_err(io_err("read", file))?;
    let media_type = match detect_compression(magic) {
        Ok(Compression::None) => "application/vnd.oci.image.layer.v1.tar",
        Ok(Compression::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
        Ok(Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
        Err(reason) => return Err(archive.invalid(format!("{}: {reason}", file.display()))),
    };
    let mut hasher = crate::digest::TeeHasher::new(reader, io::sink());
    io::copy(&mut hasher, &mut io::sink()).map_err(io_err("read", file))?;
    let (hex, size, _) = hasher.finish();
    let digest = format!("sha256:{hex}");
    import_blob(store, archive, file, &digest)?;
    Ok(json!({ "mediaType": media_type, "digest": digest, "size": size }))
}
