//! Reuse of the seccomp filter that crun compiled for an earlier container.
//!
//! crun 1.8 compiles the spec's seccomp profile into a BPF program with
//! libseccomp on every `crun create`. For Podman's default profile that took
//! 5-10 ms on a 2-CPU VM, a large share of a short `run --rm`. crun keeps the
//! program it loaded in its state directory (`<state root>/<id>/seccomp.bpf`,
//! which `crun exec` reuses). It also accepts a ready program, base64
//! encoded, in the `run.oci.seccomp_bpf_data` annotation and loads it as is.
//!
//! So the first container with a given profile is created as usual, and
//! berth copies crun's program into this cache. Later containers with the
//! same profile carry it in the annotation. The program comes from crun's
//! own compiler, so the filter is the same byte for byte, and the profile
//! stays in `config.json` for anyone who reads the spec.
//!
//! The cache lives in the run root (a tmpfs, emptied at boot), in a
//! directory only its owner may read. Its key covers the profile's JSON and
//! the runtime binary's identity (path, size, change time), so an upgraded
//! crun or libseccomp compiles afresh. Each file starts with the SHA-256 of
//! the key and the program, so a damaged file is ignored and compiled
//! again. A program that the runtime rejects is dropped (see
//! [`SeccompCache::forget`]). The checksum does not stop the cache's owner
//! from replacing a program on purpose, no more than it stops them from
//! editing `config.json`. runc has no such annotation, so it always
//! compiles the profile itself.
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_spec::runtime::Spec;
use sha2::{Digest, Sha256};

use crate::Runtime;

/// The crun annotation that carries a compiled seccomp program.
pub const BPF_DATA_ANNOTATION: &str = "run.oci.seccomp_bpf_data";

/// File in crun's per-container state directory with the loaded program.
const RUNTIME_BPF_FILE: &str = "seccomp.bpf";

/// A classic BPF instruction is 8 bytes; a program is a whole number of
/// them and at most 4096 long (BPF_MAXINSNS).
const BPF_INSTRUCTION_SIZE: usize = 8;
const BPF_MAX_INSTRUCTIONS: usize = 4096;

/// Compiled seccomp programs, one file per profile and runtime build.
#[derive(Debug, Clone)]
pub struct SeccompCache {
    dir: PathBuf,
}

/// The outcome of [`SeccompCache::apply`] for one spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The spec has no seccomp profile, or the runtime cannot take a
    /// compiled program.
    NotApplicable,
    /// The annotation now carries the program cached under this key.
    Hit(String),
    /// No program cached yet: after the runtime has created the container,
    /// [`SeccompCache::learn`] stores the one it compiled under this key.
    Miss(String),
}

impl SeccompCache {
    pub fn new(dir: impl Into<PathBuf>) -> SeccompCache {
        SeccompCache { dir: dir.into() }
    }

