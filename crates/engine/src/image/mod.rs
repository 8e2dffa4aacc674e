//! Image commands: the store's operations plus the checks that need
//! container state (an image in use is not removed).
mod archive;
mod history;
mod registry;

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::container::RemoveOptions;
pub use archive::LoadedImage;
pub use history::HistoryEntry;
pub use registry::{login, logout};

use crate::{Engine, EngineError, Result};

/// One row of `images`.
#[derive(Debug, Clone, Serialize)]
pub struct ImageSummary {
    pub id: String,
    pub names: Vec<String>,
    pub digest: String,
    pub created: DateTime<Utc>,
    pub size: u64,
    /// Containers using the image.
    pub containers: usize,
}

/// What `rmi` did to one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovedImage {
    /// A name was removed; the image stays under its other names.
    Untagged(String),
    /// The image was deleted.
    Deleted(String),
}

/// `image inspect` output, Podman-shaped.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    pub id: String,
    pub digest: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub created: DateTime<Utc>,
    pub config: serde_json::Value,
    pub version: String,
    pub author: String,
    pub architecture: String,
    pub os: String,
    pub size: u64,
    pub virtual_size: u64,
    #[serde(rename = "RootFS")]
    pub root_fs: serde_json::Value,
    pub history: serde_json::Value,
    pub labels: serde_json::Value,
}

impl Engine {
    /// Imports a rootfs tarball as a one-layer image and returns its id.
    pub fn import(
        &self,
        tarball: &Path,
        name: Option<&str>,
        progress: &dyn Fn(u64),
    ) -> Result<String> {
        let image = self.store.import(tarball, name, progress)?;
        self.emit_image(
            &image.id,
            image.names.first().map_or("", String::as_str),
            "import",
        );
        Ok(image.id)
    }

    pub fn images(&self) -> Result<Vec<ImageSummary>> {
        let mut summaries = Vec::new();
        for image in self.store.images()? {
            summaries.push(ImageSummary {
                containers: self.db.ids_using_image(&image.id)?.len(),
                id: image.id,
                names: image.names,
                digest: image.digest,
                created: image.created,
                size: image.size,
            });
        }
        Ok(summaries)
    }

    pub fn tag(&self, image: &str, new_name: &str) -> Result<()> {
        self.store.tag(image, new_name)?;
        if let Ok(tagged) = self.store.lookup(new_name) {
            self.emit_image(&tagged.id, new_name, "tag");
        }
        Ok(())
    }

    /// Removes an image name, or the image when it is given by id or has
    /// one name left. An image that containers use is kept unless `force`,
    /// which removes those containers too.
    pub fn remove_image(&self, name_or_id: &str, force: bool) -> Result<Vec<RemovedImage>> {
        self.remove_image_logged(name_or_id, force, false)
    }

    /// Removes as asked and records an `untag` or `remove` event for each
    /// step.
    fn remove_image_logged(
        &self,
        name_or_id: &str,
        force: bool,
        all_names: bool,
    ) -> Result<Vec<RemovedImage>> {
        let id = self
            .store
            .lookup(name_or_id)
            .map(|image| image.id)
            .unwrap_or_default();
        let removed = self.remove_image_with(name_or_id, force, all_names)?;
        for step in &removed {
            match step {
                RemovedImage::Untagged(name) => self.emit_image(&id, name, "untag"),
                RemovedImage::Deleted(deleted) => self.emit_image(deleted, name_or_id, "remove"),
            }
        }
        Ok(removed)
    }

    /// Removes an image by id with every name it has, as `rmi --all`
    /// does; containers that use it still need `force`.
    pub fn remove_image_all_names(&self, id: &str, force: bool) -> Result<Vec<RemovedImage>> {
        self.remove_image_logged(id, force, true)
    }

