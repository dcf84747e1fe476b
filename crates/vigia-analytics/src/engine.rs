//! The analytics loop: one thread owns a tracker per camera and the camera's LPR and
//! incident stages. Each input (an analysed frame, a skipped frame, a status change, a
//! tick) goes through the stages, which return the events they make; the loop hands them
//! to the [`EventSink`] in that order, so the sink's order is the per-camera event order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use vigia_core::CameraStatus;
use vigia_core::metric_names::stage as stages;
use vigia_core::{CameraId, Clock, Detection, Event};
use vigia_track::{Tracker, TrackerConfig};

use crate::alarms::{AlarmStage, AlarmTrigger};
use crate::events::{object_event, status_event};
use crate::incidents::{CameraRules, view};
use crate::lpr::{CameraLpr, LprShared, PlateSighting};
use crate::preview::{PreviewBox, Previews};
use crate::snapshots::OwnedRgb;
use crate::{Context, EventSink, Moment};

/// What the analytics thread consumes.
#[derive(Debug)]
pub enum Input {
    /// One analysed frame.
    Detections(Box<AnalysedFrame>),
    /// A frame the motion gate kept from the detector: nothing moved.
    Skipped {
        camera: CameraId,
        captured_mono: Duration,
        captured_utc: DateTime<Utc>,
        times: FrameTimes,
        /// A small copy for the web console, while it watches the camera (a still scene
        /// is shown too, with the tracks as they stand).
        preview: Option<OwnedRgb>,
    },
    /// A camera status change.
    Status(CameraStatus),
    /// Time passes (ends tracks of cameras that stopped sending frames).
    Tick,
    /// The camera was removed or changed in the configuration (its ingest already
    /// stopped): its tracks, plate passes and incidents end now; `rules` are its rules
    /// from now on (`None`: removed, or no rules).
    Reconfigured {
        camera: CameraId,
        rules: Option<Box<CameraRules>>,
    },
    /// An alarm input was triggered (already parsed and debounced).
    Alarm(Box<AlarmTrigger>),
}

/// Host instants of a frame on its way through the node (for the lag metrics).
#[derive(Debug, Clone, Copy)]
pub struct FrameTimes {
    /// The frame reached vigia ([`vigia_core::Frame::received`]).
    pub received: Instant,
    /// Inference handed it over to analytics.
    pub handed_over: Instant,
}

/// What inference made of one frame.
#[derive(Debug)]
pub struct AnalysedFrame {
    pub camera: CameraId,
    pub times: FrameTimes,
    pub width: u32,
    pub height: u32,
    pub captured_mono: Duration,
    pub captured_utc: DateTime<Utc>,
    pub detections: Vec<Detection>,
    /// Plates read in the frame (cameras with `lpr = true`).
    pub plates: Vec<PlateSighting>,
    /// A copy of the frame (cameras with rules: snapshots and the classifier stage).
    pub frame: Option<Arc<OwnedRgb>>,
    /// A small copy for the web console, while it watches the camera
    /// ([`crate::preview::Previews::should_copy`]).
    pub preview: Option<OwnedRgb>,
}

impl Input {
    /// The frame's instants, for inputs made from a frame.
    pub fn frame_times(&self) -> Option<FrameTimes> {
        match self {
            Input::Detections(f) => Some(f.times),
            Input::Skipped { times, .. } => Some(*times),
            Input::Status(_) | Input::Tick | Input::Reconfigured { .. } | Input::Alarm(_) => None,
        }
    }
}

/// A camera's latest analysed frame (cameras with rules or alarm inputs).
fn last_frame<'a>(cams: &'a HashMap<CameraId, Cam>, camera: &CameraId) -> Option<&'a OwnedRgb> {
    cams.get(camera)?.last_frame.as_deref()
}

/// A camera's time advances on ticks only once it has sent no frame for this long.
const TICK_AFTER: Duration = Duration::from_secs(1);

