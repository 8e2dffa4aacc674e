use std::path::Path;

use oci_spec::runtime::{Capability, LinuxSeccompAction, PosixRlimitType};

use super::defaults::{own_hard_limit, DEFAULT_NOFILE, DEFAULT_NPROC};
use super::*;

fn options() -> SpecOptions {
    SpecOptions {
        rootfs: PathBuf::from("/var/lib/berth/rootfs"),
        args: vec!["sh".to_string()],
        cgroups_path: "/berth/abc".to_string(),
        shm_size: 64 * 1024 * 1024,
        // Keeps the tests independent of the host's seccomp.json.
        seccomp_profile: Some(PathBuf::from("unconfined")),
        ..SpecOptions::default()
    }
}

fn sorted_capabilities(set: &Capabilities) -> Vec<String> {
    let mut names: Vec<String> = set
        .iter()
        .map(|capability| format!("CAP_{capability}"))
        .collect();
    names.sort();
    names
}

fn bounding(spec: &Spec) -> Vec<String> {
    let capabilities = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .as_ref()
        .unwrap();
    sorted_capabilities(capabilities.bounding().as_ref().unwrap())
}

#[test]
fn default_capabilities_are_podmans() {
    let spec = generate(&options()).unwrap();
    let expected = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_CHROOT",
    ];
    assert_eq!(bounding(&spec), expected);

    let capabilities = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .as_ref()
        .unwrap();
    assert_eq!(
        sorted_capabilities(capabilities.effective().as_ref().unwrap()),
        expected
    );
    assert_eq!(
        sorted_capabilities(capabilities.permitted().as_ref().unwrap()),
        expected
    );
    assert!(capabilities.inheritable().as_ref().unwrap().is_empty());
    assert!(capabilities.ambient().as_ref().unwrap().is_empty());
}

#[test]
fn cap_add_and_drop_accept_any_spelling() {
    let spec = generate(&SpecOptions {
        cap_add: vec!["net_admin".to_string(), "CAP_SYS_PTRACE".to_string()],
        cap_drop: vec!["cap_chown".to_string(), "KILL".to_string()],
        ..options()
    })
    .unwrap();
    let names = bounding(&spec);
    assert!(names.contains(&"CAP_NET_ADMIN".to_string()));
    assert!(names.contains(&"CAP_SYS_PTRACE".to_string()));
    assert!(!names.contains(&"CAP_CHOWN".to_string()));
    assert!(!names.contains(&"CAP_KILL".to_string()));
    assert_eq!(names.len(), 11);
}

#[test]
fn cap_drop_all_keeps_only_added() {
    let spec = generate(&SpecOptions {
        cap_add: vec!["NET_RAW".to_string()],
        cap_drop: vec!["all".to_string()],
        ..options()
    })
    .unwrap();
    assert_eq!(bounding(&spec), ["CAP_NET_RAW"]);
}

#[test]
fn cap_add_all_gives_every_kernel_capability() {
    let spec = generate(&SpecOptions {
        cap_add: vec!["ALL".to_string()],
        cap_drop: vec!["SYS_ADMIN".to_string()],
        ..options()
    })
    .unwrap();
    let names = bounding(&spec);
    assert_eq!(names.len(), defaults::kernel_capabilities().len() - 1);
    assert!(!names.contains(&"CAP_SYS_ADMIN".to_string()));
}

#[test]
fn unknown_capability_rejected() {
    let error = generate(&SpecOptions {
        cap_add: vec!["CAP_FLY".to_string()],
        ..options()
    })
    .unwrap_err();
    assert!(
        matches!(&error, OciError::UnknownCapability { capability } if capability == "CAP_FLY")
    );
    assert_eq!(
        error.to_string(),
        "unknown capability \"CAP_FLY\": use a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL"
    );
}

#[test]
fn capabilities_map_to_oci_enum() {
    for name in defaults::ALL_CAPABILITIES {
        assert!(defaults::to_oci_capability(name).is_ok(), "{name}");
    }
    assert_eq!(
        defaults::to_oci_capability("NET_ADMIN").unwrap(),
        Capability::NetAdmin
    );
}

#[test]
fn masked_and_readonly_paths_are_podmans() {
    let spec = generate(&options()).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(
        linux.masked_paths().as_ref().unwrap(),
        &[
            "/proc/acpi",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/sys/firmware",
            "/sys/fs/selinux",
            "/sys/dev/block",
        ]
    );
    assert_eq!(
        linux.readonly_paths().as_ref().unwrap(),
        &[
            "/proc/asound",
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger"
        ]
    );
}

