//! What the API and the stats topic show about each camera. One owner: [`CameraViews`]
//! is written by the status forwarder (state changes) and the rate ticker (frame rates),
//! and read by HTTP and stats.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use vigia_analytics::Input;
use vigia_core::event::{CameraState, format_utc};
use vigia_core::{CameraId, CameraStatus, Clock};
use vigia_ingest::CameraConfig;
use vigia_ingest::pipeline::CameraStats;
use vigia_ingest::source::redact_url;

/// A camera's state as the API shows it: a disabled camera is never started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewState {
    Disabled,
    Starting,
    Streaming,
    Reconnecting,
    Offline,
}

impl From<CameraState> for ViewState {
    fn from(s: CameraState) -> Self {
        match s {
            CameraState::Starting => Self::Starting,
            CameraState::Streaming => Self::Streaming,
            CameraState::Reconnecting => Self::Reconnecting,
            CameraState::Offline => Self::Offline,
        }
    }
}

/// What the API shows about a camera.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    pub id: String,
    pub name: String,
    /// The source URL with any password replaced by `***`.
    pub url: String,
    pub enabled: bool,
    pub state: ViewState,
    pub reason: Option<String>,
    pub decoder: Option<String>,
    pub since: String,
    pub decoded_fps: f64,
    pub analysed_fps: f64,
    pub frames_decoded: u64,
    pub frames_delivered: u64,
    pub frames_superseded: u64,
}

/// A camera's frame counters: ingest's, and frames the detector analysed.
#[derive(Debug, Default)]
pub struct Counters {
    pub ingest: Arc<CameraStats>,
    pub analysed: AtomicU64,
}

impl CameraView {
    fn new(cam: &CameraConfig, since: String) -> Self {
        CameraView {
            id: cam.id.to_string(),
            name: cam.name.clone().unwrap_or_else(|| cam.id.to_string()),
            url: redact_url(&cam.url),
            enabled: cam.enabled,
            state: if cam.enabled {
                ViewState::Starting
            } else {
                ViewState::Disabled
            },
            reason: None,
            decoder: None,
            since,
            decoded_fps: 0.0,
            analysed_fps: 0.0,
            frames_decoded: 0,
            frames_delivered: 0,
            frames_superseded: 0,
        }
    }
}

/// Every camera's view and counters (cameras come and go with configuration reloads).
pub struct CameraViews {
    views: RwLock<BTreeMap<CameraId, CameraView>>,
    counters: RwLock<BTreeMap<CameraId, Arc<Counters>>>,
    clock: Arc<dyn Clock>,
    /// A fleet node's standing (`None` for a standalone node).
    fleet: RwLock<Option<FleetView>>,
}

/// How a fleet node stands with etcd (shown in `/readyz`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FleetView {
    /// etcd answered the last look.
    pub connected: bool,
    /// What that means for the cameras, in words.
    pub state: String,
    /// Cameras this node holds from the fleet.
    pub cameras: Vec<String>,
}

impl CameraViews {
    pub fn new(cameras: &[CameraConfig], clock: Arc<dyn Clock>) -> Self {
        let views = Self {
            views: RwLock::default(),
            counters: RwLock::default(),
            clock,
            fleet: RwLock::default(),
        };
        for cam in cameras {
            views.add(cam);
        }
        views
    }

    /// A camera (new, or changed: its view and counters start afresh).
    pub fn add(&self, cam: &CameraConfig) {
        let since = format_utc(&self.clock.now_utc());
        write(&self.views).insert(cam.id.clone(), CameraView::new(cam, since));
        write(&self.counters).insert(cam.id.clone(), Arc::default());
    }

    /// A camera removed from the configuration.
    pub fn remove(&self, camera: &CameraId) {
        write(&self.views).remove(camera);
        write(&self.counters).remove(camera);
    }

    /// The counters of a configured camera.
    pub fn counters(&self, camera: &CameraId) -> Option<Arc<Counters>> {
        self.counters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(camera)
            .cloned()
    }

