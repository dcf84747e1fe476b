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
//! | `<p>/onvif-ej/RuleEngine/LicensePlateDetector/LicensePlate/&<camera>` | ONVIF-style mirror of plate reads (`mqtt.onvif_mirror`) | no |

use vigia_core::{Event, EventPayload};

use crate::error::PublishError;

/// Topic names under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
    onvif_mirror: bool,
}

impl Topics {
    /// `prefix` must be non-empty, without wildcards (`+`, `#`), NUL, or empty levels.
    pub fn new(prefix: &str) -> Result<Self, PublishError> {
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
        Ok(Self {
            prefix: prefix.to_string(),
            onvif_mirror: false,
        })
    }

    /// Also mirror plate reads in ONVIF Profile M style ([`crate::onvif`]).
    pub fn with_onvif_mirror(mut self, on: bool) -> Self {
        self.onvif_mirror = on;
        self
    }

    /// Whether plate reads are mirrored in ONVIF style.
    pub fn onvif_mirror(&self) -> bool {
        self.onvif_mirror
    }

    /// The ONVIF-style mirror topic of a camera's plate reads.
    pub fn onvif_lpr(&self, camera: &str) -> String {
        crate::onvif::topic(&self.prefix, camera)
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