    fn remove_image_with(
        &self,
        name_or_id: &str,
        force: bool,
        all_names: bool,
    ) -> Result<Vec<RemovedImage>> {
        let image = self.store.lookup(name_or_id)?;
        let by_name = !image
            .id
            .starts_with(name_or_id.trim_start_matches("sha256:"));
        let mut removed = Vec::new();

        if by_name && image.names.len() > 1 {
            let name = image
                .names
                .iter()
                .find(|n| {
                    self.store
                        .lookup(n)
                        .is_ok_and(|_| names_match(n, name_or_id))
                })
                .cloned()
                .unwrap_or_else(|| name_or_id.to_string());
            self.store.untag(&image.id, &name)?;
            removed.push(RemovedImage::Untagged(name));
            return Ok(removed);
        }
        if !by_name && image.names.len() > 1 && !force && !all_names {
            return Err(EngineError::InvalidOption {
                option: "image",
                value: name_or_id.to_string(),
                reason: format!(
                    "the image has several names ({}): remove them by name or use --force",
                    image.names.join(", ")
                ),
            });
        }

        let users = self.db.ids_using_image(&image.id)?;
        if let Some(first) = users.first() {
            if !force {
                return Err(EngineError::ImageInUse {
                    image: name_or_id.to_string(),
                    container: first.clone(),
                });
            }
            for id in &users {
                self.remove(
                    id,
                    &RemoveOptions {
                        force: true,
                        timeout: None,
                        ..Default::default()
                    },
                )?;
            }
        }
        for name in &image.names {
            removed.push(RemovedImage::Untagged(name.clone()));
        }
        self.store.remove(&image.id)?;
        removed.push(RemovedImage::Deleted(image.id));
        Ok(removed)
    }

    /// Removes images no container uses: only unnamed ones, or with `all`
    /// every one. Then deletes blobs and layers no image uses. Returns
    /// the ids of the removed images.
    pub fn prune_images(&self, all: bool) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for image in self.store.images()? {
            if !all && !image.names.is_empty() {
                continue;
            }
            if !self.db.ids_using_image(&image.id)?.is_empty() {
                continue;
            }
            self.store.remove(&image.id)?;
            removed.push(image.id);
        }
        self.store.collect_garbage()?;
        Ok(removed)
    }

    pub fn inspect_image(&self, name_or_id: &str) -> Result<ImageInspect> {
        let image = self.store.lookup(name_or_id)?;
        let config = self.store.config(&image)?;
        let config_json = serde_json::to_value(&config).unwrap_or_default();
        let labels = config_json
            .pointer("/config/Labels")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        Ok(ImageInspect {
            repo_digests: image
                .names
                .iter()
                .map(|n| format!("{}@{}", repo_of(n), image.digest))
                .collect(),
            repo_tags: image.names.clone(),
            digest: image.digest.clone(),
            created: image.created,
            config: config_json.get("config").cloned().unwrap_or_default(),
            version: String::new(),
            author: config_json
                .get("author")
                .and_then(|a| a.as_str())
                .unwrap_or_default()
                .into(),
            architecture: config.architecture().to_string(),
            os: config.os().to_string(),
            size: image.size,
            virtual_size: image.size,
            root_fs: serde_json::json!({ "Type": "layers", "Layers": image.layers }),
            history: config_json.get("history").cloned().unwrap_or_default(),
            labels,
            id: image.id,
        })
    }
}

/// `localhost/busybox:latest` → `localhost/busybox`.
fn repo_of(name: &str) -> &str {
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}

/// Whether the stored name `stored` is what the user meant by `given`
/// (`busybox` for `localhost/busybox:latest`).
pub(crate) fn names_match(stored: &str, given: &str) -> bool {
    if stored == given {
        return true;
    }
    let with_tag = if given
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
    {
        given.to_string()
    } else {
        format!("{given}:latest")
    };
    stored == with_tag || stored.ends_with(&format!("/{with_tag}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_short_names() {
        assert!(names_match("localhost/busybox:latest", "busybox"));
        assert!(names_match("localhost/busybox:1", "busybox:1"));
        assert!(!names_match("localhost/busybox:1", "busybox"));
        assert_eq!(repo_of("localhost/busybox:latest"), "localhost/busybox");
        assert_eq!(repo_of("localhost:5000/busybox"), "localhost:5000/busybox");
    }
}
