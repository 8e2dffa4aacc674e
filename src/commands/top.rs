//! `top`: a table of a container's processes with Podman's descriptors.
use berth_engine::container::{ContainerProcess, DEFAULT_DESCRIPTORS};
use berth_engine::Engine;

use super::{CliError, CliResult};
use crate::format;

pub fn top(engine: &Engine, container: &str, descriptors: &[String]) -> CliResult {
    // `top CTR -eo pid,args` style ps options are split at commas, as
    // Podman accepts them too.
    let descriptors: Vec<String> = if descriptors.is_empty() {
        DEFAULT_DESCRIPTORS.iter().map(|d| d.to_string()).collect()
    } else {
        descriptors
            .iter()
            .filter(|d| !d.starts_with('-'))
            .flat_map(|d| d.split(',').map(str::to_string))
            .collect()
    };
    for descriptor in &descriptors {
        if header(descriptor).is_none() {
            return Err(CliError::Usage(format!(
                "unknown top descriptor {descriptor:?}: use user, group, pid, ppid, pcpu, etime, tty, time, comm, args or rss"
            )));
        }
    }

    let processes = engine.top(container)?;
    let users = engine.container_user_names(container)?;
    let headers: Vec<&str> = descriptors.iter().filter_map(|d| header(d)).collect();
    let rows: Vec<Vec<String>> = processes
        .iter()
        .map(|process| {
            descriptors
                .iter()
                .map(|d| cell(process, d, &users))
                .collect()
        })
        .collect();
    print!("{}", format::table(&headers, &rows));
    Ok(0)
}

fn header(descriptor: &str) -> Option<&'static str> {
    Some(match descriptor {
        "user" => "USER",
        "group" => "GROUP",
        "pid" => "PID",
        "ppid" => "PPID",
        "pcpu" => "%CPU",
        "etime" => "ELAPSED",
        "tty" => "TTY",
        "time" => "TIME",
        "comm" | "args" => "COMMAND",
        "rss" => "RSS",
        _ => return None,
    })
}

fn cell(
    process: &ContainerProcess,
    descriptor: &str,
    users: &std::collections::BTreeMap<u32, String>,
) -> String {
    match descriptor {
        "user" => users
            .get(&process.uid)
            .cloned()
            .unwrap_or_else(|| process.uid.to_string()),
        "group" => process.gid.to_string(),
        "pid" => process.pid.to_string(),
        "ppid" => process.ppid.to_string(),
        "pcpu" => {
            let share = if process.elapsed_seconds > 0.0 {
                process.cpu_seconds / process.elapsed_seconds
            } else {
                0.0
            };
            format!("{:.3}", share * 100.0)
        }
        "etime" => go_duration(process.elapsed_seconds, true),
        "time" => go_duration(process.cpu_seconds, false),
        "tty" => process.tty.clone(),
        "comm" => process.comm.clone(),
        "args" if process.args.is_empty() => format!("[{}]", process.comm),
        "args" => process.args.join(" "),
        "rss" => process.rss_kib.to_string(),
        _ => String::new(),
    }
}

/// Formats seconds as Go prints a time.Duration (`1h2m3.5s`, `45s`), with
/// the fraction only when `fraction` is set.
fn go_duration(seconds: f64, fraction: bool) -> String {
    let whole = seconds.trunc() as u64;
    let (hours, minutes, secs) = (whole / 3600, whole / 60 % 60, whole % 60);
    let secs = if fraction {
        let text = format!("{:.9}", secs as f64 + seconds.fract());
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        secs.to_string()
    };
    match (hours, minutes) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_matches_go() {
        assert_eq!(go_duration(0.0, false), "0s");
        assert_eq!(go_duration(3.5, true), "3.5s");
        assert_eq!(go_duration(125.0, false), "2m5s");
        assert_eq!(go_duration(3725.25, true), "1h2m5.25s");
    }
}
