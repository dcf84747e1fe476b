//! End to end with real parts: gst-rtsp-server serving a real video, real GStreamer, real
//! ONNX Runtime, a real mosquitto, and an MQTT subscriber as the monitoring center.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use vigia::{Config, RunOptions};
use vigia_sim::rtsp::{RtspCameraServer, SimStream};
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::mqtt::Subscriber;
use vigia_testkit::{free_port, shared_or_skip};

mod common;

const PREFIX: &str = "sies/test/e2e";

fn config_text(data_dir: &Path, http_port: u16, broker_port: u16, cameras: &str) -> String {
    let head = common::node_config_head("e2e", data_dir, http_port, "stats_interval_secs = 1", "");
    format!(
        r#"{head}
[mqtt]
url = "mqtt://127.0.0.1:{broker_port}"
topic_prefix = "{PREFIX}"
reconnect_min_backoff_ms = 100
reconnect_max_backoff_secs = 1
{cameras}
"#
    )
}

/// Checks the envelope of an event and returns it parsed.
fn check_envelope(topic: &str, payload: &[u8]) -> Value {
    let v: Value =
        serde_json::from_slice(payload).unwrap_or_else(|e| panic!("{topic}: not JSON: {e}"));
    common::assert_valid_event(&v);
    assert_eq!(v["schema"], "vigia.event/1", "{v}");
    let id = uuid::Uuid::parse_str(v["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7, "{v}");
    assert_eq!(v["site"], "test");
    assert_eq!(v["node"], "e2e");
    let t = v["utc_time"].as_str().unwrap();
    assert!(
        t.ends_with('Z') && t.len() == 24,
        "RFC 3339 UTC with ms: {t}"
    );
    DateTime::parse_from_rfc3339(t).unwrap();
    let camera = v["camera"].as_str().unwrap();
    assert!(
        topic.starts_with(&format!("{PREFIX}/cameras/{camera}/")),
        "{topic}"
    );
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_walking_through_a_real_rtsp_camera_become_events_at_the_center() {
    let video = shared_or_skip!("data/video/one-by-one-person-detection.mp4");
    vigia_telemetry::logging::init(vigia_telemetry::LogFormat::Text, "info").unwrap();
    let server = RtspCameraServer::start(
        "127.0.0.1",
        0,
        &[SimStream {
            path: "lobby".into(),
            file: video,
            start_at: Default::default(),
        }],
    )
    .unwrap();
    let broker = Mosquitto::start().unwrap();
    let mut sub = Subscriber::connect(broker.port(), &format!("{PREFIX}/#")).await;
    let data = tempfile::tempdir().unwrap();
    let http_port = free_port().unwrap();
    let cams = format!(
        "[[cameras]]\nid = \"lobby\"\nurl = \"{}\"\n",
        server.url("lobby")
    );
    let text = config_text(data.path(), http_port, broker.port(), &cams);
    let cfg = Config::parse(&text, Path::new("/"), Path::new("e2e.toml")).expect("valid config");
    let app = vigia::start(cfg, RunOptions::default()).await.unwrap();

    // The center sees the node online, the camera streaming, and a person come and go.
    let mut online = false;
    let mut streaming = false;
    let mut stats = 0;
    let mut tracks: HashMap<u64, Vec<String>> = HashMap::new();
    let mut classes = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !(online && streaming && stats >= 2 && tracks.values().any(|l| l.len() == 2)) {
        let m = tokio::time::timeout_at(deadline, sub.rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("timed out: online={online} streaming={streaming} stats={stats} tracks={tracks:?}")
            })
            .unwrap();
        if m.topic == format!("{PREFIX}/available") {
            // Live deliveries carry no retain flag; the retained value is checked below.
            online |= m.payload == b"online";
            continue;
        }
        if m.topic == format!("{PREFIX}/stats") {
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            common::assert_valid_stats(&v);
            assert!(!m.retain);
            assert_eq!(v["cameras"][0]["id"], "lobby");
            stats += 1;
            continue;
        }
        let v = check_envelope(&m.topic, &m.payload);
        match v["type"].as_str().unwrap() {
            "camera_status" => {
                assert!(m.topic.ends_with("/cameras/lobby/status"));
                streaming |= v["state"] == "streaming";
                if v["state"] == "streaming" {
                    assert_eq!(v["decoder"], "avdec_h264");
                }
            }
            "object" => {
                assert!(m.topic.ends_with("/cameras/lobby/objects"));
                let lifecycle = v["lifecycle"].as_str().unwrap().to_string();
                let id = v["track_id"].as_u64().unwrap();
                classes.insert(v["class"].as_str().unwrap().to_string());
                let p = v["likelihood"].as_f64().unwrap();
                assert!((0.35..=1.0).contains(&p), "{v}");
                for k in ["x", "y", "w", "h"] {
                    let x = v["box"][k].as_f64().unwrap();
                    assert!((0.0..=1.0).contains(&x), "{v}");
                }
                assert!(
                    v["box"]["w"].as_f64().unwrap() > 0.05,
                    "a person is not a speck: {v}"
                );
                if lifecycle == "end" {
                    assert!(v["duration_ms"].as_u64().unwrap() > 0);
                    assert!(v["sightings"].as_u64().unwrap() >= 3);
                }
                tracks.entry(id).or_default().push(lifecycle);
            }
            other => panic!("unexpected event type {other}"),
        }
    }
    assert_eq!(
        classes,
        HashSet::from(["person".to_string()]),
        "only people walk through this lobby"
    );
    for (id, l) in &tracks {
        assert_eq!(l[0], "new", "track {id} starts with new: {l:?}");
        assert!(l.len() <= 2, "track {id}: one new, one end: {l:?}");
    }

    let mut late = Subscriber::connect(broker.port(), &format!("{PREFIX}/available")).await;
    let m = tokio::time::timeout(Duration::from_secs(5), late.rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((m.payload.as_slice(), m.retain), (&b"online"[..], true));

    let (code, body) = vigia_testkit::http::get_text(http_port, "/healthz")
        .await
        .unwrap();
    assert_eq!((code, body.trim()), (200, "ok"));
    let (code, body) = vigia_testkit::http::get_text(http_port, "/readyz")
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    let (_, metrics) = vigia_testkit::http::get_text(http_port, "/metrics")
        .await
        .unwrap();
    for want in [
        "vigia_frames_decoded_total{camera=\"lobby\"}",
        "vigia_frames_analysed_total{camera=\"lobby\"}",
        "vigia_inference_seconds_bucket{model=\"yolox_nano\"",
        "vigia_events_published_total{type=\"object\"}",
        "vigia_outbox_depth",
        "vigia_mqtt_connected 1",
    ] {
        assert!(metrics.contains(want), "missing {want}");
    }
    // The lag metrics saw the frames behind the published events, and every stage.
    let count = |series: &str| common::metric(&metrics, series);
    assert!(
        count("vigia_frame_to_event_seconds_count ") >= 1.0,
        "{metrics}"
    );
    assert!(
        count("vigia_frame_to_puback_seconds_count ") >= 1.0,
        "{metrics}"
    );
    for stage in ["hub_wait", "inference", "analytics_wait", "analytics"] {
        let series = format!("vigia_pipeline_stage_seconds_count{{stage=\"{stage}\"}} ");
        assert!(count(&series) >= 1.0, "no {stage} times: {metrics}");
    }
    let (_, cams) = vigia_testkit::http::get_text(http_port, "/api/v1/cameras")
        .await
        .unwrap();
    let cams: Value = serde_json::from_str(&cams).unwrap();
    assert_eq!(cams[0]["state"], "streaming");

    app.stop().await.unwrap();
    drop(server);
}

// ---------------------------------------------------------------------------------------

use common::metric;
use common::process::VigiaProcess as Vigia;

fn outbox_event_ids(dir: &Path) -> Vec<String> {
    let (ob, _) = vigia_outbox::Outbox::open(dir, &vigia_outbox::OutboxConfig::default()).unwrap();
    ob.read_after(None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|r| {
            let m = vigia_publish::OutboxMessage::decode(&r.payload).unwrap();
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_restart_publishes_what_was_in_the_outbox() {
    let video = shared_or_skip!("data/video/one-by-one-person-detection.mp4");
    let mut broker = Mosquitto::start().unwrap();
    broker.stop(); // the center is unreachable while events are produced
    let dir = tempfile::tempdir().unwrap();
    let http_port = free_port().unwrap();
    let cams = format!(
        "[[cameras]]\nid = \"lobby\"\nurl = \"file://{}\"\nfile_realtime = false\n",
        video.display()
    );
    let config: PathBuf = dir.path().join("vigia.toml");
    std::fs::write(
        &config,
        config_text(&dir.path().join("data"), http_port, broker.port(), &cams),
    )
    .unwrap();
    let log = dir.path().join("vigia-1.log");
    let first = Vigia::spawn(&config, &log);

    // Wait until the first run stored some object events, then kill it hard.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no object events within 60 s; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", http_port)).await else {
            continue;
        };
        drop(stream);
        let (_, m) = vigia_testkit::http::get_text(http_port, "/metrics")
            .await
            .unwrap();
        if metric(&m, "vigia_events_created_total{type=\"object\"}") >= 2.0 {
            break;
        }
    }
    first.kill9();

    let stored = outbox_event_ids(&dir.path().join("data/outbox"));
    assert!(
        stored.len() >= 3,
        "status and object events were stored: {stored:?}"
    );

    // The center comes back; vigia restarts (without its camera: only the backlog flows).
    broker.start_again().unwrap();
    let mut sub = Subscriber::connect(broker.port(), &format!("{PREFIX}/#")).await;
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[[cameras]]", "[[cameras]]\nenabled = false");
    std::fs::write(&config, text).unwrap();
    let log2 = dir.path().join("vigia-2.log");
    let second = Vigia::spawn(&config, &log2);
    let mut want: HashSet<String> = stored.iter().cloned().collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !want.is_empty() {
        let m = tokio::time::timeout_at(deadline, sub.rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} stored events never arrived; log:\n{}",
                    want.len(),
                    std::fs::read_to_string(&log2).unwrap_or_default()
                )
            })
            .unwrap();
        if m.topic.ends_with("/available") {
            continue;
        }
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        common::assert_valid_event(&v);
        want.remove(v["id"].as_str().unwrap());
    }
    let status = second.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(
        outbox_event_ids(&dir.path().join("data/outbox")).is_empty(),
        "all acknowledged"
    );
    let _ = Utc::now();
}
