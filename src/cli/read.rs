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
    match read(&cfg, &a.images) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&e),
    }
}

/// JSON, one object per image.
#[allow(clippy::print_stdout)]
fn read(cfg: &Config, images: &[PathBuf]) -> Result<()> {
    let mut chain = Chain::load(&cfg.inference, &cfg.lpr)?;
    let out = images
        .iter()
        .map(|p| chain.read_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
