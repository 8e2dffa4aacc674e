//! `ps`.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Container, ContainerStatus};
use crate::lock::ContainerLock;
use crate::{Engine, EngineError, Result};

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Include containers that are not running.
    pub all: bool,
    /// `status=`, `name=`, `id=`, `label=KEY[=VALUE]`; filters with the
    /// same key are ORed, different keys ANDed, as in Podman.
    pub filters: Vec<String>,
}

/// One row of `ps`.
#[derive(Debug, Clone)]
pub struct ContainerSummary {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub command: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub status: ContainerStatus,
    pub exit_code: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub pid: i32,
    pub labels: BTreeMap<String, String>,
    pub auto_remove: bool,
    /// Published ports: picked host ports while running, else as requested.
    pub ports: Vec<berth_network::PortMapping>,
    /// The networks of a bridge container.
    pub networks: Vec<String>,
}

impl ContainerSummary {
    /// Podman's human status: `Created`, `Up 3 seconds`, `Exited (0) 2
    /// minutes ago`, `Paused`.
    pub fn human_status(&self, now: DateTime<Utc>) -> String {
        match self.status {
            ContainerStatus::Configured => "Created".into(),
            // Podman's word for a container that `init` made in the runtime.
            ContainerStatus::Created => "Initialized".into(),
            ContainerStatus::Running => format!(
                "Up {}",
                human_duration(now - self.started_at.unwrap_or(now))
            ),
            ContainerStatus::Paused => "Paused".into(),
            ContainerStatus::Exited => format!(
                "Exited ({}) {} ago",
                self.exit_code.unwrap_or(-1),
                human_duration(now - self.finished_at.unwrap_or(now))
            ),
        }
    }
}

/// Podman's (go-units) wording of a duration: `Less than a second`, `3
/// seconds`, `About a minute`, `5 minutes`, `About an hour`, `3 hours`...
pub fn human_duration(duration: chrono::Duration) -> String {
    let seconds = duration.num_seconds().max(0);
    match seconds {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 48 * 3600 => format!("{} hours", s / 3600),
        s if s < 14 * 86400 => format!("{} days", s / 86400),
        s if s < 60 * 86400 => format!("{} weeks", s / (7 * 86400)),
        s if s < 2 * 365 * 86400 => format!("{} months", s / (30 * 86400)),
        s => format!("{} years", s / (365 * 86400)),
    }
}

impl Engine {
    /// Lists containers, oldest first, with the state of running ones synced.
    pub fn list(&self, options: &ListOptions) -> Result<Vec<ContainerSummary>> {
        let filters = parse_filters(&options.filters)?;
        let mut rows = Vec::new();
        for mut container in self.db.all()? {
            if container.state.status().is_active()
                || container.state.status() == ContainerStatus::Created
            {
                // Only a container that may have exited needs its lock. One
                // that another command holds (a stop waiting out its
                // timeout) is shown as recorded: that command records the
                // change, and ps does not wait for it.
                if let Some(_lock) =
                    ContainerLock::try_acquire(&self.options.runroot, &container.id)?
                {
                    match self.db.get(&container.id)? {
                        Some(fresh) => container = fresh,
                        None => continue,
                    }
                    self.sync(&mut container)?;
                }
            }
            let summary = summarize(container);
            if !options.all && !summary.status.is_active() && !has_status_filter(&filters) {
                continue;
            }
            if filters
                .iter()
                .all(|(key, values)| values.iter().any(|v| matches(&summary, key, v)))
            {
                rows.push(summary);
            }
        }
        Ok(rows)
    }
}

fn summarize(container: Container) -> ContainerSummary {
    let ports = super::published_ports(&container);
    ContainerSummary {
        ports,
        networks: container.config.network_config.networks.clone(),
        command: container
            .config
            .entrypoint
            .iter()
            .chain(&container.config.command)
            .cloned()
            .collect(),
        image: container.config.image_name,
        image_id: container.image_id,
        created_at: container.created_at,
        status: container.state.status(),
        exit_code: container.state.exit_code,
        started_at: container.state.started_at,
        finished_at: container.state.finished_at,
        pid: container.state.pid,
        labels: container.config.labels,
        auto_remove: container.config.auto_remove,
        id: container.id,
        name: container.name,
    }
}

type Filters = BTreeMap<String, Vec<String>>;

fn parse_filters(filters: &[String]) -> Result<Filters> {
    let mut parsed: Filters = BTreeMap::new();
    for filter in filters {
        let (key, value) = filter
            .split_once('=')
            .ok_or_else(|| EngineError::InvalidOption {
                option: "--filter",
                value: filter.clone(),
                reason: "expected KEY=VALUE".into(),
            })?;
        if !matches!(key, "status" | "name" | "id" | "label") {
            return Err(EngineError::InvalidOption {
                option: "--filter",
                value: filter.clone(),
                reason: "supported filters are status, name, id and label".into(),
            });
        }
        if key == "status"
            && !matches!(
                value,
                "created"
                    | "initialized"
                    | "running"
                    | "paused"
                    | "exited"
                    | "stopped"
                    | "configured"
            )
        {
            return Err(EngineError::InvalidOption {
                option: "--filter",
                value: filter.clone(),
                reason: "status must be created, initialized, running, paused or exited".into(),
            });
        }
        parsed
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }
    Ok(parsed)
}

fn has_status_filter(filters: &Filters) -> bool {
    filters.contains_key("status")
}

fn matches(summary: &ContainerSummary, key: &str, value: &str) -> bool {
    match key {
        "status" => {
            summary.status.as_str() == value
                || (value == "stopped" && summary.status == ContainerStatus::Exited)
        }
        // Podman matches names as a regular expression; a substring match
        // covers the plain-name use.
        "name" => summary.name.contains(value),
        "id" => summary.id.starts_with(value),
        "label" => match value.split_once('=') {
            Some((k, v)) => summary.labels.get(k).is_some_and(|actual| actual == v),
            None => summary.labels.contains_key(value),
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_duration_uses_podman_words() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(0)), "Less than a second");
        assert_eq!(human_duration(d(5)), "5 seconds");
        assert_eq!(human_duration(d(90)), "About a minute");
        assert_eq!(human_duration(d(600)), "10 minutes");
        assert_eq!(human_duration(d(4000)), "About an hour");
        assert_eq!(human_duration(d(3 * 3600)), "3 hours");
    }

    #[test]
    fn parse_filters_rejects_unknown_keys() {
        assert!(parse_filters(&["bogus=1".into()]).is_err());
        assert!(parse_filters(&["status=sleeping".into()]).is_err());
        assert!(parse_filters(&["status".into()]).is_err());
        let parsed = parse_filters(&["status=exited".into(), "status=running".into()]).unwrap();
        assert_eq!(parsed["status"], vec!["exited", "running"]);
    }
}
