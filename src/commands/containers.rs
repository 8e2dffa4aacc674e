//! `ps`, `inspect`, `logs`, `wait`, `stop`, `kill`, `rm`, `container cleanup`.
use std::collections::HashMap;
use std::io::Write;

use berth_engine::{
    ContainerStatus, ContainerSummary, Engine, EngineError, ListOptions, LogOptions, LogStream,
    RemoveOptions, WaitCondition,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{for_each_name, CliError, CliResult};
use crate::cli::{AllArgs, InspectArgs, KillArgs, LogsArgs, PsArgs, RmArgs, StopArgs, WaitArgs};
use crate::format;

/// Commands longer than this are cut in `ps` without `--no-trunc`, as in Podman.
const COMMAND_WIDTH: usize = 17;

pub fn ps(engine: &Engine, args: &PsArgs) -> CliResult {
    let mut rows = engine.list(&ListOptions {
        all: args.all || args.latest || args.last.is_some(),
        filters: args.filter.clone(),
    })?;
    if args.latest {
        rows = rows
            .into_iter()
            .max_by_key(|r| r.created_at)
            .into_iter()
            .collect();
    }
    sort_rows(&mut rows, args.sort.as_deref())?;
    if let Some(last) = args.last {
        // The newest N, kept in the chosen order.
        let mut newest: Vec<usize> = (0..rows.len()).collect();
        newest.sort_by_key(|i| std::cmp::Reverse(rows[*i].created_at));
        newest.truncate(last);
        let mut index = 0;
        rows.retain(|_| {
            let keep = newest.contains(&index);
            index += 1;
            keep
        });
    }

    if args.quiet {
        for row in &rows {
            println!(
                "{}",
                if args.no_trunc {
                    &row.id
                } else {
                    &row.id[..12]
                }
            );
        }
        return Ok(0);
    }
    let now = Utc::now();
    match args.format.as_deref() {
        Some("json") => {
            let values: Vec<Value> = rows.iter().map(|r| ps_json(r, now)).collect();
            print!(
                "{}",
                format::to_json(&Value::Array(values), format::JsonStyle::List)
            );
        }
        Some(template) => {
            let values: Vec<Value> = rows
                .iter()
                .map(|r| ps_template_row(r, now, args.no_trunc))
                .collect();
            let headers = HashMap::from([("ID", "CONTAINER ID"), ("CreatedHuman", "CREATED")]);
            print!("{}", format::render_rows(template, &values, &headers)?);
        }
        None => {
            let headers = [
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "PORTS",
                "NAMES",
            ];
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let v = ps_template_row(r, now, args.no_trunc);
                    [
                        "ID",
                        "Image",
                        "Command",
                        "CreatedHuman",
                        "Status",
                        "Ports",
                        "Names",
                    ]
                    .iter()
                    .map(|k| v[k].as_str().unwrap_or_default().to_string())
                    .collect()
                })
                .collect();
            print!("{}", format::table(&headers, &table));
        }
    }
    Ok(0)
}

/// Orders `ps` rows by `--sort`; the default is creation time, oldest first.
fn sort_rows(rows: &mut [ContainerSummary], key: Option<&str>) -> Result<(), CliError> {
    match key.unwrap_or("created") {
        "created" => rows.sort_by_key(|r| r.created_at),
        "id" => rows.sort_by(|a, b| a.id.cmp(&b.id)),
        "image" => rows.sort_by(|a, b| a.image.cmp(&b.image)),
        "names" => rows.sort_by(|a, b| a.name.cmp(&b.name)),
        "status" => rows.sort_by_key(|r| r.status.as_str()),
        "command" => rows.sort_by(|a, b| a.command.cmp(&b.command)),
        other => {
            return Err(CliError::Usage(format!(
                "invalid --sort {other:?}: use command, created, id, image, names or status"
            )))
        }
    }
    Ok(())
}

