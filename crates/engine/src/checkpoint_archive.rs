//! Checkpoint archives: one zstd-compressed tarball that carries a
//! checkpointed container to another berth root or host.
//!
//! Entries, in the order they are written:
//! - `checkpoint/`: CRIU's images;
//! - `spec.dump`: the runtime spec (`config.json`) the checkpoint ran with;
//! - `ctr.log`: the container's log, when it has one;
//! - `rootfs-diff.tar`: the changes to the image's files, as a layer
//!   tarball, unless `--ignore-rootfs`;
//! - `config.dump`: [`ArchiveConfig`], written last so that a truncated
//!   archive is missing it.
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::debug;

use crate::container::{
    new_id, Container, ContainerConfig, ContainerState, ContainerStatus, RestoreOptions,
    CHECKPOINT_DIR, INVENTORY,
};
use crate::error::ArchiveProblem;
use crate::{names, Engine, EngineError, Result};

/// Version of the archive layout; bumped when an entry changes meaning.
const FORMAT_VERSION: u32 = 1;
const CONFIG_DUMP: &str = "config.dump";
const SPEC_DUMP: &str = "spec.dump";
const ROOTFS_DIFF: &str = "rootfs-diff.tar";
const LOG: &str = "ctr.log";
/// zstd level 3, zstd's own default: fast, and CRIU images compress well.
const ZSTD_LEVEL: i32 = 3;
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The container record in an archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ArchiveConfig {
    pub format_version: u32,
    pub berth_version: String,
    /// GOARCH-style name of the machine the checkpoint was made on, as OCI
    /// images name it (`amd64`, `arm64`).
    pub architecture: String,
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub created_at: DateTime<Utc>,
    pub checkpointed_at: DateTime<Utc>,
    pub rootfs_diff: bool,
    pub config: ContainerConfig,
}

/// Returns the OCI name of this machine's architecture.
fn host_architecture() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        "powerpc64" => "ppc64".into(),
        other => other.into(),
    }
}

/// Writes the archive of a checkpointed container to `target`, through a
/// temporary file that is renamed once complete. Caller holds the lock.
pub(crate) fn export(
    engine: &Engine,
    container: &Container,
    target: &Path,
    ignore_rootfs: bool,
) -> Result<()> {
    let bundle = engine.paths(&container.id).userdata;
    let file_name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = target.with_file_name(format!(".{file_name}.partial"));
    let result =
        write_archive(engine, container, &bundle, &partial, ignore_rootfs).and_then(|()| {
            std::fs::rename(&partial, target).map_err(|e| EngineError::io("rename", &partial, e))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    let _ = std::fs::remove_file(bundle.join(ROOTFS_DIFF));
    result?;
    debug!(container_id = %container.id, archive = %target.display(), "exported checkpoint");
    Ok(())
}

fn write_archive(
    engine: &Engine,
    container: &Container,
    bundle: &Path,
    path: &Path,
    ignore_rootfs: bool,
) -> Result<()> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |e| EngineError::io(op, path, e)
    };
    // Mode 0600, as Podman's: the images hold the container's memory.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io("create", path))?;
    let encoder =
        zstd::Encoder::new(BufWriter::new(file), ZSTD_LEVEL).map_err(io("compress", path))?;
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);

    builder
        .append_dir_all(CHECKPOINT_DIR, bundle.join(CHECKPOINT_DIR))
        .map_err(io("archive", &bundle.join(CHECKPOINT_DIR)))?;
    let spec = bundle.join("config.json");
    builder
        .append_path_with_name(&spec, SPEC_DUMP)
        .map_err(io("archive", &spec))?;
    let log = bundle.join(LOG);
    if log.is_file() {
        builder
            .append_path_with_name(&log, LOG)
            .map_err(io("archive", &log))?;
    }
    if !ignore_rootfs {
        let diff = bundle.join(ROOTFS_DIFF);
        let diff_file = File::create(&diff).map_err(io("create", &diff))?;
        engine
            .store
            .export_container_diff(&container.id, BufWriter::new(diff_file))?;
        builder
            .append_path_with_name(&diff, ROOTFS_DIFF)
            .map_err(io("archive", &diff))?;
    }

    let config = ArchiveConfig {
        format_version: FORMAT_VERSION,
        berth_version: env!("CARGO_PKG_VERSION").into(),
        architecture: host_architecture(),
        id: container.id.clone(),
        name: container.name.clone(),
        image_id: container.image_id.clone(),
        created_at: container.created_at,
        checkpointed_at: container
            .state
            .checkpoint
            .checkpointed_at
            .unwrap_or_else(Utc::now),
        rootfs_diff: !ignore_rootfs,
        config: container.config.clone(),
    };
    let json =
        serde_json::to_vec_pretty(&config).map_err(|e| EngineError::io("write", path, e.into()))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(Utc::now().timestamp().max(0) as u64);
    builder
        .append_data(&mut header, CONFIG_DUMP, json.as_slice())
        .map_err(io("write", path))?;

    let encoder = builder.into_inner().map_err(io("write", path))?;
    let mut writer = encoder.finish().map_err(io("compress", path))?;
    writer.flush().map_err(io("write", path))?;
    let file = writer
        .into_inner()
        .map_err(|e| EngineError::io("write", path, e.into_error()))?;
    file.sync_all().map_err(io("sync", path))
}

