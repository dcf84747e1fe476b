//! `vigia tail`: a subscriber that prints events as they arrive, drops duplicate
//! deliveries by event id, and can check each against the published schema.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use rumqttc::{AsyncClient, Event as MqttEvent, Packet, QoS};
use serde::Serialize;
use vigia_publish::{BrokerLink, MqttConfig};

/// The published event schema (docs/schema), compiled into the binary.
pub const EVENT_SCHEMA: &str = include_str!("../../docs/schema/vigia.event.v1.schema.json");

#[derive(clap::Args)]
pub struct Args {
    /// A node's configuration file (its [mqtt] broker, credentials, TLS and topic
    /// prefix); or give the broker with --url and the options below.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Broker URL (`mqtt://host[:port]`, `mqtts://host[:port]`); overrides the config's.
    #[arg(long)]
    url: Option<String>,
    /// TLS: PEM file of the CA that signed the broker's certificate.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// TLS: client certificate (PEM), with --client-key.
    #[arg(long)]
    client_cert: Option<PathBuf>,
    /// TLS: client key (PEM).
    #[arg(long)]
    client_key: Option<PathBuf>,
    /// Broker user name.
    #[arg(long)]
    username: Option<String>,
    /// Environment variable holding the broker password.
    #[arg(long)]
    password_env: Option<String>,
    /// File holding the broker password.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Topic filter (default `<prefix>/#` with --config, else `sies/#`).
    #[arg(long)]
    topic: Option<String>,
    /// Validate every event against the schema (docs/schema/vigia.event.v1.schema.json).
    #[arg(long)]
    check: bool,
    /// Exit after this many distinct events.
    #[arg(long)]
    count: Option<u64>,
    /// Exit after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
    /// Print duplicate deliveries too, marked `"duplicate": true`.
    #[arg(long)]
    show_duplicates: bool,
}

#[allow(clippy::print_stderr)]
pub fn run(a: Args) -> ExitCode {
    let (mqtt, default_filter) = match broker(&a) {
        Ok(m) => m,
        Err(code) => return code,
    };
    super::quiet_logs();
    let opts = TailOptions {
        filter: a.topic.unwrap_or(default_filter),
        check: a.check,
        count: a.count,
        duration: a.seconds.map(|s| Duration::from_secs_f64(s.max(0.0))),
        show_duplicates: a.show_duplicates,
    };
    let out = Box::new(std::io::stdout());
    super::finish(
        super::block_on(tail(mqtt, opts, out)),
        |r| {
            format!(
                "tail: {} messages, {} events, {} duplicates dropped, {} invalid, {} other",
                r.messages, r.events, r.duplicates, r.invalid, r.other
            )
        },
        |r| r.invalid == 0,
        4,
    )
}

/// The broker settings (the config's, then the flags) and the default topic filter.
#[allow(clippy::print_stderr)]
fn broker(a: &Args) -> Result<(MqttConfig, String), ExitCode> {
    let (mut mqtt, default_filter) = match &a.config {
        Some(path) => {
            let c = super::load_config(Some(path))?;
            (c.mqtt.clone(), format!("{}/#", c.topic_prefix()))
        }
        None if a.url.is_none() => {
            eprintln!("vigia tail: give --config NODE.toml or --url mqtt[s]://host[:port]");
            return Err(ExitCode::from(2));
        }
        None => (MqttConfig::default(), "sies/#".to_string()),
    };
    // Flags win over the config file.
    mqtt.url = a.url.clone().or(mqtt.url.take());
    mqtt.ca_file = a.ca_file.clone().or(mqtt.ca_file.take());
    mqtt.client_cert_file = a.client_cert.clone().or(mqtt.client_cert_file.take());
    mqtt.client_key_file = a.client_key.clone().or(mqtt.client_key_file.take());
    mqtt.username = a.username.clone().or(mqtt.username.take());
    if a.password_env.is_some() || a.password_file.is_some() {
        mqtt.password_env = a.password_env.clone();
        mqtt.password_file = a.password_file.clone();
    }
    let problems = mqtt.validate();
    if !problems.is_empty() {
        for p in problems {
            eprintln!("{}", p.within("mqtt"));
        }
        return Err(ExitCode::from(2));
    }
    Ok((mqtt, default_filter))
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
        let e = crate::cli::loadgen::tests::event(7);
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
