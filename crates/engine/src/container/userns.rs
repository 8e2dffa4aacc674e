//! User namespaces of containers: `--userns`, `--uidmap` and `--gidmap`
//! at create time, and at init the /etc/passwd entry that `keep-id` adds.
//!
//! By default a container shares berth's user namespace: the host's for
//! root, the pause process's for an ordinary user. `--uidmap` (root only)
//! and `--userns=keep-id` (ordinary users only) give it a namespace of its
//! own. Its maps are recorded with the container, because its rootfs is
//! shifted by them (see the storage crate's `idmap.rs`).
use std::path::{Path, PathBuf};

use berth_oci::spec::{IdMap, MountSpec, UserNamespace};
use berth_storage::{IdMapping, IdMappings};
use tracing::debug;

use super::{Container, MountRequest};
use crate::{EngineError, Result};

/// The kernel's limit on lines in a uid or gid map (Linux 4.15 and later).
const MAX_MAP_LINES: usize = 340;

/// `--userns=keep-id`.
pub(crate) const KEEP_ID: &str = "keep-id";
/// The mode recorded for a container with `--uidmap`/`--gidmap`, as
/// Podman's inspect shows it.
pub(crate) const PRIVATE: &str = "private";

/// The user namespace choice of `create` for one container.
#[derive(Debug, Default)]
pub(crate) struct UsernsChoice {
    /// `""` for berth's own namespace, `keep-id` or `private`.
    pub mode: String,
    pub mappings: Option<IdMappings>,
    /// `UID:GID` the process runs as unless `-u` is given (keep-id).
    pub default_user: Option<String>,
}

/// Resolves `--userns`, `--uidmap` and `--gidmap`. Only `host` (the
/// default) exists for both kinds of user; `keep-id` only rootless, the
/// maps only for root.
pub(crate) fn resolve(
    userns: Option<&str>,
    uidmap: &[String],
    gidmap: &[String],
    rootless: bool,
) -> Result<UsernsChoice> {
    let userns = userns.unwrap_or("");
    if !uidmap.is_empty() || !gidmap.is_empty() {
        if !matches!(userns, "" | "host") {
            return Err(EngineError::InvalidOption {
                option: "--userns",
                value: userns.to_string(),
                reason: "it cannot be combined with --uidmap or --gidmap".into(),
            });
        }
        if rootless {
            return Err(EngineError::RootlessIdMaps);
        }
        let mut uids = parse_maps("--uidmap", uidmap)?;
        let mut gids = parse_maps("--gidmap", gidmap)?;
        // One map given alone is used for both, as in Podman.
        if uids.is_empty() {
            uids = gids.clone();
        }
        if gids.is_empty() {
            gids = uids.clone();
        }
        return Ok(UsernsChoice {
            mode: PRIVATE.into(),
            mappings: Some(IdMappings { uids, gids }),
            default_user: None,
        });
    }

    match userns {
        "" | "host" => Ok(UsernsChoice::default()),
        KEEP_ID if !rootless => Err(EngineError::KeepIdNeedsRootless),
        KEEP_ID => keep_id(),
        mode if mode == "auto" || mode == "nomap" || mode.starts_with("keep-id:") => {
            Err(EngineError::Unsupported {
                feature: format!("--userns={mode}"),
            })
        }
        other => Err(EngineError::InvalidOption {
            option: "--userns",
            value: other.to_string(),
            reason: "use host, or keep-id as an ordinary user".into(),
        }),
    }
}

/// Parses repeated `CONTAINER_ID:HOST_ID:AMOUNT` values and checks that
/// neither the container ranges nor the host ranges overlap.
fn parse_maps(option: &'static str, values: &[String]) -> Result<Vec<IdMapping>> {
    let mut mappings: Vec<IdMapping> = Vec::new();
    for value in values {
        let invalid = |reason: String| EngineError::InvalidOption {
            option,
            value: value.clone(),
            reason,
        };
        let mapping = parse_map(value).ok_or_else(|| {
            invalid(
                "expected CONTAINER_ID:HOST_ID:AMOUNT, three numbers with AMOUNT above 0, \
                 e.g. 0:100000:65536"
                    .into(),
            )
        })?;
        for earlier in &mappings {
            if overlaps(
                earlier.container_id,
                mapping.container_id,
                earlier,
                &mapping,
            ) {
                return Err(invalid(format!(
                    "its container ids overlap those of {}",
                    format_mapping(earlier)
                )));
            }
            if overlaps(earlier.host_id, mapping.host_id, earlier, &mapping) {
                return Err(invalid(format!(
                    "its host ids overlap those of {}",
                    format_mapping(earlier)
                )));
            }
        }
        mappings.push(mapping);
    }
    if mappings.len() > MAX_MAP_LINES {
        return Err(EngineError::InvalidOption {
            option,
            value: format!("{} ranges", mappings.len()),
            reason: format!("the kernel takes at most {MAX_MAP_LINES} ranges"),
        });
    }
    Ok(mappings)
}

