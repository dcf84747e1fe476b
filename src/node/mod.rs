//! The running node: builds every stage from a [`Config`], runs them, stops them in order.
//!
//! ```text
//! cameras (GStreamer, one supervisor task each)
//!   → FrameHub (one frame per camera, newest wins)
//!   → inference worker threads (one Detector each)
//!   → analytics thread (trackers → events) → outbox (durable)
//!   → publisher task (MQTT QoS 1, acks on PUBACK)
//! ```
//!
//! - [`stages`]: models and the analytics stage assembled from the config.
//! - [`inference`]: the inference worker threads.
//! - [`cameras`]: the running cameras (started, restarted, stopped one at a time).
//! - [`reload`]: live reconfiguration (SIGHUP, file watch, API).
//! - [`views`]: what the API shows about each camera; the status forwarder and rate ticker.
//! - [`writer`]: the analytics sink that stores events in the outbox.
//! - [`delivery`]: outbox, broker link, publisher settings (shared with `vigia loadgen`).
//! - [`http`]: health, readiness, metrics and the REST API; node stats.
//! - [`console`]: the web console; [`session`]: its login; [`guard`]: who may call.
//! - [`spawn`]: the publisher, HTTP server, background tasks and workers started.
//! - [`simulator`]: the demo's RTSP cameras.
//! - [`printer`]: the demo's one line per acknowledged event.
//! - [`tasks`]: supervised tasks; a failing one stops the node with an error.
//! - [`stop`]: the stop order.
//!
//! Stop order ([`stop::STOP_ORDER`]): cameras, then inference and analytics (everything already
//! decoded becomes events), then the publisher drains the outbox (bounded by
//! `mqtt.drain_timeout_secs`), then the HTTP server.

pub mod alarms;
pub mod cameras;
pub mod console;
pub mod delivery;
pub mod fleet;
pub mod guard;
pub mod http;
pub mod inference;
pub mod plate_scan;
pub mod printer;
pub mod reload;
pub mod session;
pub mod simulator;
pub mod spawn;
pub mod stages;
pub mod stop;
pub mod tasks;
pub mod views;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vigia_analytics::Input;
use vigia_core::{Clock, FrameHub, Shutdown, SystemClock};
use vigia_ingest::IngestContext;
use vigia_outbox::Outbox;
use vigia_publish::PublisherSettings;
use vigia_sim::rtsp::RtspCameraServer;
use vigia_telemetry::Metrics;

use crate::config::Config;
use cameras::{CameraParts, Cameras};
use inference::{Routing, WorkerModels};
use reload::ReloadHandle;
use spawn::{spawn_analytics, spawn_background, spawn_http, spawn_publisher, spawn_workers};
use stages::AnalyticsParts;
use stop::{Stop, final_sync, run_until_stopped};
use tasks::Supervisor;
use views::CameraViews;
use writer::EventWriter;

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
    reload: ReloadHandle,
    task: JoinHandle<Result<()>>,
}

impl AppHandle {
    /// A token that stops the app when cancelled.
    pub fn stop_token(&self) -> Shutdown {
        self.stop.clone()
    }

    /// Reloads the configuration file now (what SIGHUP does); `None` once stopping.
    pub fn reloader(&self) -> ReloadHandle {
        self.reload.clone()
    }

    /// Stops the app (draining as described in the module docs) and waits for it.
    pub async fn stop(self) -> Result<()> {
        self.stop.cancel();
        self.wait().await
    }

    /// Waits until the app stops (after [`AppHandle::stop_token`] is cancelled, or a task
    /// failed: then the error names it).
    pub async fn wait(self) -> Result<()> {
        self.task
            .await
            .map_err(|e| anyhow!("vigia task failed: {e}"))?
    }
}

/// What `start` prepared before anything runs.
struct Prepared {
    cfg: Config,
    opts: RunOptions,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    workers: Vec<WorkerModels>,
    parts: AnalyticsParts,
    outbox: Arc<Outbox>,
    settings: PublisherSettings,
    topics: vigia_publish::Topics,
    broker: String,
    boot: Instant,
}

