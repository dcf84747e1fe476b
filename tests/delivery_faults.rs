//! Fault tests of the delivery path with the real binary and a real mosquitto on
//! 127.0.0.1: `vigia loadgen` feeds synthetic events through the node's outbox and
//! publisher and prints each event id once the outbox accepted it; a subscriber with a
//! persistent session collects what the broker delivers. Each test counts produced
//! (accepted) against received unique ids: lost must be 0; duplicates (at-least-once
//! redeliveries, dropped by the center by `id`) are reported.
//!
//! `cargo test --test delivery_faults -- --nocapture` prints the counts.

#![allow(
    clippy::print_stderr,
    reason = "the fault report is the point of these tests"
)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigia_testkit::chaos::{ChaosPlan, ChaosProxy};
use vigia_testkit::fs::SmallFs;
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::mqtt::Subscriber;

const PREFIX: &str = "sies/test/faults";

struct Node {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Node {
    fn new(broker_port: u16) -> Node {
        Self::with_outbox(broker_port, "")
    }

    /// `outbox` is extra `[outbox]` settings.
    fn with_outbox(broker_port: u16, outbox: &str) -> Node {
        Self::configured(broker_port, "fsync = \"always\"\n", outbox, 50)
    }

    /// `fsync` is the `[outbox]` fsync line, `outbox` extra `[outbox]` settings,
    /// `min_backoff_ms` the reconnect back-off.
    fn configured(broker_port: u16, fsync: &str, outbox: &str, min_backoff_ms: u64) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("vigia.toml");
        let manifest = vigia_testkit::paths::project_root().join("models/yolox_nano_fit.toml");
        std::fs::write(
            &config,
            format!(
                r#"site = "test"
node = "faults"
data_dir = "{data}"

[inference.detector]
manifest = "{manifest}"

[outbox]
{fsync}{outbox}

[mqtt]
url = "mqtt://127.0.0.1:{broker_port}"
keep_alive_secs = 5
reconnect_min_backoff_ms = {min_backoff_ms}
reconnect_max_backoff_secs = 1
"#,
                data = dir.path().join("data").display(),
                manifest = manifest.display(),
            ),
        )
        .unwrap();
        Node { dir, config }
    }

    fn outbox_dir(&self) -> PathBuf {
        self.dir.path().join("data/outbox")
    }

    /// Starts `vigia loadgen`; accepted ids are added to `accepted` as they are printed.
    fn loadgen(&self, events: u64, rate: f64, wait_s: f64, accepted: &Accepted) -> Loadgen {
        self.loadgen_env(events, rate, wait_s, accepted, &[])
    }

    /// Like [`Node::loadgen`] with extra environment variables.
    fn loadgen_env(
        &self,
        events: u64,
        rate: f64,
        wait_s: f64,
        accepted: &Accepted,
        env: &[(&str, &str)],
    ) -> Loadgen {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigia"))
            .envs(env.iter().copied())
            .args(["loadgen", "--config"])
            .arg(&self.config)
            .args([
                "--events",
                &events.to_string(),
                "--rate",
                &rate.to_string(),
                "--wait",
                &wait_s.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let acc = accepted.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                acc.lock()
                    .unwrap()
                    .push(v["accepted"].as_str().unwrap().to_string());
            }
        });
        let stderr = child.stderr.take().unwrap();
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
            s
        });
        Loadgen { child, reader, err }
    }
}

type Accepted = Arc<Mutex<Vec<String>>>;

struct Loadgen {
    child: Child,
    reader: std::thread::JoinHandle<()>,
    err: std::thread::JoinHandle<String>,
}

impl Loadgen {
    /// Waits for it to exit; returns (exit code, stderr).
    fn wait(mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("loadgen did not finish within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.reader.join().unwrap();
        (status.code(), self.err.join().unwrap())
    }

    /// SIGKILL.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.reader.join().unwrap();
    }
}

/// What the center received.
struct Center {
    sub: Subscriber,
    /// Every delivery's event id, in arrival order.
    ids: Vec<String>,
}

impl Center {
    async fn connect(port: u16) -> Center {
        Center {
            sub: Subscriber::connect(port, &format!("{PREFIX}/cameras/+/objects")).await,
            ids: Vec::new(),
        }
    }

