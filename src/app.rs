//! Wiring: builds every stage from a [`Config`] and runs them until stopped.
//!
//! ```text
//! cameras (GStreamer, one supervisor task each)
//!   → FrameHub (one frame per camera, newest wins)
//!   → inference worker threads (one Detector each)
//!   → analytics thread (trackers → events) → outbox (durable)
//!   → publisher task (MQTT QoS 1, acks on PUBACK)
//! ```
//! Stop order: cameras, then inference and analytics (everything already decoded becomes
//! events), then the publisher drains the outbox (bounded by `mqtt.drain_timeout_secs`),
//! then the HTTP server.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vigia_core::event::{LprModels, format_utc};
use vigia_core::{CameraId, Clock, FrameHub, Shutdown, SystemClock};
use vigia_infer::RgbView;
use vigia_infer::classifier::Classifier;
use vigia_infer::detector::{Detector, DetectorOptions};
use vigia_infer::model::RunSettings;
use vigia_infer::motion::{Decision, MotionConfig, MotionGate};
use vigia_infer::runtime;
use vigia_ingest::pipeline::CameraStats;
use vigia_ingest::source::redact_url;
use vigia_ingest::{CameraStatus, IngestContext, run_camera};
use vigia_outbox::Outbox;
use vigia_publish::{AckedMessage, BrokerLink, Ephemeral, Publisher, PublisherSettings, Topics};
use vigia_rules::RuleConfig;
use vigia_rules::config::ClassifierGate;
use vigia_telemetry::Metrics;
use vigia_testkit::rtsp::{RtspCameraServer, SimStream};

use crate::analytics::{self, EventWriter, Input, Origin};
use crate::config::Config;
use crate::hotlists::HotlistSet;
use crate::http::{self, CameraView, HttpState};
use crate::incidents::{CameraRules, Gatekeeper, IncidentShared};
use crate::lpr_events::{LprShared, PlateSighting};
use crate::plates::PlateReader;
use crate::snapshots::{OwnedRgb, SnapshotStore};
use crate::tools::VEHICLE_CLASSES;

/// Options that are not configuration.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Print one line per acknowledged event on stdout (the demo).
    pub print_events: bool,
}

/// A running vigia.
pub struct AppHandle {
    /// Where the HTTP server listens.
    pub http_addr: SocketAddr,
    /// The MQTT broker in use (`host:port`).
    pub broker: String,
    /// The simulator's RTSP port, when one runs.
    pub rtsp_port: Option<u16>,
    stop: Shutdown,
    task: JoinHandle<Result<()>>,
}

impl AppHandle {
    /// A token that stops the app when cancelled.
    pub fn stop_token(&self) -> Shutdown {
        self.stop.clone()
    }

    /// Stops the app (draining as described in the module docs) and waits for it.
    pub async fn stop(self) -> Result<()> {
        self.stop.cancel();
        self.task
            .await
            .map_err(|e| anyhow!("vigia task failed: {e}"))?
    }

    /// Waits until the app stops (after [`AppHandle::stop_token`] is cancelled).
    pub async fn wait(self) -> Result<()> {
        self.task
            .await
            .map_err(|e| anyhow!("vigia task failed: {e}"))?
    }
}

