//! `info`: what the engine runs with on this host.
use std::collections::BTreeMap;

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
    /// The program that mounts overlays instead of the kernel, if any
    /// (Podman's `overlay.mount_program` graph option).
    pub mount_program: Option<MountProgramInfo>,
    /// Whether the kernel's overlay makes the container's changes
    /// (Podman's `Native Overlay Diff`): false with a mount program and
    /// with the copy driver.
    pub native_overlay_diff: bool,
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
    pub checkpoint: CheckpointInfo,
}

/// The overlay mount program of the store.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MountProgramInfo {
    pub executable: String,
    /// The program's line of `--version`.
    pub version: String,
}

/// Whether checkpoint and restore work on this host, and why not.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointInfo {
    /// The `criu` in PATH, which runc runs; empty when there is none.
    pub criu_path: String,
    pub criu_version: String,
    /// `ok`, or why CRIU cannot be used.
    pub criu_check: String,
    /// For crun and runc (where installed): `ok`, or why that runtime
    /// cannot checkpoint.
    pub runtimes: BTreeMap<String, String>,
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
            mount_program: self
                .store
                .mount_program()
                .map(|program| MountProgramInfo {
                    executable: program.display().to_string(),
                    version: berth_storage::mount_program_version(program),
                }),
            native_overlay_diff: driver == berth_storage::Driver::Overlay
                && self.store.mount_program().is_none(),
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
            checkpoint: self.checkpoint_info(),
        })
    }

    fn checkpoint_info(&self) -> CheckpointInfo {
        let criu = berth_oci::criu::Criu::find();
        let criu_check = match criu.as_ref().map(|criu| criu.check()) {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(error)) => error.to_string(),
            Err(error) => error.to_string(),
        };
        let runtimes = ["crun", "runc"]
            .into_iter()
            .filter_map(|name| {
                let runtime = self.runtime(name).ok()?;
                let support = match runtime.check_criu_support() {
                    Ok(()) if criu_check == "ok" => "ok".to_string(),
                    Ok(()) => "no working CRIU (see criuCheck)".to_string(),
                    Err(error) => error.to_string(),
                };
                Some((name.to_string(), support))
            })
            .collect();
        let (criu_path, criu_version) = match criu {
            Ok(criu) => (criu.path.display().to_string(), criu.version),
            Err(_) => (String::new(), String::new()),
        };
        CheckpointInfo {
            criu_path,
            criu_version,
            criu_check,
            runtimes,
        }
    }
}
