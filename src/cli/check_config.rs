//! `vigia check-config FILE`: every problem of a config file, with its path.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file.
    file: PathBuf,
}

#[allow(clippy::print_stderr, clippy::print_stdout)]
pub fn run(a: &Args) -> ExitCode {
    match Config::load(&a.file) {
        Ok(cfg) => {
            println!(
                "{}: ok ({} camera{}, site {}, node {})",
                a.file.display(),
                cfg.cameras.len(),
                if cfg.cameras.len() == 1 { "" } else { "s" },
                cfg.site,
                cfg.node
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
