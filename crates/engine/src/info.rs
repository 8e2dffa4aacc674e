//! `info`: what the engine runs with on this host.
use serde::Serialize;

use crate::{Engine, Result};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    pub version: String,
    pub root: String,
    pub run_root: String,
    pub graph_driver_name: String,
    /// Why the driver is not overlay, when it is not.
    pub graph_driver_note: String,
    pub oci_runtime: String,
    pub oci_runtime_path: String,
    pub oci_runtime_version: String,
    pub conmon_path: String,
    pub conmon_version: String,
    pub cgroup_version: String,
    pub cgroup_manager: String,
    pub kernel: String,
    pub hostname: String,
    /// Whether berth runs for an ordinary user in its own user namespace.
    pub rootless: bool,
    pub containers: usize,
    pub images: usize,
}

impl Engine {
    pub fn info(&self) -> Result<Info> {
        let runtime = self.runtime(&self.options.runtime)?;
        let monitor = self.monitor()?;
        let driver = self.store.driver();
        let uname = nix::sys::utsname::uname().ok();
        Ok(Info {
            version: env!("CARGO_PKG_VERSION").into(),
            root: self.options.root.display().to_string(),
            run_root: self.options.runroot.display().to_string(),
            graph_driver_name: driver.name().into(),
            graph_driver_note: match driver {
                berth_storage::Driver::Overlay => String::new(),
                berth_storage::Driver::Copy => {
                    "overlay mounts failed on this file system; each container gets a full copy of its image".into()
                }
            },
            oci_runtime: runtime.name.clone(),
            oci_runtime_path: runtime.path.display().to_string(),
            oci_runtime_version: runtime.version().unwrap_or_default(),
            conmon_path: monitor.path.display().to_string(),
            conmon_version: monitor.version().unwrap_or_default(),
            cgroup_version: match berth_oci::cgroup::detect() {
                berth_oci::cgroup::CgroupMode::Unified => "v2".into(),
                berth_oci::cgroup::CgroupMode::Hybrid => "v1 (hybrid)".into(),
                berth_oci::cgroup::CgroupMode::Legacy => "v1".into(),
            },
            cgroup_manager: "cgroupfs".into(),
            kernel: uname
                .as_ref()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            hostname: uname
                .as_ref()
                .map(|u| u.nodename().to_string_lossy().into_owned())
                .unwrap_or_default(),
            rootless: self.options.rootless,
            containers: self.db.all()?.len(),
            images: self.store.images()?.len(),
        })
    }
}
