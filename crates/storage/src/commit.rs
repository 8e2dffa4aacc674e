//! `commit`: a new image from a container, its image's layers plus one
//! layer made of the container's changes.

use std::io::{BufWriter, Write};

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};
use tracing::debug;

use crate::digest::{sha256_hex, strip_algorithm};
use crate::error::io_err;
use crate::import::{persist_blob, remove_leftovers, TEMP_PREFIX};
use crate::ingest::record_image;
use crate::manifest::{Manifest, OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST};
use crate::reference::normalize;
use crate::{Image, Result, StorageError, Store};

/// The metadata `commit` records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The new image's name; `None` leaves it unnamed.
    pub name: Option<String>,
    /// Dockerfile-style instructions applied to the config:
    /// CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, USER, WORKDIR, STOPSIGNAL, VOLUME.
    pub changes: Vec<String>,
    /// The history comment (`-m`).
    pub message: Option<String>,
    /// The author (`-a`).
    pub author: Option<String>,
}

impl Store {
    /// Makes an image of `base` plus the container's changes as a new
    /// layer. Needs the overlay driver.
    pub fn commit(
        &self,
        container_id: &str,
        base: &Image,
        options: &CommitOptions,
    ) -> Result<Image> {
        let name = options.name.as_deref().map(normalize).transpose()?;
        let label = name.clone().unwrap_or_else(|| container_id.to_string());
        let mut config = self.config_json(base)?;
        for change in &options.changes {
            apply_change(&mut config, change)?;
        }

        let _lock = self.lock()?;
        remove_leftovers(&self.blobs_dir());
        remove_leftovers(&self.layers_dir());
        let mut blob = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(self.blobs_dir())
            .map_err(io_err("create temporary file in", self.blobs_dir()))?;
        let blob_path = blob.path().to_path_buf();
        let mut hashed = HashingWriter::new(BufWriter::new(blob.as_file_mut()));
        self.write_upper_layer(container_id, &mut hashed)?;
        let (hex, size) = hashed.finish().map_err(io_err("write", &blob_path))?;
        drop(hashed);
        {
            let diff_id = format!("sha256:{hex}");
            debug!(container_id, %diff_id, size, "wrote layer of the container's changes");
            extend_config(&mut config, &diff_id, options);

            let mut manifest = self.manifest(base)?;
            convert_to_oci(&mut manifest);
            manifest.layers.push(crate::manifest::Descriptor {
                media_type: OCI_LAYER_TAR.into(),
                digest: diff_id,
                size,
                platform: None,
                annotations: Default::default(),
                urls: Vec::new(),
            });
            let config_bytes = serde_json::to_vec(&config).expect("a JSON value always serializes");
            manifest.config.digest = format!("sha256:{}", sha256_hex(&config_bytes));
            manifest.config.size = config_bytes.len() as u64;
            let manifest_bytes =
                serde_json::to_vec(&manifest).expect("a manifest always serializes");

            persist_blob(blob, &self.blob_path(&hex))?;
            let names: Vec<String> = name.into_iter().collect();
            record_image(
                self,
                &label,
                &manifest_bytes,
                &manifest,
                &config_bytes,
                &names,
            )
        }
    }

    fn config_json(&self, image: &Image) -> Result<Value> {
        let path = self.blob_path(&image.id);
        let bytes = std::fs::read(&path).map_err(io_err("read image config", &path))?;
        serde_json::from_slice(&bytes).map_err(|source| StorageError::InvalidConfig {
            image_id: image.id.clone(),
            path,
            source,
        })
    }

    fn manifest(&self, image: &Image) -> Result<Manifest> {
        let path = self.blob_path(strip_algorithm(&image.digest));
        let bytes = std::fs::read(&path).map_err(io_err("read", &path))?;
        serde_json::from_slice(&bytes).map_err(|e| StorageError::InvalidManifest {
            reference: image.id.clone(),
            reason: format!("stored manifest {}: {e}", path.display()),
        })
    }
}

/// Appends the new layer's diff id and a history entry, and sets the
/// creation time and author.
fn extend_config(config: &mut Value, diff_id: &str, options: &CommitOptions) {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
    config["created"] = json!(now);
    if let Some(author) = &options.author {
        config["author"] = json!(author);
    }
    if !config["rootfs"]["diff_ids"].is_array() {
        config["rootfs"] = json!({"type": "layers", "diff_ids": []});
    }
    if let Some(ids) = config["rootfs"]["diff_ids"].as_array_mut() {
        ids.push(json!(diff_id));
    }
    let mut entry = json!({ "created": now, "created_by": "berth commit" });
    if let Some(message) = &options.message {
        entry["comment"] = json!(message);
    }
    if let Some(author) = &options.author {
        entry["author"] = json!(author);
    }
    if !config["history"].is_array() {
        config["history"] = json!([]);
    }
    if let Some(history) = config["history"].as_array_mut() {
        history.push(entry);
    }
}

/// Gives a Docker schema 2 manifest the OCI media types of the same
/// content, so the new manifest is one consistent OCI manifest.
fn convert_to_oci(manifest: &mut Manifest) {
    manifest.media_type = OCI_MANIFEST.into();
    manifest.config.media_type = OCI_CONFIG.into();
    for layer in &mut manifest.layers {
        layer.media_type = match layer.media_type.as_str() {
            "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
                "application/vnd.oci.image.layer.v1.tar+gzip".into()
            }
            "application/vnd.docker.image.rootfs.diff.tar.zstd" => {
                "application/vnd.oci.image.layer.v1.tar+zstd".into()
            }
            "application/vnd.docker.image.rootfs.diff.tar" => OCI_LAYER_TAR.into(),
            other => other.to_string(),
        };
    }
}

