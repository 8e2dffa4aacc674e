//! Published ports: parsing `-p` values.
use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::{NetworkError, Result};

/// One published port or port range, in netavark's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Empty for every host address.
    pub host_ip: String,
    pub container_port: u16,
    pub host_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// How many consecutive ports, from `host_port` and `container_port`.
    pub range: u16,
}

impl fmt::Display for PortMapping {
    /// Podman's notation: `127.0.0.1:8080->80/tcp`, `0.0.0.0:8000-8001->80-81/udp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host_ip = if self.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &self.host_ip
        };
        let span = |start: u16| {
            if self.range > 1 {
                format!("{start}-{}", u32::from(start) + u32::from(self.range) - 1)
            } else {
                start.to_string()
            }
        };
        write!(
            f,
            "{host_ip}:{}->{}/{}",
            span(self.host_port),
            span(self.container_port),
            self.protocol
        )
    }
}

impl PortMapping {
    /// Lists the pairs of host and container ports the mapping covers.
    pub fn port_pairs(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        (0..self.range.max(1)).map(|offset| (self.host_port + offset, self.container_port + offset))
    }
}

/// Parses one `-p [HOSTIP:]HOSTPORT:CPORT[/PROTOCOL]` value. Ports may be
/// ranges (`8000-8010`) of equal length on both sides.
// NOTE: a missing host port (`-p 80`, a free port picked at start) is
// rejected here, because nothing reserves host ports for slirp4netns yet.
pub fn parse_port_mapping(value: &str) -> Result<PortMapping> {
    let invalid = |reason: String| NetworkError::InvalidOption {
        option: "--publish",
        value: value.to_string(),
        reason,
    };
    let (addresses, protocol) = value.rsplit_once('/').unwrap_or((value, "tcp"));
    if !matches!(protocol, "tcp" | "udp") {
        return Err(invalid(format!(
            "unknown protocol {protocol:?}: use tcp or udp"
        )));
    }
    let parts: Vec<&str> = addresses.split(':').collect();
    let (host_ip, host_ports, container_ports) = match parts.as_slice() {
        [host, container] => ("", *host, *container),
        [ip, host, container] => (*ip, *host, *container),
        [_] => {
            return Err(invalid(
                "give the host port too, e.g. -p 8080:80".to_string(),
            ))
        }
        _ => {
            return Err(invalid(
                "expected [HOSTIP:]HOSTPORT:CONTAINERPORT[/PROTOCOL]".to_string(),
            ))
        }
    };
    if !host_ip.is_empty() && host_ip.parse::<Ipv4Addr>().is_err() {
        return Err(invalid(format!(
            "host IP {host_ip:?} is not an IPv4 address"
        )));
    }
    let (container_port, range) =
        parse_range(container_ports, "container port").map_err(invalid)?;
    let (host_port, host_range) = parse_range(host_ports, "host port").map_err(invalid)?;
    if host_range != range {
        return Err(invalid(format!(
            "the host range has {host_range} ports but the container range has {range}"
        )));
    }
    Ok(PortMapping {
        host_ip: host_ip.to_string(),
        container_port,
        host_port,
        protocol: protocol.to_string(),
        range,
    })
}

/// Parses `PORT` or `START-END` into the first port and the count.
fn parse_range(text: &str, label: &str) -> std::result::Result<(u16, u16), String> {
    let port = |part: &str| match part.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{label} {part:?} is not a number from 1 to 65535")),
        Ok(port) => Ok(port),
    };
    match text.split_once('-') {
        None => Ok((port(text)?, 1)),
        Some((start, end)) => {
            let (start, end) = (port(start)?, port(end)?);
            if end < start {
                return Err(format!("{label} range {text:?} ends before it starts"));
            }
            Ok((start, end - start + 1))
        }
    }
}

/// Returns the first port an ordinary user may bind
/// (`net.ipv4.ip_unprivileged_port_start`), or 1024 when it cannot be read.
pub fn first_unprivileged_port() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_with_host_ip_parsed() {
        let mapping = parse_port_mapping("127.0.0.1:8080:80").unwrap();
        assert_eq!(
            mapping,
            PortMapping {
                host_ip: "127.0.0.1".into(),
                container_port: 80,
                host_port: 8080,
                protocol: "tcp".into(),
                range: 1,
            }
        );
        assert_eq!(mapping.to_string(), "127.0.0.1:8080->80/tcp");
    }

    #[test]
    fn range_and_protocol_parsed() {
        let mapping = parse_port_mapping("8000-8001:80-81/udp").unwrap();
        assert_eq!(mapping.range, 2);
        assert_eq!(mapping.protocol, "udp");
        assert_eq!(
            mapping.port_pairs().collect::<Vec<_>>(),
            vec![(8000, 80), (8001, 81)]
        );
        assert_eq!(mapping.to_string(), "0.0.0.0:8000-8001->80-81/udp");
    }

    #[test]
    fn bad_values_rejected() {
        for (value, reason) in [
            ("80", "give the host port too, e.g. -p 8080:80"),
            (
                "8080:0",
                "container port \"0\" is not a number from 1 to 65535",
            ),
            ("8080:80/sctp", "unknown protocol \"sctp\": use tcp or udp"),
            ("host:8080:80", "host IP \"host\" is not an IPv4 address"),
            (
                "8000-8002:80-81",
                "the host range has 3 ports but the container range has 2",
            ),
        ] {
            let error = parse_port_mapping(value).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("invalid --publish {value:?}: {reason}")
            );
        }
    }
}
