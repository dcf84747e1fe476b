//! Fleet capacity: N simulated live RTSP cameras (`car-detection.mp4` served by the
//! in-process gst-rtsp-server, so vigia decodes and analyses them as it would real cameras),
//! the real `vigia` binary publishing to a real mosquitto, measured over a fixed window after
//! a warm-up; optionally the same fleet through the Python peer (`benches/capacity/peer.py`)
//! in the same run, one after the other for each N, and the ratios.
//!
//! Per N, vigia: analysed and decoded fps per camera (analysed counts frames the motion gate
//! skipped, as the peer's analysed frames would be), frames superseded, frame→outbox and
//! frame→PUBACK p50/p99 from vigia's own histograms, and the center's view (receive time
//! minus the event's `utc_time`, object `new` events), vigia's CPU and the machine's, RSS,
//! threads, open fds, and where a frame's time goes per stage.
//!
//! The cameras start at different points of the clip (independent cameras do not all see
//! the same moment); `VIGIA_CAPACITY_LOCKSTEP=1` starts them all together.
//!
//! The test command runs a short version (2 cameras, vigia only) so the harness keeps
//! working; `benches/capacity.sh` runs the real one. Knobs: `VIGIA_CAPACITY_CAMERAS`
//! (`1,4,8`), `VIGIA_CAPACITY_WARMUP_SECS`, `VIGIA_CAPACITY_SECS`, `VIGIA_CAPACITY_WORKERS`,
//! `VIGIA_CAPACITY_EXTRA` (lines added to the `[inference]` table),
//! `VIGIA_CAPACITY_CAMERA_EXTRA` (lines added to every `[[cameras]]` entry),
//! `VIGIA_CAPACITY_PEER_PYTHON` (a Python with the peer's packages: runs the peer too),
//! `VIGIA_BIN` (the binary to measure; default the test build), `VIGIA_CAPACITY_OUT` (JSON
//! lines appended there), `VIGIA_CAPACITY_VIDEO` (another H.264 file to serve, e.g. a
//! rendered LPR video), `VIGIA_CAPACITY_LPR=1` (every camera reads plates, with the
//! default plate chain; `VIGIA_CAPACITY_PLATE_DETECTOR`: another manifest in models/,
//! `VIGIA_CAPACITY_LPR_EXTRA`: lines added to `[lpr]`).

#![allow(clippy::print_stderr, reason = "the table is the report")]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use vigia_sim::rtsp::{RtspCameraServer, SimStream};
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::mqtt::Subscriber;
use vigia_testkit::procfs::{cpu_seconds, machine_jiffies};
use vigia_testkit::{free_port, shared_or_skip};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn env_num(name: &str, default: u64) -> u64 {
    env_or(name, &default.to_string())
        .parse()
        .unwrap_or(default)
}

/// Prometheus text: every sample as (series with labels, value).
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// Sum over the series of `name` whose labels contain every `want` (e.g. `reason="x"`).
fn sum(m: &HashMap<String, f64>, name: &str, want: &[&str]) -> f64 {
    m.iter()
        .filter(|(k, _)| {
            (k.as_str() == name || k.starts_with(&format!("{name}{{")))
                && want.iter().all(|w| k.contains(w))
        })
        .map(|(_, v)| v)
        .sum()
}

/// A quantile of a histogram's observations between two scrapes (linear inside a bucket).
fn quantile(
    a: &HashMap<String, f64>,
    b: &HashMap<String, f64>,
    name: &str,
    label: &str,
    q: f64,
) -> Option<f64> {
    let prefix = format!("{name}_bucket{{{label}");
    let mut buckets: Vec<(f64, f64)> = b
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .filter_map(|(k, v)| {
            let le = k.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, v - a.get(k).copied().unwrap_or(0.0)))
        })
        .collect();
    buckets.sort_by(|x, y| x.0.total_cmp(&y.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, count) in &buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let frac = if count > prev.1 {
                (rank - prev.1) / (count - prev.1)
            } else {
                1.0
            };
            return Some(prev.0 + (le - prev.0) * frac);
        }
        prev = (le, count);
    }
    None
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn pct(sorted: &[f64], q: f64) -> Option<f64> {
    (!sorted.is_empty()).then(|| sorted[((q * sorted.len() as f64) as usize).min(sorted.len() - 1)])
}

struct Fleet {
    server: RtspCameraServer,
    broker: Mosquitto,
    n: usize,
}

impl Fleet {
    fn urls(&self) -> Vec<String> {
        (0..self.n)
            .map(|i| self.server.url(&format!("cam{i}")))
            .collect()
    }
}

