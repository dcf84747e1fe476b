//! Live reconfiguration: on SIGHUP, `POST /api/v1/config/reload`, or when the config file
//! changes (checked every `reload_watch_secs`), the file is loaded and checked like at
//! start. A file with errors is refused as a whole (the errors are logged and returned; the
//! running configuration stays). A valid one has its camera changes applied one camera at
//! a time: cameras added start, removed ones stop, changed ones (their `[[cameras]]` entry
//! or their rules) restart; the others are not touched. Other sections take effect at the
//! next start: the reload says which differ.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Mutex, mpsc, oneshot};
use vigia_analytics::CameraRules;
use vigia_core::CameraId;
use vigia_core::metric_names::reload_result;
use vigia_ingest::CameraConfig;
use vigia_rules::RuleConfig;
use vigia_telemetry::Metrics;

use super::cameras::Cameras;
use super::stages::active_rules;
use crate::config::Config;

/// What a reload did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Outcome {
    /// Whether the file was accepted (its camera changes applied).
    pub applied: bool,
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// Why the file was refused (`path: problem`), when it was.
    pub errors: Vec<String>,
    /// Sections that differ from the running ones and take effect at the next start.
    pub needs_restart: Vec<String>,
}

/// A reload request; the outcome goes to `reply` when there is one.
pub type Request = Option<oneshot::Sender<Outcome>>;

/// How the rest of the node asks for a reload.
#[derive(Clone)]
pub struct ReloadHandle(mpsc::Sender<Request>);

impl ReloadHandle {
    /// Reloads now; returns the outcome (`None`: the node is stopping).
    pub async fn reload(&self) -> Option<Outcome> {
        let (tx, rx) = oneshot::channel();
        self.0.send(Some(tx)).await.ok()?;
        rx.await.ok()
    }
}

/// The camera changes between two configurations.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub added: Vec<CameraConfig>,
    pub changed: Vec<CameraConfig>,
    pub removed: Vec<CameraId>,
    pub needs_restart: Vec<String>,
}

