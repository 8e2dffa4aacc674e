//! `network create`, `ls`, `inspect` and `rm`: the engine's side of the
//! network store, which adds which containers use a network.
use berth_network::{Network, NetworkRequest};
use tracing::debug;

use crate::container::{Container, RemoveOptions};
use crate::{Engine, EngineError, Result};

/// One row of `network ls`.
#[derive(Debug, Clone)]
pub struct NetworkSummary {
    pub network: Network,
    /// Names of the containers configured to join it.
    pub containers: Vec<String>,
}

impl Engine {
    /// Creates a network; its bridge is made by netavark when the first
    /// container joins.
    pub fn create_network(&self, request: &NetworkRequest) -> Result<Network> {
        // Bridges and firewall rules need root; a rootless container only
        // has slirp4netns, none or host.
        if self.options.rootless {
            return Err(EngineError::Unsupported {
                feature: "network create for rootless berth (rootless containers use slirp4netns, none or host)"
                    .into(),
            });
        }
        Ok(self.networks.create(request)?)
    }

    /// Lists networks, the default one first.
    pub fn list_networks(&self) -> Result<Vec<NetworkSummary>> {
        let containers = self.db.all()?;
        Ok(self
            .networks
            .list()?
            .into_iter()
            .map(|network| NetworkSummary {
                containers: users(&containers, &network.name)
                    .map(|c| c.name.clone())
                    .collect(),
                network,
            })
            .collect())
    }

    /// Loads one network by name.
    pub fn inspect_network(&self, name: &str) -> Result<Network> {
        Ok(self.networks.get(name)?)
    }

    /// Removes a network. Containers that use it block the removal unless
    /// `force`, which removes them first (stopping running ones).
    pub fn remove_network(&self, name: &str, force: bool) -> Result<()> {
        let network = self.networks.get(name)?;
        if network.is_default() {
            return Err(berth_network::NetworkError::DefaultNetworkRemoval {
                name: name.to_string(),
            }
            .into());
        }
        let containers = self.db.all()?;
        let users: Vec<&Container> = users(&containers, name).collect();
        if let Some(first) = users.first() {
            if !force {
                return Err(EngineError::NetworkInUse {
                    network: name.to_string(),
                    container: first.name.clone(),
                });
            }
        }
        for container in users {
            let options = RemoveOptions {
                force: true,
                timeout: None,
                ..Default::default()
            };
            match self.remove(&container.id, &options) {
                Ok(()) | Err(EngineError::NoSuchContainer { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        self.networks.remove(name)?;
        debug!(network = name, "network removed");
        Ok(())
    }
}

fn users<'a>(containers: &'a [Container], network: &'a str) -> impl Iterator<Item = &'a Container> {
    containers.iter().filter(move |c| {
        c.config.network == "bridge"
            && c.config
                .network_config
                .networks
                .iter()
                .any(|n| n == network)
    })
}
