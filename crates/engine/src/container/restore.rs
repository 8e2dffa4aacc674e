//! `container restore`: bring a checkpointed container back through conmon,
//! so it has a monitor, logs and an exit code like a started one.
use std::os::fd::AsRawFd;

use std::path::Path;
use std::time::Instant;

use berth_oci::criu::{self, RestoreStats};
use berth_oci::RestoreRequest;
use chrono::Utc;
use serde::Serialize;
use tracing::{debug, warn};

use super::checkpoint::{remove_checkpoint_files, CHECKPOINT_DIR, INVENTORY};
use super::start::invalid_state;
use super::{Container, ContainerStatus};
use crate::{checkpoint_archive, Engine, EngineError, Result};

/// Options of `container restore`.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Keep the checkpoint images and CRIU's logs after the restore.
    pub keep: bool,
    /// Restore established TCP connections.
    pub tcp_established: bool,
    /// Restore file locks.
    pub file_locks: bool,
    /// `--name`: the name of a container restored from an archive. It also
    /// gets a new id, so the archive can be restored more than once.
    pub name: Option<String>,
    /// Do not apply the archive's root filesystem changes.
    pub ignore_rootfs: bool,
    /// `--ignore-static-ip`. berth containers have no static IP address
    /// yet (there is no `--ip`), so there is never one to ignore.
    pub ignore_static_ip: bool,
    /// `-p`: ports to publish on the restored container.
    pub publish: Vec<String>,
    /// Read CRIU's statistics into the report.
    pub print_stats: bool,
}

/// Duration and CRIU statistics of one restore, in the fields of Podman's
/// `--print-stats`.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    #[serde(rename = "Id")]
    pub id: String,
    /// Microseconds from starting conmon to its report of the pid.
    pub runtime_restore_duration: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criu_statistics: Option<RestoreStats>,
}

impl Engine {
    /// Restores a container from its checkpoint. The container must be
    /// exited or created and have checkpoint images. It is `running`
    /// afterwards with a new pid; on failure it is left as it was.
    pub fn restore(&self, name_or_id: &str, options: &RestoreOptions) -> Result<RestoreReport> {
        check_options(options, false)?;
        let (_lock, mut container) = self.lock_container(name_or_id)?;
        self.restore_locked(&mut container, options)
    }

    /// Lists the ids of the containers that are checkpointed, oldest first.
    pub fn checkpointed(&self) -> Result<Vec<String>> {
        Ok(self
            .db
            .all()?
            .into_iter()
            .filter(|container| container.state.checkpoint.checkpointed)
            .map(|container| container.id)
            .collect())
    }

    /// Recreates the container of a checkpoint archive written by
    /// `checkpoint --export` and restores it. The image it was made from
    /// must be in this store. On failure the recreated container is removed
    /// again.
    pub fn restore_import(
        &self,
        archive: &Path,
        options: &RestoreOptions,
    ) -> Result<RestoreReport> {
        check_options(options, true)?;
        let id = checkpoint_archive::import(self, archive, options)?;
        let (lock, mut container) = self.lock_container(&id)?;
        match self.restore_locked(&mut container, options) {
            Ok(report) => Ok(report),
            Err(error) => Err(self.forget_import(error, lock, &mut container)),
        }
    }

    /// Removes a container whose import failed and returns `error`, or
    /// both errors if the removal fails too.
    pub(crate) fn forget_import(
        &self,
        error: EngineError,
        lock: crate::lock::ContainerLock,
        container: &mut Container,
    ) -> EngineError {
        match self.remove_locked(lock, container, false) {
            Ok(()) => error,
            Err(cleanup) => EngineError::WithCleanupFailure {
                error: Box::new(error),
                cleanup: Box::new(cleanup),
            },
        }
    }

