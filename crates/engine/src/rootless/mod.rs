//! Running berth as an ordinary user ("rootless"), as Podman does.
//!
//! A pause process holds a user namespace, in which the user's uid is 0
//! and the ranges of /etc/subuid and /etc/subgid follow from 1, and a
//! mount namespace owned by it. Every berth command of that user joins
//! both namespaces ([`enter`]) before it opens the engine, so overlay
//! mounts, conmon and the runtime all live there and all of the user's
//! containers share one id mapping. conmon's exit command inherits the
//! namespaces and finds itself already inside.
//!
//! Paths follow the XDG base directories: the root under
//! `$XDG_DATA_HOME/berth`, the run root under `$XDG_RUNTIME_DIR/berth`
//! (or a private directory under /tmp), configuration under
//! `$XDG_CONFIG_HOME/berth`.
mod error;
mod namespace;
mod paths;
mod subid;

pub use error::RootlessError;
pub use namespace::{enter, run_pause_process, PAUSE_PROCESS_ENV};
pub use paths::{default_paths, RootlessPaths};
pub use subid::IdRange;

/// Set in the environment of a berth process that joined the user
/// namespace, to the user's uid on the host. conmon passes it on to the
/// exit command, which then knows it runs rootless although its uid is 0.
pub const ROOTLESS_UID_ENV: &str = "_BERTH_ROOTLESS_UID";

/// Whether this process runs berth for an ordinary user: its effective
/// uid is not 0, or it is uid 0 inside the user namespace a rootless
/// berth made (see [`ROOTLESS_UID_ENV`]).
pub fn is_rootless() -> bool {
    !nix::unistd::geteuid().is_root() || joined_uid().is_some()
}

/// The user's uid on the host: the effective uid before joining the user
/// namespace, [`ROOTLESS_UID_ENV`] inside it.
pub fn host_uid() -> u32 {
    joined_uid().unwrap_or_else(|| nix::unistd::geteuid().as_raw())
}

/// The host uid from [`ROOTLESS_UID_ENV`] when this process is uid 0 in a
/// user namespace other than the initial one.
fn joined_uid() -> Option<u32> {
    if !nix::unistd::geteuid().is_root() || !in_user_namespace() {
        return None;
    }
    std::env::var(ROOTLESS_UID_ENV).ok()?.parse().ok()
}

/// Whether this process is outside the initial user namespace, whose uid
/// map is the identity over every id.
pub(crate) fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        Err(_) => false,
    }
}
