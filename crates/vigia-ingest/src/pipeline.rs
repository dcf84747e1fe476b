//! Building a camera's pipeline.
//!
//! ```text
//! rtsp : rtspsrc ─(video pad)→ depay → parse → decoder ─┐
//! file : filesrc → parsebin ─(video pad)→ decoder ──────┤
//! test : videotestsrc → capsfilter ─────────────────────┤
//!                                                       └→ [rate gate] videoconvertscale
//!                                                          → capsfilter(I420) → appsink
//! ```
//! The rate gate is a buffer probe that passes at most `analysis_fps` frames per second of
//! stream time. Frames reach vigia in the decoder's I420 (videoconvertscale only scales, or
//! converts a hardware decoder's NV12): the motion gate reads their luma, and the worker
//! converts a frame to RGB only when the detector reads it ([`vigia_core::Frame::bytes`]).
//! The appsink keeps one buffer and drops older ones (leaky, latest wins); its callback only maps the
//! buffer and offers the frame to the [`FrameHub`] — no inference, no blocking.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use vigia_core::metric_names::drop_reason;
use vigia_core::{CameraId, Clock, Frame, FrameHub, Offer, Pixels, Yuv420};
use vigia_telemetry::Metrics;

use crate::config::{CameraConfig, DecoderPreference, RtspTransport};
use crate::decoder::{self, Codec};
use crate::error::IngestError;
use crate::source::Source;

/// Live counters of one camera, shared with the API and the supervisor.
#[derive(Debug, Default)]
pub struct CameraStats {
    /// Frames out of the decoder.
    pub decoded: AtomicU64,
    /// Frames offered to analysis (after the rate gate).
    pub delivered: AtomicU64,
    /// Frames replaced in the hub before a worker took them.
    pub superseded: AtomicU64,
    /// Monotonic milliseconds (+1) of the last delivered frame; 0 = none yet.
    pub last_frame_ms: AtomicU64,
}

/// Everything the appsink callback needs.
pub struct FrameSink {
    /// Signalled once, when this pipeline delivers its first frame.
    pub first_frame: tokio::sync::Notify,
    /// A file analysed as fast as possible: frames are stamped with stream time (so time
    /// rules see the video's own timing) and wait for analysis instead of being dropped.
    pub replay: bool,
    time_base: std::sync::Mutex<Option<TimeBase>>,
    pub camera: CameraId,
    pub hub: Arc<FrameHub>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub stats: Arc<CameraStats>,
    seq: AtomicU64,
}

impl FrameSink {
    pub fn new(
        camera: CameraId,
        hub: Arc<FrameHub>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        stats: Arc<CameraStats>,
    ) -> Self {
        Self {
            first_frame: tokio::sync::Notify::new(),
            replay: false,
            time_base: std::sync::Mutex::new(None),
            camera,
            hub,
            metrics,
            clock,
            stats,
            seq: AtomicU64::new(0),
        }
    }

    /// Marks the sink as replaying a file (see [`FrameSink::replay`]).
    pub fn replaying(mut self, replay: bool) -> Self {
        self.replay = replay;
        self
    }

    /// Capture times: arrival for live sources, stream time for replays.
    fn stamp(&self, pts: Option<gst::ClockTime>) -> (Duration, DateTime<Utc>) {
        let now = (self.clock.monotonic(), self.clock.now_utc());
        let (true, Some(pts)) = (self.replay, pts) else {
            return now;
        };
        let pts = Duration::from_nanos(pts.nseconds());
        let mut tb = self.time_base.lock().unwrap_or_else(|e| e.into_inner());
        let base = match tb.as_mut() {
            // A loop or seek took the stream time back: continue from the last frame.
            Some(b) if pts < b.last_pts => {
                let (mono, utc) = b.at(b.last_pts);
                let gap = Duration::from_millis(40);
                *b = TimeBase {
                    first_pts: pts,
                    mono: mono + gap,
                    utc: utc + chrono::Duration::from_std(gap).unwrap_or_default(),
                    last_pts: pts,
                };
                b
            }
            Some(b) => b,
            None => tb.insert(TimeBase {
                first_pts: pts,
                mono: now.0,
                utc: now.1,
                last_pts: pts,
            }),
        };
        base.last_pts = pts;
        base.at(pts)
    }

