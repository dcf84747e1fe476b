//! An in-process RTSP server that serves video files as live, looping cameras.
//!
//! gst-rtsp-server plays a file once; a camera never ends. So each file is read once into
//! memory as H.264 access units, and for every client session a feeder thread pushes them
//! into the media's `appsrc` in real time (paced by the pipeline clock), looping forever
//! with timestamps that keep increasing. The server runs on its own glib main context and
//! thread; [`RtspCameraServer::stop`] (or drop) removes it, disconnects the clients and
//! stops the feeders, which to a client looks like a camera going away.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

use crate::SimError;

/// A file served at `rtsp://host:port/<path>`.
#[derive(Debug, Clone)]
pub struct SimStream {
    pub path: String,
    pub file: PathBuf,
    /// Where in the file the stream starts (then it loops from the beginning): cameras
    /// serving the same file at different offsets show different moments, as independent
    /// cameras do. Rounded down to the keyframe before it.
    pub start_at: Duration,
}

/// H.264 access units of a file, in decode order.
pub struct Clip {
    caps: gst::Caps,
    units: Vec<gst::Buffer>,
    /// Decode-time origin and total duration of one loop.
    origin: gst::ClockTime,
    duration: gst::ClockTime,
}

impl Clip {
    /// Reads a file's H.264 video (byte-stream, one access unit per buffer).
    pub fn load(path: &Path) -> Result<Arc<Self>, SimError> {
        gst::init().map_err(|e| SimError::Gst(e.to_string()))?;
        let clip_err = |message: String| SimError::Clip {
            path: path.display().to_string(),
            message,
        };
        if !path.is_file() {
            return Err(clip_err("no such file".into()));
        }
        // config-interval=-1: SPS/PPS before every keyframe, so a stream can start at any.
        let pipeline = gst::parse::launch(
            "filesrc name=src ! parsebin ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
        )
        .map_err(|e| clip_err(e.to_string()))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| clip_err("not a pipeline".into()))?;
        pipeline
            .by_name("src")
            .expect("filesrc")
            .set_property("location", path.to_string_lossy().to_string());
        let sink = pipeline
            .by_name("sink")
            .expect("appsink")
            .downcast::<gst_app::AppSink>()
            .expect("appsink type");
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| clip_err(e.to_string()))?;
        let mut units = Vec::new();
        let mut caps = None;
        while let Ok(sample) = sink.pull_sample() {
            if caps.is_none() {
                caps = sample.caps_owned();
            }
            if let Some(b) = sample.buffer_owned() {
                units.push(b);
            }
        }
        let bus_error = pipeline.bus().and_then(|b| {
            b.pop_filtered(&[gst::MessageType::Error])
                .map(|m| match m.view() {
                    gst::MessageView::Error(e) => e.error().to_string(),
                    _ => String::new(),
                })
        });
        let _ = pipeline.set_state(gst::State::Null);
        if let Some(e) = bus_error {
            return Err(clip_err(format!("{e} (the simulator serves H.264 files)")));
        }
        let caps = caps.ok_or_else(|| clip_err("no H.264 video found".into()))?;
        let ts = |b: &gst::Buffer| b.dts().or(b.pts()).unwrap_or(gst::ClockTime::ZERO);
        let origin = units.first().map(ts).unwrap_or(gst::ClockTime::ZERO);
        let last = units.last().ok_or_else(|| clip_err("no frames".into()))?;
        let frame = last.duration().unwrap_or(gst::ClockTime::from_mseconds(40));
        let duration = ts(last).saturating_sub(origin) + frame;
        Ok(Arc::new(Self {
            caps,
            units,
            origin,
            duration,
        }))
    }

    /// Frames per loop.
    pub fn frames(&self) -> usize {
        self.units.len()
    }

    /// Length of one loop.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.duration.nseconds())
    }

    /// Decode time of a unit.
    fn ts(&self, b: &gst::Buffer) -> gst::ClockTime {
        b.dts().or(b.pts()).unwrap_or(self.origin)
    }

    /// The index of the last keyframe at or before `at` into the clip (taken modulo its
    /// length), so a stream started there decodes from its first frame.
    pub fn unit_at(&self, at: Duration) -> usize {
        let len = self.duration.nseconds().max(1);
        let want = self.origin + gst::ClockTime::from_nseconds(at.as_nanos() as u64 % len);
        self.units
            .iter()
            .enumerate()
            .take_while(|(_, u)| self.ts(u) <= want)
            .filter(|(_, u)| !u.flags().contains(gst::BufferFlags::DELTA_UNIT))
            .map(|(i, _)| i)
            .last()
            .unwrap_or(0)
    }
}

