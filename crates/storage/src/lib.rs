//! berth's image store.
//!
//! Layout under the storage root (`--root`):
//! - `blobs/sha256/<hex>`: content-addressed blobs (layer tarballs, image
//!   configs, manifests), written to a temporary name and renamed after the
//!   digest is verified;
//! - `layers/<chain-id-hex>/diff`: each layer unpacked once;
//! - `containers/<id>/{upper,work,merged}`: a container's writable layer and
//!   the mount point of its root filesystem;
//! - image and layer records in tables of `state.db`, the engine's SQLite
//!   file, through this crate's own connection.
#![deny(unsafe_code)]

mod archive;
mod changes;
mod commit;
mod container_diff;
mod copy;
mod db;
mod digest;
mod error;
mod fuse_overlay;
mod gc;
mod idmap;
mod import;
mod ingest;
mod lookup;
mod manifest;
mod metadata;
mod mount;
mod reference;
pub mod registry;
mod store;
#[cfg(test)]
mod test_support;
mod unpack;
mod userns;
mod xattr;

pub use archive::ArchiveFormat;
pub use changes::{Change, ChangeKind};
pub use commit::CommitOptions;
pub use error::{Result, StorageError};
pub use fuse_overlay::version as mount_program_version;
pub use idmap::{IdMapping, IdMappings};
pub use manifest::PlatformChoice;
pub use store::{Driver, Image, Store, StoreOptions};
