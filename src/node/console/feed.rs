//! The console's live event feed: every event the node stored in its outbox, as the center
//! receives it (topic and JSON payload), fanned out to the console's server-sent-event
//! streams, with the last [`KEEP`] kept for a console that opens later.
//!
//! The feed is fed after the outbox accepted the event, so what the console shows was
//! accepted for delivery; it never holds back the writer (a slow browser misses events
//! and is told how many, it does not slow analysis).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast;
use vigia_core::Shutdown;

/// Events kept for a console that connects later.
pub const KEEP: usize = 200;

/// One stored event.
#[derive(Debug)]
pub struct FeedItem {
    /// Increasing over the node's life (the SSE event id).
    pub seq: u64,
    pub topic: String,
    /// The event's JSON, as published.
    pub json: String,
}

/// The feed: a broadcast channel and the last [`KEEP`] events.
pub struct EventFeed {
    tx: broadcast::Sender<Arc<FeedItem>>,
    recent: Mutex<(u64, VecDeque<Arc<FeedItem>>)>,
}

impl Default for EventFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl EventFeed {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
            recent: Mutex::new((0, VecDeque::with_capacity(KEEP))),
        }
    }

    /// An event the outbox accepted (called by the event writer, on the analytics thread).
    pub fn push(&self, topic: &str, payload: &[u8]) {
        let Ok(json) = std::str::from_utf8(payload) else {
            return;
        };
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.0 += 1;
        let item = Arc::new(FeedItem {
            seq: recent.0,
            topic: topic.to_string(),
            json: json.to_string(),
        });
        if recent.1.len() == KEEP {
            recent.1.pop_front();
        }
        recent.1.push_back(item.clone());
        // Sent under the lock, so a new subscriber sees each event once: in the recent
        // list or on the channel.
        let _ = self.tx.send(item);
    }

    /// The recent events and a receiver of the ones after them.
    pub fn subscribe(&self) -> (Vec<Arc<FeedItem>>, broadcast::Receiver<Arc<FeedItem>>) {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        (recent.1.iter().cloned().collect(), self.tx.subscribe())
    }

    /// The server-sent-event stream: the recent events, then each new one (`event: vigia`,
    /// `id: <seq>`, `data: {"topic":…,"event":…}`); a console too slow to keep up gets an
    /// `event: lagged` with how many it missed. The stream ends when `until` is cancelled
    /// (the node stopping: an open console must not hold the HTTP server's shutdown).
    pub fn sse(
        &self,
        until: Shutdown,
    ) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>> {
        let (recent, rx) = self.subscribe();
        let backlog = futures_util::stream::iter(recent.into_iter().map(|i| Ok(sse_event(&i))));
        let live = futures_util::stream::unfold(rx, |mut rx| async move {
            let next = match rx.recv().await {
                Ok(item) => sse_event(&item),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    SseEvent::default().event("lagged").data(n.to_string())
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(next), rx))
        });
        let stream = backlog.chain(live).take_until(until.cancelled_owned());
        Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}

fn sse_event(item: &FeedItem) -> SseEvent {
    // The payload is JSON already: wrap it without parsing it again.
    let topic = serde_json::Value::from(item.topic.as_str());
    SseEvent::default()
        .event("vigia")
        .id(item.seq.to_string())
        .data(format!("{{\"topic\":{topic},\"event\":{}}}", item.json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_gets_the_recent_events_then_the_new_ones() {
        let feed = EventFeed::new();
        for i in 0..(KEEP + 5) {
            feed.push(
                "vigia/s/n/events/object",
                format!("{{\"n\":{i}}}").as_bytes(),
            );
        }
        let (recent, mut rx) = feed.subscribe();
        assert_eq!(recent.len(), KEEP);
        assert_eq!(recent[0].json, "{\"n\":5}");
        assert_eq!(recent.last().map(|i| i.seq), Some(KEEP as u64 + 5));
        feed.push("t", b"{\"n\":\"new\"}");
        let next = rx.try_recv().unwrap();
        assert_eq!(
            (next.seq, next.json.as_str()),
            (KEEP as u64 + 6, "{\"n\":\"new\"}")
        );
        // Not UTF-8: not shown (events are JSON; nothing else is fed).
        feed.push("t", &[0xff, 0xfe]);
        assert!(rx.try_recv().is_err());
    }
}
