//! Resolving what a user typed (a name, an id, an id prefix or a digest)
//! to one image, in the order Podman tries them.

use crate::digest::{is_lower_hex, is_sha256_hex};
use crate::reference::Reference;
use crate::{Image, Result, StorageError};

/// Finds the image `input` names among `images`. Tried in order: full id,
/// `sha256:` id or manifest digest, `name@sha256:` digest, name (a short
/// name also matches the same path and tag under any registry), unique id
/// prefix.
pub(crate) fn resolve<'a>(images: &'a [Image], input: &str) -> Result<&'a Image> {
    let not_found = || StorageError::NoSuchImage {
        name_or_id: input.to_string(),
    };

    if is_sha256_hex(input) {
        if let Some(image) = images.iter().find(|image| image.id == input) {
            return Ok(image);
        }
    }

    if let Some(hex) = input.strip_prefix("sha256:") {
        if !is_lower_hex(hex) {
            return Err(not_found());
        }
        if let Some(image) = images
            .iter()
            .find(|image| image.id == hex || image.digest == input)
        {
            return Ok(image);
        }
        return by_id_prefix(images, hex).and_then(|found| found.ok_or_else(not_found));
    }

    if let Some((name, digest)) = input.split_once('@') {
        let reference = Reference::parse(name)?;
        return images
            .iter()
            .find(|image| {
                image.digest == digest && image.names.iter().any(|n| same_repository(n, &reference))
            })
            .ok_or_else(not_found);
    }

    if let Ok(reference) = Reference::parse(input) {
        if let Some(image) = by_name(images, input, &reference)? {
            return Ok(image);
        }
    }

    if is_lower_hex(input) {
        if let Some(image) = by_id_prefix(images, input)? {
            return Ok(image);
        }
    }
    Err(not_found())
}

fn by_name<'a>(
    images: &'a [Image],
    input: &str,
    reference: &Reference,
) -> Result<Option<&'a Image>> {
    let full = reference.to_string();
    if let Some(image) = images.iter().find(|image| image.names.contains(&full)) {
        return Ok(Some(image));
    }
    if reference.registry_given {
        return Ok(None);
    }

    let matches: Vec<&Image> = images
        .iter()
        .filter(|image| image.names.iter().any(|n| name_matches(n, reference)))
        .collect();
    match matches.as_slice() {
        [] => Ok(None),
        [image] => Ok(Some(image)),
        _ => Err(StorageError::AmbiguousName {
            name: input.to_string(),
            candidates: matches
                .iter()
                .flat_map(|image| image.names.iter())
                .filter(|n| name_matches(n, reference))
                .cloned()
                .collect(),
        }),
    }
}

fn by_id_prefix<'a>(images: &'a [Image], prefix: &str) -> Result<Option<&'a Image>> {
    let matches: Vec<&Image> = images
        .iter()
        .filter(|image| image.id.starts_with(prefix))
        .collect();
    match matches.as_slice() {
        [] => Ok(None),
        [image] => Ok(Some(image)),
        _ => Err(StorageError::AmbiguousImage {
            prefix: prefix.to_string(),
            count: matches.len(),
        }),
    }
}

/// Splits a stored fully qualified name into repository and tag.
fn split_tag(name: &str) -> (&str, &str) {
    match name.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (name, ""),
    }
}

/// Whether a stored repository is the one `reference` names. A short
/// name also matches its path under any registry, so `busybox` matches
/// `docker.io/library/busybox`.
fn repository_matches(repository: &str, reference: &Reference) -> bool {
    repository == reference.repository()
        || (!reference.registry_given && repository.ends_with(&format!("/{}", reference.path)))
}

/// Whether the stored `name` has the repository of `reference`, any tag.
fn same_repository(name: &str, reference: &Reference) -> bool {
    repository_matches(split_tag(name).0, reference)
}

/// Whether the stored `name` has the repository and tag of `reference`.
fn name_matches(name: &str, reference: &Reference) -> bool {
    let (repository, tag) = split_tag(name);
    tag == reference.tag && repository_matches(repository, reference)
}

