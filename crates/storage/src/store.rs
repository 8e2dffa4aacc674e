use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use nix::fcntl::{Flock, FlockArg};
use oci_spec::image::ImageConfiguration;
use rusqlite::Connection;
use tracing::{debug, warn};

use crate::digest::strip_algorithm;
use crate::error::io_err;
use crate::idmap::IdMappings;
use crate::lookup::{find_name, resolve};
use crate::reference::{normalize, Reference};
use crate::{db, gc, mount, Result, StorageError};

/// Method of making a container's root filesystem from its image layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// An overlay mount: image layers as lower dirs plus the container's
    /// own upper dir.
    Overlay,
    /// A full copy of the image layers into the container's directory, used
    /// where the kernel refuses an overlay mount on this file system.
    Copy,
}

impl Driver {
    /// Returns the name `berth info` shows.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay",
            Driver::Copy => "vfs",
        }
    }
}

/// An image in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// 64 hex characters: the sha256 of the image config.
    pub id: String,
    /// Fully qualified names, e.g. `localhost/busybox:latest`.
    pub names: Vec<String>,
    /// `sha256:<hex>` of the image manifest.
    pub digest: String,
    pub created: DateTime<Utc>,
    /// Sum of the uncompressed layer sizes in bytes.
    pub size: u64,
    /// Layer diff ids (`sha256:<hex>`), base layer first.
    pub layers: Vec<String>,
}

/// Choices for a store that the user makes, as Podman's `--storage-opt`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// Program that mounts container overlays instead of the kernel
    /// (`overlay.mount_program`), such as `/usr/bin/fuse-overlayfs`.
    pub mount_program: Option<PathBuf>,
}

impl StoreOptions {
    /// Parses `KEY=VALUE` options as `--storage-opt` takes them. The only
    /// key berth supports is `overlay.mount_program`.
    pub fn parse(options: &[String]) -> Result<StoreOptions> {
        let mut parsed = StoreOptions::default();
        for option in options {
            let invalid = |reason: &str| StorageError::InvalidOption {
                option: "--storage-opt",
                value: option.clone(),
                reason: reason.to_string(),
            };
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| invalid("expected KEY=VALUE"))?;
            match key.trim() {
                "overlay.mount_program" => {
                    let program = PathBuf::from(value.trim());
                    if !program.is_absolute() {
                        return Err(invalid("the mount program must be an absolute path"));
                    }
                    parsed.mount_program = Some(program);
                }
                _ => {
                    return Err(invalid(
                        "unsupported option: berth supports only overlay.mount_program=PATH",
                    ))
                }
            }
        }
        Ok(parsed)
    }
}

/// The image store of one storage root.
pub struct Store {
    pub(crate) root: PathBuf,
    pub(crate) driver: Driver,
    /// The program that mounts overlays instead of the kernel, when the
    /// driver is overlay and the store records one.
    pub(crate) mount_program: Option<PathBuf>,
    db: Mutex<Connection>,
}

/// Name of the lock file under the root that serializes changes to layers
/// and blobs between berth processes.
const LOCK_FILE: &str = "storage.lock";

impl Store {
    /// Opens the store under `root`, creating its directories and tables.
    /// `runroot` contains volatile facts such as the probed driver.
    pub fn open(root: &Path, runroot: &Path) -> Result<Store> {
        Store::open_with_options(root, runroot, &StoreOptions::default())
    }

    /// Opens the store as [`Store::open`] does, with the user's `options`.
    /// A mount program given here is recorded in the root, and later opens
    /// without the option use it too.
    pub fn open_with_options(root: &Path, runroot: &Path, options: &StoreOptions) -> Result<Store> {
        for dir in ["blobs/sha256", "layers", "containers"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_err("create directory", &path))?;
        }
        fs::create_dir_all(runroot).map_err(io_err("create directory", runroot))?;
        // Overlay options and /proc/self/mountinfo carry absolute paths
        // without symlinks, so compare and mount with the canonical root.
        let root = root.canonicalize().map_err(io_err("resolve", root))?;

