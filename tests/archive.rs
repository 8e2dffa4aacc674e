//! save and load, and their interoperability with podman and skopeo.
mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::registry::{skopeo_copy, tar_layer, Compression, ImageSpec, OciLayout};
use common::{exit_code, TestEnv};
use serde_json::json;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs podman with its own storage under `dir` (vfs driver), never the
/// host's default store, and returns stdout. `runroot` is a short path:
/// podman 4.3 rejects a run root longer than 50 characters.
fn podman(dir: &Path, runroot: &Path, args: &[&str]) -> String {
    let output = Command::new("podman")
        .arg("--root")
        .arg(dir.join("podman-root"))
        .arg("--runroot")
        .arg(runroot)
        .args(["--storage-driver", "vfs", "--events-backend", "none"])
        .arg("--tmpdir")
        .arg(dir.join("podman-tmp"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run podman");
    assert!(
        output.status.success(),
        "podman {} failed:\n{}",
        args.join(" "),
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn image_id(env: &TestEnv, name: &str) -> String {
    env.berth_ok(&["image", "inspect", "--format", "{{.Id}}", name])
        .trim()
        .to_string()
}

#[test]
fn save_loads_into_podman_and_back() {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    let id = image_id(&env, "busybox");

    for format in ["oci-archive", "docker-archive"] {
        let podman_dir = env.dir().join(format!("podman-{format}"));
        let runroot = tempfile::Builder::new()
            .prefix("berth-podman-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let podman = |args: &[&str]| podman(&podman_dir, runroot.path(), args);
        let saved = env.dir().join(format!("berth-{format}.tar"));
        let saved = saved.to_str().unwrap();
        env.berth_ok(&["save", "--format", format, "-o", saved, "busybox"]);

        let loaded = podman(&["load", "-i", saved]);
        assert!(
            loaded.contains("Loaded image: localhost/busybox:latest"),
            "{format}: {loaded}"
        );
        let podman_id = podman(&["images", "--format", "{{.ID}}"]);
        assert_eq!(podman_id.trim(), &id[..12], "{format}");

        let exported = podman_dir.join("podman.tar");
        let exported = exported.to_str().unwrap();
        podman(&[
            "save",
            "--format",
            format,
            "-o",
            exported,
            "localhost/busybox:latest",
        ]);
        let other = TestEnv::new();
        assert_eq!(
            other.berth_ok(&["load", "-i", exported]),
            "Loaded image: localhost/busybox:latest\n",
            "{format}"
        );
        assert_eq!(image_id(&other, "busybox"), id, "{format}");
        assert_eq!(
            other.berth_ok(&["run", "--rm", "busybox", "echo", format]),
            format!("{format}\n")
        );
    }
}

#[test]
fn save_several_images_into_one_archive() {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    env.berth_ok(&["tag", "busybox", "other:2"]);
    let zst = env.dir().join("busybox.tar.zst");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/hack/make-busybox-rootfs.sh");
    assert!(Command::new(script).arg(&zst).status().unwrap().success());
    env.berth_ok(&["import", zst.to_str().unwrap(), "third"]);

    for format in ["oci-archive", "docker-archive"] {
        let path = env.dir().join(format!("multi-{format}.tar"));
        let path = path.to_str().unwrap();
        env.berth_ok(&[
            "save", "--format", format, "-o", path, "busybox", "other:2", "third",
        ]);
        let other = TestEnv::new();
        let loaded = other.berth_ok(&["load", "-i", path]);
        let mut lines: Vec<&str> = loaded.lines().collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                "Loaded image: localhost/busybox:latest",
                "Loaded image: localhost/other:2",
                "Loaded image: localhost/third:latest",
            ],
            "{format}"
        );
        assert_eq!(
            other.berth_ok(&["run", "--rm", "other:2", "echo", "two"]),
            "two\n"
        );
    }
}

#[test]
fn load_reads_skopeo_archive_from_stdin() {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    let saved = env.dir().join("berth.tar");
    env.berth_ok(&["save", "-o", saved.to_str().unwrap(), "busybox"]);
    let converted = env.dir().join("skopeo-oci.tar");
    skopeo_copy(
        env.dir(),
        &[],
        &format!("docker-archive:{}", saved.display()),
        &format!("oci-archive:{}:localhost/converted:1", converted.display()),
    );

    let other = TestEnv::new();
    let archive = std::fs::read(&converted).unwrap();
    let output = other.berth_stdin(&["load"], &archive);
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "Loaded image: localhost/converted:1\n"
    );
    assert_eq!(
        other.berth_ok(&["run", "--rm", "converted:1", "echo", "converted"]),
        "converted\n"
    );
}

#[test]
fn load_rejects_bad_archives() {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    let saved = env.dir().join("good.tar");
    env.berth_ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        saved.to_str().unwrap(),
        "busybox",
    ]);
    let bytes = std::fs::read(&saved).unwrap();

    let truncated = env.dir().join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let not_image = env.dir().join("not-image.tar");
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "hello.txt", &b"hello"[..])
        .unwrap();
    std::fs::write(&not_image, builder.into_inner().unwrap()).unwrap();

    let other = TestEnv::new();
    let cases = [
        (truncated.as_path(), "invalid archive"),
        (
            not_image.as_path(),
            "invalid archive: it has neither index.json nor manifest.json",
        ),
        (Path::new("/no/such/archive.tar"), "No such file"),
    ];
    for (path, expected) in cases {
        let output = other.berth(&["load", "-i", path.to_str().unwrap()]);
        assert_eq!(exit_code(&output), 125, "{}", path.display());
        let stderr = text(&output.stderr);
        assert!(stderr.contains(expected), "{}: {stderr}", path.display());
    }
    assert_eq!(other.berth_ok(&["images", "-q"]), "");
}

