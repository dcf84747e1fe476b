//! Camera identifiers.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A camera identifier. It appears in MQTT topics, metric labels and file names, so it is
/// restricted to ASCII letters, digits, `-` and `_`, 1 to 64 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CameraId(Arc<str>);

/// Why a string is not a valid [`CameraId`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid camera id {0:?}: use 1 to 64 ASCII letters, digits, '-' or '_' (it is used in MQTT topics and metric labels)"
)]
pub struct InvalidCameraId(pub String);

impl CameraId {
    /// Validates and wraps `id`.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidCameraId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(id.into()))
        } else {
            Err(InvalidCameraId(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CameraId {
    type Error = InvalidCameraId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<CameraId> for String {
    fn from(value: CameraId) -> Self {
        value.0.to_string()
    }
}

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CameraId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_topic_safe_ids() {
        assert!(CameraId::new("gate-north_01").is_ok());
        assert!(CameraId::new("a").is_ok());
        assert!(CameraId::new("x".repeat(64)).is_ok());
    }

    #[test]
    fn rejects_ids_that_break_topics_or_labels() {
        for bad in ["", "a/b", "a+b", "a#", "cám", "has space", &"x".repeat(65)] {
            assert!(CameraId::new(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn serde_round_trip_validates() {
        let id: CameraId = serde_json::from_str("\"cam-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"cam-1\"");
        assert!(serde_json::from_str::<CameraId>("\"cam/1\"").is_err());
    }
}
