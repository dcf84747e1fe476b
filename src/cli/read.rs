//! `vigia read IMAGE...`: the plates (and vehicles) in pictures, as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use vigia_plates::Chain;

use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file (models, grammars); default: built-in defaults.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Read each whole image as one plate (a crop around the plate): no vehicle or
    /// plate detection. Without it, an image where nothing is detected but that is shaped
    /// like a plate is read this way too.
    #[arg(long)]
    crop: bool,
    /// Image files (JPEG, PNG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

pub fn run(a: &Args) -> ExitCode {
    let cfg = match super::load_config(a.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    super::quiet_logs();
    match read(&cfg, &a.images, a.crop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&e),
    }
}

/// JSON, one object per image.
#[allow(clippy::print_stdout)]
fn read(cfg: &Config, images: &[PathBuf], crop: bool) -> Result<()> {
    let mut chain = Chain::load(&cfg.inference, &cfg.lpr)?;
    let out = images
        .iter()
        .map(|p| chain.read_file(p, crop))
        .collect::<Result<Vec<_>, _>>()?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
