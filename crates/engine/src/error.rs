use std::path::PathBuf;

use berth_oci::OciError;
use berth_storage::StorageError;

/// Errors of the engine, the library API's error type.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no such container: {name_or_id}")]
    NoSuchContainer { name_or_id: String },

    #[error("container id prefix {prefix} is ambiguous: it matches {count} containers, give more characters")]
    AmbiguousContainer { prefix: String, count: usize },

    #[error("the container name {name:?} is already in use by {id:.12}: remove that container or choose another name")]
    NameInUse { name: String, id: String },

    #[error("invalid container name {name:?}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    InvalidName { name: String },

    #[error("container {name} ({id:.12}) is {state}: cannot {op}{hint}")]
    InvalidState {
        id: String,
        name: String,
        state: &'static str,
        op: &'static str,
        hint: &'static str,
    },

    #[error("image {image} is in use by container {container:.12}: remove the container first or use --force")]
    ImageInUse { image: String, container: String },

    #[error("invalid {option} {value:?}: {reason}")]
    InvalidOption {
        option: &'static str,
        value: String,
        reason: String,
    },

    #[error("container {name} is still running {seconds} s after SIGKILL: check `ps` for processes stuck in the kernel (state D)")]
    StopTimedOut { name: String, seconds: u64 },

    #[error("sending signal {signal} to container {name} failed: {source}")]
    Signal {
        name: String,
        signal: i32,
        #[source]
        source: std::io::Error,
    },

    #[error("{feature} is not supported yet")]
    Unsupported { feature: String },

    /// The runtime could not find the command in the image (exit code 127).
    #[error("{message}: command not found in the image of container {name}")]
    CommandNotFound { name: String, message: String },

    /// The command exists but cannot be executed (exit code 126).
    #[error("{message}: the command of container {name} cannot be executed")]
    CommandNotExecutable { name: String, message: String },

    #[error("unable to find user {user}: no matching entries in the container's {file}")]
    NoSuchUser { user: String, file: &'static str },

    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("state database: {0}")]
    Database(#[from] rusqlite::Error),

    #[error(transparent)]
    Storage(#[from] StorageError),

    #[error(transparent)]
    Runtime(#[from] OciError),

    /// An operation failed, and undoing its partial work failed too.
    #[error("{error} (cleanup also failed: {cleanup})")]
    WithCleanupFailure {
        error: Box<EngineError>,
        cleanup: Box<EngineError>,
    },
}

impl EngineError {
    /// The exit code Podman uses for this error: 126 and 127 when the
    /// container's command cannot be run, 125 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::CommandNotFound { .. } => 127,
            EngineError::CommandNotExecutable { .. } => 126,
            EngineError::WithCleanupFailure { error, .. } => error.exit_code(),
            _ => 125,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_in_use_message_names_the_owner() {
        let error = EngineError::NameInUse {
            name: "web".into(),
            id: "0123456789abcdef0123".into(),
        };
        assert_eq!(
            error.to_string(),
            "the container name \"web\" is already in use by 0123456789ab: remove that container or choose another name"
        );
    }

    #[test]
    fn signal_message_names_container_and_signal() {
        let error = EngineError::Signal {
            name: "web".into(),
            signal: 15,
            source: std::io::Error::from_raw_os_error(libc::EPERM),
        };
        assert_eq!(
            error.to_string(),
            "sending signal 15 to container web failed: Operation not permitted (os error 1)"
        );
    }

    #[test]
    fn command_errors_map_to_podman_exit_codes() {
        let not_found = EngineError::CommandNotFound {
            name: "a".into(),
            message: "m".into(),
        };
        let not_executable = EngineError::CommandNotExecutable {
            name: "a".into(),
            message: "m".into(),
        };
        assert_eq!(not_found.exit_code(), 127);
        assert_eq!(not_executable.exit_code(), 126);
        assert_eq!(
            EngineError::NoSuchContainer {
                name_or_id: "x".into()
            }
            .exit_code(),
            125
        );
    }
}
