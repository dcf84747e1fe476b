//! A subscriber that collects every message a broker delivers on a topic filter.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// A received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// A running subscriber; messages arrive on `rx`.
pub struct Subscriber {
    pub rx: mpsc::UnboundedReceiver<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Connects to `127.0.0.1:port` and subscribes to `filter` with QoS 1, with a
    /// persistent session (the broker queues messages while it is disconnected; if the
    /// broker lost the session, it subscribes again). Returns once the subscription is
    /// acknowledged.
    pub async fn connect(port: u16, filter: &str) -> Subscriber {
        Self::connect_with(
            MqttOptions::new(Self::client_id(), "127.0.0.1", port),
            filter,
        )
        .await
    }

    /// A fresh client id for a test subscriber.
    pub fn client_id() -> String {
        format!("vigia-test-sub-{}-{}", std::process::id(), fastrand_id())
    }

    /// Like [`Subscriber::connect`] with the caller's options (TLS, credentials).
    pub async fn connect_with(mut opts: MqttOptions, filter: &str) -> Subscriber {
        opts.set_clean_session(false);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe request");
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let filter = filter.to_string();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut first = true;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        if !first && !ack.session_present {
                            let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                        }
                        first = false;
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(Received {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("SUBACK within 10 s")
            .expect("subscriber task alive");
        Subscriber { rx, task }
    }
}

fn fastrand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Publishes one message with QoS 1 to `127.0.0.1:port` and returns once the broker
/// acknowledged it.
pub async fn publish(port: u16, topic: &str, payload: &[u8]) {
    let opts = MqttOptions::new(Subscriber::client_id(), "127.0.0.1", port);
    let (client, mut eventloop) = AsyncClient::new(opts, 8);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
        .await
        .expect("publish request");
    let acked = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => break,
                Ok(_) => {}
                Err(e) => panic!("publishing to {topic}: {e}"),
            }
        }
    })
    .await;
    acked.expect("the broker acknowledged the message in 10 s");
    let _ = client.try_disconnect();
}
