//! IPv4 subnets in CIDR form (`10.90.0.0/16`).
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPv4 subnet. The address is always the network address: host bits
/// are rejected when parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Subnet {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Subnet {
    /// Builds a subnet; `None` when `prefix_len` is above 32 or `network`
    /// has host bits set.
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Option<Ipv4Subnet> {
        if prefix_len > 32 {
            return None;
        }
        let subnet = Ipv4Subnet {
            network,
            prefix_len,
        };
        (u32::from(network) & !subnet.mask() == 0).then_some(subnet)
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    fn mask(&self) -> u32 {
        if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix_len)
        }
    }

    /// Counts the addresses, network and broadcast address included.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix_len)
    }

    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == u32::from(self.network)
    }

    pub fn overlaps(&self, other: &Ipv4Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// Returns the address at `offset` from the network address.
    pub fn nth(&self, offset: u64) -> Option<Ipv4Addr> {
        (offset < self.size()).then(|| Ipv4Addr::from(u32::from(self.network) + offset as u32))
    }

    /// Returns the first host address, which berth gives the bridge when
    /// no gateway is set, as Podman does.
    pub fn first_host(&self) -> Option<Ipv4Addr> {
        (self.size() >= 4).then(|| self.nth(1)).flatten()
    }

    /// Checks that `address` is usable by a host: inside the subnet and
    /// neither the network nor the broadcast address.
    pub fn is_host_address(&self, address: Ipv4Addr) -> bool {
        let offset = u64::from(u32::from(address).wrapping_sub(u32::from(self.network)));
        self.contains(address) && offset != 0 && offset != self.size() - 1
    }
}

impl fmt::Display for Ipv4Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// The reason a subnet did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetParseError(pub &'static str);

impl fmt::Display for SubnetParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl FromStr for Ipv4Subnet {
    type Err = SubnetParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix_len) = text.split_once('/').ok_or(SubnetParseError(
            "expected ADDRESS/PREFIX, e.g. 10.91.0.0/24",
        ))?;
        let address: Ipv4Addr = address.parse().map_err(|_| {
            if address.contains(':') {
                SubnetParseError("IPv6 subnets are not supported yet")
            } else {
                SubnetParseError("the address is not an IPv4 address")
            }
        })?;
        let prefix_len: u8 =
            prefix_len
                .parse()
                .ok()
                .filter(|p| *p <= 32)
                .ok_or(SubnetParseError(
                    "the prefix length must be a number from 0 to 32",
                ))?;
        Ipv4Subnet::new(address, prefix_len).ok_or(SubnetParseError(
            "the address has host bits set: give the network address",
        ))
    }
}

impl Serialize for Ipv4Subnet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Subnet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(text: &str) -> Ipv4Subnet {
        text.parse().unwrap()
    }

    #[test]
    fn parse_accepts_network_addresses() {
        let parsed = subnet("10.91.3.0/24");
        assert_eq!(parsed.network(), Ipv4Addr::new(10, 91, 3, 0));
        assert_eq!(parsed.prefix_len(), 24);
        assert_eq!(parsed.to_string(), "10.91.3.0/24");
    }

    #[test]
    fn parse_rejects_bad_subnets() {
        for text in [
            "10.91.3.1/24",
            "10.91.3.0",
            "10.91.3.0/33",
            "abc/24",
            "fd00::/64",
        ] {
            assert!(text.parse::<Ipv4Subnet>().is_err(), "{text}");
        }
    }

    #[test]
    fn overlap_is_symmetric() {
        assert!(subnet("10.90.0.0/16").overlaps(&subnet("10.90.7.0/24")));
        assert!(subnet("10.90.7.0/24").overlaps(&subnet("10.90.0.0/16")));
        assert!(!subnet("10.90.7.0/24").overlaps(&subnet("10.90.8.0/24")));
    }

    #[test]
    fn host_addresses_exclude_network_and_broadcast() {
        let s = subnet("10.91.3.0/24");
        assert!(!s.is_host_address(Ipv4Addr::new(10, 91, 3, 0)));
        assert!(s.is_host_address(Ipv4Addr::new(10, 91, 3, 1)));
        assert!(!s.is_host_address(Ipv4Addr::new(10, 91, 3, 255)));
        assert!(!s.is_host_address(Ipv4Addr::new(10, 91, 4, 1)));
        assert_eq!(s.first_host(), Some(Ipv4Addr::new(10, 91, 3, 1)));
    }
}
