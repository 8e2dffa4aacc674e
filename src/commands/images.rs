//! `import`, `images`, `rmi`, `tag`, `image inspect`.
use std::collections::HashMap;
use std::io::IsTerminal;

use berth_engine::{Engine, EngineError, ImageSummary, RemovedImage};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::containers::print_inspect;
use super::{CliError, CliResult};
use crate::cli::{ImagesArgs, ImportArgs, PruneArgs, RmiArgs, TagArgs};
use crate::format;

pub fn import(engine: &Engine, args: &ImportArgs) -> CliResult {
    let total = std::fs::metadata(&args.tarball)
        .map(|m| m.len())
        .unwrap_or(0);
    let bar = if !args.quiet && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("Importing {bar:40} {bytes}/{total_bytes} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let progress = |bytes: u64| {
        if let Some(bar) = &bar {
            bar.set_position(bytes);
        }
    };
    let id = engine.import(&args.tarball, args.name.as_deref(), &progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    println!("{}", id?);
    Ok(0)
}

pub fn list(engine: &Engine, args: &ImagesArgs) -> CliResult {
    let images = engine.images()?;
    if args.quiet {
        let mut seen = Vec::new();
        for image in &images {
            let id = if args.no_trunc {
                format!("sha256:{}", image.id)
            } else {
                image.id[..12].to_string()
            };
            if !seen.contains(&id) {
                println!("{id}");
                seen.push(id);
            }
        }
        return Ok(0);
    }
    let rows: Vec<Value> = images
        .iter()
        .flat_map(|i| image_rows(i, args.no_trunc))
        .collect();
    match args.format.as_deref() {
        Some("json") => {
            let values: Vec<Value> = images.iter().map(image_json).collect();
            print!(
                "{}",
                format::to_json(&Value::Array(values), format::JsonStyle::ImageList)
            );
        }
        Some(template) => {
            let headers = HashMap::from([("ID", "IMAGE ID"), ("CreatedSince", "CREATED")]);
            print!("{}", format::render_rows(template, &rows, &headers)?);
        }
        None => {
            let headers = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    ["Repository", "Tag", "ID", "CreatedSince", "Size"]
                        .iter()
                        .map(|k| r[k].as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .collect();
            print!("{}", format::table(&headers, &table));
        }
    }
    Ok(0)
}

/// One row per name (one `<none>` row for an unnamed image), as Podman.
fn image_rows(image: &ImageSummary, no_trunc: bool) -> Vec<Value> {
    let names: Vec<(String, String)> = if image.names.is_empty() {
        vec![("<none>".into(), "<none>".into())]
    } else {
        image.names.iter().map(|n| split_name(n)).collect()
    };
    let since = berth_engine::container::human_duration(Utc::now() - image.created);
    names
        .into_iter()
        .map(|(repository, tag)| {
            json!({
                "Repository": repository,
                "Tag": tag,
                "ID": if no_trunc { format!("sha256:{}", image.id) } else { image.id[..12].to_string() },
                "Digest": image.digest,
                "CreatedSince": format!("{since} ago"),
                "CreatedAt": image.created.to_rfc3339(),
                "Size": human_size(image.size),
                "Containers": image.containers,
            })
        })
        .collect()
}

fn image_json(image: &ImageSummary) -> Value {
    json!({
        "Id": image.id,
        "ParentId": "",
        "RepoTags": image.names,
        "RepoDigests": image.names.iter().map(|n| format!("{}@{}", split_name(n).0, image.digest)).collect::<Vec<_>>(),
        "Size": image.size,
        "SharedSize": 0,
        "VirtualSize": image.size,
        "Labels": Value::Null,
        "Containers": image.containers,
        "Names": image.names,
        "Digest": image.digest,
        "History": image.names,
        "Created": image.created.timestamp(),
        "CreatedAt": image.created.to_rfc3339(),
    })
}

/// `localhost/busybox:latest` → (`localhost/busybox`, `latest`).
fn split_name(name: &str) -> (String, String) {
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => {
            (name[..colon].to_string(), name[colon + 1..].to_string())
        }
        _ => (name.to_string(), "latest".to_string()),
    }
}

/// Decimal sizes with three significant digits, as Podman (go-units) prints
/// them: `4.48 MB`, `870 kB`, `12 B`.
pub(super) fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text} {}", units[unit])
}

pub fn remove(engine: &Engine, args: &RmiArgs) -> CliResult {
    let names: Vec<String> = if args.all {
        engine.images()?.into_iter().map(|i| i.id).collect()
    } else if args.images.is_empty() {
        return Err(CliError::Usage(
            "give at least one image name or id, or --all".into(),
        ));
    } else {
        args.images.clone()
    };
    let mut failure = None;
    for name in &names {
        let result = if args.all {
            engine.remove_image_all_names(name, args.force)
        } else {
            engine.remove_image(name, args.force)
        };
        match result {
            Ok(removed) => {
                for item in removed {
                    match item {
                        RemovedImage::Untagged(name) => println!("Untagged: {name}"),
                        RemovedImage::Deleted(id) => println!("Deleted: {id}"),
                    }
                }
            }
            Err(error) => {
                eprintln!("Error: {error}");
                failure = failure.or(Some(rmi_exit_code(&error)));
            }
        }
    }
    Ok(failure.unwrap_or(0))
}

/// Podman's exit codes for rmi: 1 when an image does not exist, 2 when a
/// container uses it.
fn rmi_exit_code(error: &EngineError) -> i32 {
    match error {
        EngineError::Storage(storage) if is_no_such_image(storage) => 1,
        EngineError::ImageInUse { .. } => 2,
        other => other.exit_code(),
    }
}

fn is_no_such_image(error: &berth_engine::StorageError) -> bool {
    matches!(error, berth_engine::StorageError::NoSuchImage { .. })
}

pub fn prune(engine: &Engine, args: &PruneArgs) -> CliResult {
    if !args.force && std::io::stdin().is_terminal() {
        let what = if args.all {
            "all images without at least one container associated with them"
        } else {
            "all dangling images"
        };
        eprint!("WARNING! This command removes {what}.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    for id in engine.prune_images(args.all)? {
        println!("{id}");
    }
    Ok(0)
}

pub fn tag(engine: &Engine, args: &TagArgs) -> CliResult {
    for name in &args.names {
        engine.tag(&args.image, name)?;
    }
    Ok(0)
}

pub fn inspect(engine: &Engine, images: &[String], template: Option<&str>) -> CliResult {
    let mut values = Vec::new();
    let mut failure = None;
    for name in images {
        match engine.inspect_image(name) {
            Ok(image) => values.push(json!(image)),
            Err(error) => {
                eprintln!("Error: {error}");
                failure = Some(error);
            }
        }
    }
    print_inspect(&values, template)?;
    match failure {
        Some(error) => Ok(error.exit_code()),
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_matches_go_units() {
        assert_eq!(human_size(12), "12 B");
        assert_eq!(human_size(1_234_567), "1.23 MB");
        assert_eq!(human_size(870_000), "870 kB");
        assert_eq!(human_size(2_000_000), "2 MB");
    }

    #[test]
    fn split_name_separates_tag() {
        assert_eq!(
            split_name("localhost/busybox:latest"),
            ("localhost/busybox".into(), "latest".into())
        );
        assert_eq!(
            split_name("localhost:5000/a"),
            ("localhost:5000/a".into(), "latest".into())
        );
    }
}
