//! Seccomp: converts a containers-format profile (the format of
//! `/usr/share/containers/seccomp.json`) into the OCI spec's filter for the
//! container's capabilities and the host architecture.
use std::path::Path;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::{OciError, Result};

/// The profile Podman ships with containers-common.
pub const HOST_PROFILE: &str = "/usr/share/containers/seccomp.json";

/// Built-in profile for hosts without [`HOST_PROFILE`]: it allows every
/// syscall by default and returns EPERM for syscalls that change the host
/// (modules, kexec, reboot, clock, swap, accounting, mounts, BPF) unless the
/// container has the capability that governs them. It is a deny list, so it
/// is weaker than the host's allow-list profile.
const BUILTIN_PROFILE: &str = r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {"names": ["kexec_load", "kexec_file_load", "reboot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
     "excludes": {"caps": ["CAP_SYS_BOOT"]}},
    {"names": ["init_module", "finit_module", "delete_module", "create_module", "get_kernel_syms", "query_module"],
     "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_MODULE"]}},
    {"names": ["mount", "umount2", "pivot_root", "bpf", "open_by_handle_at", "quotactl", "setns", "unshare",
               "swapon", "swapoff", "lookup_dcookie", "fanotify_init", "perf_event_open"],
     "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime"],
     "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_TIME"]}},
    {"names": ["acct"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_PACCT"]}},
    {"names": ["iopl", "ioperm"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_RAWIO"]}},
    {"names": ["keyctl", "add_key", "request_key", "nfsservctl", "uselib", "vm86", "vm86old", "userfaultfd"],
     "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
  ]
}"#;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    /// OCI-style profiles list architectures directly.
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    syscalls: Vec<Syscall>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: usize,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Vec<String>,
    /// Go architecture names (`amd64`, `arm64`, `x86`).
    #[serde(default)]
    arches: Vec<String>,
    /// `MAJOR.MINOR`: the rule applies from this kernel version on.
    #[serde(default)]
    min_kernel: Option<String>,
}

/// Where the conversion runs: the container's capabilities (`CAP_` names)
/// and the host.
pub(crate) struct Target<'a> {
    pub capabilities: &'a [String],
    /// Go name of the host architecture.
    pub go_arch: &'a str,
    /// libseccomp name of the host architecture.
    pub seccomp_arch: &'a str,
    pub kernel: (u32, u32),
}

impl<'a> Target<'a> {
    /// Builds the target of this host for a container with `capabilities`.
    pub(crate) fn host(capabilities: &'a [String]) -> Target<'a> {
        let (go_arch, seccomp_arch) = host_arch();
        Target {
            capabilities,
            go_arch,
            seccomp_arch,
            kernel: kernel_version(),
        }
    }

    fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|capability| capability == name)
    }
}

/// Go's and libseccomp's names for the host architecture.
pub(crate) fn host_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "x86" => ("386", "SCMP_ARCH_X86"),
        "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        "arm" => ("arm", "SCMP_ARCH_ARM"),
        "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
        "s390x" => ("s390x", "SCMP_ARCH_S390X"),
        "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
        other => (other, "SCMP_ARCH_NATIVE"),
    }
}

/// Reads the running kernel's `(major, minor)` from uname. It is `(0, 0)`
/// when unknown, so rules with a minimum kernel are left out.
pub(crate) fn kernel_version() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|uname| parse_kernel_version(&uname.release().to_string_lossy()))
        .unwrap_or((0, 0))
}

fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Loads the seccomp filter: `path` when given, else [`HOST_PROFILE`] when
/// it exists, else the built-in profile. A path of `unconfined` disables
/// seccomp (`None`).
pub(crate) fn load(path: Option<&Path>, target: &Target<'_>) -> Result<Option<LinuxSeccomp>> {
    let path = match path {
        Some(path) if path == Path::new("unconfined") => return Ok(None),
        Some(path) => Some(path.to_path_buf()),
        None => Some(Path::new(HOST_PROFILE).to_path_buf()).filter(|path| path.exists()),
    };
    let (text, origin) = match path {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| OciError::io("read seccomp profile", &path, source))?;
            (text, path)
        }
        None => (
            BUILTIN_PROFILE.to_string(),
            "built-in seccomp profile".into(),
        ),
    };
    tracing::debug!(profile = %origin.display(), "converting seccomp profile");
    convert(&text, &origin, target).map(Some)
}

