//! Delivery tools for integrators and operators:
//!
//! - [`loadgen`] (`vigia loadgen`): synthetic events through the node's real outbox and
//!   publisher, to prove a broker link end to end (and for the fault tests). Every event
//!   is printed on stdout as soon as the outbox accepted it, so whoever watches the
//!   broker can check that every accepted event arrived.
//! - [`tail`] (`vigia tail`): a subscriber that prints events as they arrive, drops
//!   duplicate deliveries by event id, and can check each against the published schema.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use rumqttc::{AsyncClient, Event as MqttEvent, Packet, QoS};
use serde::Serialize;
use vigia_core::event::{Lifecycle, ObjectEvent};
use vigia_core::{BBox, CameraId, Event, EventPayload, Shutdown, SystemClock};
use vigia_publish::{BrokerLink, MqttConfig, Publisher, Topics};
use vigia_telemetry::Metrics;

use crate::Config;
use crate::analytics::EventWriter;
use crate::app::{broker_link, open_outbox, publisher_settings};

/// The published event schema (docs/schema), compiled into the binary.
pub const EVENT_SCHEMA: &str = include_str!("../docs/schema/vigia.event.v1.schema.json");

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
    let topics = Topics::new(&cfg.topic_prefix())?.with_onvif_mirror(cfg.mqtt.onvif_mirror);
    let settings = publisher_settings(&cfg, link, &topics);
    let drain = Shutdown::new();
    let publisher = tokio::spawn(
        Publisher::new(settings, outbox.clone(), metrics.clone(), None).run(drain.clone()),
    );

    let writer = EventWriter {
        clock: Arc::new(SystemClock::new()),
        outbox: outbox.clone(),
        topics: topics.clone(),
        metrics: metrics.clone(),
        stopping: Shutdown::new(),
        give_up_after: Duration::from_secs(5),
        snapshot_bytes: None,
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

/// `vigia tail` options.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Topic filter, e.g. `<prefix>/#`.
    pub filter: String,
    /// Check every event against the published schema.
    pub check: bool,
    /// Exit after this many distinct events.
    pub count: Option<u64>,
    /// Exit after this long.
    pub duration: Option<Duration>,
    /// Print duplicate deliveries too (marked `"duplicate": true`).
    pub show_duplicates: bool,
}

/// What `vigia tail` saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TailReport {
    /// Messages received (every delivery).
    pub messages: u64,
    /// Distinct events (by `id`).
    pub events: u64,
    /// Deliveries of an event already seen (at-least-once redeliveries).
    pub duplicates: u64,
    /// Events that failed the schema check (with `check`).
    pub invalid: u64,
    /// Messages that are not JSON events (availability, stats).
    pub other: u64,
}

/// Remembers the last `cap` ids seen.
struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
}

impl Seen {
    fn new(cap: usize) -> Self {
        Self {
            set: HashSet::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    /// True when `id` is new.
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.set.insert(id.to_string());
        self.order.push_back(id.to_string());
        true
    }
}

/// Classifies one received message and renders the line to print (if any).
struct Tail {
    validator: Option<jsonschema::Validator>,
    seen: Seen,
    report: TailReport,
    show_duplicates: bool,
}

impl Tail {
    fn new(check: bool) -> Result<Self> {
        let validator = if check {
            let schema: serde_json::Value =
                serde_json::from_str(EVENT_SCHEMA).context("the built-in event schema")?;
            Some(
                jsonschema::validator_for(&schema)
                    .map_err(|e| anyhow::anyhow!("the built-in event schema: {e}"))?,
            )
        } else {
            None
        };
        Ok(Self {
            validator,
            seen: Seen::new(100_000),
            report: TailReport::default(),
            show_duplicates: false,
        })
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], retain: bool) -> Option<String> {
        self.report.messages += 1;
        let value: Option<serde_json::Value> = serde_json::from_slice(payload).ok();
        let id = value
            .as_ref()
            .filter(|v| v.get("schema").and_then(|s| s.as_str()) == Some(vigia_core::SCHEMA))
            .and_then(|v| v.get("id"))
            .and_then(|i| i.as_str())
            .map(str::to_string);
        let mut line = serde_json::Map::new();
        line.insert("topic".into(), topic.into());
        if retain {
            line.insert("retain".into(), true.into());
        }
        match (id, value) {
            (Some(id), Some(v)) => {
                if !self.seen.insert(&id) {
                    self.report.duplicates += 1;
                    if !self.show_duplicates {
                        return None;
                    }
                    line.insert("duplicate".into(), true.into());
                } else {
                    self.report.events += 1;
                }
                if let Some(validator) = &self.validator {
                    let errors: Vec<serde_json::Value> = validator
                        .iter_errors(&v)
                        .map(|e| format!("{}: {e}", e.instance_path()).into())
                        .collect();
                    if !errors.is_empty() {
                        self.report.invalid += 1;
                        line.insert("invalid".into(), errors.into());
                    }
                }
                line.insert("event".into(), v);
            }
            (_, value) => {
                self.report.other += 1;
                match (value, std::str::from_utf8(payload)) {
                    (Some(v), _) => line.insert("payload".into(), v),
                    (None, Ok(text)) => line.insert("payload".into(), text.into()),
                    // Pictures (the snapshot topic) and other binary payloads.
                    (None, Err(_)) => line.insert("payload_bytes".into(), payload.len().into()),
                };
            }
        }
        Some(serde_json::Value::Object(line).to_string())
    }
}

