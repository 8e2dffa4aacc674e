//! Image commands: import (plain, gzip, zstd), images, tag, rmi, image
//! inspect, and archives that must be refused.
mod common;

use std::process::Command;

use common::{exit_code, text, TestEnv};

/// Builds the busybox rootfs tarball with the given extension (`tar`,
/// `tar.gz`, `tar.zst`) in the env's directory.
fn busybox_tarball(env: &TestEnv, extension: &str) -> String {
    let path = env.dir().join(format!("busybox.{extension}"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/hack/make-busybox-rootfs.sh");
    let status = Command::new(script).arg(&path).status().unwrap();
    assert!(status.success());
    path.to_str().unwrap().to_string()
}

#[test]
fn import_accepts_plain_gzip_and_zstd() {
    let env = TestEnv::new();
    for (extension, name) in [("tar", "plain"), ("tar.gz", "gz"), ("tar.zst", "zst")] {
        let tarball = busybox_tarball(&env, extension);
        let id = env.berth_ok(&["import", &tarball, name]);
        assert_eq!(id.trim().len(), 64, "{extension}");
        let stdout = env.berth_ok(&["run", "--rm", name, "echo", extension]);
        assert_eq!(stdout, format!("{extension}\n"));
    }
    let repositories = env.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<&str> = repositories.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "localhost/gz:latest",
            "localhost/plain:latest",
            "localhost/zst:latest"
        ]
    );
    // One layer, unpacked once, shared by the three images.
    assert_eq!(
        std::fs::read_dir(env.root().join("layers"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn images_lists_table_json_and_ids() {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    let table = env.berth_ok(&["images"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("REPOSITORY"), "{header}");
    assert!(
        header.contains("IMAGE ID") && header.contains("SIZE"),
        "{header}"
    );
    assert!(lines
        .next()
        .unwrap()
        .starts_with("localhost/busybox  latest"));

    let json: serde_json::Value =
        serde_json::from_str(&env.berth_ok(&["images", "--format", "json"])).unwrap();
    let image = &json[0];
    assert_eq!(
        image["Names"],
        serde_json::json!(["localhost/busybox:latest"])
    );
    let id = image["Id"].as_str().unwrap();
    assert_eq!(id.len(), 64);
    assert_eq!(env.berth_ok(&["images", "-q"]), format!("{}\n", &id[..12]));
}

#[test]
fn tag_adds_names_and_rmi_untags_first() {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    env.berth_ok(&["tag", "busybox", "other:1.0"]);
    assert_eq!(
        env.berth_ok(&["run", "--rm", "other:1.0", "echo", "tagged"]),
        "tagged\n"
    );
    assert_eq!(
        env.berth_ok(&["rmi", "other:1.0"]),
        "Untagged: localhost/other:1.0\n"
    );
    assert_eq!(
        env.berth_ok(&["images", "--format", "{{.Repository}}"]),
        "localhost/busybox\n"
    );
}

#[test]
fn rmi_refuses_image_in_use_unless_forced() {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    env.berth_ok(&["create", "--name", "user", "busybox", "true"]);
    let output = env.berth(&["rmi", "busybox"]);
    assert_eq!(exit_code(&output), 2, "Podman's code for an image in use");
    assert!(
        text(&output.stderr).contains("is in use by container"),
        "{}",
        text(&output.stderr)
    );

    let stdout = env.berth_ok(&["rmi", "-f", "busybox"]);
    assert!(
        stdout.starts_with("Untagged: localhost/busybox:latest\nDeleted: "),
        "{stdout}"
    );
    assert_eq!(env.container_ids(), Vec::<String>::new());
    assert_eq!(env.berth_ok(&["images", "-q"]), "");
    assert_eq!(
        std::fs::read_dir(env.root().join("layers"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn image_inspect_shows_config() {
    let env = TestEnv::new();
    env.import_busybox("busybox");
    let json: serde_json::Value =
        serde_json::from_str(&env.berth_ok(&["image", "inspect", "busybox"])).unwrap();
    assert_eq!(
        json[0]["RepoTags"],
        serde_json::json!(["localhost/busybox:latest"])
    );
    assert_eq!(json[0]["Os"], "linux");
    assert_eq!(json[0]["RootFS"]["Type"], "layers");
    assert_eq!(json[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    let id = env.berth_ok(&["image", "inspect", "--format", "{{.Id}}", "busybox"]);
    assert_eq!(id.trim().len(), 64);
    let output = env.berth(&["image", "inspect", "nosuch"]);
    assert_eq!(exit_code(&output), 125);
    let output = env.berth(&["rmi", "nosuch"]);
    assert_eq!(exit_code(&output), 1, "Podman's code for a missing image");
}

#[test]
fn import_refuses_parent_directory_entries() {
    let env = TestEnv::new();
    let path = env.dir().join("evil.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let data = b"escaped\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    // `append_data` refuses `..`, so the name is written into the header raw.
    let name = b"../../../escaped-by-berth-test";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_cksum();
    builder.append(&header, &data[..]).unwrap();
    builder.finish().unwrap();
    drop(builder);

    let output = env.berth(&["import", path.to_str().unwrap(), "evil"]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains("unsafe entry \"../../../escaped-by-berth-test\""),
        "{}",
        text(&output.stderr)
    );
    assert!(!env.dir().join("escaped-by-berth-test").exists());
    assert!(!env.root().join("escaped-by-berth-test").exists());
    assert_eq!(env.berth_ok(&["images", "-q"]), "");
}

#[test]
fn import_refuses_symlinked_parent() {
    let env = TestEnv::new();
    let outside = env.dir().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let path = env.dir().join("symlink.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    link.set_mode(0o777);
    link.set_uid(0);
    link.set_gid(0);
    link.set_mtime(0);
    builder.append_link(&mut link, "escape", &outside).unwrap();
    let mut file = tar::Header::new_gnu();
    file.set_size(3);
    file.set_mode(0o644);
    file.set_uid(0);
    file.set_gid(0);
    file.set_mtime(0);
    builder
        .append_data(&mut file, "escape/planted", &b"bad"[..])
        .unwrap();
    builder.finish().unwrap();
    drop(builder);

    let output = env.berth(&["import", path.to_str().unwrap(), "evil"]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains("escape/planted"),
        "{}",
        text(&output.stderr)
    );
    assert!(!outside.join("planted").exists());
}

#[test]
fn import_refuses_non_tarball() {
    let env = TestEnv::new();
    let path = env.dir().join("notes.txt");
    std::fs::write(
        &path,
        "this is not a tar archive at all, just text that is long enough ".repeat(20),
    )
    .unwrap();
    let output = env.berth(&["import", path.to_str().unwrap(), "junk"]);
    assert_eq!(exit_code(&output), 125);
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!("Error: {}: not a tar archive", path.display())),
        "{stderr}"
    );
    assert_eq!(env.berth_ok(&["images", "-q"]), "");

    let output = env.berth(&["import", "/no/such/file.tar"]);
    assert_eq!(exit_code(&output), 125);
}

#[test]
fn import_rejects_invalid_name() {
    let env = TestEnv::new();
    let tarball = busybox_tarball(&env, "tar");
    let output = env.berth(&["import", &tarball, "Bad Name"]);
    assert_eq!(exit_code(&output), 125);
    assert!(
        text(&output.stderr).contains("invalid image name \"Bad Name\""),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn rmi_all_removes_images_with_several_names() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["tag", "busybox", "second:1"]);
    let stdout = env.berth_ok(&["rmi", "-a"]);
    assert!(
        stdout.contains("Untagged: localhost/busybox:latest\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Untagged: localhost/second:1\n"),
        "{stdout}"
    );
    assert!(stdout.contains("Deleted: "), "{stdout}");
    assert_eq!(env.berth_ok(&["images", "-q"]), "");
}

#[test]
fn container_keeps_the_image_name_given() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&["tag", "busybox", "aaa:1"]);
    env.berth_ok(&["create", "--name", "by-tag", "busybox", "true"]);
    env.berth_ok(&["create", "--name", "by-other", "aaa:1", "true"]);
    let image = |name: &str| env.berth_ok(&["inspect", "--format", "{{.ImageName}}", name]);
    assert_eq!(image("by-tag"), "localhost/busybox:latest\n");
    assert_eq!(image("by-other"), "localhost/aaa:1\n");
}

#[test]
fn system_df_counts_images_and_container_layers() {
    let env = TestEnv::with_busybox();
    env.berth_ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "head -c 5000 /dev/zero > /big",
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&env.berth_ok(&["system", "df", "--format", "json"])).unwrap();
    let images = &json[0];
    assert_eq!(images["Type"], "Images");
    assert_eq!(
        (images["Total"].as_u64(), images["Active"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(images["RawReclaimable"], 0);
    let containers = &json[1];
    assert_eq!(containers["Type"], "Containers");
    assert_eq!(
        (containers["Total"].as_u64(), containers["Active"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(containers["RawSize"], 5000);
    assert_eq!(containers["Reclaimable"], "5kB (100%)");
    let table = env.berth_ok(&["system", "df"]);
    assert!(
        table.starts_with("TYPE           TOTAL       ACTIVE      SIZE        RECLAIMABLE\n"),
        "{table}"
    );
}
