//! The `NetworkSettings` part of `inspect`, shaped like Podman's.
use std::collections::BTreeMap;

use serde::Serialize;

use super::{published_ports, Container};

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectNetworkSettings {
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    pub mac_address: String,
    /// `"80/tcp"` to the host addresses it is published on.
    pub ports: BTreeMap<String, Vec<InspectHostPort>>,
    /// The network namespace file.
    pub sandbox_key: String,
    pub networks: BTreeMap<String, InspectEndpoint>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectHostPort {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectEndpoint {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    pub mac_address: String,
    pub aliases: Vec<String>,
}

/// Builds the settings: addresses while the network is set up, published
/// ports always (as requested when the container is not running).
pub(crate) fn settings(container: &Container) -> InspectNetworkSettings {
    let mut settings = InspectNetworkSettings {
        ports: port_bindings(container),
        ..InspectNetworkSettings::default()
    };
    let Some(state) = &container.state.network else {
        return settings;
    };
    settings.sandbox_key = state
        .netns
        .as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    for interface in &state.interfaces {
        let endpoint = InspectEndpoint {
            network_id: interface.network_id.clone(),
            gateway: interface.gateway.map(|g| g.to_string()).unwrap_or_default(),
            ip_address: interface.address.to_string(),
            ip_prefix_len: interface.prefix_len,
            mac_address: interface.mac_address.clone(),
            aliases: vec![container.name.clone()],
        };
        if settings.ip_address.is_empty() {
            settings.gateway = endpoint.gateway.clone();
            settings.ip_address = endpoint.ip_address.clone();
            settings.ip_prefix_len = endpoint.ip_prefix_len;
            settings.mac_address = endpoint.mac_address.clone();
        }
        settings
            .networks
            .insert(interface.network.clone(), endpoint);
    }
    settings
}

/// `"CPORT/PROTOCOL"` to its host addresses, one entry per port of a range.
pub(crate) fn port_bindings(container: &Container) -> BTreeMap<String, Vec<InspectHostPort>> {
    let mut bindings: BTreeMap<String, Vec<InspectHostPort>> = BTreeMap::new();
    for mapping in published_ports(container) {
        for offset in 0..mapping.range {
            let host_port = if mapping.host_port == 0 {
                String::new()
            } else {
                (mapping.host_port + offset).to_string()
            };
            bindings
                .entry(format!(
                    "{}/{}",
                    mapping.container_port + offset,
                    mapping.protocol
                ))
                .or_default()
                .push(InspectHostPort {
                    host_ip: mapping.host_ip.clone(),
                    host_port,
                });
        }
    }
    bindings
}
