//! Networking against real netavark, iptables and bridges: published ports
//! on loopback, name resolution between containers, bad input, teardown.
//!
//! Traffic goes only to 127.0.0.1 and to containers the tests start. Name
//! lookups ask aardvark-dns for names it serves (fully qualified, type A),
//! so no query is forwarded to the host's name servers.
mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{exit_code, TestEnv};

/// Bound on waiting for a server in a container to accept connections.
const SERVER_READY_TIMEOUT: Duration = Duration::from_secs(10);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A user network with a name and subnet no other test uses, removed
/// (with its containers) on drop.
struct TestNetwork<'a> {
    env: &'a TestEnv,
    name: String,
    /// The third octet of 10.92.X.0/24.
    octet: u32,
}

impl<'a> TestNetwork<'a> {
    fn create(env: &'a TestEnv) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let index = NEXT.fetch_add(1, Ordering::SeqCst);
        // The process id spreads concurrent test runs over the /16.
        let octet = (std::process::id() * 7 + index) % 256;
        let name = format!("bt{}-{index}", std::process::id());
        let subnet = format!("10.92.{octet}.0/24");
        env.berth_ok(&["network", "create", "--subnet", &subnet, &name]);
        TestNetwork { env, name, octet }
    }

    fn gateway(&self) -> String {
        format!("10.92.{}.1", self.octet)
    }

    fn bridge(&self) -> String {
        let output = self.env.berth_ok(&[
            "network",
            "inspect",
            "--format",
            "{{.NetworkInterface}}",
            &self.name,
        ]);
        output.trim().to_string()
    }
}

impl Drop for TestNetwork<'_> {
    fn drop(&mut self) {
        let _ = self.env.berth(&["network", "rm", "-f", &self.name]);
    }
}

fn env_with_busybox() -> TestEnv {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    env
}

/// Returns the host port `berth port` reports for `container_port`.
fn host_port(env: &TestEnv, container: &str, container_port: &str) -> u16 {
    let output = env.berth_ok(&["port", container, container_port]);
    let address = output.trim();
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("berth port printed {address:?}"))
}

/// Connects to 127.0.0.1:`port` until the server in the container sends
/// something, and returns it.
fn read_from_loopback(port: u16) -> String {
    let started = Instant::now();
    loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut received = String::new();
            let _ = stream.read_to_string(&mut received);
            if !received.is_empty() {
                return received;
            }
        }
        assert!(
            started.elapsed() < SERVER_READY_TIMEOUT,
            "nothing answered on 127.0.0.1:{port} within {SERVER_READY_TIMEOUT:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn iptables_rules() -> String {
    let mut rules = String::new();
    for table in ["nat", "filter"] {
        let output = Command::new("iptables")
            .args(["-t", table, "-S"])
            .output()
            .expect("run iptables");
        rules.push_str(&text(&output.stdout));
    }
    rules
}

fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

fn netns_files(env: &TestEnv) -> Vec<String> {
    match std::fs::read_dir(env.runroot().join("netns")) {
        Ok(entries) => entries
            .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn published_tcp_port_reaches_container() {
    let env = env_with_busybox();
    let network = TestNetwork::create(&env);
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        &network.name,
        "-p",
        "127.0.0.1::8080",
        "busybox",
        "sh",
        "-c",
        "while true; do echo hello from web | nc -l -p 8080; done",
    ]);
    let port = host_port(&env, "web", "8080");
    assert_eq!(read_from_loopback(port), "hello from web\n");

    let ps = env.berth_ok(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), format!("127.0.0.1:{port}->8080/tcp"));
    let ip = env.berth_ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}}",
        "web",
    ]);
    assert!(
        ip.trim().starts_with(&format!("10.92.{}.", network.octet)),
        "{ip}"
    );
    let hosts_path = env.berth_ok(&["inspect", "--format", "{{.HostsPath}}", "web"]);
    let hosts =
        std::fs::read_to_string(hosts_path.trim()).expect("read the container's hosts file");
    assert!(hosts.contains(&format!("{}\t", ip.trim())), "{hosts}");
}

