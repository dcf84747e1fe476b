//! The publisher against a real mosquitto: records leave the outbox only on PUBACK, nothing
//! is lost across broker outages and restarts, and the embedded broker works the same way.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use vigia_core::Shutdown;
use vigia_outbox::{FsyncPolicy, Outbox, OutboxConfig};
use vigia_publish::{AckedMessage, BrokerLink, OutboxMessage, Publisher, PublisherSettings};
use vigia_telemetry::Metrics;
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::mqtt::Subscriber;

const PREFIX: &str = "sies/test/node";

fn outbox() -> (tempfile::TempDir, Arc<Outbox>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = OutboxConfig {
        fsync: FsyncPolicy::Never,
        ..OutboxConfig::default()
    };
    let (ob, _) = Outbox::open(dir.path(), &cfg).unwrap();
    (dir, Arc::new(ob))
}

fn settings(port: u16) -> PublisherSettings {
    PublisherSettings {
        broker: BrokerLink::plain("127.0.0.1", port),
        client_id: format!("vigia-test-{}", vigia_testkit::free_port().unwrap()),
        keep_alive: Duration::from_secs(5),
        inflight_window: 8,
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(300),
        available_topic: format!("{PREFIX}/available"),
        drain_timeout: Duration::from_secs(5),
    }
}

/// A publisher running in the background.
struct Running {
    drain: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn spawn(
        port: u16,
        ob: &Arc<Outbox>,
        metrics: Arc<Metrics>,
        acked: Option<mpsc::Sender<AckedMessage>>,
    ) -> Self {
        let drain = Shutdown::new();
        let task = tokio::spawn(
            Publisher::new(settings(port), ob.clone(), metrics, acked).run(drain.clone()),
        );
        Self { drain, task }
    }

    /// Drains and waits for the publisher to finish.
    async fn stop(self) {
        self.drain.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("publisher stops within 10 s")
            .unwrap();
    }
}

fn append(ob: &Outbox, n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let id = format!("{tag}-{i}");
            let msg = OutboxMessage {
                topic: format!("{PREFIX}/cameras/c1/objects"),
                retain: false,
                kind: "object".into(),
                created_ms: 0,
                frame_ms: None,
                payload: id.clone().into_bytes(),
            };
            ob.append(&msg.encode()).unwrap();
            id
        })
        .collect()
}

/// Collects object payloads until every one of `want` arrived; returns all (with duplicates).
async fn collect(sub: &mut Subscriber, want: &[String], within: Duration) -> Vec<String> {
    let want: HashSet<&String> = want.iter().collect();
    let mut got = Vec::new();
    let mut seen = HashSet::new();
    let deadline = tokio::time::Instant::now() + within;
    while !want.iter().all(|w| seen.contains(*w)) {
        let m = tokio::time::timeout_at(deadline, sub.rx.recv())
            .await
            .unwrap_or_else(|_| {
                let missing: Vec<_> = want
                    .iter()
                    .filter(|w| !seen.contains(**w))
                    .take(5)
                    .collect();
                panic!(
                    "timed out; {} of {} received, missing e.g. {missing:?}",
                    seen.len(),
                    want.len()
                )
            })
            .expect("subscriber alive");
        if m.topic.ends_with("/objects") {
            let s = String::from_utf8(m.payload).unwrap();
            seen.insert(s.clone());
            got.push(s);
        }
    }
    got
}

