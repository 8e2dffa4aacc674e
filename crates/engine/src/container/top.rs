//! `top`: the processes of a running container, read from the host's /proc
//! and shown with the pids, users and names they have inside the container.
use std::collections::BTreeMap;
use std::path::Path;

use super::start::invalid_state;
use crate::{Engine, EngineError, Result};

/// The columns `top` shows without descriptors, as Podman's.
pub const DEFAULT_DESCRIPTORS: &[&str] = &[
    "user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args",
];

/// One process of a container, as `/proc` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerProcess {
    /// The pid inside the container's pid namespace.
    pub pid: i32,
    /// The parent's pid inside the namespace; 0 when the parent is outside.
    pub ppid: i32,
    pub uid: u32,
    pub gid: u32,
    pub comm: String,
    pub args: Vec<String>,
    /// CPU time used, in seconds.
    pub cpu_seconds: f64,
    /// Seconds since the process started.
    pub elapsed_seconds: f64,
    /// `pts/N`, or `?` without a terminal.
    pub tty: String,
    /// Resident set size in KiB.
    pub rss_kib: u64,
}

impl Engine {
    /// Lists the processes in the container's pid namespace, init first.
    pub fn top(&self, name_or_id: &str) -> Result<Vec<ContainerProcess>> {
        let (_lock, container) = self.lock_container(name_or_id)?;
        if !container.state.status().is_active() {
            return Err(invalid_state(
                &container,
                "top",
                ": only running containers have processes",
            ));
        }
        let namespace =
            pid_namespace(container.state.pid).ok_or_else(|| EngineError::NoSuchContainer {
                name_or_id: name_or_id.to_string(),
            })?;
        let clock_ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100) as f64;
        let uptime = read_uptime();

        let mut host_to_container = BTreeMap::new();
        let mut processes = Vec::new();
        for entry in
            std::fs::read_dir("/proc").map_err(|e| EngineError::io("read directory", "/proc", e))?
        {
            let Some(host_pid) = entry
                .ok()
                .and_then(|e| e.file_name().to_str()?.parse::<i32>().ok())
            else {
                continue;
            };
            if pid_namespace(host_pid) != Some(namespace) {
                continue;
            }
            // A process may exit while it is read; it is then left out.
            if let Some((process, host_ppid)) = read_process(host_pid, clock_ticks, uptime) {
                host_to_container.insert(host_pid, process.pid);
                processes.push((process, host_ppid));
            }
        }

        let mut processes: Vec<ContainerProcess> = processes
            .into_iter()
            .map(|(mut process, host_ppid)| {
                process.ppid = host_to_container.get(&host_ppid).copied().unwrap_or(0);
                process
            })
            .collect();
        processes.sort_by_key(|p| p.pid);
        Ok(processes)
    }

    /// User and group names inside the container, for `top`'s user column.
    pub fn container_user_names(&self, name_or_id: &str) -> Result<BTreeMap<u32, String>> {
        let (_lock, container) = self.lock_container(name_or_id)?;
        let passwd = Path::new("/proc")
            .join(container.state.pid.to_string())
            .join("root/etc/passwd");
        let text = std::fs::read_to_string(passwd).unwrap_or_default();
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let uid = fields.nth(1)?.parse().ok()?;
                Some((uid, name.to_string()))
            })
            .collect())
    }
}

fn pid_namespace(pid: i32) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|m| m.ino())
}

fn read_uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Reads one process; returns it with its parent's host pid.
fn read_process(host_pid: i32, clock_ticks: f64, uptime: f64) -> Option<(ContainerProcess, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{host_pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{host_pid}/status")).ok()?;
    let cmdline = std::fs::read(format!("/proc/{host_pid}/cmdline")).ok()?;

    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    // Fields after the name, numbered from 3 (state) as in proc(5).
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3).and_then(|f| f.parse::<u64>().ok());
    let host_ppid = field(4)? as i32;
    let tty_nr = field(7)?;
    let cpu_ticks = field(14)? + field(15)?;
    let start_ticks = field(22)?;
    let rss_pages = field(24)?;

    let status_value = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .map(|rest| {
                rest.split_whitespace()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
    };
    // NSpid lists the pid in each nested namespace; the last is the
    // container's view.
    let pid = status_value("NSpid:")?.last()?.parse().ok()?;
    let uid = status_value("Uid:")?.first()?.parse().ok()?;
    let gid = status_value("Gid:")?.first()?.parse().ok()?;

    let page_kib = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64
        / 1024;
    let args = cmdline
        .split(|b| *b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    Some((
        ContainerProcess {
            pid,
            ppid: 0,
            uid,
            gid,
            comm,
            args,
            cpu_seconds: cpu_ticks as f64 / clock_ticks,
            elapsed_seconds: (uptime - start_ticks as f64 / clock_ticks).max(0.0),
            tty: tty_name(tty_nr),
            rss_kib: rss_pages * page_kib,
        },
        host_ppid,
    ))
}

/// Decodes `tty_nr`: major 136-143 are pseudo-terminals (`pts/N`).
fn tty_name(tty_nr: u64) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match (tty_nr, major) {
        (0, _) => "?".into(),
        (_, 136..=143) => format!("pts/{}", (major - 136) * 256 + minor),
        _ => format!("{major}:{minor}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tty_name_decodes_pseudo_terminals() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name(136 << 8), "pts/0");
        assert_eq!(tty_name((136 << 8) | 3), "pts/3");
    }
}
