//! `commit`, `diff`, `export`, `history`.
use std::io::{IsTerminal, Write};
use std::path::Path;

use berth_engine::{CommitOptions, Engine};
use chrono::Utc;

use super::{CliError, CliResult};
use crate::cli::{CommitArgs, ExportArgs, HistoryArgs};
use crate::format;

pub fn commit(engine: &Engine, args: &CommitArgs) -> CliResult {
    let options = CommitOptions {
        name: args.image.clone(),
        changes: args.changes.clone(),
        message: args.message.clone(),
        author: args.author.clone(),
    };
    println!("{}", engine.commit(&args.container, &options)?);
    Ok(0)
}

pub fn diff(engine: &Engine, container: &str) -> CliResult {
    for change in engine.diff(container)? {
        println!("{} {}", change.kind.letter(), change.path);
    }
    Ok(0)
}

pub fn export(engine: &Engine, args: &ExportArgs) -> CliResult {
    match &args.output {
        Some(path) => {
            // Renamed into place when complete, as `save` does.
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut temp = tempfile::Builder::new()
                .prefix(".berth-export-")
                .tempfile_in(dir)?;
            {
                let mut writer = std::io::BufWriter::new(temp.as_file_mut());
                engine.export(&args.container, &mut writer)?;
                writer.flush()?;
            }
            temp.persist(path).map_err(|e| CliError::Io(e.error))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                return Err(CliError::Usage(
                    "refusing to write a tarball to a terminal: use -o FILE or redirect the output"
                        .into(),
                ));
            }
            let stdout = std::io::stdout();
            let mut writer = std::io::BufWriter::new(stdout.lock());
            engine.export(&args.container, &mut writer)?;
            writer.flush()?;
        }
    }
    Ok(0)
}

pub fn history(engine: &Engine, args: &HistoryArgs) -> CliResult {
    let entries = engine.history(&args.image)?;
    let short = |id: &str| {
        if args.no_trunc || id.starts_with('<') {
            id.to_string()
        } else {
            id[..id.len().min(12)].to_string()
        }
    };
    if args.quiet {
        for entry in &entries {
            println!("{}", short(&entry.id));
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| {
            let created = entry.created.map_or_else(
                || "<unknown>".to_string(),
                |t| {
                    format!(
                        "{} ago",
                        berth_engine::container::human_duration(Utc::now() - t)
                    )
                },
            );
            let mut created_by = entry.created_by.clone();
            if !args.no_trunc && created_by.chars().count() > 45 {
                created_by = created_by.chars().take(44).collect::<String>() + "…";
            }
            vec![
                short(&entry.id),
                created,
                created_by,
                super::images::human_size(entry.size),
                entry.comment.clone(),
            ]
        })
        .collect();
    let headers = ["ID", "CREATED", "CREATED BY", "SIZE", "COMMENT"];
    print!("{}", format::table(&headers, &rows));
    Ok(0)
}
