//! Podman's defaults: capabilities, masked and read-only paths, mounts,
//! rlimits and the device cgroup allow-list.
use oci_spec::runtime::{
    Capability, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, Mount, MountBuilder,
    PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
};

use nix::sys::resource::Resource;

use crate::spec::Ulimit;
use crate::{OciError, Result};

/// Linux capabilities by number (`CAP_` prefix dropped), as in
/// `linux/capability.h` up to Linux 5.9.
pub(crate) const ALL_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Podman's default capability set (containers.conf `default_capabilities`).
pub(crate) const DEFAULT_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Paths hidden from the container (Podman's list).
pub(crate) const MASKED_PATHS: &[&str] = &[
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
];

/// Paths mounted read-only in the container (Podman's list).
pub(crate) const READONLY_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Podman's default `RLIMIT_NOFILE` (soft and hard).
pub(crate) const DEFAULT_NOFILE: u64 = 1_048_576;
/// Podman's default `RLIMIT_NPROC` (soft and hard).
pub(crate) const DEFAULT_NPROC: u64 = 4_194_304;

/// Lists the capabilities this process can grant: those of the running
/// kernel (up to `/proc/sys/kernel/cap_last_cap`) that are also in berth's
/// own bounding set. A VM or a parent container may have dropped some from
/// the bounding set, and granting one of those fails in the runtime with
/// `capset: Operation not permitted`.
pub(crate) fn kernel_capabilities() -> Vec<&'static str> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
        .unwrap_or(ALL_CAPABILITIES.len() - 1);
    let bounding = own_bounding_set();
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .take(last + 1)
        .filter(|(bit, _)| bounding.is_none_or(|set| *bit < 64 && set & (1u64 << bit) != 0))
        .map(|(_, name)| *name)
        .collect()
}

/// `CapBnd` of this process from /proc/self/status; `None` when unreadable.
fn own_bounding_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("CapBnd:"))?;
    u64::from_str_radix(line.trim_start_matches("CapBnd:").trim(), 16).ok()
}

/// Lists the capabilities in this process's bounding set (`CapBnd` in
/// /proc/self/status), as Podman gives a privileged exec session, because
/// a runtime started by this process cannot grant more. Falls back to
/// [`kernel_capabilities`] when the file cannot be read.
pub(crate) fn own_bounding_capabilities() -> Vec<&'static str> {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("CapBnd:"))?;
            u64::from_str_radix(line.trim_start_matches("CapBnd:").trim(), 16).ok()
        });
    match mask {
        Some(mask) => capabilities_in_mask(mask),
        None => kernel_capabilities(),
    }
}

/// Lists the names of the capabilities whose bits are set in `mask`.
pub(crate) fn capabilities_in_mask(mask: u64) -> Vec<&'static str> {
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// Normalizes `net_admin`, `CAP_NET_ADMIN` and `ALL` to `NET_ADMIN`/`ALL`.
pub(crate) fn normalize_capability(name: &str) -> Result<String> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare == "ALL" || ALL_CAPABILITIES.contains(&bare) {
        Ok(bare.to_string())
    } else {
        Err(OciError::UnknownCapability {
            capability: name.to_string(),
        })
    }
}

/// Resolves the container's capabilities (names without `CAP_`, in kernel
/// order). The base is Podman's default set, or every capability when
/// `privileged` or when `cap_add` contains `ALL`. Then `cap_drop` applies
/// (`ALL` empties the set) and then `cap_add`, so a capability both dropped
/// and added is kept.
pub(crate) fn resolve_capabilities(
    privileged: bool,
    cap_add: &[String],
    cap_drop: &[String],
) -> Result<Vec<&'static str>> {
    let add = cap_add
        .iter()
        .map(|name| normalize_capability(name))
        .collect::<Result<Vec<_>>>()?;
    let drop = cap_drop
        .iter()
        .map(|name| normalize_capability(name))
        .collect::<Result<Vec<_>>>()?;
    let known = kernel_capabilities();

    let mut selected: Vec<&'static str> = if privileged || add.iter().any(|name| name == "ALL") {
        known.clone()
    } else {
        DEFAULT_CAPABILITIES.to_vec()
    };
    if drop.iter().any(|name| name == "ALL") {
        selected.clear();
    }
    selected.retain(|name| !drop.iter().any(|dropped| dropped == name));
    for name in &add {
        if name == "ALL" {
            continue;
        }
        match known.iter().find(|available| *available == name) {
            Some(capability) => selected.push(capability),
            None => {
                return Err(OciError::CapabilityUnavailable {
                    capability: format!("CAP_{name}"),
                })
            }
        }
    }

    Ok(ALL_CAPABILITIES
        .iter()
        .copied()
        .filter(|name| selected.contains(name))
        .collect())
}

