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
    /// Score synthetic Colombian plates instead: the vehicles of `--dataset` wear
    /// rendered plates of these kinds (comma-separated: car, public, motorcycle,
    /// motorcycle_old, trailer, diplomatic).
    #[arg(long, value_delimiter = ',')]
    synthetic: Vec<String>,
    /// Synthetic plates to render.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Seed of the synthetic plates (same seed, same plates).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the rendered synthetic dataset in this folder.
    #[arg(long)]
    keep: Option<PathBuf>,
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
    let tmp;
    let dataset = if a.synthetic.is_empty() {
        a.dataset.clone()
    } else {
        let dir = match &a.keep {
            Some(d) => d.clone(),
            None => match tempfile::tempdir() {
                Ok(t) => {
                    tmp = t;
                    tmp.path().to_path_buf()
                }
                Err(e) => return super::fail(&e.into()),
            },
        };
        if let Err(e) = synthetic(a, &dir) {
            return super::fail(&e);
        }
        dir
    };
    let report =
        Chain::load(&cfg.inference, &cfg.lpr).and_then(|mut chain| evaluate(&mut chain, &dataset));
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

/// Renders the synthetic dataset of `--synthetic` into `dir`.
fn synthetic(a: &Args, dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use vigia_sim::passes::{Subject, synthetic_subjects, write_labelled};
    use vigia_sim::plates::{PlateFont, PlateKind};
    let kinds = a
        .synthetic
        .iter()
        .map(|k| {
            PlateKind::ALL
                .into_iter()
                .find(|p| p.name() == k.trim())
                .with_context(|| {
                    format!(
                        "--synthetic: unknown plate kind {k:?} (known: {})",
                        PlateKind::ALL.map(PlateKind::name).join(", ")
                    )
                })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let hosts = Subject::labelled_folder(&a.dataset)
        .with_context(|| format!("host vehicles from {}", a.dataset.display()))?;
    anyhow::ensure!(
        !hosts.is_empty(),
        "{}: no labelled photos",
        a.dataset.display()
    );
    let font = PlateFont::load(None)?;
    let subjects = synthetic_subjects(&hosts, &kinds, a.count, &font, a.seed);
    write_labelled(&subjects, dir)?;
    Ok(())
}
