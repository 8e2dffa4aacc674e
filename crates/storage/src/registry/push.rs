//! `push`: the image's blobs as the store has them, then its manifest,
//! byte for byte, so the registry's digest is the store's.

use std::fs::{self, File};

use tracing::debug;

use super::client::{Access, Client};
use super::{RegistryOptions, TransferProgress};
use crate::digest::strip_algorithm;
use crate::error::io_err;
use crate::manifest::{parse_document, ManifestDocument, OCI_MANIFEST};
use crate::reference::Reference;
use crate::{Result, StorageError, Store};

pub(super) fn push(
    store: &Store,
    source: &str,
    destination: Option<&str>,
    options: &RegistryOptions,
    progress: &dyn TransferProgress,
) -> Result<String> {
    let image = store.lookup(source)?;
    let reference = Reference::parse(destination.unwrap_or(source))?;
    let label = reference.to_string();

    let manifest_path = store.blob_path(strip_algorithm(&image.digest));
    let manifest_bytes = fs::read(&manifest_path).map_err(io_err("read", &manifest_path))?;
    let manifest = match parse_document(&label, &manifest_bytes, None)? {
        ManifestDocument::Image(manifest) => manifest,
        ManifestDocument::List(_) => {
            return Err(StorageError::InvalidManifest {
                reference: label,
                reason: "the stored manifest is a manifest list".into(),
            })
        }
    };

    let client = Client::connect(&reference.registry, &reference.path, options, Access::Push)?;
    for descriptor in manifest
        .layers
        .iter()
        .chain(std::iter::once(&manifest.config))
    {
        if blob_exists(&client, &label, &descriptor.digest)? {
            debug!(digest = %descriptor.digest, "blob already in the registry");
            progress.blob_finished(&descriptor.digest, true);
            continue;
        }
        progress.blob_started(&descriptor.digest, descriptor.size);
        upload_blob(store, &client, &label, &descriptor.digest)?;
        progress.blob_progress(&descriptor.digest, descriptor.size);
        progress.blob_finished(&descriptor.digest, false);
    }

    let media_type = if manifest.media_type.is_empty() {
        OCI_MANIFEST
    } else {
        manifest.media_type.as_str()
    };
    let url = client.url(&format!("manifests/{}", reference.tag));
    let response = client.send(&label, "PUT manifest", &|agent, authorization| {
        let mut request = agent.put(&url).header("Content-Type", media_type);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        request.send(&manifest_bytes)
    })?;
    if !response.status().is_success() {
        return Err(client.status_error(&label, "PUT manifest", response));
    }
    debug!(reference = %label, digest = %image.digest, "pushed image");
    Ok(image.digest)
}

fn blob_exists(client: &Client, label: &str, digest: &str) -> Result<bool> {
    let url = client.url(&format!("blobs/{digest}"));
    let response = client.send(label, "HEAD blob", &|agent, authorization| {
        let mut request = agent.head(&url);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        request.call()
    })?;
    match response.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(client.status_error(label, "HEAD blob", response)),
    }
}

/// Uploads a blob in one request: POST opens an upload session, PUT
/// sends the content with its digest, which the registry checks.
fn upload_blob(store: &Store, client: &Client, label: &str, digest: &str) -> Result<()> {
    let path = store.blob_path(strip_algorithm(digest));
    if !path.is_file() {
        return Err(StorageError::Io {
            op: "read blob",
            path,
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }

    let url = client.url("blobs/uploads/");
    let response = client.send(label, "POST blob upload", &|agent, authorization| {
        let mut request = agent.post(&url);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        request.send_empty()
    })?;
    if response.status() != 202 {
        return Err(client.status_error(label, "POST blob upload", response));
    }
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(|l| client.absolute(l))
        .ok_or_else(|| StorageError::RegistryStatus {
            reference: label.to_string(),
            registry: client.registry.clone(),
            op: "POST blob upload",
            status: 202,
            message: "the response has no Location header".into(),
        })?;
    let separator = if location.contains('?') { '&' } else { '?' };
    let put_url = format!("{location}{separator}digest={}", digest.replace(':', "%3A"));

    // A retried PUT must send the whole blob again, so each attempt
    // opens the file anew.
    let response = client.send(label, "PUT blob", &|agent, authorization| {
        let file = File::open(&path).map_err(ureq::Error::Io)?;
        let mut request = agent
            .put(&put_url)
            .header("Content-Type", "application/octet-stream");
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        request.send(file)
    })?;
    if response.status() != 201 {
        return Err(client.status_error(label, "PUT blob", response));
    }
    debug!(digest, "uploaded blob");
    Ok(())
}