    fn on_sample(&self, sink: &gst_app::AppSink) -> Result<gst::FlowSuccess, gst::FlowError> {
        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
        let caps = sample.caps().ok_or(gst::FlowError::NotNegotiated)?;
        let info =
            gst_video::VideoInfo::from_caps(caps).map_err(|_| gst::FlowError::NotNegotiated)?;
        let buffer = sample.buffer_owned().ok_or(gst::FlowError::Error)?;
        let pts = buffer.pts();
        // A decoder writing into its own frames describes their layout in a meta.
        let video_meta = buffer
            .meta::<gst_video::VideoMeta>()
            .map(|m| layout(m.offset(), m.stride()));
        let map = buffer
            .into_mapped_buffer_readable()
            .map_err(|_| gst::FlowError::Error)?;
        let (now, now_utc) = self.stamp(pts);
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        if seq == 0 {
            self.first_frame.notify_one();
        }
        let frame = Frame {
            camera: self.camera.clone(),
            seq,
            width: info.width(),
            height: info.height(),
            pixels: Arc::new(pixels(&info, video_meta, Arc::new(map))?),
            captured_utc: now_utc,
            captured_mono: now,
            received: std::time::Instant::now(),
        };
        self.stats
            .last_frame_ms
            .store(now.as_millis() as u64 + 1, Ordering::Relaxed);
        self.stats.delivered.fetch_add(1, Ordering::Relaxed);
        let cam = self.camera.as_str();
        let offered = if self.replay {
            self.hub.offer_wait(frame)
        } else {
            self.hub.offer(frame)
        };
        match offered {
            Offer::Queued => {}
            Offer::Replaced => {
                self.stats.superseded.fetch_add(1, Ordering::Relaxed);
                self.metrics
                    .frames_dropped
                    .with_label_values(&[cam, drop_reason::SUPERSEDED])
                    .inc();
            }
            Offer::Closed => {
                self.metrics
                    .frames_dropped
                    .with_label_values(&[cam, drop_reason::SHUTDOWN])
                    .inc();
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

/// The first three planes' offsets and strides (from a video meta or the caps).
fn layout(offsets: &[usize], strides: &[i32]) -> ([usize; 3], [usize; 3]) {
    let mut out = ([0usize; 3], [0usize; 3]);
    for (i, (o, s)) in offsets.iter().zip(strides).take(3).enumerate() {
        out.0[i] = *o;
        out.1[i] = *s as usize;
    }
    out
}

/// A mapped buffer's pixels as the caps (and the buffer's video meta, when it has one)
/// lay them out: I420 planes, or packed RGB.
fn pixels(
    info: &gst_video::VideoInfo,
    meta: Option<([usize; 3], [usize; 3])>,
    data: vigia_core::frame::FrameData,
) -> Result<Pixels, gst::FlowError> {
    match info.format() {
        gst_video::VideoFormat::I420 => {
            let (offsets, strides) = meta.unwrap_or_else(|| layout(info.offset(), info.stride()));
            let c = info.colorimetry();
            let yuv = Yuv420::new(
                data,
                offsets,
                strides,
                c.range() == gst_video::VideoColorRange::Range0_255,
                c.matrix() == gst_video::VideoColorMatrix::Bt709,
            );
            if !yuv.fits(info.width(), info.height()) {
                return Err(gst::FlowError::Error);
            }
            Ok(Pixels::I420(yuv))
        }
        gst_video::VideoFormat::Rgb => Ok(Pixels::Rgb {
            data,
            stride: meta.map_or(info.stride()[0] as usize, |m| m.1[0]),
        }),
        _ => Err(gst::FlowError::NotNegotiated),
    }
}

/// Maps stream time to capture time for a replayed file.
#[derive(Debug, Clone, Copy)]
struct TimeBase {
    first_pts: Duration,
    mono: Duration,
    utc: DateTime<Utc>,
    last_pts: Duration,
}

impl TimeBase {
    fn at(&self, pts: Duration) -> (Duration, DateTime<Utc>) {
        let d = pts.saturating_sub(self.first_pts);
        (
            self.mono + d,
            self.utc + chrono::Duration::from_std(d).unwrap_or_default(),
        )
    }
}

/// A built (not yet started) camera pipeline.
pub struct CameraPipeline {
    pub pipeline: gst::Pipeline,
    /// The decoder element chosen once the stream's codec is known.
    pub decoder: Arc<Mutex<Option<String>>>,
}

fn make(camera: &CameraId, factory: &str) -> Result<gst::Element, IngestError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| IngestError::MissingElement {
            camera: camera.clone(),
            element: factory.to_string(),
            hint: crate::decoder::hint_for(factory).to_string(),
        })
}

/// Passes at most one buffer per `interval` of stream time; resets when time jumps back
/// (a file loop or a seek).
///
/// A frame is dropped by returning `Handled` (the probe consumed the buffer), not `Drop`:
/// gstreamer-rs takes ownership of the buffer before calling the probe, and GStreamer 1.22's
/// core then unrefs the NULL it leaves behind on `Drop` (a CRITICAL per dropped frame).
fn rate_gate(
    pad: &gst::Pad,
    fps: f64,
    stats: Arc<CameraStats>,
    metrics: &Metrics,
    camera: &CameraId,
) {
    let interval = gst::ClockTime::from_nseconds((1e9 / fps).round() as u64);
    let next_due: Mutex<Option<gst::ClockTime>> = Mutex::new(None);
    let decoded = metrics.frames_decoded.with_label_values(&[camera.as_str()]);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        stats.decoded.fetch_add(1, Ordering::Relaxed);
        decoded.inc();
        let Some(pts) = info.buffer().and_then(|b| b.pts()) else {
            return gst::PadProbeReturn::Ok;
        };
        let mut due = next_due.lock().unwrap_or_else(|e| e.into_inner());
        match *due {
            Some(d) if pts < d && d - pts <= interval => gst::PadProbeReturn::Handled,
            Some(d) if pts >= d && pts - d <= interval => {
                *due = Some(d + interval);
                gst::PadProbeReturn::Ok
            }
            _ => {
                *due = Some(pts + interval);
                gst::PadProbeReturn::Ok
            }
        }
    });
}