fn parse_map(value: &str) -> Option<IdMapping> {
    let mut parts = value.split(':');
    let mut number = || parts.next()?.trim().parse::<u32>().ok();
    let mapping = IdMapping {
        container_id: number()?,
        host_id: number()?,
        size: number()?,
    };
    let fits = |start: u32| u64::from(start) + u64::from(mapping.size) <= u64::from(u32::MAX);
    let complete = parts.next().is_none();
    (complete && mapping.size > 0 && fits(mapping.container_id) && fits(mapping.host_id))
        .then_some(mapping)
}

/// Returns whether `[a, a + first.size)` and `[b, b + second.size)` overlap.
fn overlaps(a: u32, b: u32, first: &IdMapping, second: &IdMapping) -> bool {
    let (a, b) = (u64::from(a), u64::from(b));
    a < b + u64::from(second.size) && b < a + u64::from(first.size)
}

fn format_mapping(mapping: &IdMapping) -> String {
    format!(
        "{}:{}:{}",
        mapping.container_id, mapping.host_id, mapping.size
    )
}

/// Builds the keep-id maps for the user running berth: the user's uid and
/// gid keep their numbers, and the subordinate ids fill the rest from 0.
fn keep_id() -> Result<UsernsChoice> {
    let (uid, uid_count) = own_namespace_map("/proc/self/uid_map")?;
    let (gid, gid_count) = own_namespace_map("/proc/self/gid_map")?;
    Ok(UsernsChoice {
        mode: KEEP_ID.into(),
        mappings: Some(IdMappings {
            uids: keep_id_maps(uid, uid_count),
            gids: keep_id_maps(gid, gid_count),
        }),
        default_user: Some(format!("{uid}:{gid}")),
    })
}

/// Reads the map of the rootless user namespace this process joined and
/// returns the host id that namespace id 0 maps to (the user's own) and
/// the number of ids the namespace has.
fn own_namespace_map(path: &str) -> Result<(u32, u32)> {
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::io("read", path, e))?;
    let mut host_id = None;
    let mut count: u64 = 0;
    for line in text.lines() {
        let fields: Vec<u32> = line
            .split_whitespace()
            .filter_map(|field| field.parse().ok())
            .collect();
        if let [inside, outside, size] = fields[..] {
            if inside == 0 {
                host_id = Some(outside);
            }
            count += u64::from(size);
        }
    }
    let host_id = host_id.ok_or_else(|| {
        EngineError::io(
            "find id 0 in",
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the map has no line for id 0",
            ),
        )
    })?;
    Ok((host_id, count.min(u64::from(u32::MAX)) as u32))
}

/// Builds Podman's keep-id layout for id `id` in a namespace of `count` ids,
/// where id 0 is the user and 1 to count-1 are subordinate ids. Container
/// ids below `id` take the subordinate ids from 1, `id` takes 0, and the
/// ids above `id` keep their numbers.
fn keep_id_maps(id: u32, count: u32) -> Vec<IdMapping> {
    let subordinate = count.saturating_sub(1);
    let mut maps = Vec::new();
    let below = id.min(subordinate);
    if below > 0 {
        maps.push(IdMapping {
            container_id: 0,
            host_id: 1,
            size: below,
        });
    }
    maps.push(IdMapping {
        container_id: id,
        host_id: 0,
        size: 1,
    });
    if subordinate > id {
        maps.push(IdMapping {
            container_id: id + 1,
            host_id: id + 1,
            size: subordinate - id,
        });
    }
    maps
}

/// Converts `mappings` to the runtime spec's user namespace.
pub(crate) fn spec_namespace(mappings: &IdMappings) -> UserNamespace {
    let convert = |maps: &[IdMapping]| {
        maps.iter()
            .map(|m| IdMap {
                container_id: m.container_id,
                host_id: m.host_id,
                size: m.size,
            })
            .collect()
    };
    UserNamespace {
        uid_maps: convert(&mappings.uids),
        gid_maps: convert(&mappings.gids),
    }
}

