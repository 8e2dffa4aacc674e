//! `container checkpoint`: write a running container's processes to disk
//! with CRIU, through the runtime, and optionally into a portable archive.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_oci::criu::{self, DumpStats};
use berth_oci::CheckpointRequest;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::start::invalid_state;
use super::{Container, ContainerStatus};
use crate::{checkpoint_archive, process, Engine, EngineError, Result};

/// Directory in the bundle where CRIU writes the checkpoint images.
pub(crate) const CHECKPOINT_DIR: &str = "checkpoint";

/// The image CRIU writes last; a checkpoint without it is incomplete.
pub(crate) const INVENTORY: &str = "inventory.img";

/// Bound on the wait for conmon's exit file after CRIU ended the processes.
const EXIT_FILE_GRACE: Duration = Duration::from_secs(10);

/// Options of `container checkpoint`.
#[derive(Debug, Clone, Default)]
pub struct CheckpointOptions {
    /// Keep the container running after the checkpoint.
    pub leave_running: bool,
    /// Keep CRIU's log and statistics files.
    pub keep: bool,
    /// Checkpoint established TCP connections.
    pub tcp_established: bool,
    /// Checkpoint file locks.
    pub file_locks: bool,
    /// Also write a portable archive to this path (`--export`).
    pub export: Option<PathBuf>,
    /// Leave the root filesystem changes out of the archive.
    pub ignore_rootfs: bool,
    /// Read CRIU's statistics into the report.
    pub print_stats: bool,
}

/// Duration and CRIU statistics of one checkpoint, in the fields of
/// Podman's `--print-stats`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointReport {
    #[serde(rename = "Id")]
    pub id: String,
    /// Microseconds the runtime's `checkpoint` took.
    pub runtime_checkpoint_duration: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criu_statistics: Option<DumpStats>,
}

/// The last checkpoint and restore of a container, as inspect shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// The container's processes live in a checkpoint, not on the host.
    pub checkpointed: bool,
    pub checkpointed_at: Option<DateTime<Utc>>,
    /// The CRIU images; kept until a restore without `--keep`.
    pub path: Option<PathBuf>,
    /// CRIU's checkpoint log, kept with `--keep`.
    pub log: Option<PathBuf>,
    pub restored: bool,
    pub restored_at: Option<DateTime<Utc>>,
    /// CRIU's restore log, kept with `--keep`.
    pub restore_log: Option<PathBuf>,
}

impl Engine {
    /// Checkpoints a running container with CRIU. Unless `leave_running`,
    /// the container is `exited` and marked checkpointed afterwards, with
    /// its images in its bundle until [`Engine::restore`]. On failure the
    /// container is left as it was, running.
    pub fn checkpoint(
        &self,
        name_or_id: &str,
        options: &CheckpointOptions,
    ) -> Result<CheckpointReport> {
        let (_lock, mut container) = self.lock_container(name_or_id)?;
        check_options(&container, options)?;
        match container.state.status() {
            ContainerStatus::Running => {}
            ContainerStatus::Paused => {
                return Err(invalid_state(
                    &container,
                    "checkpoint",
                    ": unpause it first",
                ));
            }
            _ => {
                return Err(invalid_state(
                    &container,
                    "checkpoint",
                    ": only running containers can be checkpointed",
                ));
            }
        }
        let runtime = self.runtime(&container.config.runtime)?;
        let criu = runtime.check_checkpoint_support().map_err(|source| {
            EngineError::CheckpointUnavailable {
                op: "checkpoint",
                name: container.name.clone(),
                source: Box::new(source),
            }
        })?;
        debug!(container_id = %container.id, criu = %criu.path.display(), criu_version = %criu.version, "checkpointing");

        let bundle = self.paths(&container.id).userdata;
        let image_path = bundle.join(CHECKPOINT_DIR);
        remove_checkpoint_files(&bundle, true)?;

        let request = CheckpointRequest {
            image_path: &image_path,
            work_path: &bundle,
            leave_running: options.leave_running,
            tcp_established: options.tcp_established,
            file_locks: options.file_locks,
        };
        let started = Instant::now();
        runtime.checkpoint(&container.id, &request)?;
        let duration = started.elapsed();
        let criu_statistics = if options.print_stats {
            Some(criu::read_dump_stats(&bundle)?)
        } else {
            None
        };

        if !options.leave_running {
            self.finish_checkpoint(&mut container)?;
        }
        let now = Utc::now();
        container.state.checkpoint = CheckpointState {
            checkpointed: !options.leave_running,
            checkpointed_at: Some(now),
            path: Some(image_path),
            log: options.keep.then(|| bundle.join(criu::DUMP_LOG)),
            ..CheckpointState::default()
        };
        self.db.save_state(&container.id, &container.state)?;
        self.emit(&container, "checkpoint");

        if !options.keep {
            remove_checkpoint_files(&bundle, false)?;
        }
        // The checkpoint stays usable in place when the export fails.
        if let Some(target) = &options.export {
            checkpoint_archive::export(self, &container, target, options.ignore_rootfs)?;
        }
        Ok(CheckpointReport {
            id: container.id.clone(),
            runtime_checkpoint_duration: duration.as_micros() as u64,
            criu_statistics,
        })
    }

