//! `save`: images out of the store into one archive.
//!
//! An OCI archive carries the stored blobs and manifests unchanged, so the
//! loaded image has the same digest. A Docker archive carries uncompressed
//! layers named by diff id, as `docker save` writes them, and no manifest.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde_json::json;
use tracing::debug;

use super::ArchiveFormat;
use crate::digest::strip_algorithm;
use crate::error::io_err;
use crate::ingest::open_decompressed;
use crate::lookup::find_name;
use crate::manifest::{Manifest, OCI_INDEX, OCI_MANIFEST};
use crate::reference::Reference;
use crate::{Image, Result, StorageError, Store};

/// The annotation that names an image in an OCI layout's `index.json`.
pub(super) const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub(super) fn save(
    store: &Store,
    inputs: &[String],
    format: ArchiveFormat,
    output: &mut dyn Write,
) -> Result<()> {
    let mut images: Vec<(Image, Vec<String>)> = Vec::new();
    for input in inputs {
        let image = store.lookup(input)?;
        let names = match Reference::parse(input)
            .ok()
            .and_then(|r| find_name(&image, &r))
        {
            Some(name) => vec![name],
            None => image.names.clone(),
        };
        match images.iter_mut().find(|(known, _)| known.id == image.id) {
            Some((_, known_names)) => {
                for name in names {
                    if !known_names.contains(&name) {
                        known_names.push(name);
                    }
                }
            }
            None => images.push((image, names)),
        }
    }

    let mut builder = tar::Builder::new(output);
    match format {
        ArchiveFormat::OciArchive => write_oci(store, &images, &mut builder)?,
        ArchiveFormat::DockerArchive => write_docker(store, &images, &mut builder)?,
    }
    let output = builder
        .into_inner()
        .map_err(io_err("write archive", "output"))?;
    output.flush().map_err(io_err("write archive", "output"))?;
    Ok(())
}

fn read_manifest(store: &Store, image: &Image) -> Result<(Vec<u8>, Manifest)> {
    let path = store.blob_path(strip_algorithm(&image.digest));
    let bytes = fs::read(&path).map_err(io_err("read", &path))?;
    let manifest = serde_json::from_slice(&bytes).map_err(|e| StorageError::InvalidManifest {
        reference: image.id.clone(),
        reason: format!("stored manifest {}: {e}", path.display()),
    })?;
    Ok((bytes, manifest))
}

fn write_oci<W: Write>(
    store: &Store,
    images: &[(Image, Vec<String>)],
    builder: &mut tar::Builder<W>,
) -> Result<()> {
    append_bytes(builder, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append_dir(builder, "blobs/")?;
    append_dir(builder, "blobs/sha256/")?;

    let mut written = HashSet::new();
    let mut descriptors = Vec::new();
    for (image, names) in images {
        let (manifest_bytes, manifest) = read_manifest(store, image)?;
        let digests = std::iter::once(&manifest.config.digest)
            .chain(manifest.layers.iter().map(|l| &l.digest))
            .chain(std::iter::once(&image.digest));
        for digest in digests {
            let hex = strip_algorithm(digest).to_string();
            if written.insert(hex.clone()) {
                append_file(
                    builder,
                    &format!("blobs/sha256/{hex}"),
                    &store.blob_path(&hex),
                )?;
            }
        }

        let media_type = if manifest.media_type.is_empty() {
            OCI_MANIFEST
        } else {
            manifest.media_type.as_str()
        };
        let descriptor = json!({
            "mediaType": media_type,
            "digest": image.digest,
            "size": manifest_bytes.len(),
        });
        if names.is_empty() {
            descriptors.push(descriptor.clone());
        }
        for name in names {
            let mut named = descriptor.clone();
            named["annotations"] = json!({ REF_NAME: name });
            descriptors.push(named);
        }
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": descriptors,
    });
    let index = serde_json::to_vec(&index).expect("a JSON value always serializes");
    append_bytes(builder, "index.json", &index)
}

fn write_docker<W: Write>(
    store: &Store,
    images: &[(Image, Vec<String>)],
    builder: &mut tar::Builder<W>,
) -> Result<()> {
    let mut written = HashSet::new();
    let mut entries = Vec::new();
    for (image, names) in images {
        let (_, manifest) = read_manifest(store, image)?;
        let config_name = format!("{}.json", image.id);
        if written.insert(config_name.clone()) {
            append_file(builder, &config_name, &store.blob_path(&image.id))?;
        }

        let mut layer_names = Vec::new();
        for (layer, diff_id) in manifest.layers.iter().zip(&image.layers) {
            let name = format!("{}.tar", strip_algorithm(diff_id));
            if written.insert(name.clone()) {
                append_uncompressed(store, builder, &name, &layer.digest)?;
            }
            layer_names.push(name);
        }
        entries.push(json!({
            "Config": config_name,
            "RepoTags": names,
            "Layers": layer_names,
        }));
    }
    let manifest = serde_json::to_vec(&entries).expect("a JSON value always serializes");
    append_bytes(builder, "manifest.json", &manifest)
}

/// Appends a layer blob decompressed. The size goes in the tar header
/// before the data, so the content is decompressed into a temporary file
/// first.
fn append_uncompressed<W: Write>(
    store: &Store,
    builder: &mut tar::Builder<W>,
    name: &str,
    digest: &str,
) -> Result<()> {
    let blob = store.blob_path(strip_algorithm(digest));
    let mut temp = tempfile::Builder::new()
        .prefix(crate::import::TEMP_PREFIX)
        .tempfile_in(store.blobs_dir())
        .map_err(io_err("create temporary file in", store.blobs_dir()))?;
    let mut reader = open_decompressed(&blob)?;
    io::copy(&mut reader, temp.as_file_mut()).map_err(io_err("decompress", &blob))?;
    debug!(blob = %blob.display(), name, "decompressed layer for the archive");
    append_file(builder, name, temp.path())
}

fn header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(kind);
    header
}

fn append_dir<W: Write>(builder: &mut tar::Builder<W>, name: &str) -> Result<()> {
    let mut header = header(0, 0o755, tar::EntryType::Directory);
    builder
        .append_data(&mut header, name, io::empty())
        .map_err(io_err("write archive entry", name))
}

fn append_bytes<W: Write>(builder: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> Result<()> {
    let mut header = header(bytes.len() as u64, 0o644, tar::EntryType::Regular);
    builder
        .append_data(&mut header, name, bytes)
        .map_err(io_err("write archive entry", name))
}

fn append_file<W: Write>(builder: &mut tar::Builder<W>, name: &str, path: &Path) -> Result<()> {
    let file = File::open(path).map_err(io_err("open", path))?;
    let size = file.metadata().map_err(io_err("inspect", path))?.len();
    let mut header = header(size, 0o644, tar::EntryType::Regular);
    builder
        .append_data(&mut header, name, file)
        .map_err(io_err("write archive entry", name))
}
