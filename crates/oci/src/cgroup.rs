//! Host cgroup checks and placement of the monitor process.
//!
//! Only cgroupfs is supported (no systemd cgroup manager). Paths given to
//! this module are relative to each hierarchy's root, e.g. `berth/conmon`.
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::{OciError, Result};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const HYBRID_UNIFIED: &str = "/sys/fs/cgroup/unified";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified.
    Hybrid,
    /// cgroup2 at /sys/fs/cgroup.
    Unified,
}

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    /// v1 controllers (`cpu`, `memory`, `name=systemd`); empty for cgroup2.
    pub controllers: Vec<String>,
    pub version: u8,
}

pub fn detect() -> CgroupMode {
    let hierarchies = hierarchies();
    mode_of(&hierarchies)
}

fn mode_of(hierarchies: &[Hierarchy]) -> CgroupMode {
    let is_v2_at = |path: &str| {
        hierarchies
            .iter()
            .any(|hierarchy| hierarchy.version == 2 && hierarchy.mount_point == Path::new(path))
    };
    if is_v2_at(CGROUP_ROOT) {
        CgroupMode::Unified
    } else if is_v2_at(HYBRID_UNIFIED) {
        CgroupMode::Hybrid
    } else {
        CgroupMode::Legacy
    }
}

/// Lists the cgroup hierarchies mounted in this mount namespace, from
/// `/proc/self/mountinfo`. The list is empty when that file cannot be read.
pub fn hierarchies() -> Vec<Hierarchy> {
    match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(mountinfo) => parse_mountinfo(&mountinfo),
        Err(error) => {
            tracing::warn!(%error, "cannot read /proc/self/mountinfo, assuming no cgroup hierarchies");
            Vec::new()
        }
    }
}

fn parse_mountinfo(mountinfo: &str) -> Vec<Hierarchy> {
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        // Fields: id parent major:minor root mount-point options [optional...] - fstype source super-options
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = before.split(' ').nth(4) else {
            continue;
        };
        let mut after = after.split(' ');
        let fstype = after.next().unwrap_or_default();
        let super_options = after.nth(1).unwrap_or_default();

        let (version, controllers) = match fstype {
            "cgroup2" => (2, Vec::new()),
            "cgroup" => {
                let controllers = super_options
                    .split(',')
                    .filter(|option| is_v1_controller(option))
                    .map(str::to_string)
                    .collect();
                (1, controllers)
            }
            _ => continue,
        };
        found.push(Hierarchy {
            mount_point: PathBuf::from(mount_point),
            controllers,
            version,
        });
    }
    found
}

fn is_v1_controller(option: &str) -> bool {
    !matches!(
        option,
        "rw" | "ro" | "none" | "noprefix" | "clone_children" | "xattr" | "cpuset_v2_mode"
    ) && !option.starts_with("release_agent=")
}

/// Fails with an actionable message on a host where the runtime would
/// refuse to run containers, e.g. hybrid mode with a controller enabled on
/// the cgroup2 mount (crun refuses that).
pub fn check_host(runtime_name: &str) -> Result<()> {
    if detect() != CgroupMode::Hybrid {
        return Ok(());
    }
    let controllers_file = Path::new(HYBRID_UNIFIED).join("cgroup.controllers");
    let controllers = std::fs::read_to_string(&controllers_file)
        .map_err(|source| OciError::io("read", &controllers_file, source))?;
    check_hybrid_controllers(runtime_name, &controllers)
}

/// crun 1.8 treats a hybrid host whose cgroup2 mount has controllers as
/// cgroup v2 and then fails to find the v1 hierarchies it needs.
fn check_hybrid_controllers(runtime_name: &str, controllers: &str) -> Result<()> {
    let controllers: Vec<&str> = controllers.split_whitespace().collect();
    if controllers.is_empty() || runtime_name != "crun" {
        return Ok(());
    }

    let fix = controllers
        .iter()
        .map(|controller| {
            format!("mkdir -p {CGROUP_ROOT}/{controller} && mount -t cgroup -o {controller} cgroup {CGROUP_ROOT}/{controller}")
        })
        .collect::<Vec<_>>()
        .join(" && ");
    Err(OciError::HostUnsupported {
        message: format!(
            "{runtime_name} cannot run containers on this host: cgroups are in hybrid mode and the \
             cgroup2 mount {HYBRID_UNIFIED} has the controllers {} enabled; mount them as v1 \
             hierarchies as root: {fix}",
            controllers.join(", ")
        ),
    })
}