/// The fields a `ps --format` template sees, named as in Podman.
fn ps_template_row(row: &ContainerSummary, now: DateTime<Utc>, no_trunc: bool) -> Value {
    let mut command = shell_join(&row.command);
    if !no_trunc && command.chars().count() > COMMAND_WIDTH {
        command = format!(
            "{}...",
            command.chars().take(COMMAND_WIDTH).collect::<String>()
        );
    }
    json!({
        "ID": if no_trunc { row.id.clone() } else { row.id[..12].to_string() },
        "Image": row.image,
        "ImageID": row.image_id,
        "Command": command,
        "CreatedHuman": format!("{} ago", berth_engine::container::human_duration(now - row.created_at)),
        "RunningFor": format!("{} ago", berth_engine::container::human_duration(now - row.created_at)),
        "CreatedAt": format::go_time(&row.created_at),
        "Created": format::go_time(&row.created_at),
        "Status": row.human_status(now),
        "State": row.status.as_str(),
        "Ports": row.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "),
        "Names": row.name,
        "Networks": row.networks.join(","),
        "Labels": row.labels,
        "Pid": row.pid,
        "ExitCode": row.exit_code.unwrap_or(0),
        "Exited": row.status == ContainerStatus::Exited,
        "AutoRemove": row.auto_remove,
        "Mounts": [],
        "Size": "",
    })
}

/// `ps --format json`: Podman's field names and types.
fn ps_json(row: &ContainerSummary, now: DateTime<Utc>) -> Value {
    json!({
        "AutoRemove": row.auto_remove,
        "Command": row.command,
        "CreatedAt": format!("{} ago", berth_engine::container::human_duration(now - row.created_at)),
        "Exited": row.status == ContainerStatus::Exited,
        "ExitedAt": row.finished_at.map(|t| t.timestamp()).unwrap_or(-62135596800),
        "ExitCode": row.exit_code.unwrap_or(0),
        "Id": row.id,
        "Image": row.image,
        "ImageID": row.image_id,
        "IsInfra": false,
        "Labels": if row.labels.is_empty() { Value::Null } else { json!(row.labels) },
        "Mounts": [],
        "Names": [row.name],
        "Namespaces": {},
        "Networks": row.networks,
        "Pid": row.pid,
        "Pod": "",
        "PodName": "",
        "Ports": if row.ports.is_empty() { Value::Null } else { json!(row.ports) },
        "Size": Value::Null,
        "StartedAt": row.started_at.map(|t| t.timestamp()).unwrap_or(-62135596800),
        "State": row.status.as_str(),
        "Status": row.human_status(now),
        "Created": row.created_at.timestamp(),
    })
}

fn shell_join(words: &[String]) -> String {
    words.join(" ")
}

pub fn inspect(engine: &Engine, args: &InspectArgs) -> CliResult {
    let mut values = Vec::new();
    let mut failure = None;
    for name in &args.names {
        let found = match args.kind.as_str() {
            "container" => engine.inspect(name).map(|c| json!(c)),
            "image" => engine.inspect_image(name).map(|i| json!(i)),
            "all" => match engine.inspect(name) {
                Ok(c) => Ok(json!(c)),
                Err(EngineError::NoSuchContainer { .. }) => engine
                    .inspect_image(name)
                    .map(|i| json!(i))
                    .map_err(|_| EngineError::NoSuchContainer {
                        name_or_id: name.clone(),
                    }),
                Err(e) => Err(e),
            },
            other => {
                return Err(CliError::Usage(format!(
                    "invalid --type {other:?}: use container, image or all"
                )))
            }
        };
        match found {
            Ok(value) => values.push(value),
            // Podman's words when neither a container nor an image matched.
            Err(EngineError::NoSuchContainer { .. }) if args.kind == "all" => {
                eprintln!("Error: no such object: {name:?}");
                failure = Some(EngineError::NoSuchContainer {
                    name_or_id: name.clone(),
                });
            }
            Err(error) => {
                eprintln!("Error: {error}");
                failure = Some(error);
            }
        }
    }
    print_inspect(&values, args.format.as_deref())?;
    match failure {
        Some(error) => Ok(error.exit_code()),
        None => Ok(0),
    }
}

