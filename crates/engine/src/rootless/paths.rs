//! The XDG directories of a rootless berth.
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::RootlessError;

/// The directories of a rootless berth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootlessPaths {
    /// `$XDG_DATA_HOME/berth`, by default `~/.local/share/berth`.
    pub root: PathBuf,
    /// `$XDG_RUNTIME_DIR/berth`, or `/tmp/berth-run-UID` when
    /// `XDG_RUNTIME_DIR` is unset or not the user's. It also contains the
    /// pause process's pid file, whatever `--runroot` says.
    pub runroot: PathBuf,
    /// `$XDG_CONFIG_HOME/berth`, by default `~/.config/berth`.
    pub config_dir: PathBuf,
    /// Whether `runroot` is the fallback under /tmp.
    pub runroot_is_fallback: bool,
}

/// Resolves the rootless directories from the environment of uid `uid`.
/// Nothing is created; an existing fallback run root under /tmp is checked.
pub fn default_paths(uid: u32) -> Result<RootlessPaths, RootlessError> {
    let home = home_dir(uid);
    let xdg = |variable: &str, fallback: &str| -> Result<PathBuf, RootlessError> {
        match absolute_env(variable) {
            Some(path) => Ok(path),
            None => home
                .as_ref()
                .map(|home| home.join(fallback))
                .ok_or(RootlessError::NoHomeDirectory { uid }),
        }
    };
    let root = xdg("XDG_DATA_HOME", ".local/share")?.join("berth");
    let config_dir = xdg("XDG_CONFIG_HOME", ".config")?.join("berth");

    let runtime_dir = absolute_env("XDG_RUNTIME_DIR").filter(|dir| is_owned_dir(dir, uid));
    let (runroot, runroot_is_fallback) = match runtime_dir {
        Some(dir) => (dir.join("berth"), false),
        None => (fallback_runroot(uid)?, true),
    };
    Ok(RootlessPaths {
        root,
        runroot,
        config_dir,
        runroot_is_fallback,
    })
}

fn absolute_env(variable: &str) -> Option<PathBuf> {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
}

fn home_dir(uid: u32) -> Option<PathBuf> {
    absolute_env("HOME").or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|user| user.dir)
    })
}

fn is_owned_dir(path: &Path, uid: u32) -> bool {
    std::fs::metadata(path).is_ok_and(|metadata| metadata.is_dir() && metadata.uid() == uid)
}

/// Checks `/tmp/berth-run-UID` when it exists. It must be a real directory
/// of the user that no other user can enter, or another user could have
/// prepared it. [`create_runroot`] makes it when it is missing.
fn fallback_runroot(uid: u32) -> Result<PathBuf, RootlessError> {
    let path = PathBuf::from(format!("/tmp/berth-run-{uid}"));
    let metadata = match std::fs::symlink_metadata(&path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(path),
        Err(source) => return Err(RootlessError::DirectoryUnwritable { path, source }),
    };
    if !metadata.is_dir() || metadata.uid() != uid || metadata.mode() & 0o077 != 0 {
        return Err(RootlessError::RuntimeDirectoryNotOwned {
            path,
            owner: metadata.uid(),
            uid,
        });
    }
    Ok(path)
}

/// Creates the rootless run root; the fallback under /tmp with mode 0700
/// and a warning, which is therefore printed once per boot.
pub(crate) fn create_runroot(paths: &RootlessPaths) -> Result<(), RootlessError> {
    let unwritable = |source| RootlessError::DirectoryUnwritable {
        path: paths.runroot.clone(),
        source,
    };
    if !paths.runroot_is_fallback {
        return std::fs::create_dir_all(&paths.runroot).map_err(unwritable);
    }
    match std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&paths.runroot)
    {
        Ok(()) => {
            tracing::warn!(
                path = %paths.runroot.display(),
                "XDG_RUNTIME_DIR is unset or not owned by the user; using a private run root under /tmp"
            );
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(unwritable(source)),
    }
}
