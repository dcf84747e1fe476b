//! Spawning the node's long-running parts: publisher, HTTP server, background tasks,
//! inference workers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::mpsc;
use vigia_core::{Clock, Shutdown};
use vigia_outbox::Outbox;
use vigia_publish::{AckedMessage, Ephemeral, Publisher, PublisherSettings};
use vigia_telemetry::Metrics;

use super::inference::{self, WorkerModels};
use super::tasks::{Supervisor, Task};
use super::{console, guard, http, printer, stages};
use crate::config::Config;

/// The publisher (and the demo's printer of acknowledged events): its task, the printer's,
/// the token that drains it, and where node stats go.
pub fn spawn_publisher(
    sup: &Supervisor,
    print_events: bool,
    settings: PublisherSettings,
    outbox: &Arc<Outbox>,
    metrics: &Arc<Metrics>,
) -> (Task, Vec<Task>, Shutdown, mpsc::Sender<Ephemeral>) {
    let (acked_tx, printer) = if print_events {
        let (t, r) = mpsc::channel::<AckedMessage>(1024);
        (Some(t), vec![sup.spawn("printer", printer::print_acked(r))])
    } else {
        (None, Vec::new())
    };
    let (stats_tx, stats_rx) = mpsc::channel::<Ephemeral>(1);
    let drain = Shutdown::new();
    let publish = Publisher::new(settings, outbox.clone(), metrics.clone(), acked_tx)
        .with_ephemeral(stats_rx)
        .run(drain.clone());
    let publisher = sup.spawn("publisher", async move {
        publish.await;
        Ok(())
    });
    (publisher, printer, drain, stats_tx)
}

/// The API behind its guard; returns the task and the token that stops it.
pub fn spawn_http(
    sup: &Supervisor,
    listener: guard::GuardedListener,
    state: http::HttpState,
    access: guard::Access,
) -> (Task, Shutdown) {
    let stop = Shutdown::new();
    let task = sup.spawn("http", http::serve(listener, state, access, stop.clone()));
    (task, stop)
}

/// Hotlist reloads, snapshot retention, the console's health samples and node stats.
pub fn spawn_background(
    sup: &Supervisor,
    cfg: &Config,
    state: &http::HttpState,
    topics: &vigia_publish::Topics,
    clock: Arc<dyn Clock>,
    stats_tx: mpsc::Sender<Ephemeral>,
) -> Vec<Task> {
    let mut background = Vec::new();
    if let Some(h) = state.hotlists.clone() {
        let every = Duration::from_secs(cfg.lpr.hotlist_reload_secs);
        let reload = stages::reload_hotlists(h, every, state.metrics.clone());
        background.push(sup.spawn("hotlist reload", reload));
    }
    if let Some(s) = state.snapshots.clone() {
        let purge = stages::purge_snapshots(s, cfg.snapshots.retention(), state.metrics.clone());
        background.push(sup.spawn("snapshot retention", purge));
    }
    let health = console::health::sample(
        state.console.health.clone(),
        state.metrics.clone(),
        state.outbox.clone(),
    );
    background.push(sup.spawn("console health", async move {
        health.await;
        Ok(())
    }));
    if cfg.telemetry.stats_interval_secs > 0 {
        let every = Duration::from_secs(cfg.telemetry.stats_interval_secs);
        let stats = http::publish_stats(state.clone(), topics.stats(), every, clock, stats_tx);
        background.push(sup.spawn("stats", stats));
    }
    background
}

/// One inference thread per set of models.
pub fn spawn_workers(
    sup: &Supervisor,
    workers: Vec<WorkerModels>,
    shared: &inference::Shared,
) -> Result<Vec<Task>> {
    workers
        .into_iter()
        .enumerate()
        .map(|(i, models)| {
            let shared = shared.clone();
            sup.spawn_thread(format!("infer-{i}"), move || {
                inference::run_worker(models, &shared)
            })
        })
        .collect()
}

/// The analytics thread, writing every event through `writer`.
pub fn spawn_analytics(
    sup: &Supervisor,
    analytics: vigia_analytics::Analytics,
    rx: mpsc::Receiver<vigia_analytics::Input>,
    writer: super::writer::EventWriter,
) -> Result<Task> {
    sup.spawn_thread("analytics", move || {
        analytics.run(rx, &writer);
        Ok(())
    })
}