    /// Receives until every accepted id arrived (or `within` passes); every delivery must
    /// be a valid event.
    async fn receive_all(&mut self, accepted: &Accepted, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let want: HashSet<String> = accepted.lock().unwrap().iter().cloned().collect();
            let have: HashSet<&String> = self.ids.iter().collect();
            if want.iter().all(|w| have.contains(w)) {
                // A short grace period to count late duplicates too.
                while let Ok(Some(m)) =
                    tokio::time::timeout(Duration::from_millis(300), self.sub.rx.recv()).await
                {
                    self.take(&m.payload);
                }
                return;
            }
            match tokio::time::timeout_at(deadline, self.sub.rx.recv()).await {
                Ok(Some(m)) => self.take(&m.payload),
                _ => return,
            }
        }
    }

    fn take(&mut self, payload: &[u8]) {
        let v: serde_json::Value =
            serde_json::from_slice(payload).expect("every delivery is a JSON event, never garbage");
        common::assert_valid_event(&v);
        self.ids.push(v["id"].as_str().unwrap().to_string());
    }

    /// Prints and returns (produced, received unique, lost, duplicates).
    fn report(&self, what: &str, accepted: &Accepted) -> (usize, usize, usize, usize) {
        let produced: HashSet<String> = accepted.lock().unwrap().iter().cloned().collect();
        let unique: HashSet<&String> = self.ids.iter().collect();
        let lost = produced.iter().filter(|p| !unique.contains(p)).count();
        let duplicates = self.ids.len() - unique.len();
        eprintln!(
            "[{what}] produced {} · received {} unique ({} deliveries) · lost {lost} · duplicated {duplicates}",
            produced.len(),
            unique.len(),
            self.ids.len()
        );
        (produced.len(), unique.len(), lost, duplicates)
    }
}

/// Waits for a loadgen run that must deliver everything (exit 0), lets the center receive
/// every accepted id, prints the report and checks nothing was lost; returns the number
/// of events produced.
async fn finish_and_count(
    run: Loadgen,
    center: &mut Center,
    accepted: &Accepted,
    what: &str,
) -> usize {
    let (code, err) = tokio::task::spawn_blocking(move || run.wait(Duration::from_secs(90)))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "loadgen: {err}");
    center.receive_all(accepted, Duration::from_secs(30)).await;
    let (produced, _, lost, _) = center.report(what, accepted);
    assert_eq!(lost, 0, "{what}: lost events");
    produced
}