fn scrape(rt: &tokio::runtime::Runtime, port: u16) -> HashMap<String, f64> {
    rt.block_on(vigia_testkit::http::get_text(port, "/metrics"))
        .map(|(_, t)| samples(&t))
        .unwrap_or_default()
}

/// One vigia run over the fleet; its row.
fn run_vigia(rt: &tokio::runtime::Runtime, fleet: &Fleet, warmup: u64, secs: u64) -> Value {
    let data = tempfile::tempdir().unwrap();
    let http = free_port().unwrap();
    let workers = env_num("VIGIA_CAPACITY_WORKERS", 2);
    let extra = env_or("VIGIA_CAPACITY_EXTRA", "");
    let lpr = env_or("VIGIA_CAPACITY_LPR", "0") == "1";
    let camera_extra = env_or("VIGIA_CAPACITY_CAMERA_EXTRA", "");
    let cams: String = fleet
        .urls()
        .iter()
        .enumerate()
        .map(|(i, u)| {
            format!(
                "[[cameras]]\nid = \"cam{i}\"\nurl = \"{u}\"\nanalysis_fps = 5.0\nlpr = {lpr}\n{camera_extra}\n"
            )
        })
        .collect();
    let root = vigia_testkit::paths::project_root();
    let lpr_table = format!(
        "[lpr]\nplate_detector = \"{root}/models/{}\"\nocr = \"{root}/models/cct_xs_v1_global.toml\"\nlook_alike_ocr = \"{root}/models/ppocr_v4_rec.toml\"\n{}\n",
        env_or("VIGIA_CAPACITY_PLATE_DETECTOR", "platedet_fit_int8.toml"),
        env_or("VIGIA_CAPACITY_LPR_EXTRA", ""),
        root = root.display()
    );
    let text = format!(
        "{}\n{lpr_table}[outbox]\nfsync = \"interval\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\n{cams}",
        common::node_config_head(
            "capacity",
            data.path(),
            http,
            "",
            &format!("workers = {workers}\n{extra}")
        ),
        fleet.broker.port()
    );
    let config = data.path().join("capacity.toml");
    std::fs::write(&config, &text).unwrap();
    let bin = std::env::var_os("VIGIA_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_vigia")), PathBuf::from);
    // The node's log stays after the run: target/capacity-logs/vigia-<N>.log.
    let log_dir = vigia_testkit::paths::project_root().join("target/capacity-logs");
    std::fs::create_dir_all(&log_dir).unwrap();
    let log_path = log_dir.join(format!("vigia-{}.log", fleet.n));
    let mut node = Command::new(&bin)
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .spawn()
        .unwrap();
    let pid = node.id();
    // The center's view: object `new` events, receive time minus utc_time.
    let mut sub = rt.block_on(Subscriber::connect(
        fleet.broker.port(),
        "sies/test/capacity/#",
    ));
    let up = Instant::now();
    loop {
        let m = scrape(rt, http);
        if sum(&m, "vigia_camera_up", &[]) as usize == fleet.n {
            break;
        }
        assert!(
            node.try_wait().unwrap().is_none(),
            "vigia exited: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        assert!(
            up.elapsed() < Duration::from_secs(90),
            "cameras not all streaming after 90 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_secs(warmup));
    let (a, cpu_a, mach_a, t_a) = (
        scrape(rt, http),
        cpu_seconds(pid),
        machine_jiffies(),
        Instant::now(),
    );
    while sub.rx.try_recv().is_ok() {}
    let mut center = Vec::new();
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        let got = rt.block_on(async { tokio::time::timeout(left, sub.rx.recv()).await });
        let Ok(Some(msg)) = got else { continue };
        let Ok(v) = serde_json::from_slice::<Value>(&msg.payload) else {
            continue;
        };
        if v["type"] == "object"
            && v["lifecycle"] == "new"
            && let Some(t) = v["utc_time"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        {
            center.push((now_unix() - t.timestamp_millis() as f64 / 1e3) * 1e3);
        }
    }
    let (b, cpu_b, mach_b, el) = (
        scrape(rt, http),
        cpu_seconds(pid),
        machine_jiffies(),
        t_a.elapsed().as_secs_f64(),
    );
    let st = vigia_testkit::procfs::status(pid);
    let (rss, threads, fds) = (st.rss_kib, st.threads, st.fds);
    vigia_testkit::terminate(pid).unwrap();
    let _ = node.wait();
    center.sort_by(f64::total_cmp);
    let n = fleet.n as f64;
    let d = |name: &str, want: &[&str]| sum(&b, name, want) - sum(&a, name, want);
    let ms = |name: &str, label: &str, q: f64| quantile(&a, &b, name, label, q).map(|s| s * 1e3);
    let mut stages = serde_json::Map::new();
    for s in ["hub_wait", "inference", "analytics_wait", "analytics"] {
        let l = format!("stage=\"{s}\"");
        stages.insert(
            s.into(),
            json!([
                ms("vigia_pipeline_stage_seconds", &l, 0.5),
                ms("vigia_pipeline_stage_seconds", &l, 0.99)
            ]),
        );
    }
    json!({
        "who": "vigia", "cameras": fleet.n, "lockstep": env_or("VIGIA_CAPACITY_LOCKSTEP", "0") == "1", "secs": el,
        "decoded_fps": d("vigia_frames_decoded_total", &[]) / el / n,
        "analysed_fps": (d("vigia_frames_analysed_total", &[]) + d("vigia_frames_skipped_total", &[])) / el / n,
        "detector_fps": d("vigia_frames_analysed_total", &[]) / el / n,
        "region_fps": d("vigia_frames_in_region_total", &[]) / el / n,
        // The object detector's mean run (the plate models have their own series).
        "detector_ms": 1e3 * d("vigia_inference_seconds_sum", &["model=\"yolox"])
            / d("vigia_inference_seconds_count", &["model=\"yolox"]).max(1.0),
        "superseded": d("vigia_frames_dropped_total", &["reason=\"superseded\""]),
        "events": d("vigia_events_created_total", &[]),
        "event_p50_ms": ms("vigia_frame_to_event_seconds", "", 0.5),
        "event_p99_ms": ms("vigia_frame_to_event_seconds", "", 0.99),
        "puback_p50_ms": ms("vigia_frame_to_puback_seconds", "", 0.5),
        "puback_p99_ms": ms("vigia_frame_to_puback_seconds", "", 0.99),
        "center_p50_ms": pct(&center, 0.5), "center_p99_ms": pct(&center, 0.99), "center_events": center.len(),
        "cpu_cores": (cpu_b - cpu_a) / el,
        "machine_busy": (mach_b.0 - mach_a.0) / (mach_b.1 - mach_a.1).max(1.0),
        "rss_mib": rss as f64 / 1024.0, "threads": threads, "fds": fds,
        "stages_ms_p50_p99": stages,
    })
}

/// One peer run over the fleet; its row (the peer measures itself, the machine is sampled here).
fn run_peer(python: &str, fleet: &Fleet, warmup: u64, secs: u64) -> Value {
    let root = vigia_testkit::paths::project_root();
    let from = now_unix() + warmup as f64 + 3.0; // + process start and model load
    let to = from + secs as f64;
    let mut cmd = Command::new(python);
    cmd.arg(root.join("benches/capacity/peer.py"))
        .args([
            "--model",
            &root.join(".vigia/models/yolox_nano.onnx").to_string_lossy(),
        ])
        .args(["--broker-port", &fleet.broker.port().to_string()])
        .args([
            "--measure-from",
            &from.to_string(),
            "--measure-to",
            &to.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for u in fleet.urls() {
        cmd.args(["--url", &u]);
    }
    let child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_secs_f64((from - now_unix()).max(0.0)));
    let mach_a = machine_jiffies();
    std::thread::sleep(Duration::from_secs_f64((to - now_unix()).max(0.0)));
    let mach_b = machine_jiffies();
    let out = child.wait_with_output().unwrap();
    let mut v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("peer output: {e}: {}", String::from_utf8_lossy(&out.stdout)));
    v["who"] = "peer".into();
    v["machine_busy"] = ((mach_b.0 - mach_a.0) / (mach_b.1 - mach_a.1).max(1.0)).into();
    v
}

fn f(v: &Value, k: &str, digits: usize) -> String {
    v[k].as_f64()
        .map_or("—".into(), |x| format!("{x:.digits$}"))
}

fn print_row(v: &Value) {
    eprintln!(
        "[capacity] {:>5} N={:>2} analysed={:>5} decoded={:>5} detector={:>5} (region {:>5}, {:>5} ms) superseded={:>5} frame->PUBACK p50/p99={:>6}/{:>6} ms center p50/p99={:>6}/{:>6} ms cpu={:>5} machine={:>5} rss={:>6} MiB threads={} fds={} stages={}",
        v["who"].as_str().unwrap_or("?"),
        v["cameras"],
        f(v, "analysed_fps", 2),
        f(
            v,
            if v["who"] == "peer" {
                "read_fps"
            } else {
                "decoded_fps"
            },
            2
        ),
        f(v, "detector_fps", 2),
        f(v, "region_fps", 2),
        f(v, "detector_ms", 1),
        f(v, "superseded", 0),
        f(
            v,
            if v["who"] == "peer" {
                "p50_ms"
            } else {
                "puback_p50_ms"
            },
            0
        ),
        f(
            v,
            if v["who"] == "peer" {
                "p99_ms"
            } else {
                "puback_p99_ms"
            },
            0
        ),
        f(v, "center_p50_ms", 0),
        f(v, "center_p99_ms", 0),
        f(v, "cpu_cores", 2),
        f(v, "machine_busy", 2),
        f(
            v,
            if v["who"] == "peer" {
                "pss_mib"
            } else {
                "rss_mib"
            },
            0
        ),
        v["threads"],
        v["fds"],
        v["stages_ms_p50_p99"],
    );
}

#[test]
fn capacity_of_one_node() {
    let shared_video = shared_or_skip!("data/video/car-detection.mp4");
    let video = std::env::var_os("VIGIA_CAPACITY_VIDEO").map_or(shared_video, PathBuf::from);
    let ns: Vec<usize> = env_or("VIGIA_CAPACITY_CAMERAS", "2")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let warmup = env_num("VIGIA_CAPACITY_WARMUP_SECS", 5);
    let secs = env_num("VIGIA_CAPACITY_SECS", 8);
    let peer = std::env::var("VIGIA_CAPACITY_PEER_PYTHON").ok();
    let out = std::env::var_os("VIGIA_CAPACITY_OUT").map(PathBuf::from);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for (k, &n) in ns.iter().enumerate() {
        // Independent cameras show different moments: camera i starts i/N into the clip
        // (at the keyframe before, so the clip's keyframe spacing bounds how many distinct
        // moments there are). VIGIA_CAPACITY_LOCKSTEP=1: all start together, every camera
        // showing the same frame at the same time (the load rises and falls for all at once).
        let clip_len = vigia_sim::rtsp::Clip::load(&video).unwrap().duration();
        let lockstep = env_or("VIGIA_CAPACITY_LOCKSTEP", "0") == "1";
        let streams: Vec<SimStream> = (0..n)
            .map(|i| SimStream {
                path: format!("cam{i}"),
                file: video.clone(),
                start_at: match lockstep {
                    true => Duration::ZERO,
                    false => clip_len * i as u32 / n as u32,
                },
            })
            .collect();
        let fleet = Fleet {
            server: RtspCameraServer::start("127.0.0.1", 0, &streams).unwrap(),
            broker: Mosquitto::start().unwrap(),
            n,
        };
        // Alternate who goes first, so neither always gets the cooler machine.
        let mut rows = Vec::new();
        let vigia_first = k % 2 == 0;
        for turn in 0..2 {
            let row = match (turn == 0) == vigia_first {
                true => run_vigia(&rt, &fleet, warmup, secs),
                false => match &peer {
                    Some(py) => run_peer(py, &fleet, warmup, secs),
                    None => continue,
                },
            };
            print_row(&row);
            rows.push(row);
        }
        let vigia = rows.iter().find(|r| r["who"] == "vigia").unwrap();
        if let Some(p) = rows.iter().find(|r| r["who"] == "peer") {
            let r = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "—".into(),
            };
            eprintln!(
                "[capacity] ratio N={n}: analysed fps vigia/peer {} · p99 frame->PUBACK vigia/peer {} · CPU per analysed frame vigia/peer {} · memory vigia RSS / peer PSS {}",
                r(vigia["analysed_fps"].as_f64(), p["analysed_fps"].as_f64()),
                r(vigia["puback_p99_ms"].as_f64(), p["p99_ms"].as_f64()),
                r(
                    vigia["cpu_cores"]
                        .as_f64()
                        .zip(vigia["analysed_fps"].as_f64())
                        .map(|(c, a)| c / a),
                    p["cpu_cores"]
                        .as_f64()
                        .zip(p["analysed_fps"].as_f64())
                        .map(|(c, a)| c / a)
                ),
                r(vigia["rss_mib"].as_f64(), p["pss_mib"].as_f64()),
            );
        }
        if let Some(path) = &out {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            for row in &rows {
                writeln!(file, "{row}").unwrap();
            }
        }
        // The harness itself must measure: every camera analysed, the lag metrics filled.
        assert!(vigia["analysed_fps"].as_f64().unwrap() > 1.0, "{vigia}");
        assert!(vigia["decoded_fps"].as_f64().unwrap() > 5.0, "{vigia}");
        assert!(vigia["cpu_cores"].as_f64().unwrap() > 0.0, "{vigia}");
        assert!(
            vigia["stages_ms_p50_p99"]["inference"][0].is_number(),
            "{vigia}"
        );
        fleet.server.stop();
    }
}
