//! Alarm inputs end to end, with the real binary, a real mosquitto and test-pattern
//! cameras: a panic button's MQTT message raises an `alarm` incident on each linked camera
//! with a snapshot at trigger time (`start`) and one a few seconds later (`end`), and one
//! alert; a repeat inside the debounce window raises nothing; garbage, unknown inputs and
//! inactive states are counted and the node carries on; the HTTP input needs the token.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::process::VigiaProcess as Vigia;
use serde_json::Value;
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::mqtt::{Subscriber, publish};
use vigia_testkit::{free_port, http};

const PREFIX: &str = "sies/test/alarms";
const TOKEN: &str = "alarm-test-token-7f3";

fn config(data: &Path, token_file: &Path, http_port: u16, broker: u16) -> String {
    let telemetry = format!("http_token_file = \"{}\"", token_file.display());
    let mut text = "reload_watch_secs = 0\n".to_string();
    text += &common::node_config_head("alarms", data, http_port, &telemetry, "workers = 1");
    text += &format!(
        r#"[mqtt]
url = "mqtt://127.0.0.1:{broker}"
topic_prefix = "{PREFIX}"
[[cameras]]
id = "plaza"
url = "test://ball?width=320&height=240&fps=5"
[[cameras]]
id = "street"
url = "test://smpte?width=320&height=240&fps=5"
[alarms]
mqtt_topic = "community/alarms/#"
state_field = "/state"
debounce_secs = 30
snapshot_after_secs = 2
[[alarms.inputs]]
id = "panic-berrio-01"
name = "Panic button, Parque Berrío"
kind = "panic_button"
cameras = ["plaza", "street"]
[[alarms.inputs]]
id = "community-7"
kind = "community_alarm"
cameras = ["street"]
severity = "medium"
"#
    );
    text
}

/// Waits for `n` messages on the subscriber; returns them as (topic, JSON).
async fn take(sub: &mut Subscriber, n: usize, within: Duration) -> Vec<(String, Value)> {
    let deadline = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout_at(deadline, sub.rx.recv()).await {
            Ok(Some(m)) => out.push((m.topic, serde_json::from_slice(&m.payload).unwrap())),
            _ => break,
        }
    }
    out
}

/// The node's metrics text.
async fn metrics(port: u16) -> String {
    let (_, text) = http::send(
        port,
        "GET",
        "/metrics",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        b"",
    )
    .await
    .unwrap();
    String::from_utf8_lossy(&text).into_owned()
}

