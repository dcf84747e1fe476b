//! Cameras through real GStreamer: recorded files, the in-process RTSP server, a server
//! that goes away and comes back, and an unreachable camera.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use vigia_core::event::CameraState;
use vigia_core::{CameraId, FrameHub, Shutdown, SystemClock};
use vigia_ingest::pipeline::CameraStats;
use vigia_ingest::{CameraConfig, CameraStatus, CameraStop, IngestContext, run_camera};
use vigia_sim::rtsp::{RtspCameraServer, SimStream};
use vigia_telemetry::Metrics;
use vigia_testkit::shared_or_skip;

struct Harness {
    hub: Arc<FrameHub>,
    stats: Arc<CameraStats>,
    status: mpsc::Receiver<CameraStatus>,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<()>,
    metrics: Arc<Metrics>,
}

fn start(cfg: CameraConfig) -> Harness {
    vigia_ingest::init().unwrap();
    let hub = Arc::new(FrameHub::new());
    let metrics = Arc::new(Metrics::new());
    let (tx, rx) = mpsc::channel(64);
    let ctx = IngestContext {
        hub: hub.clone(),
        metrics: metrics.clone(),
        clock: Arc::new(SystemClock::new()),
        status: tx,
    };
    let stats = Arc::new(CameraStats::default());
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_camera(
        cfg,
        ctx,
        stats.clone(),
        CameraStop::new(shutdown.clone()),
    ));
    Harness {
        hub,
        stats,
        status: rx,
        shutdown,
        task,
        metrics,
    }
}

impl Harness {
    /// Waits for a status with `state`; returns it.
    async fn wait_for(&mut self, state: CameraState, within: Duration) -> CameraStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let st = tokio::time::timeout_at(deadline, self.status.recv())
                .await
                .unwrap_or_else(|_| panic!("no {state:?} status within {within:?}"))
                .expect("supervisor alive");
            if st.state == state {
                return st;
            }
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("camera task stops within 10 s")
            .unwrap();
    }
}

fn camera(id: &str, url: &str) -> CameraConfig {
    let mut c = CameraConfig::new(CameraId::new(id).unwrap(), url);
    c.stall_timeout_secs = 3;
    c.reconnect_min_backoff_ms = 100;
    c.reconnect_max_backoff_secs = 1;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_source_delivers_rgb_frames_at_the_analysis_rate_then_ends() {
    let video = shared_or_skip!("data/video/car-detection.mp4");
    let mut cfg = camera("file-cam", &format!("file://{}", video.display()));
    cfg.file_realtime = false;
    cfg.analysis_fps = 5.0;
    let mut h = start(cfg);
    let hub = h.hub.clone();
    let taker = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(f) = hub.take(Duration::from_secs(5)) {
            assert_eq!((f.width, f.height), (768, 432));
            assert!(f.stride >= 768 * 3);
            assert_eq!(f.bytes().len(), f.stride * 432);
            got.push(f.seq);
        }
        got
    });
    let st = h
        .wait_for(CameraState::Streaming, Duration::from_secs(20))
        .await;
    assert_eq!(st.decoder.as_deref(), Some("avdec_h264"));
    let end = h
        .wait_for(CameraState::Offline, Duration::from_secs(60))
        .await;
    assert_eq!(end.reason.as_deref(), Some("end of file"));
    h.hub.close();
    let taken = taker.join().unwrap();
    // 377 frames at 12.5 fps = 30.2 s of video; at 5 fps that is about 151 frames.
    let delivered = h.stats.delivered.load(Ordering::Relaxed);
    let decoded = h.stats.decoded.load(Ordering::Relaxed);
    assert_eq!(decoded, 377, "every frame is decoded");
    assert!((145..=155).contains(&delivered), "delivered {delivered}");
    assert!(!taken.is_empty() && taken.windows(2).all(|w| w[0] < w[1]));
    let text = h.metrics.render();
    assert!(
        text.contains("vigia_frames_decoded_total{camera=\"file-cam\"} 377"),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtsp_camera_streams_and_comes_back_after_the_server_restarts() {
    let video = shared_or_skip!("data/video/car-detection.mp4");
    let streams = [SimStream {
        path: "cam1".into(),
        file: video,
        start_at: Default::default(),
    }];
    let server = RtspCameraServer::start("127.0.0.1", 0, &streams).unwrap();
    let port = server.port();
    let mut h = start(camera("rtsp-cam", &server.url("cam1")));
    let st = h
        .wait_for(CameraState::Streaming, Duration::from_secs(20))
        .await;
    assert_eq!(st.decoder.as_deref(), Some("avdec_h264"));
    let f = h.hub.take(Duration::from_secs(5)).expect("a frame");
    assert_eq!((f.width, f.height), (768, 432));

    // The camera goes away.
    server.stop();
    let st = h
        .wait_for(CameraState::Reconnecting, Duration::from_secs(20))
        .await;
    assert!(st.reason.is_some(), "{st:?}");

    // And comes back on the same address.
    let server = RtspCameraServer::start("127.0.0.1", port, &streams).unwrap();
    h.wait_for(CameraState::Streaming, Duration::from_secs(30))
        .await;
    let text = h.metrics.render();
    assert!(
        text.contains("vigia_camera_restarts_total{camera=\"rtsp-cam\""),
        "{text}"
    );
    h.stop().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_camera_reports_why_and_keeps_retrying() {
    let port = vigia_testkit::free_port().unwrap();
    let mut h = start(camera(
        "gone",
        &format!("rtsp://admin:hunter2@127.0.0.1:{port}/stream"),
    ));
    let first = h
        .wait_for(CameraState::Reconnecting, Duration::from_secs(30))
        .await;
    let reason = first.reason.clone().unwrap();
    assert!(!reason.contains("hunter2"), "password leaked: {reason}");
    let second = h
        .wait_for(CameraState::Reconnecting, Duration::from_secs(30))
        .await;
    assert!(second.attempts > first.attempts);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_source_and_scaling() {
    let mut cfg = camera("pattern", "test://ball?width=1280&height=720&fps=10");
    cfg.max_width = Some(640);
    let mut h = start(cfg);
    let st = h
        .wait_for(CameraState::Streaming, Duration::from_secs(20))
        .await;
    assert_eq!(st.decoder.as_deref(), Some("none"));
    let f = h.hub.take(Duration::from_secs(5)).expect("a frame");
    assert_eq!((f.width, f.height), (640, 360));
    h.stop().await;
}
