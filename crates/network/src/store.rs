//! The network store: one JSON file per network under `ROOT/networks/`,
//! and the IP addresses given to containers under
//! `ROOT/networks/allocations/<network>.json`. A flock on
//! `ROOT/networks/networks.lock` serializes every change.
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use rand::Rng;
use tracing::debug;

use crate::definition::{
    is_valid_name, Network, NetworkRequest, SubnetConfig, DEFAULT_BRIDGE, DEFAULT_NETWORK,
    DEFAULT_NETWORK_ID, DEFAULT_SUBNET, SUBNET_POOL,
};
use crate::{host_routes, Ipv4Subnet, NetworkError, Result};

/// Addresses given to containers of one network: address to container id.
type Allocations = BTreeMap<Ipv4Addr, String>;

/// Network definitions and IP allocations of one berth root.
#[derive(Debug, Clone)]
pub struct NetworkStore {
    dir: PathBuf,
}

/// The store's lock, held while it is alive.
pub struct StoreLock {
    _lock: Flock<std::fs::File>,
}

impl NetworkStore {
    /// Opens the store in `dir`, creating the directory on first use.
    pub fn open(dir: &Path) -> Result<NetworkStore> {
        std::fs::create_dir_all(dir.join("allocations"))
            .map_err(|e| NetworkError::io("create directory", dir, e))?;
        Ok(NetworkStore {
            dir: dir.to_path_buf(),
        })
    }

