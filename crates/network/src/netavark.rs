//! The netavark driver: `netavark setup` and `teardown` with the JSON
//! netavark 1.4 reads on stdin, and its status JSON.
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use tracing::debug;

use crate::{Network, NetworkError, PortMapping, Result};

/// Places where Debian, Fedora and source installs put netavark and
/// aardvark-dns; PATH is searched first.
const HELPER_DIRS: &[&str] = &[
    "/usr/libexec/podman",
    "/usr/lib/podman",
    "/usr/local/libexec/podman",
    "/usr/local/lib/podman",
];

/// Serializes netavark runs of every berth on the host. Bridges and
/// firewall rules are host-wide, whatever berth's root, and netavark 1.4
/// does not lock them itself: a teardown that deletes an idle bridge could
/// otherwise race a setup that is attaching to it.
const HOST_LOCK: &str = "/run/lock/berth-netavark.lock";

/// Bound on one netavark run.
const NETAVARK_TIMEOUT: Duration = Duration::from_secs(60);

/// The setup and teardown input: netavark's `NetworkOptions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupRequest {
    pub container_id: String,
    pub container_name: String,
    /// Keyed by network name, like `network_info`.
    pub networks: BTreeMap<String, PerNetworkOptions>,
    pub network_info: BTreeMap<String, Network>,
    pub port_mappings: Vec<PortMapping>,
}

/// The per-network options of one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerNetworkOptions {
    /// Names aardvark-dns resolves to this container.
    pub aliases: Vec<String>,
    /// The interface in the container, e.g. `eth0`.
    pub interface_name: String,
    /// The container's addresses; berth allocates them, netavark does not.
    pub static_ips: Vec<Ipv4Addr>,
}

/// The status netavark reports for one network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusBlock {
    #[serde(default)]
    pub dns_search_domains: Option<Vec<String>>,
    /// aardvark-dns addresses, when the network has name resolution.
    #[serde(default)]
    pub dns_server_ips: Option<Vec<String>>,
    #[serde(default)]
    pub interfaces: Option<BTreeMap<String, NetInterface>>,
}

/// One interface netavark made in the container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetInterface {
    pub mac_address: String,
    #[serde(default)]
    pub subnets: Option<Vec<NetAddress>>,
}

/// An address of an interface, with its prefix (`10.90.0.5/16`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetAddress {
    pub ipnet: String,
    #[serde(default)]
    pub gateway: Option<String>,
}

/// The netavark binary and the directory it keeps aardvark-dns state in.
#[derive(Debug, Clone)]
pub struct Netavark {
    pub path: PathBuf,
    pub aardvark: Option<PathBuf>,
    /// netavark's `--config`: aardvark-dns configuration and pid file.
    pub config_dir: PathBuf,
}

impl Netavark {
    /// Finds netavark and aardvark-dns. `config_dir` should be on tmpfs,
    /// like the run root: its content describes running containers.
    pub fn find(config_dir: &Path) -> Result<Netavark> {
        let path = find_helper("netavark").ok_or_else(|| NetworkError::NetavarkNotFound {
            path: PathBuf::from(HELPER_DIRS[0]).join("netavark"),
        })?;
        Ok(Netavark {
            path,
            aardvark: find_helper("aardvark-dns"),
            config_dir: config_dir.to_path_buf(),
        })
    }

    /// Attaches the namespace at `netns` to the request's networks and
    /// publishes its ports. On failure, part of the setup may exist:
    /// the caller runs [`Netavark::teardown`] with the same request.
    pub fn setup(
        &self,
        netns: &Path,
        request: &SetupRequest,
    ) -> Result<BTreeMap<String, StatusBlock>> {
        let stdout = self.run("setup", netns, request)?;
        serde_json::from_slice(&stdout).map_err(|e| NetworkError::NetavarkFailed {
            op: "setup",
            message: format!(
                "cannot parse its output ({e}): {}",
                String::from_utf8_lossy(&stdout)
            ),
        })
    }

