//! The inference workers: OS threads that take the freshest frame of the camera that waited
//! longest from the [`FrameHub`], run the motion gate, the detector and (LPR cameras) the
//! plate reader, and send what they found to analytics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Result;
use prometheus::Histogram;
use tokio::sync::mpsc;
use vigia_analytics::preview::{self, Previews};
use vigia_analytics::{AnalysedFrame, FrameTimes, Input, OwnedRgb, PlateSighting};
use vigia_core::metric_names::stage as stages;
use vigia_core::{CameraId, Frame, FrameHub};
use vigia_infer::RgbView;
use vigia_infer::detector::Detector;
use vigia_infer::motion::{Decision, MotionConfig, MotionGate, Picture};
use vigia_lpr::is_vehicle;
use vigia_plates::PlateReader;
use vigia_telemetry::Metrics;

use super::plate_scan::plate_scan;
use super::views::Counters;

/// The models one inference worker owns (sessions are not shared).
pub struct WorkerModels {
    pub detector: Detector,
    pub plates: Option<PlateReader>,
}

/// What the workers do with one camera's frames.
pub struct Route {
    /// The frames go to the plate reader.
    pub lpr: bool,
    /// The camera has incident rules: its frames are copied for snapshots and classifiers.
    pub rules: bool,
    /// The camera's motion gate: its own lock, so workers on other cameras never wait.
    gate: Mutex<MotionGate>,
    counters: Arc<Counters>,
    /// Analysed frames in a row whose plate reading was skipped (settled vehicles).
    pub(super) plates_skipped: AtomicU32,
    /// Analysed frames in a row with motion but no vehicle.
    pub(super) without_vehicle: AtomicU32,
    /// The camera's LPR read zone (fractions of the picture), if any.
    pub read_zone: Option<[f32; 4]>,
    /// `detector_width` of the camera: the widest detector input for its frames.
    pub detector_width: Option<u32>,
}

impl Route {
    pub fn new(lpr: bool, rules: bool, motion: &MotionConfig, counters: Arc<Counters>) -> Self {
        Self {
            lpr,
            rules,
            gate: Mutex::new(MotionGate::new(motion.clone())),
            counters,
            plates_skipped: AtomicU32::new(0),
            without_vehicle: AtomicU32::new(0),
            read_zone: None,
            detector_width: None,
        }
    }
}

/// Every camera's route (replaced when a configuration reload changes the camera), and the
/// plate reader's vehicle gate.
pub struct Routing {
    pub cameras: RwLock<HashMap<CameraId, Arc<Route>>>,
    /// Plates are read only in frames with a vehicle ...
    pub vehicle_gate: bool,
    /// ... and on every this-many-th frame in a row with motion but none (0: never).
    pub scan_without_vehicle_every: u32,
    /// Vehicles whose pass is settled (analytics keeps it up to date) ...
    pub settled: Arc<vigia_core::SettledVehicles>,
    /// ... have their plates read on one analysed frame in this many.
    pub settled_read_every: u32,
    /// `lpr.pass.read_settled_vehicles`.
    pub read_settled_vehicles: bool,
}

impl Routing {
    /// No camera yet (they are added as they start).
    pub fn new(lpr: &vigia_lpr::LprConfig, settled: Arc<vigia_core::SettledVehicles>) -> Self {
        Self {
            cameras: RwLock::default(),
            vehicle_gate: lpr.vehicle_gate,
            scan_without_vehicle_every: lpr.scan_without_vehicle_every,
            settled,
            settled_read_every: lpr.pass.settled_read_every,
            read_settled_vehicles: lpr.pass.read_settled_vehicles,
        }
    }

    /// The camera's route; `None` for a camera no longer configured (its frames are dropped).
    pub fn route(&self, camera: &CameraId) -> Option<Arc<Route>> {
        self.cameras
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(camera)
            .cloned()
    }

    /// Sets (`Some`) or removes a camera's route.
    pub fn set(&self, camera: &CameraId, route: Option<Route>) {
        let mut cameras = self.cameras.write().unwrap_or_else(|e| e.into_inner());
        match route {
            Some(r) => cameras.insert(camera.clone(), Arc::new(r)),
            None => cameras.remove(camera),
        };
    }
}

/// Everything a worker thread shares with the others.
#[derive(Clone)]
pub struct Shared {
    pub routing: Arc<Routing>,
    pub hub: Arc<FrameHub>,
    pub analytics: mpsc::Sender<Input>,
    pub metrics: Arc<Metrics>,
    /// The web console's previews (copies only of the cameras it watches).
    pub previews: Arc<Previews>,
}

