use std::path::PathBuf;

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("image not found: {name_or_id}: import it with `berth import` or check `berth images`")]
    NoSuchImage { name_or_id: String },

    #[error("image id prefix {prefix} is ambiguous: it matches {count} images, give more characters")]
    AmbiguousImage { prefix: String, count: usize },

    #[error("invalid image name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },

    #[error("{path}: not a tar archive (plain, gzip or zstd): {reason}")]
    NotATarball { path: PathBuf, reason: String },

    #[error("{path}: unsafe entry {entry:?} in archive: {reason}")]
    UnsafeEntry { path: PathBuf, entry: String, reason: String },

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
