//! Publishing to the monitoring center over MQTT.
//!
//! - [`config`]: the `[mqtt]` section and broker URLs.
//! - [`topics`]: the topic layout of the event contract.
//! - [`record`]: the outbox record format (topic, retain flag, type, creation time, payload).
//! - [`publisher`]: [`Publisher`], which publishes outbox records with QoS 1 and deletes
//!   each from the outbox only when the broker's PUBACK for it arrived.
//! - [`link`]: [`BrokerLink`], address + credentials + TLS of a broker.
//! - [`tls`]: MQTT over TLS (rustls): broker verification, client certificates.
//! - [`onvif`]: the optional ONVIF Profile M style mirror of plate reads.
//! - [`broker`]: the embedded broker (rumqttd) used when no broker URL is configured.
//! - [`error`]: the crate's error type.

pub mod broker;
pub mod config;
pub mod error;
pub mod link;
pub mod onvif;
pub mod publisher;
pub mod record;
pub mod tls;
pub mod topics;

pub use config::{BrokerUrl, MqttConfig};
pub use error::PublishError;
pub use link::BrokerLink;
pub use publisher::{AckedMessage, Ephemeral, Publisher, PublisherSettings};
pub use record::OutboxMessage;
pub use tls::TlsFiles;
pub use topics::Topics;
