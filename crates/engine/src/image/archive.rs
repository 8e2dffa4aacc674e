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
        self.store.save(images, format, output)?;
        for image in images {
            let id = self
                .store
                .lookup(image)
                .map(|found| found.id)
                .unwrap_or_default();
            self.emit_image(&id, image, "save");
        }
        Ok(())
    }

    /// Loads every image of an OCI or Docker archive.
    pub fn load(&self, archive: &Path) -> Result<Vec<LoadedImage>> {
        let loaded: Vec<LoadedImage> = self
            .store
            .load(archive)?
            .into_iter()
            .map(|image| LoadedImage {
                id: image.id,
                names: image.names,
            })
            .collect();
        for image in &loaded {
            self.emit_image(
                &image.id,
                image.names.first().map_or("", String::as_str),
                "loadfromarchive",
            );
        }
        Ok(loaded)
    }
}