    /// Adds the cached program for the spec's profile to its annotations,
    /// when the runtime takes one and the cache has it.
    pub fn apply(&self, runtime: &Runtime, spec: &mut Spec) -> Applied {
        if !takes_compiled_filter(runtime) {
            return Applied::NotApplicable;
        }
        let Some(key) = cache_key(runtime, spec) else {
            return Applied::NotApplicable;
        };

        let Some(program) = self.read_entry(&key) else {
            return Applied::Miss(key);
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(program);
        let mut annotations = spec.annotations().clone().unwrap_or_default();
        annotations.insert(BPF_DATA_ANNOTATION.to_string(), encoded);
        spec.set_annotations(Some(annotations));
        tracing::debug!(key = %key, "using the cached seccomp program");
        Applied::Hit(key)
    }

    /// Copies the program the runtime compiled for container `id` into the
    /// cache under `key`. A failure only costs the next container the
    /// compile, so it is logged and otherwise ignored.
    pub fn learn(&self, runtime: &Runtime, id: &str, key: &str) {
        let compiled = runtime.state_root.join(id).join(RUNTIME_BPF_FILE);
        let Some(program) = read_program(&compiled) else {
            tracing::debug!(path = %compiled.display(), "no compiled seccomp program to cache");
            return;
        };
        let mut entry = checksum(key, &program).to_vec();
        entry.extend_from_slice(&program);
        if let Err(error) = write_atomically(&self.dir, key, &entry) {
            tracing::debug!(dir = %self.dir.display(), %error, "caching the seccomp program failed");
        }
    }

    /// Drops the program cached under `key`, after the runtime failed to
    /// create a container that carried it, so the next container compiles
    /// the profile again instead of failing the same way.
    pub fn forget(&self, key: &str) {
        let path = self.dir.join(key);
        match fs::remove_file(&path) {
            // Most failed creates are the user's (a command that is not in
            // the image), so this is no news worth a warning.
            Ok(()) => {
                tracing::debug!(path = %path.display(), "dropped a cached seccomp program after a failed create")
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot drop a cached seccomp program")
            }
        }
    }

    /// Reads the program cached under `key`; `None` when there is none or
    /// its checksum does not match.
    fn read_entry(&self, key: &str) -> Option<Vec<u8>> {
        let entry = fs::read(self.dir.join(key)).ok()?;
        let (sum, program) = entry.split_at_checked(CHECKSUM_SIZE)?;
        if sum != checksum(key, program).as_slice() || !is_program(program) {
            tracing::debug!(key, "ignoring a damaged cached seccomp program");
            return None;
        }
        Some(program.to_vec())
    }
}

/// Names the layout of the cache files: a SHA-256 of key and program,
/// then the program.
const CACHE_LAYOUT: &str = "berth seccomp cache: sha256, program";

/// Size of the SHA-256 that starts each cache file.
const CHECKSUM_SIZE: usize = 32;

fn checksum(key: &str, program: &[u8]) -> [u8; CHECKSUM_SIZE] {
    let mut hasher = Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update(program);
    hasher.finalize().into()
}

/// crun loads a program from the annotation; runc and other runtimes have
/// no such annotation.
fn takes_compiled_filter(runtime: &Runtime) -> bool {
    runtime.name == "crun"
}

/// Computes the key of the spec's profile for this runtime build; `None`
/// when the spec has no profile or the runtime binary cannot be examined.
fn cache_key(runtime: &Runtime, spec: &Spec) -> Option<String> {
    let seccomp = spec.linux().as_ref()?.seccomp().as_ref()?;
    let profile = serde_json::to_vec(seccomp).ok()?;
    let binary = fs::metadata(&runtime.path).ok()?;

    let mut hasher = Sha256::new();
    // The layout of the cache files, so that berth builds with another
    // layout sharing a run root never read each other's files.
    hasher.update(CACHE_LAYOUT.as_bytes());
    hasher.update(runtime.path.as_os_str().as_encoded_bytes());
    hasher.update(binary.size().to_le_bytes());
    hasher.update(binary.ctime().to_le_bytes());
    hasher.update(binary.ctime_nsec().to_le_bytes());
    hasher.update(binary.ino().to_le_bytes());
    hasher.update(&profile);
    Some(hex::encode(hasher.finalize()))
}

/// Reads the program the runtime wrote, when it is a plausible BPF program.
fn read_program(path: &Path) -> Option<Vec<u8>> {
    let program = fs::read(path).ok()?;
    is_program(&program).then_some(program)
}

/// Rejects what cannot be a BPF program: empty, a partial instruction, or
/// too long.
fn is_program(program: &[u8]) -> bool {
    let instructions = program.len() / BPF_INSTRUCTION_SIZE;
    let whole = program.len().is_multiple_of(BPF_INSTRUCTION_SIZE);
    whole && (1..=BPF_MAX_INSTRUCTIONS).contains(&instructions)
}

/// Writes through a temporary file and a rename, so a reader never sees
/// half a program even with many containers starting at once.
fn write_atomically(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut temporary = tempfile::NamedTempFile::new_in(dir)?;
    temporary.write_all(data)?;
    temporary
        .persist(dir.join(name))
        .map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(name: &str, path: &Path, state_root: &Path) -> Runtime {
        Runtime {
            name: name.to_string(),
            path: path.to_path_buf(),
            state_root: state_root.to_path_buf(),
        }
    }

    fn spec_with_seccomp() -> Spec {
        let seccomp = oci_spec::runtime::LinuxSeccompBuilder::default()
            .default_action(oci_spec::runtime::LinuxSeccompAction::ScmpActErrno)
            .build()
            .unwrap();
        let mut spec = Spec::default();
        let mut linux = spec.linux().clone().unwrap();
        linux.set_seccomp(Some(seccomp));
        spec.set_linux(Some(linux));
        spec
    }

    #[test]
    fn learned_program_reaches_next_spec() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("crun");
        fs::write(&binary, b"binary").unwrap();
        let state_root = dir.path().join("state");
        fs::create_dir_all(state_root.join("first")).unwrap();
        let program = [7u8; 16];
        fs::write(state_root.join("first").join(RUNTIME_BPF_FILE), program).unwrap();
        let crun = runtime("crun", &binary, &state_root);
        let cache = SeccompCache::new(dir.path().join("cache"));

        let mut first = spec_with_seccomp();
        let Applied::Miss(key) = cache.apply(&crun, &mut first) else {
            panic!("an empty cache must miss");
        };
        let annotations = first.annotations().clone().unwrap_or_default();
        assert!(!annotations.contains_key(BPF_DATA_ANNOTATION));
        cache.learn(&crun, "first", &key);

        let mut second = spec_with_seccomp();
        assert_eq!(cache.apply(&crun, &mut second), Applied::Hit(key.clone()));
        let annotations = second.annotations().clone().unwrap();
        assert_eq!(
            annotations[BPF_DATA_ANNOTATION],
            base64::engine::general_purpose::STANDARD.encode(program)
        );
    }

