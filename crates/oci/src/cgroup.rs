//! Host cgroup checks and placement of the monitor process.
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified.
    Hybrid,
    /// cgroup2 at /sys/fs/cgroup.
    Unified,
}

pub fn detect() -> CgroupMode {
    todo!()
}

/// Fails with an actionable message on a host where the runtime would
/// refuse to run containers, e.g. hybrid mode with a controller enabled on
/// the cgroup2 mount (crun refuses that).
pub fn check_host(runtime_name: &str) -> Result<()> {
    let _ = runtime_name;
    todo!()
}

/// Whether a cgroup (path relative to each hierarchy's root) exists in any
/// hierarchy.
pub fn exists(path: &str) -> bool {
    let _ = path;
    todo!()
}

/// Removes an empty cgroup from every hierarchy; missing dirs are fine.
pub fn remove(path: &str) -> Result<()> {
    let _ = path;
    todo!()
}
