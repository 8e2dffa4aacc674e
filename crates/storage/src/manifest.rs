//! Image manifests and manifest lists in the OCI and Docker schema 2
//! formats, as registries and archives carry them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Result, StorageError};

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `Accept` header of a manifest request: every format berth reads.
pub(crate) const ACCEPTED_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// The media types of layers berth can unpack. The compression is detected
/// from the content, so the media type is only checked against this list.
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
];

/// A reference to a blob: its media type, digest and size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Where a foreign (non-distributable) layer is downloaded from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// The platform of one entry of a manifest list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// The platform a pull selects from a manifest list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformChoice {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl PlatformChoice {
    /// The host's platform: linux and the host architecture.
    pub fn host() -> PlatformChoice {
        PlatformChoice {
            os: "linux".into(),
            architecture: crate::import::go_arch().into(),
            variant: None,
        }
    }

    /// Parses `OS/ARCH[/VARIANT]` as `--platform` takes it.
    pub fn parse(text: &str) -> Result<PlatformChoice> {
        let parts: Vec<&str> = text.split('/').collect();
        let invalid = || StorageError::InvalidOption {
            option: "platform",
            value: text.to_string(),
            reason: "expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64".into(),
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(invalid());
        }
        match parts.as_slice() {
            [os, arch] => Ok(PlatformChoice {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] => Ok(PlatformChoice {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(invalid()),
        }
    }

    fn matches(&self, platform: &Platform) -> bool {
        platform.os == self.os
            && platform.architecture == self.architecture
            && (self.variant.is_none() || platform.variant == self.variant)
    }
}

impl std::fmt::Display for PlatformChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// An image manifest: one config and its layers, base layer first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A manifest list (Docker) or image index (OCI).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A parsed manifest document of either kind.
#[derive(Debug)]
pub(crate) enum ManifestDocument {
    Image(Manifest),
    List(Index),
}

/// Parses a manifest or manifest list. `content_type` is the media type
/// the server or archive gave, if any; the document's own `mediaType` and
/// its fields decide when that is missing or generic.
pub(crate) fn parse_document(
    reference: &str,
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<ManifestDocument> {
    let invalid = |reason: String| StorageError::InvalidManifest {
        reference: reference.to_string(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let declared = value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_string);
    let media_type = declared
        .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or(c).trim().to_string()))
        .unwrap_or_default();

    if media_type == DOCKER_SCHEMA1 || media_type == DOCKER_SCHEMA1_SIGNED {
        return Err(StorageError::UnsupportedMediaType {
            reference: reference.to_string(),
            what:
                "manifest (Docker schema 1 is deprecated; push the image again with a current tool)",
            media_type,
        });
    }
    let is_list = media_type == OCI_INDEX
        || media_type == DOCKER_MANIFEST_LIST
        || (value.get("manifests").is_some() && value.get("layers").is_none());
    if is_list {
        let index: Index = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
        return Ok(ManifestDocument::List(index));
    }
    if !media_type.is_empty()
        && media_type != OCI_MANIFEST
        && media_type != DOCKER_MANIFEST
        && media_type != "application/json"
    {
        return Err(StorageError::UnsupportedMediaType {
            reference: reference.to_string(),
            what: "manifest",
            media_type,
        });
    }
    let manifest: Manifest = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    check_manifest(reference, &manifest)?;
    Ok(ManifestDocument::Image(manifest))
}

/// Checks what every use of a manifest relies on: sha256 digests and
/// layer media types berth can unpack.
fn check_manifest(reference: &str, manifest: &Manifest) -> Result<()> {
    if manifest.schema_version != 2 {
        return Err(StorageError::InvalidManifest {
            reference: reference.to_string(),
            reason: format!("schemaVersion is {}, expected 2", manifest.schema_version),
        });
    }
    for descriptor in std::iter::once(&manifest.config).chain(&manifest.layers) {
        check_digest(reference, &descriptor.digest)?;
    }
    if !manifest.config.media_type.is_empty()
        && manifest.config.media_type != OCI_CONFIG
        && manifest.config.media_type != DOCKER_CONFIG
    {
        return Err(StorageError::UnsupportedMediaType {
            reference: reference.to_string(),
            what: "image config (not a container image)",
            media_type: manifest.config.media_type.clone(),
        });
    }
    for layer in &manifest.layers {
        if !layer.media_type.is_empty() && !LAYER_TYPES.contains(&layer.media_type.as_str()) {
            return Err(StorageError::UnsupportedMediaType {
                reference: reference.to_string(),
                what: "layer",
                media_type: layer.media_type.clone(),
            });
        }
        if !layer.urls.is_empty() {
            return Err(StorageError::UnsupportedMediaType {
                reference: reference.to_string(),
                what: "layer (foreign layers with download URLs are not supported)",
                media_type: layer.media_type.clone(),
            });
        }
    }
    Ok(())
}

/// Checks that `digest` is `sha256:` and 64 lowercase hex characters,
/// the only algorithm the store addresses blobs by. A digest from a
/// manifest becomes a file name, so this check also keeps it one path
/// component.
pub(crate) fn check_digest(reference: &str, digest: &str) -> Result<()> {
    let hex = digest.strip_prefix("sha256:");
    if !hex.is_some_and(crate::digest::is_sha256_hex) {
        return Err(StorageError::InvalidManifest {
            reference: reference.to_string(),
            reason: format!("digest {digest:?} is not sha256:<64 hex characters>"),
        });
    }
    Ok(())
}

/// Picks the manifest for `platform` from a manifest list.
pub(crate) fn select_platform<'a>(
    reference: &str,
    index: &'a Index,
    platform: &PlatformChoice,
) -> Result<&'a Descriptor> {
    let found = index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)));
    match found {
        Some(descriptor) => {
            check_digest(reference, &descriptor.digest)?;
            Ok(descriptor)
        }
        None => Err(StorageError::NoMatchingPlatform {
            reference: reference.to_string(),
            platform: platform.to_string(),
            available: index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(|p| {
                    let mut text = format!("{}/{}", p.os, p.architecture);
                    if let Some(variant) = &p.variant {
                        text.push('/');
                        text.push_str(variant);
                    }
                    text
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Index {
        serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": format!("sha256:{}", "a".repeat(64)), "size": 1,
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
                {"mediaType": OCI_MANIFEST, "digest": format!("sha256:{}", "b".repeat(64)), "size": 1,
                 "platform": {"architecture": "amd64", "os": "linux"}},
            ]
        }))
        .unwrap()
    }

    #[test]
    fn select_platform_picks_matching_entry() {
        let index = list();
        let amd64 = PlatformChoice::parse("linux/amd64").unwrap();
        assert!(select_platform("r", &index, &amd64)
            .unwrap()
            .digest
            .ends_with('b'));
        let arm = PlatformChoice::parse("linux/arm64/v8").unwrap();
        assert!(select_platform("r", &index, &arm)
            .unwrap()
            .digest
            .ends_with('a'));
    }

    #[test]
    fn select_platform_lists_available_when_missing() {
        let s390 = PlatformChoice::parse("linux/s390x").unwrap();
        let err = select_platform("r", &list(), &s390).unwrap_err();
        assert_eq!(
            err.to_string(),
            "r: no image for platform linux/s390x in the manifest list; it has linux/arm64/v8, linux/amd64"
        );
    }

    #[test]
    fn platform_parse_rejects_bad_forms() {
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d"] {
            assert!(PlatformChoice::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_document_tells_list_from_image() {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": format!("sha256:{}", "c".repeat(64)), "size": 2},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "digest": format!("sha256:{}", "d".repeat(64)), "size": 3}],
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        assert!(matches!(
            parse_document("r", &bytes, None).unwrap(),
            ManifestDocument::Image(_)
        ));
        let bytes = serde_json::to_vec(&list()).unwrap();
        assert!(matches!(
            parse_document("r", &bytes, None).unwrap(),
            ManifestDocument::List(_)
        ));
    }

    #[test]
    fn parse_document_rejects_bad_digest_and_schema1() {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "config": {"digest": "sha256:../../etc", "size": 2},
            "layers": [],
        });
        let err = parse_document("r", &serde_json::to_vec(&manifest).unwrap(), None).unwrap_err();
        assert!(matches!(err, StorageError::InvalidManifest { .. }), "{err}");
        let schema1 = serde_json::json!({"schemaVersion": 1, "mediaType": DOCKER_SCHEMA1});
        let err = parse_document("r", &serde_json::to_vec(&schema1).unwrap(), None).unwrap_err();
        assert!(
            matches!(err, StorageError::UnsupportedMediaType { .. }),
            "{err}"
        );
    }
}
