//! [`Publisher`]: outbox → MQTT (QoS 1), acknowledging outbox records on PUBACK.
//!
//! PUBACK matching: rumqttc's `publish()` does not return the packet id. The event loop
//! emits exactly one `Outgoing::Publish(pkid)` (pkid ≠ 0) per QoS 1 request, in request
//! order, when the packet is written; the publisher keeps a FIFO of what it requested and
//! pairs each such event with the head of that FIFO. A `PubAck(pkid)` then names the outbox
//! record to acknowledge. "Handed to the client library" never counts as delivered.
//!
//! Reconnects: on any connection error the publisher forgets everything in flight (and
//! clears rumqttc's own retransmission queue, so there is one source of truth: the outbox),
//! and after the next CONNACK publishes again from the oldest unacknowledged record. A
//! record whose PUBACK was lost is therefore published twice; its event `id` lets the
//! center drop the duplicate (at-least-once delivery, ordered per camera).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, QoS,
};
use tokio::sync::mpsc;
use vigia_core::Shutdown;
use vigia_outbox::Outbox;
use vigia_telemetry::Metrics;

use crate::link::BrokerLink;
use crate::record::OutboxMessage;

/// Connection settings, resolved from [`crate::MqttConfig`].
#[derive(Debug, Clone)]
pub struct PublisherSettings {
    pub broker: BrokerLink,
    pub client_id: String,
    pub keep_alive: Duration,
    pub inflight_window: u16,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// The availability topic (retained `online`; `offline` as LWT and on clean shutdown).
    pub available_topic: String,
    pub drain_timeout: Duration,
}

/// A record the broker acknowledged.
#[derive(Debug, Clone)]
pub struct AckedMessage {
    pub seq: u64,
    pub topic: String,
    pub kind: String,
    pub payload: Vec<u8>,
    /// From creation to PUBACK.
    pub latency: Duration,
}

enum Pending {
    Record {
        seq: u64,
        msg: OutboxMessage,
    },
    /// The availability message (not from the outbox).
    Control,
}

/// A message published at QoS 0 and not kept anywhere (node stats): sent when connected,
/// otherwise waits in its (small) channel to be replaced by a newer one.
#[derive(Debug, Clone)]
pub struct Ephemeral {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// Publishes the outbox. Run it with [`Publisher::run`].
pub struct Publisher {
    settings: PublisherSettings,
    outbox: Arc<Outbox>,
    metrics: Arc<Metrics>,
    acked: Option<mpsc::Sender<AckedMessage>>,
    ephemeral: Option<mpsc::Receiver<Ephemeral>>,
}

struct Conn {
    client: AsyncClient,
    eventloop: EventLoop,
    connected: bool,
    /// Requested, waiting for their `Outgoing::Publish`.
    requested: VecDeque<Pending>,
    /// Written, waiting for their PUBACK.
    inflight: HashMap<u16, Pending>,
    /// Last outbox seq requested on this connection.
    cursor: Option<u64>,
    /// Acknowledged by the broker (or undecodable), not yet recorded in the outbox.
    acked: Vec<(u64, Option<OutboxMessage>)>,
}

impl Conn {
    fn in_flight(&self) -> usize {
        self.requested.len() + self.inflight.len()
    }

    /// Forgets everything in flight; the outbox still holds it. All of rumqttc's state goes
    /// too: its buffered events (an `Outgoing::Publish` queued before the connection broke
    /// would otherwise be paired with the next request and shift every PUBACK onto the
    /// wrong record), the collision slot, the packet ids and the inflight count.
    fn reset(&mut self) {
        self.connected = false;
        let max_inflight = self.eventloop.mqtt_options.inflight();
        self.eventloop.state = rumqttc::MqttState::new(max_inflight, false);
        self.eventloop.pending.clear();
        self.requested.clear();
        self.inflight.clear();
        self.cursor = None;
    }
}

impl Publisher {
    /// `acked` (optional) receives every acknowledged record; it is bounded and never
    /// blocks the publisher (notifications are dropped if the receiver lags).
    pub fn new(
        settings: PublisherSettings,
        outbox: Arc<Outbox>,
        metrics: Arc<Metrics>,
        acked: Option<mpsc::Sender<AckedMessage>>,
    ) -> Self {
        Self {
            settings,
            outbox,
            metrics,
            acked,
            ephemeral: None,
        }
    }

    /// Also publishes what arrives on `rx` at QoS 0, while connected.
    pub fn with_ephemeral(mut self, rx: mpsc::Receiver<Ephemeral>) -> Self {
        self.ephemeral = Some(rx);
        self
    }