    /// Undoes [`Netavark::setup`]. netavark removes the bridge and the
    /// network's firewall rules with the last container of the network.
    pub fn teardown(&self, netns: &Path, request: &SetupRequest) -> Result<()> {
        self.run("teardown", netns, request).map(|_| ())
    }

    fn run(&self, op: &'static str, netns: &Path, request: &SetupRequest) -> Result<Vec<u8>> {
        std::fs::create_dir_all(&self.config_dir)
            .map_err(|e| NetworkError::io("create directory", &self.config_dir, e))?;
        let mut args = vec![
            "--config".to_string(),
            self.config_dir.display().to_string(),
            "--rootless".to_string(),
            "false".to_string(),
        ];
        if let Some(aardvark) = &self.aardvark {
            args.extend([
                "--aardvark-binary".to_string(),
                aardvark.display().to_string(),
            ]);
        }
        args.extend([op.to_string(), netns.display().to_string()]);
        let input = serde_json::to_vec(request).expect("the netavark request serializes");
        debug!(command = %format!("{} {}", self.path.display(), args.join(" ")), input = %String::from_utf8_lossy(&input), "running netavark");

        let _host_lock = host_lock()?;
        let mut child = Command::new(&self.path)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| NetworkError::io("run", &self.path, e))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let stdout = read_in_thread(child.stdout.take().expect("stdout is piped"));
        let stderr = read_in_thread(child.stderr.take().expect("stderr is piped"));

        let deadline = Instant::now() + NETAVARK_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(NetworkError::NetavarkFailed {
                        op,
                        message: format!(
                            "timed out after {} s; killed it",
                            NETAVARK_TIMEOUT.as_secs()
                        ),
                    });
                }
                Err(e) => return Err(NetworkError::io("wait for", &self.path, e)),
            }
        };
        let _ = writer.join();
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        debug!(op, %status, stdout = %String::from_utf8_lossy(&stdout), stderr = %String::from_utf8_lossy(&stderr), "netavark finished");
        if status.success() {
            return Ok(stdout);
        }
        Err(NetworkError::NetavarkFailed {
            op,
            message: error_message(&stdout, &stderr),
        })
    }
}

/// netavark prints `{"error": "..."}` on stdout when it fails; its log
/// lines go to stderr.
fn error_message(stdout: &[u8], stderr: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorOutput {
        error: String,
    }
    match serde_json::from_slice::<ErrorOutput>(stdout) {
        Ok(output) => output.error,
        Err(_) => {
            let text = String::from_utf8_lossy(if stdout.is_empty() { stderr } else { stdout });
            text.trim().to_string()
        }
    }
}

fn read_in_thread(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn host_lock() -> Result<Flock<std::fs::File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(HOST_LOCK)
        .map_err(|e| NetworkError::io("open lock", HOST_LOCK, e))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| NetworkError::io("lock", HOST_LOCK, errno.into()))
}

fn find_helper(name: &str) -> Option<PathBuf> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain(HELPER_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_prefers_json_error() {
        assert_eq!(
            error_message(br#"{"error":"IO error: boom"}"#, b"log line"),
            "IO error: boom"
        );
        assert_eq!(error_message(b"", b"  plain failure\n"), "plain failure");
    }

    #[test]
    fn status_parses_netavark_1_4_output() {
        let output = r#"{"n":{"dns_search_domains":["dns.podman"],"dns_server_ips":["10.89.250.1"],"interfaces":{"eth0":{"mac_address":"9a:af:10:43:ae:01","subnets":[{"gateway":"10.89.250.1","ipnet":"10.89.250.2/24"}]}}}}"#;
        let status: BTreeMap<String, StatusBlock> = serde_json::from_str(output).unwrap();
        let eth0 = &status["n"].interfaces.as_ref().unwrap()["eth0"];
        assert_eq!(eth0.mac_address, "9a:af:10:43:ae:01");
        assert_eq!(eth0.subnets.as_ref().unwrap()[0].ipnet, "10.89.250.2/24");
    }
}