/// Maps as Podman's inspect prints them: `CONTAINER_ID:HOST_ID:AMOUNT`.
pub(crate) fn inspect_maps(maps: &[IdMapping]) -> Vec<String> {
    maps.iter().map(format_mapping).collect()
}

/// Gives the bind-mounted /etc files to the container's root, so they
/// look as they do in a container without a user namespace.
pub(crate) fn chown_etc_files(mounts: &[MountSpec], mappings: &IdMappings) -> Result<()> {
    let (Some(uid), Some(gid)) = (mappings.host_uid(0), mappings.host_gid(0)) else {
        return Ok(());
    };
    for mount in mounts {
        if let MountSpec::Bind { source, .. } = mount {
            std::os::unix::fs::lchown(source, Some(uid), Some(gid))
                .map_err(|e| EngineError::io("change owner of", source, e))?;
        }
    }
    Ok(())
}

/// Adds search permission for everyone to `path` and each directory above
/// it that lacks it, as Podman does for containers with a user namespace.
/// The runtime sets up the rootfs and the bind mounts from inside that
/// namespace, where the container's root has no privilege over the host
/// root's directories, so a mode such as 0700 on any of them would stop it.
pub(crate) fn make_searchable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;

    for dir in path.ancestors().filter(|dir| *dir != Path::new("/")) {
        let meta = std::fs::metadata(dir).map_err(|e| EngineError::io("inspect", dir, e))?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o111 != 0o111 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o111))
                .map_err(|e| EngineError::io("add search permission to", dir, e))?;
            debug!(path = %dir.display(), mode = format!("{:o}", mode | 0o111), "made directory searchable for the container's root");
        }
    }
    Ok(())
}

/// The user a keep-id container adds to its /etc/passwd and /etc/group.
#[derive(Debug, Clone)]
pub(crate) struct KeepIdUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub group_name: String,
}

impl KeepIdUser {
    /// Looks up the user that `mappings` (keep-id's) keep, in the host's
    /// /etc/passwd and /etc/group.
    pub(crate) fn of(mappings: &IdMappings) -> Option<KeepIdUser> {
        let uid = mappings.uids.iter().find(|m| m.host_id == 0)?.container_id;
        let gid = mappings.gids.iter().find(|m| m.host_id == 0)?.container_id;
        let user = nix::unistd::User::from_uid(uid.into()).ok().flatten();
        let group = nix::unistd::Group::from_gid(gid.into()).ok().flatten();
        let name = user
            .as_ref()
            .map_or_else(|| uid.to_string(), |u| u.name.clone());
        Some(KeepIdUser {
            group_name: group.map_or_else(|| name.clone(), |g| g.name),
            gecos: user
                .as_ref()
                .map(|u| u.gecos.to_string_lossy().into_owned())
                .unwrap_or_default(),
            home: user
                .as_ref()
                .map(|u| u.dir.display().to_string())
                .unwrap_or_else(|| "/".into()),
            name,
            uid,
            gid,
        })
    }

    /// Picks the home directory in the container as Podman does: the
    /// user's own when a mount puts it (or a directory above it) there,
    /// else the working directory.
    pub(crate) fn home_in(&self, container: &Container) -> String {
        let home = Path::new(&self.home);
        let mounted = container.config.mounts.iter().any(|mount| {
            let destination = match mount {
                MountRequest::Bind { destination, .. }
                | MountRequest::Tmpfs { destination, .. } => destination,
            };
            let destination = Path::new(destination);
            destination != Path::new("/") && home.starts_with(destination)
        });
        if mounted {
            self.home.clone()
        } else {
            container.config.workdir.clone()
        }
    }
}