/// Loads the models, opens the outbox, starts the broker connection (or the embedded
/// broker), the simulator, the cameras and the HTTP server. Fails fast with a clear error
/// when a part cannot start.
pub async fn start(cfg: Config, opts: RunOptions) -> Result<AppHandle> {
    let boot = Instant::now();
    let metrics = Arc::new(Metrics::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    vigia_ingest::init()?;

    // Models: one detector per worker (sessions are not shared).
    let inf = cfg.inference.clone();
    let lpr_cfg = cfg.lpr.clone();
    let any_lpr = cfg.cameras.iter().any(|c| c.enabled && c.lpr);
    let rules = active_rules(&cfg);
    let gate_specs: Vec<(CameraId, usize, ClassifierGate)> = rules
        .iter()
        .flat_map(|(cam, rs)| {
            rs.iter()
                .enumerate()
                .filter_map(|(i, r)| r.classifier.clone().map(|g| (cam.clone(), i, g)))
        })
        .collect();
    let (workers, classifiers) =
        tokio::task::spawn_blocking(move || -> Result<(Vec<WorkerModels>, Vec<RuleGate>)> {
            let env = runtime::environment(inf.ort_library.as_deref())?;
            let run = RunSettings {
                provider: inf.execution_provider,
                threads: inf.threads_per_worker,
                models_dirs: inf.models_dirs.clone(),
            };
            let classifiers = gate_specs
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
            (0..inf.workers)
                .map(|_| {
                    Ok(WorkerModels {
                        detector: Detector::load(&env, &opts)?,
                        plates: if any_lpr {
                            Some(PlateReader::load(&env, &lpr_cfg, &inf)?)
                        } else {
                            None
                        },
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(|w| (w, classifiers))
        })
        .await??;
    let detector_name = workers
        .first()
        .map(|w| w.detector.name().to_string())
        .ok_or_else(|| anyhow!("no inference worker configured"))?;

    // Snapshots (plate reads and incidents).
    let snapshots = if cfg.snapshots.enabled && (any_lpr || !rules.is_empty()) {
        let dir = cfg.snapshot_dir();
        let host = cfg.node.clone();
        let base = cfg
            .snapshots
            .resolved_base_url(cfg.telemetry.http_listen, &host);
        let store = SnapshotStore::open(&dir, cfg.snapshots.max_bytes, base)
            .with_context(|| format!("opening the snapshot directory {}", dir.display()))?;
        Some(Arc::new(store))
    } else {
        None
    };

    // Incident rules: one rule set per camera, with their classifier stages.
    let mut camera_rules: HashMap<CameraId, CameraRules> = HashMap::new();
    let mut gates: HashMap<CameraId, HashMap<usize, Gatekeeper>> = HashMap::new();
    for (cam, i, g) in classifiers {
        gates.entry(cam).or_default().insert(i, g);
    }
    for (cam, rs) in rules {
        let g = gates.remove(&cam).unwrap_or_default();
        camera_rules.insert(cam, CameraRules::new(rs, g));
    }
    let incidents = (!camera_rules.is_empty()).then(|| IncidentShared {
        snapshots: snapshots.clone(),
        jpeg_quality: cfg.snapshots.jpeg_quality,
        metrics: metrics.clone(),
        utc_offset: cfg.utc_offset,
    });

    // License plates: grammar, hotlists.
    let lpr = match workers.first().and_then(|w| w.plates.as_ref()) {
        Some(reader) => {
            let hotlists = Arc::new(HotlistSet::load(&cfg.lpr.hotlists));
            metrics.hotlist_entries.set(hotlists.len() as i64);
            let (plate_detector, ocr) = reader.model_names();
            Some(LprParts {
                shared: LprShared {
                    grammar: reader.grammar(),
                    pass: cfg.lpr.pass.clone(),
                    hotlist: hotlists.shared(),
                    hotlist_max_distance: cfg.lpr.hotlist_max_distance,
                    snapshots: snapshots.clone(),
                    jpeg_quality: cfg.snapshots.jpeg_quality,
                    models: LprModels {
                        vehicle_detector: detector_name.clone(),
                        plate_detector,
                        ocr,
                    },
                    metrics: metrics.clone(),
                },
                hotlists,
            })
        }
        None => None,
    };

    // The outbox and the broker.
    let outbox = open_outbox(&cfg, &metrics)?;
    let link = broker_link(&cfg).await?;
    let broker = link.address();
    let topics = Topics::new(&cfg.topic_prefix())?.with_onvif_mirror(cfg.mqtt.onvif_mirror);
    let settings = publisher_settings(&cfg, link, &topics);

    // The simulator (demo cameras).
    let simulator = match &cfg.simulator {
        Some(sim) => {
            let render_dir = cfg.data_dir.join("simulator");
            let sim = sim.clone();
            let server = tokio::task::spawn_blocking(move || -> Result<RtspCameraServer> {
                let mut streams = Vec::new();
                for s in &sim.streams {
                    let file = match &s.file {
                        Some(f) => f.clone(),
                        None => render_slideshow_cached(&render_dir, &s.path, &s.slideshow)?,
                    };
                    streams.push(SimStream {
                        path: s.path.clone(),
                        file,
                    });
                }
                Ok(RtspCameraServer::start(
                    &sim.listen.ip().to_string(),
                    sim.listen.port(),
                    &streams,
                )?)
            })
            .await?
            .context("starting the simulator's RTSP server")?;
            tracing::info!(
                port = server.port(),
                "simulator serving recorded cameras over RTSP"
            );
            Some(server)
        }
        None => None,
    };
    let rtsp_port = simulator.as_ref().map(RtspCameraServer::port);

    let listener = http::bind(cfg.telemetry.http_listen)
        .await
        .with_context(|| format!("binding the HTTP server to {}", cfg.telemetry.http_listen))?;
    let http_addr = listener.local_addr()?;

    let stop = Shutdown::new();
    let parts = Parts {
        cfg,
        opts,
        metrics,
        clock,
        workers,
        detector_name,
        lpr,
        snapshots,
        incidents,
        camera_rules,
        outbox,
        topics,
        settings,
        broker: broker.clone(),
        simulator,
        listener,
        boot,
    };
    let task = tokio::spawn(run(parts, stop.clone()));
    Ok(AppHandle {
        http_addr,
        broker,
        rtsp_port,
        stop,
        task,
    })
}

/// A rule's classifier stage: camera, rule index within the camera's rules.
type RuleGate = (CameraId, usize, Gatekeeper);

/// Opens the outbox named by the configuration, reporting skipped corrupt bytes.
pub(crate) fn open_outbox(cfg: &Config, metrics: &Metrics) -> Result<Arc<Outbox>> {
    let outbox_dir = cfg.outbox_dir();
    let (outbox, report) = Outbox::open(&outbox_dir, &cfg.outbox)
        .with_context(|| format!("opening the outbox in {}", outbox_dir.display()))?;
    for c in &report.corrupt {
        tracing::warn!(file = %c.file.display(), offset = c.offset, len = c.len, "outbox: skipped torn or corrupt bytes");
    }
    metrics
        .outbox_corrupt_regions
        .inc_by(report.corrupt.len() as u64);
    tracing::info!(
        dir = %outbox_dir.display(),
        pending = report.pending,
        fsync = ?cfg.outbox.fsync,
        "outbox open; unacknowledged events will be published first"
    );
    metrics.outbox_depth.set(outbox.pending() as i64);
    Ok(Arc::new(outbox))
}

/// The configured broker, or the embedded one (started here) when none is configured.
pub(crate) async fn broker_link(cfg: &Config) -> Result<BrokerLink> {
    Ok(match BrokerLink::from_config(&cfg.mqtt)? {
        Some(link) => link,
        None => {
            let listen = cfg.mqtt.embedded_listen;
            let b =
                tokio::task::spawn_blocking(move || vigia_publish::broker::start(listen)).await??;
            BrokerLink::plain("127.0.0.1", b.addr.port())
        }
    })
}

/// Publisher settings from `[mqtt]`.
pub(crate) fn publisher_settings(
    cfg: &Config,
    link: BrokerLink,
    topics: &Topics,
) -> PublisherSettings {
    PublisherSettings {
        broker: link,
        client_id: cfg.client_id(),
        keep_alive: Duration::from_secs(cfg.mqtt.keep_alive_secs),
        inflight_window: cfg.mqtt.inflight_window,
        min_backoff: Duration::from_millis(cfg.mqtt.reconnect_min_backoff_ms),
        max_backoff: Duration::from_secs(cfg.mqtt.reconnect_max_backoff_secs)
            .max(Duration::from_millis(cfg.mqtt.reconnect_min_backoff_ms)),
        available_topic: topics.available(),
        drain_timeout: Duration::from_secs(cfg.mqtt.drain_timeout_secs),
    }
}

/// The models one inference worker owns.
struct WorkerModels {
    detector: Detector,
    plates: Option<PlateReader>,
}

/// License-plate parts shared by the stages.
struct LprParts {
    shared: LprShared,
    hotlists: Arc<HotlistSet>,
}

/// The enabled rules of each enabled camera, in configuration order.
fn active_rules(cfg: &Config) -> HashMap<CameraId, Vec<RuleConfig>> {
    let mut out: HashMap<CameraId, Vec<RuleConfig>> = HashMap::new();
    for r in cfg.rules.iter().filter(|r| r.enabled) {
        if cfg.cameras.iter().any(|c| c.enabled && c.id == r.camera) {
            out.entry(r.camera.clone()).or_default().push(r.clone());
        }
    }
    out
}

struct Parts {
    cfg: Config,
    opts: RunOptions,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    workers: Vec<WorkerModels>,
    detector_name: String,
    lpr: Option<LprParts>,
    snapshots: Option<Arc<SnapshotStore>>,
    incidents: Option<IncidentShared>,
    camera_rules: HashMap<CameraId, CameraRules>,
    outbox: Arc<Outbox>,
    topics: Topics,
    settings: PublisherSettings,
    broker: String,
    simulator: Option<RtspCameraServer>,
    listener: tokio::net::TcpListener,
    boot: Instant,
}

async fn run(p: Parts, stop: Shutdown) -> Result<()> {
    let Parts {
        cfg,
        opts,
        metrics,
        clock,
        workers: workers_models,
        detector_name,
        lpr,
        snapshots,
        incidents,
        camera_rules,
        outbox,
        topics,
        settings,
        broker,
        simulator,
        listener,
        boot,
    } = p;
    let ingest_stop = stop.child_token();
    let drain = Shutdown::new();
    let http_stop = Shutdown::new();
    let hub = Arc::new(FrameHub::new());
    let (an_tx, an_rx) = mpsc::channel::<Input>(256);

    // Camera views for the API.
    let views: Arc<RwLock<BTreeMap<CameraId, CameraView>>> = Arc::new(RwLock::new(BTreeMap::new()));
    let mut stats: HashMap<CameraId, Arc<CameraStats>> = HashMap::new();
    for cam in &cfg.cameras {
        let s = Arc::new(CameraStats::default());
        stats.insert(cam.id.clone(), s);
        views.write().unwrap_or_else(|e| e.into_inner()).insert(
            cam.id.clone(),
            CameraView {
                id: cam.id.to_string(),
                name: cam.name.clone().unwrap_or_else(|| cam.id.to_string()),
                url: redact_url(&cam.url),
                enabled: cam.enabled,
                state: if cam.enabled { "starting" } else { "disabled" }.to_string(),
                reason: None,
                decoder: None,
                since: format_utc(&clock.now_utc()),
                decoded_fps: 0.0,
                analysed_fps: 0.0,
                frames_decoded: 0,
                frames_delivered: 0,
                frames_superseded: 0,
            },
        );
    }

    // Analytics thread.
    let origin = Origin {
        site: cfg.site.clone(),
        node: cfg.node.clone(),
        detector: detector_name.clone(),
    };
    let writer = EventWriter {
        clock: clock.clone(),
        outbox: outbox.clone(),
        topics: topics.clone(),
        metrics: metrics.clone(),
        stopping: stop.clone(),
        give_up_after: Duration::from_secs(5),
        snapshot_bytes: snapshots.clone().filter(|_| cfg.mqtt.snapshot_topic),
    };
    let tracker_cfg = cfg.tracker.clone();
    let an_clock = clock.clone();
    let (lpr_shared, hotlists) = match lpr {
        Some(l) => (Some(l.shared), Some(l.hotlists)),
        None => (None, None),
    };
    let rule_cameras: Arc<HashSet<CameraId>> = Arc::new(camera_rules.keys().cloned().collect());
    let analytics_thread =
        std::thread::Builder::new()
            .name("analytics".into())
            .spawn(move || {
                analytics::run(
                    an_rx,
                    &writer,
                    &origin,
                    &tracker_cfg,
                    &*an_clock,
                    analytics::Stages {
                        lpr: lpr_shared.as_ref(),
                        incidents: incidents.as_ref(),
                        rules: camera_rules,
                    },
                )
            })?;

    // Hotlist reloads.
    let reloader = hotlists.clone().map(|h| {
        let every = Duration::from_secs(cfg.lpr.hotlist_reload_secs);
        let m = metrics.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let h2 = h.clone();
                if let Ok(true) = tokio::task::spawn_blocking(move || h2.reload_if_changed()).await
                {
                    m.hotlist_entries.set(h.len() as i64);
                }
            }
        })
    });

    // Inference workers.
    let mut workers = Vec::new();
    let lpr_cameras: Arc<HashSet<CameraId>> = Arc::new(
        cfg.cameras
            .iter()
            .filter(|c| c.enabled && c.lpr)
            .map(|c| c.id.clone())
            .collect(),
    );
    let routing = Arc::new(Routing {
        lpr_cameras,
        rule_cameras,
        vehicle_gate: cfg.lpr.vehicle_gate,
        motion: cfg.motion.clone(),
        gates: Mutex::new(HashMap::new()),
    });
    for (i, models) in workers_models.into_iter().enumerate() {
        let (hub, tx, m, routing) = (hub.clone(), an_tx.clone(), metrics.clone(), routing.clone());
        workers.push(
            std::thread::Builder::new()
                .name(format!("infer-{i}"))
                .spawn(move || infer_loop(models, &routing, &hub, &tx, &m))?,
        );
    }

    // Status changes → views + analytics.
    let (st_tx, mut st_rx) = mpsc::channel::<CameraStatus>(256);
    let (fwd_tx, fwd_views, fwd_clock) = (an_tx.clone(), views.clone(), clock.clone());
    let forwarder = tokio::spawn(async move {
        while let Some(st) = st_rx.recv().await {
            if let Some(v) = fwd_views
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(&st.camera)
            {
                v.state = st.state.as_str().to_string();
                v.reason = st.reason.clone();
                if st.decoder.is_some() {
                    v.decoder = st.decoder.clone();
                }
                v.since = format_utc(&fwd_clock.now_utc());
            }
            if fwd_tx.send(Input::Status(st)).await.is_err() {
                break;
            }
        }
    });

    // Ticks: track expiry, fps figures.
    let ticker = tokio::spawn(tick_loop(
        an_tx.clone(),
        views.clone(),
        stats.clone(),
        metrics.clone(),
    ));
    drop(an_tx);

    // Cameras.
    let ctx = IngestContext {
        hub: hub.clone(),
        metrics: metrics.clone(),
        clock: clock.clone(),
        status: st_tx,
    };
    let mut cameras = Vec::new();
    for cam in cfg.cameras.iter().filter(|c| c.enabled) {
        cameras.push(tokio::spawn(run_camera(
            cam.clone(),
            ctx.clone(),
            stats[&cam.id].clone(),
            ingest_stop.clone(),
        )));
    }
    drop(ctx);

    // Publisher and the demo printer.
    let (acked_tx, acked_rx) = if opts.print_events {
        let (t, r) = mpsc::channel::<AckedMessage>(1024);
        (Some(t), Some(r))
    } else {
        (None, None)
    };
    let (stats_tx, stats_rx) = mpsc::channel::<Ephemeral>(1);
    let publisher = tokio::spawn(
        Publisher::new(settings, outbox.clone(), metrics.clone(), acked_tx)
            .with_ephemeral(stats_rx)
            .run(drain.clone()),
    );
    let printer = acked_rx.map(|rx| tokio::spawn(print_acked(rx)));

    // HTTP.
    let started = Arc::new(AtomicBool::new(false));
    let state = HttpState {
        metrics: metrics.clone(),
        outbox: outbox.clone(),
        cameras: views.clone(),
        started: started.clone(),
        stopping: stop.clone(),
        site: cfg.site.clone(),
        node: cfg.node.clone(),
        topic_prefix: topics.prefix().to_string(),
        broker: broker.clone(),
        boot,
        snapshots: snapshots.clone(),
        hotlists: hotlists.clone(),
    };
    let stats_task = (cfg.telemetry.stats_interval_secs > 0).then(|| {
        let state = state.clone();
        let topic = topics.stats();
        let every = Duration::from_secs(cfg.telemetry.stats_interval_secs);
        let clock = clock.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let payload = http::stats_json(&state, clock.now_utc())
                    .to_string()
                    .into_bytes();
                // Full channel: the publisher is offline and an older snapshot waits; keep it.
                let _ = stats_tx.try_send(Ephemeral {
                    topic: topic.clone(),
                    payload,
                });
            }
        })
    });
    let http_addr = listener.local_addr()?;
    let hs = http_stop.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, http::router(state))
            .with_graceful_shutdown(hs.cancelled_owned())
            .await
    });
    started.store(true, Ordering::Relaxed);
    tracing::info!(
        site = %cfg.site,
        node = %cfg.node,
        cameras = cfg.cameras.iter().filter(|c| c.enabled).count(),
        detector = %detector_name,
        broker = %broker,
        topics = %topics.prefix(),
        http = %http_addr,
        "vigia running"
    );

    stop.cancelled().await;
    tracing::info!("stopping: cameras, then analysis, then delivery of what is left");
    for c in cameras {
        let _ = c.await;
    }
    hub.close();
    let _ = tokio::task::spawn_blocking(move || {
        for w in workers {
            let _ = w.join();
        }
    })
    .await;
    ticker.abort();
    let _ = ticker.await;
    let _ = forwarder.await;
    let _ = tokio::task::spawn_blocking(move || analytics_thread.join()).await;
    if let Some(r) = reloader {
        r.abort();
    }
    if let Some(t) = stats_task {
        t.abort();
    }
    drain.cancel();
    let _ = publisher.await;
    if let Some(p) = printer {
        let _ = p.await;
    }
    http_stop.cancel();
    let _ = http.await;
    if let Some(sim) = simulator {
        let _ = tokio::task::spawn_blocking(move || sim.stop()).await;
    }
    if let Err(e) = outbox.sync() {
        tracing::error!(error = %e, "final outbox sync failed");
    }
    tracing::info!(
        pending = outbox.pending(),
        "vigia stopped; pending events are kept for the next start"
    );
    Ok(())
}

