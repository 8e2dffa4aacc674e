//! `init`: make the runtime container through conmon (the create
//! handshake), leaving it `created`. Runs on start, as Podman's init does.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use berth_oci::seccomp_cache::{Applied, SeccompCache};
use berth_oci::spec::{MountSpec, ProcessUser, SpecOptions};
use berth_oci::CreateRequest;
use tracing::{debug, warn};

use super::start::invalid_state;
use super::{Container, ContainerPaths, ContainerStatus, MountRequest};
use crate::etc_files::{self, EtcOptions};
use crate::{process, user, Engine, EngineError, Result};

/// A bundle ready for the runtime.
pub(crate) struct PreparedBundle {
    /// Sockets that reserve published host ports, for conmon to keep.
    pub held_ports: Vec<OwnedFd>,
    /// Whether the spec carries a cached seccomp program, or the runtime's
    /// own compile should be cached once the container exists.
    pub seccomp: Applied,
}

/// Bound on conmon's report of the container pid.
const CREATE_TIMEOUT: Duration = Duration::from_secs(60);

/// Podman's default /dev/shm size: 64 MiB.
const SHM_SIZE: u64 = 64 << 20;

/// Paths searched for catatonit when `--init` is given.
const INIT_PATHS: &[&str] = &["/usr/libexec/podman/catatonit", "/usr/bin/catatonit"];

/// Cgroup that contains every container's cgroup, relative to each
/// hierarchy's root.
pub(crate) const CGROUP_PARENT: &str = "/berth";

impl Engine {
    /// Creates the runtime container (`berth init`) of a container that is
    /// not running, with its mounts and bundle, without starting its
    /// process. That is Podman's "Initialized" state, for inspecting the
    /// container first. A container the runtime already has is an error,
    /// as in Podman.
    pub fn initialize(&self, name_or_id: &str) -> Result<()> {
        let (_lock, mut container) = self.lock_container(name_or_id)?;
        match container.state.status() {
            ContainerStatus::Configured => {}
            // The old run's exec sessions are history.
            ContainerStatus::Exited => self.forget_exec_sessions(&container.id)?,
            ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused => {
                return Err(invalid_state(
                    &container,
                    "init",
                    ": the runtime has already created it",
                ));
            }
        }
        self.init(&mut container)
    }

    /// Creates the runtime container of a `configured` container. Caller
    /// holds the lock. On failure everything made so far is undone and the
    /// container stays `configured`.
    pub(crate) fn init(&self, container: &mut Container) -> Result<()> {
        let runtime = self.runtime(&container.config.runtime)?;
        berth_oci::cgroup::check_host(&runtime.name)?;
        let monitor = self.monitor()?;

        // An exited container, or one whose earlier init was interrupted
        // (berth killed after the mount or the handshake), still has a
        // runtime container or mount that would make this init fail.
        if container.has_runtime_resources() {
            self.release_runtime_resources(container);
        }

        if !self.options.rootless {
            berth_oci::cgroup::start_migration_wait();
        }
        match self.init_steps(container, &runtime, &monitor) {
            Ok(()) => Ok(()),
            Err(error) => {
                self.release_runtime_resources(container);
                container.state.error = error.to_string();
                container.state.status = Some(ContainerStatus::Configured);
                self.db.save_state(&container.id, &container.state)?;
                Err(classify_runtime_error(error, &container.name))
            }
        }
    }