    /// Every camera's view, by id.
    pub fn list(&self) -> Vec<CameraView> {
        self.views
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Records the fleet standing.
    pub fn set_fleet(&self, f: FleetView) {
        *self.fleet.write().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    /// The fleet standing, for a fleet node.
    pub fn fleet(&self) -> Option<FleetView> {
        self.fleet.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// (enabled cameras, of which streaming).
    pub fn streaming(&self) -> (usize, usize) {
        let views = self.views.read().unwrap_or_else(|e| e.into_inner());
        let enabled = views.values().filter(|v| v.enabled);
        let (n, streaming) = enabled.fold((0, 0), |(n, s), v| {
            (n + 1, s + usize::from(v.state == ViewState::Streaming))
        });
        (n, streaming)
    }

    /// A status change from a camera's supervisor.
    pub fn on_status(&self, st: &CameraStatus) {
        let mut views = write(&self.views);
        if let Some(v) = views.get_mut(&st.camera) {
            v.state = st.state.into();
            v.reason = st.reason.clone();
            if st.decoder.is_some() {
                v.decoder = st.decoder.clone();
            }
            v.since = format_utc(&self.clock.now_utc());
        }
    }

    /// Recomputes the frame rates since the previous call; returns one log line per camera.
    fn refresh_rates(&self, prev: &mut HashMap<CameraId, (u64, u64, Instant)>) -> Vec<String> {
        let mut lines = Vec::new();
        let counters = self.counters.read().unwrap_or_else(|e| e.into_inner());
        let mut views = write(&self.views);
        prev.retain(|id, _| counters.contains_key(id));
        for (id, c) in counters.iter() {
            let decoded = c.ingest.decoded.load(Ordering::Relaxed);
            let analysed = c.analysed.load(Ordering::Relaxed);
            let now = Instant::now();
            let (pd, pa, pt) = prev
                .insert(id.clone(), (decoded, analysed, now))
                .unwrap_or((0, 0, now));
            let dt = now.duration_since(pt).as_secs_f64();
            let (dfps, afps) = if dt > 0.0 {
                (
                    decoded.saturating_sub(pd) as f64 / dt,
                    analysed.saturating_sub(pa) as f64 / dt,
                )
            } else {
                (0.0, 0.0)
            };
            if let Some(v) = views.get_mut(id) {
                v.decoded_fps = (dfps * 10.0).round() / 10.0;
                v.analysed_fps = (afps * 10.0).round() / 10.0;
                v.frames_decoded = decoded;
                v.frames_delivered = c.ingest.delivered.load(Ordering::Relaxed);
                v.frames_superseded = c.ingest.superseded.load(Ordering::Relaxed);
            }
            lines.push(format!("{id}: {dfps:.1} decoded/s, {afps:.1} analysed/s"));
        }
        lines
    }
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// Status changes → the views, then analytics (which publishes them).
pub async fn forward_status(
    mut rx: tokio::sync::mpsc::Receiver<CameraStatus>,
    views: Arc<CameraViews>,
    analytics: tokio::sync::mpsc::Sender<Input>,
) -> anyhow::Result<()> {
    while let Some(st) = rx.recv().await {
        views.on_status(&st);
        if analytics.send(Input::Status(st)).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Ticks analytics every 500 ms (track expiry on quiet cameras); refreshes the frame rates
/// every 5 s and logs them every minute.
pub async fn tick(
    analytics: tokio::sync::mpsc::Sender<Input>,
    views: Arc<CameraViews>,
) -> anyhow::Result<()> {
    const FPS_EVERY: u32 = 10; // ticks of 500 ms
    const LOG_EVERY: u32 = 120;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut prev = HashMap::new();
    let mut n = 0u32;
    loop {
        tick.tick().await;
        n = n.wrapping_add(1);
        // try_send: a busy analytics thread skips a tick rather than block this task.
        let _ = analytics.try_send(Input::Tick);
        if !n.is_multiple_of(FPS_EVERY) {
            continue;
        }
        let mut lines = views.refresh_rates(&mut prev);
        if n.is_multiple_of(LOG_EVERY) && !lines.is_empty() {
            lines.sort();
            tracing::info!(cameras = %lines.join("; "), "frame rates");
        }
    }
}