/// Builds the pipeline for `cfg` reading `source` (the camera's, with an ONVIF device
/// already resolved to its RTSP stream), feeding frames to `sink`.
pub fn build(
    cfg: &CameraConfig,
    source: Source,
    sink: &Arc<FrameSink>,
) -> Result<CameraPipeline, IngestError> {
    let camera = &cfg.id;
    let pipeline = gst::Pipeline::with_name(&format!("camera-{camera}"));
    let convert = make(camera, "videoconvertscale")?;
    // The decoder's own planar YUV: converted to RGB by the worker, only for frames it reads.
    let mut caps = gst::Caps::builder("video/x-raw").field("format", "I420");
    if let Some(w) = cfg.max_width {
        caps = caps
            .field("width", gst::IntRange::new(16, w as i32))
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1));
    }
    let capsfilter = gst::ElementFactory::make("capsfilter")
        .property("caps", caps.build())
        .build()
        .map_err(|_| IngestError::MissingElement {
            camera: camera.clone(),
            element: "capsfilter".into(),
            hint: crate::decoder::hint_for("capsfilter").into(),
        })?;
    let appsink = gst_app::AppSink::builder()
        .name("frames")
        .max_buffers(1)
        .drop(true)
        .sync(matches!(source, Source::File { .. }) && cfg.file_realtime)
        .enable_last_sample(false)
        .build();
    pipeline
        .add_many([&convert, &capsfilter, appsink.upcast_ref()])
        .map_err(|e| pipe_err(camera, e))?;
    gst::Element::link_many([&convert, &capsfilter, appsink.upcast_ref()])
        .map_err(|e| pipe_err(camera, e))?;
    let convert_sink = convert
        .static_pad("sink")
        .expect("videoconvertscale has a sink pad");
    rate_gate(
        &convert_sink,
        cfg.analysis_fps,
        sink.stats.clone(),
        &sink.metrics,
        camera,
    );
    let cb_sink = sink.clone();
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| cb_sink.on_sample(s))
            .build(),
    );

    let decoder_name = Arc::new(Mutex::new(None));
    match source {
        Source::Test {
            pattern,
            width,
            height,
            fps,
        } => {
            test_source(camera, &pipeline, &convert, &pattern, (width, height, fps))?;
            *decoder_name.lock().unwrap_or_else(|e| e.into_inner()) = Some("none".to_string());
        }
        Source::File { path } => {
            let src = make(camera, "filesrc")?;
            src.set_property("location", path.to_string_lossy().to_string());
            let parse = make(camera, "parsebin")?;
            pipeline
                .add_many([&src, &parse])
                .map_err(|e| pipe_err(camera, e))?;
            src.link(&parse).map_err(|e| pipe_err(camera, e))?;
            let ctx = DynLink {
                pipeline: pipeline.downgrade(),
                convert: convert.clone(),
                pref: cfg.decoder,
                threads: cfg.decoder_threads,
                decoder: decoder_name.clone(),
                rtp: false,
            };
            parse.connect_pad_added(move |el, pad| ctx.on_pad(el, pad));
        }
        Source::Rtsp {
            url,
            user,
            password,
        } => {
            let src = rtsp_source(cfg, &url, user, password)?;
            pipeline.add(&src).map_err(|e| pipe_err(camera, e))?;
            let ctx = DynLink {
                pipeline: pipeline.downgrade(),
                convert: convert.clone(),
                pref: cfg.decoder,
                threads: cfg.decoder_threads,
                decoder: decoder_name.clone(),
                rtp: true,
            };
            src.connect_pad_added(move |el, pad| ctx.on_pad(el, pad));
        }
        Source::Onvif { .. } => {
            return Err(IngestError::Pipeline {
                camera: camera.clone(),
                message: "an ONVIF device must be resolved to its stream first".into(),
            });
        }
    }
    Ok(CameraPipeline {
        pipeline,
        decoder: decoder_name,
    })
}

