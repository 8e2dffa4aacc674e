//! `container checkpoint` and `container restore`.
use std::time::Instant;

use berth_engine::{CheckpointOptions, ContainerStatus, Engine, ListOptions, RestoreOptions};
use serde_json::json;

use super::{for_each_name, CliError, CliResult};
use crate::cli::{CheckpointArgs, RestoreArgs};
use crate::format;

pub fn checkpoint(engine: &Engine, args: &CheckpointArgs) -> CliResult {
    let started = Instant::now();
    let names = if args.all {
        let rows = engine.list(&ListOptions {
            all: false,
            filters: Vec::new(),
        })?;
        rows.into_iter()
            .filter(|row| row.status == ContainerStatus::Running)
            .map(|row| row.id)
            .collect()
    } else {
        required_names(&args.containers)?
    };
    if args.export.is_some() && names.len() > 1 {
        return Err(CliError::Usage(
            "--export writes one container's checkpoint: give exactly one container".into(),
        ));
    }
    let options = CheckpointOptions {
        leave_running: args.leave_running,
        keep: args.keep,
        tcp_established: args.tcp_established,
        file_locks: args.file_locks,
        export: args.export.clone(),
        ignore_rootfs: args.ignore_rootfs,
        print_stats: args.print_stats,
    };

    if !args.print_stats {
        return for_each_name(&names, |name| {
            engine.checkpoint(name, &options).map(|_| true)
        });
    }
    let mut reports = Vec::new();
    for name in &names {
        reports.push(engine.checkpoint(name, &options)?);
    }
    print_stats("berth_checkpoint_duration", started, &reports)
}

pub fn restore(engine: &Engine, args: &RestoreArgs) -> CliResult {
    let started = Instant::now();
    let options = RestoreOptions {
        keep: args.keep,
        tcp_established: args.tcp_established,
        file_locks: args.file_locks,
        name: args.name.clone(),
        ignore_rootfs: args.ignore_rootfs,
        ignore_static_ip: args.ignore_static_ip,
        publish: args.publish.clone(),
        print_stats: args.print_stats,
    };

    if let Some(archive) = &args.import {
        if args.all || !args.containers.is_empty() {
            return Err(CliError::Usage(
                "--import restores the container in the archive: give no container names and no --all".into(),
            ));
        }
        let report = engine.restore_import(archive, &options)?;
        if args.print_stats {
            return print_stats("berth_restore_duration", started, &[report]);
        }
        println!("{}", report.id);
        return Ok(0);
    }

    let names = if args.all {
        engine.checkpointed()?
    } else {
        required_names(&args.containers)?
    };
    if !args.print_stats {
        return for_each_name(&names, |name| engine.restore(name, &options).map(|_| true));
    }
    let mut reports = Vec::new();
    for name in &names {
        reports.push(engine.restore(name, &options)?);
    }
    print_stats("berth_restore_duration", started, &reports)
}

fn required_names(names: &[String]) -> Result<Vec<String>, CliError> {
    if names.is_empty() {
        return Err(CliError::Usage(
            "give at least one container name or id, or --all".into(),
        ));
    }
    Ok(names.to_vec())
}

/// Prints Podman's `--print-stats` JSON: the whole command's duration and
/// one entry per container, in microseconds.
fn print_stats<T: serde::Serialize>(key: &str, started: Instant, reports: &[T]) -> CliResult {
    let value = json!({
        key: started.elapsed().as_micros() as u64,
        "container_statistics": reports,
    });
    print!("{}", format::to_json(&value, format::JsonStyle::Inspect));
    Ok(0)
}
