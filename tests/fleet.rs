//! Cameras spread over nodes on a real etcd cluster: 3 etcd members and 3 vigia nodes on
//! 127.0.0.1, 12 test-pattern cameras from `vigia fleet apply`, one mosquitto.
//!
//! - every camera runs on exactly one node, every node runs some;
//! - `kill -9` of a node: its cameras stream on the others within 15 s; the events it had
//!   accepted but not delivered (its broker was down) are delivered when it comes back;
//! - the node comes back: cameras move back to it (rendezvous hashing), none runs twice;
//! - the etcd leader killed: nothing changes (an election, then two members go on); a
//!   second member killed (quorum lost): the nodes keep their cameras and say so in
//!   `/readyz` and `vigia_fleet_connected`;
//! - never two nodes streaming one camera at once, checked on the `camera_status` events
//!   the nodes published (their `utc_time` intervals per node);
//! - a node's link to etcd cut for real (packets dropped, nothing closed): it stops its
//!   cameras before its lease can run out, the other node takes them after, and takes
//!   its share back when the link is mended;
//! - an ownership key is a node's only under its current lease (a restarted process waits
//!   for its predecessor's keys).

#![allow(clippy::print_stderr)] // the failover time, for benches/fleet_failover.sh

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::process::VigiaProcess;
use serde_json::Value;
use vigia_testkit::etcd::EtcdCluster;
use vigia_testkit::link::Link;
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::mqtt::Subscriber;
use vigia_testkit::{free_port, http};

const TOPICS: &str = "sies/fleet";
const CAMERAS: usize = 12;

fn node_config(node: &str, data: &Path, http_port: u16, broker: u16, etcd: &[String]) -> String {
    let mut t = "reload_watch_secs = 0\n".to_string();
    t += &common::node_config_head(node, data, http_port, "", "workers = 1");
    let etcd: Vec<String> = etcd.iter().map(|e| format!("\"{e}\"")).collect();
    t += &format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{broker}\"\ntopic_prefix = \"{TOPICS}/{node}\"\n\
         [fleet]\netcd = [{}]\nlease_ttl_secs = 5\npoll_ms = 300\n",
        etcd.join(", ")
    );
    t
}

fn fleet_file(etcd: &[String]) -> String {
    let etcd: Vec<String> = etcd.iter().map(|e| format!("\"{e}\"")).collect();
    let mut t = format!("site = \"test\"\n[fleet]\netcd = [{}]\n", etcd.join(", "));
    for i in 0..CAMERAS {
        t += &format!(
            "[[cameras]]\nid = \"cam-{i:02}\"\nurl = \"test://smpte?width=160&height=120&fps=2\"\nanalysis_fps = 1.0\n"
        );
    }
    t
}

struct Node {
    name: String,
    config: std::path::PathBuf,
    log: std::path::PathBuf,
    port: u16,
    process: Option<VigiaProcess>,
}

impl Node {
    /// A node named `name` in `dir` with its config file (not started).
    fn new(dir: &Path, name: &str, port: u16, config_text: String) -> Self {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, config_text).unwrap();
        Node {
            log: dir.join(format!("{name}.log")),
            name: name.to_string(),
            config,
            port,
            process: None,
        }
    }

    fn start(&mut self) {
        self.process = Some(VigiaProcess::spawn(&self.config, &self.log));
    }

    /// The cameras this node streams (empty when it does not answer).
    async fn streaming(&self) -> BTreeSet<String> {
        let Ok((200, body)) = http::get(self.port, "/api/v1/cameras").await else {
            return BTreeSet::new();
        };
        let cams: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
        cams.iter()
            .filter(|c| c["state"] == "streaming")
            .filter_map(|c| c["id"].as_str().map(str::to_string))
            .collect()
    }

    async fn get(&self, path: &str) -> Value {
        let (_, body) = http::get(self.port, path).await.unwrap();
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    }
}

