//! A network definition, stored as JSON in netavark's own format, so the
//! same value is written to disk and handed to `netavark setup`.
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::Ipv4Subnet;

/// The network every rootful container joins unless `--network` selects
/// another.
pub const DEFAULT_NETWORK: &str = "berth";

/// The default network's bridge.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// The default network's subnet. Podman's default is 10.88.0.0/16 and its
/// automatic subnets start at 10.89.0.0/24, so berth stays clear of both.
pub const DEFAULT_SUBNET: &str = "10.90.0.0/16";

/// The pool of subnets for networks created without `--subnet`, handed
/// out one /24 at a time.
pub const SUBNET_POOL: &str = "10.91.0.0/16";

/// The default network's id: fixed, so every berth root describes the same
/// network to netavark (its firewall chains are named after the network).
/// It is the hex of the ASCII text "berth default network", zero-padded.
pub const DEFAULT_NETWORK_ID: &str =
    "62657274682064656661756c74206e6574776f726b0000000000000000000000";

/// One network, in the JSON shape netavark reads from `network_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub driver: String,
    /// The bridge on the host.
    pub network_interface: String,
    /// RFC 3339.
    pub created: String,
    pub subnets: Vec<SubnetConfig>,
    pub ipv6_enabled: bool,
    /// No route out of the network and no masquerading.
    pub internal: bool,
    /// Whether aardvark-dns resolves container names on this network.
    pub dns_enabled: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub ipam_options: BTreeMap<String, String>,
}

/// One subnet of a network with its gateway (the bridge's address).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetConfig {
    pub subnet: Ipv4Subnet,
    pub gateway: Option<Ipv4Addr>,
}

impl Network {
    /// Returns the first subnet; berth gives each network exactly one.
    pub fn subnet(&self) -> Option<&SubnetConfig> {
        self.subnets.first()
    }

    pub fn is_default(&self) -> bool {
        self.name == DEFAULT_NETWORK
    }
}

/// The options of `network create`.
#[derive(Debug, Clone, Default)]
pub struct NetworkRequest {
    pub name: String,
    /// `None` takes the next free /24 from [`SUBNET_POOL`].
    pub subnet: Option<String>,
    /// `None` takes the subnet's first host address.
    pub gateway: Option<String>,
    pub internal: bool,
    /// Whether aardvark-dns serves container names (`--disable-dns` turns
    /// it off).
    pub dns_enabled: bool,
    pub labels: BTreeMap<String, String>,
}

/// Checks `name` against Podman's rule for network names.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names_follow_podman_rule() {
        assert!(is_valid_name("web-1.net_a"));
        assert!(!is_valid_name("-web"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a/b"));
    }

    #[test]
    fn default_network_id_is_64_hex() {
        assert_eq!(DEFAULT_NETWORK_ID.len(), 64);
        assert!(DEFAULT_NETWORK_ID.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