/// A worker's inference-time histograms, resolved once.
struct Timers {
    detector: Histogram,
    plates: Option<(Histogram, Histogram)>,
    /// Stage times: waiting in the hub, the worker's own work.
    hub_wait: Histogram,
    inference: Histogram,
}

/// The worker loop; returns when the hub is closed (or analytics is gone).
pub fn run_worker(mut models: WorkerModels, shared: &Shared) -> Result<()> {
    let hist = |model: &str| shared.metrics.inference_seconds.with_label_values(&[model]);
    let stage = |name: &str| shared.metrics.stage_seconds.with_label_values(&[name]);
    let timers = Timers {
        detector: hist(models.detector.name()),
        plates: models.plates.as_ref().map(|p| {
            let (d, o) = p.model_names();
            (hist(&d), hist(&o))
        }),
        hub_wait: stage(stages::HUB_WAIT),
        inference: stage(stages::INFERENCE),
    };
    let mut failures = 0u64;
    loop {
        let Some(frame) = shared.hub.take(Duration::from_millis(250)) else {
            if shared.hub.is_closed() {
                return Ok(());
            }
            continue;
        };
        let taken = Instant::now();
        timers.hub_wait.observe(
            taken
                .saturating_duration_since(frame.received)
                .as_secs_f64(),
        );
        let Some(input) = analyse(&mut models, shared, &timers, &frame, &mut failures) else {
            continue;
        };
        // Give the GStreamer buffer back before possibly waiting on analytics.
        drop(frame);
        timers.inference.observe(taken.elapsed().as_secs_f64());
        if shared.analytics.blocking_send(input).is_err() {
            return Ok(());
        }
    }
}

/// One frame through the motion gate, the detector and the plate reader.
fn analyse(
    models: &mut WorkerModels,
    shared: &Shared,
    timers: &Timers,
    frame: &Frame,
    failures: &mut u64,
) -> Option<Input> {
    let cam = frame.camera.clone();
    let route = shared.routing.route(&cam)?;
    let route = &*route;
    // Stamped when the input is made: that is when this worker hands it over.
    let times = || FrameTimes {
        received: frame.received,
        handed_over: Instant::now(),
    };
    let metrics = &shared.metrics;
    let (decision, region, scale) = gate(route, &models.detector, frame)?;
    if !matches!(decision, Decision::Motion) {
        // Nothing moved (the detector may still run on cadence): a run of frames with
        // motion but no vehicle is over.
        route.without_vehicle.store(0, Ordering::Relaxed);
    }
    if !decision.run_detector() {
        metrics
            .frames_skipped
            .with_label_values(&[cam.as_str(), "no_motion"])
            .inc();
        return Some(Input::Skipped {
            preview: preview_copy(shared, frame),
            camera: cam,
            captured_mono: frame.captured_mono,
            captured_utc: frame.captured_utc,
            times: times(),
        });
    }
    // The frame's RGB (converted here, once, from a decoded I420 frame).
    let view = rgb_view(frame)?;
    let t = Instant::now();
    let result = models
        .detector
        .detect_scaled(&view, region, scale.unwrap_or(f32::INFINITY));
    timers.detector.observe(t.elapsed().as_secs_f64());
    let detections = match result {
        Ok(d) => d,
        Err(e) => {
            *failures += 1;
            if failures.is_power_of_two() {
                tracing::error!(camera = %cam, error = %e, failures = *failures, "inference failed");
            }
            return None;
        }
    };
    route
        .gate
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remember(detections.iter().map(|d| d.bbox));
    metrics
        .frames_analysed
        .with_label_values(&[cam.as_str()])
        .inc();
    if region.is_some() {
        metrics
            .frames_in_region
            .with_label_values(&[cam.as_str()])
            .inc();
    }
    route.counters.analysed.fetch_add(1, Ordering::Relaxed);
    for d in &detections {
        metrics
            .detections
            .with_label_values(&[cam.as_str(), &d.label])
            .inc();
    }
    let zone = route.read_zone.map(|[x, y, w, h]| {
        let (fw, fh) = (frame.width as f32, frame.height as f32);
        vigia_core::BBox::new(x * fw, y * fh, w * fw, h * fh)
    });
    // Vehicles that can show a plate in the read zone.
    let vehicles: Vec<vigia_core::BBox> = detections
        .iter()
        .filter(|d| is_vehicle(&d.label))
        .map(|d| d.bbox)
        .filter(|b| zone.is_none_or(|z| z.contains(b.center())))
        .collect();
    let scan = route
        .lpr
        .then(|| plate_scan(shared, route, &cam, decision, vehicles))
        .flatten();
    let plates = match (models.plates.as_mut(), &timers.plates, scan) {
        (Some(reader), Some(t), Some(vehicles)) => {
            read_plates(reader, &view, (zone, &vehicles), frame, t, failures)
        }
        _ => Vec::new(),
    };
    Some(Input::Detections(Box::new(AnalysedFrame {
        camera: cam,
        times: times(),
        width: frame.width,
        height: frame.height,
        captured_mono: frame.captured_mono,
        captured_utc: frame.captured_utc,
        detections,
        // One copy serves both: the plate sightings' snapshot and the rules' frame.
        frame: route.rules.then(|| match plates.first() {
            Some(p) => p.frame.clone(),
            None => Arc::new(copy(frame)),
        }),
        preview: preview_copy(shared, frame),
        plates,
    })))
}