/// GStreamer's `videotestsrc` at `(width, height, fps)`, linked to `convert`.
fn test_source(
    camera: &CameraId,
    pipeline: &gst::Pipeline,
    convert: &gst::Element,
    pattern: &str,
    (width, height, fps): (u32, u32, u32),
) -> Result<(), IngestError> {
    let src = make(camera, "videotestsrc")?;
    src.set_property("is-live", true);
    src.set_property_from_str("pattern", pattern);
    let filter = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("width", width as i32)
                .field("height", height as i32)
                .field("framerate", gst::Fraction::new(fps as i32, 1))
                .build(),
        )
        .build()
        .map_err(|e| pipe_err(camera, e))?;
    pipeline
        .add_many([&src, &filter])
        .map_err(|e| pipe_err(camera, e))?;
    gst::Element::link_many([&src, &filter, convert]).map_err(|e| pipe_err(camera, e))
}

/// `rtspsrc` for a camera: latency, transport, credentials (as properties, never in the
/// URL), video streams only.
fn rtsp_source(
    cfg: &CameraConfig,
    url: &str,
    user: Option<String>,
    password: Option<String>,
) -> Result<gst::Element, IngestError> {
    let camera = &cfg.id;
    let src = make(camera, "rtspsrc")?;
    src.set_property("location", url);
    src.set_property("latency", cfg.rtsp_latency_ms);
    match cfg.rtsp_transport {
        RtspTransport::Auto => {}
        RtspTransport::Tcp => src.set_property_from_str("protocols", "tcp"),
        RtspTransport::Udp => src.set_property_from_str("protocols", "udp"),
    }
    let user = cfg.username.clone().or(user);
    let password = cfg
        .password()
        .map_err(|e| IngestError::Pipeline {
            camera: camera.clone(),
            message: e.to_string(),
        })?
        .or(password);
    if let Some(u) = user {
        src.set_property("user-id", u);
    }
    if let Some(p) = password {
        src.set_property("user-pw", p);
    }
    // Only video streams are set up (no audio or metadata RTP sessions).
    src.connect("select-stream", false, |args| {
        let is_video = args
            .get(2)
            .and_then(|v| v.get::<gst::Caps>().ok())
            .and_then(|c| c.structure(0).and_then(|s| s.get::<String>("media").ok()))
            .is_some_and(|m| m == "video");
        Some(is_video.to_value())
    });
    Ok(src)
}

