use std::path::Path;

use oci_spec::runtime::LinuxSeccompAction;

use super::*;

const PROFILE: &str = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 38,
  "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
  ],
  "syscalls": [
    {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": [], "includes": {}, "excludes": {}},
    {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
    {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_CHROOT"]}},
    {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}},
    {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
    {"names": ["arm_fadvise64_64"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
    {"names": ["newsyscall"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.10"}},
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
  ]
}"#;

fn convert_for(capabilities: &[&str], kernel: (u32, u32)) -> oci_spec::runtime::LinuxSeccomp {
    let capabilities: Vec<String> = capabilities.iter().map(|name| name.to_string()).collect();
    let target = Target {
        capabilities: &capabilities,
        go_arch: "amd64",
        seccomp_arch: "SCMP_ARCH_X86_64",
        kernel,
    };
    convert(PROFILE, Path::new("test.json"), &target).unwrap()
}

fn rule_names(filter: &oci_spec::runtime::LinuxSeccomp) -> Vec<(String, LinuxSeccompAction)> {
    filter
        .syscalls()
        .as_ref()
        .unwrap()
        .iter()
        .map(|rule| (rule.names().join(","), rule.action()))
        .collect()
}

#[test]
fn seccomp_keeps_rules_for_present_caps() {
    let filter = convert_for(&["CAP_SYS_CHROOT"], (6, 1));
    let rules = rule_names(&filter);
    assert!(rules.contains(&("chroot".to_string(), LinuxSeccompAction::ScmpActAllow)));
    assert!(!rules.contains(&("chroot".to_string(), LinuxSeccompAction::ScmpActErrno)));
    assert!(!rules.iter().any(|(names, _)| names == "bpf"));
}

#[test]
fn seccomp_denies_without_cap() {
    let filter = convert_for(&[], (6, 1));
    let rules = rule_names(&filter);
    assert!(rules.contains(&("chroot".to_string(), LinuxSeccompAction::ScmpActErrno)));
    assert!(!rules.contains(&("chroot".to_string(), LinuxSeccompAction::ScmpActAllow)));
    let chroot = filter
        .syscalls()
        .as_ref()
        .unwrap()
        .iter()
        .find(|rule| rule.names() == &["chroot"])
        .unwrap();
    assert_eq!(chroot.errno_ret(), Some(1));
}

#[test]
fn seccomp_needs_every_included_cap() {
    let only_admin = rule_names(&convert_for(&["CAP_SYS_ADMIN"], (6, 1)));
    assert!(!only_admin.iter().any(|(names, _)| names == "bpf"));
    let both = rule_names(&convert_for(&["CAP_SYS_ADMIN", "CAP_BPF"], (6, 1)));
    assert!(both.iter().any(|(names, _)| names == "bpf"));
}

#[test]
fn seccomp_filters_by_arch_and_kernel() {
    let filter = convert_for(&[], (5, 4));
    let rules = rule_names(&filter);
    assert!(rules.iter().any(|(names, _)| names == "arch_prctl"));
    assert!(!rules.iter().any(|(names, _)| names == "arm_fadvise64_64"));
    assert!(!rules.iter().any(|(names, _)| names == "newsyscall"));
    let newer = rule_names(&convert_for(&[], (5, 10)));
    assert!(newer.iter().any(|(names, _)| names == "newsyscall"));

    let json = serde_json::to_value(&filter).unwrap();
    assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(json["defaultErrnoRet"], 38);
    assert_eq!(
        json["architectures"],
        serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    );
    let personality = json["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["names"][0] == "personality")
        .unwrap();
    assert_eq!(
        personality["args"],
        serde_json::json!([{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}])
    );
}

#[test]
fn seccomp_unknown_action_rejected() {
    let target = Target {
        capabilities: &[],
        go_arch: "amd64",
        seccomp_arch: "SCMP_ARCH_X86_64",
        kernel: (6, 1),
    };
    let error = convert(
        r#"{"defaultAction": "SCMP_ACT_EXPLODE"}"#,
        Path::new("bad.json"),
        &target,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "seccomp profile bad.json: unknown defaultAction \"SCMP_ACT_EXPLODE\""
    );
}