/// Unpacks an archive, checks it, and records its container (new id and
/// name with `--name`) with the checkpoint images, log and root filesystem
/// changes in place. Returns the container id. The container is left
/// `configured`, ready for a restore. On failure it is removed again, and
/// the unpacked files go with their temporary directory.
pub(crate) fn import(engine: &Engine, archive: &Path, options: &RestoreOptions) -> Result<String> {
    let unpacked = tempfile::Builder::new()
        .prefix(".checkpoint-import-")
        .tempdir_in(&engine.options.root)
        .map_err(|e| EngineError::io("create directory in", &engine.options.root, e))?;
    unpack(archive, unpacked.path())?;
    let config = read_config(archive, unpacked.path())?;

    let image = engine
        .store
        .lookup(&config.image_id)
        .or_else(|_| engine.store.lookup(&config.config.image_name))
        .map_err(|_| EngineError::CheckpointImageMissing {
            path: archive.to_path_buf(),
            image: config.config.image_name.clone(),
            image_id: config.image_id.clone(),
        })?;
    let (id, name) = match &options.name {
        Some(name) => {
            names::validate(name)?;
            (new_id(), name.clone())
        }
        // The same id as a live container of another root on this host
        // would share its cgroup (`/berth/<id>`), and removing one would
        // kill the other; such an import gets a new id.
        None if id_in_use_on_host(&config.id) => (new_id(), config.name.clone()),
        None => (config.id.clone(), config.name.clone()),
    };
    if engine.db.get(&id)?.is_some() {
        return Err(EngineError::ImportedContainerExists {
            id,
            path: archive.to_path_buf(),
        });
    }

    let container = Container {
        id: id.clone(),
        name,
        image_id: image.id.clone(),
        created_at: config.created_at,
        config: config.config.clone(),
        state: ContainerState {
            status: Some(ContainerStatus::Configured),
            ..ContainerState::default()
        },
    };
    engine.db.insert(&container)?;
    let (lock, mut container) = engine.lock_container(&id)?;
    let placed = place_files(
        engine,
        &container,
        &image,
        unpacked.path(),
        archive,
        &config,
        options,
    );
    match placed {
        Ok(()) => {
            engine.emit(&container, "create");
            debug!(container_id = %id, archive = %archive.display(), "imported checkpoint");
            Ok(id)
        }
        Err(error) => Err(engine.forget_import(error, lock, &mut container)),
    }
}

/// Moves the unpacked images and log into the new container's bundle and
/// applies the root filesystem changes.
fn place_files(
    engine: &Engine,
    container: &Container,
    image: &berth_storage::Image,
    unpacked: &Path,
    archive: &Path,
    config: &ArchiveConfig,
    options: &RestoreOptions,
) -> Result<()> {
    let bundle = engine.paths(&container.id).userdata;
    std::fs::create_dir_all(&bundle)
        .map_err(|e| EngineError::io("create directory", &bundle, e))?;
    for name in [CHECKPOINT_DIR, LOG] {
        let from = unpacked.join(name);
        if from.exists() {
            std::fs::rename(&from, bundle.join(name))
                .map_err(|e| EngineError::io("move", &from, e))?;
        }
    }
    if config.rootfs_diff && !options.ignore_rootfs {
        let diff = unpacked.join(ROOTFS_DIFF);
        let file = File::open(&diff).map_err(|e| EngineError::io("open", &diff, e))?;
        engine
            .store
            .apply_container_diff(&container.id, image, BufReader::new(file), archive)?;
    }
    Ok(())
}