/// Converts profile text, keeping only the rules that apply to `target`.
pub(crate) fn convert(text: &str, origin: &Path, target: &Target<'_>) -> Result<LinuxSeccomp> {
    let profile: Profile =
        serde_json::from_str(text).map_err(|source| OciError::SeccompProfileInvalid {
            path: origin.to_path_buf(),
            source,
        })?;

    let mut architectures: Vec<Arch> = Vec::new();
    if let Some(entry) = profile
        .arch_map
        .iter()
        .find(|entry| entry.architecture == target.seccomp_arch)
    {
        architectures.push(parse_enum(origin, "architecture", &entry.architecture)?);
        for sub in &entry.sub_architectures {
            architectures.push(parse_enum(origin, "architecture", sub)?);
        }
    } else {
        for arch in &profile.architectures {
            architectures.push(parse_enum(origin, "architecture", arch)?);
        }
    }

    let mut syscalls: Vec<LinuxSyscall> = Vec::new();
    for rule in &profile.syscalls {
        if !applies(rule, target) {
            continue;
        }
        let mut names = rule.names.clone();
        names.extend(rule.name.clone());
        if names.is_empty() {
            continue;
        }
        let action: LinuxSeccompAction = parse_enum(origin, "action", &rule.action)?;
        let mut builder = LinuxSyscallBuilder::default().names(names).action(action);
        if let Some(errno) = rule.errno_ret {
            builder = builder.errno_ret(errno);
        }
        if let Some(args) = &rule.args {
            let args = args
                .iter()
                .map(|arg| convert_arg(origin, arg))
                .collect::<Result<Vec<LinuxSeccompArg>>>()?;
            if !args.is_empty() {
                builder = builder.args(args);
            }
        }
        syscalls.push(builder.build()?);
    }

    let default_action: LinuxSeccompAction =
        parse_enum(origin, "defaultAction", &profile.default_action)?;
    let mut builder = LinuxSeccompBuilder::default()
        .default_action(default_action)
        .syscalls(syscalls);
    if !architectures.is_empty() {
        builder = builder.architectures(architectures);
    }
    if let Some(errno) = profile.default_errno_ret {
        builder = builder.default_errno_ret(errno);
    }
    Ok(builder.build()?)
}

/// Checks a rule against `target` the way containers/common does. Every
/// included capability must be present, the host arch must be among the
/// included arches, and the kernel must be at least the minimum. Any
/// excluded capability or arch rules the entry out.
fn applies(rule: &Syscall, target: &Target<'_>) -> bool {
    let includes = &rule.includes;
    if !includes.caps.iter().all(|cap| target.has_capability(cap)) {
        return false;
    }
    if !includes.arches.is_empty() && !includes.arches.iter().any(|arch| arch == target.go_arch) {
        return false;
    }
    if let Some(min_kernel) = &includes.min_kernel {
        match parse_kernel_version(min_kernel) {
            Some(minimum) if target.kernel >= minimum => {}
            _ => return false,
        }
    }

    let excludes = &rule.excludes;
    if excludes.caps.iter().any(|cap| target.has_capability(cap)) {
        return false;
    }
    if excludes.arches.iter().any(|arch| arch == target.go_arch) {
        return false;
    }
    if let Some(min_kernel) = &excludes.min_kernel {
        if parse_kernel_version(min_kernel).is_some_and(|minimum| target.kernel >= minimum) {
            return false;
        }
    }
    true
}

fn convert_arg(origin: &Path, arg: &Arg) -> Result<LinuxSeccompArg> {
    let op: LinuxSeccompOperator = parse_enum(origin, "op", &arg.op)?;
    let mut builder = LinuxSeccompArgBuilder::default()
        .index(arg.index)
        .value(arg.value)
        .op(op);
    if arg.value_two != 0 {
        builder = builder.value_two(arg.value_two);
    }
    Ok(builder.build()?)
}

/// Parses an `SCMP_*` name into oci-spec's enum through its serde names.
fn parse_enum<T: DeserializeOwned>(origin: &Path, field: &'static str, value: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(value.to_string())).map_err(|_| {
        OciError::SeccompProfileUnsupported {
            path: origin.to_path_buf(),
            field,
            value: value.to_string(),
        }
    })
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