#[test]
fn privileged_has_no_masks_and_no_seccomp() {
    let spec = generate(&SpecOptions {
        privileged: true,
        seccomp_profile: None,
        ..options()
    })
    .unwrap();
    let linux = spec.linux().as_ref().unwrap();
    assert!(linux.masked_paths().is_none());
    assert!(linux.readonly_paths().is_none());
    assert!(linux.seccomp().is_none());
    assert_eq!(bounding(&spec).len(), defaults::kernel_capabilities().len());
}

#[test]
fn rlimits_capped_at_own_hard_limit() {
    let spec = generate(&options()).unwrap();
    let rlimits = spec.process().as_ref().unwrap().rlimits().as_ref().unwrap();
    let nofile = rlimits
        .iter()
        .find(|limit| limit.typ() == PosixRlimitType::RlimitNofile)
        .unwrap();
    let expected = DEFAULT_NOFILE.min(own_hard_limit(nix::sys::resource::Resource::RLIMIT_NOFILE));
    assert_eq!(nofile.hard(), expected);
    assert_eq!(nofile.soft(), expected);
    let nproc = rlimits
        .iter()
        .find(|limit| limit.typ() == PosixRlimitType::RlimitNproc)
        .unwrap();
    let expected = DEFAULT_NPROC.min(own_hard_limit(nix::sys::resource::Resource::RLIMIT_NPROC));
    assert_eq!(nproc.hard(), expected);
}

#[test]
fn ulimit_replaces_default() {
    let spec = generate(&SpecOptions {
        ulimits: vec![Ulimit {
            name: "nofile".to_string(),
            soft: 100,
            hard: 200,
        }],
        ..options()
    })
    .unwrap();
    let rlimits = spec.process().as_ref().unwrap().rlimits().as_ref().unwrap();
    let nofile: Vec<_> = rlimits
        .iter()
        .filter(|limit| limit.typ() == PosixRlimitType::RlimitNofile)
        .collect();
    assert_eq!(nofile.len(), 1);
    assert_eq!(nofile[0].soft(), 100);
    assert_eq!(nofile[0].hard(), 200);
}

#[test]
fn ulimit_above_hard_limit_rejected() {
    let hard = own_hard_limit(nix::sys::resource::Resource::RLIMIT_NOFILE);
    if hard == u64::MAX {
        // An unlimited hard limit leaves nothing to exceed.
        return;
    }
    let error = generate(&SpecOptions {
        ulimits: vec![Ulimit {
            name: "nofile".to_string(),
            soft: 1024,
            hard: hard + 1,
        }],
        ..options()
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "ulimit nofile={} is above this process's hard limit RLIMIT_NOFILE = {hard}: the runtime \
             cannot raise it; use a value of at most {hard}",
            hard + 1
        )
    );
}

#[test]
fn ulimit_invalid_values_rejected() {
    let unknown = generate(&SpecOptions {
        ulimits: vec![Ulimit {
            name: "bananas".to_string(),
            soft: 1,
            hard: 1,
        }],
        ..options()
    })
    .unwrap_err();
    assert!(matches!(&unknown, OciError::UnknownUlimit { name } if name == "bananas"));

    let inverted = generate(&SpecOptions {
        ulimits: vec![Ulimit {
            name: "core".to_string(),
            soft: 10,
            hard: 5,
        }],
        ..options()
    })
    .unwrap_err();
    assert_eq!(
        inverted.to_string(),
        "invalid ulimit core=10:5: the soft limit is above the hard limit"
    );
}

#[test]
fn default_mounts_and_shm_size() {
    let spec = generate(&SpecOptions {
        shm_size: 1024,
        ..options()
    })
    .unwrap();
    let mounts = spec.mounts().as_ref().unwrap();
    let destinations: Vec<_> = mounts
        .iter()
        .map(|mount| mount.destination().display().to_string())
        .collect();
    assert_eq!(
        destinations,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/sys/fs/cgroup"
        ]
    );
    let shm = &mounts[3];
    assert_eq!(
        shm.options().as_ref().unwrap(),
        &["nosuid", "noexec", "nodev", "mode=1777", "size=1024"]
    );
    let sys = &mounts[5];
    assert!(sys.options().as_ref().unwrap().contains(&"ro".to_string()));
}

