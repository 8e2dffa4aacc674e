//! `save` and `load`.
use std::io::{IsTerminal, Write};
use std::path::Path;

use berth_engine::{ArchiveFormat, Engine, EngineError};

use super::{CliError, CliResult};
use crate::cli::{LoadArgs, SaveArgs};

pub fn save(engine: &Engine, args: &SaveArgs) -> CliResult {
    let format: ArchiveFormat = args.format.parse().map_err(EngineError::from)?;
    match &args.output {
        Some(path) => {
            // A temporary file beside the output, renamed when complete, so
            // a failed save leaves no partial archive under the name.
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut temp = tempfile::Builder::new()
                .prefix(".berth-save-")
                .tempfile_in(dir)?;
            {
                let mut writer = std::io::BufWriter::new(temp.as_file_mut());
                engine.save(&args.images, format, &mut writer)?;
                writer.flush()?;
            }
            temp.persist(path).map_err(|e| CliError::Io(e.error))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                return Err(CliError::Usage(
                    "refusing to write an archive to a terminal: use -o FILE or redirect the output"
                        .into(),
                ));
            }
            let stdout = std::io::stdout();
            let mut writer = std::io::BufWriter::new(stdout.lock());
            engine.save(&args.images, format, &mut writer)?;
            writer.flush()?;
        }
    }
    Ok(0)
}

pub fn load(engine: &Engine, args: &LoadArgs) -> CliResult {
    let loaded = match &args.input {
        Some(path) => engine.load(path)?,
        None => {
            if std::io::stdin().is_terminal() {
                return Err(CliError::Usage(
                    "give the archive with -i FILE or on standard input".into(),
                ));
            }
            // The archive is read more than once, so standard input is
            // copied to a temporary file first.
            let mut temp = tempfile::NamedTempFile::new()?;
            std::io::copy(&mut std::io::stdin().lock(), temp.as_file_mut())?;
            engine.load(temp.path())?
        }
    };
    for image in loaded {
        if image.names.is_empty() {
            println!("Loaded image: sha256:{}", image.id);
        }
        for name in image.names {
            println!("Loaded image: {name}");
        }
    }
    Ok(0)
}