/// busybox has no UDP server, so this checks what berth controls: the host
/// port is reserved and netavark forwards it to the container.
#[test]
fn published_udp_port_is_reserved_and_forwarded() {
    let env = env_with_busybox();
    let network = TestNetwork::create(&env);
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "udp",
        "--network",
        &network.name,
        "-p",
        "127.0.0.1::9090/udp",
        "busybox",
        "sleep",
        "600",
    ]);
    let port = host_port(&env, "udp", "9090/udp");
    let error = UdpSocket::bind(("127.0.0.1", port)).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);

    let ip = env.berth_ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}}",
        "udp",
    ]);
    let rules = iptables_rules();
    assert!(
        rules.contains(&format!(
            "-p udp -m udp --dport {port} -j DNAT --to-destination {}:9090",
            ip.trim()
        )),
        "{rules}"
    );
}

#[test]
fn containers_resolve_each_other_by_name() {
    let env = env_with_busybox();
    let network = TestNetwork::create(&env);
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "server",
        "--network",
        &network.name,
        "busybox",
        "sh",
        "-c",
        "echo pong | nc -l -p 8080",
    ]);
    let server_ip = env.berth_ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}}",
        "server",
    ]);
    let server_ip = server_ip.trim();

    // A fully qualified type-A query for a name aardvark-dns serves, so
    // nothing is forwarded to the host's name servers.
    let script = format!(
        "cat /etc/resolv.conf; nslookup -type=a server.dns.podman. {gateway}",
        gateway = network.gateway()
    );
    let output = env.berth_ok(&[
        "run",
        "--rm",
        "--network",
        &network.name,
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    assert!(
        output.contains(&format!("nameserver {}\n", network.gateway())),
        "{output}"
    );
    assert!(output.contains("search dns.podman"), "{output}");
    assert!(
        output.contains(&format!("Address: {server_ip}")),
        "{output}"
    );

    let reply = env.berth_ok(&[
        "run",
        "--rm",
        "--network",
        &network.name,
        "busybox",
        "sh",
        "-c",
        &format!("echo ping | nc -w 5 {server_ip} 8080"),
    ]);
    assert_eq!(reply, "pong\n");
}

#[test]
fn busy_host_port_fails_before_setup() {
    let env = env_with_busybox();
    let network = TestNetwork::create(&env);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let output = env.berth(&[
        "run",
        "--rm",
        "--network",
        &network.name,
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "true",
    ]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        format!("Error: host port {port}/tcp on 127.0.0.1 is already in use: choose another host port or stop the program that uses it\n")
    );
    assert_eq!(netns_files(&env), Vec::<String>::new());
    assert!(!link_exists(&network.bridge()));
    assert!(!iptables_rules().contains(&format!("10.92.{}.0/24", network.octet)));
    drop(listener);
}

#[test]
fn published_port_stays_reserved_while_running() {
    let env = env_with_busybox();
    let network = TestNetwork::create(&env);
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "first",
        "--network",
        &network.name,
        "-p",
        "127.0.0.1::8080",
        "busybox",
        "sleep",
        "600",
    ]);
    let port = host_port(&env, "first", "8080");
    let error = TcpListener::bind(("127.0.0.1", port)).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);

    let output = env.berth(&[
        "run",
        "-d",
        "--name",
        "second",
        "--network",
        &network.name,
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "busybox",
        "sleep",
        "600",
    ]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains(&format!("host port {port}/tcp")),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(netns_files(&env).len(), 1);
}

#[test]
fn removal_leaves_no_network_state() {
    let env = env_with_busybox();
    let network = TestNetwork::create(&env);
    let id = env.berth_ok(&[
        "run",
        "-d",
        "--network",
        &network.name,
        "-p",
        "127.0.0.1::8080",
        "busybox",
        "sleep",
        "600",
    ]);
    let id = id.trim();
    let bridge = network.bridge();
    assert!(link_exists(&bridge), "netavark made no bridge {bridge}");
    assert!(iptables_rules().contains(id));
    assert_eq!(netns_files(&env), vec![id.to_string()]);

    env.berth_ok(&["rm", "-f", id]);
    assert_eq!(netns_files(&env), Vec::<String>::new());
    assert!(!link_exists(&bridge), "bridge {bridge} is still there");
    let rules = iptables_rules();
    assert!(!rules.contains(id), "{rules}");
    assert!(
        !rules.contains(&format!("10.92.{}.0/24", network.octet)),
        "{rules}"
    );
}

