//! The delivery end of the node, shared with `vigia loadgen`: the outbox, the broker link
//! (or the embedded broker) and the publisher's settings.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use vigia_outbox::Outbox;
use vigia_publish::{BrokerLink, PublisherSettings, Topics};
use vigia_telemetry::Metrics;

use crate::config::Config;

/// Opens the outbox named by the configuration, reporting skipped corrupt bytes.
pub fn open_outbox(cfg: &Config, metrics: &Metrics) -> Result<Arc<Outbox>> {
    let outbox_dir = cfg.outbox_dir();
    let (outbox, report) = Outbox::open(&outbox_dir, &cfg.outbox)
        .with_context(|| format!("opening the outbox in {}", outbox_dir.display()))?;
    for c in &report.corrupt {
        tracing::warn!(file = %c.file.display(), offset = c.offset, len = c.len, "outbox: skipped torn or corrupt bytes");
    }
    metrics
        .outbox_corrupt_regions
        .inc_by(report.corrupt.len() as u64);
    tracing::info!(
        dir = %outbox_dir.display(),
        pending = report.pending,
        fsync = ?cfg.outbox.fsync,
        "outbox open; unacknowledged events will be published first"
    );
    metrics.outbox_depth.set(outbox.pending() as i64);
    Ok(Arc::new(outbox))
}

/// The configured broker, or the embedded one (started here) when none is configured.
pub async fn broker_link(cfg: &Config) -> Result<BrokerLink> {
    Ok(match BrokerLink::from_config(&cfg.mqtt)? {
        Some(link) => link,
        None => {
            let listen = cfg.mqtt.embedded_listen;
            let b =
                tokio::task::spawn_blocking(move || vigia_publish::broker::start(listen)).await??;
            BrokerLink::plain("127.0.0.1", b.addr.port())
        }
    })
}

/// The topic layout of `cfg`.
pub fn topics(cfg: &Config) -> Result<Topics> {
    let topics = Topics::new(&cfg.topic_prefix())?;
    Ok(match cfg.mqtt.onvif_mirror {
        true => topics.with_onvif_mirror(cfg.mqtt.onvif_topic_prefix.as_deref())?,
        false => topics,
    })
}

/// Publisher settings from `[mqtt]`.
pub fn publisher_settings(cfg: &Config, link: BrokerLink, topics: &Topics) -> PublisherSettings {
    PublisherSettings {
        broker: link,
        client_id: cfg.client_id(),
        keep_alive: Duration::from_secs(cfg.mqtt.keep_alive_secs),
        inflight_window: cfg.mqtt.inflight_window,
        min_backoff: Duration::from_millis(cfg.mqtt.reconnect_min_backoff_ms),
        max_backoff: Duration::from_secs(cfg.mqtt.reconnect_max_backoff_secs)
            .max(Duration::from_millis(cfg.mqtt.reconnect_min_backoff_ms)),
        available_topic: topics.available(),
        drain_timeout: Duration::from_secs(cfg.mqtt.drain_timeout_secs),
    }
}
