//! Registry credentials: the `auth.json` file that `login` writes and
//! Podman, Skopeo and Buildah share, docker's `config.json` as a fallback,
//! and the `WWW-Authenticate` challenges of the distribution protocol.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use tracing::debug;

use crate::error::io_err;
use crate::{Result, StorageError};

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log line.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Parses `USERNAME:PASSWORD` as `--creds` takes it.
    pub fn parse(text: &str) -> Result<Credentials> {
        match text.split_once(':') {
            Some((username, password)) if !username.is_empty() => Ok(Credentials {
                username: username.to_string(),
                password: password.to_string(),
            }),
            _ => Err(StorageError::InvalidOption {
                option: "creds",
                value: "(hidden)".into(),
                reason: "expected USERNAME:PASSWORD".into(),
            }),
        }
    }

    /// Formats the value of a `Basic` Authorization header.
    pub(crate) fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!("Basic {}", BASE64.encode(pair))
    }
}

/// Returns the credentials file `login` writes when none is given: the
/// `REGISTRY_AUTH_FILE` environment variable, else
/// `$XDG_RUNTIME_DIR/containers/auth.json`, else
/// `/run/containers/<uid>/auth.json`, as Podman chooses it.
pub fn default_auth_file() -> PathBuf {
    if let Some(path) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return Path::new(&dir).join("containers/auth.json");
    }
    PathBuf::from(format!(
        "/run/containers/{}/auth.json",
        nix::unistd::getuid()
    ))
}

/// docker's client config: `$DOCKER_CONFIG/config.json` or
/// `~/.docker/config.json`.
fn docker_config_file() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(Path::new(&dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker/config.json"))
}

/// Finds stored credentials for `registry` (host and optional port): in
/// `auth_file` first, then in docker's config file.
pub(crate) fn lookup(auth_file: &Path, registry: &str) -> Result<Option<Credentials>> {
    let files = std::iter::once(auth_file.to_path_buf()).chain(docker_config_file());
    for file in files {
        let Some(auths) = read_auths(&file)? else {
            continue;
        };
        for (key, entry) in &auths {
            if normalize_key(key) != registry {
                continue;
            }
            if let Some(credentials) = decode_entry(&file, entry)? {
                debug!(registry, file = %file.display(), "using stored credentials");
                return Ok(Some(credentials));
            }
        }
    }
    Ok(None)
}

/// Writes credentials for `registry` into `auth_file`, keeping its other
/// entries. The file is created with mode 0600 and replaced atomically.
pub(crate) fn store(auth_file: &Path, registry: &str, credentials: &Credentials) -> Result<()> {
    let mut document = read_document(auth_file)?.unwrap_or_else(|| json!({}));
    let pair = format!("{}:{}", credentials.username, credentials.password);
    let auths = auths_object(auth_file, &mut document)?;
    auths.insert(registry.to_string(), json!({ "auth": BASE64.encode(pair) }));
    write_document(auth_file, &document)
}

/// Removes the entry of `registry` from `auth_file`. Returns whether it had one.
pub(crate) fn remove(auth_file: &Path, registry: &str) -> Result<bool> {
    let Some(mut document) = read_document(auth_file)? else {
        return Ok(false);
    };
    let auths = auths_object(auth_file, &mut document)?;
    let keys: Vec<String> = auths
        .keys()
        .filter(|k| normalize_key(k) == registry)
        .cloned()
        .collect();
    for key in &keys {
        auths.remove(key);
    }
    if keys.is_empty() {
        return Ok(false);
    }
    write_document(auth_file, &document)?;
    Ok(true)
}

fn read_document(path: &Path) -> Result<Option<Value>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read", path)(e)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StorageError::InvalidAuthFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

fn read_auths(path: &Path) -> Result<Option<BTreeMap<String, Value>>> {
    let Some(document) = read_document(path)? else {
        return Ok(None);
    };
    match document.get("auths") {
        None => Ok(None),
        Some(auths) => serde_json::from_value(auths.clone())
            .map(Some)
            .map_err(|_| StorageError::InvalidAuthFile {
                path: path.to_path_buf(),
                reason: "\"auths\" is not an object".into(),
            }),
    }
}

fn auths_object<'a>(path: &Path, document: &'a mut Value) -> Result<&'a mut Map<String, Value>> {
    let invalid = |reason: &str| StorageError::InvalidAuthFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let object = document
        .as_object_mut()
        .ok_or_else(|| invalid("the file is not a JSON object"))?;
    object
        .entry("auths")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| invalid("\"auths\" is not an object"))
}