/// Unpacks a plain or zstd-compressed archive into `dest`, accepting only
/// the entries an export writes, as regular files and directories.
fn unpack(archive: &Path, dest: &Path) -> Result<()> {
    let corrupt = |reason: String| EngineError::CheckpointArchiveInvalid {
        path: archive.to_path_buf(),
        problem: ArchiveProblem::Corrupt { reason },
    };
    let mut file =
        BufReader::new(File::open(archive).map_err(|e| EngineError::io("open", archive, e))?);
    let mut magic = [0u8; 4];
    let compressed = {
        let peeked = std::io::BufRead::fill_buf(&mut file)
            .map_err(|e| EngineError::io("read", archive, e))?;
        if peeked.len() >= 4 {
            magic.copy_from_slice(&peeked[..4]);
        }
        magic == ZSTD_MAGIC
    };
    let reader: Box<dyn Read> = if compressed {
        Box::new(zstd::Decoder::with_buffer(file).map_err(|e| corrupt(e.to_string()))?)
    } else {
        Box::new(file)
    };

    let mut tar = tar::Archive::new(reader);
    let entries = tar.entries().map_err(|e| corrupt(e.to_string()))?;
    let mut count = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| corrupt(e.to_string()))?
            .into_owned();
        let kind = entry.header().entry_type();
        if !is_expected_entry(&path) || !(kind.is_file() || kind.is_dir()) {
            return Err(EngineError::CheckpointArchiveInvalid {
                path: archive.to_path_buf(),
                problem: ArchiveProblem::UnexpectedEntry {
                    entry: path.display().to_string(),
                },
            });
        }
        entry
            .unpack_in(dest)
            .map_err(|e| corrupt(format!("{}: {e}", path.display())))?;
        count += 1;
    }
    debug!(archive = %archive.display(), entries = count, "unpacked checkpoint archive");
    Ok(())
}

/// Checks whether `path` is one of the entries an export writes: a known file, or
/// a plain relative path under `checkpoint/`.
fn is_expected_entry(path: &Path) -> bool {
    let mut components = path.components();
    let Some(Component::Normal(first)) = components.next() else {
        return false;
    };
    if !components.all(|component| matches!(component, Component::Normal(_))) {
        return false;
    }
    let first = first.to_string_lossy();
    if first == CHECKPOINT_DIR {
        return true;
    }
    path.components().count() == 1 && [CONFIG_DUMP, SPEC_DUMP, ROOTFS_DIFF, LOG].contains(&&*first)
}

/// Reads and checks `config.dump` and the presence of the other entries.
fn read_config(archive: &Path, unpacked: &Path) -> Result<ArchiveConfig> {
    let invalid = |problem| EngineError::CheckpointArchiveInvalid {
        path: archive.to_path_buf(),
        problem,
    };
    let config_path = unpacked.join(CONFIG_DUMP);
    let text = std::fs::read(&config_path)
        .map_err(|_| invalid(ArchiveProblem::Missing { entry: CONFIG_DUMP }))?;
    let config: ArchiveConfig = serde_json::from_slice(&text).map_err(|e| {
        invalid(ArchiveProblem::Corrupt {
            reason: format!("{CONFIG_DUMP}: {e}"),
        })
    })?;
    if config.format_version != FORMAT_VERSION {
        return Err(invalid(ArchiveProblem::UnsupportedVersion {
            found: config.format_version,
            supported: FORMAT_VERSION,
        }));
    }
    let host = host_architecture();
    if config.architecture != host {
        return Err(invalid(ArchiveProblem::WrongArchitecture {
            archive: config.architecture,
            host,
        }));
    }
    let required = [
        (
            PathBuf::from(CHECKPOINT_DIR).join(INVENTORY),
            "checkpoint/inventory.img",
        ),
        (PathBuf::from(ROOTFS_DIFF), ROOTFS_DIFF),
    ];
    for (path, entry) in required {
        if entry == ROOTFS_DIFF && !config.rootfs_diff {
            continue;
        }
        if !unpacked.join(path).is_file() {
            return Err(invalid(ArchiveProblem::Missing { entry }));
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_entries_accepted() {
        for path in [
            "checkpoint",
            "checkpoint/inventory.img",
            "config.dump",
            "ctr.log",
        ] {
            assert!(is_expected_entry(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn unexpected_entries_rejected() {
        for path in [
            "/etc/passwd",
            "../config.dump",
            "checkpoint/../../x",
            "config.dump/x",
            "other",
        ] {
            assert!(!is_expected_entry(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn host_architecture_uses_oci_names() {
        let arch = host_architecture();
        assert!(!arch.is_empty());
        assert_ne!(arch, "x86_64");
        assert_ne!(arch, "aarch64");
    }
}

/// Whether a container with this id exists on the host under any berth
/// root: its cgroup or the runtime's view of it would collide.
fn id_in_use_on_host(id: &str) -> bool {
    berth_oci::cgroup::exists(&format!("{}/{id}", crate::container::CGROUP_PARENT))
}