fn count(m: &str, input: &str, result: &str) -> f64 {
    let series = format!("vigia_alarm_triggers_total{{input=\"{input}\",result=\"{result}\"}} ");
    common::metric(m, &series)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_triggers_raise_incidents_with_snapshots_on_linked_cameras() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (data, file, log, token) = (
        dir.path().join("data"),
        dir.path().join("vigia.toml"),
        dir.path().join("vigia.log"),
        dir.path().join("token"),
    );
    std::fs::write(&token, TOKEN).unwrap();
    let port = free_port().unwrap();
    std::fs::write(&file, config(&data, &token, port, broker.port())).unwrap();
    let mut incidents =
        Subscriber::connect(broker.port(), &format!("{PREFIX}/cameras/+/incidents")).await;
    let mut alerts = Subscriber::connect(broker.port(), &format!("{PREFIX}/alerts")).await;
    let vigia = Vigia::spawn(&file, &log);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    // Wait until both cameras stream (their frames are what the snapshots show).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let cams = http::send(
            port,
            "GET",
            "/api/v1/cameras",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            b"",
        )
        .await;
        if let Ok((200, body)) = cams {
            let v: Vec<Value> = serde_json::from_slice(&body).unwrap();
            if v.len() == 2
                && v.iter()
                    .all(|c| c["state"] == "streaming" && c["analysed_fps"].as_f64() > Some(0.0))
            {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cameras never streamed:\n{}",
            log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Garbage, an unknown input and a restore first: nothing raised, all counted. Then the
    // panic button (id from the topic, a message in the payload), and a repeat inside the
    // debounce window.
    let panic = "community/alarms/panic-berrio-01";
    let messages: [(&str, &[u8]); 5] = [
        (panic, b"\xff\x00 not json"),
        ("community/alarms/x", br#"{"id":"nobody","state":"alarm"}"#),
        (panic, br#"{"state":"restore"}"#),
        (panic, br#"{"state":"ALARM","message":"robo en curso"}"#),
        (panic, br#"{"state":"alarm"}"#),
    ];
    for (topic, payload) in messages {
        publish(broker.port(), topic, payload).await;
    }

    // start on both cameras, then end (second snapshot) 2 s later on both.
    let got = take(&mut incidents, 4, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 4, "incidents {got:#?}\nlog:\n{}", log_text());
    let mut ids = HashMap::new();
    for (topic, v) in &got {
        common::assert_valid_event(v);
        assert_eq!(v["kind"], "alarm", "{v}");
        assert_eq!(v["rule"], "panic-berrio-01", "{v}");
        assert_eq!(v["severity"], "high", "{v}");
        assert_eq!(v["alarm"]["via"], "mqtt", "{v}");
        assert_eq!(v["alarm"]["kind"], "panic_button", "{v}");
        assert_eq!(v["alarm"]["message"], "robo en curso", "{v}");
        assert_eq!(v["alarm"]["name"], "Panic button, Parque Berrío", "{v}");
        let cam = v["camera"].as_str().unwrap();
        assert_eq!(topic, &format!("{PREFIX}/cameras/{cam}/incidents"));
        // Every phase carries its own picture, served by the node.
        let scene = v["media"]["snapshot_url"]
            .as_str()
            .unwrap_or_else(|| panic!("no snapshot: {v}"));
        let path = &scene[scene.find("/api/").unwrap()..];
        let (code, jpeg) = http::send(
            port,
            "GET",
            path,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            b"",
        )
        .await
        .unwrap();
        assert_eq!(code, 200, "{path}");
        assert_eq!(&jpeg[..2], &[0xff, 0xd8], "{path} is not a JPEG");
        let phases = ids
            .entry(v["incident_id"].as_str().unwrap().to_string())
            .or_insert_with(Vec::new);
        phases.push((
            cam.to_string(),
            v["lifecycle"].as_str().unwrap().to_string(),
            scene.to_string(),
        ));
    }
    assert_eq!(ids.len(), 2, "one incident per linked camera: {ids:#?}");
    for phases in ids.values() {
        let lifecycles: Vec<&str> = phases.iter().map(|p| p.1.as_str()).collect();
        assert_eq!(lifecycles, ["start", "end"], "{phases:?}");
        assert_ne!(phases[0].2, phases[1].2, "the end carries a second picture");
    }
    let ends: Vec<&Value> = got
        .iter()
        .map(|g| &g.1)
        .filter(|v| v["lifecycle"] == "end")
        .collect();
    for e in ends {
        assert!(e["duration_ms"].as_u64().unwrap() >= 1500, "{e}");
    }
    let alert = take(&mut alerts, 1, Duration::from_secs(5)).await;
    assert_eq!(alert.len(), 1, "{alert:?}");
    let a = &alert[0].1;
    common::assert_valid_event(a);
    assert_eq!(a["reason"], "alarm", "{a}");
    assert_eq!(a["cameras"], serde_json::json!(["plaza", "street"]), "{a}");
    assert!(
        a["summary"].as_str().unwrap().contains("Parque Berrío"),
        "{a}"
    );

    // HTTP: no token → 401; unknown input → 404; bad body → 400; good → raised.
    let post = |path: &'static str, auth: bool, body: &'static [u8]| async move {
        let bearer = format!("Bearer {TOKEN}");
        let headers: Vec<(&str, &str)> = if auth {
            vec![("Authorization", bearer.as_str())]
        } else {
            vec![]
        };
        let (code, body) = http::send(port, "POST", path, &headers, body)
            .await
            .unwrap();
        (code, String::from_utf8_lossy(&body).into_owned())
    };
    assert_eq!(post("/api/v1/alarms/community-7", false, b"").await.0, 401);
    assert_eq!(post("/api/v1/alarms/nobody", true, b"").await.0, 404);
    assert_eq!(
        post("/api/v1/alarms/community-7", true, b"[1,2]").await.0,
        400
    );
    let (code, body) = post(
        "/api/v1/alarms/community-7",
        true,
        br#"{"message":"vecino reporta"}"#,
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert!(body.contains("\"raised\""), "{body}");
    let (code, body) = post("/api/v1/alarms/community-7", true, b"").await;
    assert_eq!(
        (code, body.contains("\"debounced\"")),
        (202, true),
        "{body}"
    );
    let got = take(&mut incidents, 2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got.iter()
            .all(|(t, v)| t.ends_with("/cameras/street/incidents")
                && v["alarm"]["via"] == "http"
                && v["severity"] == "medium"
                && v["alarm"]["message"] == "vecino reporta"),
        "{got:#?}"
    );

    let m = metrics(port).await;
    assert_eq!(count(&m, "panic-berrio-01", "raised"), 1.0, "{m:?}");
    assert_eq!(count(&m, "panic-berrio-01", "debounced"), 1.0, "{m:?}");
    assert_eq!(count(&m, "community-7", "raised"), 1.0, "{m:?}");
    assert_eq!(count(&m, "community-7", "debounced"), 1.0, "{m:?}");
    assert_eq!(count(&m, "", "bad_payload"), 2.0, "{m:?}");
    assert_eq!(count(&m, "", "unknown_input"), 2.0, "{m:?}");
    assert_eq!(count(&m, "", "inactive"), 1.0, "{m:?}");
    let status = vigia.terminate();
    assert!(status.success(), "{status:?}\n{}", log_text());
    assert!(
        log_text().contains("alarm payload ignored"),
        "{}",
        log_text()
    );
}
