//! Subordinate id ranges from /etc/subuid and /etc/subgid (shadow-utils'
//! `NAME:START:COUNT` lines, where NAME may also be a numeric uid).
use std::path::Path;

use super::RootlessError;

/// One range of host ids the user may map into a user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub start: u32,
    pub count: u32,
}

/// Reads the ranges of `user` (or `uid`) from `file`, in file order.
/// `kind` (`uid` or `gid`) only names the ids in the error message.
pub(crate) fn read_ranges(
    file: &Path,
    user: &str,
    uid: u32,
    kind: &'static str,
) -> Result<Vec<IdRange>, RootlessError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(RootlessError::SubordinateIdsUnreadable {
                file: file.to_path_buf(),
                source,
            })
        }
    };
    let ranges = parse_ranges(&text, file, user, uid)?;
    if ranges.is_empty() {
        return Err(RootlessError::NoSubordinateIds {
            user: user.to_string(),
            uid,
            kind,
            file: file.to_path_buf(),
        });
    }
    Ok(ranges)
}

fn parse_ranges(
    text: &str,
    file: &Path,
    user: &str,
    uid: u32,
) -> Result<Vec<IdRange>, RootlessError> {
    let uid_text = uid.to_string();
    let mut ranges = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let invalid = || RootlessError::InvalidSubordinateIds {
            file: file.to_path_buf(),
            line: index + 1,
            text: line.to_string(),
        };
        let mut fields = line.split(':');
        let (Some(name), Some(start), Some(count), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(invalid());
        };
        if name != user && name != uid_text {
            continue;
        }
        let start = start.parse().map_err(|_| invalid())?;
        let count = count.parse().map_err(|_| invalid())?;
        if count > 0 {
            ranges.push(IdRange { start, count });
        }
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_name_or_uid() {
        let text = "alice:100000:65536\nbob:200000:65536\n1000:300000:10\n";
        let ranges = parse_ranges(text, Path::new("/etc/subuid"), "alice", 1000).unwrap();
        assert_eq!(
            ranges,
            vec![
                IdRange {
                    start: 100000,
                    count: 65536
                },
                IdRange {
                    start: 300000,
                    count: 10
                }
            ]
        );
    }

    #[test]
    fn ranges_skip_comments_and_other_users() {
        let text = "# comment\n\nbob:200000:65536\n";
        let ranges = parse_ranges(text, Path::new("/etc/subuid"), "alice", 1000).unwrap();
        assert!(ranges.is_empty());
    }

    #[test]
    fn malformed_line_rejected() {
        let error =
            parse_ranges("alice:x:65536\n", Path::new("/etc/subuid"), "alice", 1000).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid line 1 in /etc/subuid: \"alice:x:65536\": expected NAME:START:COUNT"
        );
    }

    #[test]
    fn missing_file_means_no_ranges() {
        let error =
            read_ranges(Path::new("/nonexistent/subuid"), "alice", 1000, "uid").unwrap_err();
        assert!(
            matches!(error, RootlessError::NoSubordinateIds { .. }),
            "{error}"
        );
    }
}