fn rgb_view(frame: &Frame) -> Option<RgbView<'_>> {
    unless_bad(frame, RgbView::from_frame(frame))
}

/// `r`'s value, or `None` with the frame's error logged.
fn unless_bad<T>(frame: &Frame, r: Result<T, vigia_infer::InferError>) -> Option<T> {
    r.inspect_err(|m| tracing::error!(camera = %frame.camera, error = %m, "bad frame"))
        .ok()
}

/// The motion gate's decision on a frame, the region to read when it runs the detector
/// (`None`: all of it), and the scale to read at (`None`: a fixed-size detector). The gate
/// looks at a decoded frame's luma plane, so a frame it skips is never converted to RGB.
fn gate(
    route: &Route,
    detector: &Detector,
    frame: &Frame,
) -> Option<(Decision, Option<vigia_core::BBox>, Option<f32>)> {
    // The frame's scale in the detector (capped by `detector_width`); a motion region is
    // read at the same scale, so it sees what the whole frame would.
    let scale = detector.full_scale(frame.width, frame.height).map(|s| {
        route
            .detector_width
            .map_or(s, |w| s.min(w as f32 / frame.width.max(1) as f32))
    });
    let picture = unless_bad(frame, Picture::of_frame(frame))?;
    let mut gate = route.gate.lock().unwrap_or_else(|e| e.into_inner());
    let decision = gate.check_picture(&picture, frame.captured_mono);
    let region = (decision.run_detector() && scale.is_some())
        .then(|| gate.region(decision, frame.width, frame.height, frame.captured_mono))
        .flatten();
    Some((decision, region, scale))
}

/// A small copy of the frame when the web console watches its camera.
fn preview_copy(shared: &Shared, frame: &Frame) -> Option<OwnedRgb> {
    shared
        .previews
        .should_copy(&frame.camera, Instant::now())
        .then(|| preview::downscale(frame.width, frame.height, frame.stride(), frame.bytes()))
}

fn copy(frame: &Frame) -> OwnedRgb {
    OwnedRgb::copy_from(frame.width, frame.height, frame.stride(), frame.bytes())
}

/// The plates in a frame, each with a copy of the frame for its snapshot.
fn read_plates(
    reader: &mut PlateReader,
    view: &RgbView,
    (zone, vehicles): (Option<vigia_core::BBox>, &[vigia_core::BBox]),
    frame: &Frame,
    (plate_hist, ocr_hist): &(Histogram, Histogram),
    failures: &mut u64,
) -> Vec<PlateSighting> {
    match reader
        .scan_vehicles(view, zone, vehicles)
        .map(|s| (s.found, s.times))
    {
        Ok((found, times)) => {
            plate_hist.observe(times.plate_detection_ms / 1e3);
            if times.candidates > 0 {
                ocr_hist.observe(times.ocr_ms / 1e3);
            }
            if found.is_empty() {
                return Vec::new();
            }
            let frame = Arc::new(copy(frame));
            found
                .into_iter()
                .map(|found| PlateSighting {
                    found,
                    frame: frame.clone(),
                })
                .collect()
        }
        Err(e) => {
            *failures += 1;
            if failures.is_power_of_two() {
                tracing::error!(camera = %frame.camera, error = %e, failures = *failures, "plate reading failed");
            }
            Vec::new()
        }
    }
}