/// Applies one `--change` instruction to the image config.
fn apply_change(config: &mut Value, change: &str) -> Result<()> {
    let invalid = |reason: &str| StorageError::InvalidOption {
        option: "change",
        value: change.to_string(),
        reason: reason.to_string(),
    };
    let (instruction, argument) = change
        .trim()
        .split_once(char::is_whitespace)
        .map(|(i, a)| (i.to_ascii_uppercase(), a.trim()))
        .ok_or_else(|| invalid("expected INSTRUCTION VALUE, e.g. CMD [\"sh\"]"))?;
    if !config["config"].is_object() {
        config["config"] = json!({});
    }
    let section = &mut config["config"];
    match instruction.as_str() {
        "CMD" => section["Cmd"] = json!(command_form(argument)),
        "ENTRYPOINT" => section["Entrypoint"] = json!(command_form(argument)),
        "USER" => section["User"] = json!(argument),
        "WORKDIR" => section["WorkingDir"] = json!(argument),
        "STOPSIGNAL" => section["StopSignal"] = json!(argument),
        "ENV" => {
            let (key, value) = key_value(argument).ok_or_else(|| invalid("expected ENV KEY=VALUE"))?;
            let mut env: Vec<String> =
                serde_json::from_value(section["Env"].take()).unwrap_or_default();
            env.retain(|entry| entry.split('=').next() != Some(key));
            env.push(format!("{key}={value}"));
            section["Env"] = json!(env);
        }
        "LABEL" => {
            let (key, value) =
                key_value(argument).ok_or_else(|| invalid("expected LABEL KEY=VALUE"))?;
            if !section["Labels"].is_object() {
                section["Labels"] = json!({});
            }
            section["Labels"][key] = json!(value);
        }
        "EXPOSE" => {
            let port = if argument.contains('/') {
                argument.to_string()
            } else {
                format!("{argument}/tcp")
            };
            if !section["ExposedPorts"].is_object() {
                section["ExposedPorts"] = json!({});
            }
            section["ExposedPorts"][port] = json!({});
        }
        "VOLUME" => {
            if !section["Volumes"].is_object() {
                section["Volumes"] = json!({});
            }
            // A JSON array, or paths separated by whitespace.
            let paths = serde_json::from_str::<Vec<String>>(argument).unwrap_or_else(|_| {
                argument.split_whitespace().map(str::to_string).collect()
            });
            for path in paths {
                section["Volumes"][path] = json!({});
            }
        }
        _ => {
            return Err(invalid(
                "supported instructions are CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, USER, WORKDIR, STOPSIGNAL and VOLUME",
            ))
        }
    }
    Ok(())
}

/// Parses a CMD or ENTRYPOINT value: a JSON array as it is, any other text
/// as `/bin/sh -c TEXT`, the shell form of a Dockerfile.
fn command_form(argument: &str) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(argument) {
        return list;
    }
    vec!["/bin/sh".into(), "-c".into(), argument.to_string()]
}

fn key_value(argument: &str) -> Option<(&str, &str)> {
    let (key, value) = argument.split_once('=')?;
    let value = value.trim_matches('"');
    (!key.is_empty()).then_some((key, value))
}

/// Hashes and counts what is written through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: sha2::Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: sha2::Digest::new(),
            size: 0,
        }
    }

    fn finish(&mut self) -> std::io::Result<(String, u64)> {
        self.inner.flush()?;
        let hasher = std::mem::replace(&mut self.hasher, sha2::Digest::new());
        Ok((hex::encode(sha2::Digest::finalize(hasher)), self.size))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_change_sets_config_fields() {
        let mut config = json!({"config": {"Env": ["PATH=/bin", "A=1"]}});
        for change in [
            "CMD [\"echo\", \"hi\"]",
            "ENTRYPOINT /init",
            "ENV A=2",
            "LABEL team=storage",
            "EXPOSE 8080",
            "VOLUME [\"/data\"]",
            "VOLUME /cache /logs",
            "workdir /srv",
        ] {
            apply_change(&mut config, change).unwrap();
        }
        let section = &config["config"];
        assert_eq!(section["Cmd"], json!(["echo", "hi"]));
        assert_eq!(section["Entrypoint"], json!(["/bin/sh", "-c", "/init"]));
        assert_eq!(section["Env"], json!(["PATH=/bin", "A=2"]));
        assert_eq!(section["Labels"], json!({"team": "storage"}));
        assert_eq!(section["ExposedPorts"], json!({"8080/tcp": {}}));
        assert_eq!(
            section["Volumes"],
            json!({"/data": {}, "/cache": {}, "/logs": {}})
        );
        assert_eq!(section["WorkingDir"], json!("/srv"));
    }

    #[test]
    fn apply_change_rejects_unknown_instruction() {
        let mut config = json!({});
        let err = apply_change(&mut config, "RUN make").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid change \"RUN make\": supported"),
            "{err}"
        );
        assert!(apply_change(&mut config, "CMD").is_err());
    }
}
