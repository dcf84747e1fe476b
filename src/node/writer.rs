//! The node's [`EventSink`]: events into the durable outbox, as the messages the publisher
//! sends (the event, its ONVIF mirror, its pictures on the snapshot topic).

use std::sync::Arc;
use std::time::{Duration, Instant};

use vigia_analytics::{EventSink, SnapshotStore};
use vigia_core::{Event, EventPayload, Shutdown};
use vigia_outbox::{Outbox, OutboxError};
use vigia_publish::{OutboxMessage, Topics};
use vigia_telemetry::Metrics;

use super::console::feed::EventFeed;

/// Writes events to the outbox. When the outbox is full (disk budget) or failing, it waits
/// and retries: nothing accepted is dropped, and the wait stalls analysis, so new frames are
/// dropped (and counted) at the frame hub instead — back-pressure, not loss. Only during
/// shutdown does it give up after `give_up_after`, logging the event it could not store.
pub struct EventWriter {
    pub outbox: Arc<Outbox>,
    pub topics: Topics,
    pub metrics: Arc<Metrics>,
    pub stopping: Shutdown,
    pub give_up_after: Duration,
    /// With `mqtt.snapshot_topic`: the store whose pictures are published as bytes too.
    pub snapshot_bytes: Option<Arc<SnapshotStore>>,
    /// The web console's live feed: each event once the outbox holds it.
    pub feed: Option<Arc<EventFeed>>,
}

impl EventSink for EventWriter {
    fn write(&self, event: &Event, frame_received: Option<Instant>) {
        // A record given up (only while stopping) is logged by `store`.
        let _ = EventWriter::write_from(self, event, frame_received);
    }
}

impl EventWriter {
    /// Stores `event` (and its ONVIF mirror when configured); returns the event's
    /// outbox seq, or `None` when it had to be given up (only while shutting down with the
    /// outbox refusing it).
    pub fn write(&self, event: &Event) -> Option<u64> {
        self.write_from(event, None)
    }

    /// [`EventWriter::write`] for an event made from a frame that reached vigia at
    /// `frame_received`: observes the frame-to-event lag, and stores the frame's time with
    /// the event's message for the frame-to-PUBACK lag.
    pub fn write_from(&self, event: &Event, frame_received: Option<Instant>) -> Option<u64> {
        let mut msgs = OutboxMessage::for_event(&self.topics, event);
        // The event's own message (the first) carries its frame's time.
        if let (Some(main), Some(r)) = (msgs.first_mut(), frame_received) {
            main.frame_ms = Some(main.created_ms - r.elapsed().as_millis() as i64);
        }
        let mut first = None;
        for msg in msgs {
            let seq = self.store(&msg.encode(), &msg.kind, event)?;
            if first.is_none()
                && let Some(feed) = &self.feed
            {
                feed.push(&msg.topic, &msg.payload);
            }
            if first.is_none()
                && let Some(r) = frame_received
            {
                self.metrics
                    .frame_to_event_seconds
                    .observe(r.elapsed().as_secs_f64());
            }
            first.get_or_insert(seq);
        }
        if let Some(store) = &self.snapshot_bytes {
            for msg in self.pictures(store, event) {
                // A picture that cannot be stored does not hold back the events after it.
                let _ = self.store(&msg.encode(), &msg.kind, event);
            }
        }
        first
    }

    /// The JPEG pictures of an `lpr` or `incident` event as messages for the snapshot topic.
    fn pictures(&self, store: &SnapshotStore, event: &Event) -> Vec<OutboxMessage> {
        let media = match &event.payload {
            EventPayload::Lpr(l) => l.media.as_ref(),
            EventPayload::Incident(i) => i.media.as_ref(),
            _ => None,
        };
        let Some(media) = media else {
            return Vec::new();
        };
        let camera = event.camera.as_ref().map_or("-", |c| c.as_str());
        let id = event.id.to_string();
        let created_ms = chrono::Utc::now().timestamp_millis();
        [("scene", Some(&media.snapshot_url)), ("plate", media.plate_crop_url.as_ref())]
            .into_iter()
            .filter_map(|(image, url)| {
                let path = store.resolve_url(url?)?;
                match std::fs::read(&path) {
                    Ok(bytes) => Some(OutboxMessage {
                        topic: self.topics.snapshot(camera, &id, image),
                        retain: false,
                        kind: "snapshot".to_string(),
                        created_ms,
                        frame_ms: None,
                        payload: bytes,
                    }),
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "snapshot not published: cannot read it");
                        None
                    }
                }
            })
            .collect()
    }

    fn store(&self, record: &[u8], kind: &str, event: &Event) -> Option<u64> {
        let mut warned = false;
        let mut stopping_since: Option<Instant> = None;
        loop {
            let t = Instant::now();
            match self.outbox.append(record) {
                Ok(seq) => {
                    self.metrics
                        .outbox_append_seconds
                        .observe(t.elapsed().as_secs_f64());
                    self.metrics.events_created.with_label_values(&[kind]).inc();
                    self.metrics.outbox_depth.set(self.outbox.pending() as i64);
                    self.metrics.outbox_bytes.set(self.outbox.bytes() as i64);
                    if warned {
                        self.metrics.outbox_full.set(0);
                        tracing::info!("outbox accepts events again");
                    }
                    return Some(seq);
                }
                Err(e @ OutboxError::TooLarge { .. }) => {
                    // Permanent: waiting would not help.
                    tracing::error!(error = %e, kind, "record not stored");
                    return None;
                }
                Err(e) => {
                    if !warned {
                        if e.is_back_pressure() {
                            self.metrics.outbox_full.set(1);
                        }
                        tracing::error!(error = %e, "cannot store events; analysis waits (frames are dropped meanwhile)");
                        warned = true;
                    }
                    if self.stopping.is_cancelled() {
                        let since = *stopping_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= self.give_up_after {
                            tracing::error!(
                                event = %serde_json::to_string(event).unwrap_or_default(),
                                "shutting down with the outbox unable to store this event; it is lost"
                            );
                            return None;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}
