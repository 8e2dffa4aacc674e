//! The registries tried for a name without one (`busybox`), read from
//! berth's own `registries.conf`.
//!
//! berth does not read `/etc/containers/registries.conf`: a host set up
//! for Podman often lists public registries there, and a short name would
//! then reach out to them. Only registries the administrator lists for
//! berth are searched, and `localhost` alone when the file is missing.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::io_err;
use crate::{Result, StorageError};

/// berth's registries file; `BERTH_REGISTRIES_CONF` overrides the path.
const REGISTRIES_CONF: &str = "/etc/berth/registries.conf";
const DEFAULT_SEARCH: &str = "localhost";

#[derive(Deserialize)]
struct RegistriesConf {
    #[serde(rename = "unqualified-search-registries", default)]
    unqualified_search_registries: Option<Vec<String>>,
}

fn conf_path() -> PathBuf {
    std::env::var_os("BERTH_REGISTRIES_CONF")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(REGISTRIES_CONF), PathBuf::from)
}

/// The registries a short name is tried in, in order: the
/// `unqualified-search-registries` list of berth's registries.conf (TOML,
/// the key Podman uses), or `localhost` when the file or the key is missing.
pub fn search_registries() -> Result<Vec<String>> {
    read_search_registries(&conf_path())
}

fn read_search_registries(path: &Path) -> Result<Vec<String>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(vec![DEFAULT_SEARCH.to_string()])
        }
        Err(e) => return Err(io_err("read", path)(e)),
    };
    let conf: RegistriesConf = toml::from_str(&text).map_err(|e| StorageError::InvalidOption {
        option: "registries.conf",
        value: path.display().to_string(),
        reason: e.message().to_string(),
    })?;
    Ok(conf
        .unqualified_search_registries
        .unwrap_or_else(|| vec![DEFAULT_SEARCH.to_string()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_searches_localhost_only() {
        let dir = tempfile::tempdir().unwrap();
        let found = read_search_registries(&dir.path().join("none.conf")).unwrap();
        assert_eq!(found, vec!["localhost"]);
    }

    #[test]
    fn list_is_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registries.conf");
        fs::write(
            &path,
            "# comment\nunqualified-search-registries = [\"127.0.0.1:5000\", \"localhost\"]\n",
        )
        .unwrap();
        assert_eq!(
            read_search_registries(&path).unwrap(),
            vec!["127.0.0.1:5000", "localhost"]
        );
        fs::write(&path, "unqualified-search-registries = 3\n").unwrap();
        assert!(read_search_registries(&path).is_err());
    }
}
