//! `pull`: manifest (through a manifest list when there is one), config
//! and layer blobs, each checked against its digest before it is stored.
//!
//! Layers are downloaded by a few threads at once, each into a temporary
//! file that is renamed to its digest only after the check, so a killed
//! pull leaves only complete, verified blobs; the next pull skips those.
//! The store lock is held from the first blob to the image record, so a
//! removal never deletes a blob this pull is about to use.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Mutex;
use std::thread;

use tracing::{debug, info};
use ureq::http::Response;
use ureq::Body;

use super::client::{backoff, Access, Client, MAX_ATTEMPTS};
use super::{search_registries, PullOptions, TransferProgress};
use crate::digest::sha256_hex;
use crate::import::remove_leftovers;
use crate::ingest::{has_blob, record_image, store_blob_verified, BlobWriteError};
use crate::manifest::{
    parse_document, select_platform, Descriptor, Manifest, ManifestDocument, ACCEPTED_MANIFESTS,
};
use crate::reference::Reference;
use crate::{Image, Result, StorageError, Store};

/// The largest manifest or config read into memory.
const MAX_METADATA_BYTES: u64 = 8 * 1024 * 1024;

pub(super) fn pull(
    store: &Store,
    input: &str,
    options: &PullOptions,
    progress: &dyn TransferProgress,
) -> Result<Image> {
    let (reference, digest) = Reference::parse_with_digest(input)?;
    if reference.registry_given {
        return pull_one(store, &reference, digest.as_deref(), options, progress);
    }

    // A short name: try each search registry in order.
    let registries = search_registries()?;
    let mut tried = Vec::new();
    let mut last_error = None;
    for registry in &registries {
        let (candidate, _) = Reference::parse_with_digest(&format!("{registry}/{input}"))?;
        debug!(name = %candidate, "trying search registry");
        match pull_one(store, &candidate, digest.as_deref(), options, progress) {
            Ok(image) => return Ok(image),
            Err(
                e @ (StorageError::ManifestNotFound { .. }
                | StorageError::RegistryUnreachable { .. }
                | StorageError::Unauthorized { .. }),
            ) => {
                info!(name = %candidate, error = %e, "not pulled from this registry");
                tried.push(candidate.repository());
                last_error = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    match (tried.len(), last_error) {
        (1, Some(only)) => Err(only),
        _ => Err(StorageError::ShortNameNotFound {
            name: input.to_string(),
            tried,
        }),
    }
}

fn pull_one(
    store: &Store,
    reference: &Reference,
    digest: Option<&str>,
    options: &PullOptions,
    progress: &dyn TransferProgress,
) -> Result<Image> {
    let label = match digest {
        Some(digest) => format!("{}@{digest}", reference.repository()),
        None => reference.to_string(),
    };
    let client = Client::connect(
        &reference.registry,
        &reference.path,
        &options.registry,
        Access::Pull,
    )?;

    let wanted = digest.unwrap_or(&reference.tag);
    let (bytes, content_type) = fetch_manifest(&client, &label, wanted)?;
    let (manifest_bytes, manifest) = match parse_document(&label, &bytes, content_type.as_deref())?
    {
        ManifestDocument::Image(manifest) => (bytes, manifest),
        ManifestDocument::List(index) => {
            let chosen = select_platform(&label, &index, &options.platform)?;
            debug!(digest = %chosen.digest, platform = %options.platform, "picked manifest from list");
            let (bytes, content_type) = fetch_manifest(&client, &label, &chosen.digest)?;
            match parse_document(&label, &bytes, content_type.as_deref())? {
                ManifestDocument::Image(manifest) => (bytes, manifest),
                ManifestDocument::List(_) => {
                    return Err(StorageError::InvalidManifest {
                        reference: label,
                        reason: "a manifest list names another manifest list".into(),
                    })
                }
            }
        }
    };
    let config_bytes = fetch_small_blob(&client, &label, &manifest.config)?;

    let _lock = store.lock()?;
    remove_leftovers(&store.blobs_dir());
    remove_leftovers(&store.layers_dir());
    download_layers(store, &client, &label, &manifest, options, progress)?;

    let names: Vec<String> = match digest {
        Some(_) => Vec::new(),
        None => vec![reference.to_string()],
    };
    let image = record_image(
        store,
        &label,
        &manifest_bytes,
        &manifest,
        &config_bytes,
        &names,
    )?;
    debug!(image_id = %image.id, reference = %label, "pulled image");
    Ok(image)
}

/// Fetches a manifest by tag or digest. Its sha256 must equal the digest
/// asked for, or the `Docker-Content-Digest` the registry sent.
fn fetch_manifest(client: &Client, label: &str, wanted: &str) -> Result<(Vec<u8>, Option<String>)> {
    let url = client.url(&format!("manifests/{wanted}"));
    let response = client.send(label, "GET manifest", &|agent, authorization| {
        let mut request = agent.get(&url).header("Accept", ACCEPTED_MANIFESTS);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        request.call()
    })?;
    if response.status() == 404 {
        return Err(StorageError::ManifestNotFound {
            reference: label.to_string(),
        });
    }
    if !response.status().is_success() {
        return Err(client.status_error(label, "GET manifest", response));
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type");
    let sent_digest = header("docker-content-digest");
    let bytes = read_limited(client, label, "GET manifest", response)?;

    let actual = format!("sha256:{}", sha256_hex(&bytes));
    let expected = if wanted.starts_with("sha256:") {
        Some(wanted.to_string())
    } else {
        sent_digest.filter(|d| d.starts_with("sha256:"))
    };
    if let Some(expected) = expected {
        if expected != actual {
            return Err(StorageError::DigestMismatch {
                reference: label.to_string(),
                what: "manifest",
                expected,
                actual,
            });
        }
    }
    Ok((bytes, content_type))
}

/// Fetches a small blob (the config) into memory and checks its digest.
fn fetch_small_blob(client: &Client, label: &str, descriptor: &Descriptor) -> Result<Vec<u8>> {
    let response = get_blob(client, label, &descriptor.digest)?;
    let bytes = read_limited(client, label, "GET blob", response)?;
    let actual = format!("sha256:{}", sha256_hex(&bytes));
    if actual != descriptor.digest {
        return Err(StorageError::DigestMismatch {
            reference: label.to_string(),
            what: "config",
            expected: descriptor.digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}

fn get_blob(client: &Client, label: &str, digest: &str) -> Result<Response<Body>> {
    let url = client.url(&format!("blobs/{digest}"));
    let response = client.send(label, "GET blob", &|agent, authorization| {
        let mut request = agent.get(&url);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        request.call()
    })?;
    if !response.status().is_success() {
        return Err(client.status_error(label, "GET blob", response));
    }
    Ok(response)
}

fn read_limited(
    client: &Client,
    label: &str,
    op: &'static str,
    response: Response<Body>,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let read = response
        .into_body()
        .into_reader()
        .take(MAX_METADATA_BYTES + 1)
        .read_to_end(&mut bytes);
    if let Err(e) = read {
        return Err(StorageError::RegistryUnreachable {
            registry: client.registry.clone(),
            attempts: 1,
            reason: format!("{op}: {e}"),
        });
    }
    if bytes.len() as u64 > MAX_METADATA_BYTES {
        return Err(StorageError::InvalidManifest {
            reference: label.to_string(),
            reason: format!("{op}: the document is larger than {MAX_METADATA_BYTES} bytes"),
        });
    }
    Ok(bytes)
}

/// Downloads the layer blobs the store does not have yet, with up to
/// `options.parallel_downloads` threads. Returns the first error after
/// the running downloads have finished.
fn download_layers(
    store: &Store,
    client: &Client,
    label: &str,
    manifest: &Manifest,
    options: &PullOptions,
    progress: &dyn TransferProgress,
) -> Result<()> {
    let mut queue = VecDeque::new();
    for layer in &manifest.layers {
        if has_blob(store, &layer.digest) {
            debug!(digest = %layer.digest, "layer blob already in the store");
            progress.blob_finished(&layer.digest, true);
        } else if !queue.iter().any(|d: &&Descriptor| d.digest == layer.digest) {
            queue.push_back(layer);
        }
    }
    let queue = Mutex::new(queue);
    let first_error: Mutex<Option<StorageError>> = Mutex::new(None);
    let workers = options.parallel_downloads.max(1);
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                if first_error.lock().expect("not poisoned").is_some() {
                    return;
                }
                let Some(layer) = queue.lock().expect("not poisoned").pop_front() else {
                    return;
                };
                if let Err(e) = download_blob(store, client, label, layer, progress) {
                    first_error.lock().expect("not poisoned").get_or_insert(e);
                }
            });
        }
    });
    match first_error.into_inner().expect("not poisoned") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Downloads one blob into the store, starting over when the transfer
/// breaks off, up to [`MAX_ATTEMPTS`] times.
fn download_blob(
    store: &Store,
    client: &Client,
    label: &str,
    layer: &Descriptor,
    progress: &dyn TransferProgress,
) -> Result<()> {
    progress.blob_started(&layer.digest, layer.size);
    let mut attempt = 1;
    loop {
        let response = get_blob(client, label, &layer.digest)?;
        // One byte more than announced is enough to show a wrong size,
        // and no server can make the download unbounded.
        let reader = response.into_body().into_reader().take(layer.size + 1);
        let report = |bytes: u64| progress.blob_progress(&layer.digest, bytes);
        match store_blob_verified(store, reader, &layer.digest, label, "layer", &report) {
            Ok(size) => {
                debug!(digest = %layer.digest, size, "downloaded layer blob");
                progress.blob_finished(&layer.digest, false);
                return Ok(());
            }
            Err(BlobWriteError::Store(e)) => return Err(e),
            Err(BlobWriteError::Read(e)) if attempt >= MAX_ATTEMPTS => {
                return Err(StorageError::RegistryUnreachable {
                    registry: client.registry.clone(),
                    attempts: attempt,
                    reason: format!("GET blob {}: {e}", layer.digest),
                });
            }
            Err(BlobWriteError::Read(e)) => {
                tracing::warn!(digest = %layer.digest, attempt, error = %e, "layer download broke off, retrying");
                attempt += 1;
                thread::sleep(backoff(attempt));
            }
        }
    }
}
