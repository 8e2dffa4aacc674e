//! `pull`, `push`, `login`, `logout`.
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal};
use std::sync::Mutex;

use berth_engine::{
    Credentials, Engine, NoProgress, PlatformChoice, PullOptions, RegistryOptions, TransferProgress,
};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::{CliError, CliResult};
use crate::cli::{CreateArgs, LoginArgs, LogoutArgs, PullArgs, PushArgs, RegistryArgs};

pub fn pull(engine: &Engine, args: &PullArgs) -> CliResult {
    let mut platform = match &args.platform {
        Some(text) => PlatformChoice::parse(text).map_err(berth_engine::EngineError::from)?,
        None => PlatformChoice::host(),
    };
    if let Some(os) = &args.os {
        platform.os = os.clone();
    }
    if let Some(arch) = &args.arch {
        platform.architecture = arch.clone();
    }
    if let Some(variant) = &args.variant {
        platform.variant = Some(variant.clone());
    }
    let options = PullOptions {
        registry: registry_options(&args.registry, args.creds.as_deref())?,
        platform,
        ..PullOptions::default()
    };
    let id = with_progress(args.quiet, "Copying blob", |progress| {
        engine.pull(&args.image, &options, progress)
    })?;
    println!("{id}");
    Ok(0)
}

pub fn push(engine: &Engine, args: &PushArgs) -> CliResult {
    let options = registry_options(&args.registry, args.creds.as_deref())?;
    let digest = with_progress(args.quiet, "Copying blob", |progress| {
        engine.push(&args.image, args.destination.as_deref(), &options, progress)
    })?;
    if let Some(path) = &args.digestfile {
        std::fs::write(path, &digest)?;
    }
    Ok(0)
}

pub fn login(args: &LoginArgs) -> CliResult {
    let username = args
        .username
        .clone()
        .ok_or_else(|| CliError::Usage("give the user name with --username".into()))?;
    let password = match (&args.password, args.password_stdin) {
        (Some(_), true) => {
            return Err(CliError::Usage(
                "--password and --password-stdin cannot be used together".into(),
            ))
        }
        (Some(password), false) => password.clone(),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => {
            return Err(CliError::Usage(
                "give the password with --password-stdin or --password".into(),
            ))
        }
    };
    let credentials = Credentials { username, password };
    let server = registry_host(&args.server);
    let options = registry_options(&args.registry, None)?;
    berth_engine::login(server, &credentials, &options)?;
    println!("Login Succeeded!");
    Ok(0)
}

pub fn logout(args: &LogoutArgs) -> CliResult {
    let server = registry_host(&args.server);
    berth_engine::logout(server, args.authfile.as_deref())?;
    println!("Removed login credentials for {server}");
    Ok(0)
}

/// `https://host:5000/v2/` → `host:5000`, as `login` accepts URLs too.
fn registry_host(server: &str) -> &str {
    let server = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    server.split('/').next().unwrap_or(server)
}

/// Pulls the image of `create`/`run` as `--pull` says: when it is missing
/// from the store (the default), always, or never.
pub(super) fn pull_for_create(engine: &Engine, args: &CreateArgs) -> Result<(), CliError> {
    let pull = match args.pull.as_str() {
        "always" => true,
        "missing" | "newer" => match engine.inspect_image(&args.image) {
            Ok(_) => false,
            Err(berth_engine::EngineError::Storage(berth_engine::StorageError::NoSuchImage {
                ..
            })) => true,
            Err(error) => return Err(error.into()),
        },
        "never" => false,
        other => {
            return Err(CliError::Usage(format!(
                "invalid --pull {other:?}: use missing, always, never or newer"
            )))
        }
    };
    if !pull {
        return Ok(());
    }
    let options = PullOptions {
        registry: registry_options(&args.registry, args.creds.as_deref())?,
        ..PullOptions::default()
    };
    let pulled = with_progress(false, "Copying blob", |progress| {
        engine.pull(&args.image, &options, progress)
    });
    match pulled {
        Ok(_) => Ok(()),
        // Say first that the image is missing here; the pull's own error
        // says why the registries could not provide it.
        Err(CliError::Engine(error)) if args.pull != "always" => Err(CliError::Usage(format!(
            "image not found: {}: it is not in the store, and pulling it failed: {error}",
            args.image
        ))),
        Err(error) => Err(error),
    }
}

fn registry_options(args: &RegistryArgs, creds: Option<&str>) -> Result<RegistryOptions, CliError> {
    let credentials = creds
        .map(Credentials::parse)
        .transpose()
        .map_err(berth_engine::EngineError::from)?;
    Ok(RegistryOptions {
        tls_verify: args.tls_verify,
        cert_dir: args.cert_dir.clone(),
        credentials,
        auth_file: args.authfile.clone(),
    })
}

/// Runs `action` with a progress bar per blob on a terminal, and with no
/// output otherwise or when `quiet`.
fn with_progress<T>(
    quiet: bool,
    label: &'static str,
    action: impl FnOnce(&dyn TransferProgress) -> berth_engine::Result<T>,
) -> Result<T, CliError> {
    if quiet || !std::io::stderr().is_terminal() {
        return Ok(action(&NoProgress)?);
    }
    let bars = BlobBars {
        label,
        multi: MultiProgress::new(),
        bars: Mutex::new(HashMap::new()),
    };
    let result = action(&bars);
    for bar in bars.bars.lock().expect("not poisoned").values() {
        bar.abandon();
    }
    Ok(result?)
}

/// One indicatif bar per blob.
struct BlobBars {
    label: &'static str,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl BlobBars {
    fn bar(&self, digest: &str, size: u64) -> ProgressBar {
        let mut bars = self.bars.lock().expect("not poisoned");
        bars.entry(digest.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new(size));
                let short = digest.trim_start_matches("sha256:");
                let template = format!(
                    "{} {} {{bar:30}} {{bytes}}/{{total_bytes}} {{msg}}",
                    self.label,
                    &short[..short.len().min(12)]
                );
                bar.set_style(
                    ProgressStyle::with_template(&template)
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar
            })
            .clone()
    }
}

impl TransferProgress for BlobBars {
    fn blob_started(&self, digest: &str, size: u64) {
        self.bar(digest, size);
    }

    fn blob_progress(&self, digest: &str, bytes: u64) {
        self.bar(digest, 0).set_position(bytes);
    }

    fn blob_finished(&self, digest: &str, skipped: bool) {
        let bar = self.bar(digest, 0);
        if skipped {
            bar.finish_with_message("skipped: already exists");
        } else {
            bar.finish_with_message("done");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_host_strips_scheme_and_path() {
        assert_eq!(registry_host("https://reg:5000/v2/"), "reg:5000");
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