    /// Takes the store's lock; every other method except the read-only
    /// ones expects the caller to hold it.
    pub fn lock(&self) -> Result<StoreLock> {
        let path = self.dir.join("networks.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| NetworkError::io("open lock", &path, e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| NetworkError::io("lock", &path, errno.into()))?;
        Ok(StoreLock { _lock: lock })
    }

    fn definition_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    fn allocations_path(&self, name: &str) -> PathBuf {
        self.dir.join("allocations").join(format!("{name}.json"))
    }

    /// Loads a network. The default network is created on first use.
    pub fn get(&self, name: &str) -> Result<Network> {
        if !is_valid_name(name) {
            return Err(NetworkError::InvalidName {
                name: name.to_string(),
            });
        }
        if name == DEFAULT_NETWORK {
            return self.ensure_default();
        }
        read_json::<Network>(&self.definition_path(name))?.ok_or_else(|| {
            NetworkError::NoSuchNetwork {
                name: name.to_string(),
            }
        })
    }

    /// Lists every network, the default one first.
    pub fn list(&self) -> Result<Vec<Network>> {
        let mut networks = vec![self.ensure_default()?];
        networks.extend(
            self.stored()?
                .into_iter()
                .filter(|network| !network.is_default()),
        );
        Ok(networks)
    }

    fn stored(&self) -> Result<Vec<Network>> {
        let entries =
            std::fs::read_dir(&self.dir).map_err(|e| NetworkError::io("list", &self.dir, e))?;
        let mut networks = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| NetworkError::io("list", &self.dir, e))?
                .path();
            if path.extension().is_some_and(|ext| ext == "json") {
                networks.extend(read_json::<Network>(&path)?);
            }
        }
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(networks)
    }

    fn ensure_default(&self) -> Result<Network> {
        let path = self.definition_path(DEFAULT_NETWORK);
        if let Some(network) = read_json::<Network>(&path)? {
            return Ok(network);
        }
        let _lock = self.lock()?;
        if let Some(network) = read_json::<Network>(&path)? {
            return Ok(network);
        }
        let subnet: Ipv4Subnet = DEFAULT_SUBNET.parse().expect("the default subnet is valid");
        self.check_overlap(&subnet, DEFAULT_BRIDGE)?;
        let network = Network {
            name: DEFAULT_NETWORK.to_string(),
            id: DEFAULT_NETWORK_ID.to_string(),
            driver: "bridge".to_string(),
            network_interface: DEFAULT_BRIDGE.to_string(),
            created: chrono::Utc::now().to_rfc3339(),
            subnets: vec![SubnetConfig {
                subnet,
                gateway: subnet.first_host(),
            }],
            ipv6_enabled: false,
            internal: false,
            // As in Podman, the default network has no name resolution.
            dns_enabled: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            ipam_options: host_local_ipam(),
        };
        write_json(&path, &network)?;
        debug!(network = DEFAULT_NETWORK, subnet = %subnet, "default network created");
        Ok(network)
    }

    /// Creates a network. Its bridge appears when the first container
    /// joins it, made by netavark.
    pub fn create(&self, request: &NetworkRequest) -> Result<Network> {
        if !is_valid_name(&request.name) {
            return Err(NetworkError::InvalidName {
                name: request.name.clone(),
            });
        }
        self.ensure_default()?;
        let _lock = self.lock()?;
        if self.definition_path(&request.name).exists() {
            return Err(NetworkError::NetworkExists {
                name: request.name.clone(),
            });
        }

        let id = hex::encode(rand::random::<[u8; 32]>());
        // Docker's bridge naming: unique across berth roots, unlike a
        // counter, and within the kernel's 15-byte limit.
        let bridge = format!("br-{}", &id[..12]);
        let subnet = match &request.subnet {
            Some(text) => {
                let subnet =
                    text.parse::<Ipv4Subnet>()
                        .map_err(|e| NetworkError::InvalidOption {
                            option: "--subnet",
                            value: text.clone(),
                            reason: e.to_string(),
                        })?;
                if subnet.size() < 4 {
                    return Err(NetworkError::InvalidOption {
                        option: "--subnet",
                        value: text.clone(),
                        reason: "the subnet must hold at least 4 addresses (a /30)".into(),
                    });
                }
                self.check_overlap(&subnet, &bridge)?;
                subnet
            }
            None => self.free_subnet(&bridge)?,
        };
        let gateway = match &request.gateway {
            Some(text) => {
                let gateway: Ipv4Addr = text.parse().map_err(|_| NetworkError::InvalidOption {
                    option: "--gateway",
                    value: text.clone(),
                    reason: "not an IPv4 address".into(),
                })?;
                if !subnet.is_host_address(gateway) {
                    return Err(NetworkError::InvalidOption {
                        option: "--gateway",
                        value: text.clone(),
                        reason: format!("not a host address of subnet {subnet}"),
                    });
                }
                gateway
            }
            None => subnet
                .first_host()
                .expect("subnets hold at least 4 addresses"),
        };

        let network = Network {
            name: request.name.clone(),
            id,
            driver: "bridge".to_string(),
            network_interface: bridge,
            created: chrono::Utc::now().to_rfc3339(),
            subnets: vec![SubnetConfig {
                subnet,
                gateway: Some(gateway),
            }],
            ipv6_enabled: false,
            internal: request.internal,
            dns_enabled: request.dns_enabled,
            labels: request.labels.clone(),
            options: BTreeMap::new(),
            ipam_options: host_local_ipam(),
        };
        write_json(&self.definition_path(&network.name), &network)?;
        debug!(network = %network.name, subnet = %subnet, bridge = %network.network_interface, "network created");
        Ok(network)
    }

    /// Deletes a network's definition and allocations. The caller has
    /// made sure no container uses it.
    pub fn remove(&self, name: &str) -> Result<()> {
        if name == DEFAULT_NETWORK {
            return Err(NetworkError::DefaultNetworkRemoval {
                name: name.to_string(),
            });
        }
        let _lock = self.lock()?;
        let path = self.definition_path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(NetworkError::NoSuchNetwork {
                    name: name.to_string(),
                })
            }
            Err(e) => return Err(NetworkError::io("remove", &path, e)),
        }
        let allocations = self.allocations_path(name);
        match std::fs::remove_file(&allocations) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetworkError::io("remove", &allocations, e)),
        }
    }

    /// Rejects a network whose subnet the host routes through an interface
    /// other than the network's own bridge, such as a bridge of another
    /// berth root with the same subnet.
    pub fn check_routes(&self, network: &crate::Network) -> Result<()> {
        let Some(subnet) = network.subnet() else {
            return Ok(());
        };
        for route in host_routes::read()? {
            if route.interface != network.network_interface
                && route.destination.overlaps(&subnet.subnet)
            {
                return Err(NetworkError::SubnetOverlap {
                    subnet: subnet.subnet.to_string(),
                    other: format!(
                        "the host route to {} on {}",
                        route.destination, route.interface
                    ),
                });
            }
        }
        Ok(())
    }

    /// Rejects a subnet that overlaps another network of this root or a
    /// route of the host, except routes through the network's own bridge.
    fn check_overlap(&self, subnet: &Ipv4Subnet, bridge: &str) -> Result<()> {
        for other in self.stored()? {
            if let Some(other_subnet) = other.subnet() {
                if other_subnet.subnet.overlaps(subnet) {
                    return Err(NetworkError::SubnetOverlap {
                        subnet: subnet.to_string(),
                        other: format!("network {} ({})", other.name, other_subnet.subnet),
                    });
                }
            }
        }
        for route in host_routes::read()? {
            if route.interface != bridge && route.destination.overlaps(subnet) {
                return Err(NetworkError::SubnetOverlap {
                    subnet: subnet.to_string(),
                    other: format!(
                        "the host route to {} on {}",
                        route.destination, route.interface
                    ),
                });
            }
        }
        Ok(())
    }

    fn free_subnet(&self, bridge: &str) -> Result<Ipv4Subnet> {
        let pool: Ipv4Subnet = SUBNET_POOL.parse().expect("the subnet pool is valid");
        let count = 1u64 << (24 - pool.prefix_len());
        for index in 0..count {
            let network = pool
                .nth(index * 256)
                .expect("the index stays inside the pool");
            let candidate = Ipv4Subnet::new(network, 24).expect("a /24 of the pool");
            if self.check_overlap(&candidate, bridge).is_ok() {
                return Ok(candidate);
            }
        }
        Err(NetworkError::NoFreeSubnet {
            pool: SUBNET_POOL.to_string(),
        })
    }

    /// Gives `container_id` an address in `network`, or returns the one it
    /// has. Caller holds the lock.
    ///
    /// The search starts at a random address rather than the lowest free
    /// one. NOTE: allocations are per berth root, but a network name (the
    /// default network in particular) and its bridge are shared by every
    /// root on the host. The random start makes it unlikely, not
    /// impossible, that two roots give the same address on one bridge.
    pub fn allocate(&self, network: &Network, container_id: &str) -> Result<Ipv4Addr> {
        let path = self.allocations_path(&network.name);
        let mut allocations: Allocations = read_json(&path)?.unwrap_or_default();
        if let Some((address, _)) = allocations.iter().find(|(_, id)| *id == container_id) {
            return Ok(*address);
        }
        let subnet = network
            .subnet()
            .ok_or_else(|| NetworkError::NoFreeAddress {
                network: network.name.clone(),
                subnet: "(none)".into(),
            })?;
        let size = subnet.subnet.size();
        let start = rand::thread_rng().gen_range(0..size);
        let address = (0..size)
            .filter_map(|step| subnet.subnet.nth((start + step) % size))
            .find(|address| {
                subnet.subnet.is_host_address(*address)
                    && Some(*address) != subnet.gateway
                    && !allocations.contains_key(address)
            })
            .ok_or_else(|| NetworkError::NoFreeAddress {
                network: network.name.clone(),
                subnet: subnet.subnet.to_string(),
            })?;
        allocations.insert(address, container_id.to_string());
        write_json(&path, &allocations)?;
        Ok(address)
    }

    /// Frees the address of `container_id` in network `name`. Caller holds
    /// the lock.
    pub fn release(&self, name: &str, container_id: &str) -> Result<()> {
        let path = self.allocations_path(name);
        let Some(mut allocations) = read_json::<Allocations>(&path)? else {
            return Ok(());
        };
        allocations.retain(|_, id| id != container_id);
        write_json(&path, &allocations)
    }
}