    #[test]
    fn damaged_or_forgotten_entry_misses() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("crun");
        fs::write(&binary, b"binary").unwrap();
        let state_root = dir.path().join("state");
        fs::create_dir_all(state_root.join("c")).unwrap();
        fs::write(state_root.join("c").join(RUNTIME_BPF_FILE), [5u8; 16]).unwrap();
        let crun = runtime("crun", &binary, &state_root);
        let cache = SeccompCache::new(dir.path().join("cache"));
        let Applied::Miss(key) = cache.apply(&crun, &mut spec_with_seccomp()) else {
            panic!("an empty cache must miss");
        };
        cache.learn(&crun, "c", &key);

        // Same length, other bytes: the checksum no longer matches.
        let entry = dir.path().join("cache").join(&key);
        let length = fs::metadata(&entry).unwrap().len() as usize;
        fs::write(&entry, vec![0u8; length]).unwrap();
        assert!(matches!(
            cache.apply(&crun, &mut spec_with_seccomp()),
            Applied::Miss(_)
        ));

        cache.learn(&crun, "c", &key);
        assert!(matches!(
            cache.apply(&crun, &mut spec_with_seccomp()),
            Applied::Hit(_)
        ));
        cache.forget(&key);
        assert!(matches!(
            cache.apply(&crun, &mut spec_with_seccomp()),
            Applied::Miss(_)
        ));
    }

    #[test]
    fn runc_and_bare_spec_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("runc");
        fs::write(&binary, b"binary").unwrap();
        let cache = SeccompCache::new(dir.path().join("cache"));

        let mut spec = spec_with_seccomp();
        let runc = runtime("runc", &binary, dir.path());
        assert_eq!(cache.apply(&runc, &mut spec), Applied::NotApplicable);

        let mut bare = Spec::default();
        let crun = runtime("crun", &binary, dir.path());
        assert_eq!(cache.apply(&crun, &mut bare), Applied::NotApplicable);
    }

    #[test]
    fn partial_program_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("crun");
        fs::write(&binary, b"binary").unwrap();
        let state_root = dir.path().join("state");
        fs::create_dir_all(state_root.join("c")).unwrap();
        fs::write(state_root.join("c").join(RUNTIME_BPF_FILE), [1u8; 12]).unwrap();
        let crun = runtime("crun", &binary, &state_root);
        let cache = SeccompCache::new(dir.path().join("cache"));

        let mut spec = spec_with_seccomp();
        let Applied::Miss(key) = cache.apply(&crun, &mut spec) else {
            panic!("an empty cache must miss");
        };
        cache.learn(&crun, "c", &key);
        assert!(matches!(cache.apply(&crun, &mut spec), Applied::Miss(_)));
    }
}