    fn options(&self) -> MqttOptions {
        let s = &self.settings;
        let mut o = s.broker.options(&s.client_id);
        o.set_keep_alive(s.keep_alive);
        // A persistent session with a stable client id.
        o.set_clean_session(false);
        o.set_inflight(s.inflight_window.saturating_add(1));
        o.set_last_will(LastWill::new(
            &s.available_topic,
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        o
    }

    /// Runs until `drain` is cancelled and then until the outbox is empty (or the drain
    /// timeout passes, or the broker is unreachable); then says `offline` and disconnects.
    pub async fn run(mut self, drain: Shutdown) {
        let mut ephemeral = self.ephemeral.take();
        let window = usize::from(self.settings.inflight_window);
        let (client, eventloop) = AsyncClient::new(self.options(), window * 2 + 16);
        let mut conn = Conn {
            client,
            eventloop,
            connected: false,
            requested: VecDeque::new(),
            inflight: HashMap::new(),
            cursor: None,
            acked: Vec::new(),
        };
        let mut appended = self.outbox.subscribe();
        let mut appended_open = true;
        let mut backoff = self.settings.min_backoff;
        let mut draining: Option<tokio::time::Instant> = None;
        let mut logged_down = false;
        loop {
            if conn.connected {
                self.fill(&mut conn, window).await;
                self.record_acks(&mut conn).await;
            }
            if let Some(deadline) = draining {
                let empty = self.outbox.pending() == 0 && conn.in_flight() == 0;
                if !conn.connected || empty || tokio::time::Instant::now() >= deadline {
                    break;
                }
            }
            let drain_deadline =
                draining.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                ev = conn.eventloop.poll() => match ev {
                    Ok(ev) => {
                        if self.on_event(&mut conn, ev) {
                            backoff = self.settings.min_backoff;
                            logged_down = false;
                        }
                        self.record_acks(&mut conn).await;
                    }
                    Err(e) => {
                        let was = conn.connected;
                        conn.reset();
                        self.metrics.mqtt_connected.set(0);
                        self.metrics.mqtt_connection_errors.inc();
                        if was || !logged_down {
                            tracing::warn!(
                                broker = %self.settings.broker.address(),
                                error = %describe(&e),
                                pending = self.outbox.pending(),
                                "MQTT connection lost or refused; events wait in the outbox"
                            );
                            logged_down = true;
                        }
                        if draining.is_some() {
                            break;
                        }
                        let wait = backoff.mul_f64(0.8 + fastrand::f64() * 0.4);
                        backoff = (backoff * 2).min(self.settings.max_backoff);
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = drain.cancelled() => break,
                        }
                    }
                },
                r = appended.changed(), if appended_open && conn.connected => {
                    if r.is_err() { appended_open = false; }
                }
                m = recv_ephemeral(&mut ephemeral), if conn.connected && ephemeral.is_some() => {
                    match m {
                        // QoS 0: its `Outgoing::Publish` carries pkid 0 and is not paired.
                        Some(m) => {
                            let _ = conn.client.try_publish(m.topic, QoS::AtMostOnce, false, m.payload);
                        }
                        None => ephemeral = None,
                    }
                }
                _ = drain.cancelled(), if draining.is_none() => {
                    draining = Some(tokio::time::Instant::now() + self.settings.drain_timeout);
                }
                _ = tokio::time::sleep_until(drain_deadline), if draining.is_some() => {}
            }
        }
        self.say_offline(&mut conn).await;
    }

