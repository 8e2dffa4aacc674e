use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use oci_spec::image::ImageConfiguration;

use crate::Result;

/// How a container's root filesystem is made from its image layers.
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
    /// The name shown by `berth info`.
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

/// The image store of one storage root.
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the store under `root`, creating its directories and tables.
    /// `runroot` holds volatile facts such as the probed driver.
    pub fn open(root: &Path, runroot: &Path) -> Result<Store> {
        let _ = (root, runroot);
        todo!()
    }

    /// The driver used for container root filesystems on this host.
    pub fn driver(&self) -> Driver {
        todo!()
    }

    /// Imports a rootfs tarball (plain, gzip or zstd) as a one-layer image,
    /// named `name` when given (normalized, e.g. `busybox` becomes
    /// `localhost/busybox:latest`). `progress` receives bytes read so far.
    pub fn import(&self, tarball: &Path, name: Option<&str>, progress: &dyn Fn(u64)) -> Result<Image> {
        let _ = (tarball, name, progress);
        todo!()
    }

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<Image>> {
        todo!()
    }

    /// Finds an image by name (short or qualified), full id, unique id
    /// prefix or `sha256:` digest.
    pub fn lookup(&self, name_or_id: &str) -> Result<Image> {
        let _ = name_or_id;
        todo!()
    }

    /// Adds `new_name` to an image, moving it away from any other image.
    pub fn tag(&self, image: &str, new_name: &str) -> Result<()> {
        let _ = (image, new_name);
        todo!()
    }

    /// Removes one name from an image; the image stays. Returns whether the
    /// image has no name left.
    pub fn untag(&self, image_id: &str, name: &str) -> Result<bool> {
        let _ = (image_id, name);
        todo!()
    }

    /// Deletes an image: its record, config and manifest blobs, and every
    /// layer no other image uses. Callers check that no container uses it.
    pub fn remove(&self, image_id: &str) -> Result<()> {
        let _ = image_id;
        todo!()
    }

    /// The image's OCI config (Entrypoint, Cmd, Env, WorkingDir, User...).
    pub fn config(&self, image: &Image) -> Result<ImageConfiguration> {
        let _ = image;
        todo!()
    }

    /// The directory that holds a container's upper, work and merged dirs.
    pub fn container_dir(&self, container_id: &str) -> PathBuf {
        self.root.join("containers").join(container_id)
    }

    /// Mounts the container's root filesystem (creating its upper and work
    /// dirs on first use) and returns the mount point. Mounting an already
    /// mounted container returns the same path.
    pub fn mount(&self, container_id: &str, image: &Image) -> Result<PathBuf> {
        let _ = (container_id, image);
        todo!()
    }

    /// Unmounts the container's root filesystem; succeeds when not mounted.
    pub fn unmount(&self, container_id: &str) -> Result<()> {
        let _ = container_id;
        todo!()
    }

    /// Whether the container's root filesystem is mounted now.
    pub fn is_mounted(&self, container_id: &str) -> bool {
        let _ = container_id;
        todo!()
    }

    /// Unmounts and deletes the container's upper, work and merged dirs.
    pub fn remove_container_fs(&self, container_id: &str) -> Result<()> {
        let _ = container_id;
        todo!()
    }
}