fn write_document(path: &Path, document: &Value) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".auth.json-")
        .tempfile_in(dir)
        .map_err(io_err("create temporary file in", dir))?;
    let text = serde_json::to_string_pretty(document).expect("a JSON value always serializes");
    std::io::Write::write_all(&mut temp, format!("{text}\n").as_bytes())
        .map_err(io_err("write", temp.path()))?;
    // tempfile creates the file with mode 0600, which it keeps.
    temp.persist(path)
        .map_err(|e| io_err("rename credentials file into place at", path)(e.error))?;
    Ok(())
}

fn decode_entry(path: &Path, entry: &Value) -> Result<Option<Credentials>> {
    let Some(encoded) = entry.get("auth").and_then(|a| a.as_str()) else {
        return Ok(None);
    };
    if encoded.is_empty() {
        return Ok(None);
    }
    let invalid = || StorageError::InvalidAuthFile {
        path: path.to_path_buf(),
        reason: "an \"auth\" value is not base64 of USERNAME:PASSWORD".into(),
    };
    let decoded = BASE64.decode(encoded).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (username, password) = text.split_once(':').ok_or_else(invalid)?;
    Ok(Some(Credentials {
        username: username.to_string(),
        password: password.to_string(),
    }))
}

/// Turns an `auths` key into a registry host: docker writes
/// `https://index.docker.io/v1/` for docker.io, others write `host:port`.
fn normalize_key(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let key = key.split('/').next().unwrap_or(key);
    if key == "index.docker.io" || key == "registry-1.docker.io" {
        "docker.io"
    } else {
        key
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses the `WWW-Authenticate` header of a 401 response. Returns `None`
/// for schemes other than Basic and Bearer.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
        }),
        _ => None,
    }
}

/// Parses `key="value",key2=value2` with quoted commas.
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_string());
        rest = after.trim_start_matches(',').trim();
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_bearer_with_quoted_commas() {
        let header = r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#;
        assert_eq!(
            parse_challenge(header),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate abc"), None);
    }

    #[test]
    fn auth_file_round_trip_keeps_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/auth.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            r#"{"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}}, "credHelpers": {}}"#,
        )
        .unwrap();
        let credentials = Credentials::parse("alice:s3:cret").unwrap();
        store(&path, "127.0.0.1:5000", &credentials).unwrap();

        assert_eq!(lookup(&path, "127.0.0.1:5000").unwrap(), Some(credentials));
        let docker = lookup(&path, "docker.io").unwrap().unwrap();
        assert_eq!(docker.username, "u");
        assert_eq!(docker.password, "p");

        assert!(remove(&path, "127.0.0.1:5000").unwrap());
        assert!(!remove(&path, "127.0.0.1:5000").unwrap());
        let document: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert!(document.get("credHelpers").is_some());
        assert_eq!(lookup(&path, "127.0.0.1:5000").unwrap(), None);
    }

    #[test]
    fn creds_need_user_and_colon() {
        assert!(Credentials::parse("nocolon").is_err());
        assert!(Credentials::parse(":p").is_err());
        assert_eq!(Credentials::parse("u:").unwrap().password, "");
    }

    #[test]
    fn credentials_debug_hides_password() {
        let text = format!("{:?}", Credentials::parse("u:secret").unwrap());
        assert!(!text.contains("secret"), "{text}");
    }
}