    fn restore_locked(
        &self,
        container: &mut Container,
        options: &RestoreOptions,
    ) -> Result<RestoreReport> {
        match container.state.status() {
            ContainerStatus::Exited | ContainerStatus::Configured => {}
            ContainerStatus::Running | ContainerStatus::Paused => {
                return Err(invalid_state(
                    container,
                    "restore",
                    ": it is already running",
                ));
            }
            ContainerStatus::Created => {
                return Err(invalid_state(
                    container,
                    "restore",
                    ": remove or start it instead",
                ));
            }
        }
        let bundle = self.paths(&container.id).userdata;
        let image_path = bundle.join(CHECKPOINT_DIR);
        if !image_path.join(INVENTORY).is_file() {
            return Err(EngineError::NoCheckpoint {
                id: container.id.clone(),
                name: container.name.clone(),
            });
        }
        let runtime = self.runtime(&container.config.runtime)?;
        runtime.check_checkpoint_support().map_err(|source| {
            EngineError::CheckpointUnavailable {
                op: "restore",
                name: container.name.clone(),
                source: Box::new(source),
            }
        })?;
        let monitor = self.monitor()?;

        if container.state.mounted || container.state.monitor_pid != 0 {
            self.release_runtime_resources(container);
        }
        for stale in [criu::RESTORE_LOG, criu::RESTORE_STATS] {
            let _ = std::fs::remove_file(bundle.join(stale));
        }

        let restore = RestoreRequest {
            image_path: &image_path,
            tcp_established: options.tcp_established,
            file_locks: options.file_locks,
        };
        let started = Instant::now();
        let created = self.prepare_bundle(container, &runtime).and_then(|bundle| {
            let held_fds: Vec<_> = bundle.held_ports.iter().map(|fd| fd.as_raw_fd()).collect();
            self.spawn_monitor(
                container,
                &runtime,
                &monitor,
                Some(restore),
                &held_fds,
                |_| Ok(()),
            )
        });
        let duration = started.elapsed();
        let created = match created {
            Ok(created) => created,
            Err(error) => {
                // The checkpoint stays, so the restore can be retried.
                self.release_runtime_resources(container);
                container.state.error = error.to_string();
                self.db.save_state(&container.id, &container.state)?;
                return Err(error);
            }
        };
        debug!(container_id = %container.id, pid = created.pid, monitor_pid = created.monitor_pid, "container restored");

        let criu_statistics = if options.print_stats {
            match criu::read_restore_stats(&bundle) {
                Ok(stats) => Some(stats),
                Err(error) => {
                    warn!(container_id = %container.id, %error, "cannot read CRIU's restore statistics");
                    None
                }
            }
        } else {
            None
        };

        container.state.status = Some(ContainerStatus::Running);
        // The restored process starts running now, also for a container
        // imported from an archive, which has no earlier start here.
        container.state.started_at = Some(Utc::now());
        container.state.stopped_by_user = false;
        let checkpoint = &mut container.state.checkpoint;
        checkpoint.checkpointed = false;
        checkpoint.checkpointed_at = None;
        checkpoint.restored = true;
        checkpoint.restored_at = Some(Utc::now());
        if options.keep {
            checkpoint.restore_log = Some(bundle.join(criu::RESTORE_LOG));
        } else {
            checkpoint.path = None;
            checkpoint.log = None;
            checkpoint.restore_log = None;
        }
        self.record_monitor(container, created)?;
        self.emit(container, "restore");

        if !options.keep {
            // The container runs already; a leftover file only costs space.
            if let Err(error) = remove_checkpoint_files(&bundle, true) {
                warn!(container_id = %container.id, %error, "cannot remove the checkpoint files after the restore");
            }
        }
        Ok(RestoreReport {
            id: container.id.clone(),
            runtime_restore_duration: duration.as_micros() as u64,
            criu_statistics,
        })
    }
}

fn check_options(options: &RestoreOptions, import: bool) -> Result<()> {
    if let Some(port) = options.publish.first() {
        // Not supported yet: changing published ports on restore. The
        // container gets back the ports it was created with; the flag is
        // rejected rather than ignored.
        return Err(EngineError::Unsupported {
            feature: format!(
                "-p {port} on restore (a restored container keeps the ports it was created with)"
            ),
        });
    }
    if !import {
        let only_with_import = [
            ("--name", options.name.is_some()),
            ("--ignore-rootfs", options.ignore_rootfs),
        ];
        if let Some((option, _)) = only_with_import.iter().find(|(_, given)| *given) {
            return Err(EngineError::InvalidOption {
                option,
                value: "true".into(),
                reason: "it only applies with --import".into(),
            });
        }
    }
    Ok(())
}
