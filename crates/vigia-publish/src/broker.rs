//! The embedded MQTT broker (rumqttd), for the demo and single-node setups with no broker.
//!
//! rumqttd has no shutdown API: the broker runs on its own threads until the process ends.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

use crate::error::PublishError;

/// A running embedded broker.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedBroker {
    pub addr: SocketAddr,
}

/// Starts the broker on `listen` (port 0 picks a free port) and waits until it accepts
/// connections.
pub fn start(listen: SocketAddr) -> Result<EmbeddedBroker, PublishError> {
    let err = |message: String| PublishError::Broker {
        listen: listen.to_string(),
        message,
    };
    // rumqttd only logs a failed bind from its own thread; check the port first so the
    // operator gets a clear error.
    let addr = {
        let probe = TcpListener::bind(listen).map_err(|e| {
            err(format!(
                "{e} (another broker may be running; set mqtt.url to use it, or mqtt.embedded_listen to move this one)"
            ))
        })?;
        probe.local_addr().map_err(|e| err(e.to_string()))?
    };
    let mut v4 = HashMap::new();
    v4.insert(
        "embedded".to_string(),
        ServerSettings {
            name: "embedded".to_string(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 1,
            connections: ConnectionSettings {
                connection_timeout_ms: 60_000,
                max_payload_size: 4 << 20,
                max_inflight_count: 1000,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        },
    );
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 1000,
            max_segment_size: 16 << 20,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(v4),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    };
    let mut broker = Broker::new(config);
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .map_err(|e| err(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            tracing::info!(%addr, "embedded MQTT broker listening");
            return Ok(EmbeddedBroker { addr });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(err("did not start listening within 10 s".to_string()))
}
