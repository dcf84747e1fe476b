//! Assembly of the node's models and analytics stages from the configuration.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use vigia_analytics::lpr::LprShared;
use vigia_analytics::{
    Analytics, CameraRules, Context, Gatekeeper, HotlistSet, Origin, SnapshotStore,
};
use vigia_core::event::LprModels;
use vigia_core::{CameraId, Clock};
use vigia_infer::classifier::Classifier;
use vigia_infer::detector::{Detector, DetectorOptions};
use vigia_infer::model::RunSettings;
use vigia_infer::runtime;
use vigia_plates::PlateReader;
use vigia_rules::RuleConfig;
use vigia_telemetry::Metrics;

use super::inference::WorkerModels;
use crate::config::Config;

/// A rule's classifier stage: camera, rule index within the camera's rules.
type RuleGate = (CameraId, usize, Gatekeeper);

/// The loaded models: one set per inference worker, and the rules' classifiers.
pub struct Models {
    pub workers: Vec<WorkerModels>,
    pub detector_name: String,
    gates: Vec<RuleGate>,
}

/// The enabled rules of each enabled camera, in configuration order.
pub fn active_rules(cfg: &Config) -> HashMap<CameraId, Vec<RuleConfig>> {
    let mut out: HashMap<CameraId, Vec<RuleConfig>> = HashMap::new();
    for r in cfg.rules.iter().filter(|r| r.enabled) {
        if cfg.cameras.iter().any(|c| c.enabled && c.id == r.camera) {
            out.entry(r.camera.clone()).or_default().push(r.clone());
        }
    }
    out
}