pub fn print_inspect(values: &[Value], template: Option<&str>) -> Result<(), CliError> {
    match template {
        None | Some("json") => {
            print!(
                "{}",
                format::to_json(&Value::Array(values.to_vec()), format::JsonStyle::Inspect)
            );
        }
        Some(template) => {
            for value in values {
                let mut value = value.clone();
                // Templates see times as Go prints a time.Time, while JSON
                // output keeps RFC 3339.
                for pointer in ["/Created", "/State/StartedAt", "/State/FinishedAt"] {
                    format::rfc3339_to_go_time(&mut value, pointer);
                }
                print!("{}", format::render(template, &value)?);
            }
        }
    }
    Ok(())
}

pub fn logs(engine: &Engine, args: &LogsArgs) -> CliResult {
    let options = LogOptions {
        follow: args.follow,
        tail: args.tail.and_then(|t| usize::try_from(t).ok()),
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
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    engine.logs(&args.container, &options, &mut |line| {
        let result = match line.stream {
            LogStream::Stdout => write_line(&mut stdout.lock(), line, args.timestamps),
            LogStream::Stderr => write_line(&mut stderr.lock(), line, args.timestamps),
        };
        result.map_err(|e| EngineError::Io {
            op: "write",
            path: "standard output".into(),
            source: e,
        })
    })?;
    Ok(0)
}

fn write_line(
    out: &mut dyn Write,
    line: &berth_engine::LogLine,
    timestamps: bool,
) -> std::io::Result<()> {
    if timestamps {
        write!(
            out,
            "{} ",
            line.time
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        )?;
    }
    out.write_all(&line.text)?;
    out.flush()
}

/// Parses `--since`/`--until`: RFC 3339, Unix seconds, or a duration before
/// now such as `10m`, `1h30m`, `45s`.
pub(super) fn parse_time(option: &'static str, value: &str) -> Result<DateTime<Utc>, CliError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        let nanos = (seconds.fract() * 1e9) as u32;
        if let Some(time) = DateTime::from_timestamp(seconds.trunc() as i64, nanos) {
            return Ok(time);
        }
    }
    if let Some(duration) = parse_duration(value) {
        return Ok(Utc::now() - duration);
    }
    Err(CliError::Usage(format!(
        "invalid {option} {value:?}: use an RFC 3339 time, Unix seconds, or a duration such as 10m"
    )))
}

fn parse_duration(value: &str) -> Option<chrono::Duration> {
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = value.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * unit;
        number.clear();
        any = true;
    }
    if !number.is_empty() || !any {
        return None;
    }
    Some(chrono::Duration::milliseconds((total * 1000.0) as i64))
}

pub fn wait(engine: &Engine, args: &WaitArgs) -> CliResult {
    let mut conditions = Vec::new();
    for condition in &args.condition {
        conditions.push(WaitCondition::parse(condition).ok_or_else(|| {
            CliError::Usage(format!(
                "invalid --condition {condition:?}: use created, initialized, running, paused, exited or stopped"
            ))
        })?);
    }
    if conditions.is_empty() {
        conditions.push(WaitCondition::Exited);
    }
    let mut failure = None;
    for name in &args.containers {
        match engine.wait_for(name, &conditions) {
            Ok(code) => println!("{code}"),
            Err(error) => {
                eprintln!("Error: {error}");
                failure = Some(error);
            }
        }
    }
    match failure {
        Some(error) => Ok(error.exit_code()),
        None => Ok(0),
    }
}

pub fn stop(engine: &Engine, args: &StopArgs) -> CliResult {
    let names = targets(engine, &args.containers, args.all, true)?;
    for_each_name(&names, |name| {
        ignore_missing(engine.stop(name, args.time), args.ignore)
    })
}

pub fn init(engine: &Engine, args: &AllArgs) -> CliResult {
    let names = if args.all {
        let rows = engine.list(&ListOptions {
            all: true,
            filters: Vec::new(),
        })?;
        // As Podman: --all takes the containers that init can act on.
        rows.into_iter()
            .filter(|row| {
                matches!(
                    row.status,
                    ContainerStatus::Configured | ContainerStatus::Exited
                )
            })
            .map(|row| row.id)
            .collect()
    } else {
        targets(engine, &args.containers, false, false)?
    };
    for_each_name(&names, |name| engine.initialize(name).map(|()| true))
}

