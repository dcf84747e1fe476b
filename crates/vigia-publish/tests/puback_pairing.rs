//! PUBACKs must acknowledge the record the broker acknowledged, whatever a broken
//! connection left behind in the MQTT client. A scripted broker (a few lines of MQTT 3.1.1
//! over TCP; a fake is fine here, this tests the publisher's bookkeeping) breaks
//! connections right after CONNACK, while the publisher writes its first packets, then
//! acknowledges only the first PUBLISH of the next connection (the retained `online`) and
//! drops the rest unread. A record deleted from the outbox that the broker never
//! processed is a lost event.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vigia_core::Shutdown;
use vigia_outbox::{FsyncPolicy, Outbox, OutboxConfig};
use vigia_publish::{BrokerLink, OutboxMessage, Publisher, PublisherSettings};
use vigia_telemetry::Metrics;

/// One MQTT packet: (first byte, body).
async fn packet(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let first = s.read_u8().await.ok()?;
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let b = s.read_u8().await.ok()?;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.ok()?;
    Some((first, body))
}

/// Topic, packet id and payload of a QoS 1 PUBLISH body.
fn publish(body: &[u8]) -> (String, u16, Vec<u8>) {
    let tlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let topic = String::from_utf8_lossy(&body[2..2 + tlen]).into_owned();
    let pkid = u16::from_be_bytes([body[2 + tlen], body[3 + tlen]]);
    (topic, pkid, body[4 + tlen..].to_vec())
}

/// Closes with a reset (no FIN): unread data is thrown away, the client's next write fails.
fn reset(s: TcpStream) {
    let _ = s.set_zero_linger();
    drop(s);
}

#[derive(Default)]
struct Seen {
    /// Payloads of records the broker processed (and acknowledged).
    processed: HashSet<Vec<u8>>,
}

async fn broker(listener: TcpListener, hostile_cycles: usize, seen: Arc<Mutex<Seen>>) {
    let mut conn = 0usize;
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        conn += 1;
        let Some((0x10, _)) = packet(&mut s).await else {
            continue;
        };
        let _ = s.write_all(&[0x20, 0x02, 0x00, 0x00]).await;
        let hostile = conn <= 2 * hostile_cycles;
        if hostile && conn % 2 == 1 {
            // Broken while the client writes its first packets.
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..3))).await;
            reset(s);
            continue;
        }
        let mut acked_one = false;
        while let Some((first, body)) = packet(&mut s).await {
            match first >> 4 {
                3 => {
                    let (topic, pkid, payload) = publish(&body);
                    if hostile && acked_one {
                        break; // the rest is dropped unread
                    }
                    if !topic.ends_with("/available") {
                        seen.lock().unwrap().processed.insert(payload);
                    }
                    let [hi, lo] = pkid.to_be_bytes();
                    let _ = s.write_all(&[0x40, 0x02, hi, lo]).await;
                    acked_one = true;
                }
                12 => {
                    let _ = s.write_all(&[0xD0, 0x00]).await;
                }
                14 => break,
                _ => {}
            }
        }
        reset(s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_deleted_record_was_acknowledged_by_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = OutboxConfig {
        fsync: FsyncPolicy::Never,
        min_free_bytes: 0,
        ..OutboxConfig::default()
    };
    let (ob, _) = Outbox::open(dir.path(), &cfg).unwrap();
    let ob = Arc::new(ob);
    let mut payloads = Vec::new();
    for i in 0..200u32 {
        let payload = format!("record {i}").into_bytes();
        let msg = OutboxMessage {
            topic: "t/cameras/c/objects".into(),
            retain: false,
            kind: "object".into(),
            created_ms: 0,
            frame_ms: None,
            payload: payload.clone(),
        };
        ob.append(&msg.encode()).unwrap();
        payloads.push(payload);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = tokio::spawn(broker(listener, 300, seen.clone()));
    let settings = PublisherSettings {
        broker: BrokerLink::plain("127.0.0.1", port),
        client_id: "vigia-pairing-test".into(),
        keep_alive: Duration::from_secs(5),
        inflight_window: 8,
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        available_topic: "t/available".into(),
        drain_timeout: Duration::from_secs(5),
    };
    let drain = Shutdown::new();
    let publisher = tokio::spawn(
        Publisher::new(settings, ob.clone(), Arc::new(Metrics::new()), None).run(drain.clone()),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ob.pending() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drain.cancel();
    let _ = publisher.await;
    server.abort();
    let processed = &seen.lock().unwrap().processed;
    let lost: Vec<String> = payloads
        .iter()
        .filter(|p| !processed.contains(*p))
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    assert_eq!(ob.pending(), 0, "the outbox drained");
    assert!(
        lost.is_empty(),
        "{} records deleted from the outbox without the broker acknowledging them: {lost:?}",
        lost.len()
    );
}