#[test]
fn user_mounts_follow_defaults_and_replace_same_destination() {
    let spec = generate(&SpecOptions {
        mounts: vec![
            MountSpec::Bind {
                source: PathBuf::from("/srv/data"),
                destination: "/data".to_string(),
                read_only: true,
            },
            MountSpec::Tmpfs {
                destination: "/dev/shm".to_string(),
                options: vec!["rw".to_string(), "size=1m".to_string()],
            },
            MountSpec::Tmpfs {
                destination: "/scratch".to_string(),
                options: Vec::new(),
            },
        ],
        ..options()
    })
    .unwrap();
    let mounts = spec.mounts().as_ref().unwrap();
    let shm: Vec<_> = mounts
        .iter()
        .filter(|mount| mount.destination() == Path::new("/dev/shm"))
        .collect();
    assert_eq!(shm.len(), 1);
    assert_eq!(shm[0].options().as_ref().unwrap(), &["rw", "size=1m"]);

    let data = mounts
        .iter()
        .find(|mount| mount.destination() == Path::new("/data"))
        .unwrap();
    assert_eq!(data.typ().as_deref(), Some("bind"));
    assert_eq!(data.source().as_deref(), Some(Path::new("/srv/data")));
    assert_eq!(
        data.options().as_ref().unwrap(),
        &["rbind", "rprivate", "ro"]
    );

    let scratch = mounts
        .iter()
        .find(|mount| mount.destination() == Path::new("/scratch"))
        .unwrap();
    assert_eq!(
        scratch.options().as_ref().unwrap(),
        &["rw", "rprivate", "nosuid", "nodev"]
    );
}

#[test]
fn init_path_mounted_and_prefixed() {
    let spec = generate(&SpecOptions {
        init_path: Some(PathBuf::from("/usr/bin/catatonit")),
        args: vec!["sleep".to_string(), "1".to_string()],
        ..options()
    })
    .unwrap();
    let args = spec.process().as_ref().unwrap().args().as_ref().unwrap();
    assert_eq!(args, &["/run/berth-init", "--", "sleep", "1"]);
    let mounts = spec.mounts().as_ref().unwrap();
    let init = mounts
        .iter()
        .find(|mount| mount.destination() == Path::new("/run/berth-init"))
        .unwrap();
    assert_eq!(
        init.source().as_deref(),
        Some(Path::new("/usr/bin/catatonit"))
    );
    assert!(init.options().as_ref().unwrap().contains(&"ro".to_string()));
}

#[test]
fn resources_and_namespaces_set() {
    let spec = generate(&SpecOptions {
        memory_limit: Some(64 << 20),
        cpus: Some(1.5),
        pids_limit: Some(100),
        ..options()
    })
    .unwrap();
    let linux = spec.linux().as_ref().unwrap();
    let resources = linux.resources().as_ref().unwrap();
    assert_eq!(resources.memory().as_ref().unwrap().limit(), Some(64 << 20));
    assert_eq!(resources.cpu().as_ref().unwrap().quota(), Some(150_000));
    assert_eq!(resources.cpu().as_ref().unwrap().period(), Some(100_000));
    assert_eq!(resources.pids().as_ref().unwrap().limit(), 100);
    let devices = resources.devices().as_ref().unwrap();
    assert!(!devices[0].allow());
    assert_eq!(devices.len(), 9);
    assert_eq!(
        linux.cgroups_path().as_deref(),
        Some(Path::new("/berth/abc"))
    );

    let types: Vec<_> = linux
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|namespace| namespace.typ())
        .collect();
    assert!(types.contains(&LinuxNamespaceType::Network));
    assert!(types.contains(&LinuxNamespaceType::Pid));

    let host_network = generate(&SpecOptions {
        network: NetworkMode::Host,
        ..options()
    })
    .unwrap();
    let types: Vec<_> = host_network
        .linux()
        .as_ref()
        .unwrap()
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|namespace| namespace.typ())
        .collect();
    assert!(!types.contains(&LinuxNamespaceType::Network));
}

#[test]
fn network_namespace_path_is_joined() {
    let spec = generate(&SpecOptions {
        network: NetworkMode::Path(PathBuf::from("/run/berth/netns/abc")),
        ..options()
    })
    .unwrap();
    let namespaces = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
    let network = namespaces
        .iter()
        .find(|namespace| namespace.typ() == LinuxNamespaceType::Network)
        .expect("a network namespace entry");
    assert_eq!(
        network.path().as_deref(),
        Some(Path::new("/run/berth/netns/abc"))
    );
}

#[test]
fn default_path_added_when_missing() {
    let spec = generate(&options()).unwrap();
    let env = spec.process().as_ref().unwrap().env().as_ref().unwrap();
    assert_eq!(env, &[DEFAULT_PATH_ENV]);
    assert_eq!(spec.version(), "1.0.2-dev");
}