fn host_local_ipam() -> BTreeMap<String, String> {
    BTreeMap::from([("driver".to_string(), "host-local".to_string())])
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(NetworkError::io("read", path, e)),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| NetworkError::InvalidFile {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes to a temporary file and renames it, so readers never see half a
/// file.
fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let temporary = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(value).expect("network state serializes");
    std::fs::write(&temporary, text).map_err(|e| NetworkError::io("write", &temporary, e))?;
    std::fs::rename(&temporary, path).map_err(|e| NetworkError::io("rename", &temporary, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str, subnet: &str) -> NetworkRequest {
        NetworkRequest {
            name: name.into(),
            subnet: Some(subnet.into()),
            dns_enabled: true,
            ..NetworkRequest::default()
        }
    }

    #[test]
    fn create_rejects_overlapping_subnet() {
        let dir = tempfile::tempdir().unwrap();
        let store = NetworkStore::open(dir.path()).unwrap();
        store.create(&request("a", "10.91.200.0/24")).unwrap();
        let error = store.create(&request("b", "10.91.200.128/25")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "subnet 10.91.200.128/25 overlaps network a (10.91.200.0/24): choose another subnet with --subnet"
        );
    }

    #[test]
    fn create_rejects_duplicate_name_and_bad_gateway() {
        let dir = tempfile::tempdir().unwrap();
        let store = NetworkStore::open(dir.path()).unwrap();
        store.create(&request("a", "10.91.201.0/24")).unwrap();
        assert!(matches!(
            store.create(&request("a", "10.91.202.0/24")),
            Err(NetworkError::NetworkExists { .. })
        ));
        let mut bad_gateway = request("c", "10.91.203.0/24");
        bad_gateway.gateway = Some("10.91.204.1".into());
        assert!(store.create(&bad_gateway).is_err());
    }

    #[test]
    fn allocate_is_stable_and_avoids_gateway() {
        let dir = tempfile::tempdir().unwrap();
        let store = NetworkStore::open(dir.path()).unwrap();
        let network = store.create(&request("small", "10.91.205.0/30")).unwrap();
        let first = store.allocate(&network, "c1").unwrap();
        assert_eq!(first, Ipv4Addr::new(10, 91, 205, 2));
        assert_eq!(store.allocate(&network, "c1").unwrap(), first);
        assert!(matches!(
            store.allocate(&network, "c2"),
            Err(NetworkError::NoFreeAddress { .. })
        ));
        store.release("small", "c1").unwrap();
        assert_eq!(store.allocate(&network, "c2").unwrap(), first);
    }

    #[test]
    fn default_network_cannot_be_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = NetworkStore::open(dir.path()).unwrap();
        assert!(matches!(
            store.remove(DEFAULT_NETWORK),
            Err(NetworkError::DefaultNetworkRemoval { .. })
        ));
        assert_eq!(store.list().unwrap()[0].name, DEFAULT_NETWORK);
    }
}
