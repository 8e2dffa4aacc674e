//! pull, push, login and logout against a real registry on loopback.
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::registry::{
    digest, skopeo_copy, tar_layer, Compression, ImageSpec, OciLayout, Registry,
};
use common::{busybox_tarball, exit_code, TestEnv};
use serde_json::json;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Imports busybox into `env` and pushes it to `registry` as `busybox:1`.
/// Returns the image's manifest digest.
fn push_busybox(env: &TestEnv, registry: &Registry) -> String {
    env.import_busybox("busybox");
    let destination = format!("{}/busybox:1", registry.host());
    env.berth_ok(&["push", "--tls-verify=false", "busybox", &destination]);
    env.berth_ok(&["images", "--format", "{{.Digest}}"])
        .trim()
        .to_string()
}

fn busybox_layer() -> Vec<u8> {
    std::fs::read(busybox_tarball()).unwrap()
}

#[test]
fn run_pulls_missing_image_unless_never() {
    let source = TestEnv::new();
    let registry = Registry::start(source.dir(), None);
    push_busybox(&source, &registry);

    let env = TestEnv::new();
    let name = format!("{}/busybox:1", registry.host());
    let output = env.berth(&["run", "--rm", "--pull", "never", &name, "true"]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains("image not found"),
        "{}",
        text(&output.stderr)
    );

    let stdout = env.berth_ok(&[
        "run",
        "--rm",
        "--tls-verify=false",
        &name,
        "echo",
        "pulled by run",
    ]);
    assert_eq!(stdout, "pulled by run\n");
    assert_eq!(
        env.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        format!("{name}\n")
    );
    let output = env.berth(&["run", "--rm", "--pull", "sometimes", &name, "true"]);
    assert_eq!(exit_code(&output), 125);
}

#[test]
fn push_then_pull_keeps_digest_and_runs() {
    let source = TestEnv::new();
    let registry = Registry::start(source.dir(), None);
    let pushed_digest = push_busybox(&source, &registry);
    let (status, _) = registry.get(&format!("/v2/busybox/manifests/{pushed_digest}"));
    assert_eq!(status, 200);

    let env = TestEnv::new();
    let name = format!("{}/busybox:1", registry.host());
    let id = env.berth_ok(&["pull", "--tls-verify=false", &name]);
    assert_eq!(id.trim().len(), 64);
    let listed = env.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}"]);
    assert_eq!(listed, format!("{name} {pushed_digest}\n"));
    assert_eq!(
        env.berth_ok(&["run", "--rm", &name, "echo", "pulled"]),
        "pulled\n"
    );

    // A second pull, and a pull by digest, find every blob in the store.
    assert_eq!(env.berth_ok(&["pull", "--tls-verify=false", &name]), id);
    let by_digest = format!("{}/busybox@{pushed_digest}", registry.host());
    assert_eq!(
        env.berth_ok(&["pull", "--tls-verify=false", &by_digest]),
        id
    );
}

#[test]
fn pull_manifest_list_picks_platform() {
    let env = TestEnv::new();
    let registry = Registry::start(env.dir(), None);
    let spec = |arch: &'static str| ImageSpec {
        layers: vec![busybox_layer(), tar_layer(&[("arch", arch.as_bytes())])],
        compression: Compression::Gzip,
        architecture: arch,
        config: json!({"Cmd": ["cat", "/arch"]}),
    };
    let layout = OciLayout::write(
        &env.dir().join("multi"),
        &[spec("amd64"), spec("arm64")],
        "multi",
        true,
    );
    let source = format!("oci:{}:multi", layout.dir.display());
    let name = format!("{}/multi:1", registry.host());
    skopeo_copy(env.dir(), &["--all"], &source, &format!("docker://{name}"));

    let id = env.berth_ok(&["pull", "--tls-verify=false", &name]);
    assert_eq!(format!("sha256:{}", id.trim()), layout.configs[0]);
    assert_eq!(env.berth_ok(&["run", "--rm", &name]), "amd64");

    let arm = TestEnv::new();
    let id = arm.berth_ok(&["pull", "--tls-verify=false", "--arch", "arm64", &name]);
    assert_eq!(format!("sha256:{}", id.trim()), layout.configs[1]);

    let output = arm.berth(&[
        "pull",
        "--tls-verify=false",
        "--platform",
        "linux/s390x",
        &name,
    ]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        format!(
            "Error: {name}: no image for platform linux/s390x in the manifest list; it has linux/amd64, linux/arm64\n"
        )
    );
}

#[test]
fn pull_zstd_layers_with_whiteout() {
    let env = TestEnv::new();
    let registry = Registry::start(env.dir(), None);
    let image = ImageSpec {
        layers: vec![
            busybox_layer(),
            tar_layer(&[
                ("etc/doomed", b"bye\n"),
                ("etc/kept", b"stay\n"),
                ("opaque/old", b"old\n"),
            ]),
            tar_layer(&[
                ("etc/.wh.doomed", b""),
                ("opaque/.wh..wh..opq", b""),
                ("opaque/new", b"new\n"),
            ]),
        ],
        compression: Compression::Zstd,
        architecture: "amd64",
        config: json!({"Env": ["PATH=/bin"], "Labels": {"org.example.kind": "test"}}),
    };
    let layout = OciLayout::write(&env.dir().join("zstd"), &[image], "zstd", false);
    let name = format!("{}/layered:zstd", registry.host());
    let source = format!("oci:{}:zstd", layout.dir.display());
    skopeo_copy(env.dir(), &[], &source, &format!("docker://{name}"));

    env.berth_ok(&["pull", "--tls-verify=false", &name]);
    assert_eq!(
        env.berth_ok(&["run", "--rm", &name, "cat", "/etc/kept"]),
        "stay\n"
    );
    let output = env.berth(&["run", "--rm", &name, "test", "-e", "/etc/doomed"]);
    assert_eq!(exit_code(&output), 1, "the whiteout hides /etc/doomed");
    assert_eq!(
        env.berth_ok(&["run", "--rm", &name, "ls", "/opaque"]),
        "new\n",
        "the opaque directory hides the lower layer's entries"
    );
    let labels = env.berth_ok(&["image", "inspect", "--format", "{{.Labels}}", &name]);
    assert!(labels.contains("org.example.kind"), "{labels}");
}

