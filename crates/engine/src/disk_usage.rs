//! `system df`: the space images and containers take.
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Serialize;

use crate::{Engine, Result};

/// Totals of one kind of object, in Podman's `system df` columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsageSummary {
    pub total: usize,
    /// Images used by a container; containers that are running.
    pub active: usize,
    /// Bytes.
    pub size: u64,
    /// Bytes that removing the inactive ones would free.
    pub reclaimable: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsage {
    pub images: UsageSummary,
    pub containers: UsageSummary,
    /// berth has no named volumes yet; always empty.
    pub volumes: UsageSummary,
}

impl Engine {
    /// Sums image sizes and the bytes in each container's writable layer.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let mut usage = DiskUsage::default();
        for image in self.images()? {
            usage.images.total += 1;
            usage.images.size += image.size;
            if image.containers > 0 {
                usage.images.active += 1;
            } else {
                usage.images.reclaimable += image.size;
            }
        }
        for container in self.db.all()? {
            let upper = self.store.container_dir(&container.id).join("upper");
            let size = tree_size(&upper);
            usage.containers.total += 1;
            usage.containers.size += size;
            if container.state.status().is_active() {
                usage.containers.active += 1;
            } else {
                usage.containers.reclaimable += size;
            }
        }
        Ok(usage)
    }
}

/// Bytes of the regular files under `root`, each hard-linked file once;
/// unreadable entries count as empty.
fn tree_size(root: &Path) -> u64 {
    let mut seen = BTreeSet::new();
    let mut total = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if metadata.is_dir() {
                pending.push(entry.path());
            } else if metadata.is_file() && seen.insert((metadata.dev(), metadata.ino())) {
                total += metadata.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_size_counts_hard_links_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), vec![0u8; 1000]).unwrap();
        std::fs::write(dir.path().join("sub/b"), vec![0u8; 24]).unwrap();
        std::fs::hard_link(dir.path().join("a"), dir.path().join("sub/a-link")).unwrap();
        assert_eq!(tree_size(dir.path()), 1024);
        assert_eq!(tree_size(&dir.path().join("missing")), 0);
    }
}