/// Converts a name without `CAP_` to oci-spec's enum.
pub(crate) fn to_oci_capability(name: &str) -> Result<Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        OciError::UnknownCapability {
            capability: name.to_string(),
        }
    })
}

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount> {
    Ok(MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(
            options
                .iter()
                .map(|option| option.to_string())
                .collect::<Vec<_>>(),
        )
        .build()?)
}

/// Podman's default mounts, with /dev/shm of `shm_size` bytes. `privileged`
/// mounts /sys and its cgroup tree read-write.
pub(crate) fn default_mounts(shm_size: u64, privileged: bool) -> Result<Vec<Mount>> {
    let shm_size = format!("size={shm_size}");
    let sys_access = if privileged { "rw" } else { "ro" };
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_access],
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &[
                "rprivate", "nosuid", "noexec", "nodev", "relatime", sys_access,
            ],
        )?,
    ])
}

/// Replaces the sysfs and cgroup mounts with recursive binds of the host's
/// /sys and /sys/fs/cgroup, as Podman does for a container whose user
/// namespace does not own its network namespace: the kernel lets a user
/// namespace mount sysfs only for a network namespace it owns.
pub(crate) fn bind_host_sys(mounts: &mut Vec<Mount>, privileged: bool) -> Result<()> {
    let access = if privileged { "rw" } else { "ro" };
    mounts.retain(|mount| {
        !matches!(
            mount.destination().to_str(),
            Some("/sys") | Some("/sys/fs/cgroup")
        )
    });
    for path in ["/sys", "/sys/fs/cgroup"] {
        mounts.push(mount(
            path,
            "bind",
            path,
            &["rbind", "rprivate", "nosuid", "noexec", "nodev", access],
        )?);
    }
    Ok(())
}

/// Builds one entry of the device cgroup rules.
fn device_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
) -> Result<LinuxDeviceCgroup> {
    let mut builder = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access("rwm");
    if let Some(typ) = typ {
        builder = builder.typ(typ);
    }
    if let Some(major) = major {
        builder = builder.major(major);
    }
    if let Some(minor) = minor {
        builder = builder.minor(minor);
    }
    Ok(builder.build()?)
}

/// Deny every device, then allow the character devices every container
/// gets: null, zero, full, random, urandom, tty, ptmx and the pts
/// terminals. crun and runc allow the same list on their own; writing it
/// out keeps config.json self-describing.
pub(crate) fn device_rules(privileged: bool) -> Result<Vec<LinuxDeviceCgroup>> {
    if privileged {
        // NOTE: privileged containers may use every device, but host device
        // nodes are not passed into /dev yet; only the default ones exist.
        return Ok(vec![device_rule(true, None, None, None)?]);
    }
    let char_device =
        |major, minor| device_rule(true, Some(LinuxDeviceType::C), Some(major), minor);
    Ok(vec![
        device_rule(false, None, None, None)?,
        char_device(1, Some(3))?, // null
        char_device(1, Some(5))?, // zero
        char_device(1, Some(7))?, // full
        char_device(1, Some(8))?, // random
        char_device(1, Some(9))?, // urandom
        char_device(5, Some(0))?, // tty
        char_device(5, Some(2))?, // ptmx
        char_device(136, None)?,  // pts/*
    ])
}

