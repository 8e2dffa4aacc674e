//! The event log: one JSON object per line in `runroot/events/events.log`,
//! appended by every berth process with O_APPEND, so concurrent writers
//! never interleave within a line (each line is written with one write()).
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::container::Container;
use crate::Engine;

/// One container event, in the fields Podman's `events --format json` uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "Name")]
    pub name: String,
    /// `create`, `init`, `start`, `died`, `stop`, `kill`, `pause`,
    /// `unpause`, `restart`, `checkpoint`, `restore`, `cleanup`, `remove`.
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Time", alias = "time")]
    pub time: DateTime<Utc>,
    #[serde(
        rename = "ContainerExitCode",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub exit_code: Option<i32>,
}

pub(crate) fn log_path(runroot: &Path) -> PathBuf {
    runroot.join("events").join("events.log")
}

impl Engine {
    /// Appends a container event. Best effort: a failed write is logged and
    /// never fails the operation that happened.
    pub(crate) fn emit(&self, container: &Container, status: &str) {
        let event = Event {
            id: container.id.clone(),
            image: container.config.image_name.clone(),
            name: container.name.clone(),
            status: status.to_string(),
            kind: "container".into(),
            time: Utc::now(),
            exit_code: if status == "died" {
                container.state.exit_code
            } else {
                None
            },
        };
        if let Err(e) = append(&self.options.runroot, &event) {
            warn!(container_id = %container.id, error = %e, "writing the event log failed");
        }
    }

    /// Appends an image event (`import`, `pull`, `push`, `tag`, `untag`,
    /// `remove`, `save`, `loadfromarchive`), as Podman names them. Best
    /// effort, as for containers.
    pub(crate) fn emit_image(&self, id: &str, name: &str, status: &str) {
        let event = Event {
            id: id.to_string(),
            image: name.to_string(),
            name: name.to_string(),
            status: status.to_string(),
            kind: "image".into(),
            time: Utc::now(),
            exit_code: None,
        };
        if let Err(e) = append(&self.options.runroot, &event) {
            warn!(image_id = id, error = %e, "writing the event log failed");
        }
    }

    /// The path of the event log, for readers such as `berth events`.
    pub fn events_log(&self) -> PathBuf {
        log_path(&self.options.runroot)
    }
}

fn append(runroot: &Path, event: &Event) -> std::io::Result<()> {
    let path = log_path(runroot);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    file.write_all(&line)
}

/// Parses one line of the event log; `None` for a line that is not an event
/// (a torn write after a crash).
pub fn parse_line(line: &str) -> Option<Event> {
    serde_json::from_str(line).ok()
}
