use std::path::PathBuf;

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("image not found: {name_or_id}: pull, load or import it, or check `berth images`")]
    NoSuchImage { name_or_id: String },

    #[error(
        "image id prefix {prefix} is ambiguous: it matches {count} images, give more characters"
    )]
    AmbiguousImage { prefix: String, count: usize },

    #[error(
        "image name {name} is ambiguous: it matches {}, give the fully qualified name",
        candidates.join(", ")
    )]
    AmbiguousName {
        name: String,
        candidates: Vec<String>,
    },

    #[error("invalid image name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },

    #[error("image {image_id} is not tagged {name}: check the names with `berth images`")]
    NotTagged { image_id: String, name: String },

    #[error("{path}: not a tar archive (plain, gzip or zstd): {reason}")]
    NotATarball { path: PathBuf, reason: String },

    #[error("{path}: unsafe entry {entry:?} in archive: {reason}")]
    UnsafeEntry {
        path: PathBuf,
        entry: String,
        reason: String,
    },

    #[error("image {image_id}: layer {chain_id} is missing from {path}: remove the image and import it again")]
    MissingLayer {
        image_id: String,
        chain_id: String,
        path: PathBuf,
    },

    #[error("image {image_id}: invalid config blob {path}: {source}")]
    InvalidConfig {
        image_id: String,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("container {container_id}: overlay mount options for {layers} layers are {len} bytes, over the kernel limit of {max}: use an image with fewer layers")]
    OverlayOptionsTooLong {
        container_id: String,
        layers: usize,
        len: usize,
        max: usize,
    },

    #[error("storage root {path} contains a ',' or ':', which overlay mount options cannot carry: choose another --root")]
    UnsupportedRootPath { path: PathBuf },

    #[error("mount {path} idmapped: {step} failed: {source}; idmapped mounts need Linux 5.12 or later and a filesystem that supports them")]
    IdmappedMountFailed {
        path: PathBuf,
        step: &'static str,
        #[source]
        source: nix::Error,
    },

    #[error("creating a user namespace for an idmapped mount failed: {step}: {source}")]
    UserNamespaceFailed {
        step: &'static str,
        #[source]
        source: nix::Error,
    },

    #[error("{path} is owned by uid {uid} gid {gid}, which the container's --uidmap/--gidmap does not cover: map every id the image uses")]
    UnmappedOwner { path: PathBuf, uid: u32, gid: u32 },

    #[error("container {container_id}: mount overlay on {path}: {source}")]
    MountFailed {
        container_id: String,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },

    #[error("container {container_id}: mount overlay with {program}: {message}")]
    MountProgramFailed {
        container_id: String,
        program: PathBuf,
        message: String,
    },

    #[error("overlay mount program {program} cannot be used: {reason}")]
    MountProgramUnusable { program: PathBuf, reason: String },

    #[error("storage root {root} mounts overlays with {recorded}, not {requested}: drop --storage-opt overlay.mount_program, give {recorded}, or use another --root")]
    MountProgramMismatch {
        root: PathBuf,
        recorded: PathBuf,
        requested: PathBuf,
    },

    #[error(
        "container {container_id}: unmount {path}: {source}: stop processes using it and retry"
    )]
    UnmountFailed {
        container_id: String,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },

    #[error("container {container_id}: its root filesystem is a full copy (the vfs driver, used where overlay mounts fail), which keeps no record of changes to export: use --ignore-rootfs")]
    ContainerDiffUnsupported { container_id: String },

    #[error("invalid container id {container_id:?}: it must be one path component")]
    InvalidContainerId { container_id: String },

    #[error("image database {path} has schema version {found}, but this berth supports up to {supported}: use a newer berth")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error(
        "{reference}: manifest unknown: the registry has no image of that name and tag or digest"
    )]
    ManifestNotFound { reference: String },

    #[error("image not found: {name}: no registry in the unqualified-search list has it (tried {}): give the fully qualified name, e.g. 127.0.0.1:5000/{name}", tried.join(", "))]
    ShortNameNotFound { name: String, tried: Vec<String> },

    #[error("{reference}: authentication required or refused by {registry} (HTTP {status}): log in with `berth login {registry}` or pass --creds")]
    Unauthorized {
        reference: String,
        registry: String,
        status: u16,
    },

    #[error("{reference}: {op} failed: registry {registry} returned HTTP {status}: {message}")]
    RegistryStatus {
        reference: String,
        registry: String,
        op: &'static str,
        status: u16,
        message: String,
    },

    #[error("registry {registry} is unreachable after {attempts} attempts: {reason}")]
    RegistryUnreachable {
        registry: String,
        attempts: u32,
        reason: String,
    },

    #[error("{reference}: {what} {expected} has digest {actual}: the content is corrupt or was tampered with, so it was not stored")]
    DigestMismatch {
        reference: String,
        what: &'static str,
        expected: String,
        actual: String,
    },

    #[error("{reference}: invalid manifest: {reason}")]
    InvalidManifest { reference: String, reason: String },

    #[error("{reference}: unsupported media type {media_type:?} for the {what}")]
    UnsupportedMediaType {
        reference: String,
        what: &'static str,
        media_type: String,
    },

    #[error("{reference}: no image for platform {platform} in the manifest list; it has {}", available.join(", "))]
    NoMatchingPlatform {
        reference: String,
        platform: String,
        available: Vec<String>,
    },

    #[error("invalid {option} {value:?}: {reason}")]
    InvalidOption {
        option: &'static str,
        value: String,
        reason: String,
    },

    #[error("{path}: invalid credentials file: {reason}")]
    InvalidAuthFile { path: PathBuf, reason: String },

    #[error("not logged in to {registry}")]
    NotLoggedIn { registry: String },

    #[error("{path}: invalid archive: {reason}")]
    InvalidArchive { path: PathBuf, reason: String },

    #[error("{operation} needs the overlay storage driver, but this store uses {driver}")]
    UnsupportedWithDriver {
        operation: &'static str,
        driver: &'static str,
    },

    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("image database: {0}")]
    Database(#[from] rusqlite::Error),
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// Builds a closure that wraps an `io::Error` as [`StorageError::Io`] for
/// `op` on `path`, for use with `map_err`.
pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.into();
    move |source| StorageError::Io { op, path, source }
}

