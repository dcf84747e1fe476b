//! The running cameras: one supervised ingest task each, with its route through the
//! inference workers and its view in the API. Cameras start with the node, and are added,
//! restarted or removed one at a time by a configuration reload ([`super::reload`]) without
//! touching the others.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use vigia_analytics::{CameraRules, Input};
use vigia_core::{CameraId, FrameHub, Shutdown};
use vigia_infer::motion::MotionConfig;
use vigia_ingest::{CameraConfig, CameraStop, IngestContext, run_camera};

use vigia_telemetry::Metrics;

use super::inference::{Route, Routing};
use super::reload::{ReloadHandle, Reloader};
use super::stop::Stop;
use super::tasks::{Supervisor, Task};
use super::views::CameraViews;
use crate::config::Config;

/// What the running cameras feed; dropped when the cameras stop for good, so the status
/// forwarder and analytics see their inputs close.
struct Links {
    ctx: IngestContext,
    analytics: mpsc::Sender<Input>,
}

/// Every running camera.
pub struct Cameras {
    sup: Supervisor,
    hub: Arc<FrameHub>,
    views: Arc<CameraViews>,
    routing: Arc<Routing>,
    motion: MotionConfig,
    /// Parent of every camera's stop token (the node's stop order cancels it).
    stop: Shutdown,
    links: Option<Links>,
    running: HashMap<CameraId, (CameraStop, Task)>,
}

/// Starts the configured cameras and the task that reloads them (see [`super::reload`]);
/// returns how many run, the reload handle, and the stop step (the reload task, then every
/// camera).
pub(super) fn launch(
    mut cameras: Cameras,
    cfg: &Config,
    rule_cameras: &HashSet<CameraId>,
    metrics: &Arc<Metrics>,
) -> (usize, ReloadHandle, Stop) {
    cameras.start_all(&cfg.cameras, rule_cameras);
    let running = cameras.running();
    let sup = cameras.sup.clone();
    let cameras = Arc::new(tokio::sync::Mutex::new(cameras));
    let watch = (cfg.reload_watch_secs > 0).then(|| Duration::from_secs(cfg.reload_watch_secs));
    let (reload, task) = Reloader::new(cfg.clone(), cameras.clone(), metrics.clone()).spawn(watch);
    let task = sup.spawn("config reload", task);
    // A fleet node also takes cameras from etcd (docs/deploy.md).
    let fleet_stop = Shutdown::new();
    let fleet = cfg.fleet.clone().map(|f| {
        let node = super::fleet::FleetNode::new(f, cfg, cameras.clone(), metrics.clone());
        sup.spawn("fleet", node.run(fleet_stop.clone()))
    });
    let stop = Stop::Async(Box::pin(async move {
        task.abort().await;
        if let Some(fleet) = fleet {
            fleet_stop.cancel();
            fleet.join().await;
        }
        cameras.lock().await.stop_all().await;
    }));
    (running, reload, stop)
}

/// What [`Cameras::new`] needs.
pub struct CameraParts {
    pub sup: Supervisor,
    pub hub: Arc<FrameHub>,
    pub views: Arc<CameraViews>,
    pub routing: Arc<Routing>,
    pub motion: MotionConfig,
    pub stop: Shutdown,
    pub ctx: IngestContext,
    pub analytics: mpsc::Sender<Input>,
}

impl Cameras {
    pub fn new(p: CameraParts) -> Self {
        Self {
            sup: p.sup,
            hub: p.hub,
            views: p.views,
            routing: p.routing,
            motion: p.motion,
            stop: p.stop,
            links: Some(Links {
                ctx: p.ctx,
                analytics: p.analytics,
            }),
            running: HashMap::new(),
        }
    }

    /// The cameras as the API sees them.
    pub fn views(&self) -> Arc<CameraViews> {
        self.views.clone()
    }

    /// How many cameras run.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Starts every enabled camera of `cameras` (at the node's start).
    pub fn start_all(&mut self, cameras: &[CameraConfig], rule_cameras: &HashSet<CameraId>) {
        for cam in cameras {
            self.start(cam, rule_cameras.contains(&cam.id));
        }
    }

    /// Shows `cam` in the API and, when enabled, routes its frames and starts its ingest.
    pub fn start(&mut self, cam: &CameraConfig, has_rules: bool) {
        let Some(links) = &self.links else {
            return; // the node is stopping
        };
        self.views.add(cam);
        if !cam.enabled {
            return;
        }
        let Some(counters) = self.views.counters(&cam.id) else {
            return;
        };
        let stats = counters.ingest.clone();
        let mut route = Route::new(cam.lpr, has_rules, &self.motion, counters);
        route.read_zone = cam.read_zone;
        route.detector_width = cam.detector_width;
        self.routing.set(&cam.id, Some(route));
        let stop = CameraStop::new(self.stop.child_token());
        let run = run_camera(cam.clone(), links.ctx.clone(), stats, stop.clone());
        let task = self.sup.spawn(format!("camera {}", cam.id), async move {
            run.await;
            Ok(())
        });
        self.running.insert(cam.id.clone(), (stop, task));
    }

    /// Stops a camera (its last status says `reason`), drops its queued frame and route,
    /// and tells analytics to end what the camera had open; `rules`: the camera's rules
    /// from now on (a restart), or `None`.
    pub async fn stop(&mut self, camera: &CameraId, reason: &str, rules: Option<CameraRules>) {
        self.halt(std::slice::from_ref(camera), reason).await;
        self.forget(camera, rules).await;
    }

    /// Stops several cameras at once: tells every one to stop before waiting for any
    /// (a node whose fleet lease may run out must be quick about it).
    pub async fn stop_many(&mut self, cameras: &[CameraId], reason: &str) {
        self.halt(cameras, reason).await;
        for camera in cameras {
            self.forget(camera, None).await;
        }
    }

    /// Tells the cameras' pipelines to stop, then waits for all of them.
    async fn halt(&mut self, cameras: &[CameraId], reason: &str) {
        let mut tasks = Vec::new();
        for camera in cameras {
            if let Some((stop, task)) = self.running.remove(camera) {
                stop.stop(reason);
                tasks.push(task);
            }
        }
        for task in tasks {
            task.join().await;
        }
    }

    /// Drops a stopped camera's queued frame, route and view, and gives analytics its
    /// rules from now on.
    async fn forget(&mut self, camera: &CameraId, rules: Option<CameraRules>) {
        self.routing.set(camera, None);
        self.hub.discard(camera);
        self.views.remove(camera);
        self.set_rules(camera, rules).await;
    }

    /// Tells analytics the camera was reconfigured: it ends what the camera had open and
    /// keeps `rules` for the camera's next frames.
    pub async fn set_rules(&self, camera: &CameraId, rules: Option<CameraRules>) {
        if let Some(links) = &self.links {
            let input = Input::Reconfigured {
                camera: camera.clone(),
                rules: rules.map(Box::new),
            };
            let _ = links.analytics.send(input).await;
        }
    }

    /// Stops every camera (the node is stopping) and lets go of the status and analytics
    /// channels.
    pub async fn stop_all(&mut self) {
        self.stop.cancel();
        for (_, (_, task)) in self.running.drain() {
            task.join().await;
        }
        self.links = None;
    }
}
