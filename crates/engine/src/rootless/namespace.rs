//! The pause process that keeps the user and mount namespaces alive, and the
//! `setns` that joins them.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::fcntl::{Flock, FlockArg};
use nix::sched::CloneFlags;
use tracing::debug;

use super::paths::create_runroot;
use super::subid::{read_ranges, IdRange};
use super::{RootlessError, RootlessPaths, ROOTLESS_UID_ENV};
use crate::process;

/// Set in the environment of the process that becomes the pause process;
/// `berth` checks it first thing in `main` and calls [`run_pause_process`].
pub const PAUSE_PROCESS_ENV: &str = "_BERTH_PAUSE_PROCESS";

/// `PID START_TIME` of the pause process, in the rootless run root.
const PAUSE_PID_FILE: &str = "pause.pid";
/// Serializes the check and the creation of the pause process between
/// concurrent berth commands of one user.
const PAUSE_LOCK_FILE: &str = "pause.lock";

const SUBUID_FILE: &str = "/etc/subuid";
const SUBGID_FILE: &str = "/etc/subgid";

/// Makes this process the user's "root" in the rootless user namespace.
///
/// Joins the user and mount namespaces of the pause process whose pid file
/// is in the rootless run root of `paths`, starting that process first
/// when it is not running. The run root, `root` and `runroot` are created
/// as the host user, after the checks for subordinate ids and newuidmap,
/// so bad input leaves nothing behind. Afterwards the effective uid is 0,
/// the working directory is unchanged and [`ROOTLESS_UID_ENV`] is set.
///
/// A pause process that died (killed, say) leaves the namespaces alive as
/// long as a container's conmon runs in them. Then the new pause process
/// joins the namespaces of such a conmon, found through the conmon pid
/// files in `runroot`, instead of making new ones, as Podman does. So the
/// running containers stay reachable, with their mounts.
///
/// Must run while the process has a single thread: the kernel refuses
/// `setns` into a user namespace otherwise.
pub fn enter(paths: &RootlessPaths, root: &Path, runroot: &Path) -> Result<(), RootlessError> {
    let uid = nix::unistd::geteuid().as_raw();
    let pid_file = paths.runroot.join(PAUSE_PID_FILE);
    let id_maps = match live_pause_process(&pid_file) {
        Some(_) => None,
        None => Some(IdMaps::for_user(uid)?),
    };

    create_runroot(paths)?;
    for dir in [root, runroot] {
        std::fs::create_dir_all(dir).map_err(|source| RootlessError::DirectoryUnwritable {
            path: dir.to_path_buf(),
            source,
        })?;
    }

    let _lock = lock(&paths.runroot.join(PAUSE_LOCK_FILE))?;
    // Another berth command may have started the pause process meanwhile.
    let pid = match (live_pause_process(&pid_file), id_maps) {
        (Some(pid), _) => pid,
        (None, id_maps) => match monitor_in_user_namespace(runroot, uid) {
            Some(monitor_pid) => rejoin_namespaces(monitor_pid, &pid_file)?,
            None => {
                let id_maps = match id_maps {
                    Some(id_maps) => id_maps,
                    None => IdMaps::for_user(uid)?,
                };
                start_pause_process(&id_maps, &pid_file)?
            }
        },
    };
    join(pid)?;
    std::env::set_var(ROOTLESS_UID_ENV, uid.to_string());
    debug!(pause_pid = pid, uid, "joined the rootless user namespace");
    Ok(())
}

/// The id maps that newuidmap and newgidmap write for the user.
struct IdMaps {
    user: String,
    uid: u32,
    gid: u32,
    subuids: Vec<IdRange>,
    subgids: Vec<IdRange>,
    newuidmap: PathBuf,
    newgidmap: PathBuf,
}

impl IdMaps {
    fn for_user(uid: u32) -> Result<IdMaps, RootlessError> {
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |user| user.name);
        Ok(IdMaps {
            subuids: read_ranges(Path::new(SUBUID_FILE), &user, uid, "uid")?,
            subgids: read_ranges(Path::new(SUBGID_FILE), &user, uid, "gid")?,
            newuidmap: find_program("newuidmap")?,
            newgidmap: find_program("newgidmap")?,
            gid: nix::unistd::getegid().as_raw(),
            user,
            uid,
        })
    }
}