#[test]
fn load_rejects_tampered_layer() {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    let saved = env.dir().join("good.tar");
    env.berth_ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        saved.to_str().unwrap(),
        "busybox",
    ]);

    // Rewrite the archive with one byte of the layer blob changed.
    let mut archive = tar::Archive::new(std::fs::File::open(&saved).unwrap());
    let mut builder = tar::Builder::new(Vec::new());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let path = entry.path().unwrap().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if data.len() > 100_000 {
            let middle = data.len() / 2;
            data[middle] ^= 0xff;
        }
        builder.append_data(&mut header, &path, &data[..]).unwrap();
    }
    let tampered = env.dir().join("tampered.tar");
    std::fs::write(&tampered, builder.into_inner().unwrap()).unwrap();

    let other = TestEnv::new();
    let output = other.berth(&["load", "-i", tampered.to_str().unwrap()]);
    assert_eq!(exit_code(&output), 125);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("the content is corrupt or was tampered with"),
        "{stderr}"
    );
    assert_eq!(other.berth_ok(&["images", "-q"]), "");
}

#[test]
fn image_config_reaches_container() {
    let env = TestEnv::new();
    let image = ImageSpec {
        layers: vec![
            std::fs::read(common::busybox_tarball()).unwrap(),
            tar_layer(&[("srv/app/hello", b"hi\n")]),
        ],
        compression: Compression::Gzip,
        architecture: "amd64",
        config: json!({
            "User": "1000",
            "Env": ["PATH=/bin", "GREETING=hello"],
            "Entrypoint": ["sh", "-c"],
            "Cmd": ["echo $GREETING from $(pwd) as $(id -u)"],
            "WorkingDir": "/srv/app",
            "Labels": {"org.example.team": "storage", "org.example.tier": "image"},
            "ExposedPorts": {"8080/tcp": {}},
            "Volumes": {"/data": {}},
            "StopSignal": "SIGINT",
        }),
    };
    let layout = OciLayout::write(
        &env.dir().join("layout"),
        &[image],
        "localhost/configured:1",
        false,
    );
    let archive = env.dir().join("configured.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    builder.append_dir_all(".", &layout.dir).unwrap();
    builder.into_inner().unwrap();
    env.berth_ok(&["load", "-i", archive.to_str().unwrap()]);

    assert_eq!(
        env.berth_ok(&["run", "--rm", "configured:1"]),
        "hello from /srv/app as 1000\n"
    );
    env.berth_ok(&[
        "create",
        "--name",
        "cfg",
        "-l",
        "org.example.tier=container",
        "configured:1",
    ]);
    let inspect = |template: &str| env.berth_ok(&["inspect", "--format", template, "cfg"]);
    assert_eq!(
        inspect("{{index .Config.Labels \"org.example.team\"}}"),
        "storage\n"
    );
    assert_eq!(
        inspect("{{index .Config.Labels \"org.example.tier\"}}"),
        "container\n"
    );
    assert_eq!(inspect("{{.Config.StopSignal}}"), "2\n");
    let json: serde_json::Value = serde_json::from_str(&env.berth_ok(&["inspect", "cfg"])).unwrap();
    assert_eq!(json[0]["Config"]["ExposedPorts"], json!({"8080/tcp": {}}));
    assert_eq!(json[0]["Config"]["Volumes"], json!({"/data": {}}));
}
