//! The container's /etc/hostname, /etc/hosts and /etc/resolv.conf: written
//! to its userdata dir and bind-mounted, as Podman does.
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_oci::spec::MountSpec;

use crate::{EngineError, Result};

const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// The inputs of the three files.
#[derive(Debug, Clone, Default)]
pub(crate) struct EtcOptions<'a> {
    pub hostname: &'a str,
    pub name: &'a str,
    /// The container shares the host's network namespace.
    pub host_network: bool,
    /// The container's address on its first network.
    pub address: Option<Ipv4Addr>,
    /// `--add-host` entries as (name, address).
    pub add_hosts: &'a [(String, String)],
    /// `--dns`; replaces every other name server.
    pub dns_servers: &'a [Ipv4Addr],
    /// `--dns-search`; replaces every other search domain.
    pub dns_search: &'a [String],
    /// aardvark-dns servers and search domains of the container's networks.
    pub network_dns_servers: &'a [String],
    pub network_dns_search: &'a [String],
    /// The resolv.conf of a container whose network namespace this one
    /// joins; it takes the host's place.
    pub joined_resolv_conf: Option<&'a str>,
}

/// Writes the three files and returns their mounts.
pub(crate) fn write(userdata: &Path, options: &EtcOptions<'_>) -> Result<Vec<MountSpec>> {
    let hosts = hosts_file(options);
    let base = match options.joined_resolv_conf {
        Some(text) => text.to_string(),
        None => std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default(),
    };
    let resolv = resolv_conf(&base, options);
    let files = [
        (
            "hostname",
            "/etc/hostname",
            format!("{}\n", options.hostname),
        ),
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

fn hosts_file(options: &EtcOptions<'_>) -> String {
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n\
         ::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n",
    );
    for (name, address) in options.add_hosts {
        hosts.push_str(&format!("{address}\t{name}\n"));
    }
    let names = format!("{} {}", options.hostname, options.name);
    match options.address {
        Some(address) => hosts.push_str(&format!("{address}\t{names}\n")),
        // Without a network of its own the container's names resolve to
        // loopback, so tools that look up their own hostname work.
        None if !options.host_network => hosts.push_str(&format!("127.0.1.1\t{names}\n")),
        None => {}
    }
    hosts
}

/// Builds resolv.conf. Name servers: `--dns`, else the networks'
/// aardvark-dns, else the base file's (the host's), without loopback ones
/// unless the container shares the host's network: 127.x inside a network
/// namespace is the container itself. Search domains: `--dns-search`, else
/// the networks' then the base file's. Other lines of the base file stay.
fn resolv_conf(base: &str, options: &EtcOptions<'_>) -> String {
    let mut servers: Vec<String> = Vec::new();
    let mut search: Vec<String> = Vec::new();
    let mut other_lines = Vec::new();
    for line in base.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                let address = words.next().unwrap_or_default();
                let loopback = address.starts_with("127.") || address == "::1";
                if options.host_network || !loopback {
                    servers.push(address.to_string());
                }
            }
            Some("search") | Some("domain") => search.extend(words.map(String::from)),
            _ => other_lines.push(line.to_string()),
        }
    }
    if !options.dns_servers.is_empty() {
        servers = options.dns_servers.iter().map(|s| s.to_string()).collect();
    } else if !options.network_dns_servers.is_empty() {
        servers = options.network_dns_servers.to_vec();
    }
    if !options.dns_search.is_empty() {
        // `--dns-search .` clears the search list, as in Podman.
        search = options
            .dns_search
            .iter()
            .filter(|domain| *domain != ".")
            .cloned()
            .collect();
    } else if !options.network_dns_search.is_empty() {
        let mut domains = options.network_dns_search.to_vec();
        domains.extend(
            search
                .into_iter()
                .filter(|d| !options.network_dns_search.contains(d)),
        );
        search = domains;
    }

    let mut text = String::new();
    if !search.is_empty() {
        text.push_str(&format!("search {}\n", search.join(" ")));
    }
    for server in servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    for line in other_lines.iter().filter(|line| !line.trim().is_empty()) {
        text.push_str(line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str =
        "search example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n";

    #[test]
    fn resolv_conf_drops_loopback_servers_in_own_netns() {
        assert_eq!(
            resolv_conf(HOST, &EtcOptions::default()),
            "search example.com\nnameserver 10.0.0.2\noptions edns0\n"
        );
        let host_network = EtcOptions {
            host_network: true,
            ..EtcOptions::default()
        };
        assert_eq!(
            resolv_conf(HOST, &host_network),
            "search example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n"
        );
    }

    #[test]
    fn resolv_conf_prefers_network_dns_then_flags() {
        let servers = ["10.91.7.1".to_string()];
        let search = ["dns.podman".to_string()];
        let network = EtcOptions {
            network_dns_servers: &servers,
            network_dns_search: &search,
            ..EtcOptions::default()
        };
        assert_eq!(
            resolv_conf(HOST, &network),
            "search dns.podman example.com\nnameserver 10.91.7.1\noptions edns0\n"
        );

        let dns = [Ipv4Addr::new(192, 0, 2, 53)];
        let dns_search = ["corp.test".to_string()];
        let flags = EtcOptions {
            dns_servers: &dns,
            dns_search: &dns_search,
            ..network
        };
        assert_eq!(
            resolv_conf(HOST, &flags),
            "search corp.test\nnameserver 192.0.2.53\noptions edns0\n"
        );
    }

    #[test]
    fn hosts_file_maps_names_to_address() {
        let loopback = EtcOptions {
            hostname: "abc",
            name: "web",
            ..EtcOptions::default()
        };
        assert!(hosts_file(&loopback).ends_with("127.0.1.1\tabc web\n"));

        let host = EtcOptions {
            host_network: true,
            ..loopback.clone()
        };
        assert!(!hosts_file(&host).contains("abc"));

        let extra = [("db".to_string(), "10.91.7.9".to_string())];
        let bridge = EtcOptions {
            address: Some(Ipv4Addr::new(10, 91, 7, 2)),
            add_hosts: &extra,
            ..loopback
        };
        let text = hosts_file(&bridge);
        assert!(text.contains("10.91.7.9\tdb\n"), "{text}");
        assert!(text.ends_with("10.91.7.2\tabc web\n"), "{text}");
    }
}
