//! `vigia discover` against the testkit's ONVIF device (answers recorded from real
//! cameras, WS-UsernameToken checked on the device's clock): a directed WS-Discovery probe
//! finds it, its information, profile and stream URI are listed, and the `[[cameras]]`
//! entry it prints is a camera `vigia check-config` accepts.

mod common;

use std::process::{Command, Output};

use serde_json::Value;
use vigia_testkit::onvif::OnvifDevice;

fn vigia(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigia"))
        .args(args)
        .output()
        .unwrap()
}

/// `vigia` off the async threads (the device answers on them).
async fn vigia_async(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        vigia(&refs)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_finds_the_camera_and_lists_its_profile_and_stream() {
    let stream = "rtsp://127.0.0.1:8554/h264main";
    let device = OnvifDevice::start("operator", "Envigado-77", stream)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("cams.pw");
    std::fs::write(&secret, "Envigado-77\n").unwrap();
    let to = device.discovery_addr().to_string();
    let secret_arg = secret.display().to_string();
    let args = [
        "discover",
        "--to",
        &to,
        "--wait-ms",
        "1500",
        "--username",
        "operator",
        "--password-file",
        &secret_arg,
    ];
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = vigia_async(&json_args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0];
    assert_eq!(d["url"], device.url());
    assert_eq!(d["endpoint"], "uuid:c9790c3a-701b-464d-a189-0060351c8ada");
    assert_eq!(d["name"], "PREDATOR");
    assert_eq!(d["hardware"], "HD_PREDATOR");
    assert_eq!(d["information"]["manufacturer"], "Ozray Co., Ltd.");
    assert_eq!(d["information"]["model"], "HK640SIP");
    assert_eq!(d["error"], Value::Null);
    let p = &d["profiles"][0];
    assert_eq!(p["token"], "main");
    assert_eq!(p["encoding"], "H264");
    assert_eq!(
        (p["width"].as_u64(), p["height"].as_u64()),
        (Some(1920), Some(1080))
    );
    assert_eq!(p["stream_uri"], stream);
    assert_eq!(device.refused(), 0);

    // Text: the camera entry to paste, which check-config accepts.
    let out = vigia_async(&args).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("profile \"main\" (token main): H264 1920x1080"),
        "{text}"
    );
    let entry: String = text
        .lines()
        .skip_while(|l| l.trim() != "[[cameras]]")
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    assert!(entry.contains("onvif_profile = \"main\""), "{entry}");
    assert!(!text.contains("Envigado-77"), "password printed: {text}");
    let cfg = dir.path().join("vigia.toml");
    let head = common::node_config_head("discover", dir.path(), 9, "", "");
    std::fs::write(&cfg, format!("{head}{entry}")).unwrap();
    let check = vigia(&["check-config", &cfg.display().to_string()]);
    assert!(
        check.status.success(),
        "{entry}\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_says_when_credentials_are_wrong_or_missing() {
    let device = OnvifDevice::start("admin", "right", "rtsp://127.0.0.1:9/x")
        .await
        .unwrap();
    let url = device.url();
    let out = vigia_async(&["discover", "--device", &url, "--json"]).await;
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = found[0]["error"].as_str().unwrap();
    assert!(e.contains("needs credentials"), "{e}");
    // Nothing answers a probe sent where no device is: no device, exit 3.
    let port = vigia_testkit::free_port().unwrap().to_string();
    let to = format!("127.0.0.1:{port}");
    let out = vigia_async(&["discover", "--to", &to, "--wait-ms", "300"]).await;
    assert_eq!(out.status.code(), Some(3));
}