    /// Records a container whose processes CRIU has just ended, and frees
    /// its cgroup and mount. Caller holds the lock.
    fn finish_checkpoint(&self, container: &mut Container) -> Result<()> {
        // conmon writes the exit file once CRIU has ended the processes. A
        // restore must not begin before that, or the late exit file would
        // mark the restored container as exited.
        let exit_file = self.paths(&container.id).exit_file;
        if !process::wait_for_file(&exit_file, EXIT_FILE_GRACE) {
            warn!(container_id = %container.id, "conmon wrote no exit file after the checkpoint");
        }
        self.release_runtime_resources(container);

        // The processes did not exit: they are in the checkpoint. Like
        // Podman, berth reports exit code 0 rather than the SIGKILL that
        // conmon saw. `stopped_by_user` keeps the restart policy of the
        // cleanup that conmon runs next from starting the container afresh.
        let state = &mut container.state;
        state.status = Some(ContainerStatus::Exited);
        state.exit_code = Some(0);
        state.finished_at = Some(Utc::now());
        state.pid = 0;
        state.pid_start_time = 0;
        state.stopped_by_user = true;
        Ok(())
    }
}

fn check_options(container: &Container, options: &CheckpointOptions) -> Result<()> {
    if options.ignore_rootfs && options.export.is_none() {
        return Err(EngineError::InvalidOption {
            option: "--ignore-rootfs",
            value: "true".into(),
            reason: "it only applies with --export".into(),
        });
    }
    // Checked before CRIU stops the container: an export that can only
    // fail must not cost a running container.
    if let Some(target) = &options.export {
        let dir = target
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            return Err(EngineError::InvalidOption {
                option: "--export",
                value: target.display().to_string(),
                reason: format!("the directory {} does not exist", dir.display()),
            });
        }
    }
    if container.config.auto_remove && options.export.is_none() && !options.leave_running {
        return Err(EngineError::InvalidOption {
            option: "checkpoint",
            value: container.name.clone(),
            reason: "the container was started with --rm, so its cleanup would remove the checkpoint: use --export or --leave-running".into(),
        });
    }
    Ok(())
}

/// Removes CRIU's log and statistics files from the bundle, and with
/// `images` also the checkpoint images.
pub(crate) fn remove_checkpoint_files(bundle: &Path, images: bool) -> Result<()> {
    for name in [
        criu::DUMP_LOG,
        criu::DUMP_STATS,
        criu::RESTORE_LOG,
        criu::RESTORE_STATS,
    ] {
        let path = bundle.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::io("remove", path, e)),
        }
    }
    let image_path = bundle.join(CHECKPOINT_DIR);
    if images && image_path.exists() {
        std::fs::remove_dir_all(&image_path)
            .map_err(|e| EngineError::io("remove", &image_path, e))?;
    }
    Ok(())
}