/// Runs as the pause process: sleeps until a signal ends it. Its only job
/// is to keep the namespaces alive between berth commands.
pub fn run_pause_process() -> ! {
    loop {
        nix::unistd::pause();
    }
}

fn lock(path: &Path) -> Result<Flock<File>, RootlessError> {
    let unwritable = |source| RootlessError::DirectoryUnwritable {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(unwritable)?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| unwritable(errno.into()))
}

/// Returns the pid in `pid_file` when that process still runs with the
/// recorded start time and its uid map is written.
fn live_pause_process(pid_file: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pid_file).ok()?;
    let mut fields = text.split_whitespace();
    let pid: i32 = fields.next()?.parse().ok()?;
    let start_time: u64 = fields.next()?.parse().ok()?;
    if !process::is_running(pid, start_time) {
        debug!(pid, "the recorded pause process is gone");
        return None;
    }
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).ok()?;
    (!uid_map.trim().is_empty()).then_some(pid)
}

/// Finds a live conmon of `runroot` that runs as `uid` in a user namespace
/// other than this process's, by the container conmon pid files
/// (`pids/ID.conmon.pid`).
fn monitor_in_user_namespace(runroot: &Path, uid: u32) -> Option<i32> {
    let own_namespace = std::fs::read_link("/proc/self/ns/user").ok()?;
    let entries = std::fs::read_dir(runroot.join("pids")).ok()?;
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".conmon.pid"))
        .filter_map(|entry| {
            std::fs::read_to_string(entry.path())
                .ok()?
                .trim()
                .parse()
                .ok()
        })
        .find(|&pid: &i32| {
            let is_conmon = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "conmon");
            let namespace = std::fs::read_link(format!("/proc/{pid}/ns/user")).ok();
            let owner = std::fs::metadata(format!("/proc/{pid}"))
                .ok()
                .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta));
            is_conmon && owner == Some(uid) && namespace.is_some_and(|ns| ns != own_namespace)
        })
}

