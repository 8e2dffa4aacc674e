//! Overlay details that differ inside a user namespace (rootless berth).
//!
//! A user namespace cannot set `trusted.*` xattrs, so an overlay mounted
//! there needs the `userxattr` option (Linux 5.11 and later), and then reads
//! its opaque-directory marks from `user.overlay.*` instead. A rootless
//! store therefore marks opaque directories with `user.overlay.opaque`.
use std::sync::OnceLock;

/// Returns whether this process is outside the initial user namespace,
/// whose uid map is the identity over every id. Read once per process.
pub(crate) fn in_user_namespace() -> bool {
    static IN_USER_NAMESPACE: OnceLock<bool> = OnceLock::new();
    *IN_USER_NAMESPACE.get_or_init(|| {
        std::fs::read_to_string("/proc/self/uid_map")
            .is_ok_and(|map| map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
    })
}

/// Returns the xattr that marks a directory as opaque in the overlay upper
/// and lower dirs of this process's stores.
pub(crate) fn opaque_xattr() -> &'static str {
    if in_user_namespace() {
        "user.overlay.opaque"
    } else {
        "trusted.overlay.opaque"
    }
}

/// Extra overlay mount options for this process: `,userxattr` inside a
/// user namespace.
pub(crate) fn overlay_extra_options() -> &'static str {
    if in_user_namespace() {
        ",userxattr"
    } else {
        ""
    }
}