async fn wait_empty(ob: &Outbox, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while ob.pending() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} still pending",
            ob.pending()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_published_in_order_and_removed_on_puback() {
    let broker = Mosquitto::start().unwrap();
    let (_d, ob) = outbox();
    let mut sub = Subscriber::connect(broker.port(), &format!("{PREFIX}/#")).await;
    let ids = append(&ob, 50, "a");
    let metrics = Arc::new(Metrics::new());
    let (tx, mut acked) = mpsc::channel::<AckedMessage>(100);
    let publisher = Running::spawn(broker.port(), &ob, metrics.clone(), Some(tx));
    let got = collect(&mut sub, &ids, Duration::from_secs(20)).await;
    assert_eq!(got, ids, "in order, each once");
    wait_empty(&ob, Duration::from_secs(5)).await;
    // The acknowledgement of the last record may be sent just after the record left the
    // outbox (CI once drained the channel in between and found 49 of 50): wait for each.
    let mut acked_ids = Vec::new();
    while acked_ids.len() < ids.len() {
        let a = tokio::time::timeout(Duration::from_secs(5), acked.recv())
            .await
            .unwrap_or_else(|_| panic!("{} of {} acknowledged", acked_ids.len(), ids.len()))
            .expect("publisher alive");
        acked_ids.push(String::from_utf8(a.payload).unwrap());
    }
    assert_eq!(acked_ids, ids);
    assert!(
        acked.try_recv().is_err(),
        "more acknowledgements than records"
    );
    assert!(
        metrics
            .render()
            .contains("vigia_events_published_total{type=\"object\"} 50")
    );

    // New records are picked up as they are appended.
    let more = append(&ob, 5, "b");
    collect(&mut sub, &more, Duration::from_secs(10)).await;
    publisher.stop().await;
    // Clean shutdown leaves a retained "offline".
    let mut late = Subscriber::connect(broker.port(), &format!("{PREFIX}/available")).await;
    let m = tokio::time::timeout(Duration::from_secs(5), late.rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((m.payload.as_slice(), m.retain), (&b"offline"[..], true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_acknowledged_while_the_broker_is_down_and_nothing_is_lost() {
    let mut broker = Mosquitto::start().unwrap();
    let port = broker.port();
    let (_d, ob) = outbox();
    let mut sub = Subscriber::connect(port, &format!("{PREFIX}/#")).await;
    broker.stop();
    let ids = append(&ob, 20, "down");
    let publisher = Running::spawn(port, &ob, Arc::new(Metrics::new()), None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ob.pending(), 20, "no broker, no acknowledgement");
    broker.start_again().unwrap();
    collect(&mut sub, &ids, Duration::from_secs(20)).await;
    wait_empty(&ob, Duration::from_secs(5)).await;
    publisher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restarts_while_events_flow_lose_nothing() {
    let mut broker = Mosquitto::start().unwrap();
    let port = broker.port();
    let (_d, ob) = outbox();
    let mut sub = Subscriber::connect(port, &format!("{PREFIX}/#")).await;
    let publisher = Running::spawn(port, &ob, Arc::new(Metrics::new()), None);
    let mut ids = Vec::new();
    for round in 0..5 {
        ids.extend(append(&ob, 40, &format!("r{round}")));
        tokio::time::sleep(Duration::from_millis(30)).await;
        broker.restart().unwrap();
    }
    ids.extend(append(&ob, 40, "last"));
    wait_empty(&ob, Duration::from_secs(30)).await;
    let got = collect(&mut sub, &ids, Duration::from_secs(30)).await;
    let unique: HashSet<_> = got.iter().collect();
    assert_eq!(unique.len(), ids.len(), "lost none");
    // Order per camera holds for first deliveries.
    let mut first_seen = Vec::new();
    let mut seen = HashSet::new();
    for g in &got {
        if seen.insert(g) {
            first_seen.push(g.clone());
        }
    }
    assert_eq!(first_seen, ids, "first deliveries in order");
    publisher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_delivers_like_mosquitto() {
    let b = vigia_publish::broker::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let (_d, ob) = outbox();
    let mut sub = Subscriber::connect(b.addr.port(), &format!("{PREFIX}/#")).await;
    let ids = append(&ob, 10, "emb");
    let publisher = Running::spawn(b.addr.port(), &ob, Arc::new(Metrics::new()), None);
    let got = collect(&mut sub, &ids, Duration::from_secs(20)).await;
    assert_eq!(got, ids);
    wait_empty(&ob, Duration::from_secs(5)).await;
    publisher.stop().await;
}