/// Renders a slideshow stream once; reuses the file while it is newer than its photos.
fn render_slideshow_cached(
    dir: &std::path::Path,
    name: &str,
    photos: &[std::path::PathBuf],
) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = dir.join(format!("{name}.mp4"));
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = modified(&out)
        .is_some_and(|t| photos.iter().all(|p| modified(p).is_some_and(|pt| pt <= t)));
    if !fresh {
        tracing::info!(
            stream = name,
            photos = photos.len(),
            "rendering the simulator slideshow"
        );
        let tmp = dir.join(format!(".{name}.mp4.tmp"));
        vigia_testkit::render::render_slideshow(
            photos,
            &tmp,
            &vigia_testkit::render::RenderSpec::default(),
        )?;
        std::fs::rename(&tmp, &out)?;
    }
    Ok(out)
}

/// What the inference workers do with each camera's frames.
struct Routing {
    /// Cameras whose frames go to the plate reader.
    lpr_cameras: Arc<HashSet<CameraId>>,
    /// Cameras with incident rules (their frames are copied for snapshots and classifiers).
    rule_cameras: Arc<HashSet<CameraId>>,
    /// Plates are read only in frames with a vehicle.
    vehicle_gate: bool,
    motion: MotionConfig,
    /// Each camera's motion gate (shared: any worker may take any camera's next frame).
    gates: Mutex<HashMap<CameraId, MotionGate>>,
}