/// Returns the directories of `path` in every hierarchy.
fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let relative = path.trim_start_matches('/');
    hierarchies()
        .into_iter()
        .map(|hierarchy| hierarchy.mount_point.join(relative))
        .collect()
}

/// Whether a cgroup (path relative to each hierarchy's root) exists in any
/// hierarchy.
pub fn exists(path: &str) -> bool {
    cgroup_dirs(path).iter().any(|dir| dir.is_dir())
}

/// Removes an empty cgroup from every hierarchy; missing dirs are fine.
///
/// Only the leaf directory is removed, not its parents. Every hierarchy is
/// tried; the first failure (EBUSY while processes remain) is returned.
pub fn remove(path: &str) -> Result<()> {
    let mut first_error = None;
    for dir in cgroup_dirs(path) {
        match std::fs::remove_dir(&dir) {
            Ok(()) => tracing::debug!(path = %dir.display(), "removed cgroup"),
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(source) => {
                tracing::debug!(path = %dir.display(), error = %source, "cannot remove cgroup");
                first_error.get_or_insert(OciError::io("remove cgroup", dir, source));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Starts, in a background thread, the wait that the kernel imposes on the
/// first cgroup migration after an idle spell, so that it overlaps with
/// the caller's own work before it moves conmon.
///
/// A migration takes the kernel's cgroup thread-group lock for writing,
/// which waits for an RCU grace period unless another writer came shortly
/// before. That took 5-13 ms on a 2-CPU VM, and berth's move of conmon paid
/// it in full on a `run` after an idle spell. The thread writes berth's
/// own pid into the cgroup it is already in: a migration that changes
/// nothing but lets the grace period start early. Failures are ignored;
/// the later move then waits as before.
pub fn start_migration_wait() {
    let Some(procs) = own_cgroup_procs() else {
        return;
    };
    std::thread::spawn(move || {
        if let Err(error) = std::fs::write(&procs, std::process::id().to_string()) {
            tracing::debug!(path = %procs.display(), %error, "early cgroup migration failed");
        }
    });
}

/// Returns the `cgroup.procs` file of this process's cgroup in the first
/// hierarchy of `/proc/self/cgroup` that is mounted.
fn own_cgroup_procs() -> Option<PathBuf> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let hierarchies = hierarchies();
    membership.lines().find_map(|line| {
        // Each line is `ID:CONTROLLERS:PATH`. The cgroup v2 line has ID 0 and
        // no controllers.
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let hierarchy = hierarchies.iter().find(|hierarchy| {
            if controllers.is_empty() {
                hierarchy.version == 2
            } else {
                hierarchy.version == 1
                    && controllers
                        .split(',')
                        .all(|name| hierarchy.controllers.iter().any(|c| c == name))
            }
        })?;
        let procs = hierarchy
            .mount_point
            .join(path.trim_start_matches('/'))
            .join("cgroup.procs");
        procs.exists().then_some(procs)
    })
}

/// Moves `pid` into the cgroup `path` in every hierarchy, creating it where
/// missing. In hybrid mode the cgroup2 mount is left alone, because it only
/// tracks processes for systemd. Best effort: a hierarchy that fails is
/// logged with `warn!` and skipped, so the returned list names the cgroup
/// directories the process joined.
pub fn move_pid(pid: i32, path: &str) -> Vec<PathBuf> {
    let relative = path.trim_start_matches('/');
    let hierarchies = hierarchies();
    let mode = mode_of(&hierarchies);
    let mut joined = Vec::new();

    for hierarchy in hierarchies {
        if mode == CgroupMode::Hybrid && hierarchy.version == 2 {
            continue;
        }
        let dir = hierarchy.mount_point.join(relative);
        let is_cpuset = hierarchy.controllers.iter().any(|name| name == "cpuset");
        match join_cgroup(&hierarchy.mount_point, &dir, pid, is_cpuset) {
            Ok(()) => joined.push(dir),
            Err(error) => {
                tracing::warn!(pid, cgroup = %dir.display(), %error, "cannot move process into cgroup")
            }
        }
    }
    tracing::debug!(
        pid,
        cgroup = path,
        hierarchies = joined.len(),
        "moved process into cgroup"
    );
    joined
}

fn join_cgroup(mount_point: &Path, dir: &Path, pid: i32, is_cpuset: bool) -> std::io::Result<()> {
    if is_cpuset {
        create_cpuset_dirs(mount_point, dir)?;
    } else {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(dir.join("cgroup.procs"), pid.to_string())
}

/// Creates the cpuset cgroups along `dir`. A new v1 cpuset cgroup has empty
/// `cpuset.cpus` and `cpuset.mems`, and no process can join it until both
/// are set, so each new level copies them from its parent.
fn create_cpuset_dirs(mount_point: &Path, dir: &Path) -> std::io::Result<()> {
    let Ok(relative) = dir.strip_prefix(mount_point) else {
        return std::fs::create_dir_all(dir);
    };
    let mut current = mount_point.to_path_buf();
    for component in relative.components() {
        let parent = current.clone();
        current.push(component);
        if current.is_dir() {
            continue;
        }
        std::fs::create_dir(&current)?;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let value = std::fs::read_to_string(parent.join(file))?;
            std::fs::write(current.join(file), value.trim())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn mountinfo_lists_hierarchies() {
        let hierarchies = parse_mountinfo(HYBRID_MOUNTINFO);
        assert_eq!(hierarchies.len(), 4);
        assert_eq!(hierarchies[0].mount_point, Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(hierarchies[0].controllers, vec!["cpu".to_string()]);
        assert_eq!(hierarchies[2].controllers, vec!["name=systemd".to_string()]);
        assert_eq!(hierarchies[3].version, 2);
        assert!(hierarchies[3].controllers.is_empty());
    }

    #[test]
    fn mode_detected_from_mounts() {
        assert_eq!(
            mode_of(&parse_mountinfo(HYBRID_MOUNTINFO)),
            CgroupMode::Hybrid
        );
        let unified = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(mode_of(&parse_mountinfo(unified)), CgroupMode::Unified);
        let legacy = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct\n";
        assert_eq!(mode_of(&parse_mountinfo(legacy)), CgroupMode::Legacy);
    }

    #[test]
    fn hybrid_with_controllers_rejected_for_crun() {
        let error = check_hybrid_controllers("crun", "hugetlb\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "crun cannot run containers on this host: cgroups are in hybrid mode and the cgroup2 \
             mount /sys/fs/cgroup/unified has the controllers hugetlb enabled; mount them as v1 \
             hierarchies as root: mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb \
             cgroup /sys/fs/cgroup/hugetlb"
        );
    }

    #[test]
    fn hybrid_fix_names_every_controller() {
        let error = check_hybrid_controllers("crun", "hugetlb rdma\n").unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("the controllers hugetlb, rdma enabled"),
            "{message}"
        );
        assert!(message.ends_with(
            "mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb \
             && mkdir -p /sys/fs/cgroup/rdma && mount -t cgroup -o rdma cgroup /sys/fs/cgroup/rdma"
        ), "{message}");
    }

    #[test]
    fn hybrid_without_controllers_accepted() {
        assert!(check_hybrid_controllers("crun", "").is_ok());
        assert!(check_hybrid_controllers("crun", "\n").is_ok());
    }

    #[test]
    fn hybrid_with_controllers_accepted_for_runc() {
        assert!(check_hybrid_controllers("runc", "hugetlb\n").is_ok());
    }
}
