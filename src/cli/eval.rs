//! `vigia eval --dataset DIR`: the plate chain scored on a labelled folder.

use std::path::PathBuf;
use std::process::ExitCode;

use vigia_plates::{Chain, evaluate};

#[derive(clap::Args)]
pub struct Args {
    /// Folder of images with `IMAGE.txt` labels (`file x y w h PLATE`).
    #[arg(long)]
    dataset: PathBuf,
    /// Configuration file (models, grammars); default: built-in defaults.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[allow(clippy::print_stdout)]
pub fn run(a: &Args) -> ExitCode {
    let cfg = match super::load_config(a.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    super::quiet_logs();
    let report = Chain::load(&cfg.inference, &cfg.lpr)
        .and_then(|mut chain| evaluate(&mut chain, &a.dataset));
    match report {
        Ok(r) if a.json => {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(r) => {
            print!("{}", r.table());
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(&e.into()),
    }
}