    /// Requests publishes from the outbox until the window is full. Outbox reads run off
    /// the async threads (the outbox lock may be held by an append in `fdatasync`).
    async fn fill(&self, conn: &mut Conn, window: usize) {
        while conn.in_flight() < window {
            let want = window - conn.in_flight();
            let (outbox, cursor) = (self.outbox.clone(), conn.cursor);
            let read = tokio::task::spawn_blocking(move || outbox.read_after(cursor, want)).await;
            let records = match read {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "reading the outbox failed");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading the outbox failed");
                    return;
                }
            };
            if records.is_empty() {
                return;
            }
            for rec in records {
                conn.cursor = Some(rec.seq);
                let msg = match OutboxMessage::decode(&rec.payload) {
                    Ok(m) => m,
                    Err(e) => {
                        // Checksummed but not a record we can read (written by an
                        // incompatible version): report it and drop it rather than block
                        // everything behind it.
                        tracing::error!(seq = rec.seq, error = %e, "undecodable outbox record dropped");
                        conn.acked.push((rec.seq, None));
                        continue;
                    }
                };
                if let Err(e) = conn.client.try_publish(
                    msg.topic.clone(),
                    QoS::AtLeastOnce,
                    msg.retain,
                    msg.payload.clone(),
                ) {
                    // Cannot happen with the channel sized above the window; if it does,
                    // the record stays in the outbox and is retried after a reconnect.
                    tracing::error!(error = %e, "MQTT request queue refused a publish");
                    return;
                }
                conn.requested
                    .push_back(Pending::Record { seq: rec.seq, msg });
            }
        }
    }

    /// Handles one event; returns true when a connection was (re)established.
    fn on_event(&self, conn: &mut Conn, ev: Event) -> bool {
        match ev {
            Event::Incoming(Packet::ConnAck(ack)) => {
                conn.reset();
                conn.connected = true;
                self.metrics.mqtt_connected.set(1);
                tracing::info!(
                    broker = %self.settings.broker.address(),
                    session_present = ack.session_present,
                    pending = self.outbox.pending(),
                    "connected to MQTT broker"
                );
                match conn.client.try_publish(
                    self.settings.available_topic.clone(),
                    QoS::AtLeastOnce,
                    true,
                    "online",
                ) {
                    Ok(()) => conn.requested.push_back(Pending::Control),
                    Err(e) => tracing::warn!(error = %e, "could not publish availability"),
                }
                return true;
            }
            Event::Outgoing(Outgoing::Publish(pkid)) if pkid != 0 => {
                match conn.requested.pop_front() {
                    Some(p) => {
                        conn.inflight.insert(pkid, p);
                    }
                    None => tracing::error!(pkid, "publish written that vigia did not request"),
                }
            }
            Event::Incoming(Packet::PubAck(ack)) => match conn.inflight.remove(&ack.pkid) {
                Some(Pending::Record { seq, msg }) => conn.acked.push((seq, Some(msg))),
                Some(Pending::Control) => {}
                None => tracing::warn!(pkid = ack.pkid, "PUBACK for an unknown packet id"),
            },
            _ => {}
        }
        false
    }

    /// Records the acknowledgements in the outbox (off the async threads: an ack may
    /// compact the ledger with fsyncs), then reports each delivered message.
    async fn record_acks(&self, conn: &mut Conn) {
        if conn.acked.is_empty() {
            return;
        }
        let acked = std::mem::take(&mut conn.acked);
        let seqs: Vec<u64> = acked.iter().map(|(seq, _)| *seq).collect();
        let outbox = self.outbox.clone();
        let recorded = tokio::task::spawn_blocking(move || {
            for seq in seqs {
                if let Err(e) = outbox.ack(seq) {
                    tracing::error!(seq, error = %e, "recording an acknowledgement failed; the event may be sent again");
                }
            }
        })
        .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, "recording acknowledgements failed; the events may be sent again");
        }
        for (seq, msg) in acked {
            if let Some(msg) = msg {
                self.acknowledged(seq, msg);
            }
        }
    }

    fn acknowledged(&self, seq: u64, msg: OutboxMessage) {
        self.metrics.outbox_depth.set(self.outbox.pending() as i64);
        self.metrics.outbox_bytes.set(self.outbox.bytes() as i64);
        self.metrics
            .events_published
            .with_label_values(&[msg.kind.as_str()])
            .inc();
        let latency_ms = (chrono::Utc::now().timestamp_millis() - msg.created_ms).max(0) as u64;
        let latency = Duration::from_millis(latency_ms);
        self.metrics
            .event_delivery_seconds
            .observe(latency.as_secs_f64());
        if let Some(f) = msg.frame_ms {
            let now = chrono::Utc::now().timestamp_millis();
            self.metrics
                .frame_to_puback_seconds
                .observe((now - f).max(0) as f64 / 1e3);
        }
        if let Some(tx) = &self.acked {
            let _ = tx.try_send(AckedMessage {
                seq,
                topic: msg.topic,
                kind: msg.kind,
                payload: msg.payload,
                latency,
            });
        }
    }

    /// Clean shutdown: retained `offline`, then DISCONNECT (no LWT is sent then).
    async fn say_offline(&self, conn: &mut Conn) {
        if !conn.connected {
            return;
        }
        let _ = conn.client.try_publish(
            self.settings.available_topic.clone(),
            QoS::AtLeastOnce,
            true,
            "offline",
        );
        let _ = conn.client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match conn.eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        self.metrics.mqtt_connected.set(0);
    }
}

async fn recv_ephemeral(rx: &mut Option<mpsc::Receiver<Ephemeral>>) -> Option<Ephemeral> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => {
            format!("broker refused the connection: {code:?}")
        }
        other => other.to_string(),
    }
}
