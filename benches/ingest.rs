//! vigia's ingest against a bare GStreamer decode of the same clip (issue 12, item 5: target
//! ≥ 0.95x the throughput of `gst-launch-1.0 filesrc ! qtdemux ! h264parse ! avdec_h264 !
//! fakesink`).
//!
//! Each round decodes the whole clip three ways, in an order that rotates per round: the
//! bare `gst-launch-1.0` pipeline (libav's default threads), and vigia's camera pipeline
//! (`run_camera` on a `file://` camera played as fast as it decodes, the rate gate
//! included, a consumer taking every frame at once and reading it as RGB — the conversion
//! from the decoder's I420 happens there, as in a worker whose detector reads every frame) with `decoder_threads = 1` (the default) and `0` (libav's choice, as gst-launch).
//! Printed: median wall time and CPU seconds of each, and the ratios. Run it beside a loaded
//! node to see the ratio under load (docs/performance.md):
//!
//! ```sh
//! cargo bench --bench ingest                       # 5 rounds, the car-park clip
//! VIGIA_INGEST_ROUNDS=9 VIGIA_INGEST_CLIP=/path/clip.mp4 cargo bench --bench ingest
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "the report")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use vigia_core::event::CameraState;
use vigia_core::{CameraId, FrameHub, Shutdown, SystemClock};
use vigia_ingest::pipeline::CameraStats;
use vigia_ingest::{CameraConfig, CameraStop, IngestContext, run_camera};
use vigia_telemetry::Metrics;

/// (this process's CPU seconds, its waited-for children's), from `/proc/self/stat`.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // Fields 14-17 of stat(5) (utime, stime, cutime, cstime), counted from `state` (3).
    let tick = 100.0; // USER_HZ on Linux
    ((f[11] + f[12]) / tick, (f[13] + f[14]) / tick)
}

#[derive(Clone, Copy, Default)]
struct Run {
    wall: f64,
    cpu: f64,
}

fn bare_gst(clip: &Path) -> Run {
    let c0 = cpu_seconds().1;
    let t = Instant::now();
    let status = Command::new("gst-launch-1.0")
        .args(["-q", "filesrc"])
        .arg(format!("location={}", clip.display()))
        .args([
            "!",
            "qtdemux",
            "!",
            "h264parse",
            "!",
            "avdec_h264",
            "!",
            "fakesink",
        ])
        .status()
        .expect("gst-launch-1.0 (gstreamer1.0-tools) runs");
    assert!(status.success(), "gst-launch-1.0 failed: {status}");
    Run {
        wall: t.elapsed().as_secs_f64(),
        cpu: cpu_seconds().1 - c0,
    }
}

fn vigia_ingest(rt: &tokio::runtime::Runtime, clip: &Path, threads: u32) -> (Run, u64) {
    let mut cfg = CameraConfig::new(
        CameraId::new("bench").expect("id"),
        format!("file://{}", clip.display()),
    );
    cfg.file_realtime = false;
    cfg.decoder_threads = threads;
    let hub = Arc::new(FrameHub::new());
    let (tx, mut status) = tokio::sync::mpsc::channel(64);
    let ctx = IngestContext {
        hub: hub.clone(),
        metrics: Arc::new(Metrics::new()),
        clock: Arc::new(SystemClock::new()),
        status: tx,
    };
    let stats = Arc::new(CameraStats::default());
    let shutdown = Shutdown::new();
    let taker = std::thread::spawn({
        let hub = hub.clone();
        // Every delivered frame read as RGB, as if the detector read all of them (frames
        // arrive in I420; the conversion happens on this first read).
        move || {
            while let Some(f) = hub.take(Duration::from_secs(30)) {
                std::hint::black_box(f.bytes());
            }
        }
    });
    let c0 = cpu_seconds().0;
    let t = Instant::now();
    rt.block_on(async {
        let task = tokio::spawn(run_camera(
            cfg,
            ctx,
            stats.clone(),
            CameraStop::new(shutdown.clone()),
        ));
        while let Some(st) = status.recv().await {
            if st.state == CameraState::Offline {
                assert_eq!(st.reason.as_deref(), Some("end of file"), "{st:?}");
                break;
            }
        }
        shutdown.cancel();
        task.await.expect("camera task");
    });
    let run = Run {
        wall: t.elapsed().as_secs_f64(),
        cpu: cpu_seconds().0 - c0,
    };
    hub.close();
    taker.join().expect("taker");
    (run, stats.decoded.load(Ordering::Relaxed))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let clip = match std::env::var_os("VIGIA_INGEST_CLIP") {
        Some(p) => PathBuf::from(p),
        None => match vigia_testkit::paths::shared_file("data/video/car-detection.mp4") {
            Ok(p) => p,
            Err(reason) => {
                eprintln!("ingest bench skipped: {reason}");
                return;
            }
        },
    };
    let rounds: usize = std::env::var("VIGIA_INGEST_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    vigia_ingest::init().expect("GStreamer");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let names = ["gst-launch", "vigia threads=1", "vigia threads=0"];
    let mut runs: [Vec<Run>; 3] = Default::default();
    let mut decoded = 0;
    for round in 0..rounds {
        for k in 0..3 {
            let which = (round + k) % 3;
            let run = match which {
                0 => bare_gst(&clip),
                w => {
                    let (run, n) = vigia_ingest(&rt, &clip, if w == 1 { 1 } else { 0 });
                    decoded = n;
                    run
                }
            };
            runs[which].push(run);
        }
    }
    println!(
        "ingest of {} ({decoded} frames), {rounds} rounds, medians:",
        clip.display()
    );
    let med: Vec<Run> = runs
        .iter()
        .map(|r| Run {
            wall: median(r.iter().map(|x| x.wall).collect()),
            cpu: median(r.iter().map(|x| x.cpu).collect()),
        })
        .collect();
    for (name, m) in names.iter().zip(&med) {
        println!(
            "  {name:<16} wall {:.3} s  cpu {:.2} s  throughput vs gst-launch {:.3}x  cpu vs gst-launch {:.3}x",
            m.wall,
            m.cpu,
            med[0].wall / m.wall,
            m.cpu / med[0].cpu.max(1e-9)
        );
    }
}
