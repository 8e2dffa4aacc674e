use std::path::PathBuf;

use berth_network::NetworkError;
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

    #[error("no command or entrypoint given, and image {image} has no Cmd or Entrypoint: add a command after the image name")]
    NoCommand { image: String },

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

    /// Podman's words, which scripts look for.
    #[error("keep-id is only supported in rootless mode: as root, give the container a user namespace with --uidmap and --gidmap")]
    KeepIdNeedsRootless,

    #[error("--uidmap and --gidmap are not supported for rootless containers: their host ids would be ids of the pause process's user namespace, which berth does not translate; use --userns=keep-id to keep your own uid")]
    RootlessIdMaps,

    #[error("{feature} is not supported yet")]
    Unsupported { feature: String },

    /// The runtime could not find the command in the image (exit code 127).
    #[error("{message}: command not found in the image of container {name}")]
    CommandNotFound { name: String, message: String },

    /// The command exists but cannot be executed (exit code 126).
    #[error("{message}: the command of container {name} cannot be executed")]
    CommandNotExecutable { name: String, message: String },

    #[error("no command given to exec in container {name}: put the command and its arguments after the container name")]
    ExecCommandMissing { name: String },

    #[error("workdir {workdir:?} does not exist in container {name}: create it or choose another --workdir")]
    ExecWorkdirNotFound { name: String, workdir: String },

    #[error("no such exec session: {id}")]
    NoSuchExecSession { id: String },

    /// The runtime or CRIU cannot checkpoint or restore on this host.
    #[error("cannot {op} container {name}: {source}")]
    CheckpointUnavailable {
        op: &'static str,
        name: String,
        #[source]
        source: Box<OciError>,
    },

    #[error("container {name} ({id:.12}) has no checkpoint to restore: checkpoint it with `berth container checkpoint`, or restore from an archive with --import")]
    NoCheckpoint { id: String, name: String },

    #[error("checkpoint archive {}: {problem}", path.display())]
    CheckpointArchiveInvalid {
        path: PathBuf,
        problem: ArchiveProblem,
    },

    #[error("checkpoint archive {} needs image {image} ({image_id:.12}), which is not in this store: import or pull it first", path.display())]
    CheckpointImageMissing {
        path: PathBuf,
        image: String,
        image_id: String,
    },

    #[error("container {id:.12} of checkpoint archive {} already exists: remove it first, or restore a copy with --name", path.display())]
    ImportedContainerExists { id: String, path: PathBuf },

    #[error("unable to find user {user}: no matching entries in the container's {file}")]
    NoSuchUser { user: String, file: &'static str },

    #[error("unable to find group {group}: no matching entries in the container's /etc/group")]
    NoSuchGroup { group: String },

    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("network {network} is used by container {container}: remove the container first or use --force")]
    NetworkInUse { network: String, container: String },

    #[error("container {name} joins the network namespace of container {target}, which is not running: start {target} first")]
    NetworkContainerNotRunning { name: String, target: String },

    #[error(transparent)]
    Network(#[from] NetworkError),

    #[error("state database: {0}")]
    Database(#[from] rusqlite::Error),

    #[error(transparent)]
    Storage(#[from] StorageError),

    #[error(transparent)]
    Runtime(#[from] OciError),

    #[error(transparent)]
    Rootless(#[from] crate::rootless::RootlessError),

    /// A resource limit needs a cgroup the user owns, which a cgroup v1
    /// host never gives an ordinary user.
    #[error(
        "{option} needs a cgroup of the container's own, and an ordinary user cannot own one on \
         this cgroup {cgroup_version} host: run the container without {option}, or as root"
    )]
    RootlessResourceLimit {
        option: &'static str,
        cgroup_version: &'static str,
    },

    #[error(
        "host port {port} is below {first_unprivileged} \
         (net.ipv4.ip_unprivileged_port_start), which an ordinary user cannot bind: publish on \
         port {first_unprivileged} or above, e.g. -p {suggestion}:{container_port}"
    )]
    RootlessPrivilegedPort {
        port: u16,
        container_port: u16,
        first_unprivileged: u16,
        suggestion: u32,
    },

    /// An operation failed, and undoing its partial work failed too.
    #[error("{error} (cleanup also failed: {cleanup})")]
    WithCleanupFailure {
        error: Box<EngineError>,
        cleanup: Box<EngineError>,
    },
}

/// A problem of a checkpoint archive given to `restore --import`.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveProblem {
    #[error("it is corrupt or truncated: {reason}")]
    Corrupt { reason: String },

    #[error("{entry} is missing: the archive is truncated or was not written by `berth container checkpoint --export`")]
    Missing { entry: &'static str },

    #[error("unexpected entry {entry:?}: the archive was not written by `berth container checkpoint --export`")]
    UnexpectedEntry { entry: String },

    #[error("it has format version {found}, but this berth reads version {supported}: use a matching berth")]
    UnsupportedVersion { found: u32, supported: u32 },

    #[error("it was made on {archive}, but this host is {host}: restore it on an {archive} host")]
    WrongArchitecture { archive: String, host: String },
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
    fn exec_errors_name_the_container_and_the_fix() {
        let missing = EngineError::ExecCommandMissing { name: "web".into() };
        assert_eq!(
            missing.to_string(),
            "no command given to exec in container web: put the command and its arguments after the container name"
        );
        let workdir = EngineError::ExecWorkdirNotFound {
            name: "web".into(),
            workdir: "/nope".into(),
        };
        assert_eq!(
            workdir.to_string(),
            "workdir \"/nope\" does not exist in container web: create it or choose another --workdir"
        );
        assert_eq!(missing.exit_code(), 125);
        assert_eq!(workdir.exit_code(), 125);
    }

    #[test]
    fn wrong_architecture_message_names_both() {
        let error = EngineError::CheckpointArchiveInvalid {
            path: "/tmp/c.tar.zst".into(),
            problem: ArchiveProblem::WrongArchitecture {
                archive: "arm64".into(),
                host: "amd64".into(),
            },
        };
        assert_eq!(
            error.to_string(),
            "checkpoint archive /tmp/c.tar.zst: it was made on arm64, but this host is amd64: restore it on an arm64 host"
        );
        assert_eq!(error.exit_code(), 125);
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

    #[test]
    fn rootless_refusals_say_what_to_do() {
        let limit = EngineError::RootlessResourceLimit {
            option: "--memory",
            cgroup_version: "v1",
        };
        assert_eq!(
            limit.to_string(),
            "--memory needs a cgroup of the container's own, and an ordinary user cannot own one \
             on this cgroup v1 host: run the container without --memory, or as root"
        );
        let port = EngineError::RootlessPrivilegedPort {
            port: 80,
            container_port: 80,
            first_unprivileged: 1024,
            suggestion: 8080,
        };
        assert_eq!(
            port.to_string(),
            "host port 80 is below 1024 (net.ipv4.ip_unprivileged_port_start), which an ordinary \
             user cannot bind: publish on port 1024 or above, e.g. -p 8080:80"
        );
        assert_eq!(limit.exit_code(), 125);
        assert_eq!(port.exit_code(), 125);
    }
}
