//! One still frame from a video file (for tools: drawing rules on a real view of a camera).

use std::path::Path;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

/// A packed RGB picture.
#[derive(Debug, Clone)]
pub struct Still {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes, rows top to bottom.
    pub rgb: Vec<u8>,
}

/// Decodes the frame of `file` at `at` (or the last one, when `at` is past the end).
pub fn grab_frame(file: &Path, at: Duration) -> Result<Still, crate::IngestError> {
    grab(file, at).map_err(crate::IngestError::Still)
}

fn grab(file: &Path, at: Duration) -> Result<Still, String> {
    gst::init().map_err(|e| format!("GStreamer initialisation failed: {e}"))?;
    if !file.is_file() {
        return Err(format!("{}: no such file", file.display()));
    }
    let pipeline = gst::Pipeline::new();
    let make = |name: &str| {
        gst::ElementFactory::make(name)
            .build()
            .map_err(|_| format!("GStreamer element {name:?} is not available"))
    };
    let src = make("filesrc")?;
    src.set_property("location", file.to_string_lossy().to_string());
    let decode = make("decodebin")?;
    let convert = make("videoconvert")?;
    let sink = gst_app::AppSink::builder()
        .caps(
            &gst::Caps::builder("video/x-raw")
                .field("format", "RGB")
                .build(),
        )
        .sync(false)
        .build();
    pipeline
        .add_many([&src, &decode, &convert, sink.upcast_ref()])
        .map_err(|e| e.to_string())?;
    src.link(&decode).map_err(|e| e.to_string())?;
    convert.link(&sink).map_err(|e| e.to_string())?;
    let convert_weak = convert.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if let (true, Some(convert)) = (is_video, convert_weak.upgrade())
            && let Some(sinkpad) = convert.static_pad("sink")
            && !sinkpad.is_linked()
        {
            let _ = pad.link(&sinkpad);
        }
    });
    let result = (|| {
        let wait = |what: &str| -> Result<(), String> {
            let bus = pipeline.bus().ok_or("no bus")?;
            match bus.timed_pop_filtered(
                gst::ClockTime::from_seconds(20),
                &[gst::MessageType::AsyncDone, gst::MessageType::Error],
            ) {
                Some(m) => match m.view() {
                    gst::MessageView::Error(e) => {
                        Err(format!("{}: {what}: {}", file.display(), e.error()))
                    }
                    _ => Ok(()),
                },
                None => Err(format!("{}: {what} took over 20 s", file.display())),
            }
        };
        pipeline
            .set_state(gst::State::Paused)
            .map_err(|_| format!("{}: cannot be decoded (not a video?)", file.display()))?;
        wait("opening")?;
        if !at.is_zero() {
            let t = gst::ClockTime::from_nseconds(at.as_nanos() as u64);
            let duration = pipeline.query_duration::<gst::ClockTime>();
            let t = duration.map_or(t, |d| {
                t.min(d.saturating_sub(gst::ClockTime::from_mseconds(200)))
            });
            pipeline
                .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, t)
                .map_err(|_| format!("{}: cannot seek to {:?}", file.display(), at))?;
            wait("seeking")?;
        }
        let sample = sink
            .pull_preroll()
            .map_err(|_| format!("{}: no video frame", file.display()))?;
        let caps = sample.caps().ok_or("a frame without caps")?;
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| e.to_string())?;
        let buffer = sample.buffer().ok_or("a sample without a buffer")?;
        let map = buffer.map_readable().map_err(|e| e.to_string())?;
        let (w, h) = (info.width(), info.height());
        let stride = info.stride()[0] as usize;
        let row = w as usize * 3;
        let mut rgb = Vec::with_capacity(row * h as usize);
        for y in 0..h as usize {
            rgb.extend_from_slice(&map[y * stride..y * stride + row]);
        }
        Ok(Still {
            width: w,
            height: h,
            rgb,
        })
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named() {
        let e = grab_frame(Path::new("/nonexistent/cam.mp4"), Duration::ZERO).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cam.mp4"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_a_video_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("notes.mp4");
        std::fs::write(&f, b"not a video at all").unwrap();
        assert!(grab_frame(&f, Duration::ZERO).is_err());
    }

    #[test]
    fn grabs_a_frame_of_a_real_video() {
        let Ok(video) =
            vigia_testkit::paths::shared_file("data/video/one-by-one-person-detection.mp4")
        else {
            vigia_testkit::paths::skip("grabs_a_frame_of_a_real_video", "no ../shared");
            return;
        };
        let s = grab_frame(&video, Duration::from_secs(30)).unwrap();
        assert_eq!((s.width, s.height), (768, 432));
        assert_eq!(s.rgb.len(), 768 * 432 * 3);
        // Not a blank frame.
        let (min, max) = s
            .rgb
            .iter()
            .fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(max - min > 100);
    }
}