        let conn = db::open(&root.join("state.db"))?;
        let (driver, mount_program) =
            mount::choose_driver(&root, runroot, options.mount_program.as_deref())?;
        debug!(root = %root.display(), driver = driver.name(), mount_program = ?mount_program, "opened image store");
        Ok(Store {
            root,
            driver,
            mount_program,
            db: Mutex::new(conn),
        })
    }

    /// Returns the driver used for container root filesystems on this host.
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// Returns the program that mounts this store's overlays (such as
    /// fuse-overlayfs), or `None` when the kernel mounts them.
    pub fn mount_program(&self) -> Option<&Path> {
        self.mount_program.as_deref()
    }

    /// Imports a rootfs tarball (plain, gzip or zstd) as a one-layer image,
    /// named `name` when given (normalized, e.g. `busybox` becomes
    /// `localhost/busybox:latest`). `progress` receives bytes read so far.
    pub fn import(
        &self,
        tarball: &Path,
        name: Option<&str>,
        progress: &dyn Fn(u64),
    ) -> Result<Image> {
        crate::import::import(self, tarball, name, progress)
    }

    /// Lists every image, newest first.
    pub fn images(&self) -> Result<Vec<Image>> {
        db::load_images(&self.db())
    }

    /// Finds an image by name (short or qualified), full id, unique id
    /// prefix or `sha256:` digest.
    pub fn lookup(&self, name_or_id: &str) -> Result<Image> {
        let images = self.images()?;
        resolve(&images, name_or_id).cloned()
    }

    /// Adds `new_name` to an image, moving it away from any other image.
    pub fn tag(&self, image: &str, new_name: &str) -> Result<()> {
        let name = normalize(new_name)?;
        let image = self.lookup(image)?;
        db::tag(&mut self.db(), &image.id, &name)?;
        debug!(image_id = %image.id, name = %name, "tagged image");
        Ok(())
    }

    /// Removes one name from an image; the image stays. Returns whether the
    /// image has no name left.
    pub fn untag(&self, image_id: &str, name: &str) -> Result<bool> {
        let reference = Reference::parse(name)?;
        let image = self.lookup(image_id)?;
        let not_tagged = || StorageError::NotTagged {
            image_id: image.id.clone(),
            name: reference.to_string(),
        };
        let full_name = find_name(&image, &reference).ok_or_else(not_tagged)?;
        if !db::untag(&self.db(), &image.id, &full_name)? {
            return Err(not_tagged());
        }
        debug!(image_id = %image.id, name = %full_name, "untagged image");
        Ok(image.names.len() == 1)
    }

    /// Deletes an image: its record, config and manifest blobs, and every
    /// layer no other image uses. Callers check that no container uses it.
    pub fn remove(&self, image_id: &str) -> Result<()> {
        let _lock = self.lock()?;
        let image = self.lookup(image_id)?;
        let blobs = gc::blobs_of_image(self, &image);
        let unused_layers = db::delete_image(&mut self.db(), &image.id)?;
        debug!(image_id = %image.id, unused_layers = unused_layers.len(), "deleted image record");

        for (chain_id, _) in unused_layers {
            self.remove_layer_dir(strip_algorithm(&chain_id));
        }
        gc::remove_unused(self, blobs)?;
        Ok(())
    }

    /// Deletes every blob and layer directory that no image uses, such as
    /// blobs of a pull that failed after they were verified. Returns the
    /// bytes of blobs freed.
    pub fn collect_garbage(&self) -> Result<u64> {
        let _lock = self.lock()?;
        crate::import::remove_leftovers(&self.blobs_dir());
        crate::import::remove_leftovers(&self.layers_dir());
        gc::collect_garbage(self)
    }

    /// The uncompressed size of each of the image's layers, base first.
    pub fn layer_sizes(&self, image: &Image) -> Result<Vec<u64>> {
        let db = self.db();
        crate::digest::chain_ids(&image.layers)
            .iter()
            .map(|chain| Ok(db::layer_size(&db, chain)?.unwrap_or(0)))
            .collect()
    }

    /// Reads the image's OCI config (Entrypoint, Cmd, Env, WorkingDir, User...).
    pub fn config(&self, image: &Image) -> Result<ImageConfiguration> {
        let path = self.blob_path(&image.id);
        let bytes = fs::read(&path).map_err(io_err("read image config", &path))?;
        serde_json::from_slice(&bytes).map_err(|source| StorageError::InvalidConfig {
            image_id: image.id.clone(),
            path,
            source,
        })
    }

    /// Returns the directory that contains a container's upper, work and merged dirs.
    pub fn container_dir(&self, container_id: &str) -> PathBuf {
        self.root.join("containers").join(container_id)
    }

    /// Mounts the container's root filesystem (creating its upper and work
    /// dirs on first use) and returns the mount point. Mounting an already
    /// mounted container returns the same path.
    ///
    /// With [`Driver::Copy`] the first call copies the image layers into
    /// the merged dir, later calls return it as it is.
    ///
    /// `volatile` mounts an overlay with the "volatile" option, which skips
    /// every sync of the upper dir, including the one at unmount, so a
    /// crash can lose or corrupt its contents. It suits containers removed
    /// after they exit (`--rm`). A later mount of the same container first
    /// syncs the upper dir's file system and clears overlay's volatile mark.
    pub fn mount(&self, container_id: &str, image: &Image, volatile: bool) -> Result<PathBuf> {
        mount::mount(self, container_id, image, None, volatile)
    }

    /// Like [`Store::mount`], for a container in a user namespace of its
    /// own: the image's files are shifted by `mappings`, so a file the
    /// image gives to uid 0 belongs to the host uid that container uid 0
    /// maps to. The mappings must stay the same for the container's life.
    pub fn mount_mapped(
        &self,
        container_id: &str,
        image: &Image,
        mappings: &IdMappings,
        volatile: bool,
    ) -> Result<PathBuf> {
        mount::mount(self, container_id, image, Some(mappings), volatile)
    }

    /// Unmounts the container's root filesystem; succeeds when not mounted.
    /// With [`Driver::Copy`] there is nothing to unmount.
    pub fn unmount(&self, container_id: &str) -> Result<()> {
        mount::unmount(self, container_id)
    }

    /// Whether the container's root filesystem is mounted now. With
    /// [`Driver::Copy`], whether its copy of the image is complete.
    pub fn is_mounted(&self, container_id: &str) -> bool {
        mount::is_mounted(self, container_id)
    }

    /// Unmounts and deletes the container's upper, work and merged dirs.
    /// The container dir itself goes too when nothing else is left in it.
    pub fn remove_container_fs(&self, container_id: &str) -> Result<()> {
        mount::remove_container_fs(self, container_id)
    }

    /// Unmounts a container's root filesystem and moves its directory,
    /// with everything the engine keeps there, into the trash, to be
    /// deleted by [`Store::sweep_trash`].
    pub fn retire_container(&self, container_id: &str) -> Result<()> {
        mount::retire_container(self, container_id)
    }

    /// Unmounts a container's root filesystem and deletes its directory,
    /// with everything the engine keeps there.
    pub fn delete_container(&self, container_id: &str) -> Result<()> {
        mount::delete_container(self, container_id)
    }

    /// Deletes the directories of removed containers from the trash.
    pub fn sweep_trash(&self) {
        mount::sweep_trash(self)
    }

    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection half
        // changed: an open transaction rolls back when dropped.
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the store's exclusive lock, held while layers and blobs are
    /// created or deleted so a removal never deletes a layer an import is
    /// about to use. Released when the returned guard drops.
    pub(crate) fn lock(&self) -> Result<Flock<File>> {
        let path = self.root.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("open lock file", &path))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| StorageError::Io {
            op: "lock",
            path,
            source: errno.into(),
        })
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    /// Path of the blob with hex sha256 `hex`.
    pub(crate) fn blob_path(&self, hex: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex)
    }

    pub(crate) fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// The unpacked content of the layer with chain id `sha256:<chain_hex>`.
    pub(crate) fn layer_diff(&self, chain_hex: &str) -> PathBuf {
        self.layers_dir().join(chain_hex).join("diff")
    }

    /// Deletes a blob, logging instead of failing: a leftover blob wastes
    /// space but breaks nothing.
    pub(crate) fn remove_blob(&self, hex: &str) {
        let path = self.blob_path(hex);
        match fs::remove_file(&path) {
            Ok(()) => debug!(blob = %path.display(), "removed blob"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(blob = %path.display(), error = %e, "cannot remove blob; it stays on disk")
            }
        }
    }

    /// Deletes a layer dir, logging instead of failing because its record
    /// is already gone. The dir is first renamed to a temporary name, so a
    /// crash during the deletion never leaves a partial layer under its id.
    /// The next import deletes such leftovers.
    pub(crate) fn remove_layer_dir(&self, chain_hex: &str) {
        let layer = self.layers_dir().join(chain_hex);
        let doomed = self
            .layers_dir()
            .join(format!("{}remove-{chain_hex}", crate::import::TEMP_PREFIX));
        match fs::rename(&layer, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(e) => {
                warn!(layer = %layer.display(), error = %e, "cannot remove unused layer; it stays on disk");
                return;
            }
        }
        match fs::remove_dir_all(&doomed) {
            Ok(()) => debug!(layer = %layer.display(), "removed layer"),
            Err(e) => {
                warn!(path = %doomed.display(), error = %e, "cannot remove unused layer; the next import retries")
            }
        }
    }
}
