//! commit, diff, export, history, rmi by digest and image prune.
mod common;

use common::{exit_code, TestEnv};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a container named `changed` that adds /new, changes /etc/passwd
/// and deletes /etc/group, and waits for it to exit.
fn changed_container(env: &TestEnv) {
    env.import_busybox("busybox");
    env.berth_ok(&[
        "run",
        "--name",
        "changed",
        "busybox",
        "sh",
        "-c",
        "echo fresh > /new && echo extra:x:5:5::/:/bin/sh >> /etc/passwd && rm /etc/group",
    ]);
}

#[test]
fn diff_lists_added_changed_deleted() {
    let env = TestEnv::new();
    changed_container(&env);
    let diff = env.berth_ok(&["diff", "changed"]);
    let lines: Vec<&str> = diff.lines().collect();
    for expected in ["C /etc", "D /etc/group", "C /etc/passwd", "A /new"] {
        assert!(
            lines.contains(&expected),
            "{expected} missing from:\n{diff}"
        );
    }
}

#[test]
fn commit_makes_runnable_image_with_changes() {
    let env = TestEnv::new();
    changed_container(&env);
    let id = env.berth_ok(&[
        "commit",
        "-m",
        "add new",
        "-a",
        "Berth Tester",
        "--change",
        "CMD [\"cat\", \"/new\"]",
        "--change",
        "ENV STAGE=committed",
        "changed",
        "committed:1",
    ]);
    assert_eq!(id.trim().len(), 64);

    assert_eq!(env.berth_ok(&["run", "--rm", "committed:1"]), "fresh\n");
    let output = env.berth(&["run", "--rm", "committed:1", "test", "-e", "/etc/group"]);
    assert_eq!(
        exit_code(&output),
        1,
        "the deletion is committed as a whiteout"
    );
    assert_eq!(
        env.berth_ok(&[
            "run",
            "--rm",
            "committed:1",
            "sh",
            "-c",
            "echo $STAGE; tail -n1 /etc/passwd"
        ]),
        "committed\nextra:x:5:5::/:/bin/sh\n"
    );

    let history = env.berth_ok(&["history", "committed:1"]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(lines[0].starts_with("ID"), "{history}");
    assert!(lines[1].starts_with(&id.trim()[..12]), "{history}");
    assert!(
        lines[1].contains("berth commit") && lines[1].contains("add new"),
        "{history}"
    );
    assert!(lines[2].starts_with("<missing>"), "{history}");
    let author = env.berth_ok(&["image", "inspect", "--format", "{{.Author}}", "committed:1"]);
    assert_eq!(author, "Berth Tester\n");
}

#[test]
fn export_writes_merged_root() {
    let env = TestEnv::new();
    changed_container(&env);
    let path = env.dir().join("export.tar");
    env.berth_ok(&["export", "-o", path.to_str().unwrap(), "changed"]);
    let mut archive = tar::Archive::new(std::fs::File::open(&path).unwrap());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.contains(&"new".to_string()), "{names:?}");
    assert!(names.contains(&"bin/busybox".to_string()), "{names:?}");
    assert!(!names.contains(&"etc/group".to_string()), "{names:?}");
    assert!(
        !env.root().join("containers").read_dir().unwrap().any(|d| {
            let merged = d.unwrap().path().join("merged");
            merged.join("new").exists()
        }),
        "export unmounts a stopped container again"
    );
}

#[test]
fn rmi_by_digest_and_prune() {
    let env = TestEnv::new();
    changed_container(&env);
    let unnamed = env.berth_ok(&["commit", "changed"]);
    env.berth_ok(&["commit", "changed", "named:1"]);
    let digest = env.berth_ok(&["image", "inspect", "--format", "{{.Digest}}", "named:1"]);
    let output = env.berth(&["rmi", digest.trim()]);
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("Untagged: localhost/named:1"));

    assert_eq!(env.berth_ok(&["image", "prune", "-f"]), unnamed);
    let left = env.berth_ok(&["images", "--format", "{{.Repository}}"]);
    assert_eq!(left, "localhost/busybox\n");
    // busybox is used by the container, so even -a keeps it.
    assert_eq!(env.berth_ok(&["image", "prune", "-a", "-f"]), "");
    assert_eq!(
        env.berth_ok(&["run", "--rm", "busybox", "echo", "intact"]),
        "intact\n"
    );
}
