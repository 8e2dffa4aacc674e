//! Registry commands: pull, push, login, logout.

use berth_storage::registry::{self, Credentials, PullOptions, RegistryOptions, TransferProgress};

use crate::{Engine, Result};

impl Engine {
    /// Pulls an image (`NAME[:TAG]` or `NAME@sha256:HEX`) and returns its id.
    pub fn pull(
        &self,
        reference: &str,
        options: &PullOptions,
        progress: &dyn TransferProgress,
    ) -> Result<String> {
        let image = self.store.pull(reference, options, progress)?;
        self.emit_image(&image.id, reference, "pull");
        Ok(image.id)
    }

    /// Pushes the image `source` to `destination` (default: `source`) and
    /// returns the pushed manifest's digest.
    pub fn push(
        &self,
        source: &str,
        destination: Option<&str>,
        options: &RegistryOptions,
        progress: &dyn TransferProgress,
    ) -> Result<String> {
        let digest = self.store.push(source, destination, options, progress)?;
        let id = self
            .store
            .lookup(source)
            .map(|image| image.id)
            .unwrap_or_default();
        self.emit_image(&id, destination.unwrap_or(source), "push");
        Ok(digest)
    }
}

/// Checks the credentials against `registry` (`host[:port]`) and stores
/// them in the credentials file. Needs no engine state.
pub fn login(registry: &str, credentials: &Credentials, options: &RegistryOptions) -> Result<()> {
    Ok(registry::login(registry, credentials, options)?)
}

/// Removes the stored credentials of `registry`.
pub fn logout(registry: &str, auth_file: Option<&std::path::Path>) -> Result<()> {
    Ok(registry::logout(registry, auth_file)?)
}