/// The longest archive error text quoted in a message.
const MAX_REASON_CHARS: usize = 200;

/// Turns an error from reading an archive into a one-line reason. The tar
/// parser quotes raw header bytes, so control characters are escaped and
/// long texts are cut.
pub(crate) fn archive_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let mut reason = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_REASON_CHARS {
            reason.push_str("...");
            break;
        }
        if c.is_control() {
            reason.extend(c.escape_default());
        } else {
            reason.push(c);
        }
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_such_image_says_how_to_get_one() {
        let err = StorageError::NoSuchImage {
            name_or_id: "busybox".into(),
        };
        assert_eq!(
            err.to_string(),
            "image not found: busybox: pull, load or import it, or check `berth images`"
        );
    }

    #[test]
    fn ambiguous_prefix_names_count() {
        let err = StorageError::AmbiguousImage {
            prefix: "ab".into(),
            count: 2,
        };
        assert_eq!(
            err.to_string(),
            "image id prefix ab is ambiguous: it matches 2 images, give more characters"
        );
    }

    #[test]
    fn ambiguous_name_lists_candidates() {
        let err = StorageError::AmbiguousName {
            name: "busybox".into(),
            candidates: vec![
                "docker.io/library/busybox:latest".into(),
                "quay.io/busybox:latest".into(),
            ],
        };
        assert_eq!(
            err.to_string(),
            "image name busybox is ambiguous: it matches docker.io/library/busybox:latest, \
             quay.io/busybox:latest, give the fully qualified name"
        );
    }

    #[test]
    fn unsafe_entry_names_archive_and_entry() {
        let err = StorageError::UnsafeEntry {
            path: "/tmp/rootfs.tar".into(),
            entry: "../evil".into(),
            reason: "path escapes the layer directory".into(),
        };
        assert_eq!(
            err.to_string(),
            "/tmp/rootfs.tar: unsafe entry \"../evil\" in archive: path escapes the layer directory"
        );
    }

    #[test]
    fn not_a_tarball_names_file_and_reason() {
        let err = StorageError::NotATarball {
            path: "/tmp/x".into(),
            reason: "xz compression is not supported, decompress it first".into(),
        };
        assert_eq!(
            err.to_string(),
            "/tmp/x: not a tar archive (plain, gzip or zstd): xz compression is not supported, \
             decompress it first"
        );
    }

    #[test]
    fn overlay_options_too_long_says_limit() {
        let err = StorageError::OverlayOptionsTooLong {
            container_id: "c1".into(),
            layers: 70,
            len: 5000,
            max: 4095,
        };
        assert_eq!(
            err.to_string(),
            "container c1: overlay mount options for 70 layers are 5000 bytes, over the kernel \
             limit of 4095: use an image with fewer layers"
        );
    }

    #[test]
    fn io_error_names_operation_and_path() {
        let err = io_err("create directory", "/var/lib/berth/layers")(
            std::io::Error::from_raw_os_error(libc::EACCES),
        );
        assert_eq!(
            err.to_string(),
            "create directory /var/lib/berth/layers: Permission denied (os error 13)"
        );
    }

    #[test]
    fn archive_reason_escapes_and_cuts() {
        let err = std::io::Error::other(format!("bad field: \u{1}\n{}", "x".repeat(300)));
        // 200 input characters: 11 of text, 2 control characters, 187 x.
        let expected = format!("bad field: \\u{{1}}\\n{}...", "x".repeat(187));
        assert_eq!(archive_reason(&err), expected);
    }

    #[test]
    fn not_tagged_names_image_and_name() {
        let err = StorageError::NotTagged {
            image_id: "0123456789ab".into(),
            name: "localhost/foo:1".into(),
        };
        assert_eq!(
            err.to_string(),
            "image 0123456789ab is not tagged localhost/foo:1: check the names with `berth images`"
        );
    }
}
