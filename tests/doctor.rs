//! `vigia doctor` against real parts: a node config with a real mosquitto, the set-up's
//! ONNX Runtime and models, and cameras (a test pattern, an RTSP port that answers) comes
//! out clean; a model whose checksum does not match, a broker that is not there and a
//! camera nobody answers for each fail with a reason that names them, and the exit status
//! is 1.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use vigia_testkit::mosquitto::Mosquitto;

/// Runs `vigia doctor --json --cameras -c FILE`; (exit code, checks by name).
fn doctor(config: &Path) -> (i32, Vec<(String, String, String)>) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigia"))
        .args(["doctor", "--json", "--cameras", "-c"])
        .arg(config)
        .output()
        .unwrap();
    let checks: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let checks = checks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            (s("check"), s("status"), s("detail"))
        })
        .collect();
    (out.status.code().unwrap(), checks)
}

fn status<'a>(checks: &'a [(String, String, String)], name: &str) -> (&'a str, &'a str) {
    let c = checks
        .iter()
        .find(|c| c.0 == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"));
    (c.1.as_str(), c.2.as_str())
}

#[test]
fn a_sound_node_passes_and_each_broken_part_is_named() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Something that accepts connections where the RTSP camera is said to be.
    let rtsp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rtsp_port = rtsp.local_addr().unwrap().port();
    let head = common::node_config_head("doctor", dir.path(), 9, "", "");
    let good = format!(
        "{head}[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\n[[cameras]]\nid = \"pattern\"\nurl = \"test://ball\"\n[[cameras]]\nid = \"gate\"\nurl = \"rtsp://admin:hunter2@127.0.0.1:{rtsp_port}/live\"\n",
        broker.port()
    );
    let cfg = dir.path().join("good.toml");
    std::fs::write(&cfg, &good).unwrap();
    let (code, checks) = doctor(&cfg);
    let failed: Vec<_> = checks.iter().filter(|c| c.1 == "fail").collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(code, 0, "{checks:?}");
    for name in [
        "config",
        "gstreamer",
        "onnxruntime",
        "model detector",
        "mqtt",
        "outbox",
    ] {
        assert_eq!(status(&checks, name).0, "ok", "{name}: {checks:?}");
    }
    assert!(status(&checks, "gstreamer").1.contains("avdec_h264"));
    assert!(status(&checks, "onnxruntime").1.contains("cpu"));
    assert!(status(&checks, "mqtt").1.contains("connected"));
    assert_eq!(status(&checks, "camera gate").0, "ok");
    assert!(!format!("{checks:?}").contains("hunter2"), "password shown");

    // A model file that is not the one its manifest names, a broker that is gone, a camera
    // whose port nobody listens on.
    let root = vigia_testkit::paths::project_root();
    let manifest = std::fs::read_to_string(root.join("models/yolox_nano_fit.toml")).unwrap();
    let sha_line = manifest
        .lines()
        .find(|l| l.starts_with("sha256"))
        .unwrap()
        .to_string();
    let bad_manifest = dir.path().join("tampered.toml");
    std::fs::write(
        &bad_manifest,
        manifest.replace(&sha_line, &format!("sha256 = \"{}\"", "ab".repeat(32))),
    )
    .unwrap();
    let closed = vigia_testkit::free_port().unwrap();
    drop(rtsp);
    let bad = good
        .replace(
            &format!("{}", root.join("models/yolox_nano_fit.toml").display()),
            &bad_manifest.display().to_string(),
        )
        .replace(
            &format!("mqtt://127.0.0.1:{}", broker.port()),
            &format!("mqtt://127.0.0.1:{closed}"),
        );
    assert_ne!(bad, good);
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, &bad).unwrap();
    let (code, checks) = doctor(&cfg);
    assert_eq!(code, 1, "{checks:?}");
    let (s, d) = status(&checks, "model detector");
    assert_eq!(s, "fail");
    assert!(d.contains("sha256"), "{d}");
    let (s, d) = status(&checks, "mqtt");
    assert_eq!(s, "fail");
    assert!(d.contains(&format!("127.0.0.1:{closed}")), "{d}");
    let (s, d) = status(&checks, "camera gate");
    assert_eq!(s, "fail");
    assert!(
        d.contains(&format!("127.0.0.1:{rtsp_port}")) && !d.contains("hunter2"),
        "{d}"
    );
    // What works still says so.
    assert_eq!(status(&checks, "gstreamer").0, "ok");
    assert_eq!(status(&checks, "camera pattern").0, "ok");
}
