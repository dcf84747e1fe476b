//! Videos with readable plates, made from real photos: each photo slides across a grey
//! frame for a few seconds (a vehicle passing), then the frame stays empty for a moment (so
//! the pass ends). Encoded as H.264 in MP4 with x264 through GStreamer. The photos' plate
//! labels are the ground truth.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use image::imageops::FilterType;

use crate::SimError;

/// How the video looks.
#[derive(Debug, Clone)]
pub struct RenderSpec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// How long each photo is on screen.
    pub slide: Duration,
    /// Empty frames between photos.
    pub gap: Duration,
    /// Photo height on screen (aspect kept).
    pub photo_height: u32,
    /// Each photo stops halfway across the frame for this long (a vehicle that stops),
    /// then moves on. Default zero.
    pub hold: Duration,
}

impl Default for RenderSpec {
    fn default() -> Self {
        Self {
            width: 960,
            height: 540,
            fps: 10,
            slide: Duration::from_secs(4),
            gap: Duration::from_millis(2500),
            photo_height: 420,
            hold: Duration::ZERO,
        }
    }
}

/// When each photo is on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub photo: PathBuf,
    pub from: Duration,
    pub to: Duration,
}

fn err(m: impl std::fmt::Display) -> SimError {
    SimError::Gst(m.to_string())
}

/// Renders `photos` into `out` (MP4). Returns when each photo is shown.
/// An H.264/MP4 file being written frame by frame (x264 through GStreamer).
pub struct Encoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    frame_dur: gst::ClockTime,
    frames: u64,
    len: usize,
}

impl Encoder {
    /// Starts writing `out`: RGB frames of `width` x `height` at `fps`.
    pub fn create(out: &Path, width: u32, height: u32, fps: u32) -> Result<Self, SimError> {
        gst::init().map_err(err)?;
        let pipeline = gst::parse::launch(&format!(
            "appsrc name=src format=time caps=video/x-raw,format=RGB,width={width},height={height},framerate={fps}/1 \
             ! videoconvert ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max={} \
             ! h264parse ! mp4mux ! filesink name=sink",
            fps * 2
        ))
        .map_err(err)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| err("not a pipeline"))?;
        pipeline
            .by_name("sink")
            .ok_or_else(|| err("no filesink"))?
            .set_property("location", out.to_string_lossy().to_string());
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| err("no appsrc"))?;
        pipeline.set_state(gst::State::Playing).map_err(err)?;
        Ok(Self {
            pipeline,
            src,
            frame_dur: gst::ClockTime::from_nseconds(1_000_000_000 / u64::from(fps.max(1))),
            frames: 0,
            len: (width * height * 3) as usize,
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The time of the next frame.
    pub fn now(&self) -> Duration {
        Duration::from_nanos((self.frame_dur * self.frames).nseconds())
    }

    /// Appends one packed RGB frame.
    pub fn push(&mut self, rgb: &[u8]) -> Result<(), SimError> {
        if rgb.len() != self.len {
            return Err(err(format!(
                "frame of {} bytes, want {}",
                rgb.len(),
                self.len
            )));
        }
        let mut buf = gst::Buffer::from_slice(rgb.to_vec());
        {
            let b = buf.get_mut().expect("new buffer is writable");
            b.set_pts(self.frame_dur * self.frames);
            b.set_duration(self.frame_dur);
        }
        self.frames += 1;
        self.src.push_buffer(buf).map_err(err).map(|_| ())
    }

    /// Ends the stream and waits for the file to be complete.
    pub fn finish(self) -> Result<(), SimError> {
        self.src.end_of_stream().map_err(err)?;
        let bus = self.pipeline.bus().ok_or_else(|| err("no bus"))?;
        let result = match bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(300),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            Some(m) => match m.view() {
                gst::MessageView::Error(e) => Err(err(format!("encoding: {}", e.error()))),
                _ => Ok(()),
            },
            None => Err(err("encoding did not finish within 300 s")),
        };
        let _ = self.pipeline.set_state(gst::State::Null);
        result
    }
}

/// Renders `photos` into `out` (MP4). Returns when each photo is shown.
pub fn render_slideshow(
    photos: &[PathBuf],
    out: &Path,
    spec: &RenderSpec,
) -> Result<Vec<Shown>, SimError> {
    let (w, h) = (spec.width, spec.height);
    let mut enc = Encoder::create(out, w, h, spec.fps)?;
    let grey = vec![110u8; (w * h * 3) as usize];
    let per = |d: Duration| (d.as_secs_f64() * f64::from(spec.fps)).round() as u64;
    let mut shown = Vec::new();
    for photo in photos {
        let img = image::open(photo)
            .map_err(|e| SimError::Clip {
                path: photo.display().to_string(),
                message: e.to_string(),
            })?
            .to_rgb8();
        let scale = f64::from(spec.photo_height) / f64::from(img.height());
        let pw = ((f64::from(img.width()) * scale) as u32).min(w * 9 / 10);
        let ph = ((f64::from(img.height()) * f64::from(pw) / f64::from(img.width())) as u32).min(h);
        let img = image::imageops::resize(&img, pw, ph, FilterType::Triangle);
        let from = enc.now();
        let frames = per(spec.slide).max(2);
        let y0 = (h - ph) / 2;
        let hold_at = frames / 2;
        for i in 0..frames {
            // Left to right, staying inside the frame: the plate is readable all along.
            let x0 = ((w - pw) as f64 * (0.05 + 0.9 * i as f64 / (frames - 1) as f64)) as u32;
            let mut frame = grey.clone();
            for y in 0..ph {
                let dst = (((y0 + y) * w + x0) * 3) as usize;
                let srow = (y * pw * 3) as usize;
                frame[dst..dst + (pw * 3) as usize]
                    .copy_from_slice(&img.as_raw()[srow..srow + (pw * 3) as usize]);
            }
            let copies = if i == hold_at { 1 + per(spec.hold) } else { 1 };
            for _ in 0..copies {
                enc.push(&frame)?;
            }
        }
        shown.push(Shown {
            photo: photo.clone(),
            from,
            to: enc.now(),
        });
        for _ in 0..per(spec.gap) {
            enc.push(&grey)?;
        }
    }
    enc.finish().map(|()| shown)
}
