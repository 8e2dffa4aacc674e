//! A sealed in-memory copy of the runtime binary, made once per berth
//! process, to run every runtime command from.
//!
//! Against CVE-2019-5736 (a container overwriting the host's runtime
//! through `/proc/self/exe`), crun re-executes itself from a read-only copy
//! before every command: it bind-mounts `/proc/self/exe` read-only on a
//! temporary file, opens it, unmounts it and executes the opened file. That
//! is about 1 ms per crun process on the 2-CPU test VM, and a `run --rm`
//! starts three of them. crun skips the copy when `/proc/self/exe`
//! is a memfd sealed against writing, growing and shrinking, since nothing
//! can write through such a file. berth makes that memfd, so the protection
//! stays and the copies go.
//!
//! The copy is reached as `/proc/<berth's pid>/fd/<fd>`, so conmon's child
//! can execute it too. That works because berth outlives every runtime
//! process it starts, directly or through conmon.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

/// Size limit for a copy: larger binaries run from their own path. runc
/// (about 9 MB) copies itself only in `runc init`, so copying it in every
/// berth command would cost more than it saves. crun is about 0.5 MB.
const MAX_COPY_SIZE: u64 = 2 << 20;

/// `MFD_EXEC` (Linux 6.3), the flag that makes a memfd executable
/// explicitly, as newer kernels expect. Older kernels reject the flag, and
/// berth then retries without it.
const MFD_EXEC: u32 = 0x10;

/// Returns the seals crun and runc check for. They compare the set exactly,
/// so with one more (`F_SEAL_EXEC`) they would not recognize the copy.
fn copy_seals() -> SealFlag {
    SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE
}

/// Copies made so far, by binary path; `None` records that the binary runs
/// from its path.
static COPIES: Mutex<Vec<(PathBuf, Option<File>)>> = Mutex::new(Vec::new());

/// Returns the path to execute `binary` by: its sealed copy when one could
/// be made, otherwise `binary` itself.
pub(crate) fn exec_path(binary: &Path) -> PathBuf {
    let mut copies = COPIES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let index = match copies.iter().position(|(path, _)| path == binary) {
        Some(index) => index,
        None => {
            copies.push((binary.to_path_buf(), make_copy(binary)));
            copies.len() - 1
        }
    };

    match &copies[index].1 {
        Some(copy) => proc_path(copy).unwrap_or_else(|| binary.to_path_buf()),
        None => binary.to_path_buf(),
    }
}

/// Returns `/proc/<pid>/fd/<fd>` for `copy` after checking that the path
/// leads to that very file. In a new pid namespace that still mounts its
/// parent's /proc, the pid names another process. The pid is read each
/// time, because a forked child has its own.
fn proc_path(copy: &File) -> Option<PathBuf> {
    let path = PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        copy.as_raw_fd()
    ));
    let through_path = std::fs::metadata(&path).ok()?;
    let own = copy.metadata().ok()?;
    (through_path.dev() == own.dev() && through_path.ino() == own.ino()).then_some(path)
}

fn make_copy(binary: &Path) -> Option<File> {
    match sealed_copy(binary) {
        Ok(copy) => copy,
        Err(error) => {
            tracing::debug!(binary = %binary.display(), %error, "cannot make a sealed copy of the runtime, running it from its path");
            None
        }
    }
}

fn sealed_copy(binary: &Path) -> io::Result<Option<File>> {
    let mut source = File::open(binary)?;
    if source.metadata()?.len() > MAX_COPY_SIZE || !is_elf(&mut source)? {
        return Ok(None);
    }

    let mut copy = File::from(create_memfd()?);
    io::copy(&mut source, &mut copy)?;
    fcntl(copy.as_raw_fd(), FcntlArg::F_ADD_SEALS(copy_seals()))?;

    // Executing a file that is open for writing fails with ETXTBSY on older
    // kernels, so only a read-only descriptor is kept.
    let read_only = File::open(format!("/proc/self/fd/{}", copy.as_raw_fd()))?;
    Ok(Some(read_only))
}

/// Tells whether `file` is an ELF binary, and rewinds it. A script run
/// from the copy would see the copy's path in `$0` and could not find
/// files next to itself.
fn is_elf(file: &mut File) -> io::Result<bool> {
    let mut magic = [0u8; 4];
    let elf = match file.read_exact(&mut magic) {
        Ok(()) => magic == *b"\x7fELF",
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
        Err(e) => return Err(e),
    };
    file.seek(io::SeekFrom::Start(0))?;
    Ok(elf)
}

fn create_memfd() -> io::Result<std::os::fd::OwnedFd> {
    let flags = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    match memfd_create(
        c"berth-runtime",
        flags | MemFdCreateFlag::from_bits_retain(MFD_EXEC),
    ) {
        Err(nix::errno::Errno::EINVAL) => Ok(memfd_create(c"berth-runtime", flags)?),
        result => Ok(result?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crun_copy_sealed_and_runs() {
        let Some(crun) = crate::runtime::search_path("crun") else {
            return;
        };
        let path = exec_path(&crun);
        assert!(
            path.starts_with(format!("/proc/{}/fd", std::process::id())),
            "{path:?}"
        );
        assert_eq!(exec_path(&crun), path, "one copy per process");

        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&crun).unwrap());
        let copy = File::open(&path).unwrap();
        let seals = fcntl(copy.as_raw_fd(), FcntlArg::F_GET_SEALS).unwrap();
        assert_eq!(seals, copy_seals().bits());

        let output = std::process::Command::new(&path)
            .arg("--version")
            .output()
            .unwrap();
        assert!(output.status.success());
        assert!(String::from_utf8_lossy(&output.stdout).starts_with("crun version"));
    }

    #[test]
    fn large_binary_keeps_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big-runtime");
        std::fs::write(&big, vec![0u8; (MAX_COPY_SIZE + 1) as usize]).unwrap();
        assert_eq!(exec_path(&big), big);
    }

    #[test]
    fn script_keeps_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("crun");
        std::fs::write(&script, "#!/bin/sh\nexec crun \"$@\"\n").unwrap();
        assert_eq!(exec_path(&script), script);
    }

    #[test]
    fn missing_binary_keeps_its_path() {
        let missing = Path::new("/nonexistent/berth-test-runtime");
        assert_eq!(exec_path(missing), missing);
    }
}