/// The analytics state of one camera.
struct Cam {
    tracker: Tracker,
    size: (u32, u32),
    lpr: Option<CameraLpr>,
    rules: Option<CameraRules>,
    /// Time of the last frame, and the clock's monotonic time when it arrived: ticks
    /// advance from there, so replays (stream time ahead of the clock) keep their time.
    last: Option<(Duration, DateTime<Utc>, Duration)>,
    /// The latest time given to the tracker and rules: time never goes back for them,
    /// even when a tick ran ahead of a late frame.
    high_water: Duration,
    /// The last analysed frame (cameras with rules). Frames the motion gate skipped
    /// look the same, so it stands for them in snapshots and the classifier stage.
    last_frame: Option<Arc<OwnedRgb>>,
}

impl Cam {
    /// The camera's time at a tick, when it has been quiet for [`TICK_AFTER`] (a camera
    /// that sends frames is timed by its frames alone, which keeps replays deterministic);
    /// `None` while frames flow.
    fn tick_time(&self, clock: &dyn Clock) -> Option<Moment> {
        let (t, utc, arrived) = self.last?;
        let d = clock.monotonic().saturating_sub(arrived);
        (d >= TICK_AFTER).then(|| Moment {
            mono: (t + d).max(self.high_water),
            utc: utc + chrono::Duration::from_std(d).unwrap_or_default(),
        })
    }

    /// Records a frame's arrival; returns its time, never before what the tracker and
    /// rules already saw.
    fn arrived(&mut self, mono: Duration, utc: DateTime<Utc>, clock: &dyn Clock) -> Moment {
        self.last = Some((mono, utc, clock.monotonic()));
        self.high_water = self.high_water.max(mono);
        Moment {
            mono: self.high_water,
            utc,
        }
    }

    /// Runs the camera's rules (if any) on its confirmed tracks.
    fn run_rules(&mut self, ctx: &Context, at: Moment) -> Vec<Event> {
        let Some(rules) = self.rules.as_mut() else {
            return Vec::new();
        };
        let views: Vec<_> = self
            .tracker
            .confirmed()
            .map(|o| view(o, self.size.0, self.size.1))
            .collect();
        rules.update(ctx, at, &views, self.last_frame.as_deref())
    }
}

/// The analytics stage: every camera's tracker, LPR passes and rules.
pub struct Analytics {
    ctx: Context,
    tracker: TrackerConfig,
    lpr: Option<LprShared>,
    /// Rule sets of cameras not seen yet (moved into the camera at its first frame).
    rules: HashMap<CameraId, CameraRules>,
    cams: HashMap<CameraId, Cam>,
    alarms: AlarmStage,
    previews: Option<Arc<Previews>>,
}

impl Analytics {
    /// `lpr`: the plate stage, when any camera reads plates; `rules`: each camera's rules.
    pub fn new(
        ctx: Context,
        tracker: TrackerConfig,
        lpr: Option<LprShared>,
        rules: HashMap<CameraId, CameraRules>,
    ) -> Self {
        Self {
            ctx,
            tracker,
            lpr,
            rules,
            cams: HashMap::new(),
            alarms: AlarmStage::default(),
            previews: None,
        }
    }

    /// Pairs the console's preview copies with the tracks after their frame.
    pub fn with_previews(mut self, previews: Arc<Previews>) -> Self {
        self.previews = Some(previews);
        self
    }

    /// Consumes `rx` until every sender is gone, writing each event to `sink` (with the
    /// instant its frame reached vigia, for events made from a frame).
    pub fn run(mut self, mut rx: mpsc::Receiver<Input>, sink: &dyn EventSink) {
        let stage = |name: &str| self.ctx.metrics.stage_seconds.with_label_values(&[name]);
        let (waited, worked) = (stage(stages::ANALYTICS_WAIT), stage(stages::ANALYTICS));
        while let Some(input) = rx.blocking_recv() {
            let start = Instant::now();
            let times = input.frame_times();
            if let Some(t) = times {
                waited.observe(start.saturating_duration_since(t.handed_over).as_secs_f64());
            }
            for event in self.handle(input) {
                sink.write(&event, times.map(|t| t.received));
            }
            if times.is_some() {
                worked.observe(start.elapsed().as_secs_f64());
            }
        }
        // Stopping: alarm incidents still waiting for their second picture end now.
        let cams = &self.cams;
        for event in self.alarms.due(&self.ctx, true, |c| last_frame(cams, c)) {
            sink.write(&event, None);
        }
    }