/// Camera → the nodes streaming it, as the nodes' APIs say.
async fn placement(nodes: &[Node]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in nodes.iter().filter(|n| n.process.is_some()) {
        for c in n.streaming().await {
            out.entry(c).or_default().push(n.name.clone());
        }
    }
    out
}

/// Waits until every camera streams on exactly one live node, the one rendezvous hashing
/// gives it among the live nodes; returns the placement.
async fn settled(nodes: &[Node], within: Duration, what: &str) -> BTreeMap<String, Vec<String>> {
    let live: Vec<String> = nodes
        .iter()
        .filter(|n| n.process.is_some())
        .map(|n| n.name.clone())
        .collect();
    settled_on(nodes, &live, within, what).await
}

/// Waits until every camera streams on exactly one node, the one rendezvous hashing gives
/// it among `live`; returns the placement.
async fn settled_on(
    nodes: &[Node],
    live: &[String],
    within: Duration,
    what: &str,
) -> BTreeMap<String, Vec<String>> {
    let deadline = Instant::now() + within;
    let want: BTreeMap<String, Vec<String>> = (0..CAMERAS)
        .map(|i| {
            let c = format!("cam-{i:02}");
            let n = vigia_fleet::owner(&c, live).unwrap().to_string();
            (c, vec![n])
        })
        .collect();
    loop {
        let p = placement(nodes).await;
        if p == want {
            return p;
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: not settled within {within:?}: {p:?}\n{}",
                tails(nodes)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The etcd member that leads now (waits for an election to end).
async fn wait_for_leader(etcd: &EtcdCluster) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(l) = etcd.leader() {
            return l;
        }
        assert!(Instant::now() < deadline, "etcd elected no leader in 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The ends of every node's log.
fn tails(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| format!("--- {}\n{}\n", n.name, tail(&n.log)))
        .collect()
}

fn tail(p: &Path) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_default();
    t.lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n")
}

fn per_node(p: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for v in p.values() {
        *out.entry(v[0].clone()).or_default() += 1;
    }
    out
}

/// Starts the nodes and puts the fleet's cameras into etcd (`vigia fleet apply`); the
/// fleet file.
fn start_fleet(nodes: &mut [Node], dir: &Path, etcd: &[String]) -> std::path::PathBuf {
    for n in nodes.iter_mut() {
        n.start();
    }
    let fleet = dir.join("fleet.toml");
    std::fs::write(&fleet, fleet_file(etcd)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigia"))
        .args(["fleet", "apply"])
        .arg(&fleet)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fleet
}

/// The lines of every node's log about taking and giving up cameras.
fn fleet_logs(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| {
            let t = std::fs::read_to_string(&n.log).unwrap_or_default();
            let lines: Vec<&str> = t
                .lines()
                .filter(|l| l.contains("fleet camera") || l.contains("cut off"))
                .collect();
            format!("--- {}\n{}\n", n.name, lines.join("\n"))
        })
        .collect()
}

/// The tests of this file one at a time: each runs processes on timings.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// This file's turn to run, or `None` when etcd is missing (the test is skipped then;
/// not in CI).
async fn serial_with_etcd() -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if !EtcdCluster::available() {
        assert!(
            !vigia_testkit::paths::in_ci(),
            "etcd must be installed in CI (deploy/setup.sh)"
        );
        vigia_testkit::paths::skip("fleet", "etcd is not installed (Debian: etcd-server)");
        return None;
    }
    Some(SERIAL.lock().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_fail_over_between_nodes_and_never_run_twice() {
    let Some(_serial) = serial_with_etcd().await else {
        return;
    };
    let mut etcd = EtcdCluster::start(3).unwrap();
    let endpoints = etcd.endpoints();
    let broker = Mosquitto::start().unwrap();
    let mut statuses =
        Subscriber::connect(broker.port(), &format!("{TOPICS}/+/cameras/+/status")).await;
    // n1 (the node to be killed) publishes to a broker of its own that is down until n1 has
    // been killed and restarted: what it accepted meanwhile waits in its outbox. A
    // persistent subscription there collects it when the broker is back.
    let mut own_broker = Mosquitto::start_durable().unwrap();
    let mut own_statuses =
        Subscriber::connect(own_broker.port(), &format!("{TOPICS}/n1/cameras/+/status")).await;
    own_broker.stop();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Node> = (1..=3)
        .map(|i| {
            let name = format!("n{i}");
            let port = free_port().unwrap();
            let data = dir.path().join(&name);
            let mqtt = if i == 1 {
                own_broker.port()
            } else {
                broker.port()
            };
            Node::new(
                dir.path(),
                &name,
                port,
                node_config(&name, &data, port, mqtt, &endpoints),
            )
        })
        .collect();
    let fleet = start_fleet(&mut nodes, dir.path(), &endpoints);

    // Every camera on one node; every node busy.
    let p = settled(&nodes, Duration::from_secs(60), "first placement").await;
    let counts = per_node(&p);
    assert_eq!(counts.len(), 3, "every node runs cameras: {counts:?}");
    // `vigia fleet status` says the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigia"))
        .args(["fleet", "status"])
        .arg(&fleet)
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        status["nodes"],
        serde_json::json!(["n1", "n2", "n3"]),
        "{status}"
    );
    for c in status["cameras"].as_array().unwrap() {
        let cam = c["camera"].as_str().unwrap();
        assert_eq!(c["node"], c["assigned"], "{status}");
        assert_eq!(c["node"].as_str(), Some(p[cam][0].as_str()), "{status}");
    }

    // kill -9 n1.
    let victim = "n1";
    let victim_i = 0;
    let orphans: Vec<String> = p
        .iter()
        .filter(|(_, v)| v[0] == *victim)
        .map(|(c, _)| c.clone())
        .collect();
    let killed_at = Utc::now();
    let t0 = Instant::now();
    nodes[victim_i].process.take().unwrap().kill9();
    let p = settled(&nodes, Duration::from_secs(15), "failover").await;
    let failover = t0.elapsed();
    assert!(orphans.iter().all(|c| p[c][0] != *victim));
    // Read by benches/fleet_failover.sh.
    eprintln!(
        "failover of {} camera(s): {:.1} s",
        orphans.len(),
        failover.as_secs_f64()
    );

    // It comes back (and so does its broker): its cameras return to it (rendezvous
    // hashing), none twice, and what it had accepted before the kill is delivered.
    own_broker.start_again().unwrap();
    nodes[victim_i].start();
    let p = settled(&nodes, Duration::from_secs(40), "rebalance").await;
    assert_eq!(per_node(&p)[victim], orphans.len());

    let mut delivered_late = 0;
    let mut own_events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while delivered_late < orphans.len() && Instant::now() < deadline {
        let got = tokio::time::timeout(Duration::from_secs(1), own_statuses.rx.recv()).await;
        if let Ok(Some(m)) = got {
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            let t: DateTime<Utc> = v["utc_time"].as_str().unwrap().parse().unwrap();
            if t < killed_at && v["state"] == "streaming" {
                delivered_late += 1;
            }
            own_events.push(v);
        }
    }
    assert!(
        delivered_late >= orphans.len(),
        "n1's statuses from before the kill were not delivered: {delivered_late} of {}",
        orphans.len()
    );

    // One etcd member down, the leader (the harder case: an election follows, during
    // which nothing can be written and no lease renewed): nothing changes.
    let before = placement(&nodes).await;
    let leader = wait_for_leader(&etcd).await;
    eprintln!("killing etcd leader m{leader}");
    etcd.kill(leader);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = placement(&nodes).await;
    assert_eq!(
        after,
        before,
        "the etcd leader down changed the placement:\n{}",
        tails(&nodes)
    );

    // Quorum lost: the nodes keep their cameras, and say so.
    etcd.kill((leader + 1) % 3);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = placement(&nodes).await;
    assert_eq!(
        after,
        before,
        "quorum loss stopped cameras:\n{}",
        tail(&nodes[0].log)
    );
    let ready = nodes[0].get("/readyz").await;
    assert_eq!(ready["fleet"]["connected"], false, "{ready}");
    assert!(
        ready["fleet"]["state"].as_str().unwrap().contains("quorum"),
        "{ready}"
    );
    let (_, metrics) = http::get_text(nodes[0].port, "/metrics").await.unwrap();
    assert_eq!(common::metric(&metrics, "vigia_fleet_connected "), 0.0);

    // The published statuses: per camera, no two nodes' streaming intervals overlap.
    let mut events = own_events;
    while let Ok(m) = own_statuses.rx.try_recv() {
        events.push(serde_json::from_slice(&m.payload).unwrap());
    }
    while let Ok(m) = statuses.rx.try_recv() {
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        events.push(v);
    }
    check_no_overlap(&events, Some((victim, killed_at)), &fleet_logs(&nodes));
    for n in &mut nodes {
        if let Some(p) = n.process.take() {
            p.kill9();
        }
    }
}

/// A node streaming a camera from, until.
type Span = (String, DateTime<Utc>, DateTime<Utc>);

/// From `camera_status` events: intervals from `streaming` to the next other state, per
/// (camera, node); the killed node's open intervals end when it was killed.
fn check_no_overlap(events: &[Value], killed: Option<(&str, DateTime<Utc>)>, logs: &str) {
    let (victim, killed_at) = killed.unwrap_or(("", Utc::now() + chrono::Duration::days(1)));
    let mut open: BTreeMap<(String, String), DateTime<Utc>> = BTreeMap::new();
    let mut spans: BTreeMap<String, Vec<Span>> = BTreeMap::new();
    let mut sorted: Vec<&Value> = events.iter().collect();
    sorted.sort_by_key(|v| v["utc_time"].as_str().unwrap_or_default().to_string());
    let far = Utc::now() + chrono::Duration::days(1);
    for v in sorted {
        let (Some(cam), Some(node), Some(state), Some(t)) = (
            v["camera"].as_str(),
            v["node"].as_str(),
            v["state"].as_str(),
            v["utc_time"].as_str(),
        ) else {
            continue;
        };
        let t: DateTime<Utc> = t.parse().unwrap();
        let key = (cam.to_string(), node.to_string());
        // The killed process's streaming ended when it was killed (its restart reports
        // the camera anew).
        if node == victim
            && t > killed_at
            && let Some(start) = open.get(&key).copied().filter(|s| *s < killed_at)
        {
            open.remove(&key);
            spans
                .entry(key.0.clone())
                .or_default()
                .push((key.1.clone(), start, killed_at));
        }
        if state == "streaming" {
            open.entry(key).or_insert(t);
        } else if let Some(start) = open.remove(&key) {
            spans.entry(key.0).or_default().push((key.1, start, t));
        }
    }
    for ((cam, node), start) in open {
        let end = if node == victim && start < killed_at {
            killed_at
        } else {
            far
        };
        spans.entry(cam).or_default().push((node, start, end));
    }
    assert!(
        spans.len() >= CAMERAS,
        "statuses of every camera: {spans:?}"
    );
    for (cam, s) in &spans {
        for (i, a) in s.iter().enumerate() {
            for b in &s[i + 1..] {
                if a.0 != b.0 && a.1 < b.2 && b.1 < a.2 {
                    let logs: Vec<&str> = logs
                        .lines()
                        .filter(|l| l.starts_with("---") || l.contains(cam.as_str()))
                        .collect();
                    panic!(
                        "{cam} streamed on {} and {} at once: {a:?} {b:?}\n{}",
                        a.0,
                        b.0,
                        logs.join("\n")
                    );
                }
            }
        }
    }
}

/// A node cut off from etcd for real (its link drops everything and closes nothing, so
/// only its own timeouts notice): it stops its cameras before its lease can run out, the
/// other node takes them only after that, and when the link is mended the node takes its
/// share back — never two nodes streaming one camera at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_etcd_stops_its_cameras_before_another_takes_them() {
    let Some(_serial) = serial_with_etcd().await else {
        return;
    };
    let etcd = EtcdCluster::start(1).unwrap();
    let direct = etcd.endpoints();
    let etcd_port: u16 = direct[0].rsplit(':').next().unwrap().parse().unwrap();
    let link = Link::start(etcd_port).await.unwrap();
    let through_link = vec![format!("http://127.0.0.1:{}", link.port())];
    let broker = Mosquitto::start().unwrap();
    let mut statuses =
        Subscriber::connect(broker.port(), &format!("{TOPICS}/+/cameras/+/status")).await;
    let dir = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Node> = ["n1", "n2"]
        .iter()
        .map(|name| {
            let port = free_port().unwrap();
            let data = dir.path().join(name);
            let etcd = if *name == "n2" {
                &through_link
            } else {
                &direct
            };
            Node::new(
                dir.path(),
                name,
                port,
                node_config(name, &data, port, broker.port(), etcd),
            )
        })
        .collect();
    start_fleet(&mut nodes, dir.path(), &direct);
    let p = settled(&nodes, Duration::from_secs(60), "first placement").await;
    let cut_off = per_node(&p)["n2"];

    // Cut n2's link: within its lease (5 s) it stops its cameras; n1 takes them after.
    link.cut();
    let t0 = Instant::now();
    let only_n1 = vec!["n1".to_string()];
    settled_on(&nodes, &only_n1, Duration::from_secs(20), "cut off").await;
    eprintln!(
        "{cut_off} camera(s) of the cut-off node moved in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let ready = nodes[1].get("/readyz").await;
    assert_eq!(ready["fleet"]["connected"], false, "{ready}");
    assert!(
        ready["fleet"]["state"]
            .as_str()
            .unwrap()
            .contains("cut off"),
        "{ready}"
    );

    // Mended: n2 registers again and takes its share back.
    link.restore();
    settled(&nodes, Duration::from_secs(30), "link mended").await;

    let mut events = Vec::new();
    while let Ok(m) = statuses.rx.try_recv() {
        events.push(serde_json::from_slice(&m.payload).unwrap());
    }
    check_no_overlap(&events, None, &fleet_logs(&nodes));
    for n in &mut nodes {
        if let Some(p) = n.process.take() {
            p.kill9();
        }
    }
}

/// An ownership key counts as a node's only under the lease it holds now: a restarted
/// process (same node name, new lease) waits for its predecessor's keys to expire, while
/// a key of its own lease (a look cut short after taking it) is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_the_same_node_under_another_lease_is_not_taken() {
    let Some(_serial) = serial_with_etcd().await else {
        return;
    };
    let etcd = EtcdCluster::start(1).unwrap();
    let endpoints = etcd.endpoints();
    let registered = || async {
        let mut store = vigia_fleet::FleetStore::connect(&endpoints, "/t", "n1", 5)
            .await
            .unwrap();
        store.register("{}").await.unwrap();
        store
    };
    let mut before = registered().await;
    assert!(before.acquire("cam-a").await.unwrap());
    // The same lease: already ours (an acquire retried after a lost answer).
    assert!(before.acquire("cam-a").await.unwrap());
    let snap = before.snapshot().await.unwrap();
    assert_eq!(snap.owners["cam-a"], "n1");
    assert_eq!(Some(snap.owner_leases["cam-a"]), before.lease_id());
    // The node restarted: same name, a new lease.
    let mut after = registered().await;
    assert_ne!(after.lease_id(), before.lease_id());
    assert!(!after.acquire("cam-a").await.unwrap());
    // Released by the old one: free for the new one.
    before.release("cam-a").await.unwrap();
    assert!(after.acquire("cam-a").await.unwrap());
}