/// `--ulimit` names and their rlimit.
const ULIMIT_TYPES: &[(&str, PosixRlimitType, Resource)] = &[
    ("as", PosixRlimitType::RlimitAs, Resource::RLIMIT_AS),
    ("core", PosixRlimitType::RlimitCore, Resource::RLIMIT_CORE),
    ("cpu", PosixRlimitType::RlimitCpu, Resource::RLIMIT_CPU),
    ("data", PosixRlimitType::RlimitData, Resource::RLIMIT_DATA),
    (
        "fsize",
        PosixRlimitType::RlimitFsize,
        Resource::RLIMIT_FSIZE,
    ),
    (
        "locks",
        PosixRlimitType::RlimitLocks,
        Resource::RLIMIT_LOCKS,
    ),
    (
        "memlock",
        PosixRlimitType::RlimitMemlock,
        Resource::RLIMIT_MEMLOCK,
    ),
    (
        "msgqueue",
        PosixRlimitType::RlimitMsgqueue,
        Resource::RLIMIT_MSGQUEUE,
    ),
    ("nice", PosixRlimitType::RlimitNice, Resource::RLIMIT_NICE),
    (
        "nofile",
        PosixRlimitType::RlimitNofile,
        Resource::RLIMIT_NOFILE,
    ),
    (
        "nproc",
        PosixRlimitType::RlimitNproc,
        Resource::RLIMIT_NPROC,
    ),
    ("rss", PosixRlimitType::RlimitRss, Resource::RLIMIT_RSS),
    (
        "rtprio",
        PosixRlimitType::RlimitRtprio,
        Resource::RLIMIT_RTPRIO,
    ),
    (
        "rttime",
        PosixRlimitType::RlimitRttime,
        Resource::RLIMIT_RTTIME,
    ),
    (
        "sigpending",
        PosixRlimitType::RlimitSigpending,
        Resource::RLIMIT_SIGPENDING,
    ),
    (
        "stack",
        PosixRlimitType::RlimitStack,
        Resource::RLIMIT_STACK,
    ),
];

/// This process's hard limit for `resource`; the runtime runs as our child
/// and cannot set a container limit above it. Unlimited when unknown.
pub(crate) fn own_hard_limit(resource: Resource) -> u64 {
    nix::sys::resource::getrlimit(resource).map_or(u64::MAX, |(_soft, hard)| hard)
}

fn rlimit(typ: PosixRlimitType, soft: u64, hard: u64) -> Result<PosixRlimit> {
    Ok(PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()?)
}

/// Podman's default NOFILE and NPROC limits capped at this process's hard
/// limits, then the user's `--ulimit` values, which replace a default of
/// the same type and must not exceed this process's hard limit.
pub(crate) fn rlimits(ulimits: &[Ulimit]) -> Result<Vec<PosixRlimit>> {
    let nofile = DEFAULT_NOFILE.min(own_hard_limit(Resource::RLIMIT_NOFILE));
    let nproc = DEFAULT_NPROC.min(own_hard_limit(Resource::RLIMIT_NPROC));
    let mut limits = vec![
        rlimit(PosixRlimitType::RlimitNofile, nofile, nofile)?,
        rlimit(PosixRlimitType::RlimitNproc, nproc, nproc)?,
    ];

    for ulimit in ulimits {
        let name = ulimit.name.trim().to_ascii_lowercase();
        let name = name.strip_prefix("rlimit_").unwrap_or(&name).to_string();
        let &(_, typ, resource) = ULIMIT_TYPES
            .iter()
            .find(|(known, _, _)| *known == name)
            .ok_or_else(|| OciError::UnknownUlimit {
                name: ulimit.name.clone(),
            })?;
        if ulimit.soft > ulimit.hard {
            return Err(OciError::UlimitSoftAboveHard {
                name,
                soft: ulimit.soft,
                hard: ulimit.hard,
            });
        }
        let own_hard = own_hard_limit(resource);
        if ulimit.hard > own_hard {
            return Err(OciError::UlimitAboveHardLimit {
                name,
                requested: ulimit.hard,
                hard: own_hard,
            });
        }
        limits.retain(|limit| limit.typ() != typ);
        limits.push(rlimit(typ, ulimit.soft, ulimit.hard)?);
    }
    Ok(limits)
}