#[test]
fn write_config_replaces_file_atomically() {
    let bundle = tempfile::tempdir().unwrap();
    std::fs::write(bundle.path().join("config.json"), "old").unwrap();
    let spec = generate(&options()).unwrap();
    write_config(bundle.path(), &spec).unwrap();

    let written = std::fs::read_to_string(bundle.path().join("config.json")).unwrap();
    assert!(
        written.starts_with("{\n  \"ociVersion\": \"1.0.2-dev\""),
        "{written}"
    );
    let parsed: Spec = serde_json::from_str(&written).unwrap();
    assert_eq!(parsed, spec);
    let leftovers: Vec<_> = std::fs::read_dir(bundle.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
}

#[test]
fn host_seccomp_profile_converts() {
    if !Path::new(HOST_SECCOMP_PROFILE).exists() {
        return;
    }
    let spec = generate(&SpecOptions {
        seccomp_profile: None,
        ..options()
    })
    .unwrap();
    let seccomp = spec.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
    let allowed_chroot = seccomp.syscalls().as_ref().unwrap().iter().any(|rule| {
        rule.names().contains(&"chroot".to_string())
            && rule.action() == LinuxSeccompAction::ScmpActAllow
    });
    assert!(
        allowed_chroot,
        "CAP_SYS_CHROOT is a default capability, so chroot is allowed"
    );
}

#[test]
fn capability_mask_gives_names_in_kernel_order() {
    // The CapBnd mask of a container with Podman's default capabilities.
    let mut expected = defaults::DEFAULT_CAPABILITIES.to_vec();
    expected.sort_by_key(|name| {
        defaults::ALL_CAPABILITIES
            .iter()
            .position(|known| known == name)
    });
    assert_eq!(defaults::capabilities_in_mask(0x8004_05fb), expected);
    assert_eq!(defaults::capabilities_in_mask(0), Vec::<&str>::new());
}

#[test]
fn rootless_spec_has_no_cgroup_or_resources() {
    let spec = generate(&SpecOptions {
        rootless: true,
        pids_limit: Some(2048),
        ..options()
    })
    .unwrap();
    let linux = spec.linux().as_ref().unwrap();
    assert!(linux.cgroups_path().is_none());
    assert!(linux.resources().is_none());
    let namespaces: Vec<_> = linux
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|namespace| namespace.typ())
        .collect();
    assert!(!namespaces.contains(&LinuxNamespaceType::User));
}

#[test]
fn rootless_host_network_binds_sys() {
    let spec = generate(&SpecOptions {
        rootless: true,
        network: NetworkMode::Host,
        ..options()
    })
    .unwrap();
    let sys: Vec<_> = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .filter(|mount| mount.destination().starts_with("/sys"))
        .map(|mount| {
            (
                mount.destination().display().to_string(),
                mount.typ().clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        sys,
        vec![
            ("/sys".to_string(), "bind".to_string()),
            ("/sys/fs/cgroup".to_string(), "bind".to_string())
        ]
    );
}

#[test]
fn rootless_own_network_keeps_sysfs() {
    let spec = generate(&SpecOptions {
        rootless: true,
        ..options()
    })
    .unwrap();
    let sys = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|mount| mount.destination() == Path::new("/sys"))
        .unwrap();
    assert_eq!(sys.typ().as_deref(), Some("sysfs"));
}

#[test]
fn user_namespace_adds_namespace_and_maps() {
    let spec = generate(&SpecOptions {
        user_namespace: Some(UserNamespace {
            uid_maps: vec![IdMap {
                container_id: 0,
                host_id: 100000,
                size: 65536,
            }],
            gid_maps: vec![IdMap {
                container_id: 0,
                host_id: 200000,
                size: 1000,
            }],
        }),
        ..options()
    })
    .unwrap();
    let linux = spec.linux().as_ref().unwrap();
    let namespaces = linux.namespaces().as_ref().unwrap();
    assert!(namespaces
        .iter()
        .any(|namespace| namespace.typ() == LinuxNamespaceType::User));
    let uid_maps = linux.uid_mappings().as_ref().unwrap();
    assert_eq!(uid_maps.len(), 1);
    assert_eq!(
        (
            uid_maps[0].container_id(),
            uid_maps[0].host_id(),
            uid_maps[0].size()
        ),
        (0, 100000, 65536)
    );
    let gid_maps = linux.gid_mappings().as_ref().unwrap();
    assert_eq!(
        (
            gid_maps[0].container_id(),
            gid_maps[0].host_id(),
            gid_maps[0].size()
        ),
        (0, 200000, 1000)
    );
}

#[test]
fn no_user_namespace_by_default() {
    let spec = generate(&options()).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    assert!(!linux
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .any(|namespace| namespace.typ() == LinuxNamespaceType::User));
    assert!(linux.uid_mappings().is_none());
}
