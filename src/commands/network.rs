//! `network create|ls|inspect|rm` and `port`.
use std::collections::{BTreeMap, HashMap};

use berth_engine::{Engine, Network, NetworkRequest, PortMapping};
use serde_json::{json, Value};

use super::{for_each_name, CliError, CliResult};
use crate::cli::{
    NetworkCommand, NetworkCreateArgs, NetworkInspectArgs, NetworkLsArgs, NetworkRmArgs, PortArgs,
};
use crate::format;

pub fn dispatch(engine: &Engine, command: NetworkCommand) -> CliResult {
    match command {
        NetworkCommand::Create(args) => create(engine, &args),
        NetworkCommand::Ls(args) => list(engine, &args),
        NetworkCommand::Inspect(args) => inspect(engine, &args),
        NetworkCommand::Rm(args) => remove(engine, &args),
    }
}

fn create(engine: &Engine, args: &NetworkCreateArgs) -> CliResult {
    if args.driver != "bridge" {
        return Err(CliError::Usage(format!(
            "invalid --driver {:?}: only bridge networks are supported",
            args.driver
        )));
    }
    let mut labels = BTreeMap::new();
    for label in &args.label {
        let (key, value) = label.split_once('=').unwrap_or((label.as_str(), ""));
        labels.insert(key.to_string(), value.to_string());
    }
    let network = engine.create_network(&NetworkRequest {
        name: args.name.clone(),
        subnet: args.subnet.clone(),
        gateway: args.gateway.clone(),
        internal: args.internal,
        dns_enabled: !args.disable_dns,
        labels,
    })?;
    println!("{}", network.name);
    Ok(0)
}

fn list(engine: &Engine, args: &NetworkLsArgs) -> CliResult {
    let networks = engine.list_networks()?;
    if args.quiet {
        for summary in &networks {
            println!("{}", summary.network.name);
        }
        return Ok(0);
    }
    match args.format.as_deref() {
        Some("json") => {
            let values: Vec<Value> = networks.iter().map(|s| json!(s.network)).collect();
            print!(
                "{}",
                format::to_json(&Value::Array(values), format::JsonStyle::List)
            );
        }
        Some(template) => {
            let rows: Vec<Value> = networks.iter().map(|s| template_row(&s.network)).collect();
            let headers = HashMap::from([("ID", "NETWORK ID")]);
            print!("{}", format::render_rows(template, &rows, &headers)?);
        }
        None => {
            let table: Vec<Vec<String>> = networks
                .iter()
                .map(|s| {
                    vec![
                        s.network.id[..12].to_string(),
                        s.network.name.clone(),
                        s.network.driver.clone(),
                    ]
                })
                .collect();
            print!(
                "{}",
                format::table(&["NETWORK ID", "NAME", "DRIVER"], &table)
            );
        }
    }
    Ok(0)
}

/// Builds the fields a `--format` template reads, named as Podman's Go
/// structs.
fn template_row(network: &Network) -> Value {
    json!({
        "ID": network.id[..12].to_string(),
        "Name": network.name,
        "Driver": network.driver,
        "NetworkInterface": network.network_interface,
        "Created": network.created,
        "Subnets": network.subnets.iter().map(|s| json!({
            "Subnet": s.subnet.to_string(),
            "Gateway": s.gateway.map(|g| g.to_string()).unwrap_or_default(),
        })).collect::<Vec<_>>(),
        "IPv6Enabled": network.ipv6_enabled,
        "Internal": network.internal,
        "DNSEnabled": network.dns_enabled,
        "Labels": network.labels,
        "Options": network.options,
        "IPAMOptions": network.ipam_options,
    })
}

fn inspect(engine: &Engine, args: &NetworkInspectArgs) -> CliResult {
    let mut values = Vec::new();
    let mut failure = None;
    for name in &args.names {
        match engine.inspect_network(name) {
            Ok(network) => values.push(network),
            Err(error) => {
                eprintln!("Error: {error}");
                failure = Some(error);
            }
        }
    }
    match args.format.as_deref() {
        None | Some("json") => {
            let array = Value::Array(values.iter().map(|n| json!(n)).collect());
            print!("{}", format::to_json(&array, format::JsonStyle::Inspect));
        }
        Some(template) => {
            for network in &values {
                print!("{}", format::render(template, &template_row(network))?);
            }
        }
    }
    Ok(failure.map_or(0, |error| error.exit_code()))
}

fn remove(engine: &Engine, args: &NetworkRmArgs) -> CliResult {
    for_each_name(&args.names, |name| {
        engine.remove_network(name, args.force).map(|()| true)
    })
}

/// `port CTR`: one `80/tcp -> 0.0.0.0:8080` line per published port;
/// `port CTR 80[/tcp]`: only the host address of that port.
pub fn port(engine: &Engine, args: &PortArgs) -> CliResult {
    let mappings = engine.ports(&args.container)?;
    let requested = match &args.port {
        Some(value) => {
            let (port, protocol) = value.split_once('/').unwrap_or((value.as_str(), "tcp"));
            let port: u16 = port.parse().map_err(|_| {
                CliError::Usage(format!("invalid port {value:?}: expected PORT[/PROTOCOL]"))
            })?;
            Some((port, protocol.to_string()))
        }
        None => None,
    };
    let mut found = false;
    for (container_port, protocol, host) in expand(&mappings) {
        match &requested {
            Some((port, requested_protocol)) => {
                if *port == container_port && *requested_protocol == protocol {
                    println!("{host}");
                    found = true;
                }
            }
            None => println!("{container_port}/{protocol} -> {host}"),
        }
    }
    if let (Some(value), false) = (&args.port, found) {
        return Err(CliError::Usage(format!(
            "no public port {value} published for container {}",
            args.container
        )));
    }
    Ok(0)
}

/// Expands each range into (container port, protocol, `HOSTIP:HOSTPORT`).
fn expand(mappings: &[PortMapping]) -> Vec<(u16, String, String)> {
    let mut ports = Vec::new();
    for mapping in mappings.iter().filter(|m| m.host_port != 0) {
        let host_ip = if mapping.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &mapping.host_ip
        };
        for offset in 0..mapping.range {
            ports.push((
                mapping.container_port + offset,
                mapping.protocol.clone(),
                format!("{host_ip}:{}", mapping.host_port + offset),
            ));
        }
    }
    ports
}
