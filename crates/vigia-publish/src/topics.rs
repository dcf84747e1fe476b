//! The topic layout (event contract v1, see docs/events.md).
//!
//! | topic | what | retain |
//! |---|---|---|
//! | `<p>/available` | `online` / `offline` (LWT) | yes |
//! | `<p>/cameras/<camera>/status` | camera status events | yes |
//! | `<p>/cameras/<camera>/objects` | tracked objects `new` / `end` | no |
//! | `<p>/cameras/<camera>/lpr` | plate reads `new` / `update` / `end` | no |
//! | `<p>/cameras/<camera>/incidents` | incidents `start` / `update` / `end` | no |
//! | `<p>/alerts` | hotlist hits and high-severity incidents, all cameras | no |
//! | `<p>/stats` | periodic node stats (QoS 0, not from the outbox) | no |
//! | `<p>/cameras/<camera>/snapshots/<event id>/<scene\|plate>` | JPEG bytes of an event's pictures (`mqtt.snapshot_topic`) | no |
//! | `<o>/onvif-ej/<ONVIF topic>/&<camera>/<rule>` | ONVIF mirror of plate reads, objects and incidents (`mqtt.onvif_mirror`; `<o>` is `mqtt.onvif_topic_prefix`, default `<p>`) | no |

use vigia_core::{Event, EventPayload};

use crate::error::PublishError;

/// Topic names under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
    /// The ONVIF mirror's prefix, when the mirror is on.
    onvif: Option<String>,
}

impl Topics {
    /// `prefix` must be non-empty, without wildcards (`+`, `#`), NUL, or empty levels.
    pub fn new(prefix: &str) -> Result<Self, PublishError> {
        Self::check(prefix)?;
        Ok(Self {
            prefix: prefix.to_string(),
            onvif: None,
        })
    }

    fn check(prefix: &str) -> Result<(), PublishError> {
        let bad = prefix.is_empty()
            || prefix.starts_with('/')
            || prefix.ends_with('/')
            || prefix.split('/').any(str::is_empty)
            || prefix.contains(['+', '#', '\0']);
        if bad {
            return Err(PublishError::Config(format!(
                "topic prefix {prefix:?}: use levels separated by '/', no empty levels, no '+' or '#'"
            )));
        }
        Ok(())
    }

    /// Also mirror events on ONVIF's topics ([`crate::onvif`]) under `prefix` (`None`: this
    /// layout's prefix), as ONVIF's event broker configuration (`TopicPrefix`) allows.
    pub fn with_onvif_mirror(mut self, prefix: Option<&str>) -> Result<Self, PublishError> {
        let prefix = prefix.unwrap_or(&self.prefix).to_string();
        Self::check(&prefix)?;
        self.onvif = Some(prefix);
        Ok(self)
    }

    /// Whether events are mirrored on ONVIF topics.
    pub fn onvif_mirror(&self) -> bool {
        self.onvif.is_some()
    }

    /// The MQTT topic of an ONVIF mirror message (see [`crate::onvif::mqtt_topic`]).
    pub fn onvif(&self, onvif_topic: &str, camera: &str, rule: &str) -> String {
        let prefix = self.onvif.as_deref().unwrap_or(&self.prefix);
        crate::onvif::mqtt_topic(prefix, onvif_topic, camera, rule)
    }

    /// The default prefix for a site and node: `sies/<site>/<node>`.
    pub fn default_prefix(site: &str, node: &str) -> String {
        format!("sies/{site}/{node}")
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Node availability (`online` / `offline`, retained; `offline` is the LWT).
    pub fn available(&self) -> String {
        format!("{}/available", self.prefix)
    }

    pub fn camera_status(&self, camera: &str) -> String {
        format!("{}/cameras/{camera}/status", self.prefix)
    }

    pub fn objects(&self, camera: &str) -> String {
        format!("{}/cameras/{camera}/objects", self.prefix)
    }

    pub fn lpr(&self, camera: &str) -> String {
        format!("{}/cameras/{camera}/lpr", self.prefix)
    }

    pub fn incidents(&self, camera: &str) -> String {
        format!("{}/cameras/{camera}/incidents", self.prefix)
    }

    /// Hotlist hits and high-priority incidents of every camera.
    pub fn alerts(&self) -> String {
        format!("{}/alerts", self.prefix)
    }

    /// An event's picture as JPEG bytes: `image` is `scene` or `plate`.
    pub fn snapshot(&self, camera: &str, event_id: &str, image: &str) -> String {
        format!(
            "{}/cameras/{camera}/snapshots/{event_id}/{image}",
            self.prefix
        )
    }

    /// Periodic node stats (QoS 0).
    pub fn stats(&self) -> String {
        format!("{}/stats", self.prefix)
    }

    /// Topic and retain flag for an event.
    pub fn for_event(&self, event: &Event) -> (String, bool) {
        let camera = event.camera.as_ref().map_or("-", |c| c.as_str());
        match &event.payload {
            EventPayload::Object(_) => (self.objects(camera), false),
            EventPayload::CameraStatus(_) => (self.camera_status(camera), true),
            EventPayload::Lpr(_) => (self.lpr(camera), false),
            EventPayload::Incident(_) => (self.incidents(camera), false),
            EventPayload::Alert(_) => (self.alerts(), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_prefix_rules() {
        let t = Topics::new("sies/medellin/edge-01").unwrap();
        assert_eq!(t.available(), "sies/medellin/edge-01/available");
        assert_eq!(
            t.objects("cam-1"),
            "sies/medellin/edge-01/cameras/cam-1/objects"
        );
        assert_eq!(
            t.camera_status("cam-1"),
            "sies/medellin/edge-01/cameras/cam-1/status"
        );
        for bad in ["", "/a", "a/", "a//b", "a/+", "a/#"] {
            assert!(Topics::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Topics::default_prefix("s", "n"), "sies/s/n");
    }
}
