//! The embedded MQTT broker (rumqttd), for the demo and single-node setups with no broker.
//!
//! rumqttd has no shutdown API: the broker runs on its own threads until the process ends.

use std::collections::HashMap;
use std::io::{Read, Write};
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
        if mqtt_handshake(addr).is_ok() {
            tracing::info!(%addr, "embedded MQTT broker listening");
            return Ok(EmbeddedBroker { addr });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(err("did not start listening within 10 s".to_string()))
}

/// A complete MQTT 3.1.1 session: CONNECT, expect CONNACK "accepted", DISCONNECT. Proves the
/// broker is up and speaking MQTT (a bare TCP probe would leave it a client that never sent
/// CONNECT, which it reports as an error).
fn mqtt_handshake(addr: SocketAddr) -> std::io::Result<()> {
    const CLIENT_ID: &[u8] = b"vigia-startup-probe";
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut connect = vec![0x10, (12 + CLIENT_ID.len()) as u8];
    connect.extend_from_slice(&[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x0a]);
    connect.extend_from_slice(&(CLIENT_ID.len() as u16).to_be_bytes());
    connect.extend_from_slice(CLIENT_ID);
    s.write_all(&connect)?;
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack)?;
    if connack != [0x20, 0x02, 0x00, 0x00] {
        return Err(std::io::Error::other(format!(
            "unexpected CONNACK {connack:02x?}"
        )));
    }
    s.write_all(&[0xe0, 0x00])
}