/// Loads the models, opens the outbox, starts the broker connection (or the embedded
/// broker), the simulator, the cameras and the HTTP server. Fails fast with a clear error
/// when a part cannot start.
pub async fn start(cfg: Config, opts: RunOptions) -> Result<AppHandle> {
    let boot = Instant::now();
    let metrics = Arc::new(Metrics::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    vigia_ingest::init()?;
    let rules = stages::active_rules(&cfg);
    let mut models = stages::load_models(&cfg, &rules).await?;
    let parts = stages::build_analytics(&cfg, &mut models, rules, &metrics, &clock)?;
    let outbox = delivery::open_outbox(&cfg, &metrics)?;
    let link = delivery::broker_link(&cfg).await?;
    let broker = link.address();
    let topics = delivery::topics(&cfg)?;
    let settings = delivery::publisher_settings(&cfg, link, &topics);
    let simulator = simulator::start(&cfg).await?;
    let rtsp_port = simulator.as_ref().map(RtspCameraServer::port);
    let listen = cfg.telemetry.http_listen;
    let listener = http::bind(listen)
        .await
        .map_err(|e| anyhow!("binding the HTTP server to {listen}: {e}"))?;
    let http_addr = listener.local_addr()?;
    // The API's guard is checked before anything runs (a missing token file fails fast).
    let access = guard::Access::from_config(&cfg.telemetry)?;
    let tls = guard::tls(&cfg.telemetry)?;
    let listener = guard::GuardedListener::new(listener, cfg.telemetry.http_max_connections, tls);
    let stop = Shutdown::new();
    let prepared = Prepared {
        cfg,
        opts,
        metrics,
        clock,
        workers: models.workers,
        parts,
        outbox,
        settings,
        topics,
        broker: broker.clone(),
        boot,
    };
    let sup = Supervisor::new(stop.clone());
    let outbox = prepared.outbox.clone();
    let (mut steps, reload) = launch(prepared, &sup, &stop, (listener, access))?;
    steps.push(Stop::Run(Box::new(move || {
        if let Some(sim) = simulator {
            sim.stop();
        }
    })));
    steps.push(final_sync(outbox));
    let task = tokio::spawn(run_until_stopped(stop.clone(), sup, steps));
    Ok(AppHandle {
        http_addr,
        broker,
        rtsp_port,
        stop,
        reload,
        task,
    })
}

/// Spawns every stage; returns how to stop each, in [`stop::STOP_ORDER`] (the caller adds the
/// last two).
fn launch(
    Prepared {
        cfg,
        opts,
        metrics,
        clock,
        workers,
        parts,
        outbox,
        settings,
        topics,
        broker,
        boot,
    }: Prepared,
    sup: &Supervisor,
    stop: &Shutdown,
    (listener, access): (guard::GuardedListener, guard::Access),
) -> Result<(Vec<Stop>, ReloadHandle)> {
    let hub = Arc::new(FrameHub::new());
    let views = Arc::new(CameraViews::new(&[], clock.clone()));
    let (an_tx, an_rx) = mpsc::channel::<Input>(256);
    let console = console::ConsoleState::new(views.clone(), cfg.source.clone(), stop.clone());

    // Analytics: one thread, writing to the outbox.
    let writer = EventWriter {
        outbox: outbox.clone(),
        topics: topics.clone(),
        metrics: metrics.clone(),
        stopping: stop.clone(),
        give_up_after: Duration::from_secs(5),
        snapshot_bytes: parts.snapshots.clone().filter(|_| cfg.mqtt.snapshot_topic),
        feed: Some(console.feed.clone()),
    };
    let analytics = parts.analytics.with_previews(console.previews.clone());
    let analytics = spawn_analytics(sup, analytics, an_rx, writer)?;

    // Inference workers.
    let routing = Arc::new(Routing::new(&cfg.lpr, parts.settled));
    let shared = inference::Shared {
        routing: routing.clone(),
        hub: hub.clone(),
        analytics: an_tx.clone(),
        metrics: metrics.clone(),
        previews: console.previews.clone(),
    };
    let inference = spawn_workers(sup, workers, &shared)?;

    // Status changes → views + analytics; ticks.
    let (st_tx, st_rx) = mpsc::channel(256);
    let status = sup.spawn(
        "status",
        views::forward_status(st_rx, views.clone(), an_tx.clone()),
    );
    let ticker = sup.spawn("ticker", views::tick(an_tx.clone(), views.clone()));
    let (alarms, alarms_stop) = alarms::spawn(sup, &cfg, &settings, &an_tx, &metrics, &access);

    // Cameras, and live reconfiguration of them.
    let ctx = IngestContext {
        hub: hub.clone(),
        metrics: metrics.clone(),
        clock: clock.clone(),
        status: st_tx,
    };
    let cameras = Cameras::new(CameraParts {
        sup: sup.clone(),
        hub: hub.clone(),
        views: views.clone(),
        routing,
        motion: cfg.motion.clone(),
        stop: stop.child_token(),
        ctx,
        analytics: an_tx,
    });
    let (running, reload, cameras) = cameras::launch(cameras, &cfg, &parts.rule_cameras, &metrics);

    // Publisher and the demo printer.
    let (publisher, printer, drain, stats_tx) =
        spawn_publisher(sup, opts.print_events, settings, &outbox, &metrics);

    // HTTP, hotlist reloads, stats.
    let started = Arc::new(AtomicBool::new(false));
    let state = http::HttpState {
        metrics: metrics.clone(),
        outbox: outbox.clone(),
        cameras: views,
        started: started.clone(),
        stopping: stop.clone(),
        site: cfg.site.clone(),
        node: cfg.node.clone(),
        topic_prefix: topics.prefix().to_string(),
        broker: broker.clone(),
        boot,
        snapshots: parts.snapshots,
        hotlists: parts.hotlists,
        reload: reload.clone(),
        alarms,
        console: console.with_reload(reload.clone()),
    };
    let background = spawn_background(sup, &cfg, &state, &topics, clock, stats_tx);
    let http_addr = axum::serve::Listener::local_addr(&listener)?;
    let (http, http_stop) = spawn_http(sup, listener, state, access);
    started.store(true, Ordering::Relaxed);
    tracing::info!(site = %cfg.site, node = %cfg.node, cameras = running,
        broker = %broker, topics = %topics.prefix(), http = %http_addr, "vigia running");

    let steps = vec![
        cameras,
        Stop::Run(Box::new(move || hub.close())),
        Stop::Join(inference),
        Stop::Abort(vec![ticker]),
        Stop::Join(vec![status]),
        alarms_stop,
        Stop::Join(vec![analytics]),
        Stop::Abort(background),
        Stop::Cancel(drain, vec![publisher]),
        Stop::Join(printer),
        Stop::Cancel(http_stop, vec![http]),
    ];
    Ok((steps, reload))
}