/// 1,500 events at 150/s while `fault` hits the broker 20 times, 350 ms apart.
async fn twenty_broker_faults(mut broker: Mosquitto, what: &str, fault: fn(&mut Mosquitto)) {
    let node = Node::new(broker.port());
    let mut center = Center::connect(broker.port()).await;
    let accepted = Accepted::default();
    let run = node.loadgen(1500, 150.0, 60.0, &accepted);
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(350)).await;
        fault(&mut broker);
    }
    let produced = finish_and_count(run, &mut center, &accepted, what).await;
    assert_eq!(produced, 1500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restarted_20_times_while_events_flow_loses_nothing() {
    let broker = Mosquitto::start().unwrap();
    twenty_broker_faults(broker, "20 broker restarts", |b| b.restart().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_20_times_while_events_flow_loses_nothing() {
    // A broker that persists what it acknowledged before a crash can take it (mosquitto
    // saves its state every change here; by default it saves only on a clean stop).
    let broker = Mosquitto::start_durable().unwrap();
    twenty_broker_faults(broker, "20 × SIGKILL of mosquitto", |b| {
        b.crash_and_restart().unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigia_killed_during_ledger_compaction_and_segment_roll_loses_nothing() {
    let broker = Mosquitto::start().unwrap();
    // 4 KiB segments: a roll every few events, a ledger compaction at every deleted segment.
    let node = Node::with_outbox(broker.port(), "segment_bytes = 4096\n");
    let mut center = Center::connect(broker.port()).await;
    let accepted = Accepted::default();
    let mut crashes = 0;
    for point in [
        "compaction:3",
        "roll:7",
        "segment-created:5",
        "compaction:11",
        "roll:2",
    ] {
        let run = node.loadgen_env(
            400,
            400.0,
            10.0,
            &accepted,
            &[("VIGIA_OUTBOX_CRASH_AT", point)],
        );
        let (code, err) = tokio::task::spawn_blocking(move || run.wait(Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(
            code, None,
            "{point}: the run must die at its crash point; {err}"
        );
        crashes += 1;
    }
    // A clean run delivers what the crashed runs left.
    let run = node.loadgen(0, 1.0, 60.0, &accepted);
    let (code, err) = tokio::task::spawn_blocking(move || run.wait(Duration::from_secs(90)))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "loadgen: {err}");
    center.receive_all(&accepted, Duration::from_secs(30)).await;
    let (produced, _, lost, _) =
        center.report(&format!("{crashes} × abort in compaction/roll"), &accepted);
    assert!(produced > 100, "the runs produced events ({produced})");
    assert_eq!(lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sustained_broker_outage_loses_nothing() {
    let mut broker = Mosquitto::start().unwrap();
    let node = Node::new(broker.port());
    let mut center = Center::connect(broker.port()).await;
    broker.stop();
    let accepted = Accepted::default();
    let run = node.loadgen(600, 100.0, 60.0, &accepted);
    // Down for 10 s while 600 events are produced; then back.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        accepted.lock().unwrap().len() >= 500,
        "events are accepted while the broker is down"
    );
    broker.start_again().unwrap();
    let produced = finish_and_count(run, &mut center, &accepted, "10 s broker outage").await;
    assert_eq!(produced, 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigia_killed_10_times_mid_stream_loses_nothing() {
    let broker = Mosquitto::start().unwrap();
    let node = Node::new(broker.port());
    let mut center = Center::connect(broker.port()).await;
    let accepted = Accepted::default();
    for i in 0..10u64 {
        let run = node.loadgen(1_000_000, 300.0, 0.0, &accepted);
        // Killed at a different point of each run (some while records are in flight).
        let at = Duration::from_millis(250 + (i * 97) % 500);
        tokio::time::sleep(at).await;
        tokio::task::spawn_blocking(move || run.kill9())
            .await
            .unwrap();
    }
    let before_last = accepted.lock().unwrap().len();
    assert!(
        before_last > 500,
        "the runs produced events ({before_last})"
    );
    // A last run with nothing new delivers whatever the killed runs left.
    let (code, err) = tokio::task::spawn_blocking({
        let run = node.loadgen(0, 1.0, 60.0, &accepted);
        move || run.wait(Duration::from_secs(90))
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "loadgen: {err}");
    center.receive_all(&accepted, Duration::from_secs(30)).await;
    let (_, _, lost, _) = center.report("10 × SIGKILL of vigia", &accepted);
    assert_eq!(lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_at_random_points_500_times_lose_nothing() {
    let broker = Mosquitto::start().unwrap();
    let proxy = ChaosProxy::start(
        broker.port(),
        ChaosPlan {
            seed: 0x5EED,
            // A PUBLISH of a synthetic event is ~600 bytes, a PUBACK 4: cuts land
            // mid-PUBLISH, between PUBLISH and PUBACK, and mid-PUBACK.
            max_up_bytes: 50_000,
            max_down_bytes: 200,
            half_open_every: 300,
            half_open_hold: Duration::from_secs(30),
        },
    )
    .await
    .unwrap();
    let node = Node::configured(proxy.port(), "fsync = \"interval\"\n", "", 5);
    let mut center = Center::connect(broker.port()).await;
    let accepted = Accepted::default();
    let run = node.loadgen(10_000, 1000.0, 120.0, &accepted);
    let (code, err) = tokio::task::spawn_blocking(move || run.wait(Duration::from_secs(180)))
        .await
        .unwrap();
    let summary = err.lines().last().unwrap_or_default().to_string();
    assert_eq!(code, Some(0), "loadgen: {summary}");
    center.receive_all(&accepted, Duration::from_secs(30)).await;
    let st = &proxy.stats;
    eprintln!(
        "[chaos proxy] {} connections: {} cut client→broker, {} cut broker→client, {} half-open",
        st.connections.load(std::sync::atomic::Ordering::Relaxed),
        st.cut_upstream.load(std::sync::atomic::Ordering::Relaxed),
        st.cut_downstream.load(std::sync::atomic::Ordering::Relaxed),
        st.half_open.load(std::sync::atomic::Ordering::Relaxed),
    );
    let (produced, _, lost, _) = center.report("TCP chaos proxy", &accepted);
    assert_eq!(produced, 10_000);
    assert_eq!(
        lost, 0,
        "every accepted (and so every acknowledged) event arrives"
    );
    assert!(st.breaks() >= 500, "only {} breaks", st.breaks());
    assert!(st.half_open.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_really_full_disk_loses_nothing_once_space_returns() {
    // The reproduction of issue 10: outbox on a 1 MiB tmpfs, a 300 KiB filler deleted 8 s
    // later, 2,000 events at 400/s with the broker up.
    let fs = match SmallFs::mount(1 << 20) {
        Ok(f) => f,
        Err(e) => {
            vigia_testkit::paths::skip("a_really_full_disk", &e.to_string());
            return;
        }
    };
    let broker = Mosquitto::start().unwrap();
    let outbox = format!(
        "dir = \"{}\"\nmin_free_bytes = 0\n",
        fs.join("outbox").display()
    );
    let node = Node::configured(broker.port(), "fsync = \"always\"\n", &outbox, 50);
    let filler = fs.fill("filler", 300 * 1024);
    let mut center = Center::connect(broker.port()).await;
    let accepted = Accepted::default();
    let run = node.loadgen(2000, 400.0, 60.0, &accepted);
    tokio::time::sleep(Duration::from_secs(8)).await;
    std::fs::remove_file(&filler).unwrap();
    let produced = finish_and_count(run, &mut center, &accepted, "ENOSPC on a 1 MiB tmpfs").await;
    assert_eq!(produced, 2000);
}

fn newest_segment(outbox: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    segs.pop().expect("a segment file")
}

/// With the broker down: stores `n` events (the run exits 3, events pending), damages the
/// newest segment with `damage`, brings the broker back and delivers. Returns the run's
/// stderr.
fn store_damage_deliver(
    node: &Node,
    broker: &mut Mosquitto,
    n: u64,
    accepted: &Accepted,
    damage: impl FnOnce(&mut Vec<u8>),
) -> String {
    broker.stop();
    let (code, _) = node
        .loadgen(n, 1000.0, 0.0, accepted)
        .wait(Duration::from_secs(30));
    assert_eq!(
        code,
        Some(3),
        "exits 3: events left pending with the broker down"
    );
    let seg = newest_segment(&node.outbox_dir());
    let mut bytes = std::fs::read(&seg).unwrap();
    damage(&mut bytes);
    std::fs::write(&seg, &bytes).unwrap();
    broker.start_again().unwrap();
    let (code, err) = node
        .loadgen(0, 1.0, 30.0, accepted)
        .wait(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("corrupt regions skipped 1"), "{err}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_bytes_in_an_outbox_tail_are_reported_and_skipped_never_published() {
    let mut broker = Mosquitto::start().unwrap();
    let node = Node::new(broker.port());
    let mut center = Center::connect(broker.port()).await;

    // 1. Garbage after the last record (a torn write): nothing accepted is lost.
    let accepted = Accepted::default();
    store_damage_deliver(&node, &mut broker, 40, &accepted, |bytes| {
        bytes.extend((0..200u32).map(|i| (i * 7919 % 251) as u8));
    });
    center.receive_all(&accepted, Duration::from_secs(20)).await;
    let (produced, _, lost, _) = center.report("garbage appended to a segment", &accepted);
    assert_eq!((produced, lost), (40, 0));

    // 2. Bytes of the last stored record overwritten: that record cannot be trusted, so it
    //    is reported and skipped (never published as garbage); every other one arrives.
    let second = Accepted::default();
    store_damage_deliver(&node, &mut broker, 10, &second, |bytes| {
        let n = bytes.len();
        for b in &mut bytes[n - 20..n - 10] {
            *b ^= 0x5a;
        }
    });
    let last = second.lock().unwrap().last().cloned().unwrap();
    second.lock().unwrap().retain(|id| *id != last);
    center.ids.clear();
    center.receive_all(&second, Duration::from_secs(20)).await;
    let (_, received, lost, _) = center.report("last record overwritten", &second);
    assert_eq!((received, lost), (9, 0), "the 9 intact records arrive");
    assert!(
        !center.ids.contains(&last),
        "the damaged record is not published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_each_event_once_and_flags_events_that_break_the_schema() {
    let broker = Mosquitto::start().unwrap();
    let node = Node::new(broker.port());
    let mut tail = Command::new(env!("CARGO_BIN_EXE_vigia"))
        .args([
            "tail",
            "--check",
            "--count",
            "21",
            "--seconds",
            "60",
            "--config",
        ])
        .arg(&node.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    let stdout = tail.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let (client, mut eventloop) = rumqttc::AsyncClient::new(
        rumqttc::MqttOptions::new("fault-test-pub", "127.0.0.1", broker.port()),
        10,
    );
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let publish = |payload: String| {
        let client = client.clone();
        async move {
            client
                .publish(
                    format!("{PREFIX}/cameras/loadgen/objects"),
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .await
                .unwrap();
        }
    };
    // Wait until tail is subscribed: it prints the first probe it receives.
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines.is_empty() {
        assert!(Instant::now() < deadline, "tail never subscribed");
        publish("probe".into()).await;
        if let Ok(l) = line_rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(l);
        }
    }

    let accepted = Accepted::default();
    let (code, err) = tokio::task::spawn_blocking({
        let run = node.loadgen(20, 200.0, 30.0, &accepted);
        move || run.wait(Duration::from_secs(60))
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{err}");

    // A redelivery of the first event and an event that breaks the contract.
    let first = accepted.lock().unwrap()[0].clone();
    let dup = serde_json::json!({
        "schema": "vigia.event/1", "id": first, "type": "object", "site": "test",
        "node": "faults", "utc_time": "2026-01-01T00:00:00.000Z"
    });
    let mut bad = dup.clone();
    bad["id"] = "0190a5b8-0000-7000-8000-000000000001".into();
    bad["type"] = "teleport".into();
    for v in [dup, bad] {
        publish(v.to_string()).await;
    }
    let out = tokio::task::spawn_blocking(move || tail.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    reader.join().unwrap();
    lines.extend(line_rx.try_iter());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(4),
        "exit 4: an invalid event\n{stderr}"
    );
    let lines: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("event").is_some()).collect();
    assert_eq!(
        events.len(),
        21,
        "20 loadgen events + the bad one, the duplicate dropped"
    );
    let invalid: Vec<_> = events
        .iter()
        .filter(|l| l.get("invalid").is_some())
        .collect();
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0]["event"]["type"], "teleport");
    assert!(
        stderr.contains("1 duplicates dropped, 1 invalid"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_holds_new_events_back_and_resumes_when_the_broker_drains_it() {
    let mut broker = Mosquitto::start().unwrap();
    // A disk budget of about 20 events.
    let node = Node::with_outbox(broker.port(), "segment_bytes = 4096\nmax_bytes = 16384");
    let mut center = Center::connect(broker.port()).await;
    broker.stop();
    let accepted = Accepted::default();
    let run = node.loadgen(200, 1000.0, 60.0, &accepted);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = accepted.lock().unwrap().len();
    assert!(
        (5..60).contains(&held),
        "with the budget full, new events wait instead of being accepted or dropped ({held} accepted)"
    );
    broker.start_again().unwrap();
    let what = format!("disk budget full ({held} held while the broker was down)");
    let produced = finish_and_count(run, &mut center, &accepted, &what).await;
    assert_eq!(produced, 200);
}

/// `vigia tail` without a node config, over TLS with a client certificate and a password
/// from the environment; a wrong password gets nothing and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_over_tls_with_flags_only() {
    use vigia_publish::{BrokerLink, TlsFiles};
    let pki = vigia_testkit::pki::Pki::generate();
    let broker = Mosquitto::start_secure(pki.secure_broker(&[("center", "s3cret-pw")])).unwrap();
    let tail = |password: &str, seconds: &str| {
        Command::new(env!("CARGO_BIN_EXE_vigia"))
            .args([
                "tail",
                "--url",
                &broker.url(),
                "--topic",
                "tls/#",
                "--check",
            ])
            .args(["--count", "1", "--seconds", seconds, "--username", "center"])
            .arg("--ca-file")
            .arg(pki.path("ca.pem"))
            .arg("--client-cert")
            .arg(pki.path("client.pem"))
            .arg("--client-key")
            .arg(pki.path("client.key"))
            .args(["--password-env", "VIGIA_TEST_TAIL_PW"])
            .env("VIGIA_TEST_TAIL_PW", password)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut good = tail("s3cret-pw", "60");
    let bad = tail("wr0ng-pw-7731", "3");

    let link = BrokerLink {
        host: "127.0.0.1".into(),
        port: broker.port(),
        username: Some("center".into()),
        password: Some("s3cret-pw".into()),
        tls: Some(
            TlsFiles {
                ca_file: Some(pki.path("ca.pem")),
                client_auth: Some((pki.path("client.pem"), pki.path("client.key"))),
            }
            .client_config()
            .unwrap(),
        ),
    };
    let (client, mut eventloop) = rumqttc::AsyncClient::new(link.options("tls-test-pub"), 10);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let event = vigia_core::Event::new(
        "test",
        "tls",
        Some(vigia_core::CameraId::new("cam-1").unwrap()),
        chrono::Utc::now(),
        vigia_core::EventPayload::CameraStatus(vigia_core::event::CameraStatusEvent {
            state: vigia_core::event::CameraState::Streaming,
            reason: None,
            decoder: Some("avdec_h264".into()),
            attempts: 0,
        }),
    );
    // Publish until the good tail, once subscribed, got it and exited.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        client
            .publish(
                "tls/cameras/cam-1/status",
                rumqttc::QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&event).unwrap(),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(s) = good.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "tail over TLS received nothing");
    };
    let out = good.wait_with_output().unwrap();
    assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&event.id.to_string()), "{stdout}");

    let out = tokio::task::spawn_blocking(move || bad.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.stdout.is_empty(), "a wrong password receives nothing");
    assert!(stderr.contains("cannot reach the broker"), "{stderr}");
    assert!(
        !stderr.contains("wr0ng-pw-7731"),
        "the password is never printed: {stderr}"
    );
}