fn pipe_err(camera: &CameraId, e: impl std::fmt::Display) -> IngestError {
    IngestError::Pipeline {
        camera: camera.clone(),
        message: e.to_string(),
    }
}

/// A GStreamer element, or an error naming the package that brings it.
fn element(factory: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory).build().map_err(|_| {
        format!(
            "GStreamer element {factory} is missing; {}",
            crate::decoder::hint_for(factory)
        )
    })
}

/// Links a dynamically appearing source pad to a decoder chain.
struct DynLink {
    pipeline: gst::glib::WeakRef<gst::Pipeline>,
    convert: gst::Element,
    pref: DecoderPreference,
    threads: u32,
    decoder: Arc<Mutex<Option<String>>>,
    rtp: bool,
}

impl DynLink {
    fn on_pad(&self, src: &gst::Element, pad: &gst::Pad) {
        if let Err(msg) = self.link(pad) {
            gst::element_error!(src, gst::StreamError::CodecNotFound, ("{}", msg));
        }
    }

    fn link(&self, pad: &gst::Pad) -> Result<(), String> {
        let Some(pipeline) = self.pipeline.upgrade() else {
            return Ok(());
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let s = caps.structure(0).ok_or("stream without caps")?;
        let convert_sink = self.convert.static_pad("sink").expect("sink pad");
        let codec_name = if self.rtp {
            if s.get::<String>("media").ok().as_deref() != Some("video") {
                return Ok(());
            }
            s.get::<String>("encoding-name").unwrap_or_default()
        } else {
            let name = s.name().to_string();
            if !name.starts_with("video/") {
                // Audio or subtitles in a file: consume and ignore them.
                let fake = gst::ElementFactory::make("fakesink")
                    .property("sync", false)
                    .property("async", false)
                    .build()
                    .map_err(|e| e.to_string())?;
                pipeline.add(&fake).map_err(|e| e.to_string())?;
                fake.sync_state_with_parent().map_err(|e| e.to_string())?;
                pad.link(&fake.static_pad("sink").expect("sink pad"))
                    .map_err(|e| format!("{e:?}"))?;
                return Ok(());
            }
            name
        };
        if convert_sink.is_linked() {
            return Ok(()); // a second video stream: the first one wins
        }
        let codec = Codec::from_name(&codec_name).ok_or_else(|| {
            format!("unsupported video codec {codec_name:?} (vigia decodes H.264 and H.265)")
        })?;
        let mut chain = Vec::new();
        if self.rtp {
            for f in [codec.depayloader(), codec.parser()] {
                chain.push(element(f)?);
            }
        }
        let dec = decoder::make(codec, self.pref, self.threads)?;
        let dec_name = dec
            .factory()
            .map(|f| f.name().to_string())
            .unwrap_or_default();
        // A decoder that takes only some stream formats (openh264dec: byte-stream; an MP4
        // file carries avc) gets a parser to convert.
        let accepts = dec
            .static_pad("sink")
            .is_some_and(|p| p.pad_template_caps().can_intersect(&caps));
        if !self.rtp && !accepts {
            chain.push(element(codec.parser())?);
        }
        chain.push(dec);
        pipeline.add_many(&chain).map_err(|e| e.to_string())?;
        let mut link: Vec<&gst::Element> = chain.iter().collect();
        link.push(&self.convert);
        gst::Element::link_many(link).map_err(|e| e.to_string())?;
        for e in &chain {
            e.sync_state_with_parent().map_err(|e| e.to_string())?;
        }
        let head = chain[0].static_pad("sink").expect("sink pad");
        pad.link(&head)
            .map_err(|e| format!("linking the stream: {e:?}"))?;
        *self.decoder.lock().unwrap_or_else(|e| e.into_inner()) = Some(dec_name);
        Ok(())
    }
}
