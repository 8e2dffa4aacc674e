//! Image names (references) in the form Podman and Docker use:
//! `[registry/]path[:tag]`, where a short name gets the `localhost`
//! registry and the `latest` tag.

use std::fmt;

use crate::{Result, StorageError};

/// The registry given to names without one, as `podman import` and
/// `podman tag` do.
pub(crate) const DEFAULT_REGISTRY: &str = "localhost";
pub(crate) const DEFAULT_TAG: &str = "latest";
/// The longest repository name (registry and path) Docker accepts.
const MAX_REPOSITORY_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed, fully qualified image name such as `localhost/busybox:latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// Registry host with an optional port, e.g. `quay.io` or `localhost:5000`.
    pub registry: String,
    /// Slash-separated repository path, e.g. `library/busybox`.
    pub path: String,
    pub tag: String,
    /// Whether the input named a registry; lookups of a short name also
    /// match images from any registry.
    pub registry_given: bool,
    /// Whether the input named a tag.
    pub tag_given: bool,
}

impl Reference {
    /// Parses and normalizes `name`: `busybox` becomes
    /// `localhost/busybox:latest`, `docker.io/busybox` becomes
    /// `docker.io/library/busybox:latest`.
    pub fn parse(name: &str) -> Result<Reference> {
        let invalid = |reason: &str| StorageError::InvalidName {
            name: name.to_string(),
            reason: reason.to_string(),
        };

        if name.is_empty() {
            return Err(invalid("the name is empty"));
        }
        if name.contains('@') {
            return Err(invalid(
                "digest references are not supported here, give a tag instead",
            ));
        }

        // The tag follows the last ':' after the last '/', so the port in
        // `localhost:5000/foo` is not taken for a tag.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };

        let (registry, path, registry_given) = match repository.split_once('/') {
            Some((first, rest)) if is_registry(first) => (first, rest.to_string(), true),
            _ => (DEFAULT_REGISTRY, repository.to_string(), false),
        };
        let path = if registry == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };

        validate_registry(registry).map_err(invalid)?;
        validate_path(&path).map_err(invalid)?;
        if registry.len() + 1 + path.len() > MAX_REPOSITORY_LEN {
            return Err(invalid("the repository name is longer than 255 characters"));
        }
        if let Some(tag) = tag {
            validate_tag(tag).map_err(invalid)?;
        }

        Ok(Reference {
            registry: registry.to_string(),
            path,
            tag: tag.unwrap_or(DEFAULT_TAG).to_string(),
            registry_given,
            tag_given: tag.is_some(),
        })
    }

    /// Parses `NAME[:TAG]` or `NAME@sha256:HEX` as `pull` takes it.
    /// Returns the name (tag `latest` when only a digest is given) and the
    /// digest.
    pub fn parse_with_digest(input: &str) -> Result<(Reference, Option<String>)> {
        let Some((name, digest)) = input.split_once('@') else {
            return Ok((Reference::parse(input)?, None));
        };
        let valid = digest
            .strip_prefix("sha256:")
            .is_some_and(crate::digest::is_sha256_hex);
        if !valid {
            return Err(StorageError::InvalidName {
                name: input.to_string(),
                reason: "the digest after '@' must be sha256: and 64 lowercase hex characters"
                    .into(),
            });
        }
        Ok((Reference::parse(name)?, Some(digest.to_string())))
    }

    /// The repository without its tag, e.g. `localhost/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.path, self.tag)
    }
}

/// Normalizes a name given by the user to its fully qualified form.
pub(crate) fn normalize(name: &str) -> Result<String> {
    Ok(Reference::parse(name)?.to_string())
}

/// Whether the first component of a name is a registry host, by Docker's
/// rule: it contains a '.' or a ':' or is `localhost`.
fn is_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn validate_registry(registry: &str) -> std::result::Result<(), &'static str> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the registry port must be a number");
        }
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !host.split('.').all(label_ok) {
        return Err("the registry must be a host name of letters, digits, '-' and '.'");
    }
    Ok(())
}

/// Checks each path component against Docker's grammar:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn validate_path(path: &str) -> std::result::Result<(), &'static str> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err("the repository path has an empty component");
        }
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("the repository name must be lowercase");
        }
        if !component_is_valid(component.as_bytes()) {
            return Err(
                "each repository path component must be lowercase letters and digits, \
                 separated by '.', '_', '__' or dashes",
            );
        }
    }
    Ok(())
}

