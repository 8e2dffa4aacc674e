//! A container's network: the `--network` choice made at create time, and
//! at init the reserved host ports, the network namespace and the netavark
//! setup, undone by [`Engine::teardown_network`] when the container's
//! runtime resources are released.
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use berth_network::{netns, ports, Netavark, PerNetworkOptions, PortMapping, SetupRequest};
use berth_oci::spec::NetworkMode;
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::{Container, ContainerStatus, CreateOptions};
use crate::{Engine, EngineError, Result};

/// The network part of a container's configuration, besides the mode in
/// [`super::ContainerConfig::network`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// The networks of a `bridge` container.
    pub networks: Vec<String>,
    /// `-p` and `-P`; host port 0 is picked when the container starts.
    pub ports: Vec<PortMapping>,
    pub dns_servers: Vec<Ipv4Addr>,
    pub dns_search: Vec<String>,
    /// `--add-host NAME:IP`, as (name, address).
    pub add_hosts: Vec<(String, String)>,
}

/// The network of a running container as set up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkState {
    /// The namespace berth created, bind-mounted under the run root.
    pub netns: Option<PathBuf>,
    /// The request netavark was given, which teardown repeats.
    pub setup: Option<SetupRequest>,
    pub interfaces: Vec<InterfaceState>,
    /// Published ports with their host ports picked.
    pub ports: Vec<PortMapping>,
    /// aardvark-dns addresses and search domains, when a network has them.
    pub dns_servers: Vec<String>,
    pub dns_search: Vec<String>,
}

/// The container's interface on one network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceState {
    pub network: String,
    pub network_id: String,
    pub interface: String,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac_address: String,
}

/// The result of the network setup that init uses.
pub(crate) struct PreparedNetwork {
    pub mode: NetworkMode,
    /// Sockets holding the published host ports; conmon keeps copies.
    pub held_ports: Vec<OwnedFd>,
    /// /etc/resolv.conf of the container whose namespace this one joins.
    pub joined_resolv_conf: Option<String>,
}

/// Resolves `--network`, `-p`, `-P`, `--dns`, `--dns-search` and
/// `--add-host` at create time. `exposed_ports` are the image's, for `-P`.
/// Returns the mode (`bridge`, `none`, `host`, `ns:PATH` or
/// `container:ID` with the full id) and the rest.
pub(crate) fn resolve(
    engine: &Engine,
    options: &CreateOptions,
    exposed_ports: &[String],
) -> Result<(String, NetworkConfig)> {
    let requested = options
        .network
        .clone()
        .unwrap_or_else(|| default_mode().into());
    let mut config = NetworkConfig::default();
    let mode: String = match requested.as_str() {
        "none" | "host" => requested.clone(),
        "bridge" | "private" | "default" => {
            // Creates the default network on first use.
            engine.networks.get(berth_network::DEFAULT_NETWORK)?;
            config.networks = vec![berth_network::DEFAULT_NETWORK.into()];
            "bridge".into()
        }
        value if value.starts_with("ns:") => {
            let path = PathBuf::from(&value[3..]);
            if !path.exists() {
                return Err(EngineError::InvalidOption {
                    option: "--network",
                    value: value.into(),
                    reason: format!("the namespace file {} does not exist", path.display()),
                });
            }
            value.into()
        }
        value if value.starts_with("container:") => {
            let target = engine.container(&value["container:".len()..])?;
            format!("container:{}", target.id)
        }
        name if name.contains(':') || name.contains(',') => {
            return Err(EngineError::Unsupported {
                feature: format!(
                    "--network {name} (use one of bridge, none, host, NAME, ns:PATH, container:ID)"
                ),
            })
        }
        name => {
            engine.networks.get(name)?;
            config.networks = vec![name.into()];
            "bridge".into()
        }
    };

    for value in &options.publish {
        config.ports.extend(ports::parse_publish(value)?);
    }
    if options.publish_all {
        for exposed in exposed_ports {
            let mappings =
                ports::parse_publish(exposed).map_err(|_| EngineError::InvalidOption {
                    option: "--publish-all",
                    value: exposed.clone(),
                    reason: "the image's ExposedPorts entry is not PORT[/PROTOCOL]".into(),
                })?;
            for mapping in mappings {
                if !config.ports.iter().any(|p| {
                    p.container_port == mapping.container_port && p.protocol == mapping.protocol
                }) {
                    config.ports.push(mapping);
                }
            }
        }
    }
    if !config.ports.is_empty() && mode != "bridge" {
        return Err(EngineError::InvalidOption {
            option: "--publish",
            value: options.publish.join(","),
            reason: format!(
                "ports can only be published on bridge networks, not with --network {requested}"
            ),
        });
    }

    // Without a network of its own a container has no name server to reach,
    // so Podman refuses these options there.
    if mode == "none" && !(options.dns.is_empty() && options.dns_search.is_empty()) {
        return Err(EngineError::InvalidOption {
            option: "--dns",
            value: options
                .dns
                .iter()
                .chain(&options.dns_search)
                .cloned()
                .collect::<Vec<_>>()
                .join(","),
            reason: "conflicting options: dns and the network mode: none".into(),
        });
    }
    for server in &options.dns {
        config
            .dns_servers
            .push(server.parse().map_err(|_| EngineError::InvalidOption {
                option: "--dns",
                value: server.clone(),
                reason: "not an IPv4 address".into(),
            })?);
    }
    config.dns_search = options.dns_search.clone();
    for entry in &options.add_hosts {
        let (name, address) = entry
            .split_once(':')
            .ok_or_else(|| EngineError::InvalidOption {
                option: "--add-host",
                value: entry.clone(),
                reason: "expected NAME:IP".into(),
            })?;
        if name.is_empty() || address.parse::<std::net::IpAddr>().is_err() {
            return Err(EngineError::InvalidOption {
                option: "--add-host",
                value: entry.clone(),
                reason: "expected NAME:IP with an IPv4 or IPv6 address".into(),
            });
        }
        config.add_hosts.push((name.into(), address.into()));
    }
    Ok((mode, config))
}

