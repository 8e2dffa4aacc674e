//! `history`: the image config's history entries with their layer sizes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Engine, Result};

/// One step of an image's history, newest first in [`Engine::history`].
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// The image id for the newest entry; `<missing>` for older ones, as
    /// Podman shows them.
    pub id: String,
    pub created: Option<DateTime<Utc>>,
    pub created_by: String,
    /// Bytes of the layer this step made; 0 for an empty layer.
    pub size: u64,
    pub comment: String,
}

#[derive(Deserialize)]
struct ConfigHistory {
    created: Option<DateTime<Utc>>,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    empty_layer: bool,
}

impl Engine {
    /// Lists the image's history, newest first. Each step that made a
    /// layer gets that layer's size, in order from the base layer.
    pub fn history(&self, name_or_id: &str) -> Result<Vec<HistoryEntry>> {
        let image = self.store.lookup(name_or_id)?;
        let config = serde_json::to_value(self.store.config(&image)?).unwrap_or_default();
        let steps: Vec<ConfigHistory> = config
            .get("history")
            .and_then(|h| serde_json::from_value(h.clone()).ok())
            .unwrap_or_default();
        let mut sizes = self.store.layer_sizes(&image)?.into_iter();

        let mut entries: Vec<HistoryEntry> = steps
            .into_iter()
            .map(|step| HistoryEntry {
                id: "<missing>".into(),
                created: step.created,
                created_by: step.created_by,
                size: if step.empty_layer {
                    0
                } else {
                    sizes.next().unwrap_or(0)
                },
                comment: step.comment,
            })
            .collect();
        entries.reverse();
        if let Some(newest) = entries.first_mut() {
            newest.id = image.id.clone();
        }
        Ok(entries)
    }
}