    fn init_steps(
        &self,
        container: &mut Container,
        runtime: &berth_oci::Runtime,
        monitor: &berth_oci::Monitor,
    ) -> Result<()> {
        // conmon starts up (1-2 ms) while the bundle is written, unless it
        // must inherit descriptors that the bundle's network setup makes.
        let mut prepared = None;
        let created = if !Self::monitor_inherits_network_fds(container) {
            self.spawn_monitor(container, runtime, monitor, None, &[], |container| {
                prepared = Some(self.prepare_bundle(container, runtime)?);
                Ok(())
            })
        } else {
            let bundle = self.prepare_bundle(container, runtime)?;
            let held_fds: Vec<RawFd> = bundle.held_ports.iter().map(|fd| fd.as_raw_fd()).collect();
            let created =
                self.spawn_monitor(container, runtime, monitor, None, &held_fds, |_| Ok(()));
            prepared = Some(bundle);
            created
        };
        let created = match created {
            Ok(created) => created,
            Err(error) => {
                // A cached program the runtime rejects would fail every
                // later container with the same profile.
                if let Some(Applied::Hit(key)) = prepared.as_ref().map(|bundle| &bundle.seccomp) {
                    self.seccomp_cache().forget(key);
                }
                return Err(error);
            }
        };
        let bundle = prepared.expect("a created container has its bundle");
        // conmon has its own copies of the port sockets now.
        drop(bundle.held_ports);
        if let Applied::Miss(key) = bundle.seccomp {
            self.seccomp_cache().learn(runtime, &container.id, &key);
        }
        crate::pause_point::reach("init-after-monitor");
        debug!(container_id = %container.id, pid = created.pid, monitor_pid = created.monitor_pid, "runtime container created");

        container.state.status = Some(ContainerStatus::Created);
        container.state.checkpoint.checkpointed = false;
        self.record_monitor(container, created)?;
        self.emit(container, "init");
        Ok(())
    }

    /// Sets up the network, mounts the root filesystem and writes the
    /// bundle: the /etc files and `config.json`. Caller holds the lock.
    pub(crate) fn prepare_bundle(
        &self,
        container: &mut Container,
        runtime: &berth_oci::Runtime,
    ) -> Result<PreparedBundle> {
        let paths = self.paths(&container.id);
        prepare_dirs(&paths)?;

        // Before the rootfs mount, so a taken host port fails first.
        let network = self.setup_network(container)?;

        let image = self.store.lookup(&container.image_id)?;
        let rootfs = match &container.config.id_mappings {
            Some(mappings) => self.store.mount_mapped(
                &container.id,
                &image,
                mappings,
                container.config.auto_remove,
            )?,
            None => self
                .store
                .mount(&container.id, &image, container.config.auto_remove)?,
        };
        container.state.mounted = true;
        self.db.save_state(&container.id, &container.state)?;
        crate::pause_point::reach("init-after-mount");

        let mut env = container.config.env.clone();
        let mut userns_mounts = Vec::new();
        if container.config.userns == super::userns::KEEP_ID {
            userns_mounts = add_keep_id_user(container, &rootfs, &paths, &mut env)?;
        }
        let process_user = user::resolve(&rootfs, &container.config.user)?;
        let hostname = hostname_of(container);
        let network_state = container.state.network.clone().unwrap_or_default();
        let network_config = &container.config.network_config;
        let etc_mounts = etc_files::write(
            &paths.userdata,
            &EtcOptions {
                hostname: &hostname,
                name: &container.name,
                host_network: container.config.network == "host",
                address: network_state.interfaces.first().map(|i| i.address),
                add_hosts: &network_config.add_hosts,
                dns_servers: &network_config.dns_servers,
                dns_search: &network_config.dns_search,
                network_dns_servers: &network_state.dns_servers,
                network_dns_search: &network_state.dns_search,
                joined_resolv_conf: network.joined_resolv_conf.as_deref(),
            },
        )?;
        if let Some(mappings) = &container.config.id_mappings {
            super::userns::chown_etc_files(&etc_mounts, mappings)?;
            if !self.options.rootless {
                super::userns::make_searchable(&rootfs)?;
                super::userns::make_searchable(&paths.userdata)?;
            }
        }

        // Socket activation and readiness, for a container started from a
        // systemd unit; both come from berth's own environment at start.
        let mut env = with_hostname(&env, &hostname);
        let mut systemd_mounts = Vec::new();
        if let Some(sockets) = crate::systemd::activation_sockets() {
            env.extend(crate::systemd::activation_env(&sockets));
        }
        if let Some((mount, variable)) =
            crate::systemd::container_notify(&container.config.sdnotify)
        {
            systemd_mounts.push(mount);
            env.push(variable);
        }

        let spec_options = SpecOptions {
            rootfs: rootfs.clone(),
            readonly_rootfs: container.config.read_only,
            args: container
                .config
                .entrypoint
                .iter()
                .chain(&container.config.command)
                .cloned()
                .collect(),
            env,
            cwd: container.config.workdir.clone(),
            user: ProcessUser {
                uid: process_user.uid,
                gid: process_user.gid,
                additional_gids: process_user.additional_gids,
            },
            terminal: container.config.tty,
            hostname,
            mounts: etc_mounts
                .into_iter()
                .chain(userns_mounts)
                .chain(container.config.mounts.iter().map(to_mount_spec))
                .chain(systemd_mounts)
                .collect(),
            cap_add: container.config.cap_add.clone(),
            cap_drop: container.config.cap_drop.clone(),
            privileged: container.config.privileged,
            no_new_privileges: container.config.no_new_privileges,
            ulimits: container.config.ulimits.iter().map(Into::into).collect(),
            memory_limit: container.config.memory_limit,
            cpus: container.config.cpus,
            pids_limit: container.config.pids_limit,
            cgroups_path: format!("{CGROUP_PARENT}/{}", container.id),
            shm_size: SHM_SIZE,
            annotations: BTreeMap::from([("io.berth.name".to_string(), container.name.clone())]),
            seccomp_profile: container.config.seccomp_profile.as_ref().map(PathBuf::from),
            seccomp_profile_text: container.config.seccomp_profile_text.clone(),
            init_path: if container.config.init {
                Some(find_init()?)
            } else {
                None
            },
            // A slirp4netns container starts in a new, empty namespace that
            // slirp4netns configures once the container exists.
            network: network.mode.clone(),
            rootless: self.options.rootless,
            user_namespace: container
                .config
                .id_mappings
                .as_ref()
                .map(super::userns::spec_namespace),
        };
        let mut spec = berth_oci::spec::generate(&spec_options)?;
        let seccomp = self.seccomp_cache().apply(runtime, &mut spec);
        berth_oci::spec::write_config(&paths.userdata, &spec)?;
        Ok(PreparedBundle {
            held_ports: network.held_ports,
            seccomp,
        })
    }

