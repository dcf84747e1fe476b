//! `vigia fleet`: the fleet's camera list in etcd. `apply FILE` checks the `[[cameras]]`
//! and `[[rules]]` of a config file and makes them the fleet's camera list (entries added,
//! changed, removed; nodes pick the changes up within `poll_ms`); `status` shows the live
//! nodes and which node holds each camera.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use vigia_fleet::FleetStore;

use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Make FILE's cameras (and their rules) the fleet's camera list.
    Apply(Target),
    /// Live nodes and which node holds each camera.
    Status(Target),
}

#[derive(clap::Args)]
struct Target {
    /// A config file: its `[[cameras]]` and `[[rules]]` (apply), its `[fleet]` (where).
    file: PathBuf,
    /// etcd client URLs (default: the file's `[fleet] etcd`). Repeatable.
    #[arg(long = "etcd")]
    etcd: Vec<String>,
    /// Key prefix (default: the file's `[fleet]` prefix, `/vigia/<site>`).
    #[arg(long)]
    prefix: Option<String>,
}

pub fn run(a: &Args) -> ExitCode {
    super::quiet_logs();
    match &a.command {
        Command::Apply(t) => super::finish(
            super::block_on(apply(t)),
            |(w, d, n)| format!("fleet: {n} camera(s); {w} written, {d} removed"),
            |_| true,
            1,
        ),
        Command::Status(t) => {
            super::finish(super::block_on(status(t)), |_| String::new(), |_| true, 1)
        }
    }
}

/// The file's config (as far as it parses) and the etcd endpoints and prefix to use.
fn target(t: &Target) -> Result<(Config, Vec<String>, String, Vec<String>)> {
    let (cfg, errors) = Config::load_lenient(&t.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let fleet = cfg.fleet.clone();
    let etcd = if t.etcd.is_empty() {
        fleet.as_ref().map(|f| f.etcd.clone()).unwrap_or_default()
    } else {
        t.etcd.clone()
    };
    if etcd.is_empty() {
        bail!(
            "no etcd: give --etcd URL or a [fleet] section in {}",
            t.file.display()
        );
    }
    let prefix = t.prefix.clone().unwrap_or_else(|| match &fleet {
        Some(f) => f.prefix_for(&cfg.site),
        None => format!("/vigia/{}", cfg.site),
    });
    // Only the cameras and their rules matter here.
    let relevant = errors
        .iter()
        .filter(|e| e.field.starts_with("cameras") || e.field.starts_with("rules"))
        .map(|e| e.to_string())
        .collect();
    Ok((cfg, etcd, prefix, relevant))
}

async fn apply(t: &Target) -> Result<(usize, usize, usize)> {
    let (cfg, etcd, prefix, errors) = target(t)?;
    if !errors.is_empty() {
        bail!(
            "{}: {} problem(s)\n  {}",
            t.file.display(),
            errors.len(),
            errors.join("\n  ")
        );
    }
    let text = std::fs::read_to_string(&t.file)?;
    let table: toml::Table = text.parse()?;
    let raw_cameras = table
        .get("cameras")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let raw_rules = table
        .get("rules")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let mut entries = Vec::new();
    for (cam, raw) in cfg.cameras.iter().zip(raw_cameras) {
        let mut raw = raw
            .as_table()
            .cloned()
            .context("a [[cameras]] entry is not a table")?;
        // Paths resolved against the file's directory: nodes read them as they are.
        raw.insert("url".into(), toml::Value::String(cam.url.clone()));
        if let Some(p) = &cam.password_file {
            raw.insert(
                "password_file".into(),
                toml::Value::String(p.display().to_string()),
            );
        }
        let mut rules = Vec::new();
        for (r, raw_rule) in cfg.rules.iter().zip(&raw_rules) {
            if r.camera != cam.id {
                continue;
            }
            if r.classifier.is_some() {
                bail!(
                    "rule {:?}: classifier rules cannot run on fleet cameras yet (models load at start)",
                    r.name
                );
            }
            rules.push(serde_json::to_value(raw_rule)?);
        }
        let json = serde_json::json!({ "camera": serde_json::to_value(toml::Value::Table(raw))?, "rules": rules });
        entries.push((cam.id.to_string(), json.to_string()));
    }
    let mut store = FleetStore::connect(&etcd, &prefix, "vigia-fleet-apply", 5).await?;
    let (written, removed) = store.put_cameras(&entries).await?;
    Ok((written, removed, entries.len()))
}

async fn status(t: &Target) -> Result<()> {
    let (_, etcd, prefix, _) = target(t)?;
    let mut store = FleetStore::connect(&etcd, &prefix, "vigia-fleet-status", 5).await?;
    let s = store.snapshot().await?;
    let json = serde_json::json!({
        "prefix": prefix,
        "nodes": s.nodes,
        "cameras": s.cameras.keys().map(|c| serde_json::json!({
            "camera": c,
            "node": s.owners.get(c),
            "assigned": vigia_fleet::owner(c, &s.nodes),
        })).collect::<Vec<_>>(),
    });
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &json)?;
    writeln!(out)?;
    Ok(())
}
