//! The process spec of an exec session (`<runtime> exec --process FILE`):
//! the container's own process from config.json with the session's
//! command, environment, user, working directory, terminal and
//! capabilities on top. Everything else (rlimits, no-new-privileges,
//! AppArmor and SELinux labels, OOM score) stays the container's.
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilitiesBuilder, Process, Spec};

use super::defaults;
use super::ProcessUser;
use crate::{OciError, Result};

/// What an exec session changes in the container's process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecProcessOptions {
    pub args: Vec<String>,
    /// The complete environment, already merged with the container's.
    pub env: Vec<String>,
    /// `None` keeps the container's working directory.
    pub cwd: Option<String>,
    pub user: ProcessUser,
    pub terminal: bool,
    /// Every capability in berth's own bounding set in the bounding,
    /// effective and permitted sets.
    pub privileged: bool,
    /// Capabilities added to the container's: names such as `NET_ADMIN`,
    /// `CAP_NET_ADMIN` or `ALL`.
    pub cap_add: Vec<String>,
}

/// Reads the process of the container's runtime spec from
/// `bundle/config.json`.
pub fn load_process(bundle: &Path) -> Result<Process> {
    let path = bundle.join("config.json");
    let text =
        std::fs::read(&path).map_err(|source| OciError::io("read runtime spec", &path, source))?;
    let spec: Spec = serde_json::from_slice(&text)
        .map_err(|error| OciError::io("parse runtime spec", &path, error.into()))?;
    spec.process().clone().ok_or_else(|| {
        OciError::io(
            "read process of",
            &path,
            std::io::ErrorKind::NotFound.into(),
        )
    })
}

/// Builds the exec session's process from the container's `base` process.
pub fn exec_process(base: &Process, options: &ExecProcessOptions) -> Result<Process> {
    let mut process = base.clone();
    process.set_args(Some(options.args.clone()));
    process.set_env(Some(options.env.clone()));
    if let Some(cwd) = &options.cwd {
        process.set_cwd(cwd.into());
    }
    let mut user = process.user().clone();
    user.set_uid(options.user.uid);
    user.set_gid(options.user.gid);
    user.set_additional_gids(Some(options.user.additional_gids.clone()));
    process.set_user(user);
    // The container's own terminal setting must not leak into the session.
    process.set_terminal(Some(options.terminal));
    // The runtime sizes the session's terminal through conmon, not here.
    process.set_console_size(None);

    let bounding = exec_capabilities(base, options)?;
    // The same sets as the container's own process gets (see
    // `spec::generate`): what the kernel keeps for a non-root user at
    // execve is up to the kernel's rules.
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(bounding.clone())
        .effective(bounding.clone())
        .permitted(bounding)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()?;
    process.set_capabilities(Some(capabilities));
    Ok(process)
}

/// Resolves the session's bounding set: the container's plus `cap_add`,
/// or every capability in berth's own bounding set when privileged or when `cap_add` contains
/// `ALL`.
fn exec_capabilities(base: &Process, options: &ExecProcessOptions) -> Result<Capabilities> {
    let added = options
        .cap_add
        .iter()
        .map(|name| defaults::normalize_capability(name))
        .collect::<Result<Vec<_>>>()?;
    if options.privileged || added.iter().any(|name| name == "ALL") {
        return defaults::own_bounding_capabilities()
            .into_iter()
            .map(defaults::to_oci_capability)
            .collect();
    }

    let mut capabilities: HashSet<Capability> = base
        .capabilities()
        .as_ref()
        .and_then(|sets| sets.bounding().clone())
        .unwrap_or_default();
    for name in &added {
        capabilities.insert(defaults::to_oci_capability(name)?);
    }
    Ok(capabilities)
}

/// Writes the process spec to `path` with mode 0600, because it contains
/// the environment, which may contain secrets.
pub fn write_process(path: &Path, process: &Process) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;

    let json = serde_json::to_vec(process)
        .map_err(|error| OciError::io("serialize", path, error.into()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| OciError::io("create", path, source))?;
    file.write_all(&json)
        .map_err(|source| OciError::io("write", path, source))?;
    tracing::debug!(path = %path.display(), "wrote exec process spec");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{generate, SpecOptions};

    fn container_process() -> Process {
        let spec = generate(&SpecOptions {
            rootfs: "/rootfs".into(),
            args: vec!["sleep".into(), "1000".into()],
            env: vec!["PATH=/bin".into(), "A=container".into()],
            cwd: "/srv".into(),
            no_new_privileges: true,
            terminal: true,
            ..SpecOptions::default()
        })
        .unwrap();
        spec.process().clone().unwrap()
    }

    fn bounding(process: &Process) -> HashSet<Capability> {
        process
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .clone()
            .unwrap()
    }

    #[test]
    fn exec_process_applies_session_options() {
        let base = container_process();
        let options = ExecProcessOptions {
            args: vec!["id".into()],
            env: vec!["PATH=/bin".into(), "A=session".into()],
            cwd: Some("/tmp".into()),
            user: ProcessUser {
                uid: 65534,
                gid: 65534,
                additional_gids: vec![65534],
            },
            terminal: false,
            ..ExecProcessOptions::default()
        };
        let process = exec_process(&base, &options).unwrap();
        assert_eq!(process.args().as_deref(), Some(&["id".to_string()][..]));
        assert_eq!(
            process.env().as_deref(),
            Some(&["PATH=/bin".to_string(), "A=session".to_string()][..])
        );
        assert_eq!(process.cwd(), Path::new("/tmp"));
        assert_eq!(process.user().uid(), 65534);
        assert_eq!(process.user().gid(), 65534);
        assert_eq!(
            process.user().additional_gids().as_deref(),
            Some(&[65534][..])
        );
        assert_eq!(process.terminal(), Some(false));
        assert_eq!(process.no_new_privileges(), Some(true));
        assert_eq!(process.rlimits(), base.rlimits());
        assert_eq!(bounding(&process), bounding(&base));
    }

    #[test]
    fn exec_process_keeps_container_cwd_without_workdir() {
        let base = container_process();
        let process = exec_process(&base, &ExecProcessOptions::default()).unwrap();
        assert_eq!(process.cwd(), Path::new("/srv"));
    }

    #[test]
    fn cap_add_extends_container_capabilities() {
        let base = container_process();
        let options = ExecProcessOptions {
            cap_add: vec!["net_admin".into()],
            ..ExecProcessOptions::default()
        };
        let process = exec_process(&base, &options).unwrap();
        let mut expected = bounding(&base);
        expected.insert(Capability::NetAdmin);
        assert_eq!(bounding(&process), expected);
        let sets = process.capabilities().clone().unwrap();
        assert_eq!(sets.effective().clone().unwrap(), expected);
        assert_eq!(sets.permitted().clone().unwrap(), expected);
    }

    #[test]
    fn privileged_exec_gets_every_capability() {
        let base = container_process();
        let options = ExecProcessOptions {
            privileged: true,
            ..ExecProcessOptions::default()
        };
        let process = exec_process(&base, &options).unwrap();
        assert_eq!(
            bounding(&process).len(),
            defaults::own_bounding_capabilities().len()
        );
    }

    #[test]
    fn unknown_cap_add_rejected() {
        let base = container_process();
        let options = ExecProcessOptions {
            cap_add: vec!["NOT_A_CAP".into()],
            ..ExecProcessOptions::default()
        };
        let error = exec_process(&base, &options).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown capability \"NOT_A_CAP\": use a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL"
        );
    }
}