impl Routing {
    fn motion(&self, camera: &CameraId, img: &RgbView, now: Duration) -> Decision {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates
            .entry(camera.clone())
            .or_insert_with(|| MotionGate::new(self.motion.clone()))
            .check(img, now)
    }
}

fn infer_loop(
    mut models: WorkerModels,
    routing: &Routing,
    hub: &FrameHub,
    tx: &mpsc::Sender<Input>,
    metrics: &Metrics,
) {
    let hist = metrics
        .inference_seconds
        .with_label_values(&[models.detector.name()]);
    let (plate_hist, ocr_hist) = match &models.plates {
        Some(p) => {
            let (d, o) = p.model_names();
            (
                Some(metrics.inference_seconds.with_label_values(&[&d])),
                Some(metrics.inference_seconds.with_label_values(&[&o])),
            )
        }
        None => (None, None),
    };
    let mut failures = 0u64;
    loop {
        let Some(frame) = hub.take(Duration::from_millis(250)) else {
            if hub.is_closed() {
                return;
            }
            continue;
        };
        let cam = frame.camera.clone();
        let view = match RgbView::from_frame(&frame) {
            Ok(v) => v,
            Err(m) => {
                tracing::error!(camera = %cam, error = %m, "bad frame");
                continue;
            }
        };
        if !routing
            .motion(&cam, &view, frame.captured_mono)
            .run_detector()
        {
            metrics
                .frames_skipped
                .with_label_values(&[cam.as_str(), "no_motion"])
                .inc();
            let input = Input::Skipped {
                camera: cam,
                captured_mono: frame.captured_mono,
                captured_utc: frame.captured_utc,
            };
            drop(frame);
            if tx.blocking_send(input).is_err() {
                return;
            }
            continue;
        }
        let t = Instant::now();
        let result = models.detector.detect(&view);
        hist.observe(t.elapsed().as_secs_f64());
        let detections = match result {
            Ok(d) => d,
            Err(e) => {
                failures += 1;
                if failures.is_power_of_two() {
                    tracing::error!(camera = %cam, error = %e, failures, "inference failed");
                }
                continue;
            }
        };
        metrics
            .frames_analysed
            .with_label_values(&[cam.as_str()])
            .inc();
        for d in &detections {
            metrics
                .detections
                .with_label_values(&[cam.as_str(), &d.label])
                .inc();
        }
        let mut plates = Vec::new();
        if let Some(reader) = models
            .plates
            .as_mut()
            .filter(|_| routing.lpr_cameras.contains(&cam))
        {
            let vehicle = detections
                .iter()
                .any(|d| VEHICLE_CLASSES.contains(&&*d.label));
            if vehicle || !routing.vehicle_gate {
                match reader.read(&view) {
                    Ok((found, times)) => {
                        if let (Some(p), Some(o)) = (&plate_hist, &ocr_hist) {
                            p.observe(times.plate_detection_ms / 1e3);
                            if times.candidates > 0 {
                                o.observe(times.ocr_ms / 1e3);
                            }
                        }
                        if !found.is_empty() {
                            let copy = Arc::new(OwnedRgb::copy_from(
                                frame.width,
                                frame.height,
                                frame.stride,
                                frame.bytes(),
                            ));
                            plates = found
                                .into_iter()
                                .map(|f| PlateSighting {
                                    found: f,
                                    frame: copy.clone(),
                                })
                                .collect();
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        if failures.is_power_of_two() {
                            tracing::error!(camera = %cam, error = %format!("{e:#}"), failures, "plate reading failed");
                        }
                    }
                }
            }
        }
        let copy = routing.rule_cameras.contains(&cam);
        let input = Input::Detections {
            camera: cam,
            width: frame.width,
            height: frame.height,
            captured_mono: frame.captured_mono,
            captured_utc: frame.captured_utc,
            detections,
            plates,
            frame: copy.then(|| {
                Arc::new(OwnedRgb::copy_from(
                    frame.width,
                    frame.height,
                    frame.stride,
                    frame.bytes(),
                ))
            }),
        };
        // Give the GStreamer buffer back before possibly waiting on analytics.
        drop(frame);
        if tx.blocking_send(input).is_err() {
            return;
        }
    }
}

async fn tick_loop(
    tx: mpsc::Sender<Input>,
    views: Arc<RwLock<BTreeMap<CameraId, CameraView>>>,
    stats: HashMap<CameraId, Arc<CameraStats>>,
    metrics: Arc<Metrics>,
) {
    const FPS_EVERY: u32 = 10; // ticks of 500 ms
    const LOG_EVERY: u32 = 120;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut prev: HashMap<CameraId, (u64, u64, Instant)> = HashMap::new();
    let mut n = 0u32;
    loop {
        tick.tick().await;
        n = n.wrapping_add(1);
        // try_send: a busy analytics thread skips a tick rather than block this task.
        let _ = tx.try_send(Input::Tick);
        if !n.is_multiple_of(FPS_EVERY) {
            continue;
        }
        let mut lines = Vec::new();
        for (id, s) in &stats {
            let decoded = s.decoded.load(Ordering::Relaxed);
            let analysed = metrics
                .frames_analysed
                .with_label_values(&[id.as_str()])
                .get();
            let now = Instant::now();
            let (pd, pa, pt) = prev
                .insert(id.clone(), (decoded, analysed, now))
                .unwrap_or((0, 0, now));
            let dt = now.duration_since(pt).as_secs_f64();
            let (dfps, afps) = if dt > 0.0 {
                ((decoded - pd) as f64 / dt, (analysed - pa) as f64 / dt)
            } else {
                (0.0, 0.0)
            };
            if let Some(v) = views.write().unwrap_or_else(|e| e.into_inner()).get_mut(id) {
                v.decoded_fps = (dfps * 10.0).round() / 10.0;
                v.analysed_fps = (afps * 10.0).round() / 10.0;
                v.frames_decoded = decoded;
                v.frames_delivered = s.delivered.load(Ordering::Relaxed);
                v.frames_superseded = s.superseded.load(Ordering::Relaxed);
            }
            lines.push(format!("{id}: {dfps:.1} decoded/s, {afps:.1} analysed/s"));
        }
        if n.is_multiple_of(LOG_EVERY) && !lines.is_empty() {
            lines.sort();
            tracing::info!(cameras = %lines.join("; "), "frame rates");
        }
    }
}

/// The demo's output: one readable line per acknowledged event.
#[allow(clippy::print_stdout)]
async fn print_acked(mut rx: mpsc::Receiver<AckedMessage>) {
    while let Some(m) = rx.recv().await {
        println!("{}", describe_acked(&m));
    }
}

/// One line for an acknowledged event.
pub fn describe_acked(m: &AckedMessage) -> String {
    let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap_or_default();
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_string();
    let time = s("utc_time");
    let time = time.get(11..23).unwrap_or(&time).to_string();
    let what = match m.kind.as_str() {
        "object" => {
            let b = &v["box"];
            format!(
                "{:<3} {} #{} {:.2} at x={:.2} y={:.2} w={:.2} h={:.2}{}",
                s("lifecycle"),
                s("class"),
                v["track_id"],
                v["likelihood"].as_f64().unwrap_or(0.0),
                b["x"].as_f64().unwrap_or(0.0),
                b["y"].as_f64().unwrap_or(0.0),
                b["w"].as_f64().unwrap_or(0.0),
                b["h"].as_f64().unwrap_or(0.0),
                if s("lifecycle") == "end" {
                    format!(
                        " after {:.1} s",
                        v["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0
                    )
                } else {
                    String::new()
                }
            )
        }
        "lpr" => {
            let p = &v["plate"];
            let ps = |k: &str| p.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_string();
            let hot = &v["hotlist"];
            format!(
                "{:<6} {} {}{} {:.2} reads={}{}{}{}",
                s("lifecycle"),
                ps("number"),
                ps("format"),
                p.get("color")
                    .and_then(|c| c.as_str())
                    .map_or(String::new(), |c| format!("/{c}")),
                p["likelihood"].as_f64().unwrap_or(0.0),
                v["reads"],
                v["vehicle"]["type"]
                    .as_str()
                    .map_or(String::new(), |t| format!(" on {t}")),
                v["direction"]["travel"]
                    .as_str()
                    .map_or(String::new(), |t| format!(" going {t}")),
                if hot["matched"].as_bool() == Some(true) {
                    format!("  HOTLIST {}", hot["list"].as_str().unwrap_or("?"))
                } else {
                    String::new()
                }
            )
        }
        "incident" => {
            let objects: Vec<String> = v["objects"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| {
                            format!("{} #{}", o["class"].as_str().unwrap_or("?"), o["track_id"])
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut extra = String::new();
            if let Some(d) = v["direction"].as_str() {
                extra.push_str(&format!(" {d}"));
            }
            if let Some(c) = v["count"].as_u64() {
                extra.push_str(&format!(" count={c}"));
            }
            if let Some(c) = v["classifier"]["score"].as_f64() {
                extra.push_str(&format!(
                    " {}={c:.2}",
                    v["classifier"]["label"].as_str().unwrap_or("?")
                ));
            }
            format!(
                "{:<6} {} \"{}\" {}{extra} [{}] {:.1} s",
                s("lifecycle"),
                s("kind"),
                s("rule"),
                s("severity"),
                objects.join(", "),
                v["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0
            )
        }
        "alert" => format!("!!! {}", s("summary")),
        "camera_status" => {
            let reason = s("reason");
            let decoder = s("decoder");
            format!(
                "{}{}{}",
                s("state"),
                if decoder != "-" {
                    format!(" ({decoder})")
                } else {
                    String::new()
                },
                if reason != "-" {
                    format!(": {reason}")
                } else {
                    String::new()
                }
            )
        }
        other => other.to_string(),
    };
    format!(
        "{time} {:<12} {:<13} {what}   [acked in {} ms]",
        s("camera"),
        m.kind,
        m.latency.as_millis()
    )
}