    /// Compiled seccomp programs, kept in the run root so a reboot or a new
    /// runtime build starts afresh.
    pub(crate) fn seccomp_cache(&self) -> SeccompCache {
        SeccompCache::new(self.options.runroot.join("seccomp"))
    }

    /// Whether conmon must inherit descriptors that the network setup
    /// makes: the sockets that reserve published host ports.
    fn monitor_inherits_network_fds(container: &Container) -> bool {
        !container.config.network_config.ports.is_empty()
    }

    /// Runs the conmon handshake that creates the runtime container, or
    /// with `restore` restores it from a checkpoint. conmon inherits
    /// `held_fds` (published port sockets) and keeps them open while the
    /// container lives. `before_start` runs while conmon starts up and
    /// waits for its start byte, so the two overlap. conmon is killed when
    /// `before_start` fails. Caller holds the lock.
    pub(crate) fn spawn_monitor(
        &self,
        container: &mut Container,
        runtime: &berth_oci::Runtime,
        monitor: &berth_oci::Monitor,
        restore: Option<berth_oci::RestoreRequest<'_>>,
        held_fds: &[RawFd],
        before_start: impl FnOnce(&mut Container) -> Result<()>,
    ) -> Result<berth_oci::Created> {
        let paths = self.paths(&container.id);
        let (id, name) = (container.id.clone(), container.name.clone());
        let mut cleanup_args = Vec::new();
        if container.config.auto_remove {
            cleanup_args.push("--low-priority".to_string());
        }
        cleanup_args.push(container.id.clone());
        let exit_command = self.cleanup_command(&cleanup_args);
        let slirp_exit_pipe = if Self::uses_slirp4netns(container) {
            Some(super::slirp::ExitPipe::new()?)
        } else {
            None
        };
        // conmon also holds the write end of slirp4netns's exit pipe, so the
        // network helper ends with the container's monitor.
        let mut held: Vec<RawFd> = held_fds.to_vec();
        if let Some(pipe) = &slirp_exit_pipe {
            held.push(pipe.write.as_raw_fd());
        }
        let request = CreateRequest {
            container_id: &id,
            container_name: &name,
            runtime,
            bundle: &paths.userdata,
            pid_file: &paths.pid_file,
            log_path: &paths.log,
            log_size_max: None,
            exit_dir: &paths.exit_dir,
            persist_dir: &paths.persist_dir,
            conmon_pid_file: &paths.monitor_pid_file,
            exit_command: &exit_command,
            terminal: container.config.tty,
            stdin: container.config.interactive,
            // An ordinary user cannot move processes between cgroups.
            monitor_cgroup: (!self.options.rootless).then_some("/berth/conmon"),
            timeout: CREATE_TIMEOUT,
            debug: self.options.debug,
            held_fds: &held,
            // Activation sockets go to a newly created container only; a
            // restored one has its sockets back from the checkpoint.
            preserve_fds: match restore {
                None => crate::systemd::activation_sockets().map_or(0, |s| s.count),
                Some(_) => 0,
            },
            restore,
        };

        let pending = monitor.start_create(&request)?;
        // An error drops `pending`, which kills conmon.
        before_start(container)?;
        let created = monitor.finish_create(pending, &request)?;

        if let Some(pipe) = slirp_exit_pipe {
            // Only conmon may hold the write end from now on.
            drop(pipe.write);
            self.start_slirp4netns(container, created.pid, pipe.read)?;
        }
        Ok(created)
    }

