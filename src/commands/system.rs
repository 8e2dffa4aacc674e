//! `info`, `version`, `completion`.
use clap::CommandFactory;
use serde_json::{json, Value};

use super::containers::print_inspect;
use super::CliResult;
use crate::cli::{Cli, FormatArgs};
use crate::format;

pub fn info(engine: &berth_engine::Engine, args: &FormatArgs) -> CliResult {
    let info = engine.info()?;
    let value = json!({
        "host": {
            "hostname": info.hostname,
            "kernel": info.kernel,
            "cgroupVersion": info.cgroup_version,
            "cgroupManager": info.cgroup_manager,
            "ociRuntime": { "name": info.oci_runtime, "path": info.oci_runtime_path, "version": info.oci_runtime_version },
            "conmon": { "path": info.conmon_path, "version": info.conmon_version },
            "checkpoint": {
                "criuPath": info.checkpoint.criu_path,
                "criuVersion": info.checkpoint.criu_version,
                "criuCheck": info.checkpoint.criu_check,
                "runtimes": info.checkpoint.runtimes,
            },
            "security": { "rootless": info.rootless },
        },
        "store": {
            "graphRoot": info.root,
            "runRoot": info.run_root,
            "graphDriverName": info.graph_driver_name,
            "graphDriverNote": info.graph_driver_note,
            "graphOptions": graph_options(&info),
            "graphStatus": { "Native Overlay Diff": info.native_overlay_diff.to_string() },
            "containerStore": { "number": info.containers },
            "imageStore": { "number": info.images },
        },
        "version": { "Version": info.version },
    });
    match args.format.as_deref() {
        Some("json") => print!("{}", format::to_json(&value, format::JsonStyle::Inspect)),
        Some(template) => print!("{}", format::render(template, &template_value(&info))?),
        None => print!("{}", yaml_like(&value, 0)),
    }
    Ok(0)
}

/// `info` as a template sees it: Podman's Go field names
/// (`{{.Host.OCIRuntime.Name}}`), where the JSON output uses camelCase keys.
fn template_value(info: &berth_engine::Info) -> Value {
    json!({
        "Host": {
            "Hostname": info.hostname,
            "Kernel": info.kernel,
            "CgroupsVersion": info.cgroup_version,
            "CgroupManager": info.cgroup_manager,
            "OCIRuntime": { "Name": info.oci_runtime, "Path": info.oci_runtime_path, "Version": info.oci_runtime_version },
            "Conmon": { "Path": info.conmon_path, "Version": info.conmon_version },
            "Security": { "Rootless": info.rootless },
        },
        "Store": {
            "GraphRoot": info.root,
            "RunRoot": info.run_root,
            "GraphDriverName": info.graph_driver_name,
            "GraphOptions": graph_options(info),
            "GraphStatus": { "Native Overlay Diff": info.native_overlay_diff.to_string() },
            "ContainerStore": { "Number": info.containers },
            "ImageStore": { "Number": info.images },
        },
        "Version": { "Version": info.version },
    })
}

/// Podman's `graphOptions`: the overlay mount program, when there is one,
/// under `overlay.mount_program`.
fn graph_options(info: &berth_engine::Info) -> Value {
    let mut options = serde_json::Map::new();
    if let Some(program) = &info.mount_program {
        options.insert(
            "overlay.mount_program".into(),
            json!({ "Executable": program.executable, "Version": program.version }),
        );
    }
    Value::Object(options)
}

/// Prints nested objects as indented `key: value` lines, the shape of
/// Podman's default (YAML) `info` output.
fn yaml_like(value: &Value, depth: usize) -> String {
    let mut out = String::new();
    if let Value::Object(map) = value {
        for (key, item) in map {
            let indent = "  ".repeat(depth);
            match item {
                Value::Object(_) => {
                    out.push_str(&format!("{indent}{key}:\n"));
                    out.push_str(&yaml_like(item, depth + 1));
                }
                Value::String(s) if s.is_empty() => out.push_str(&format!("{indent}{key}: \"\"\n")),
                Value::String(s) => out.push_str(&format!("{indent}{key}: {s}\n")),
                other => out.push_str(&format!("{indent}{key}: {other}\n")),
            }
        }
    }
    out
}

pub fn version(args: &FormatArgs) -> CliResult {
    let value = json!({
        "Client": {
            "Version": env!("CARGO_PKG_VERSION"),
            "OsArch": format!("{}/{}", std::env::consts::OS, go_arch()),
        }
    });
    match args.format.as_deref() {
        None => {
            println!("Version:      {}", env!("CARGO_PKG_VERSION"));
            println!("OS/Arch:      {}/{}", std::env::consts::OS, go_arch());
        }
        Some("json") => print_inspect(&[value], None)?,
        Some(template) => print!("{}", format::render(template, &value)?),
    }
    Ok(0)
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn completion(shell: clap_complete::Shell) -> CliResult {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "berth", &mut std::io::stdout());
    Ok(0)
}

/// `system df`: Podman's table, or JSON (one object per kind) with `--format json`.
pub fn df(engine: &berth_engine::Engine, args: &FormatArgs) -> CliResult {
    let usage = engine.disk_usage()?;
    let rows = [
        ("Images", &usage.images),
        ("Containers", &usage.containers),
        ("Local Volumes", &usage.volumes),
    ];
    let values: Vec<Value> = rows
        .iter()
        .map(|(kind, summary)| {
            json!({
                "Type": kind,
                "Total": summary.total,
                "Active": summary.active,
                "Size": human_bytes(summary.size),
                "RawSize": summary.size,
                "Reclaimable": reclaimable(summary),
                "RawReclaimable": summary.reclaimable,
            })
        })
        .collect();
    match args.format.as_deref() {
        Some("json") => print!(
            "{}",
            format::to_json(&Value::Array(values), format::JsonStyle::List)
        ),
        Some(template) => print!(
            "{}",
            format::render_rows(template, &values, &std::collections::HashMap::new())?
        ),
        None => {
            let table: Vec<Vec<String>> = values
                .iter()
                .map(|v| {
                    ["Type", "Total", "Active", "Size", "Reclaimable"]
                        .iter()
                        .map(|k| match &v[k] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect();
            print!(
                "{}",
                format::table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &table)
            );
        }
    }
    Ok(0)
}

/// `1.23MB (45%)`, as Podman prints the reclaimable column.
fn reclaimable(summary: &berth_engine::UsageSummary) -> String {
    let percent = (summary.reclaimable * 100)
        .checked_div(summary.size)
        .unwrap_or(0);
    format!("{} ({percent}%)", human_bytes(summary.reclaimable))
}

/// Decimal sizes without a space, as Podman's `system df` prints them.
fn human_bytes(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let text = if unit == 0 {
        format!("{bytes}")
    } else {
        format!("{value:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    };
    format!("{text}{}", units[unit])
}