/// Adds the keep-id user to the container's /etc/passwd and its group to
/// /etc/group, where the image has those files without them. A writable
/// rootfs gets the lines appended, as Podman does; a read-only one gets
/// copies in `userdata`, which are returned as mounts.
pub(crate) fn add_keep_id_user(
    rootfs: &Path,
    userdata: &Path,
    user: &KeepIdUser,
    home: &str,
    read_only: bool,
    mappings: &IdMappings,
) -> Result<Vec<MountSpec>> {
    let passwd_line = format!(
        "{}:*:{}:{}:{}:{}:/bin/sh\n",
        user.name, user.uid, user.gid, user.gecos, home
    );
    let group_line = format!("{}:x:{}:{}\n", user.group_name, user.gid, user.name);
    let files = [
        (
            "passwd",
            passwd_line,
            user_listed(rootfs, "etc/passwd", &user.name, user.uid),
        ),
        (
            "group",
            group_line,
            user_listed(rootfs, "etc/group", &user.group_name, user.gid),
        ),
    ];
    let mut mounts = Vec::new();
    for (file, line, listed) in files {
        let in_rootfs = rootfs.join("etc").join(file);
        if listed || !in_rootfs.is_file() {
            continue;
        }
        let mut text = std::fs::read_to_string(&in_rootfs)
            .map_err(|e| EngineError::io("read", &in_rootfs, e))?;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&line);
        let target: PathBuf = if read_only {
            userdata.join(file)
        } else {
            in_rootfs.clone()
        };
        std::fs::write(&target, text).map_err(|e| EngineError::io("write", &target, e))?;
        if read_only {
            mounts.push(MountSpec::Bind {
                source: target,
                destination: format!("/etc/{file}"),
                read_only: false,
            });
        }
        debug!(file, user = %user.name, "added the keep-id user");
    }
    chown_etc_files(&mounts, mappings)?;
    Ok(mounts)
}

/// Returns whether /etc/passwd or /etc/group under `rootfs` has an entry
/// with `name` or `id`.
fn user_listed(rootfs: &Path, file: &str, name: &str, id: u32) -> bool {
    let Ok(text) = std::fs::read_to_string(rootfs.join(file)) else {
        return false;
    };
    let id = id.to_string();
    text.lines().any(|line| {
        let mut fields = line.split(':');
        let entry_name = fields.next();
        let entry_id = fields.nth(1);
        entry_name == Some(name) || entry_id == Some(id.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(container_id: u32, host_id: u32, size: u32) -> IdMapping {
        IdMapping {
            container_id,
            host_id,
            size,
        }
    }

    #[test]
    fn uidmap_parses_and_copies_to_gidmap() {
        let choice = resolve(None, &["0:100000:65536".into()], &[], false).unwrap();
        assert_eq!(choice.mode, "private");
        let mappings = choice.mappings.unwrap();
        assert_eq!(mappings.uids, vec![mapping(0, 100000, 65536)]);
        assert_eq!(mappings.gids, mappings.uids);
    }

    #[test]
    fn uidmap_rejects_malformed_values() {
        for value in [
            "foo",
            "0:100000",
            "0:100000:0",
            "0:1:2:3",
            "-1:0:1",
            "0:4294967295:2",
        ] {
            let error = resolve(None, &[value.into()], &[], false).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "invalid --uidmap {value:?}: expected CONTAINER_ID:HOST_ID:AMOUNT, three \
                     numbers with AMOUNT above 0, e.g. 0:100000:65536"
                ),
            );
        }
    }

    #[test]
    fn uidmap_rejects_overlapping_ranges() {
        let error = resolve(
            None,
            &["0:100000:1000".into(), "500:300000:10".into()],
            &[],
            false,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid --uidmap \"500:300000:10\": its container ids overlap those of 0:100000:1000"
        );
        let error = resolve(
            None,
            &[],
            &["0:100000:1000".into(), "2000:100999:10".into()],
            false,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid --gidmap \"2000:100999:10\": its host ids overlap those of 0:100000:1000"
        );
    }

    #[test]
    fn uidmap_rejected_rootless_and_with_userns() {
        let error = resolve(None, &["0:1:10".into()], &[], true).unwrap_err();
        assert!(matches!(error, EngineError::RootlessIdMaps), "{error}");
        let error = resolve(Some("keep-id"), &["0:1:10".into()], &[], false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid --userns \"keep-id\": it cannot be combined with --uidmap or --gidmap"
        );
    }

    #[test]
    fn keep_id_rejected_for_root() {
        let error = resolve(Some("keep-id"), &[], &[], false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "keep-id is only supported in rootless mode: as root, give the container a user \
             namespace with --uidmap and --gidmap"
        );
    }

    #[test]
    fn keep_id_maps_surround_the_user() {
        assert_eq!(
            keep_id_maps(1001, 65537),
            vec![
                mapping(0, 1, 1001),
                mapping(1001, 0, 1),
                mapping(1002, 1002, 64535)
            ]
        );
        // A uid above the subordinate range: every subordinate id maps
        // below it.
        assert_eq!(
            keep_id_maps(200000, 65537),
            vec![mapping(0, 1, 65536), mapping(200000, 0, 1)]
        );
    }
}
