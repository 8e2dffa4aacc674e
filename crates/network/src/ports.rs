//! Published ports: parsing `-p` values and reserving host ports.
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;

use serde::{Deserialize, Serialize};

use crate::{NetworkError, Result};

/// One published port or port range, in netavark's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Empty for every host address.
    pub host_ip: String,
    pub container_port: u16,
    /// 0 until a free host port is picked when the container starts.
    pub host_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// How many consecutive ports, from `host_port` and `container_port`.
    pub range: u16,
}

impl PortMapping {
    /// Lists the pairs of host and container ports the mapping covers.
    pub fn port_pairs(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        (0..self.range.max(1)).map(|offset| (self.host_port + offset, self.container_port + offset))
    }
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

/// Returns the first port an ordinary user may bind
/// (`net.ipv4.ip_unprivileged_port_start`), or 1024 when it cannot be read.
pub fn first_unprivileged_port() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(1024)
}

/// Parses one `-p [HOSTIP:][HOSTPORT:]CPORT[/PROTOCOL]` value. Ports may
/// be ranges (`8000-8010`); a host range must be as long as the container
/// range. A missing host port becomes 0: a free port picked at start.
pub fn parse_publish(value: &str) -> Result<Vec<PortMapping>> {
    let invalid = |reason: String| NetworkError::InvalidOption {
        option: "--publish",
        value: value.to_string(),
        reason,
    };
    let (addresses, protocols) = match value.rsplit_once('/') {
        Some((addresses, protocols)) => (addresses, protocols),
        None => (value, "tcp"),
    };
    let mut protocol_list = Vec::new();
    for protocol in protocols.split(',') {
        match protocol {
            "tcp" | "udp" => protocol_list.push(protocol.to_string()),
            "sctp" => {
                return Err(NetworkError::Unsupported {
                    feature: format!("publishing sctp ports ({value})"),
                })
            }
            _ => {
                return Err(invalid(format!(
                    "unknown protocol {protocol:?}: use tcp or udp"
                )))
            }
        }
    }

    if addresses.starts_with('[') {
        return Err(NetworkError::Unsupported {
            feature: format!("publishing on an IPv6 host address ({value})"),
        });
    }
    let parts: Vec<&str> = addresses.split(':').collect();
    let (host_ip, host_ports, container_ports) = match parts.as_slice() {
        [container] => ("", "", *container),
        [host, container] => ("", *host, *container),
        [ip, host, container] => (*ip, *host, *container),
        _ => {
            return Err(invalid(
                "expected [HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTOCOL]".into(),
            ))
        }
    };
    if !host_ip.is_empty() && host_ip.parse::<Ipv4Addr>().is_err() {
        return Err(invalid(format!(
            "host IP {host_ip:?} is not an IPv4 address"
        )));
    }

    let (container_start, range) =
        parse_range(container_ports, "container port").map_err(invalid)?;
    let host_start = if host_ports.is_empty() {
        0
    } else {
        let (host_start, host_range) = parse_range(host_ports, "host port").map_err(invalid)?;
        if host_range != range {
            return Err(invalid(format!(
                "the host range has {host_range} ports but the container range has {range}"
            )));
        }
        host_start
    };

    let mut mappings = Vec::new();
    for protocol in protocol_list {
        if host_start == 0 {
            // Each port of the range gets its own free host port.
            for offset in 0..range {
                mappings.push(PortMapping {
                    host_ip: host_ip.to_string(),
                    container_port: container_start + offset,
                    host_port: 0,
                    protocol: protocol.clone(),
                    range: 1,
                });
            }
        } else {
            mappings.push(PortMapping {
                host_ip: host_ip.to_string(),
                container_port: container_start,
                host_port: host_start,
                protocol,
                range,
            });
        }
    }
    Ok(mappings)
}

/// Parses `PORT` or `START-END` into the start and the number of ports.
fn parse_range(text: &str, what: &str) -> std::result::Result<(u16, u16), String> {
    let port = |text: &str| -> std::result::Result<u16, String> {
        let number: u64 = text
            .parse()
            .map_err(|_| format!("{what} {text:?} is not a number"))?;
        u16::try_from(number)
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| format!("{what} {number} is out of range 1-65535"))
    };
    match text.split_once('-') {
        None => Ok((port(text)?, 1)),
        Some((start, end)) => {
            let (start, end) = (port(start)?, port(end)?);
            if end < start {
                return Err(format!("{what} range {text} ends before it starts"));
            }
            Ok((start, end - start + 1))
        }
    }
}

/// Host sockets that keep published ports taken while a container runs.
#[derive(Debug, Default)]
pub struct ReservedPorts {
    pub sockets: Vec<OwnedFd>,
}