    /// One input through the stages; returns the events in order.
    pub fn handle(&mut self, input: Input) -> Vec<Event> {
        match input {
            Input::Detections(frame) => self.on_frame(*frame),
            Input::Skipped {
                camera,
                captured_mono,
                captured_utc,
                times: _,
                preview,
            } => {
                let out = self.on_skipped(&camera, captured_mono, captured_utc);
                self.put_preview(&camera, preview, captured_utc);
                out
            }
            Input::Status(st) => vec![status_event(
                &self.ctx.origin,
                &st,
                self.ctx.clock.now_utc(),
            )],
            Input::Tick => {
                let mut out = self.on_tick();
                let cams = &self.cams;
                out.extend(self.alarms.due(&self.ctx, false, |c| last_frame(cams, c)));
                out
            }
            Input::Alarm(t) => {
                let cams = &self.cams;
                self.alarms.trigger(&self.ctx, &t, |c| last_frame(cams, c))
            }
            Input::Reconfigured { camera, rules } => {
                let out = self.end_camera(&camera);
                if let Some(p) = &self.previews {
                    p.forget(&camera);
                }
                match rules {
                    Some(r) => self.rules.insert(camera, *r),
                    None => self.rules.remove(&camera),
                };
                out
            }
        }
    }

    /// Ends everything a camera has open (at the clock's time) and forgets it.
    fn end_camera(&mut self, camera: &CameraId) -> Vec<Event> {
        let Some(mut cam) = self.cams.remove(camera) else {
            return Vec::new();
        };
        let ctx = &self.ctx;
        let at = match cam.tick_time(&*ctx.clock) {
            Some(at) => at,
            None => Moment {
                mono: cam.high_water,
                utc: ctx.clock.now_utc(),
            },
        };
        let (w, h) = cam.size;
        let mut out: Vec<Event> = cam
            .tracker
            .end_all()
            .iter()
            .map(|change| object_event(&ctx.origin, camera, w, h, change))
            .collect();
        if let (Some(shared), Some(l)) = (self.lpr.as_ref(), cam.lpr.as_mut()) {
            shared.settled.set(camera, Vec::new());
            out.extend(l.end_all(ctx, shared, at.mono));
        }
        if let Some(rules) = cam.rules.as_mut() {
            out.extend(rules.end_all(ctx, at));
        }
        out
    }

