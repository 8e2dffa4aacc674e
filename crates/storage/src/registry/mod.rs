//! Pull and push over the OCI distribution protocol, and registry logins.

mod auth;
mod client;
mod pull;
mod push;
mod search;

use std::path::PathBuf;

pub use auth::{default_auth_file, Credentials};
pub use search::search_registries;

use crate::manifest::PlatformChoice;
use crate::{Image, Result, Store};
use client::{Access, Client};

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Verify the registry's TLS certificate and require HTTPS. With
    /// `false`, certificates are not checked and plain HTTP is tried when
    /// HTTPS fails, as `--tls-verify=false` does in Podman.
    pub tls_verify: bool,
    /// A directory of `*.crt` CA certificates and a `*.cert`/`*.key`
    /// client certificate; default `/etc/containers/certs.d/<registry>`.
    pub cert_dir: Option<PathBuf>,
    /// Credentials that override any stored ones (`--creds`).
    pub credentials: Option<Credentials>,
    /// The credentials file; `None` uses [`default_auth_file`].
    pub auth_file: Option<PathBuf>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls_verify: true,
            cert_dir: None,
            credentials: None,
            auth_file: None,
        }
    }
}

impl RegistryOptions {
    pub(crate) fn auth_file(&self) -> PathBuf {
        self.auth_file.clone().unwrap_or_else(default_auth_file)
    }
}

/// Options of [`Store::pull`].
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub registry: RegistryOptions,
    /// The platform picked from a manifest list.
    pub platform: PlatformChoice,
    /// Layers downloaded at the same time.
    pub parallel_downloads: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            registry: RegistryOptions::default(),
            platform: PlatformChoice::host(),
            parallel_downloads: 3,
        }
    }
}

/// Receives the progress of blob transfers; called from several threads.
pub trait TransferProgress: Sync {
    /// A transfer of `size` bytes starts.
    fn blob_started(&self, _digest: &str, _size: u64) {}
    /// `bytes` of the blob are transferred so far.
    fn blob_progress(&self, _digest: &str, _bytes: u64) {}
    /// The blob is complete; `skipped` when it was already there.
    fn blob_finished(&self, _digest: &str, _skipped: bool) {}
}

/// A [`TransferProgress`] that shows nothing.
pub struct NoProgress;

impl TransferProgress for NoProgress {}

impl Store {
    /// Pulls `reference` (`NAME[:TAG]` or `NAME@sha256:HEX`) and returns
    /// the image. A name without a registry is tried in each registry of
    /// [`search_registries`]. Blobs already in the store are not
    /// downloaded again.
    pub fn pull(
        &self,
        reference: &str,
        options: &PullOptions,
        progress: &dyn TransferProgress,
    ) -> Result<Image> {
        pull::pull(self, reference, options, progress)
    }

    /// Pushes the image `source` to `destination` (default: `source`, which
    /// must then be a name) and returns the manifest digest.
    pub fn push(
        &self,
        source: &str,
        destination: Option<&str>,
        options: &RegistryOptions,
        progress: &dyn TransferProgress,
    ) -> Result<String> {
        push::push(self, source, destination, options, progress)
    }
}

/// Checks `credentials` against `registry` and stores them in the
/// credentials file.
pub fn login(registry: &str, credentials: &Credentials, options: &RegistryOptions) -> Result<()> {
    let options = RegistryOptions {
        credentials: Some(credentials.clone()),
        ..options.clone()
    };
    let client = Client::connect(registry, "", &options, Access::Pull)?;
    client.check_login()?;
    auth::store(&options.auth_file(), registry, credentials)
}

/// Removes the stored credentials of `registry`.
pub fn logout(registry: &str, auth_file: Option<&std::path::Path>) -> Result<()> {
    let path = auth_file.map_or_else(default_auth_file, |p| p.to_path_buf());
    if auth::remove(&path, registry)? {
        Ok(())
    } else {
        Err(crate::StorageError::NotLoggedIn {
            registry: registry.to_string(),
        })
    }
}