pub fn pause(engine: &Engine, args: &AllArgs, pause: bool) -> CliResult {
    let names = if args.all {
        let wanted = if pause {
            ContainerStatus::Running
        } else {
            ContainerStatus::Paused
        };
        let rows = engine.list(&ListOptions {
            all: true,
            filters: Vec::new(),
        })?;
        rows.into_iter()
            .filter(|r| r.status == wanted)
            .map(|r| r.id)
            .collect()
    } else if args.containers.is_empty() {
        return Err(CliError::Usage(
            "give at least one container name or id, or --all".into(),
        ));
    } else {
        args.containers.clone()
    };
    for_each_name(&names, |name| {
        if pause {
            engine.pause(name).map(|()| true)
        } else {
            engine.unpause(name).map(|()| true)
        }
    })
}

pub fn restart(engine: &Engine, args: &StopArgs) -> CliResult {
    let names = targets(engine, &args.containers, args.all, true)?;
    for_each_name(&names, |name| {
        engine.restart(name, args.time).map(|()| true)
    })
}

pub fn kill(engine: &Engine, args: &KillArgs) -> CliResult {
    // An unknown signal is refused before anything is sent.
    berth_engine::parse_signal(&args.signal)?;
    let names = targets(engine, &args.containers, args.all, true)?;
    for_each_name(&names, |name| {
        engine.kill(name, &args.signal).map(|()| true)
    })
}

pub fn remove(engine: &Engine, args: &RmArgs) -> CliResult {
    let names = targets(engine, &args.containers, args.all, false)?;
    let options = RemoveOptions {
        force: args.force,
        timeout: args.time,
        defer_file_deletion: false,
    };
    // Podman's exit codes for rm: 1 when a container does not exist, 2
    // when one is running and --force was not given.
    let mut code = 0;
    for name in &names {
        match engine.remove(name, &options) {
            Ok(()) => println!("{name}"),
            Err(EngineError::NoSuchContainer { .. }) if args.ignore || args.force => {}
            Err(error) => {
                eprintln!("Error: {error}");
                let this = match error {
                    EngineError::NoSuchContainer { .. } => 1,
                    EngineError::InvalidState { .. } => 2,
                    other => other.exit_code(),
                };
                if code == 0 {
                    code = this;
                }
            }
        }
    }
    Ok(code)
}

/// With `--ignore`, a container that does not exist is skipped silently.
fn ignore_missing(result: Result<(), EngineError>, ignore: bool) -> Result<bool, EngineError> {
    match result {
        Ok(()) => Ok(true),
        Err(EngineError::NoSuchContainer { .. }) if ignore => Ok(false),
        Err(error) => Err(error),
    }
}

pub fn cleanup(engine: &Engine, containers: &[String]) -> CliResult {
    for name in containers {
        if let Err(error) = engine.cleanup(name) {
            // conmon discards this process's output; the log is the only
            // place the failure can be seen.
            tracing::error!(container = %name, error = %error, "container cleanup failed");
            eprintln!("Error: {error}");
            return Ok(error.exit_code());
        }
    }
    Ok(0)
}

/// The containers a command acts on: the names given, or with `all` every
/// container (only running ones when `running_only`).
fn targets(
    engine: &Engine,
    names: &[String],
    all: bool,
    running_only: bool,
) -> Result<Vec<String>, CliError> {
    if all {
        let rows = engine.list(&ListOptions {
            all: !running_only,
            filters: Vec::new(),
        })?;
        return Ok(rows.into_iter().map(|r| r.id).collect());
    }
    if names.is_empty() {
        return Err(CliError::Usage(
            "give at least one container name or id, or --all".into(),
        ));
    }
    Ok(names.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_duration_reads_go_units() {
        assert_eq!(parse_duration("10m"), Some(chrono::Duration::minutes(10)));
        assert_eq!(parse_duration("1h30m"), Some(chrono::Duration::minutes(90)));
        assert_eq!(
            parse_duration("500ms"),
            Some(chrono::Duration::milliseconds(500))
        );
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("abc"), None);
    }
}
