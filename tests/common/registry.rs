//! A real registry (Debian's `docker-registry`, distribution 2.8) on a
//! free loopback port, with its storage in a temporary directory; and
//! OCI image layouts built from tar layers, which `skopeo copy` pushes
//! into it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// How long a started registry may take to answer `/v2/`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A registry process listening on 127.0.0.1; killed by pid on drop.
pub struct Registry {
    child: Child,
    port: u16,
    storage: PathBuf,
}

impl Registry {
    /// Starts a registry with storage under `dir`. With `htpasswd`, it
    /// requires Basic authentication against that file.
    pub fn start(dir: &Path, htpasswd: Option<&Path>) -> Registry {
        let storage = dir.join("registry-storage");
        std::fs::create_dir_all(&storage).unwrap();
        // The port is free when probed; another process could take it before
        // the registry binds it, so a failed start picks a new port.
        for _ in 0..3 {
            let port = free_port();
            let config = dir.join("registry.yml");
            let mut text = format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            );
            if let Some(htpasswd) = htpasswd {
                text.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            std::fs::write(&config, text).unwrap();
            let log = std::fs::File::create(dir.join("registry.log")).unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry: install the docker-registry package");
            let mut registry = Registry {
                child,
                port,
                storage: storage.clone(),
            };
            if registry.wait_until_ready() {
                return registry;
            }
        }
        panic!(
            "docker-registry did not answer on 127.0.0.1 within {START_TIMEOUT:?}; see {}",
            dir.join("registry.log").display()
        );
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the registry keeps the content of blob `digest` (`sha256:HEX`).
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// GETs `path` (e.g. `/v2/busybox/manifests/1`) and returns the status
    /// and body. The manifest formats berth reads are accepted.
    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.docker.distribution.manifest.list.v2+json\r\n\r\n"
        )
        .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("HTTP response has a header");
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("HTTP status");
        let mut body = response[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        (status, body)
    }

    fn wait_until_ready(&mut self) -> bool {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let (status, _) = self.get("/v2/");
                if status == 200 || status == 401 {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Child::kill signals this child's own pid only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

/// `sha256:HEX` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// How a layer blob of an [`OciLayout`] is compressed.
#[derive(Debug, Clone, Copy)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// One image of an OCI layout, built from uncompressed tar layers.
pub struct ImageSpec {
    pub layers: Vec<Vec<u8>>,
    pub compression: Compression,
    pub architecture: &'static str,
    /// The `config` object of the image config (Env, Cmd, Labels, ...).
    pub config: Value,
}

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
pub struct OciLayout {
    pub dir: PathBuf,
    /// Manifest digests, in the order the images were given.
    pub manifests: Vec<String>,
    /// Config digests (image ids with `sha256:`), in the same order.
    pub configs: Vec<String>,
}

impl OciLayout {
    /// Writes `images` as one layout. With `as_list`, `index.json` names
    /// one manifest list (tag `tag`) holding all images with their
    /// platforms, as a multi-arch image; otherwise it names each image
    /// with ref name `tag` (only sensible for one image).
    pub fn write(dir: &Path, images: &[ImageSpec], tag: &str, as_list: bool) -> OciLayout {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let put = |bytes: &[u8]| -> String {
            let digest = digest(bytes);
            std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
            digest
        };
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();

        let mut descriptors = Vec::new();
        let mut manifests = Vec::new();
        let mut configs = Vec::new();
        for image in images {
            let suffix = match image.compression {
                Compression::None => "",
                Compression::Gzip => "+gzip",
                Compression::Zstd => "+zstd",
            };
            let compress = |bytes: &[u8]| match image.compression {
                Compression::None => bytes.to_vec(),
                Compression::Gzip => gzip(bytes),
                Compression::Zstd => zstd::encode_all(bytes, 3).unwrap(),
            };
            let mut layer_descriptors = Vec::new();
            let mut diff_ids = Vec::new();
            for layer in &image.layers {
                diff_ids.push(digest(layer));
                let blob = compress(layer);
                layer_descriptors.push(json!({
                    "mediaType": format!("application/vnd.oci.image.layer.v1.tar{suffix}"),
                    "digest": put(&blob),
                    "size": blob.len(),
                }));
            }
            let config = serde_json::to_vec(&json!({
                "created": "2024-01-02T03:04:05Z",
                "architecture": image.architecture,
                "os": "linux",
                "config": image.config,
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "berth test"}],
            }))
            .unwrap();
            let config_digest = put(&config);
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config_digest, "size": config.len()},
                "layers": layer_descriptors,
            }))
            .unwrap();
            let manifest_digest = put(&manifest);
            descriptors.push(json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest.len(),
                "platform": {"architecture": image.architecture, "os": "linux"},
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }));
            manifests.push(manifest_digest);
            configs.push(config_digest);
        }

        let top = if as_list {
            for descriptor in &mut descriptors {
                descriptor.as_object_mut().unwrap().remove("annotations");
            }
            let list = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": descriptors,
            }))
            .unwrap();
            vec![json!({
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": put(&list),
                "size": list.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            })]
        } else {
            descriptors
        };
        let index = json!({"schemaVersion": 2, "manifests": top});
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        OciLayout {
            dir: dir.to_path_buf(),
            manifests,
            configs,
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Builds an uncompressed tar layer from `(path, content)` files and
/// whiteout entries (a path whose last component starts with `.wh.`).
pub fn tar_layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *content).unwrap();
    }
    builder.into_inner().unwrap()
}

/// Runs `skopeo copy` with a policy that accepts any image, no registries
/// configuration of the host, and plain HTTP allowed on both sides.
pub fn skopeo_copy(work: &Path, extra: &[&str], source: &str, destination: &str) {
    let policy = work.join("skopeo-policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    let registries = work.join("skopeo-registries.conf");
    std::fs::write(&registries, "unqualified-search-registries = []\n").unwrap();
    let output = Command::new("skopeo")
        .env("CONTAINERS_REGISTRIES_CONF", &registries)
        .arg("--policy")
        .arg(&policy)
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .args(extra)
        .arg(source)
        .arg(destination)
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo");
    assert!(
        output.status.success(),
        "skopeo copy {source} {destination} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
