//! `vigia doctor`: checks what a node needs and reports in plain words — the config,
//! GStreamer and its decoders (hardware ones too), the ONNX Runtime library and its
//! execution providers, every model and its checksum, the broker (TLS and credentials
//! included), the outbox and snapshot directories and their free disk, and, with
//! `--cameras`, each camera. Exit status 1 when anything fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use vigia_infer::manifest::ModelManifest;

use crate::config::Config;

mod reach;

#[derive(clap::Args)]
pub struct Args {
    /// The node's configuration file (default: the tools' defaults).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Also check that every enabled camera answers (RTSP port open, ONVIF stream URI,
    /// file present).
    #[arg(long)]
    cameras: bool,
    /// Print JSON (one array of checks) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

/// One check and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
}

fn check(name: &str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        check: name.to_string(),
        status,
        detail: detail.into(),
    }
}

/// How long a broker or camera may take to answer.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

#[allow(clippy::print_stderr)]
pub fn run(a: &Args) -> ExitCode {
    super::quiet_logs();
    let checks = match super::block_on(doctor(a)) {
        Ok(c) => c,
        Err(e) => return super::fail(&e),
    };
    let mut out = std::io::stdout().lock();
    let written = if a.json {
        serde_json::to_writer_pretty(&mut out, &checks)
            .map_err(anyhow::Error::from)
            .and_then(|()| Ok(writeln!(out)?))
    } else {
        write_text(&mut out, &checks)
    };
    if let Err(e) = written {
        return super::fail(&e);
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    eprintln!(
        "{failed} failed, {warned} warning(s), {} checks",
        checks.len()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn write_text(out: &mut impl Write, checks: &[Check]) -> Result<()> {
    for c in checks {
        let tag = match c.status {
            Status::Ok => "ok",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        writeln!(out, "{tag:<5} {:<22} {}", c.check, c.detail)?;
    }
    Ok(())
}

/// Every check, in order.
pub async fn doctor(a: &Args) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    let cfg = match &a.config {
        Some(path) => match Config::load_lenient(path) {
            Ok((cfg, errors)) if errors.is_empty() => {
                checks.push(check(
                    "config",
                    Status::Ok,
                    format!(
                        "{}: {} camera(s), site {}, node {}",
                        path.display(),
                        cfg.cameras.len(),
                        cfg.site,
                        cfg.node
                    ),
                ));
                cfg
            }
            Ok((cfg, errors)) => {
                // The rest is checked with what the file does say.
                let e = crate::config::ConfigErrors {
                    file: path.clone(),
                    errors,
                };
                checks.push(check("config", Status::Fail, e.to_string()));
                cfg
            }
            Err(e) => {
                checks.push(check("config", Status::Fail, e.to_string()));
                Config::tool_defaults()
            }
        },
        None => {
            checks.push(check(
                "config",
                Status::Skip,
                "no --config: checking the built-in defaults",
            ));
            Config::tool_defaults()
        }
    };
    checks.push(gstreamer());
    checks.push(onnxruntime(&cfg));
    checks.extend(models(&cfg));
    checks.push(reach::broker(&cfg).await);
    checks.push(directory(
        "outbox",
        &cfg.outbox_dir(),
        cfg.outbox.max_bytes,
        cfg.outbox.min_free_bytes,
    ));
    if cfg.snapshots.enabled {
        checks.push(directory(
            "snapshots",
            &cfg.snapshot_dir(),
            cfg.snapshots.max_bytes,
            0,
        ));
    }
    checks.push(reach::etcd(&cfg).await);
    if a.cameras {
        for cam in cfg.cameras.iter().filter(|c| c.enabled) {
            checks.push(reach::camera(cam).await);
        }
    } else {
        checks.push(check(
            "cameras",
            Status::Skip,
            format!(
                "{} configured; add --cameras to reach them",
                cfg.cameras.len()
            ),
        ));
    }
    Ok(checks)
}

fn gstreamer() -> Check {
    if let Err(e) = vigia_ingest::init() {
        return check("gstreamer", Status::Fail, e.to_string());
    }
    let r = vigia_ingest::decoder::report();
    let mut detail = r.version.clone();
    let mut status = Status::Ok;
    for (codec, list) in &r.decoders {
        let here: Vec<&str> = list.iter().filter(|d| d.1).map(|d| d.0.as_str()).collect();
        let absent: Vec<&str> = list.iter().filter(|d| !d.1).map(|d| d.0.as_str()).collect();
        if here.is_empty() {
            status = Status::Fail;
        }
        detail.push_str(&format!(
            "; {codec}: {}",
            if here.is_empty() {
                "NO DECODER".to_string()
            } else {
                here.join(", ")
            }
        ));
        if !absent.is_empty() {
            detail.push_str(&format!(" (absent: {})", absent.join(", ")));
        }
    }
    for (element, hint) in &r.missing {
        status = Status::Fail;
        detail.push_str(&format!("; missing {element}: {hint}"));
    }
    check("gstreamer", status, detail)
}

fn onnxruntime(cfg: &Config) -> Check {
    let library = match vigia_infer::runtime::resolve_library(cfg.inference.ort_library.as_deref())
    {
        Ok(l) => l,
        Err(e) => return check("onnxruntime", Status::Fail, e.to_string()),
    };
    if let Err(e) = vigia_infer::runtime::environment(Some(&library)) {
        return check("onnxruntime", Status::Fail, e.to_string());
    }
    let info = vigia_infer::runtime::build_info().unwrap_or_default();
    let version = info
        .split([',', ' '])
        .find_map(|w| w.strip_prefix("git-branch=rel-"))
        .unwrap_or(vigia_infer::runtime::ORT_VERSION);
    let providers: Vec<String> = vigia_infer::runtime::providers()
        .into_iter()
        .map(|(p, ok)| {
            if ok {
                p.to_string()
            } else {
                format!("{p} (not in this library)")
            }
        })
        .collect();
    let wanted = cfg.inference.execution_provider.as_str();
    let usable = vigia_infer::runtime::providers()
        .iter()
        .any(|(p, ok)| *p == wanted && *ok);
    check(
        "onnxruntime",
        if usable { Status::Ok } else { Status::Fail },
        format!(
            "{version} at {}; execution providers: {}; configured: {wanted}",
            library.display(),
            providers.join(", ")
        ),
    )
}

/// Each model the config uses: its manifest, its file in the model directories, its
/// sha256. The plate models are checked when a camera reads plates.
fn models(cfg: &Config) -> Vec<Check> {
    let lpr = cfg.cameras.iter().any(|c| c.lpr);
    let mut list: Vec<(String, PathBuf, bool)> = vec![(
        "model detector".into(),
        cfg.inference.detector.manifest.clone(),
        true,
    )];
    list.push((
        "model plate detector".into(),
        cfg.lpr.plate_detector.clone(),
        lpr,
    ));
    list.push(("model plate OCR".into(), cfg.lpr.ocr.clone(), lpr));
    if let Some(p) = cfg.lpr.look_alike_ocr() {
        list.push(("model look-alike OCR".into(), p.to_path_buf(), lpr));
    }
    for r in &cfg.rules {
        if let Some(c) = &r.classifier {
            list.push((format!("model {}", r.name), c.manifest.clone(), true));
        }
    }
    list.into_iter()
        .map(|(name, manifest, needed)| {
            let missing = if needed { Status::Fail } else { Status::Warn };
            match model(&manifest, &cfg.inference.models_dirs) {
                Ok(detail) => check(&name, Status::Ok, detail),
                Err(e) if needed => check(&name, missing, e),
                Err(e) => check(&name, missing, format!("{e} (no camera reads plates yet)")),
            }
        })
        .collect()
}

fn model(manifest: &Path, dirs: &[PathBuf]) -> Result<String, String> {
    let m = ModelManifest::load(manifest).map_err(|e| e.to_string())?;
    let file = m.resolve_file(dirs).map_err(|e| e.to_string())?;
    m.verify(&file).map_err(|e| e.to_string())?;
    Ok(format!(
        "{} → {} (sha256 {}… ok)",
        manifest.display(),
        file.display(),
        &m.sha256[..12]
    ))
}

/// A state directory: writable (or creatable), and the free disk next to its budget.
fn directory(name: &str, dir: &Path, budget: u64, reserve: u64) -> Check {
    let existing = dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let probe = existing.join(format!(".vigia-doctor-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"x") {
        return check(
            name,
            Status::Fail,
            format!(
                "{}: cannot write in {}: {e}",
                dir.display(),
                existing.display()
            ),
        );
    }
    let _ = std::fs::remove_file(&probe);
    let free = match vigia_outbox::free_bytes(existing) {
        Ok(f) => f,
        Err(e) => return check(name, Status::Fail, format!("{}: {e}", dir.display())),
    };
    let mib = |b: u64| b / (1 << 20);
    let state = if dir.exists() {
        "writable"
    } else {
        "will be created"
    };
    let detail = format!(
        "{} {state}; {} MiB free (budget {} MiB{})",
        dir.display(),
        mib(free),
        mib(budget),
        if reserve > 0 {
            format!(", keeps {} MiB free", mib(reserve))
        } else {
            String::new()
        }
    );
    let status = if free <= reserve {
        Status::Fail
    } else if free < budget + reserve {
        Status::Warn
    } else {
        Status::Ok
    };
    let detail = match status {
        Status::Fail => format!("{detail}: no room for any event"),
        Status::Warn => format!("{detail}: the disk fills before the budget does"),
        _ => detail,
    };
    check(name, status, detail)
}