/// Loads every model (off the async threads): a detector per worker (sessions are not
/// shared), the plate reader per worker when a camera reads plates, the rules' classifiers.
pub async fn load_models(
    cfg: &Config,
    rules: &HashMap<CameraId, Vec<RuleConfig>>,
) -> Result<Models> {
    let inf = cfg.inference.clone();
    let lpr_cfg = cfg.lpr.clone();
    let any_lpr = cfg.cameras.iter().any(|c| c.enabled && c.lpr)
        || cfg.fleet.as_ref().is_some_and(|f| f.plate_reader);
    let gate_specs: Vec<_> = rules
        .iter()
        .flat_map(|(cam, rs)| {
            rs.iter()
                .enumerate()
                .filter_map(|(i, r)| r.classifier.clone().map(|g| (cam.clone(), i, g)))
        })
        .collect();
    let (workers, gates) = tokio::task::spawn_blocking(move || -> Result<_> {
        let env = runtime::environment(inf.ort_library.as_deref())?;
        let run = RunSettings {
            provider: inf.execution_provider,
            threads: inf.threads_per_worker,
            models_dirs: inf.models_dirs.clone(),
        };
        let gates = gate_specs
            .into_iter()
            .map(|(cam, i, g)| {
                let c = Classifier::load(&env, &g.manifest, &run, 8).with_context(|| {
                    format!(
                        "loading the classifier of a rule on camera {cam} ({})",
                        g.manifest.display()
                    )
                })?;
                Ok((cam, i, Gatekeeper::new(c, g.label, g.min_score)))
            })
            .collect::<Result<Vec<_>>>()?;
        let opts = DetectorOptions {
            detector: inf.detector.clone(),
            provider: inf.execution_provider,
            threads: inf.threads_per_worker,
            models_dirs: inf.models_dirs.clone(),
        };
        let workers = (0..inf.workers)
            .map(|_| {
                Ok(WorkerModels {
                    detector: Detector::load(&env, &opts)?,
                    plates: match any_lpr {
                        true => Some(PlateReader::load(&env, &lpr_cfg, &inf)?),
                        false => None,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((workers, gates))
    })
    .await??;
    let detector_name = workers
        .first()
        .map(|w| w.detector.name().to_string())
        .ok_or_else(|| anyhow!("no inference worker configured"))?;
    Ok(Models {
        workers,
        detector_name,
        gates,
    })
}

/// Deletes snapshots past their kind's retention (`[snapshots]`), at start and hourly.
pub async fn purge_snapshots(
    store: Arc<SnapshotStore>,
    retention: vigia_analytics::Retention,
    metrics: Arc<Metrics>,
) -> Result<()> {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        let s = store.clone();
        let now = std::time::SystemTime::now();
        let (plate, incident) = tokio::task::spawn_blocking(move || s.purge(retention, now))
            .await
            .unwrap_or_default();
        for (kind, n) in [("plate", plate), ("incident", incident)] {
            if n > 0 {
                tracing::info!(kind, files = n, "snapshots past their retention deleted");
                metrics
                    .snapshots_deleted
                    .with_label_values(&[kind, "retention"])
                    .inc_by(n);
            }
        }
    }
}

/// The analytics stage and what the rest of the node shares with it.
pub struct AnalyticsParts {
    pub analytics: Analytics,
    pub snapshots: Option<Arc<SnapshotStore>>,
    pub hotlists: Option<Arc<HotlistSet>>,
    /// Cameras whose frames analytics keeps (incident rules, alarm snapshots).
    pub rule_cameras: HashSet<CameraId>,
    /// Vehicles with a settled plate pass (written by analytics, read by the workers).
    pub settled: Arc<vigia_core::SettledVehicles>,
}

/// Builds the analytics stage: snapshots, each camera's rules with their classifiers, the
/// plate stage with its grammar and hotlists.
pub fn build_analytics(
    cfg: &Config,
    models: &mut Models,
    rules: HashMap<CameraId, Vec<RuleConfig>>,
    metrics: &Arc<Metrics>,
    clock: &Arc<dyn Clock>,
) -> Result<AnalyticsParts> {
    let reader = models.workers.first().and_then(|w| w.plates.as_ref());
    let settled = Arc::new(vigia_core::SettledVehicles::new());
    let alarms = !cfg.alarms.inputs.is_empty();
    let snapshots = if cfg.snapshots.enabled && (reader.is_some() || !rules.is_empty() || alarms) {
        let dir = cfg.snapshot_dir();
        let base = cfg
            .snapshots
            .resolved_base_url(cfg.telemetry.http_listen, &cfg.node);
        let store = SnapshotStore::open(&dir, cfg.snapshots.max_bytes, base)
            .with_context(|| format!("opening the snapshot directory {}", dir.display()))?;
        Some(Arc::new(store))
    } else {
        None
    };
    let mut gates: HashMap<CameraId, HashMap<usize, Gatekeeper>> = HashMap::new();
    for (cam, i, g) in std::mem::take(&mut models.gates) {
        gates.entry(cam).or_default().insert(i, g);
    }
    // Cameras whose frames analytics keeps: for rules, and for alarm snapshots.
    let mut rule_cameras: HashSet<CameraId> = rules.keys().cloned().collect();
    rule_cameras.extend(cfg.alarms.inputs.iter().flat_map(|i| i.cameras.clone()));
    let camera_rules = rules
        .into_iter()
        .map(|(cam, rs)| {
            let g = gates.remove(&cam).unwrap_or_default();
            let set = CameraRules::new(cam.clone(), rs, g, cfg.utc_offset);
            (cam, set)
        })
        .collect();
    let (lpr, hotlists) = match reader {
        Some(reader) => {
            let hotlists = Arc::new(HotlistSet::load(
                &cfg.lpr.hotlists,
                cfg.lpr.hotlist_max_drop,
            ));
            metrics.hotlist_entries.set(hotlists.len() as i64);
            let (plate_detector, ocr) = reader.model_names();
            let shared = LprShared {
                grammar: reader.grammar(),
                pass: cfg.lpr.pass.clone(),
                hotlist: hotlists.shared(),
                hotlist_max_distance: cfg.lpr.hotlist_max_distance,
                models: LprModels {
                    vehicle_detector: models.detector_name.clone(),
                    plate_detector,
                    ocr,
                },
                settled: settled.clone(),
            };
            (Some(shared), Some(hotlists))
        }
        None => (None, None),
    };
    let ctx = Context {
        origin: Origin {
            site: cfg.site.clone(),
            node: cfg.node.clone(),
            detector: models.detector_name.clone(),
        },
        clock: clock.clone(),
        metrics: metrics.clone(),
        snapshots: snapshots.clone(),
        jpeg_quality: cfg.snapshots.jpeg_quality,
    };
    Ok(AnalyticsParts {
        analytics: Analytics::new(ctx, cfg.tracker.clone(), lpr, camera_rules),
        snapshots,
        hotlists,
        rule_cameras,
        settled,
    })
}

/// Reloads changed hotlist files every `every` (the first check one period after start).
pub async fn reload_hotlists(
    hotlists: Arc<HotlistSet>,
    every: Duration,
    metrics: Arc<Metrics>,
) -> Result<()> {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let h = hotlists.clone();
        if let Ok(true) = tokio::task::spawn_blocking(move || h.reload_if_changed()).await {
            metrics.hotlist_entries.set(hotlists.len() as i64);
        }
    }
}