    /// Records the pids of a container that conmon has just created or
    /// restored, and clears the previous run's exit. Caller holds the lock
    /// and sets the status.
    pub(crate) fn record_monitor(
        &self,
        container: &mut Container,
        created: berth_oci::Created,
    ) -> Result<()> {
        let state = &mut container.state;
        state.pid = created.pid;
        state.pid_start_time = process::start_time(created.pid).unwrap_or_default();
        state.monitor_pid = created.monitor_pid;
        state.monitor_start_time = process::start_time(created.monitor_pid).unwrap_or_default();
        state.exit_code = None;
        state.finished_at = None;
        state.oom_killed = false;
        state.error.clear();
        self.db.save_state(&container.id, state)
    }

    /// The program and arguments conmon runs when a container or an exec
    /// session exits: `berth ... container cleanup ARGS...`.
    pub(crate) fn cleanup_command(&self, args: &[String]) -> Vec<String> {
        let program = self
            .options
            .cleanup_program
            .clone()
            .or_else(|| std::env::current_exe().ok())
            .unwrap_or_else(|| "berth".into());
        let mut command = vec![
            program.display().to_string(),
            "--root".into(),
            self.options.root.display().to_string(),
            "--runroot".into(),
            self.options.runroot.display().to_string(),
        ];
        if self.options.debug {
            command.extend(["--log-level".into(), "debug".into()]);
        }
        command.extend(["container".into(), "cleanup".into()]);
        command.extend(args.iter().cloned());
        command
    }

    /// Deletes the runtime container, its cgroup, its network and the
    /// rootfs mount, best effort: used when init fails and when an exited
    /// container is cleaned up. Caller holds the lock.
    pub(crate) fn release_runtime_resources(&self, container: &mut Container) {
        // The runtime's delete (its state and the container's cgroup) and
        // berth's own teardown (network, root filesystem mount) touch
        // different things, so they run side by side: each takes a few
        // milliseconds of a short `run --rm`.
        let runtime = self.runtime(&container.config.runtime).ok();
        let id = container.id.clone();
        std::thread::scope(|scope| {
            let deleting = runtime.map(|runtime| {
                scope.spawn(move || {
                    if let Err(e) = runtime.delete(&id, true) {
                        warn!(container_id = %id, error = %e, "deleting the runtime container failed");
                    }
                })
            });
            self.teardown_network(container);
            match self.store.unmount(&container.id) {
                Ok(()) => container.state.mounted = false,
                Err(e) => {
                    warn!(container_id = %container.id, error = %e, "unmounting the root filesystem failed")
                }
            }
            if let Some(deleting) = deleting {
                // A panic in the thread was already printed; the cgroup
                // removal below still runs.
                let _ = deleting.join();
            }
        });

        // After the runtime's delete, which removes the cgroup itself; this
        // catches a cgroup left by a runtime that was killed.
        let cgroup = format!("{CGROUP_PARENT}/{}", container.id);
        if self.options.rootless {
            self.remove_slirp_socket(&container.id);
        } else if let Err(e) = berth_oci::cgroup::remove(&cgroup) {
            warn!(container_id = %container.id, error = %e, "removing the container's cgroup failed");
        }
        let paths = self.paths(&container.id);
        let _ = std::fs::remove_file(&paths.pid_file);
        let _ = std::fs::remove_file(&paths.monitor_pid_file);
        container.state.monitor_pid = 0;
        container.state.monitor_start_time = 0;
    }
}

