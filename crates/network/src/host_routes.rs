//! The host's IPv4 routes, from `/proc/net/route`, for subnet overlap checks.
use std::net::Ipv4Addr;

use crate::{Ipv4Subnet, NetworkError, Result};

const ROUTE_TABLE: &str = "/proc/net/route";

/// One route: its destination subnet and the interface it leaves through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoute {
    pub interface: String,
    pub destination: Ipv4Subnet,
}

/// Lists the host's routes except the default route, which overlaps
/// everything.
pub fn read() -> Result<Vec<HostRoute>> {
    let text = std::fs::read_to_string(ROUTE_TABLE)
        .map_err(|e| NetworkError::io("read", ROUTE_TABLE, e))?;
    Ok(parse(&text))
}

/// Parses the table: destination and mask are the address bytes printed as
/// one hexadecimal word in the host's byte order.
fn parse(text: &str) -> Vec<HostRoute> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let interface = fields.first()?;
            let destination = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            let prefix_len = mask.count_ones() as u8;
            if prefix_len == 0 {
                return None;
            }
            // The kernel prints the address bytes as one native-endian word.
            let network = Ipv4Addr::from(destination.to_ne_bytes());
            Some(HostRoute {
                interface: interface.to_string(),
                destination: Ipv4Subnet::new(network, prefix_len)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The sample table is what a little-endian host prints.
    #[cfg(target_endian = "little")]
    #[test]
    fn parse_reads_kernel_byte_order_and_skips_default_route() {
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(
            parse(table),
            vec![HostRoute {
                interface: "eth0".into(),
                destination: "192.0.2.0/24".parse().unwrap(),
            }]
        );
    }
}