/// Subscribes to the broker `mqtt` names (QoS 1, clean session) and writes one JSON line per
/// message to `out`: `{"topic", "retain"?, "event" | "payload", "invalid"?}`.
pub async fn tail(
    mqtt: MqttConfig,
    opts: TailOptions,
    mut out: Box<dyn Write + Send>,
) -> Result<TailReport> {
    // Without a URL: the node's embedded broker.
    let link: BrokerLink = BrokerLink::from_config(&mqtt)?.unwrap_or_else(|| {
        BrokerLink::plain(
            mqtt.embedded_listen.ip().to_string(),
            mqtt.embedded_listen.port(),
        )
    });
    let filter = opts.filter.clone();
    let mut options = link.options(&format!("vigia-tail-{}", std::process::id()));
    options.set_clean_session(true);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let mut tail = Tail::new(opts.check)?;
    tail.show_duplicates = opts.show_duplicates;
    let deadline = opts
        .duration
        .map(|d| tokio::time::Instant::now() + d)
        .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(100 * 365 * 86_400));
    let mut logged_down = false;
    loop {
        if opts.count.is_some_and(|c| tail.report.events >= c) {
            break;
        }
        let ev = tokio::select! {
            ev = eventloop.poll() => ev,
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        match ev {
            Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                tracing::info!(broker = %link.address(), %filter, "subscribed");
                logged_down = false;
                client
                    .subscribe(filter.clone(), QoS::AtLeastOnce)
                    .await
                    .context("subscribing")?;
            }
            Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                if let Some(line) = tail.on_message(&p.topic, &p.payload, p.retain) {
                    writeln!(out, "{line}")
                        .and_then(|()| out.flush())
                        .context("writing to stdout")?;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if !logged_down {
                    tracing::warn!(broker = %link.address(), error = %e, "cannot reach the broker; retrying");
                    logged_down = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let _ = client.try_disconnect();
    Ok(tail.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_drops_duplicates_and_checks_the_schema() {
        let cfg = Config::tool_defaults();
        let cam = CameraId::new("cam-1").unwrap();
        let e = serde_json::to_vec(&synthetic(&cfg, &cam, 7)).unwrap();
        let mut t = Tail::new(true).unwrap();
        let first = t.on_message("p/cameras/cam-1/objects", &e, false).unwrap();
        assert!(
            first.contains("\"event\"") && !first.contains("invalid"),
            "{first}"
        );
        assert!(t.on_message("p/cameras/cam-1/objects", &e, false).is_none());
        let mut bad: serde_json::Value = serde_json::from_slice(&e).unwrap();
        bad["id"] = "not-a-uuid-but-new".into();
        bad["likelihood"] = 7.into();
        let line = t
            .on_message("p/x", bad.to_string().as_bytes(), false)
            .unwrap();
        assert!(line.contains("invalid"), "{line}");
        let jpeg = t
            .on_message(
                "p/cameras/c/snapshots/x/scene",
                &[0xff, 0xd8, 0xff, 0xe0],
                false,
            )
            .unwrap();
        assert!(jpeg.contains("\"payload_bytes\":4"), "{jpeg}");
        let other = t.on_message("p/available", b"online", true).unwrap();
        assert!(other.contains("\"payload\":\"online\"") && other.contains("retain"));
        assert_eq!(
            (
                t.report.messages,
                t.report.events,
                t.report.duplicates,
                t.report.invalid,
                t.report.other
            ),
            (5, 2, 1, 1, 2)
        );
    }

    #[test]
    fn seen_forgets_the_oldest_beyond_its_capacity() {
        let mut s = Seen::new(2);
        assert!(s.insert("a") && s.insert("b") && !s.insert("a"));
        assert!(s.insert("c"));
        assert!(s.insert("a"), "a was forgotten");
    }
}
