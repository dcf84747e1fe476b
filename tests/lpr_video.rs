//! License plates end to end: real plate photos rendered into an H.264 video with motion,
//! served by the in-process RTSP server, read by vigia, published to a real mosquitto.
//! Each vehicle must give exactly one pass with one `end` read of the right plate; a plate on
//! the hotlist must raise one alert; snapshots must be served.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use vigia::{Config, RunOptions};
use vigia_sim::render::{RenderSpec, render_slideshow};
use vigia_sim::rtsp::{RtspCameraServer, SimStream};
use vigia_testkit::free_port;
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::mqtt::Subscriber;
use vigia_testkit::paths::{self, shared_dir};

mod common;

const PREFIX: &str = "sies/test/lpr";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_passing_vehicle_gives_one_read_with_the_right_plate() {
    let shared = match shared_dir() {
        Ok(d) => d,
        Err(reason) => {
            paths::skip("lpr_video", &reason.to_string());
            return;
        }
    };
    // Ground truth: the file names of the Colombian photos, the labels of the EU ones.
    let cases: Vec<(PathBuf, &str)> = vec![
        (shared.join("data/plates/co/EMK001.jpg"), "EMK001"),
        (shared.join("data/plates/eu/eu1.jpg"), "M5XSX"),
        (shared.join("data/plates/co/FDV094.jpg"), "FDV094"),
        (shared.join("data/plates/eu/eu10.jpg"), "WA56660"),
        (shared.join("data/plates/eu/test_035.jpg"), "BA738DE"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("plates.mp4");
    let photos: Vec<PathBuf> = cases.iter().map(|c| c.0.clone()).collect();
    let spec = RenderSpec::default();
    let shown = tokio::task::spawn_blocking({
        let video = video.clone();
        move || render_slideshow(&photos, &video, &spec)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(shown.len(), 5);

    let server = RtspCameraServer::start(
        "127.0.0.1",
        0,
        &[SimStream {
            path: "lpr".into(),
            file: video.clone(),
            start_at: Default::default(),
        }],
    )
    .unwrap();
    let broker = Mosquitto::start().unwrap();
    let mut sub = Subscriber::connect(broker.port(), &format!("{PREFIX}/#")).await;
    std::fs::write(
        dir.path().join("stolen.csv"),
        "placa;categoria;observaciones\nFDV-094;hurto;reported 2026-11-20\nZZZ999;hurto;\n",
    )
    .unwrap();
    let http_port = free_port().unwrap();
    let root = paths::project_root();
    let head = common::node_config_head(
        "lpr",
        &dir.path().join("data"),
        http_port,
        "",
        "threads_per_worker = 2",
    );
    let text = format!(
        r#"{head}
[lpr]
plate_detector = "{root}/models/platedet_fit_int8.toml"
ocr = "{root}/models/cct_xs_v1_global.toml"
look_alike_ocr = "{root}/models/ppocr_v4_rec.toml"
hotlists = [{{ path = "{hot}", list = "stolen" }}]
[mqtt]
url = "mqtt://127.0.0.1:{broker}"
topic_prefix = "{PREFIX}"
onvif_mirror = true
snapshot_topic = true
[[cameras]]
id = "lpr-1"
url = "{url}"
analysis_fps = 4.0
lpr = true
"#,
        root = root.display(),
        hot = dir.path().join("stolen.csv").display(),
        broker = broker.port(),
        url = server.url("lpr"),
    );
    let cfg = Config::parse(&text, Path::new("/"), Path::new("lpr.toml"))
        .unwrap_or_else(|e| panic!("{e:#?}"));
    let app = vigia::start(cfg, RunOptions::default()).await.unwrap();

    let want: HashSet<&str> = cases.iter().map(|c| c.1).collect();
    let mut passes: BTreeMap<u64, Vec<(String, String)>> = BTreeMap::new();
    let mut alerts: Vec<Value> = Vec::new();
    let mut lpr_events: Vec<Value> = Vec::new();
    let mut mirrors: Vec<Value> = Vec::new();
    let mut pictures: HashMap<String, Vec<u8>> = HashMap::new();
    let ended = |passes: &BTreeMap<u64, Vec<(String, String)>>| -> HashSet<String> {
        passes
            .values()
            .flat_map(|l| {
                l.iter()
                    .filter(|(lc, _)| lc == "end")
                    .map(|(_, n)| n.clone())
            })
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut settle: Option<tokio::time::Instant> = None;
    loop {
        if settle.is_none() && want.iter().all(|w| ended(&passes).contains(*w)) {
            // Everything arrived: listen a little longer for anything extra.
            settle = Some(tokio::time::Instant::now() + Duration::from_secs(4));
        }
        let until = settle.unwrap_or(deadline);
        let m = match tokio::time::timeout_at(until, sub.rx.recv()).await {
            Ok(m) => m.unwrap(),
            Err(_) if settle.is_some() => break,
            Err(_) => panic!("timed out; passes so far: {passes:?}"),
        };
        if m.topic.ends_with("/available") || m.topic.ends_with("/status") {
            continue;
        }
        if let Some(rest) = m
            .topic
            .strip_prefix(&format!("{PREFIX}/cameras/lpr-1/snapshots/"))
        {
            pictures.insert(rest.to_string(), m.payload);
            continue;
        }
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        if m.topic.ends_with("/stats") {
            common::assert_valid_stats(&v);
            continue;
        }
        if m.topic.contains("/onvif-ej/") {
            // Every mirror matches the schema; plate reads are on Profile M's plate topic,
            // tracked vehicles on ObjectDetection/Object.
            common::assert_valid_onvif(&v);
            let lpr = format!(
                "{PREFIX}/onvif-ej/RuleEngine/Recognition/LicensePlate/&lpr-1/LicensePlateRecognition"
            );
            let object = format!(
                "{PREFIX}/onvif-ej/RuleEngine/ObjectDetection/Object/&lpr-1/ObjectDetection"
            );
            assert!(m.topic == lpr || m.topic == object, "{}", m.topic);
            if m.topic == lpr {
                mirrors.push(v);
            }
            continue;
        }
        common::assert_valid_event(&v);
        match v["type"].as_str().unwrap() {
            "lpr" => {
                assert_eq!(m.topic, format!("{PREFIX}/cameras/lpr-1/lpr"));
                passes
                    .entry(v["pass_id"].as_u64().unwrap())
                    .or_default()
                    .push((
                        v["lifecycle"].as_str().unwrap().into(),
                        v["plate"]["number"].as_str().unwrap().into(),
                    ));
                lpr_events.push(v);
            }
            "alert" => {
                assert_eq!(m.topic, format!("{PREFIX}/alerts"));
                alerts.push(v);
            }
            _ => {}
        }
    }

    // The photos slide left to right at a constant size: every pass drove "right".
    for v in lpr_events.iter().filter(|v| v["lifecycle"] == "end") {
        assert_eq!(v["direction"]["travel"], "right", "{v}");
        assert!(v["direction"]["dx"].as_f64().unwrap() > 0.05, "{v}");
    }

    // The snapshot topic: each lpr event's scene and plate crop as JPEG bytes; for `end`
    // events the same bytes the node serves at the event's URLs (a pass's pictures are
    // replaced while a better read comes, so earlier events carried earlier pictures).
    for v in &lpr_events {
        let id = v["id"].as_str().unwrap();
        for (image, url_key) in [("scene", "snapshot_url"), ("plate", "plate_crop_url")] {
            let bytes = pictures
                .get(&format!("{id}/{image}"))
                .unwrap_or_else(|| panic!("no {image} picture for {id}"));
            assert!(bytes.starts_with(&[0xff, 0xd8]), "a JPEG");
            if v["lifecycle"] == "end" {
                let url = v["media"][url_key].as_str().unwrap();
                let (code, served) =
                    vigia_testkit::http::get(http_port, &url[url.find("/api/").unwrap()..])
                        .await
                        .unwrap();
                assert_eq!(code, 200);
                assert!(served == *bytes, "{image} of {id}: the served file differs");
            }
        }
    }
    assert_eq!(pictures.len(), 2 * lpr_events.len());

    // The ONVIF-style mirror: one message per lpr event, same plate, same pass.
    assert_eq!(mirrors.len(), lpr_events.len(), "{mirrors:?}");
    for v in &lpr_events {
        let id = v["id"].as_str().unwrap();
        let m = mirrors
            .iter()
            .find(|m| m["Data"]["EventId"] == id)
            .unwrap_or_else(|| panic!("no mirror of {v}"));
        assert_eq!(
            m["Data"]["LicensePlateInfo"]["PlateNumber"]["Value"],
            v["plate"]["number"]
        );
        assert_eq!(
            m["Key"]["ObjectId"],
            v["pass_id"].as_u64().unwrap().to_string()
        );
        let op = match v["lifecycle"].as_str().unwrap() {
            "new" => "Initialized",
            "end" => "Deleted",
            _ => "Changed",
        };
        assert_eq!(m["PropertyOperation"], op);
        if v["plate"]["country_code"] == "CO" {
            assert_eq!(m["Data"]["LicensePlateInfo"]["CountryCode"]["Value"], "CO");
        }
    }

    // One pass per vehicle, each: one `new`, one `end`, ending on the right plate.
    let mut by_plate: HashMap<String, u32> = HashMap::new();
    for (id, l) in &passes {
        assert_eq!(
            l.first().map(|x| x.0.as_str()),
            Some("new"),
            "pass {id}: {l:?}"
        );
        let ends: Vec<_> = l.iter().filter(|x| x.0 == "end").collect();
        assert_eq!(ends.len(), 1, "pass {id}: {l:?}");
        assert!(
            want.contains(ends[0].1.as_str()),
            "pass {id} ended on an unexpected plate: {l:?}"
        );
        *by_plate.entry(ends[0].1.clone()).or_default() += 1;
    }
    assert_eq!(passes.len(), 5, "{passes:?}");
    assert!(by_plate.values().all(|n| *n == 1), "{by_plate:?}");

    // Colombian plates carry their format; reads carry snapshots the node serves.
    let end_of = |n: &str| {
        lpr_events
            .iter()
            .find(|v| v["lifecycle"] == "end" && v["plate"]["number"] == n)
            .unwrap()
            .clone()
    };
    for n in ["EMK001", "FDV094"] {
        let v = end_of(n);
        assert_eq!(v["plate"]["format"], "co_particular", "{v}");
        assert_eq!(v["plate"]["country_code"], "CO");
        assert_eq!(v["plate"]["color"], "yellow");
    }
    let v = end_of("WA56660");
    assert!(
        v["plate"].get("format").is_none(),
        "a foreign plate has no Colombian format: {v}"
    );
    assert!(v["reads"].as_u64().unwrap() >= 2);
    let url = v["media"]["snapshot_url"].as_str().unwrap();
    let path = &url[url.find("/api/").unwrap()..];
    let (code, body) = vigia_testkit::http::get(http_port, path).await.unwrap();
    assert_eq!(code, 200);
    assert!(body.starts_with(&[0xff, 0xd8]), "a JPEG");
    let crop = v["media"]["plate_crop_url"].as_str().unwrap();
    let (code, _) = vigia_testkit::http::get(http_port, &crop[crop.find("/api/").unwrap()..])
        .await
        .unwrap();
    assert_eq!(code, 200);
    // A data-subject request (docs/privacy.md): DELETE each picture of the read; gone after.
    for u in [url, crop] {
        let path = &u[u.find("/api/").unwrap()..];
        let (code, _) = vigia_testkit::http::send(http_port, "DELETE", path, &[], b"")
            .await
            .unwrap();
        assert_eq!(code, 204, "{path}");
        let (code, _) = vigia_testkit::http::get(http_port, path).await.unwrap();
        assert_eq!(code, 404, "{path} still served");
        let (code, _) = vigia_testkit::http::send(http_port, "DELETE", path, &[], b"")
            .await
            .unwrap();
        assert_eq!(code, 404, "{path}");
    }

    // The stolen plate raised exactly one alert, and its reads say so.
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["plate"], "FDV094");
    assert_eq!(a["hotlist"]["list"], "stolen");
    assert_eq!(a["hotlist"]["category"], "hurto");
    assert_eq!(a["hotlist"]["match_distance"], 0.0);
    assert_eq!(a["severity"], "high");
    let fdv = end_of("FDV094");
    assert_eq!(fdv["hotlist"]["matched"], true);
    assert_eq!(end_of("EMK001")["hotlist"]["matched"], false);
    let lpr_ids: HashSet<&str> = lpr_events
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert!(lpr_ids.contains(a["source_event_id"].as_str().unwrap()));

    app.stop().await.unwrap();
    drop(server);
}