#[test]
fn stopped_container_releases_network() {
    let env = env_with_busybox();
    let network = TestNetwork::create(&env);
    env.berth_ok(&[
        "run",
        "--name",
        "short",
        "--network",
        &network.name,
        "busybox",
        "true",
    ]);
    // conmon's cleanup command tears the network down after the exit.
    let started = Instant::now();
    while !netns_files(&env).is_empty() {
        assert!(
            started.elapsed() < SERVER_READY_TIMEOUT,
            "the namespace of an exited container remains"
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert!(!link_exists(&network.bridge()));
}

#[test]
fn bad_network_input_is_rejected() {
    let env = env_with_busybox();
    let network = TestNetwork::create(&env);
    env.berth_ok(&["create", "--name", "idle", "busybox", "true"]);
    let overlapping = format!("10.92.{}.128/25", network.octet);
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["run", "--rm", "-p", "70000:80", "busybox", "true"],
            "Error: invalid --publish \"70000:80\": host port 70000 is out of range 1-65535\n".into(),
        ),
        (
            vec!["run", "--rm", "-p", "abc", "busybox", "true"],
            "Error: invalid --publish \"abc\": container port \"abc\" is not a number\n".into(),
        ),
        (
            vec!["run", "--rm", "--network", "no-such-net", "busybox", "true"],
            "Error: network no-such-net not found: list networks with `berth network ls` or create it with `berth network create no-such-net`\n".into(),
        ),
        (
            vec!["network", "create", "--subnet", &overlapping, "overlap"],
            format!("Error: subnet {overlapping} overlaps network {} (10.92.{}.0/24): choose another subnet with --subnet\n", network.name, network.octet),
        ),
        (
            vec!["run", "--rm", "--name", "joiner", "--network", "container:idle", "busybox", "true"],
            "Error: container joiner joins the network namespace of container idle, which is not running: start idle first\n".into(),
        ),
        (
            vec!["run", "--rm", "--network", "none", "-p", "80", "busybox", "true"],
            "Error: invalid --publish \"80\": ports can only be published on bridge networks, not with --network none\n".into(),
        ),
    ];
    for (args, expected) in cases {
        let output = env.berth(&args);
        assert_eq!(exit_code(&output), 125, "{args:?}");
        assert_eq!(text(&output.stderr), expected, "{args:?}");
    }
    assert_eq!(netns_files(&env), Vec::<String>::new());
}

#[test]
fn network_commands_manage_definitions() {
    let env = TestEnv::new();
    let network = TestNetwork::create(&env);
    let names = env.berth_ok(&["network", "ls", "-q"]);
    assert_eq!(names, format!("berth\n{}\n", network.name));

    let subnet = env.berth_ok(&[
        "network",
        "inspect",
        "--format",
        "{{range .Subnets}}{{.Subnet}} {{.Gateway}}{{end}}",
        &network.name,
    ]);
    assert_eq!(
        subnet,
        format!("10.92.{0}.0/24 10.92.{0}.1\n", network.octet)
    );

    let output = env.berth(&["network", "rm", "berth"]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        "Error: network berth is the default network and cannot be removed\n"
    );
    env.berth_ok(&["network", "rm", &network.name]);
    assert_eq!(env.berth_ok(&["network", "ls", "-q"]), "berth\n");
}

#[test]
fn network_rm_rejects_used_network_without_force() {
    let env = env_with_busybox();
    let network = TestNetwork::create(&env);
    env.berth_ok(&[
        "create",
        "--name",
        "member",
        "--network",
        &network.name,
        "busybox",
        "true",
    ]);
    let output = env.berth(&["network", "rm", &network.name]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        format!("Error: network {} is used by container member: remove the container first or use --force\n", network.name)
    );
    env.berth_ok(&["network", "rm", "-f", &network.name]);
    assert_eq!(env.container_ids(), Vec::<String>::new());
}

#[test]
fn same_subnet_in_another_root_is_refused_at_start() {
    let first = env_with_busybox();
    let network = TestNetwork::create(&first);

    // A second root knows nothing of the first one's network and, while no
    // bridge of that subnet is up, lets the same subnet be created.
    let second = env_with_busybox();
    let subnet = format!("10.92.{}.0/24", network.octet);
    let name = format!("{}-twin", network.name);
    second.berth_ok(&["network", "create", "--subnet", &subnet, &name]);

    first.berth_ok(&[
        "run",
        "-d",
        "--name",
        "up",
        "--network",
        &network.name,
        "busybox",
        "sleep",
        "1000",
    ]);
    let output = second.berth(&["run", "--rm", "--network", &name, "busybox", "true"]);
    assert_eq!(exit_code(&output), 125);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "subnet {subnet} overlaps the host route to {subnet} on {}",
            network.bridge()
        )),
        "{stderr}"
    );
    assert_eq!(second.container_ids(), Vec::<String>::new());
    second.berth_ok(&["network", "rm", "-f", &name]);
}
