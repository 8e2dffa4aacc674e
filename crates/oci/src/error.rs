use std::path::PathBuf;

/// Errors of the runtime layer.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("OCI runtime {name:?} not found: install it (`apt-get install {name}`) or pass --runtime PATH")]
    RuntimeNotFound { name: String },

    #[error("conmon not found at {path}: install it with `apt-get install conmon` or set --conmon PATH")]
    MonitorNotFound { path: PathBuf },

    /// The runtime's own words, quoted.
    #[error("{runtime} {op} {id}: {message}")]
    RuntimeFailed {
        runtime: String,
        op: &'static str,
        id: String,
        message: String,
    },

    #[error("conmon for container {id}: {message}")]
    MonitorFailed { id: String, message: String },

    #[error("conmon for container {id} did not report the container pid within {seconds} s")]
    MonitorTimedOut { id: String, seconds: u64 },

    #[error("invalid signal {signal:?}: use a name (TERM, SIGKILL, RTMIN+3) or a number from 1 to 64")]
    InvalidSignal { signal: String },

    #[error("{message}")]
    HostUnsupported { message: String },

    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, OciError>;
