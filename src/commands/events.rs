//! `events`: print the event log, and follow it with `--stream`.
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::time::Duration;

use berth_engine::events::{parse_line, Event};
use berth_engine::Engine;
use chrono::{DateTime, Utc};

use super::containers::parse_time;
use super::{CliError, CliResult};
use crate::cli::EventsArgs;
use crate::format;

/// How often a streaming `events` looks for new lines.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

struct EventFilter {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    /// (key, value) pairs; same keys are ORed, different keys ANDed.
    filters: Vec<(String, String)>,
}

impl EventFilter {
    fn keeps(&self, event: &Event) -> bool {
        if self.since.is_some_and(|since| event.time < since)
            || self.until.is_some_and(|until| event.time >= until)
        {
            return false;
        }
        let keys: std::collections::BTreeSet<&str> =
            self.filters.iter().map(|(k, _)| k.as_str()).collect();
        keys.into_iter().all(|key| {
            self.filters
                .iter()
                .filter(|(k, _)| k == key)
                .any(|(_, value)| match key {
                    "container" => event.name == *value || event.id.starts_with(value.as_str()),
                    "event" | "status" => event.status == *value,
                    "type" => event.kind == *value,
                    "image" => event.image == *value || event.image.contains(value.as_str()),
                    _ => false,
                })
        })
    }
}

pub fn events(engine: &Engine, args: &EventsArgs) -> CliResult {
    let mut filters = Vec::new();
    for filter in &args.filter {
        let (key, value) = filter.split_once('=').ok_or_else(|| bad_filter(filter))?;
        if !matches!(key, "container" | "event" | "status" | "type" | "image") {
            return Err(bad_filter(filter));
        }
        filters.push((key.to_string(), value.to_string()));
    }
    let filter = EventFilter {
        since: args
            .since
            .as_deref()
            .map(|s| parse_time("--since", s))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|s| parse_time("--until", s))
            .transpose()?,
        filters,
    };

    let path = engine.events_log();
    let mut reader = match std::fs::File::open(&path) {
        Ok(file) => Some(BufReader::new(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let mut pending = String::new();
    loop {
        if reader.is_none() {
            reader = std::fs::File::open(&path).ok().map(BufReader::new);
        }
        if let Some(reader) = reader.as_mut() {
            print_new_events(reader, &mut pending, &filter, args.format.as_deref())?;
        }
        let past_until = filter.until.is_some_and(|until| Utc::now() >= until);
        if !args.stream || past_until {
            return Ok(0);
        }
        std::thread::sleep(FOLLOW_INTERVAL);
    }
}

fn bad_filter(filter: &str) -> CliError {
    CliError::Usage(format!(
        "invalid --filter {filter:?}: use container=, event=, type= or image= followed by a value"
    ))
}

/// Prints the complete lines added since the last call. A line still being
/// written stays in `pending` until its newline arrives.
fn print_new_events(
    reader: &mut BufReader<std::fs::File>,
    pending: &mut String,
    filter: &EventFilter,
    format: Option<&str>,
) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    loop {
        let before = pending.len();
        let read = reader.read_line(pending)?;
        if read == 0 {
            break;
        }
        if !pending.ends_with('\n') {
            // Partial line: rewind so the next read sees it whole.
            let partial = (pending.len() - before) as i64;
            pending.truncate(before);
            reader.seek(SeekFrom::Current(-partial))?;
            break;
        }
        let line = std::mem::take(pending);
        let Some(event) = parse_line(line.trim_end()) else {
            continue;
        };
        if filter.keeps(&event) {
            write!(out, "{}", render(&event, format)?)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn render(event: &Event, format: Option<&str>) -> Result<String, CliError> {
    match format {
        Some("json") => Ok(format!(
            "{}\n",
            serde_json::to_string(event).unwrap_or_default()
        )),
        Some(template) => {
            let value = serde_json::to_value(event).unwrap_or_default();
            Ok(format::render(template, &value)?)
        }
        None => Ok(format!(
            "{} {} {} {} (image={}, name={})\n",
            event.time.format("%Y-%m-%d %H:%M:%S%.9f %z UTC"),
            event.kind,
            event.status,
            event.id,
            event.image,
            event.name
        )),
    }
}