/// Returns which of the image's names `reference` means: the exact
/// normalized name, or for a short name the one name with that path and
/// tag under any registry.
pub(crate) fn find_name(image: &Image, reference: &Reference) -> Option<String> {
    let full = reference.to_string();
    if image.names.contains(&full) {
        return Some(full);
    }
    if reference.registry_given {
        return None;
    }
    let mut matches = image.names.iter().filter(|n| name_matches(n, reference));
    match (matches.next(), matches.next()) {
        (Some(only), None) => Some(only.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn image(id: &str, names: &[&str]) -> Image {
        Image {
            id: id.to_string(),
            names: names.iter().map(|n| n.to_string()).collect(),
            digest: format!("sha256:{}{}", "d".repeat(60), &id[..4]),
            created: Utc::now(),
            size: 0,
            layers: Vec::new(),
        }
    }

    fn images() -> Vec<Image> {
        vec![
            image(
                &format!("abc1{}", "0".repeat(60)),
                &["localhost/busybox:latest", "localhost/busybox:1"],
            ),
            image(
                &format!("abc2{}", "0".repeat(60)),
                &["docker.io/library/alpine:latest"],
            ),
            image(
                &format!("f00d{}", "0".repeat(60)),
                &["quay.io/a/alpine:latest", "localhost/abc1:latest"],
            ),
        ]
    }

    fn resolved_id(images: &[Image], input: &str) -> String {
        resolve(images, input).unwrap().id[..4].to_string()
    }

    #[test]
    fn lookup_by_name_forms() {
        let images = images();
        assert_eq!(resolved_id(&images, "busybox"), "abc1");
        assert_eq!(resolved_id(&images, "busybox:latest"), "abc1");
        assert_eq!(resolved_id(&images, "busybox:1"), "abc1");
        assert_eq!(resolved_id(&images, "localhost/busybox"), "abc1");
        assert_eq!(resolved_id(&images, "localhost/busybox:latest"), "abc1");
        assert_eq!(resolved_id(&images, "docker.io/alpine"), "abc2");
        assert_eq!(resolved_id(&images, "library/alpine"), "abc2");
        assert_eq!(resolved_id(&images, "quay.io/a/alpine"), "f00d");
    }

    #[test]
    fn lookup_by_id_forms() {
        let images = images();
        let full = images[2].id.clone();
        assert_eq!(resolved_id(&images, &full), "f00d");
        assert_eq!(resolved_id(&images, &format!("sha256:{full}")), "f00d");
        assert_eq!(resolved_id(&images, "f0"), "f00d");
        assert_eq!(resolved_id(&images, "sha256:f00"), "f00d");
        assert_eq!(resolved_id(&images, &images[1].digest.clone()), "abc2");
        let by_digest = format!("alpine@{}", images[1].digest);
        assert_eq!(resolved_id(&images, &by_digest), "abc2");
    }

    #[test]
    fn lookup_name_wins_over_id_prefix() {
        // `abc1` is both a name of f00d... and a prefix of abc1...: the name wins.
        assert_eq!(resolved_id(&images(), "abc1"), "f00d");
    }

    #[test]
    fn lookup_ambiguous_prefix() {
        match resolve(&images(), "abc") {
            Err(StorageError::AmbiguousImage { prefix, count }) => {
                assert_eq!(prefix, "abc");
                assert_eq!(count, 2);
            }
            other => panic!("expected AmbiguousImage, got {other:?}"),
        }
    }

    #[test]
    fn lookup_ambiguous_short_name() {
        match resolve(&images(), "alpine") {
            Err(StorageError::AmbiguousName { name, candidates }) => {
                assert_eq!(name, "alpine");
                assert_eq!(
                    candidates,
                    vec!["docker.io/library/alpine:latest", "quay.io/a/alpine:latest"]
                );
            }
            other => panic!("expected AmbiguousName, got {other:?}"),
        }
    }

    #[test]
    fn lookup_missing_image() {
        for input in [
            "nothere",
            "busybox:2",
            "quay.io/busybox",
            "sha256:zz",
            "0123",
            "sha256:0123",
        ] {
            match resolve(&images(), input) {
                Err(StorageError::NoSuchImage { name_or_id }) => assert_eq!(name_or_id, input),
                other => panic!("{input}: expected NoSuchImage, got {other:?}"),
            }
        }
    }

    #[test]
    fn find_name_resolves_short_names() {
        let images = images();
        let busybox = Reference::parse("busybox:1").unwrap();
        assert_eq!(
            find_name(&images[0], &busybox).as_deref(),
            Some("localhost/busybox:1")
        );
        let alpine = Reference::parse("alpine").unwrap();
        assert_eq!(
            find_name(&images[1], &alpine).as_deref(),
            Some("docker.io/library/alpine:latest")
        );
        let other = Reference::parse("quay.io/alpine").unwrap();
        assert_eq!(find_name(&images[1], &other), None);
    }
}