    /// A camera's state, made at its first frame (its rules move in then).
    fn cam<'a>(
        cams: &'a mut HashMap<CameraId, Cam>,
        rules: &mut HashMap<CameraId, CameraRules>,
        tracker: &TrackerConfig,
        camera: &CameraId,
        size: (u32, u32),
    ) -> &'a mut Cam {
        cams.entry(camera.clone()).or_insert_with(|| Cam {
            tracker: Tracker::new(tracker.clone()),
            size,
            lpr: None,
            rules: rules.remove(camera),
            last: None,
            high_water: Duration::ZERO,
            last_frame: None,
        })
    }

    fn on_frame(&mut self, f: AnalysedFrame) -> Vec<Event> {
        let AnalysedFrame {
            camera,
            width,
            height,
            captured_mono,
            captured_utc,
            detections,
            plates,
            frame,
            preview,
            times: _,
        } = f;
        let (ctx, lpr) = (&self.ctx, self.lpr.as_ref());
        let size = (width, height);
        let cam = Self::cam(
            &mut self.cams,
            &mut self.rules,
            &self.tracker,
            &camera,
            size,
        );
        cam.size = size;
        let at = cam.arrived(captured_mono, captured_utc, &*ctx.clock);
        let mut out: Vec<Event> = cam
            .tracker
            .update(at.mono, at.utc, &detections)
            .iter()
            .map(|change| object_event(&ctx.origin, &camera, width, height, change))
            .collect();
        if let Some(shared) = lpr.filter(|_| !plates.is_empty() || cam.lpr.is_some()) {
            let vehicles: Vec<(&Detection, u64)> = detections
                .iter()
                .zip(cam.tracker.assignments().iter().copied())
                .collect();
            out.extend(
                cam.lpr
                    .get_or_insert_with(|| CameraLpr::new(camera.clone(), shared))
                    .on_frame(ctx, shared, at, &vehicles, plates),
            );
        }
        if frame.is_some() {
            cam.last_frame = frame;
        }
        out.extend(cam.run_rules(ctx, at));
        self.put_preview(&camera, preview, captured_utc);
        out
    }

    /// Pairs a preview copy with the camera's confirmed tracks the detector saw in its
    /// latest analysed frame (for a frame the motion gate skipped, that frame's: nothing
    /// moved since, their boxes stand).
    fn put_preview(
        &self,
        camera: &CameraId,
        picture: Option<OwnedRgb>,
        captured_utc: DateTime<Utc>,
    ) {
        let (Some(previews), Some(picture)) = (&self.previews, picture) else {
            return;
        };
        let (size, boxes) = match self.cams.get(camera) {
            Some(cam) => {
                let (w, h) = cam.size;
                let boxes = cam
                    .tracker
                    .confirmed()
                    .filter(|o| o.seen_now)
                    .map(|o| preview_box(o, w, h))
                    .collect();
                (cam.size, boxes)
            }
            None => ((picture.width, picture.height), Vec::new()),
        };
        previews.put(camera, picture, size, captured_utc, boxes);
    }

    fn on_skipped(&mut self, camera: &CameraId, mono: Duration, utc: DateTime<Utc>) -> Vec<Event> {
        let ctx = &self.ctx;
        let Some(cam) = self.cams.get_mut(camera) else {
            return Vec::new();
        };
        let at = cam.arrived(mono, utc, &*ctx.clock);
        cam.tracker.touch(at.mono, at.utc);
        // Nothing moved: whatever comes next is read afresh, and passes of vehicles gone
        // end now rather than at the next timer tick.
        let mut out = Vec::new();
        if let (Some(shared), Some(l)) = (self.lpr.as_ref(), cam.lpr.as_mut()) {
            shared.settled.set(camera, Vec::new());
            out.extend(l.on_tick(ctx, shared, at.mono));
        }
        out.extend(cam.run_rules(ctx, at));
        out
    }

    fn on_tick(&mut self) -> Vec<Event> {
        let (ctx, lpr) = (&self.ctx, self.lpr.as_ref());
        let mut out = Vec::new();
        for (camera, cam) in &mut self.cams {
            let Some(at) = cam.tick_time(&*ctx.clock) else {
                continue;
            };
            cam.high_water = at.mono;
            let (w, h) = cam.size;
            out.extend(
                cam.tracker
                    .expire(at.mono)
                    .iter()
                    .map(|change| object_event(&ctx.origin, camera, w, h, change)),
            );
            if let (Some(shared), Some(l)) = (lpr, cam.lpr.as_mut()) {
                out.extend(l.on_tick(ctx, shared, at.mono));
            }
            out.extend(cam.run_rules(ctx, at));
        }
        out
    }
}

/// A confirmed track as the console draws it.
fn preview_box(o: &vigia_track::TrackedObject, w: u32, h: u32) -> PreviewBox {
    let (fw, fh) = (w.max(1) as f32, h.max(1) as f32);
    PreviewBox {
        track: o.id,
        label: o.label.to_string(),
        score: o.best_score,
        bbox: [o.bbox.x / fw, o.bbox.y / fh, o.bbox.w / fw, o.bbox.h / fh],
    }
}