/// The server. Stops on drop.
pub struct RtspCameraServer {
    ctx: glib::MainContext,
    main_loop: glib::MainLoop,
    server: rtsp::RTSPServer,
    source: Option<glib::SourceId>,
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    port: u16,
    address: String,
}

impl RtspCameraServer {
    /// Serves `streams` on `address:port` (port 0 picks a free one).
    pub fn start(address: &str, port: u16, streams: &[SimStream]) -> Result<Self, SimError> {
        gst::init().map_err(|e| SimError::Gst(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let server = rtsp::RTSPServer::new();
        server.set_address(address);
        server.set_service(&port.to_string());
        let mounts = server
            .mount_points()
            .ok_or_else(|| SimError::Rtsp("no mount points".into()))?;
        for s in streams {
            let clip = Clip::load(&s.file)?;
            let factory = rtsp::RTSPMediaFactory::new();
            factory.set_launch(
                "( appsrc name=src is-live=true format=time do-timestamp=false \
                   ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
            );
            factory.set_shared(true);
            let stop = stop.clone();
            let first = clip.unit_at(s.start_at);
            factory.connect_media_configure(move |_, media| {
                let Some(src) = media
                    .element()
                    .downcast::<gst::Bin>()
                    .ok()
                    .and_then(|b| b.by_name("src"))
                    .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
                else {
                    return;
                };
                src.set_caps(Some(&clip.caps));
                let clip = clip.clone();
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name("rtsp-feeder".into())
                    .spawn(move || feed(&src, &clip, first, &stop))
                    .expect("spawn feeder");
            });
            mounts.add_factory(&format!("/{}", s.path.trim_start_matches('/')), factory);
        }
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let source = server
            .attach(Some(&ctx))
            .map_err(|e| SimError::Rtsp(format!("cannot listen on {address}:{port}: {e}")))?;
        let bound = server.bound_port();
        if bound <= 0 {
            return Err(SimError::Rtsp(format!("cannot listen on {address}:{port}")));
        }
        let (ml, c) = (main_loop.clone(), ctx.clone());
        let thread = std::thread::Builder::new()
            .name("rtsp-server".into())
            .spawn(move || {
                let _ = c.with_thread_default(|| ml.run());
            })?;
        Ok(Self {
            ctx,
            main_loop,
            server,
            source: Some(source),
            thread: Some(thread),
            stop,
            port: bound as u16,
            address: address.to_string(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of a stream.
    pub fn url(&self, path: &str) -> String {
        format!(
            "rtsp://{}:{}/{}",
            self.address,
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// Stops listening, disconnects every client and stops the feeders.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(id) = self.source.take()
            && let Some(s) = self.ctx.find_source_by_id(&id)
        {
            s.destroy();
        }
        let server = self.server.clone();
        // Client removal must run on the server's context.
        let (tx, rx) = std::sync::mpsc::channel();
        self.ctx.invoke(move || {
            server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(Duration::from_secs(5));
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RtspCameraServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

/// Pushes the clip's access units in real time from unit `first`, looping, until the media
/// goes away.
fn feed(src: &gst_app::AppSrc, clip: &Clip, first: usize, stop: &AtomicBool) {
    // Wait for the pipeline clock (the media reaches PLAYING when a client plays).
    let mut clock = None;
    for _ in 0..2000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Some(c) = src.clock()
            && src.current_state() == gst::State::Playing
        {
            clock = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let Some(clock) = clock else { return };
    let running = || {
        let now = clock.time();
        src.base_time()
            .map(|b| now.saturating_sub(b))
            .unwrap_or(gst::ClockTime::ZERO)
    };
    // A little ahead of "now" so the first frames are not late.
    let base = running() + gst::ClockTime::from_mseconds(50);
    // Stream time of a unit in the current loop: its time in the file, less where the
    // stream started, plus the loops already played.
    let skipped = clip.units.get(first).map_or(gst::ClockTime::ZERO, |u| {
        clip.ts(u).saturating_sub(clip.origin)
    });
    let mut loop_offset = gst::ClockTime::ZERO;
    let mut start = first;
    loop {
        for unit in &clip.units[start..] {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let at = |t: gst::ClockTime| {
                (base + t.saturating_sub(clip.origin) + loop_offset).saturating_sub(skipped)
            };
            let target = at(clip.ts(unit));
            let now = running();
            if target > now {
                std::thread::sleep(Duration::from_nanos((target - now).nseconds()));
            }
            let mut b = unit.copy();
            {
                let b = b.get_mut().expect("a fresh copy is writable");
                b.set_dts(target);
                b.set_pts(unit.pts().map(at).unwrap_or(target));
            }
            if src.push_buffer(b).is_err() {
                return; // the media was torn down (no more clients, or server stopped)
            }
        }
        loop_offset += clip.duration;
        start = 0;
    }
}
