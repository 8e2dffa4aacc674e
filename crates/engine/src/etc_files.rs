//! The container's /etc/hostname, /etc/hosts and /etc/resolv.conf: written
//! to its userdata dir and bind-mounted, as Podman does.
use std::path::{Path, PathBuf};

use berth_oci::spec::MountSpec;

use crate::{EngineError, Result};

const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// Writes the three files and returns their mounts.
pub(crate) fn write(
    userdata: &Path,
    hostname: &str,
    name: &str,
    network: &str,
) -> Result<Vec<MountSpec>> {
    let hosts = hosts_file(hostname, name, network);
    let resolv = resolv_conf(
        &std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default(),
        network,
    );
    let files = [
        ("hostname", "/etc/hostname", format!("{hostname}\n")),
        ("hosts", "/etc/hosts", hosts),
        ("resolv.conf", "/etc/resolv.conf", resolv),
    ];
    let mut mounts = Vec::new();
    for (file, destination, content) in files {
        let path: PathBuf = userdata.join(file);
        std::fs::write(&path, content).map_err(|e| EngineError::io("write", &path, e))?;
        mounts.push(MountSpec::Bind {
            source: path,
            destination: destination.into(),
            read_only: false,
        });
    }
    Ok(mounts)
}

fn hosts_file(hostname: &str, name: &str, network: &str) -> String {
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n\
         ::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n",
    );
    if network != "host" {
        // Without a network of its own the container's names resolve to
        // loopback, so tools that look up their own hostname work.
        hosts.push_str(&format!("127.0.1.1\t{hostname} {name}\n"));
    }
    hosts
}

/// The host's resolv.conf, without loopback name servers unless the
/// container shares the host's network: 127.x inside a network namespace is
/// the container itself.
fn resolv_conf(host: &str, network: &str) -> String {
    host.lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            let is_nameserver = words.next() == Some("nameserver");
            let address = words.next().unwrap_or_default();
            let loopback = address.starts_with("127.") || address == "::1";
            network == "host" || !(is_nameserver && loopback)
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_servers_in_own_netns() {
        let host = "search example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n";
        assert_eq!(
            resolv_conf(host, "none"),
            "search example.com\nnameserver 10.0.0.2\n"
        );
        assert_eq!(resolv_conf(host, "host"), host);
    }

    #[test]
    fn hosts_file_maps_hostname_to_loopback() {
        assert!(hosts_file("abc", "web", "none").ends_with("127.0.1.1\tabc web\n"));
        assert!(!hosts_file("abc", "web", "host").contains("abc"));
    }
}
