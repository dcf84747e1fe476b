//! Streams that start part-way into their file: the start is the keyframe at or before the
//! asked time, taken modulo the clip's length.

use std::time::Duration;

use vigia_sim::rtsp::{Clip, RtspCameraServer, SimStream};
use vigia_testkit::shared_or_skip;

#[test]
fn a_stream_starts_at_the_keyframe_before_its_offset() {
    let video = shared_or_skip!("data/video/car-detection.mp4");
    let clip = Clip::load(&video).unwrap();
    assert_eq!(clip.unit_at(Duration::ZERO), 0);
    let mid = clip.unit_at(clip.duration() / 2);
    assert!(mid > 0 && mid < clip.frames(), "{mid} of {}", clip.frames());
    // At most one GOP before the middle (this file has a keyframe every 250 frames at most).
    assert!(mid + 250 >= clip.frames() / 2, "{mid}");
    // Offsets wrap around the clip's length.
    assert_eq!(
        clip.unit_at(clip.duration() + clip.duration() / 2),
        mid,
        "offsets are taken modulo the clip"
    );
    // Later offsets never start earlier.
    let late = clip.unit_at(clip.duration() - Duration::from_millis(1));
    assert!(late >= mid);
}

#[test]
fn a_stream_started_mid_clip_decodes() {
    let video = shared_or_skip!("data/video/car-detection.mp4");
    let at = |path: &str, secs: u64| SimStream {
        path: path.into(),
        file: video.clone(),
        start_at: Duration::from_secs(secs),
    };
    let server = RtspCameraServer::start("127.0.0.1", 0, &[at("start", 0), at("mid", 15)]).unwrap();
    for path in ["start", "mid"] {
        let location = format!("location={}", server.url(path));
        let out = std::process::Command::new("timeout")
            .args([
                "20",
                "gst-launch-1.0",
                "-q",
                "rtspsrc",
                &location,
                "!",
                "rtph264depay",
            ])
            .args([
                "!",
                "h264parse",
                "!",
                "avdec_h264",
                "!",
                "fakesink",
                "num-buffers=10",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{path}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    server.stop();
}
