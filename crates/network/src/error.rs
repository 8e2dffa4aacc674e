use std::path::PathBuf;

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {name} not found: list networks with `berth network ls` or create it with `berth network create {name}`")]
    NoSuchNetwork { name: String },

    #[error("network {name} already exists: choose another name or remove it first")]
    NetworkExists { name: String },

    #[error("invalid network name {name:?}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    InvalidName { name: String },

    #[error("network {name} is the default network and cannot be removed")]
    DefaultNetworkRemoval { name: String },

    #[error("invalid {option} {value:?}: {reason}")]
    InvalidOption {
        option: &'static str,
        value: String,
        reason: String,
    },

    #[error("subnet {subnet} overlaps {other}: choose another subnet with --subnet")]
    SubnetOverlap { subnet: String, other: String },

    #[error("no free /24 subnet left in {pool}: give one with --subnet")]
    NoFreeSubnet { pool: String },

    #[error("no free IP address left in subnet {subnet} of network {network}: remove containers from it or use another network")]
    NoFreeAddress { network: String, subnet: String },

    #[error("{feature} is not supported yet")]
    Unsupported { feature: String },

    #[error("host port {port}/{protocol} on {host_ip} is already in use: choose another host port or stop the program that uses it")]
    PortInUse {
        host_ip: String,
        port: u16,
        protocol: String,
    },

    #[error("cannot bind host port {port}/{protocol} on {host_ip}: {source}")]
    PortBind {
        host_ip: String,
        port: u16,
        protocol: String,
        #[source]
        source: std::io::Error,
    },

    #[error("netavark not found at {}: install it with `apt-get install netavark`", .path.display())]
    NetavarkNotFound { path: PathBuf },

    #[error("netavark {op} failed: {message}")]
    NetavarkFailed { op: &'static str, message: String },

    #[error("{op} network namespace {}: {source}", .path.display())]
    Namespace {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is not valid JSON: {source}", .path.display())]
    InvalidFile {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("slirp4netns not found: rootless containers need it for their network; install the slirp4netns package (`apt-get install slirp4netns`) or use --network none")]
    Slirp4netnsNotFound,

    #[error("slirp4netns failed for container {container_id:.12}: {message}")]
    Slirp4netnsFailed {
        container_id: String,
        message: String,
    },

    #[error(
        "cannot publish {mapping} for container {container_id:.12}: slirp4netns replied: {message}"
    )]
    PortForwardFailed {
        container_id: String,
        mapping: String,
        message: String,
    },

    #[error("{op} {}: {source}", .path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl NetworkError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NetworkError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, NetworkError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_in_use_message_names_the_port() {
        let error = NetworkError::PortInUse {
            host_ip: "127.0.0.1".into(),
            port: 8080,
            protocol: "tcp".into(),
        };
        assert_eq!(
            error.to_string(),
            "host port 8080/tcp on 127.0.0.1 is already in use: choose another host port or stop the program that uses it"
        );
    }

    #[test]
    fn overlap_message_names_both_subnets() {
        let error = NetworkError::SubnetOverlap {
            subnet: "10.91.0.0/24".into(),
            other: "network web (10.91.0.0/16)".into(),
        };
        assert_eq!(
            error.to_string(),
            "subnet 10.91.0.0/24 overlaps network web (10.91.0.0/16): choose another subnet with --subnet"
        );
    }
}
