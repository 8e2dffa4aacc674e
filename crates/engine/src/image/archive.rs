//! Archive commands: save and load.

use std::io::Write;
use std::path::Path;

use berth_storage::ArchiveFormat;

use crate::{Engine, Result};

/// An image `load` stored: its id and the names it got.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    pub id: String,
    pub names: Vec<String>,
}

impl Engine {
    /// Writes the images (names or ids) to `output` as one archive.
    pub fn save(
        &self,
        images: &[String],
        format: ArchiveFormat,
        output: &mut dyn Write,
    ) -> Result<()> {
        Ok(self.store.save(images, format, output)?)
    }

    /// Loads every image of an OCI or Docker archive.
    pub fn load(&self, archive: &Path) -> Result<Vec<LoadedImage>> {
        Ok(self
            .store
            .load(archive)?
            .into_iter()
            .map(|image| LoadedImage {
                id: image.id,
                names: image.names,
            })
            .collect())
    }
}
