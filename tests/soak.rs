//! Soak: the real binary (`vigia run`) on many simulated RTSP cameras for a while, one of
//! them flapping (its server goes away and comes back), with its RSS, threads and open file
//! descriptors sampled. After warm-up none may grow by more than 5 % (RSS: plus 16 MiB of
//! allocator slack): a leak per reconnect or per event shows as steady growth.
//!
//! The test command runs a short version (8 cameras, 60 s, a flap every 10 s);
//! `benches/soak.sh` runs the long one (32 cameras, 30 minutes, a flap every 30 s) and
//! prints every sample. Knobs: `VIGIA_SOAK_CAMERAS`, `VIGIA_SOAK_SECS`, `VIGIA_SOAK_FLAP_SECS`,
//! `VIGIA_SOAK_SAMPLE_SECS`.

#![allow(clippy::print_stderr, reason = "the samples are the report")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigia_sim::rtsp::{RtspCameraServer, SimStream};
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::{free_port, shared_or_skip};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at_s: u64,
    rss_kib: u64,
    threads: u64,
    fds: u64,
}

fn sample(pid: u32, at_s: u64) -> Sample {
    let st = vigia_testkit::procfs::status(pid);
    Sample {
        at_s,
        rss_kib: st.rss_kib,
        threads: st.threads,
        fds: st.fds,
    }
}

#[test]
fn many_cameras_one_flapping_nothing_grows() {
    let video = shared_or_skip!("data/video/car-detection.mp4");
    let cameras = env("VIGIA_SOAK_CAMERAS", 8);
    let secs = env("VIGIA_SOAK_SECS", 60);
    let flap = env("VIGIA_SOAK_FLAP_SECS", 10);
    let every = env("VIGIA_SOAK_SAMPLE_SECS", 10);
    let steady: Vec<SimStream> = (0..cameras - 1)
        .map(|i| SimStream {
            path: format!("cam{i}"),
            file: video.clone(),
            start_at: Default::default(),
        })
        .collect();
    let server = RtspCameraServer::start("127.0.0.1", 0, &steady).unwrap();
    let flap_port = free_port().unwrap();
    let flapping = [SimStream {
        path: "flap".into(),
        file: video.clone(),
        start_at: Default::default(),
    }];
    let mut flapper = Some(RtspCameraServer::start("127.0.0.1", flap_port, &flapping).unwrap());
    let broker = Mosquitto::start().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cams: String = (0..cameras - 1)
        .map(|i| {
            format!(
                "[[cameras]]\nid = \"cam{i}\"\nurl = \"{}\"\nanalysis_fps = 5.0\n",
                server.url(&format!("cam{i}"))
            )
        })
        .collect();
    cams.push_str(&format!(
        "[[cameras]]\nid = \"flap\"\nurl = \"rtsp://127.0.0.1:{flap_port}/flap\"\nanalysis_fps = 5.0\nreconnect_min_backoff_ms = 200\nreconnect_max_backoff_secs = 2\n"
    ));
    let text = format!(
        "{}\n[outbox]\nfsync = \"interval\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\n{cams}",
        common::node_config_head("soak", data.path(), free_port().unwrap(), "", "workers = 2"),
        broker.port()
    );
    let config = data.path().join("soak.toml");
    std::fs::write(&config, &text).unwrap();
    let mut node = Command::new(env!("CARGO_BIN_EXE_vigia"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = node.id();
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next_sample = 0;
    let mut next_flap = flap;
    let mut flaps = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        let t = start.elapsed().as_secs();
        assert!(
            node.try_wait().unwrap().is_none(),
            "vigia exited during the soak"
        );
        if t >= next_sample {
            let s = sample(pid, t);
            eprintln!(
                "[soak] t={:>5} s rss={:>7} KiB threads={:>3} fds={:>4}",
                s.at_s, s.rss_kib, s.threads, s.fds
            );
            samples.push(s);
            next_sample += every;
        }
        if t >= next_flap {
            // The flapping camera's server goes away, or comes back.
            match flapper.take() {
                Some(s) => s.stop(),
                None => {
                    flapper =
                        Some(RtspCameraServer::start("127.0.0.1", flap_port, &flapping).unwrap())
                }
            }
            flaps += 1;
            next_flap += flap;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    vigia_testkit::terminate(pid).unwrap();
    let _ = node.wait();
    // Warm-up: the first third (models loaded, pipelines up, buffers at size).
    let warm = &samples[samples.len() / 3..];
    let (first, max) = (warm[0], warm.iter().copied());
    let grew = |f: fn(&Sample) -> u64, slack: u64| {
        let top = max.clone().map(|s| f(&s)).max().unwrap_or(0);
        top > f(&first) + f(&first) / 20 + slack
    };
    eprintln!(
        "[soak] {cameras} cameras, {secs} s, {flaps} flaps; after warm-up: rss {}→{} KiB, threads {}→{}, fds {}→{}",
        first.rss_kib,
        warm.last().unwrap().rss_kib,
        first.threads,
        warm.last().unwrap().threads,
        first.fds,
        warm.last().unwrap().fds
    );
    assert!(flaps >= 2, "the camera flapped");
    assert!(!grew(|s| s.rss_kib, 16 * 1024), "RSS grew: {samples:?}");
    // A flapping camera's pipeline is torn down and rebuilt: a few threads and fds come
    // and go with it (one camera's worth of slack).
    assert!(!grew(|s| s.threads, 12), "threads grew: {samples:?}");
    assert!(!grew(|s| s.fds, 16), "fds grew: {samples:?}");
    drop(server);
}