/// Binds every host port of `mappings`, picking free ports for host port 0
/// and writing them into the mapping. Binding before the container exists
/// makes a taken port fail early with an error that names it. The sockets
/// then stay open in conmon, so no other program takes the port meanwhile.
pub fn reserve(mappings: &mut [PortMapping]) -> Result<ReservedPorts> {
    let mut reserved = ReservedPorts::default();
    for mapping in mappings.iter_mut() {
        let host_ip: Ipv4Addr = if mapping.host_ip.is_empty() {
            Ipv4Addr::UNSPECIFIED
        } else {
            mapping
                .host_ip
                .parse()
                .map_err(|_| NetworkError::InvalidOption {
                    option: "--publish",
                    value: mapping.to_string(),
                    reason: "the host IP is not an IPv4 address".into(),
                })?
        };
        if mapping.host_port == 0 {
            let (socket, port) = bind(host_ip, 0, &mapping.protocol)?;
            mapping.host_port = port;
            reserved.sockets.push(socket);
            continue;
        }
        for offset in 0..mapping.range {
            let port = mapping.host_port + offset;
            let (socket, _) = bind(host_ip, port, &mapping.protocol)?;
            reserved.sockets.push(socket);
        }
    }
    Ok(reserved)
}

fn bind(host_ip: Ipv4Addr, port: u16, protocol: &str) -> Result<(OwnedFd, u16)> {
    let address = SocketAddrV4::new(host_ip, port);
    let failed = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::AddrInUse => NetworkError::PortInUse {
            host_ip: host_ip.to_string(),
            port,
            protocol: protocol.to_string(),
        },
        _ => NetworkError::PortBind {
            host_ip: host_ip.to_string(),
            port,
            protocol: protocol.to_string(),
            source,
        },
    };
    if protocol == "udp" {
        let socket = UdpSocket::bind(address).map_err(failed)?;
        let port = socket.local_addr().map_err(failed)?.port();
        Ok((socket.into(), port))
    } else {
        let socket = TcpListener::bind(address).map_err(failed)?;
        let port = socket.local_addr().map_err(failed)?.port();
        Ok((socket.into(), port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(
        host_ip: &str,
        host_port: u16,
        container_port: u16,
        protocol: &str,
        range: u16,
    ) -> PortMapping {
        PortMapping {
            host_ip: host_ip.into(),
            container_port,
            host_port,
            protocol: protocol.into(),
            range,
        }
    }

    #[test]
    fn parse_publish_reads_every_form() {
        assert_eq!(
            parse_publish("80").unwrap(),
            vec![mapping("", 0, 80, "tcp", 1)]
        );
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            vec![mapping("", 8080, 80, "tcp", 1)]
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/udp").unwrap(),
            vec![mapping("127.0.0.1", 8080, 80, "udp", 1)]
        );
        assert_eq!(
            parse_publish("127.0.0.1::80").unwrap(),
            vec![mapping("127.0.0.1", 0, 80, "tcp", 1)]
        );
        assert_eq!(
            parse_publish("8000-8002:80-82").unwrap(),
            vec![mapping("", 8000, 80, "tcp", 3)]
        );
        assert_eq!(
            parse_publish("53:53/tcp,udp").unwrap(),
            vec![mapping("", 53, 53, "tcp", 1), mapping("", 53, 53, "udp", 1)]
        );
        assert_eq!(parse_publish("80-81").unwrap().len(), 2);
    }

    #[test]
    fn parse_publish_rejects_bad_values() {
        let cases = [
            ("70000:80", "host port 70000 is out of range 1-65535"),
            ("abc", "container port \"abc\" is not a number"),
            ("8080:0", "container port 0 is out of range 1-65535"),
            (
                "8000-8001:80",
                "the host range has 2 ports but the container range has 1",
            ),
            ("80/icmp", "unknown protocol \"icmp\": use tcp or udp"),
            ("host:8080:80", "host IP \"host\" is not an IPv4 address"),
            (
                "1:2:3:4",
                "expected [HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTOCOL]",
            ),
            ("90-80", "container port range 90-80 ends before it starts"),
        ];
        for (value, reason) in cases {
            let error = parse_publish(value).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("invalid --publish {value:?}: {reason}"),
                "{value}"
            );
        }
    }

    #[test]
    fn display_uses_podman_notation() {
        assert_eq!(
            mapping("", 8080, 80, "tcp", 1).to_string(),
            "0.0.0.0:8080->80/tcp"
        );
        assert_eq!(
            mapping("127.0.0.1", 8000, 80, "udp", 2).to_string(),
            "127.0.0.1:8000-8001->80-81/udp"
        );
    }

    #[test]
    fn reserve_picks_free_port_and_reports_taken_one() {
        let mut mappings = vec![mapping("127.0.0.1", 0, 80, "tcp", 1)];
        let reserved = reserve(&mut mappings).unwrap();
        let port = mappings[0].host_port;
        assert_ne!(port, 0);

        let mut again = vec![mapping("127.0.0.1", port, 80, "tcp", 1)];
        let error = reserve(&mut again).unwrap_err();
        assert!(matches!(error, NetworkError::PortInUse { port: p, .. } if p == port));
        drop(reserved);
    }
}
