//! Cameras through real GStreamer: recorded files, the in-process RTSP server, a server
//! that goes away and comes back, and an unreachable camera.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use vigia_core::event::CameraState;
use vigia_core::{CameraId, FrameHub, Shutdown, SystemClock};
use vigia_ingest::pipeline::CameraStats;
use vigia_ingest::{
    CameraConfig, CameraStatus, CameraStop, DecoderPreference, IngestContext, run_camera,
};
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

/// A camera reading `video` as fast as it decodes, analysed at 5 fps.
fn whole_file(id: &str, video: &std::path::Path) -> CameraConfig {
    let mut cfg = camera(id, &format!("file://{}", video.display()));
    cfg.file_realtime = false;
    cfg.analysis_fps = 5.0;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_source_delivers_decoded_frames_at_the_analysis_rate_then_ends() {
    let video = shared_or_skip!("data/video/car-detection.mp4");
    let mut h = start(whole_file("file-cam", &video));
    let hub = h.hub.clone();
    let taker = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(f) = hub.take(Duration::from_secs(5)) {
            assert_eq!((f.width, f.height), (768, 432));
            // Decoded I420: the gate's luma plane, RGB converted when first read.
            let (luma, luma_stride, _) = f.luma().expect("an I420 frame");
            assert!(luma_stride >= 768 && luma.len() >= luma_stride * 431 + 768);
            assert_eq!(f.stride(), 768 * 3);
            assert_eq!(f.bytes().len(), f.stride() * 432);
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

/// Every frame of the file through `decoder`: (the decoder that ran, frames decoded, the
/// mean of each delivered frame's pixels).
async fn decode_all(decoder: DecoderPreference) -> (Option<String>, u64, Vec<f64>) {
    let video = vigia_testkit::paths::shared_file("data/video/car-detection.mp4").unwrap();
    let mut cfg = whole_file("dec-cam", &video);
    cfg.decoder = decoder;
    let mut h = start(cfg);
    let hub = h.hub.clone();
    let taker = std::thread::spawn(move || {
        let mut means = Vec::new();
        while let Some(f) = hub.take(Duration::from_secs(5)) {
            let b = f.bytes();
            means.push(b.iter().map(|&v| f64::from(v)).sum::<f64>() / b.len() as f64);
        }
        means
    });
    let st = h
        .wait_for(CameraState::Streaming, Duration::from_secs(20))
        .await;
    h.wait_for(CameraState::Offline, Duration::from_secs(60))
        .await;
    h.hub.close();
    let means = taker.join().unwrap();
    let decoded = h.stats.decoded.load(Ordering::Relaxed);
    h.stop().await;
    (st.decoder, decoded, means)
}

/// The OpenH264 option (a node without FFmpeg's libraries) decodes the same pictures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openh264_decodes_the_same_pictures_as_libav() {
    let _video = shared_or_skip!("data/video/car-detection.mp4");
    let (dec, decoded, libav) = decode_all(DecoderPreference::Software).await;
    assert_eq!((dec.as_deref(), decoded), (Some("avdec_h264"), 377));
    let (dec, decoded, openh264) = decode_all(DecoderPreference::Openh264).await;
    assert_eq!((dec.as_deref(), decoded), (Some("openh264dec"), 377));
    assert!(!libav.is_empty());
    // The same frames are delivered (the rate gate counts decoded frames) and H.264
    // decoding is exact, so the pictures match up to the colour conversion's rounding.
    assert_eq!(libav.len(), openh264.len());
    for (i, (a, b)) in libav.iter().zip(&openh264).enumerate() {
        assert!((a - b).abs() < 0.5, "frame {i}: mean {a:.2} vs {b:.2}");
    }
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

/// Frames come out of GStreamer in I420 and are converted to RGB by vigia when read: the
/// colours of SMPTE bars come out as drawn (100 % bars, BT.601 at this size), whole-picture
/// and on the gate's luma plane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_frames_convert_to_the_colours_drawn() {
    let mut h = start(camera("bars", "test://smpte?width=320&height=240&fps=10"));
    h.wait_for(CameraState::Streaming, Duration::from_secs(20))
        .await;
    let f = h.hub.take(Duration::from_secs(5)).expect("a frame");
    let (luma, stride, full_range) = f.luma().expect("an I420 frame");
    assert!(!full_range);
    let rgb = f.bytes();
    let bars: [[u8; 3]; 7] = [
        [255, 255, 255],
        [255, 255, 0],
        [0, 255, 255],
        [0, 255, 0],
        [255, 0, 255],
        [255, 0, 0],
        [0, 0, 255],
    ];
    let y = 40usize;
    for (i, want) in bars.iter().enumerate() {
        let x = (2 * i + 1) * 320 / 14;
        let got = &rgb[y * f.stride() + x * 3..][..3];
        for c in 0..3 {
            assert!(
                got[c].abs_diff(want[c]) <= 6,
                "bar {i} at x {x}: {got:?}, drawn {want:?}"
            );
        }
        // BT.601 limited-range luma of the drawn colour.
        let l = 16.0
            + (65.481 * f64::from(want[0])
                + 128.553 * f64::from(want[1])
                + 24.966 * f64::from(want[2]))
                / 255.0;
        assert!(
            (f64::from(luma[y * stride + x]) - l).abs() <= 3.0,
            "bar {i} luma"
        );
    }
    h.stop().await;
}

/// An ONVIF camera: the testkit's device (answers recorded from real cameras, digests
/// checked against its own clock, which is years behind ours) tells the RTSP URI of its
/// profile; a real RTSP server serves it. When the camera "reboots" with a new stream
/// URI, the reconnect asks again and follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onvif_camera_streams_its_profile_and_is_followed_across_a_reboot() {
    use vigia_testkit::onvif::OnvifDevice;
    let video = shared_or_skip!("data/video/car-detection.mp4");
    let stream = |path: &str| SimStream {
        path: path.into(),
        file: video.clone(),
        start_at: Default::default(),
    };
    let server = RtspCameraServer::start("127.0.0.1", 0, &[stream("h264main")]).unwrap();
    let device = OnvifDevice::start("admin", "Medellin-2026!", &server.url("h264main"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("camera.pw");
    std::fs::write(&secret, "Medellin-2026!\n").unwrap();
    let mut cfg = camera("onvif-cam", &device.url());
    cfg.username = Some("admin".into());
    cfg.password_file = Some(secret.clone());
    cfg.onvif_profile = Some("main".into());
    let mut h = start(cfg);
    let st = h
        .wait_for(CameraState::Streaming, Duration::from_secs(30))
        .await;
    assert_eq!(st.decoder.as_deref(), Some("avdec_h264"));
    let f = h.hub.take(Duration::from_secs(5)).expect("a frame");
    assert_eq!((f.width, f.height), (768, 432));
    assert_eq!(device.refused(), 0, "every call was authenticated");
    assert!(device.calls("GetSystemDateAndTime") >= 1);
    assert_eq!(device.calls("GetStreamUri"), 1);
    // The media service is reached at the path the device reported
    // (http://192.168.0.137:8080/onvif/services, unreachable) on the configured address.
    assert_eq!(
        device.path_of("GetProfiles").as_deref(),
        Some("/onvif/services")
    );
    assert_eq!(
        device.path_of("GetCapabilities").as_deref(),
        Some("/onvif/device_service")
    );

    // The camera reboots: its stream goes away and comes back at another URI.
    server.stop();
    h.wait_for(CameraState::Reconnecting, Duration::from_secs(20))
        .await;
    let server = RtspCameraServer::start("127.0.0.1", 0, &[stream("after-reboot")]).unwrap();
    device.set_stream_uri(&server.url("after-reboot"));
    h.wait_for(CameraState::Streaming, Duration::from_secs(30))
        .await;
    assert!(device.calls("GetStreamUri") >= 2);
    assert_eq!(device.refused(), 0);
    h.stop().await;
    drop(server);
}

/// Wrong credentials and a profile the device does not have: the camera says why in its
/// status (no password in it) and keeps retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onvif_camera_with_bad_credentials_or_profile_says_why() {
    use vigia_testkit::onvif::OnvifDevice;
    let device = OnvifDevice::start("admin", "right-one", "rtsp://127.0.0.1:9/none")
        .await
        .unwrap();
    let url = device.url().replace("onvif://", "onvif://admin:hunter22@");
    let mut h = start(camera("onvif-denied", &url));
    let first = h
        .wait_for(CameraState::Reconnecting, Duration::from_secs(20))
        .await;
    let reason = first.reason.clone().unwrap();
    assert!(reason.contains("refused the credentials"), "{reason}");
    assert!(!reason.contains("hunter22"), "password leaked: {reason}");
    let second = h
        .wait_for(CameraState::Reconnecting, Duration::from_secs(20))
        .await;
    assert!(second.attempts > first.attempts);
    assert!(device.refused() >= 2);
    h.stop().await;

    let mut cfg = camera("onvif-noprofile", &device.url());
    cfg.username = Some("admin".into());
    cfg.password_file = None;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("pw");
    std::fs::write(&secret, "right-one").unwrap();
    cfg.password_file = Some(secret);
    cfg.onvif_profile = Some("substream".into());
    let mut h = start(cfg);
    let st = h
        .wait_for(CameraState::Reconnecting, Duration::from_secs(20))
        .await;
    let reason = st.reason.unwrap();
    assert!(
        reason.contains("no media profile named \"substream\" (the device has: main (token main))"),
        "{reason}"
    );
    h.stop().await;
}
