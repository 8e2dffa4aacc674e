use std::path::PathBuf;

/// Errors of the runtime layer.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{}", runtime_not_found_message(name))]
    RuntimeNotFound { name: String },

    #[error(
        "conmon not found at {path}: install it with `apt-get install conmon` or set --conmon PATH"
    )]
    MonitorNotFound { path: PathBuf },

    /// The runtime's own words, quoted.
    #[error("{runtime} {op} {id}: {message}")]
    RuntimeFailed {
        runtime: String,
        op: &'static str,
        id: String,
        message: String,
    },

    #[error("{capability} cannot be granted: berth itself does not have it in its bounding set (see CapBnd in /proc/self/status)")]
    CapabilityUnavailable { capability: String },
    /// CRIU's own error line, quoted, with the log that has the rest.
    #[error("{runtime} {op} {id}: CRIU: {criu_message} (log: {})", log.display())]
    CriuFailed {
        runtime: String,
        op: &'static str,
        id: String,
        criu_message: String,
        log: PathBuf,
    },

    #[error("{version} is built without CRIU support (no +CRIU in `{runtime} --version`): create the container with --runtime runc to checkpoint it")]
    RuntimeWithoutCriu { runtime: String, version: String },

    #[error("CRIU not found in PATH: install CRIU 3.16 or newer (the repository's hack/install-criu.sh builds 4.1.1)")]
    CriuNotFound,

    #[error("{} (CRIU {version}) fails `criu check`: {message}: install a CRIU that supports this kernel (the repository's hack/install-criu.sh builds 4.1.1)", path.display())]
    CriuCheckFailed {
        path: PathBuf,
        version: String,
        message: String,
    },

    #[error("CRIU statistics file {} is truncated or not a CRIU image", path.display())]
    CriuStatsInvalid { path: PathBuf },

    #[error("conmon for container {id}: {message}")]
    MonitorFailed { id: String, message: String },

    #[error("conmon for container {id} did not report the container pid within {seconds} s")]
    MonitorTimedOut { id: String, seconds: u64 },

    #[error(
        "invalid signal {signal:?}: use a name (TERM, SIGKILL, RTMIN+3) or a number from 1 to 64"
    )]
    InvalidSignal { signal: String },

    #[error("{message}")]
    HostUnsupported { message: String },

    #[error(
        "unknown capability {capability:?}: use a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL"
    )]
    UnknownCapability { capability: String },

    #[error("unknown ulimit {name:?}: use one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack, as")]
    UnknownUlimit { name: String },

    #[error("invalid ulimit {name}={soft}:{hard}: the soft limit is above the hard limit")]
    UlimitSoftAboveHard { name: String, soft: u64, hard: u64 },

    #[error("ulimit {name}={requested} is above this process's hard limit RLIMIT_{} = {hard}: the runtime cannot raise it; use a value of at most {hard}", name.to_uppercase())]
    UlimitAboveHardLimit {
        name: String,
        requested: u64,
        hard: u64,
    },

    #[error("seccomp profile {path}: invalid JSON: {source}")]
    SeccompProfileInvalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("seccomp profile {path}: unknown {field} {value:?}")]
    SeccompProfileUnsupported {
        path: PathBuf,
        field: &'static str,
        value: String,
    },

    #[error("building the runtime spec failed: {source}")]
    SpecInvalid {
        #[source]
        source: oci_spec::OciSpecError,
    },

    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, OciError>;

impl OciError {
    /// Wraps an I/O error with the operation and the path it concerns.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        OciError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

impl From<oci_spec::OciSpecError> for OciError {
    fn from(source: oci_spec::OciSpecError) -> Self {
        OciError::SpecInvalid { source }
    }
}

fn runtime_not_found_message(name: &str) -> String {
    if name.contains('/') {
        format!("OCI runtime {name:?} not found: no executable file at that path")
    } else {
        format!("OCI runtime {name:?} not found: install it (`apt-get install {name}`) or pass --runtime PATH")
    }
}
