//! Errors of running berth as an ordinary user.
use std::path::PathBuf;

/// Why berth cannot run containers for this user. Every variant says which
/// file, package or command fixes it.
#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    #[error(
        "user {user} (uid {uid}) has no subordinate {kind} range in {file}: add one as root, \
         e.g. `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}`"
    )]
    NoSubordinateIds {
        user: String,
        uid: u32,
        /// `uid` or `gid`.
        kind: &'static str,
        file: PathBuf,
    },

    #[error("invalid line {line} in {file}: {text:?}: expected NAME:START:COUNT")]
    InvalidSubordinateIds {
        file: PathBuf,
        line: usize,
        text: String,
    },

    #[error("cannot read {file}: {source}")]
    SubordinateIdsUnreadable {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{program} not found: berth needs it to map the user's subordinate ids; install the \
         uidmap package (`apt-get install uidmap`)"
    )]
    IdMapperNotFound { program: &'static str },

    #[error("{program} failed for the user namespace of process {pid}: {message}")]
    IdMapperFailed {
        program: &'static str,
        pid: i32,
        message: String,
    },

    #[error("cannot find the home directory of uid {uid}: set HOME or XDG_DATA_HOME")]
    NoHomeDirectory { uid: u32 },

    #[error(
        "cannot create {path}: {source}; make the directory writable for the user, or choose \
         another place with --root, --runroot, XDG_DATA_HOME or XDG_RUNTIME_DIR"
    )]
    DirectoryUnwritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{path} belongs to uid {owner}, not to uid {uid}, or is not a private directory: \
         remove it or set XDG_RUNTIME_DIR to a directory of your own"
    )]
    RuntimeDirectoryNotOwned { path: PathBuf, owner: u32, uid: u32 },

    #[error("cannot create the user namespace: {op}: {source}")]
    NamespaceCreateFailed {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot join the user namespace of the pause process {pid}: {op}: {source}")]
    NamespaceJoinFailed {
        pid: i32,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_subuid_message_names_file_and_fix() {
        let error = RootlessError::NoSubordinateIds {
            user: "alice".into(),
            uid: 1000,
            kind: "uid",
            file: "/etc/subuid".into(),
        };
        assert_eq!(
            error.to_string(),
            "user alice (uid 1000) has no subordinate uid range in /etc/subuid: add one as root, \
             e.g. `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice`"
        );
    }

    #[test]
    fn missing_newuidmap_message_names_package() {
        let error = RootlessError::IdMapperNotFound {
            program: "newuidmap",
        };
        assert_eq!(
            error.to_string(),
            "newuidmap not found: berth needs it to map the user's subordinate ids; install the \
             uidmap package (`apt-get install uidmap`)"
        );
    }
}