/// Bridge for root, as in Podman. Rootless containers would need a user
/// mode network stack (slirp4netns or pasta), which berth does not drive.
fn default_mode() -> &'static str {
    if nix::unistd::geteuid().is_root() {
        "bridge"
    } else {
        "none"
    }
}

impl Engine {
    /// Reserves the published host ports, creates the namespace and runs
    /// `netavark setup`. The namespace path and the request are saved
    /// before netavark runs, so a crash still leaves enough for teardown.
    /// On error the caller releases the runtime resources, which tears
    /// down whatever was made. Caller holds the container's lock.
    pub(crate) fn setup_network(&self, container: &mut Container) -> Result<PreparedNetwork> {
        let config = container.config.network_config.clone();
        let mode = container.config.network.as_str();
        // slirp4netns (rootless) configures a new, empty namespace itself
        // once the container exists.
        if mode == "none" || mode == "host" || mode == "slirp4netns" {
            let mode = if mode == "host" {
                NetworkMode::Host
            } else {
                NetworkMode::None
            };
            return Ok(PreparedNetwork {
                mode,
                held_ports: Vec::new(),
                joined_resolv_conf: None,
            });
        }
        if let Some(path) = mode.strip_prefix("ns:") {
            return Ok(PreparedNetwork {
                mode: NetworkMode::Path(PathBuf::from(path)),
                held_ports: Vec::new(),
                joined_resolv_conf: None,
            });
        }
        if let Some(target) = mode.strip_prefix("container:") {
            return self.join_container_network(container, target);
        }

        // Ports first: a taken port fails before anything exists.
        let mut port_mappings = config.ports.clone();
        let reserved = ports::reserve(&mut port_mappings)?;

        let netns_path = self.options.runroot.join("netns").join(&container.id);
        let mut request = SetupRequest {
            container_id: container.id.clone(),
            container_name: container.name.clone(),
            networks: BTreeMap::new(),
            network_info: BTreeMap::new(),
            port_mappings: port_mappings.clone(),
        };
        // Loaded before the store lock is taken: loading the default
        // network may create it, which takes the lock itself.
        let networks = config
            .networks
            .iter()
            .map(|name| self.networks.get(name))
            .collect::<berth_network::Result<Vec<_>>>()?;
        // Another berth root may have brought up a bridge with the same
        // subnet after this network was created; two such bridges break
        // forwarding for both, so this container does not start.
        for network in &networks {
            self.networks.check_routes(network)?;
        }
        {
            let _store_lock = self.networks.lock()?;
            for (index, network) in networks.into_iter().enumerate() {
                let name = network.name.clone();
                let address = self.networks.allocate(&network, &container.id)?;
                request.networks.insert(
                    name.clone(),
                    PerNetworkOptions {
                        aliases: vec![container.name.clone()],
                        interface_name: format!("eth{index}"),
                        static_ips: vec![address],
                    },
                );
                request.network_info.insert(name.clone(), network);
            }
        }
        netns::create(&netns_path)?;
        container.state.network = Some(NetworkState {
            netns: Some(netns_path.clone()),
            setup: Some(request.clone()),
            ports: port_mappings,
            ..NetworkState::default()
        });
        self.db.save_state(&container.id, &container.state)?;

        let status = self.netavark()?.setup(&netns_path, &request)?;
        let state = container.state.network.as_mut().expect("set above");
        for (name, block) in &status {
            for (interface, details) in block.interfaces.iter().flatten() {
                for address in details.subnets.iter().flatten() {
                    let Some((ip, prefix)) = address.ipnet.split_once('/') else {
                        continue;
                    };
                    state.interfaces.push(InterfaceState {
                        network: name.clone(),
                        network_id: request.network_info[name].id.clone(),
                        interface: interface.clone(),
                        address: ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
                        prefix_len: prefix.parse().unwrap_or(0),
                        gateway: address.gateway.as_deref().and_then(|g| g.parse().ok()),
                        mac_address: details.mac_address.clone(),
                    });
                }
            }
            state
                .dns_servers
                .extend(block.dns_server_ips.iter().flatten().cloned());
            for domain in block.dns_search_domains.iter().flatten() {
                if !state.dns_search.contains(domain) {
                    state.dns_search.push(domain.clone());
                }
            }
        }
        state
            .interfaces
            .sort_by(|a, b| a.interface.cmp(&b.interface));
        debug!(container_id = %container.id, interfaces = ?state.interfaces, "network set up");
        self.db.save_state(&container.id, &container.state)?;
        Ok(PreparedNetwork {
            mode: NetworkMode::Path(netns_path),
            held_ports: reserved.sockets,
            joined_resolv_conf: None,
        })
    }

