//! The outbox record: what to publish, stored before it is published.
//!
//! ```text
//! version u8 (1) | flags u8 (bit 0: retain) | topic_len u16 | topic | kind_len u8 | kind
//! | created_ms i64 | payload (rest)
//! version u8 (2) | ... as version 1 ... | created_ms i64 | frame_ms i64 | payload (rest)
//! ```
//! Version 2 is written only for messages that carry `frame_ms` (events made from a frame),
//! so records without it stay readable by older versions.
//! The topic is stored, not recomputed, so a record replayed after a restart goes where it
//! was meant to go even if the configuration changed meanwhile.

use chrono::Utc;
use vigia_core::Event;

use crate::PublishError;
use crate::topics::Topics;

const VERSION: u8 = 1;
/// Records with `frame_ms`.
const VERSION_FRAME: u8 = 2;

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub topic: String,
    pub retain: bool,
    /// The event `type` (for metrics and logs).
    pub kind: String,
    /// Creation time, Unix milliseconds (for the delivery-latency metric).
    pub created_ms: i64,
    /// When the frame the event was made from reached vigia, Unix milliseconds (for the
    /// frame-to-PUBACK latency metric); `None` for messages not made from a frame.
    pub frame_ms: Option<i64>,
    pub payload: Vec<u8>,
}

impl OutboxMessage {
    /// The message for an event: JSON payload, topic and retain flag from the layout.
    pub fn from_event(topics: &Topics, event: &Event) -> Self {
        let (topic, retain) = topics.for_event(event);
        Self {
            topic,
            retain,
            kind: event.kind().to_string(),
            created_ms: Utc::now().timestamp_millis(),
            frame_ms: None,
            payload: serde_json::to_vec(event).expect("events serialise"),
        }
    }

    /// Every message to store for an event: the event itself, then its ONVIF mirror
    /// when the layout asks for one.
    pub fn for_event(topics: &Topics, event: &Event) -> Vec<Self> {
        let main = Self::from_event(topics, event);
        let mut out = Vec::with_capacity(2);
        if topics.onvif_mirror()
            && let Some(mirror) = crate::onvif::mirror(event)
        {
            let created_ms = main.created_ms;
            out.push(main);
            out.push(Self {
                topic: topics.onvif(mirror.onvif_topic, &mirror.camera, &mirror.rule),
                retain: false,
                kind: crate::onvif::KIND.to_string(),
                created_ms,
                frame_ms: None,
                payload: serde_json::to_vec(&mirror.payload).expect("JSON values serialise"),
            });
        } else {
            out.push(main);
        }
        out
    }

    pub fn encode(&self) -> Vec<u8> {
        let kind = &self.kind.as_bytes()[..self.kind.len().min(255)];
        let mut b = Vec::with_capacity(13 + self.topic.len() + kind.len() + self.payload.len());
        b.push(match self.frame_ms {
            Some(_) => VERSION_FRAME,
            None => VERSION,
        });
        b.push(u8::from(self.retain));
        b.extend_from_slice(&(self.topic.len() as u16).to_le_bytes());
        b.extend_from_slice(self.topic.as_bytes());
        b.push(kind.len() as u8);
        b.extend_from_slice(kind);
        b.extend_from_slice(&self.created_ms.to_le_bytes());
        if let Some(f) = self.frame_ms {
            b.extend_from_slice(&f.to_le_bytes());
        }
        b.extend_from_slice(&self.payload);
        b
    }

    /// Decodes a record; fails on one written by an incompatible version or cut short.
    pub fn decode(bytes: &[u8]) -> Result<Self, PublishError> {
        Self::read(bytes).map_err(PublishError::RecordFormat)
    }

    fn read(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION && version != VERSION_FRAME {
            return Err(format!("unknown record version {version}"));
        }
        let flags = r.u8()?;
        let tlen = u16::from_le_bytes(r.take(2)?.try_into().expect("2 bytes")) as usize;
        let topic = String::from_utf8(r.take(tlen)?.to_vec()).map_err(|_| "topic is not UTF-8")?;
        let klen = r.u8()? as usize;
        let kind = String::from_utf8(r.take(klen)?.to_vec()).map_err(|_| "kind is not UTF-8")?;
        let created_ms = r.i64()?;
        let frame_ms = match version {
            VERSION_FRAME => Some(r.i64()?),
            _ => None,
        };
        Ok(Self {
            topic,
            retain: flags & 1 == 1,
            kind,
            created_ms,
            frame_ms,
            payload: r.0.to_vec(),
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("record truncated".to_string());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let m = OutboxMessage {
            topic: "sies/a/b/cameras/c/status".into(),
            retain: true,
            kind: "camera_status".into(),
            created_ms: 1_700_000_000_123,
            frame_ms: None,
            payload: b"{\"x\":1}".to_vec(),
        };
        let enc = m.encode();
        assert_eq!(enc[0], 1, "no frame time: version 1, as before");
        assert_eq!(OutboxMessage::decode(&enc).unwrap(), m);
        let framed = OutboxMessage {
            frame_ms: Some(1_700_000_000_001),
            ..m.clone()
        };
        let enc2 = framed.encode();
        assert_eq!(enc2[0], 2);
        assert_eq!(OutboxMessage::decode(&enc2).unwrap(), framed);
        assert!(OutboxMessage::decode(&enc2[..enc2.len() - m.payload.len() - 1]).is_err());
        assert!(OutboxMessage::decode(&enc[..5]).is_err());
        let mut bad = enc.clone();
        bad[0] = 9;
        assert!(
            OutboxMessage::decode(&bad)
                .unwrap_err()
                .to_string()
                .contains("version")
        );
    }
}
