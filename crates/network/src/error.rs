//! Errors of the network layer.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("invalid {option} {value:?}: {reason}")]
    InvalidOption {
        option: &'static str,
        value: String,
        reason: String,
    },

    #[error("slirp4netns not found: rootless containers need it for their network; install the slirp4netns package (`apt-get install slirp4netns`) or use --network none")]
    Slirp4netnsNotFound,

    #[error("slirp4netns failed for container {container_id:.12}: {message}")]
    Slirp4netnsFailed {
        container_id: String,
        message: String,
    },

    #[error(
        "cannot publish {mapping} for container {container_id:.12}: slirp4netns replied: {message}"
    )]
    PortForwardFailed {
        container_id: String,
        mapping: String,
        message: String,
    },

    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, NetworkError>;
