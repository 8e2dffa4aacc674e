//! Garbage collection of blobs and layers. A blob is in use when an image
//! record names it: its manifest, its config, the layers its manifest
//! lists, and its layers' diff ids (an imported image stores its layer
//! uncompressed, under its diff id). Callers hold the store lock, so no
//! pull or load adds a user of a blob while it is judged unused.

use std::collections::HashSet;
use std::fs;

use tracing::{debug, warn};

use crate::digest::{is_sha256_hex, strip_algorithm};
use crate::manifest::Manifest;
use crate::{db, Image, Result, Store};

/// Hex digests of the blobs `image` uses, as far as its manifest can be
/// read. An unreadable manifest is logged; its layer blobs then count as
/// unused once no other image names them.
pub(crate) fn blobs_of_image(store: &Store, image: &Image) -> HashSet<String> {
    let mut blobs = HashSet::new();
    blobs.insert(image.id.clone());
    blobs.insert(strip_algorithm(&image.digest).to_string());
    for diff_id in &image.layers {
        blobs.insert(strip_algorithm(diff_id).to_string());
    }
    let path = store.blob_path(strip_algorithm(&image.digest));
    let manifest = fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok());
    match manifest {
        Some(manifest) => {
            for descriptor in std::iter::once(&manifest.config).chain(&manifest.layers) {
                blobs.insert(strip_algorithm(&descriptor.digest).to_string());
            }
        }
        None => {
            warn!(image_id = %image.id, manifest = %path.display(), "cannot read the image's manifest; its layer blobs are not known")
        }
    }
    blobs
}

/// Hex digests of the blobs every image record uses.
pub(crate) fn referenced_blobs(store: &Store) -> Result<HashSet<String>> {
    let mut blobs = HashSet::new();
    for image in store.images()? {
        blobs.extend(blobs_of_image(store, &image));
    }
    Ok(blobs)
}

/// Deletes those of `candidates` that no image uses. Returns the bytes freed.
pub(crate) fn remove_unused(store: &Store, candidates: HashSet<String>) -> Result<u64> {
    let in_use = referenced_blobs(store)?;
    let mut freed = 0;
    for hex in candidates.difference(&in_use) {
        freed += fs::metadata(store.blob_path(hex)).map_or(0, |m| m.len());
        store.remove_blob(hex);
    }
    Ok(freed)
}

/// Deletes every blob and layer directory no record uses. Returns the
/// bytes of blobs freed.
pub(crate) fn collect_garbage(store: &Store) -> Result<u64> {
    let mut candidates = HashSet::new();
    let blob_dir = store.root.join("blobs/sha256");
    if let Ok(entries) = fs::read_dir(&blob_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_sha256_hex(&name) {
                candidates.insert(name);
            }
        }
    }
    let freed = remove_unused(store, candidates)?;

    let layers: HashSet<String> = db::layer_chain_ids(&store.db())?
        .iter()
        .map(|chain| strip_algorithm(chain).to_string())
        .collect();
    if let Ok(entries) = fs::read_dir(store.layers_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_sha256_hex(&name) && !layers.contains(&name) {
                debug!(layer = %name, "removing layer directory without a record");
                store.remove_layer_dir(&name);
            }
        }
    }
    Ok(freed)
}