/// Compares `new` with the running configuration: cameras added, changed (entry or enabled
/// rules), removed, and the other sections that differ.
pub fn plan(running: &Config, new: &Config) -> Plan {
    let (old_rules, new_rules) = (active_rules(running), active_rules(new));
    let old: HashMap<&CameraId, &CameraConfig> =
        running.cameras.iter().map(|c| (&c.id, c)).collect();
    let mut p = Plan::default();
    for cam in &new.cameras {
        match old.get(&cam.id) {
            None => p.added.push(cam.clone()),
            Some(was) if *was != cam || old_rules.get(&cam.id) != new_rules.get(&cam.id) => {
                p.changed.push(cam.clone())
            }
            Some(_) => {}
        }
    }
    p.removed = running
        .cameras
        .iter()
        .filter(|c| !new.cameras.iter().any(|n| n.id == c.id))
        .map(|c| c.id.clone())
        .collect();
    let differs = |name: &str, same: bool| (!same).then(|| name.to_string());
    p.needs_restart = [
        differs("site", running.site == new.site),
        differs("node", running.node == new.node),
        differs("data_dir", running.data_dir == new.data_dir),
        differs("telemetry", running.telemetry == new.telemetry),
        differs("inference", running.inference == new.inference),
        differs("tracker", running.tracker == new.tracker),
        differs("lpr", running.lpr == new.lpr),
        differs("motion", running.motion == new.motion),
        differs("utc_offset", running.utc_offset == new.utc_offset),
        differs("snapshots", running.snapshots == new.snapshots),
        differs("outbox", running.outbox == new.outbox),
        differs("mqtt", running.mqtt == new.mqtt),
        differs("simulator", running.simulator == new.simulator),
        differs("alarms", running.alarms == new.alarms),
        differs("fleet", running.fleet == new.fleet),
        differs(
            "reload_watch_secs",
            running.reload_watch_secs == new.reload_watch_secs,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    p
}

/// Changes a running node cannot make without a restart (models it did not load).
fn refusals(new: &Config, plan: &Plan, plates_loaded: bool) -> Vec<String> {
    let starting = plan.added.iter().chain(&plan.changed).filter(|c| c.enabled);
    let mut errors = Vec::new();
    for cam in starting {
        let at = position(&new.cameras, &cam.id);
        if cam.lpr && !plates_loaded {
            errors.push(format!(
                "cameras[{at}].lpr: needs a restart: this node started with no LPR camera, so its plate reader is not loaded"
            ));
        }
        for (i, r) in new.rules.iter().enumerate() {
            if r.enabled && r.camera == cam.id && r.classifier.is_some() {
                errors.push(format!(
                    "rules[{i}].classifier: needs a restart: classifiers are loaded at start (rule {:?} on camera {})",
                    r.name, cam.id
                ));
            }
        }
    }
    errors
}

fn position(cameras: &[CameraConfig], id: &CameraId) -> usize {
    cameras.iter().position(|c| c.id == *id).unwrap_or(0)
}

/// The reload task's state.
pub struct Reloader {
    /// What runs: the start configuration with the camera and rule changes applied since.
    running: Config,
    path: PathBuf,
    /// The file's text at the last look (a change to it triggers a reload).
    seen: Option<String>,
    cameras: Arc<Mutex<Cameras>>,
    metrics: Arc<Metrics>,
    /// Whether the workers loaded the plate reader (a camera had `lpr = true` at start).
    plates_loaded: bool,
}

impl Reloader {
    pub fn new(running: Config, cameras: Arc<Mutex<Cameras>>, metrics: Arc<Metrics>) -> Self {
        let path = running.source.clone();
        let plates_loaded = running.cameras.iter().any(|c| c.enabled && c.lpr);
        metrics.config_last_reload_successful.set(1);
        for r in [reload_result::APPLIED, reload_result::REFUSED] {
            metrics.config_reloads.with_label_values(&[r]);
        }
        Self {
            seen: std::fs::read_to_string(&path).ok(),
            running,
            path,
            cameras,
            metrics,
            plates_loaded,
        }
    }

    /// A handle for reload requests, and the task that serves them (and watches the file
    /// every `watch`, when set) until every handle is gone and no watch is set.
    pub fn spawn(
        mut self,
        watch: Option<Duration>,
    ) -> (ReloadHandle, impl Future<Output = anyhow::Result<()>>) {
        let (tx, mut rx) = mpsc::channel::<Request>(4);
        let task = async move {
            let mut tick = tokio::time::interval(watch.unwrap_or(Duration::from_secs(3600)));
            tick.tick().await;
            let mut open = true;
            loop {
                let reply = tokio::select! {
                    r = rx.recv(), if open => match r {
                        Some(r) => r,
                        None => { open = false; continue; }
                    },
                    _ = tick.tick(), if watch.is_some() => {
                        if !self.file_changed() {
                            continue;
                        }
                        None
                    }
                    else => return Ok(()),
                };
                let outcome = self.reload().await;
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
                }
            }
        };
        (ReloadHandle(tx), task)
    }

    fn file_changed(&mut self) -> bool {
        let text = std::fs::read_to_string(&self.path).ok();
        if text == self.seen {
            return false;
        }
        tracing::info!(file = %self.path.display(), "the configuration file changed; reloading");
        true
    }

    /// Loads the file and applies its camera changes, or refuses it.
    pub async fn reload(&mut self) -> Outcome {
        self.seen = std::fs::read_to_string(&self.path).ok();
        let path = self.path.clone();
        let loaded = tokio::task::spawn_blocking(move || Config::load(&path)).await;
        let new = match loaded {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return self.refuse(e.errors.iter().map(|e| e.to_string()).collect()),
            Err(e) => return self.refuse(vec![format!("loading the file failed: {e}")]),
        };
        let plan = plan(&self.running, &new);
        let errors = refusals(&new, &plan, self.plates_loaded);
        if !errors.is_empty() {
            return self.refuse(errors);
        }
        self.apply(&new, &plan).await;
        self.running.cameras = new.cameras;
        self.running.rules = new.rules;
        self.metrics
            .config_reloads
            .with_label_values(&[reload_result::APPLIED])
            .inc();
        self.metrics.config_last_reload_successful.set(1);
        let ids = |cams: &[CameraConfig]| cams.iter().map(|c| c.id.to_string()).collect();
        let outcome = Outcome {
            applied: true,
            added: ids(&plan.added),
            changed: ids(&plan.changed),
            removed: plan.removed.iter().map(|c| c.to_string()).collect(),
            errors: Vec::new(),
            needs_restart: plan.needs_restart,
        };
        tracing::info!(added = ?outcome.added, changed = ?outcome.changed, removed = ?outcome.removed,
            "configuration reloaded");
        if !outcome.needs_restart.is_empty() {
            tracing::warn!(sections = ?outcome.needs_restart,
                "these settings changed in the file and take effect at the next restart");
        }
        outcome
    }

    fn refuse(&self, errors: Vec<String>) -> Outcome {
        tracing::error!(file = %self.path.display(), errors = %errors.join("; "),
            "configuration reload refused; the running configuration is kept");
        self.metrics
            .config_reloads
            .with_label_values(&[reload_result::REFUSED])
            .inc();
        self.metrics.config_last_reload_successful.set(0);
        Outcome {
            errors,
            ..Outcome::default()
        }
    }

    /// Stops removed and changed cameras, then starts changed and added ones.
    async fn apply(&self, new: &Config, plan: &Plan) {
        let rules = active_rules(new);
        let camera_rules = |id: &CameraId| {
            rules.get(id).map(|r: &Vec<RuleConfig>| {
                CameraRules::new(id.clone(), r.clone(), HashMap::new(), new.utc_offset)
            })
        };
        // Analytics keeps the frames of cameras with rules or alarm inputs.
        let frames = |id: &CameraId| {
            rules.contains_key(id) || new.alarms.inputs.iter().any(|i| i.cameras.contains(id))
        };
        let mut cams = self.cameras.lock().await;
        for id in &plan.removed {
            cams.stop(id, "removed from the configuration", None).await;
        }
        for cam in &plan.changed {
            let reason = "changed in the configuration; restarting";
            cams.stop(&cam.id, reason, camera_rules(&cam.id)).await;
            cams.start(cam, frames(&cam.id));
        }
        for cam in &plan.added {
            cams.set_rules(&cam.id, camera_rules(&cam.id)).await;
            cams.start(cam, frames(&cam.id));
        }
    }
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