/// Adds the keep-id user to the container's /etc/passwd and /etc/group
/// and sets `HOME` unless the environment has it, as Podman does. Returns
/// the mounts of the copies a read-only rootfs needs.
fn add_keep_id_user(
    container: &Container,
    rootfs: &std::path::Path,
    paths: &ContainerPaths,
    env: &mut Vec<String>,
) -> Result<Vec<MountSpec>> {
    let Some(mappings) = &container.config.id_mappings else {
        return Ok(Vec::new());
    };
    let Some(user) = super::userns::KeepIdUser::of(mappings) else {
        return Ok(Vec::new());
    };
    let home = user.home_in(container);
    if !env.iter().any(|entry| entry.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    super::userns::add_keep_id_user(
        rootfs,
        &paths.userdata,
        &user,
        &home,
        container.config.read_only,
        mappings,
    )
}

fn prepare_dirs(paths: &ContainerPaths) -> Result<()> {
    for dir in [&paths.userdata, &paths.exit_dir, &paths.persist_dir] {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::io("create directory", dir, e))?;
    }
    if let Some(pids) = paths.pid_file.parent() {
        std::fs::create_dir_all(pids).map_err(|e| EngineError::io("create directory", pids, e))?;
    }
    // A leftover exit file from an earlier run would make the new run look
    // exited at once.
    for stale in [
        paths.exit_file.clone(),
        paths.persist_dir.join("exit"),
        paths.persist_dir.join("oom"),
    ] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::io("remove stale exit file", stale, e)),
        }
    }
    Ok(())
}

fn hostname_of(container: &Container) -> String {
    if !container.config.hostname.is_empty() {
        container.config.hostname.clone()
    } else if container.config.network == "host" {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| container.short_id().to_string())
    } else {
        container.short_id().to_string()
    }
}

fn with_hostname(env: &[String], hostname: &str) -> Vec<String> {
    let mut env: Vec<String> = env.to_vec();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={hostname}"));
    }
    env
}

fn to_mount_spec(mount: &MountRequest) -> MountSpec {
    match mount {
        MountRequest::Bind {
            source,
            destination,
            read_only,
        } => MountSpec::Bind {
            source: source.clone(),
            destination: destination.clone(),
            read_only: *read_only,
        },
        MountRequest::Tmpfs {
            destination,
            options,
        } => MountSpec::Tmpfs {
            destination: destination.clone(),
            options: options.clone(),
        },
    }
}

fn find_init() -> Result<std::path::PathBuf> {
    INIT_PATHS
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| EngineError::Unsupported {
            feature: "--init without catatonit (install it with `apt-get install catatonit`)"
                .into(),
        })
}

/// Maps the runtime's words for a command that cannot run to Podman's exit
/// codes: 127 when it is not found, 126 when it cannot be executed.
pub(crate) fn classify_runtime_error(error: EngineError, name: &str) -> EngineError {
    let message = match &error {
        EngineError::Runtime(berth_oci::OciError::RuntimeFailed { message, .. }) => message.clone(),
        // The process cannot start as a user the image does not have:
        // Podman reports that with 126 as well.
        EngineError::NoSuchUser { .. } | EngineError::NoSuchGroup { .. } => {
            return EngineError::CommandNotExecutable {
                name: name.to_string(),
                message: error.to_string(),
            }
        }
        _ => return error,
    };
    let lower = message.to_ascii_lowercase();
    // The runtime's own fifo, missing when its container is not in the
    // created state, is not the container's command.
    if lower.contains("exec.fifo") {
        return error;
    }
    if lower.contains("executable file not found")
        || lower.contains("executable file `")
        || (lower.contains("exec") && lower.contains("no such file or directory"))
    {
        EngineError::CommandNotFound {
            name: name.to_string(),
            message,
        }
    } else if lower.contains("permission denied")
        || lower.contains("operation not permitted")
        || lower.contains("is a directory")
    {
        EngineError::CommandNotExecutable {
            name: name.to_string(),
            message,
        }
    } else {
        error
    }
}