#[test]
fn pull_refuses_corrupted_blob() {
    let source = TestEnv::new();
    let registry = Registry::start(source.dir(), None);
    let manifest_digest = push_busybox(&source, &registry);
    let (_, manifest) = registry.get(&format!("/v2/busybox/manifests/{manifest_digest}"));
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer_digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    // Flip one byte in the middle of the layer: same size, other content.
    let data = registry.blob_data(&layer_digest);
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let corrupt_digest = digest(&bytes);
    std::fs::write(&data, &bytes).unwrap();

    let env = TestEnv::new();
    let name = format!("{}/busybox:1", registry.host());
    let output = env.berth(&["pull", "--tls-verify=false", &name]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        format!(
            "Error: {name}: layer {layer_digest} has digest {corrupt_digest}: the content is \
             corrupt or was tampered with, so it was not stored\n"
        )
    );
    assert_eq!(env.berth_ok(&["images", "-q"]), "");
    let hex = layer_digest.trim_start_matches("sha256:");
    assert!(!env.root().join("blobs/sha256").join(hex).exists());
}

#[test]
fn pull_unknown_tag_names_reference() {
    let env = TestEnv::new();
    let registry = Registry::start(env.dir(), None);
    let name = format!("{}/nosuch:nope", registry.host());
    let output = env.berth(&["pull", "--tls-verify=false", &name]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        format!(
            "Error: {name}: manifest unknown: the registry has no image of that name and tag or digest\n"
        )
    );
}

#[test]
fn pull_unreachable_registry_gives_up() {
    let env = TestEnv::new();
    // Bound and closed again: nothing listens on the port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let name = format!("127.0.0.1:{port}/busybox");
    let started = Instant::now();
    let output = env.berth(&["pull", "--tls-verify=false", &name]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(exit_code(&output), 125);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "Error: registry 127.0.0.1:{port} is unreachable after 4 attempts: "
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
}

#[test]
fn pull_short_name_searches_configured_registries() {
    let source = TestEnv::new();
    let registry = Registry::start(source.dir(), None);
    push_busybox(&source, &registry);

    let env = TestEnv::new();
    let conf = env.dir().join("registries.conf");
    std::fs::write(
        &conf,
        format!(
            "unqualified-search-registries = [\"{}\"]\n",
            registry.host()
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let output = env.berth_env(
        &["pull", "--tls-verify=false", "busybox:1"],
        &[("BERTH_REGISTRIES_CONF", conf)],
    );
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        env.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        format!("{}/busybox:1\n", registry.host())
    );
}

#[test]
fn login_push_and_logout_with_htpasswd() {
    let env = TestEnv::new();
    let htpasswd = env.dir().join("htpasswd");
    let hash = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import crypt; print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH)))",
        ])
        .output()
        .unwrap();
    assert!(hash.status.success(), "{}", text(&hash.stderr));
    std::fs::write(&htpasswd, format!("alice:{}", text(&hash.stdout))).unwrap();
    let registry = Registry::start(env.dir(), Some(&htpasswd));
    env.import_busybox("busybox");
    let name = format!("{}/private:1", registry.host());
    let authfile = env.dir().join("auth.json");
    let authfile = authfile.to_str().unwrap();

    let output = env.berth(&[
        "push",
        "--tls-verify=false",
        "--authfile",
        authfile,
        "busybox",
        &name,
    ]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains("authentication required or refused"),
        "{}",
        text(&output.stderr)
    );

    let host = registry.host();
    let wrong = env.berth_stdin(
        &[
            "login",
            "--tls-verify=false",
            "--authfile",
            authfile,
            "-u",
            "alice",
            "--password-stdin",
            &host,
        ],
        b"wrong\n",
    );
    assert_eq!(exit_code(&wrong), 125);
    let login = env.berth_stdin(
        &[
            "login",
            "--tls-verify=false",
            "--authfile",
            authfile,
            "-u",
            "alice",
            "--password-stdin",
            &host,
        ],
        b"s3cret\n",
    );
    assert_eq!(exit_code(&login), 0, "{}", text(&login.stderr));
    assert_eq!(text(&login.stdout), "Login Succeeded!\n");

    env.berth_ok(&[
        "push",
        "--tls-verify=false",
        "--authfile",
        authfile,
        "busybox",
        &name,
    ]);
    let other = TestEnv::new();
    other.berth_ok(&[
        "pull",
        "--tls-verify=false",
        "--creds",
        "alice:s3cret",
        &name,
    ]);

    assert_eq!(
        env.berth_ok(&["logout", "--authfile", authfile, &host]),
        format!("Removed login credentials for {host}\n")
    );
    let output = env.berth(&["logout", "--authfile", authfile, &host]);
    assert_eq!(exit_code(&output), 125);
    assert_eq!(
        text(&output.stderr),
        format!("Error: not logged in to {host}\n")
    );
}
