//! berth's network layer: network definitions and IP allocation
//! ([`NetworkStore`]), network namespaces ([`netns`]), the netavark driver
//! ([`Netavark`]), user-mode networking for rootless containers
//! ([`slirp4netns`]), and published ports ([`ports`]). It uses nothing of
//! containers beyond their ids and names, and the engine composes it.
#![deny(unsafe_code)]

mod definition;
mod error;
mod host_routes;
pub mod netavark;
pub mod netns;
pub mod ports;
pub mod slirp4netns;
mod store;
mod subnet;

pub use definition::{
    is_valid_name, Network, NetworkRequest, SubnetConfig, DEFAULT_BRIDGE, DEFAULT_NETWORK,
    DEFAULT_SUBNET, SUBNET_POOL,
};
pub use error::{NetworkError, Result};
pub use netavark::{Netavark, PerNetworkOptions, SetupRequest, StatusBlock};
pub use ports::PortMapping;
pub use store::{NetworkStore, StoreLock};
pub use subnet::Ipv4Subnet;
