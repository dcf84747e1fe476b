//! `vigia loadgen`: synthetic events through the node's real outbox and publisher, to
//! prove a broker link end to end (and for the fault tests). Every event is printed on
//! stdout as soon as the outbox accepted it, so whoever watches the broker can check that
//! every accepted event arrived.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use serde::Serialize;
use vigia_core::event::{Lifecycle, ObjectEvent};
use vigia_core::{BBox, CameraId, Event, EventPayload, Shutdown};
use vigia_publish::Publisher;
use vigia_telemetry::Metrics;

use crate::config::Config;
use crate::node::delivery::{broker_link, open_outbox, publisher_settings, topics};
use crate::node::writer::EventWriter;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file (its [mqtt], [outbox], site and node are used).
    #[arg(short, long)]
    config: PathBuf,
    /// Events to generate (0: only deliver what the outbox holds).
    #[arg(long, default_value_t = 100)]
    events: u64,
    /// Events per second.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Camera id the synthetic events name.
    #[arg(long, default_value = "loadgen")]
    camera: String,
    /// Seconds to wait for the broker to acknowledge everything before exiting.
    #[arg(long, default_value_t = 30.0)]
    wait: f64,
}

#[allow(clippy::print_stderr)]
pub fn run(a: Args) -> ExitCode {
    let cfg = match super::load_config(Some(&a.config)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    super::quiet_logs();
    let opts = LoadgenOptions {
        events: a.events,
        rate: a.rate,
        camera: a.camera,
        wait: Duration::from_secs_f64(a.wait.max(0.0)),
    };
    let out = Box::new(std::io::stdout());
    super::finish(
        super::block_on(loadgen(cfg, opts, out)),
        |r| {
            format!(
                "loadgen: accepted {}, acknowledged {}, pending {}, corrupt regions skipped {}, {:.1} s",
                r.accepted, r.acknowledged, r.pending, r.corrupt_regions_skipped, r.seconds
            )
        },
        |r| r.pending == 0,
        3,
    )
}

/// `vigia loadgen` options.
#[derive(Debug, Clone)]
pub struct LoadgenOptions {
    /// Events to generate (0: only deliver what the outbox already holds).
    pub events: u64,
    /// Events per second.
    pub rate: f64,
    /// The camera id the synthetic events name.
    pub camera: String,
    /// After generating, how long to wait for the outbox to empty.
    pub wait: Duration,
}

/// What `vigia loadgen` did.
#[derive(Debug, Clone, Serialize)]
pub struct LoadgenReport {
    pub accepted: u64,
    /// Acknowledged by the broker during this run (includes events left by earlier runs).
    pub acknowledged: u64,
    /// Still in the outbox at exit (delivered by the next run or `vigia run`).
    pub pending: usize,
    pub corrupt_regions_skipped: u64,
    pub seconds: f64,
}

fn synthetic(cfg: &Config, camera: &CameraId, n: u64) -> Event {
    let now = Utc::now();
    Event::new(
        &cfg.site,
        &cfg.node,
        Some(camera.clone()),
        now,
        EventPayload::Object(ObjectEvent {
            lifecycle: Lifecycle::New,
            track_id: n,
            class: "loadgen".into(),
            likelihood: 1.0,
            bbox: BBox::new(0.25, 0.25, 0.5, 0.5),
            first_seen: now,
            last_seen: now,
            duration_ms: 0,
            sightings: 1,
            detector: "loadgen".into(),
        }),
    )
}

/// Runs the outbox and publisher of `cfg` and feeds them `opts.events` synthetic `object`
/// events (class `loadgen`) at `opts.rate`; each accepted event is written to `out` as a
/// line `{"accepted":"<event id>","seq":<outbox seq>}` right after the outbox accepted it.
pub async fn loadgen(
    cfg: Config,
    opts: LoadgenOptions,
    out: Box<dyn Write + Send>,
) -> Result<LoadgenReport> {
    let started = Instant::now();
    let camera = CameraId::new(opts.camera.as_str())
        .map_err(|e| anyhow::anyhow!("--camera {:?}: {e}", opts.camera))?;
    if !(opts.rate > 0.0 && opts.rate.is_finite()) {
        bail!("--rate must be a positive number of events per second");
    }
    let metrics = Arc::new(Metrics::new());
    let outbox = open_outbox(&cfg, &metrics)?;
    let pending_at_start = outbox.pending();
    let link = broker_link(&cfg).await?;
    let topics = topics(&cfg)?;
    let settings = publisher_settings(&cfg, link, &topics);
    let drain = Shutdown::new();
    let publisher = tokio::spawn(
        Publisher::new(settings, outbox.clone(), metrics.clone(), None).run(drain.clone()),
    );

    let writer = EventWriter {
        outbox: outbox.clone(),
        topics: topics.clone(),
        metrics: metrics.clone(),
        stopping: Shutdown::new(),
        give_up_after: Duration::from_secs(5),
        snapshot_bytes: None,
        feed: None,
    };
    let gen_cfg = cfg.clone();
    let accepted = tokio::task::spawn_blocking(move || -> Result<u64> {
        let mut out = out;
        let period = Duration::from_secs_f64(1.0 / opts.rate);
        let t0 = Instant::now();
        for n in 0..opts.events {
            let due = t0 + period.mul_f64(n as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let event = synthetic(&gen_cfg, &camera, n);
            // The same writer `vigia run` uses: a full outbox makes it wait (back-pressure).
            let Some(seq) = writer.write(&event) else {
                bail!("the outbox refused an event while stopping");
            };
            writeln!(out, "{{\"accepted\":\"{}\",\"seq\":{seq}}}", event.id)
                .and_then(|()| out.flush())
                .context("writing to stdout")?;
        }
        Ok(opts.events)
    })
    .await??;

    let deadline = Instant::now() + opts.wait;
    while outbox.pending() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drain.cancel();
    publisher.await.context("publisher task")?;
    Ok(LoadgenReport {
        accepted,
        acknowledged: (pending_at_start as u64 + accepted).saturating_sub(outbox.pending() as u64),
        pending: outbox.pending(),
        corrupt_regions_skipped: metrics.outbox_corrupt_regions.get(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A synthetic event, for the tail tests.
    pub(crate) fn event(n: u64) -> Vec<u8> {
        let cfg = Config::tool_defaults();
        let cam = CameraId::new("cam-1").unwrap();
        serde_json::to_vec(&synthetic(&cfg, &cam, n)).unwrap()
    }
}
