//! Resolution of `-u USER[:GROUP]` against the container's /etc/passwd and
//! /etc/group.
use std::path::Path;

use crate::{EngineError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

/// Resolves `user` (`name`, `uid`, `name:group`, `uid:gid`) inside `rootfs`.
/// A numeric uid that is not in /etc/passwd is allowed, with gid 0 unless
/// given, as in Podman.
pub(crate) fn resolve(rootfs: &Path, user: &str) -> Result<ResolvedUser> {
    let passwd = read_passwd(&rootfs.join("etc/passwd"));
    let groups = read_groups(&rootfs.join("etc/group"));
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    // An empty user (`-u ''`, `-u :10`) means root, as in Podman.
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    check_id_range(user_part)?;
    if let Some(group) = group_part {
        check_id_range(group)?;
    }

    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|e| e.uid == uid),
        Err(_) => passwd.iter().find(|e| e.name == user_part),
    };
    let uid = match (user_part.parse::<u32>(), entry) {
        (Ok(uid), _) => uid,
        (Err(_), Some(entry)) => entry.uid,
        (Err(_), None) => {
            return Err(EngineError::NoSuchUser {
                user: user_part.to_string(),
                file: "/etc/passwd",
            })
        }
    };

    let gid = match group_part {
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups
                .iter()
                .find(|(name, _, _)| name == group)
                .map(|(_, gid, _)| *gid)
                .ok_or_else(|| EngineError::NoSuchGroup {
                    group: group.to_string(),
                })?,
        },
        None => entry.map(|e| e.gid).unwrap_or(0),
    };

    // The primary group is also a supplementary group, as with Docker and
    // Podman; memberships in /etc/group are added unless USER:GROUP forced
    // the group.
    let mut additional_gids = vec![gid];
    if let (None, Some(entry)) = (group_part, entry) {
        additional_gids.extend(
            groups
                .iter()
                .filter(|(_, g, members)| *g != gid && members.contains(&entry.name))
                .map(|(_, g, _)| *g),
        );
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

/// Rejects numeric ids outside 0..=2147483647 (and negative ones), which
/// the kernel would refuse later with a less clear error.
fn check_id_range(value: &str) -> Result<()> {
    let numeric = value.strip_prefix('-').unwrap_or(value);
    if numeric.is_empty() || !numeric.chars().all(|c| c.is_ascii_digit()) {
        return Ok(());
    }
    match value.parse::<i64>() {
        Ok(id) if (0..=i64::from(i32::MAX)).contains(&id) => Ok(()),
        _ => Err(EngineError::InvalidOption {
            option: "--user",
            value: value.to_string(),
            reason: "uids and gids must be in range 0-2147483647".into(),
        }),
    }
}

fn read_passwd(path: &Path) -> Vec<PasswdEntry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some(PasswdEntry {
                name: fields.first()?.to_string(),
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
            })
        })
        .collect()
}

fn read_groups(path: &Path) -> Vec<(String, u32, Vec<String>)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let members = fields
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Some((
                fields.first()?.to_string(),
                fields.get(2)?.parse().ok()?,
                members,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nberthuser:x:1000:1000::/home/berthuser:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:berthuser\nberthuser:x:1000:\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn resolve_name_gives_primary_and_supplementary_groups() {
        let dir = rootfs();
        let user = resolve(dir.path(), "berthuser").unwrap();
        assert_eq!(
            user,
            ResolvedUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![1000, 10]
            }
        );
    }

    #[test]
    fn resolve_numeric_user_not_in_passwd() {
        let dir = rootfs();
        assert_eq!(
            resolve(dir.path(), "4242").unwrap(),
            ResolvedUser {
                uid: 4242,
                gid: 0,
                additional_gids: vec![0]
            }
        );
        assert_eq!(resolve(dir.path(), "4242:7").unwrap().gid, 7);
    }

    #[test]
    fn resolve_unknown_name_is_an_error() {
        let dir = rootfs();
        let error = resolve(dir.path(), "nosuch").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unable to find user nosuch: no matching entries in the container's /etc/passwd"
        );
        let error = resolve(dir.path(), "berthuser:nogroup").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unable to find group nogroup: no matching entries in the container's /etc/group"
        );
    }

    #[test]
    fn resolve_empty_user_is_root() {
        let dir = rootfs();
        assert_eq!(resolve(dir.path(), "").unwrap().uid, 0);
        let user = resolve(dir.path(), ":10").unwrap();
        assert_eq!((user.uid, user.gid), (0, 10));
    }

    #[test]
    fn resolve_rejects_out_of_range_ids() {
        let dir = rootfs();
        for user in ["-1", "99999999999", "0:-5"] {
            let error = resolve(dir.path(), user).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("uids and gids must be in range 0-2147483647"),
                "{user}: {error}"
            );
        }
    }
}
