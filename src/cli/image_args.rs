//! Flags of the registry and archive commands.
use std::path::PathBuf;

use clap::{ArgAction, Args};

/// How to reach a registry; shared by pull, push and login.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Require HTTPS and verify the registry's certificate; false also
    /// allows plain HTTP.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub tls_verify: bool,

    /// Directory of *.crt CA certificates and a *.cert/*.key client
    /// certificate (default: /etc/containers/certs.d/REGISTRY).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Credentials file (default: $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// USERNAME:PASSWORD for the registry, instead of stored credentials.
    #[arg(long, value_name = "USERNAME:PASSWORD")]
    pub creds: Option<String>,

    /// Platform to pick from a manifest list: OS/ARCH[/VARIANT].
    #[arg(long, conflicts_with_all = ["os", "arch", "variant"])]
    pub platform: Option<String>,

    /// Operating system to pick from a manifest list (default: linux).
    #[arg(long)]
    pub os: Option<String>,

    /// Architecture to pick from a manifest list (default: the host's).
    #[arg(long)]
    pub arch: Option<String>,

    /// Architecture variant to pick from a manifest list, e.g. v8.
    #[arg(long)]
    pub variant: Option<String>,

    /// Show no progress bars.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// NAME[:TAG] or NAME@sha256:DIGEST.
    pub image: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// USERNAME:PASSWORD for the registry, instead of stored credentials.
    #[arg(long, value_name = "USERNAME:PASSWORD")]
    pub creds: Option<String>,

    /// Show no progress bars.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Write the pushed manifest's digest to this file.
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,

    /// The local image.
    pub image: String,

    /// REGISTRY/NAME[:TAG] to push to (default: the image's name).
    pub destination: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// User name.
    #[arg(short = 'u', long)]
    pub username: Option<String>,

    /// Password; prefer --password-stdin, which keeps it out of the process list.
    #[arg(short = 'p', long)]
    pub password: Option<String>,

    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,

    /// The registry: HOST[:PORT].
    pub server: String,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Credentials file (default: $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// The registry: HOST[:PORT].
    pub server: String,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write the archive to this file (default: standard output, unless
    /// it is a terminal).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Archive format: oci-archive or docker-archive.
    #[arg(long, default_value = "docker-archive")]
    pub format: String,

    /// Show no progress (save prints none yet; accepted as Podman does).
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Images to save, by name or id.
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read the archive from this file (default: standard input).
    #[arg(short = 'i', long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Show no progress (load prints none yet; accepted as Podman does).
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV,
    /// LABEL, EXPOSE, USER, WORKDIR, STOPSIGNAL or VOLUME.
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,

    /// The history comment of the new layer.
    #[arg(short = 'm', long)]
    pub message: Option<String>,

    /// The author of the new image.
    #[arg(short = 'a', long)]
    pub author: Option<String>,

    /// Print nothing but the image id (commit prints no progress either way).
    #[arg(short = 'q', long)]
    pub quiet: bool,

    pub container: String,

    /// Name of the new image (default: unnamed).
    pub image: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write the tarball to this file (default: standard output, unless it
    /// is a terminal).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    pub container: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Do not truncate ids and commands.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,

    /// Print only the ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    pub image: String,
}
