//! Live reconfiguration with the real binary and a real mosquitto: cameras added, changed
//! and removed in the config file take effect on SIGHUP, `POST /api/v1/config/reload` or
//! by themselves (file watch) without touching the other cameras; a bad file is refused
//! with its errors and the running configuration keeps going.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::process::VigiaProcess as Vigia;
use serde_json::Value;
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::mqtt::Subscriber;
use vigia_testkit::{free_port, http};

const PREFIX: &str = "sies/test/reload";

/// A config: `watch` seconds of file watch, then the test node's head, the broker and
/// `cameras` as `(id, test pattern)`.
fn config(
    data: &Path,
    http_port: u16,
    broker: u16,
    watch: u64,
    cameras: &[(&str, &str)],
) -> String {
    let mut text = format!("reload_watch_secs = {watch}\n");
    text += &common::node_config_head("reload", data, http_port, "", "workers = 1");
    text += &format!("[mqtt]\nurl = \"mqtt://127.0.0.1:{broker}\"\n");
    for (id, pattern) in cameras {
        text += &format!(
            "[[cameras]]\nid = \"{id}\"\nurl = \"test://{pattern}?width=320&height=240&fps=5\"\n"
        );
    }
    text
}

/// A test's files: the state directory, the config file, the node's log.
fn files() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (data, file, log) = (
        dir.path().join("data"),
        dir.path().join("vigia.toml"),
        dir.path().join("vigia.log"),
    );
    (dir, data, file, log)
}

async fn cameras(port: u16) -> Vec<Value> {
    match http::get_text(port, "/api/v1/cameras").await {
        Ok((200, body)) => serde_json::from_str(&body).unwrap(),
        _ => Vec::new(),
    }
}

/// Waits until the node lists exactly `ids`, every one streaming; returns the list.
async fn wait_for(port: u16, ids: &[&str], log: &Path) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let cams = cameras(port).await;
        let listed: Vec<&str> = cams.iter().map(|c| c["id"].as_str().unwrap()).collect();
        if listed == ids && cams.iter().all(|c| c["state"] == "streaming") {
            return cams;
        }
        assert!(
            Instant::now() < deadline,
            "cameras {cams:?}, want {ids:?} streaming; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn find<'a>(cams: &'a [Value], id: &str) -> &'a Value {
    cams.iter().find(|c| c["id"] == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_change_live_without_touching_the_others_and_a_bad_file_is_refused() {
    let broker = Mosquitto::start().unwrap();
    let mut sub = Subscriber::connect(broker.port(), &format!("{PREFIX}/cameras/+/status")).await;
    let (_dir, data, file, log) = files();
    let port = free_port().unwrap();
    let write = |watch: u64, cams: &[(&str, &str)]| {
        std::fs::write(&file, config(&data, port, broker.port(), watch, cams)).unwrap();
    };
    write(0, &[("a", "ball"), ("b", "smpte")]);
    let vigia = Vigia::spawn(&file, &log);
    let before = wait_for(port, &["a", "b"], &log).await;
    let a_since = find(&before, "a")["since"].clone();

    // SIGHUP: b removed, c added; a is not touched (same `since`, its counters go on).
    write(0, &[("a", "ball"), ("c", "snow")]);
    vigia.signal("-HUP");
    let after = wait_for(port, &["a", "c"], &log).await;
    let a = find(&after, "a");
    assert_eq!(a["since"], a_since, "a was restarted: {a}");
    assert!(
        a["frames_decoded"].as_u64() >= find(&before, "a")["frames_decoded"].as_u64(),
        "a's counters were reset: {a}"
    );
    // The center hears that b went offline, and why.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline, sub.rx.recv())
            .await
            .expect("no offline status for b")
            .unwrap();
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        if m.topic.ends_with("/cameras/b/status") && v["state"] == "offline" {
            assert_eq!(v["reason"], "removed from the configuration", "{v}");
            common::assert_valid_event(&v);
            break;
        }
    }

    // A bad file is refused with its errors; everything keeps running.
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        "colour = 1\n".to_string() + &good.replace("test://ball", "ftp://ball"),
    )
    .unwrap();
    let (code, body) = http::post_text(port, "/api/v1/config/reload")
        .await
        .unwrap();
    assert_eq!(code, 422, "{body}");
    let refused: Value = serde_json::from_str(&body).unwrap();
    let errors = refused["errors"].to_string();
    assert!(errors.contains("cameras[0].url"), "{body}");
    assert!(errors.contains("colour: unknown key"), "{body}");
    assert_eq!(refused["applied"], false);
    let still = wait_for(port, &["a", "c"], &log).await;
    assert_eq!(find(&still, "a")["since"], a_since);
    let (_, metrics) = http::get_text(port, "/metrics").await.unwrap();
    let metric = |s: &str| common::metric(&metrics, s);
    assert_eq!(
        metric("vigia_config_reloads_total{result=\"refused\"} "),
        1.0
    );
    assert_eq!(
        metric("vigia_config_reloads_total{result=\"applied\"} "),
        1.0
    );
    assert_eq!(metric("vigia_config_last_reload_successful "), 0.0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("configuration reload refused"), "{text}");

    // The API: c changes (restarts), a does not; an MQTT change waits for a restart.
    std::fs::write(
        &file,
        good.replace("test://snow", "test://pinwheel")
            .replace("[mqtt]\n", "[mqtt]\nkeep_alive_secs = 7\n"),
    )
    .unwrap();
    let (code, body) = http::post_text(port, "/api/v1/config/reload")
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    let done: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(done["changed"], serde_json::json!(["c"]), "{body}");
    assert_eq!(done["needs_restart"], serde_json::json!(["mqtt"]), "{body}");
    let last = wait_for(port, &["a", "c"], &log).await;
    assert_eq!(find(&last, "a")["since"], a_since);
    let (_, metrics) = http::get_text(port, "/metrics").await.unwrap();
    assert_eq!(
        common::metric(&metrics, "vigia_config_last_reload_successful "),
        1.0
    );

    let status = vigia.terminate();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_file_is_picked_up_by_itself() {
    let broker = Mosquitto::start().unwrap();
    let (_dir, data, file, log) = files();
    let port = free_port().unwrap();
    std::fs::write(
        &file,
        config(&data, port, broker.port(), 1, &[("a", "ball")]),
    )
    .unwrap();
    let _vigia = Vigia::spawn(&file, &log);
    wait_for(port, &["a"], &log).await;
    let cams = [("a", "ball"), ("b", "smpte")];
    std::fs::write(&file, config(&data, port, broker.port(), 1, &cams)).unwrap();
    wait_for(port, &["a", "b"], &log).await;
}