    fn join_container_network(
        &self,
        container: &Container,
        target_id: &str,
    ) -> Result<PreparedNetwork> {
        // The target's lock is not taken: its pid is checked against its
        // recorded start time instead, so a stale pid is never joined.
        let target = self
            .db
            .get(target_id)?
            .ok_or_else(|| EngineError::NoSuchContainer {
                name_or_id: target_id.to_string(),
            })?;
        let alive = target.state.status() == ContainerStatus::Running
            && crate::process::start_time(target.state.pid) == Some(target.state.pid_start_time);
        if !alive {
            return Err(EngineError::NetworkContainerNotRunning {
                name: container.name.clone(),
                target: target.name.clone(),
            });
        }
        let resolv = self.paths(&target.id).userdata.join("resolv.conf");
        Ok(PreparedNetwork {
            mode: NetworkMode::Path(PathBuf::from(format!("/proc/{}/ns/net", target.state.pid))),
            held_ports: Vec::new(),
            joined_resolv_conf: std::fs::read_to_string(resolv).ok(),
        })
    }

    /// Undoes [`Engine::setup_network`], best effort: `netavark teardown`,
    /// the IP addresses, the namespace. Each step runs even when an earlier
    /// one failed, and failures are logged, so cleanup after a crash never
    /// stops half way. Caller holds the container's lock and saves the state.
    pub(crate) fn teardown_network(&self, container: &mut Container) {
        let Some(state) = container.state.network.take() else {
            return;
        };
        let id = &container.id;
        if let (Some(netns_path), Some(request)) = (&state.netns, &state.setup) {
            if netns_path.exists() {
                match self.netavark() {
                    Ok(netavark) => {
                        if let Err(error) = netavark.teardown(netns_path, request) {
                            warn!(container_id = %id, %error, "netavark teardown failed; bridge or firewall rules may remain");
                        }
                    }
                    Err(error) => warn!(container_id = %id, %error, "cannot run netavark teardown"),
                }
            }
        }
        if let Some(request) = &state.setup {
            self.release_addresses(id, request.networks.keys());
        }
        if let Some(netns_path) = &state.netns {
            if let Err(error) = netns::remove(netns_path) {
                warn!(container_id = %id, %error, "removing the network namespace failed");
            }
        }
        debug!(container_id = %id, "network torn down");
    }

    /// Frees the container's addresses in `networks`, logging failures.
    pub(crate) fn release_addresses<'a>(
        &self,
        id: &str,
        networks: impl Iterator<Item = &'a String>,
    ) {
        let lock = match self.networks.lock() {
            Ok(lock) => lock,
            Err(error) => {
                warn!(container_id = %id, %error, "cannot lock the network store to free addresses");
                return;
            }
        };
        for name in networks {
            if let Err(error) = self.networks.release(name, id) {
                warn!(container_id = %id, network = %name, %error, "freeing the container's address failed");
            }
        }
        drop(lock);
    }

    fn netavark(&self) -> Result<Netavark> {
        Ok(Netavark::find(&self.options.runroot.join("networks"))?)
    }
}

/// Returns the ports to show for a container: the picked ones while it
/// runs, else the requested ones.
pub(crate) fn published_ports(container: &Container) -> Vec<PortMapping> {
    match &container.state.network {
        Some(state) if !state.ports.is_empty() => state.ports.clone(),
        _ => container.config.network_config.ports.clone(),
    }
}

impl Engine {
    /// Lists the published ports of a container, as `port` shows them.
    pub fn ports(&self, name_or_id: &str) -> Result<Vec<PortMapping>> {
        let container = self.container(name_or_id)?;
        Ok(published_ports(&container))
    }
}