fn component_is_valid(component: &[u8]) -> bool {
    let alphanumeric = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        // A run of letters and digits.
        let start = i;
        while i < component.len() && alphanumeric(component[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == component.len() {
            return true;
        }
        // One separator: '.', '_', '__' or one or more '-'.
        match component[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if component.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while component.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

fn validate_tag(tag: &str) -> std::result::Result<(), &'static str> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if bytes.is_empty() {
        return Err("the tag after ':' is empty");
    }
    if bytes.len() > MAX_TAG_LEN {
        return Err("the tag is longer than 128 characters");
    }
    if !word(bytes[0])
        || !bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-')
    {
        return Err(
            "the tag must be letters, digits, '_', '.' and '-', not starting with '.' or '-'",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_table() {
        let cases = [
            ("busybox", "localhost/busybox:latest"),
            ("busybox:1.36", "localhost/busybox:1.36"),
            ("foo:1", "localhost/foo:1"),
            ("localhost/foo", "localhost/foo:latest"),
            ("library/busybox", "localhost/library/busybox:latest"),
            ("quay.io/a/b", "quay.io/a/b:latest"),
            ("quay.io/a/b:v2", "quay.io/a/b:v2"),
            ("docker.io/busybox", "docker.io/library/busybox:latest"),
            ("docker.io/user/app:x", "docker.io/user/app:x"),
            ("localhost:5000/foo", "localhost:5000/foo:latest"),
            ("localhost:5000/foo:2", "localhost:5000/foo:2"),
            (
                "my-reg.example.com/team/app",
                "my-reg.example.com/team/app:latest",
            ),
            ("a__b/c---d.e_f", "localhost/a__b/c---d.e_f:latest"),
            ("foo:V1_beta-2.x", "localhost/foo:V1_beta-2.x"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input).unwrap(), expected, "input {input:?}");
        }
    }

    #[test]
    fn normalize_rejects_invalid_names() {
        let cases = [
            ("", "the name is empty"),
            ("BusyBox", "the repository name must be lowercase"),
            ("quay.io/A/b", "the repository name must be lowercase"),
            ("foo:", "the tag after ':' is empty"),
            (
                "foo:.x",
                "the tag must be letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            ),
            (
                "foo:-x",
                "the tag must be letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            ),
            ("foo//bar", "the repository path has an empty component"),
            ("foo/", "the repository path has an empty component"),
            ("localhost:abc/foo", "the registry port must be a number"),
            (
                "foo@sha256:00",
                "digest references are not supported here, give a tag instead",
            ),
        ];
        for (input, reason) in cases {
            match normalize(input) {
                Err(StorageError::InvalidName { name, reason: got }) => {
                    assert_eq!(name, input);
                    assert_eq!(got, reason, "input {input:?}");
                }
                other => panic!("input {input:?}: expected InvalidName, got {other:?}"),
            }
        }
    }

    #[test]
    fn component_grammar_rejects_bad_separators() {
        for bad in ["a..b", "a___b", "-a", "a-", "a.", "_a", "a b", "a+b"] {
            assert!(
                !component_is_valid(bad.as_bytes()),
                "{bad:?} should be invalid"
            );
        }
        for good in ["a", "a.b", "a_b", "a__b", "a-b", "a--b", "0"] {
            assert!(
                component_is_valid(good.as_bytes()),
                "{good:?} should be valid"
            );
        }
    }

    #[test]
    fn tag_longer_than_128_rejected() {
        let name = format!("foo:{}", "a".repeat(129));
        assert!(matches!(
            normalize(&name),
            Err(StorageError::InvalidName { .. })
        ));
        let name = format!("foo:{}", "a".repeat(128));
        assert_eq!(
            normalize(&name).unwrap(),
            format!("localhost/foo:{}", "a".repeat(128))
        );
    }

    #[test]
    fn parse_with_digest_splits_name_and_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let (reference, found) =
            Reference::parse_with_digest(&format!("127.0.0.1:5000/bb@{digest}")).unwrap();
        assert_eq!(reference.repository(), "127.0.0.1:5000/bb");
        assert_eq!(found, Some(digest));
        let (reference, found) = Reference::parse_with_digest("bb:1").unwrap();
        assert_eq!(reference.tag, "1");
        assert_eq!(found, None);
        assert!(Reference::parse_with_digest("bb@sha256:abc").is_err());
    }

    #[test]
    fn parse_records_what_was_given() {
        let short = Reference::parse("busybox").unwrap();
        assert!(!short.registry_given);
        assert!(!short.tag_given);
        assert_eq!(short.repository(), "localhost/busybox");

        let full = Reference::parse("quay.io/a/b:1").unwrap();
        assert!(full.registry_given);
        assert!(full.tag_given);
        assert_eq!(full.repository(), "quay.io/a/b");
    }
}
