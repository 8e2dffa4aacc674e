//! Image archives as `podman save`/`load`, `docker save`/`load` and
//! `skopeo copy` write them: `oci-archive` (a tarred OCI image layout) and
//! `docker-archive` (Docker's `manifest.json` format).

mod load;
mod save;

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use crate::{Image, Result, StorageError, Store};

/// The format of an image archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// A tar of an OCI image layout: `oci-layout`, `index.json`, `blobs/`.
    OciArchive,
    /// Docker's format: `manifest.json`, config files, uncompressed layer tars.
    DockerArchive,
}

impl FromStr for ArchiveFormat {
    type Err = StorageError;

    fn from_str(text: &str) -> Result<ArchiveFormat> {
        match text {
            "oci-archive" => Ok(ArchiveFormat::OciArchive),
            "docker-archive" => Ok(ArchiveFormat::DockerArchive),
            _ => Err(StorageError::InvalidOption {
                option: "format",
                value: text.to_string(),
                reason: "supported formats are oci-archive and docker-archive".into(),
            }),
        }
    }
}

impl Store {
    /// Writes the images named by `images` (names or ids) to `output` as
    /// one archive. An image given by name is saved under that name, one
    /// given by id under all its names.
    pub fn save(
        &self,
        images: &[String],
        format: ArchiveFormat,
        output: &mut dyn Write,
    ) -> Result<()> {
        save::save(self, images, format, output)
    }

    /// Loads every image of the archive at `path` (OCI or Docker format,
    /// plain, gzip or zstd compressed) and returns the loaded images.
    pub fn load(&self, path: &Path) -> Result<Vec<Image>> {
        load::load(self, path)
    }
}