/// Starts a new pause process inside the user and mount namespaces of
/// `monitor_pid` (a container's conmon) and records it in `pid_file`. The
/// namespaces keep their id mapping, which newuidmap wrote from
/// /etc/subuid and /etc/subgid when they were made.
fn rejoin_namespaces(monitor_pid: i32, pid_file: &Path) -> Result<i32, RootlessError> {
    let failed = |op, source| RootlessError::NamespaceJoinFailed {
        pid: monitor_pid,
        op,
        source,
    };
    let user_ns = File::open(format!("/proc/{monitor_pid}/ns/user"))
        .map_err(|source| failed("open /proc/PID/ns/user", source))?;
    let mount_ns = File::open(format!("/proc/{monitor_pid}/ns/mnt"))
        .map_err(|source| failed("open /proc/PID/ns/mnt", source))?;
    let (user_fd, mount_fd) = (user_ns.as_raw_fd(), mount_ns.as_raw_fd());

    let mut command = pause_command();
    // SAFETY: the hook runs in the forked child before exec and only makes
    // the setns and setsid system calls on descriptors opened before the
    // fork, which neither allocate nor take locks. The child has one
    // thread, as setns into a user namespace requires.
    unsafe {
        command.pre_exec(move || {
            nix::sched::setns(BorrowedFd::borrow_raw(user_fd), CloneFlags::CLONE_NEWUSER)?;
            nix::sched::setns(BorrowedFd::borrow_raw(mount_fd), CloneFlags::CLONE_NEWNS)?;
            nix::unistd::setsid()?;
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|source| failed("start a pause process in its namespaces", source))?;
    let pid = child.id() as i32;
    debug!(
        pid,
        monitor_pid,
        "the pause process was gone; started one in the namespaces of a running conmon"
    );

    if let Err(error) = write_pid_file(pid, pid_file) {
        // The child is ours and not yet known to anyone else.
        let _ = child.kill();
        let _ = child.wait();
        return Err(error);
    }
    Ok(pid)
}

/// Builds the command that runs berth as the pause process.
fn pause_command() -> Command {
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0("berth-pause")
        .env(PAUSE_PROCESS_ENV, "1")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn write_pid_file(pid: i32, pid_file: &Path) -> Result<(), RootlessError> {
    let start_time = process::start_time(pid).unwrap_or_default();
    std::fs::write(pid_file, format!("{pid} {start_time}\n")).map_err(|source| {
        RootlessError::DirectoryUnwritable {
            path: pid_file.to_path_buf(),
            source,
        }
    })
}

/// Starts the pause process in new user and mount namespaces, maps the
/// user's ids into it and records it in `pid_file`. On failure the process
/// is killed again, so nothing is left half set up.
fn start_pause_process(id_maps: &IdMaps, pid_file: &Path) -> Result<i32, RootlessError> {
    let mut command = pause_command();
    // SAFETY: the hook runs in the forked child before exec and only makes
    // the unshare and setsid system calls, which neither allocate nor take
    // locks.
    unsafe {
        command.pre_exec(|| {
            nix::sched::unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)?;
            nix::unistd::setsid()?;
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|source| RootlessError::NamespaceCreateFailed {
            op: "start the pause process",
            source,
        })?;
    let pid = child.id() as i32;
    debug!(pid, user = %id_maps.user, "started the pause process");

    let mapped = write_id_map(
        &id_maps.newuidmap,
        "newuidmap",
        pid,
        id_maps.uid,
        &id_maps.subuids,
    )
    .and_then(|()| {
        write_id_map(
            &id_maps.newgidmap,
            "newgidmap",
            pid,
            id_maps.gid,
            &id_maps.subgids,
        )
    })
    .and_then(|()| write_pid_file(pid, pid_file));
    if let Err(error) = mapped {
        // The child is ours and not yet known to anyone else.
        let _ = child.kill();
        let _ = child.wait();
        return Err(error);
    }
    Ok(pid)
}

/// Runs `newuidmap PID 0 ID 1 1 START COUNT...` (or newgidmap): the user's
/// own id becomes 0 and the subordinate ranges follow from 1.
fn write_id_map(
    program_path: &Path,
    program: &'static str,
    pid: i32,
    own_id: u32,
    ranges: &[IdRange],
) -> Result<(), RootlessError> {
    let mut args = vec![pid.to_string(), "0".into(), own_id.to_string(), "1".into()];
    let mut inside = 1u32;
    for range in ranges {
        args.extend([
            inside.to_string(),
            range.start.to_string(),
            range.count.to_string(),
        ]);
        inside = inside.saturating_add(range.count);
    }
    debug!(command = %format!("{} {}", program_path.display(), args.join(" ")), "mapping ids");
    let output = Command::new(program_path)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| RootlessError::IdMapperFailed {
            program,
            pid,
            message: source.to_string(),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(RootlessError::IdMapperFailed {
            program,
            pid,
            message: if stderr.is_empty() {
                output.status.to_string()
            } else {
                stderr
            },
        });
    }
    Ok(())
}

/// Finds `name` in PATH or /usr/bin, where Debian's uidmap installs it.
fn find_program(name: &'static str) -> Result<PathBuf, RootlessError> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or(RootlessError::IdMapperNotFound { program: name })
}

/// Joins the user namespace, then the mount namespace, of `pid`. Joining
/// a mount namespace moves the working directory to its root, so the old
/// one is restored by path.
fn join(pid: i32) -> Result<(), RootlessError> {
    let failed = |op, source| RootlessError::NamespaceJoinFailed { pid, op, source };
    let user_ns = File::open(format!("/proc/{pid}/ns/user"))
        .map_err(|source| failed("open /proc/PID/ns/user", source))?;
    let mount_ns = File::open(format!("/proc/{pid}/ns/mnt"))
        .map_err(|source| failed("open /proc/PID/ns/mnt", source))?;
    let cwd = std::env::current_dir().ok();

    nix::sched::setns(&user_ns, CloneFlags::CLONE_NEWUSER)
        .map_err(|errno| failed("setns user", errno.into()))?;
    nix::sched::setns(&mount_ns, CloneFlags::CLONE_NEWNS)
        .map_err(|errno| failed("setns mnt", errno.into()))?;
    if let Some(cwd) = cwd {
        if let Err(error) = std::env::set_current_dir(&cwd) {
            tracing::warn!(cwd = %cwd.display(), %error, "cannot return to the working directory in the mount namespace");
        }
    }
    Ok(())
}
