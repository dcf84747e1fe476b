//! The per-camera supervisor: `run_camera` loops over `run_once` (build, play, watch) with
//! capped exponential back-off, checking shutdown each turn, and reports every state change.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use gstreamer as gst;
use gstreamer::prelude::*;
use tokio::sync::mpsc;
use vigia_core::event::CameraState;
pub use vigia_core::event::CameraStatus;
use vigia_core::{CameraId, Clock, FrameHub, Shutdown};
use vigia_telemetry::Metrics;

use crate::config::CameraConfig;
use crate::pipeline::{self, CameraStats, FrameSink};
use crate::source::{Source, redact_url};

/// A camera's run of this length without failing resets the back-off.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How often the watchdog looks at the frame counters.
const TICK: Duration = Duration::from_millis(500);

/// What every camera supervisor shares.
#[derive(Clone)]
pub struct IngestContext {
    pub hub: Arc<FrameHub>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Status changes. Bounded; the supervisor waits when it is full (changes are rare).
    pub status: mpsc::Sender<CameraStatus>,
}

/// How one run of the pipeline ended.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Shutdown,
    /// End of a file that does not loop.
    Ended,
    Failed {
        reason: String,
        label: &'static str,
    },
}

/// Stops one camera, saying why (the reason of its last status: `offline`).
#[derive(Clone, Debug)]
pub struct CameraStop {
    token: Shutdown,
    reason: Arc<std::sync::OnceLock<String>>,
}

impl CameraStop {
    /// A stop that follows `token` (whose reason is "vigia is stopping").
    pub fn new(token: Shutdown) -> Self {
        Self {
            token,
            reason: Arc::default(),
        }
    }

    /// Stops this camera only, for `reason` ("removed from the configuration").
    pub fn stop(&self, reason: &str) {
        let _ = self.reason.set(reason.to_string());
        self.token.cancel();
    }

    fn reason(&self) -> String {
        self.reason
            .get()
            .cloned()
            .unwrap_or_else(|| "vigia is stopping".into())
    }
}

/// Runs a camera until it is stopped: (re)starts its pipeline, reports status changes.
pub async fn run_camera(
    cfg: CameraConfig,
    ctx: IngestContext,
    stats: Arc<CameraStats>,
    stop: CameraStop,
) {
    let shutdown = stop.token.clone();
    let camera = cfg.id.clone();
    let min = Duration::from_millis(cfg.reconnect_min_backoff_ms);
    let max = Duration::from_secs(cfg.reconnect_max_backoff_secs).max(min);
    let mut backoff = min;
    let mut attempts = 0u32;
    let up = ctx.metrics.camera_up.with_label_values(&[camera.as_str()]);
    let mut last_reason: Option<String> = None;
    loop {
        let state = if attempts == 0 {
            CameraState::Starting
        } else {
            CameraState::Reconnecting
        };
        report(&ctx, &camera, state, last_reason.clone(), None, attempts).await;
        let started = ctx.clock.monotonic();
        let outcome = run_once(&cfg, &ctx, &stats, &shutdown, attempts).await;
        up.set(0);
        let ran_for = ctx.clock.monotonic().saturating_sub(started);
        match outcome {
            Outcome::Shutdown => {
                report(
                    &ctx,
                    &camera,
                    CameraState::Offline,
                    Some(stop.reason()),
                    None,
                    0,
                )
                .await;
                return;
            }
            Outcome::Ended => {
                tracing::info!(camera = %camera, "end of file; camera done");
                report(
                    &ctx,
                    &camera,
                    CameraState::Offline,
                    Some("end of file".into()),
                    None,
                    0,
                )
                .await;
                return;
            }
            Outcome::Failed { reason, label } => {
                ctx.metrics
                    .camera_restarts
                    .with_label_values(&[camera.as_str(), label])
                    .inc();
                if ran_for >= STABLE_AFTER {
                    backoff = min;
                    attempts = 0;
                }
                attempts += 1;
                let jitter = 0.8 + fastrand::f64() * 0.4;
                let wait = backoff.mul_f64(jitter);
                tracing::warn!(
                    camera = %camera,
                    reason = %reason,
                    attempt = attempts,
                    retry_in_ms = wait.as_millis() as u64,
                    "camera stream failed; reconnecting"
                );
                last_reason = Some(reason);
                backoff = (backoff * 2).min(max);
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        report(&ctx, &camera, CameraState::Offline, Some(stop.reason()), None, 0).await;
                        return;
                    }
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

async fn report(
    ctx: &IngestContext,
    camera: &CameraId,
    state: CameraState,
    reason: Option<String>,
    decoder: Option<String>,
    attempts: u32,
) {
    let _ = ctx
        .status
        .send(CameraStatus {
            camera: camera.clone(),
            state,
            reason,
            decoder,
            attempts,
        })
        .await;
}

async fn run_once(
    cfg: &CameraConfig,
    ctx: &IngestContext,
    stats: &Arc<CameraStats>,
    shutdown: &Shutdown,
    attempts: u32,
) -> Outcome {
    let camera = &cfg.id;
    let replay = matches!(cfg.source(), Ok(Source::File { .. })) && !cfg.file_realtime;
    let sink = Arc::new(
        FrameSink::new(
            camera.clone(),
            ctx.hub.clone(),
            ctx.metrics.clone(),
            ctx.clock.clone(),
            stats.clone(),
        )
        .replaying(replay),
    );
    // An ONVIF camera is asked for its stream at every start (it may have rebooted).
    let source = tokio::select! {
        _ = shutdown.cancelled() => return Outcome::Shutdown,
        s = crate::onvif::resolve_source(cfg) => s,
    };
    let source = match source {
        Ok(s) => s,
        Err(reason) => {
            return Outcome::Failed {
                reason,
                label: "error",
            };
        }
    };
    let built = match pipeline::build(cfg, source, &sink) {
        Ok(p) => p,
        Err(e) => {
            return Outcome::Failed {
                reason: e.to_string(),
                label: "error",
            };
        }
    };
    let pipe = built.pipeline.clone();
    // If this future is dropped mid-run (runtime shutdown), still leave GStreamer clean.
    let _guard = NullOnDrop(pipe.clone());
    let bus = pipe.bus().expect("a pipeline has a bus");
    let mut messages = bus.stream();
    tracing::info!(camera = %camera, url = %redact_url(&cfg.url), attempt = attempts, "starting camera pipeline");

    let outcome = if let Err(e) = pipe.set_state(gst::State::Playing) {
        // The reason is usually on the bus; take it if it is there already.
        let reason = bus
            .pop_filtered(&[gst::MessageType::Error])
            .and_then(|m| match m.view() {
                gst::MessageView::Error(err) => Some(err.error().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| e.to_string());
        Outcome::Failed {
            reason: format!("could not start: {reason}"),
            label: "error",
        }
    } else {
        watch(cfg, ctx, stats, shutdown, &built, &sink, &mut messages).await
    };

    // Tear down off the async threads: rtspsrc may block while it sends TEARDOWN.
    let p = pipe.clone();
    let _ = tokio::task::spawn_blocking(move || p.set_state(gst::State::Null)).await;
    ctx.hub.discard(camera);
    outcome
}

/// Sets a pipeline to NULL when dropped (elements must reach NULL before disposal).
struct NullOnDrop(gst::Pipeline);

impl Drop for NullOnDrop {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

async fn watch(
    cfg: &CameraConfig,
    ctx: &IngestContext,
    stats: &CameraStats,
    shutdown: &Shutdown,
    built: &pipeline::CameraPipeline,
    sink: &FrameSink,
    messages: &mut gst::bus::BusStream,
) -> Outcome {
    let camera = &cfg.id;
    let is_file = matches!(cfg.source(), Ok(Source::File { .. }));
    let stall = Duration::from_secs(cfg.stall_timeout_secs);
    let start_ms = ctx.clock.monotonic().as_millis() as u64;
    let frames_at_start = stats.delivered.load(Ordering::Relaxed);
    let mut streaming = false;
    let mut tick = tokio::time::interval(TICK);
    let up = ctx.metrics.camera_up.with_label_values(&[camera.as_str()]);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Outcome::Shutdown,
            // Before bus messages: a short file may reach EOS right after its first frame.
            _ = sink.first_frame.notified(), if !streaming => {
                streaming = true;
                up.set(1);
                let decoder = built.decoder.lock().unwrap_or_else(|e| e.into_inner()).clone();
                tracing::info!(camera = %camera, decoder = decoder.as_deref().unwrap_or("?"), "camera streaming");
                report(ctx, camera, CameraState::Streaming, None, decoder, 0).await;
            }
            msg = messages.next() => {
                let Some(msg) = msg else {
                    return Outcome::Failed { reason: "pipeline bus closed".into(), label: "error" };
                };
                match msg.view() {
                    gst::MessageView::Error(err) => {
                        let mut reason = err.error().to_string();
                        if let Some(debug) = err.debug() {
                            reason.push_str(&format!(" ({debug})"));
                        }
                        return Outcome::Failed { reason: redact_url(&reason), label: "error" };
                    }
                    gst::MessageView::Eos(_) => {
                        if is_file && cfg.file_loop {
                            let p = &built.pipeline;
                            if p.seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, gst::ClockTime::ZERO).is_ok() {
                                tracing::debug!(camera = %camera, "file looped");
                                continue;
                            }
                            return Outcome::Failed { reason: "could not seek to the start of the file".into(), label: "eos" };
                        }
                        if is_file {
                            return Outcome::Ended;
                        }
                        return Outcome::Failed { reason: "the camera ended the stream".into(), label: "eos" };
                    }
                    gst::MessageView::Warning(w) => {
                        tracing::debug!(camera = %camera, warning = %redact_url(&w.error().to_string()), "pipeline warning");
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {
                let now_ms = ctx.clock.monotonic().as_millis() as u64;
                let last = stats.last_frame_ms.load(Ordering::Relaxed);
                let fresh = stats.delivered.load(Ordering::Relaxed) > frames_at_start;
                let since = if fresh { last.saturating_sub(1) } else { start_ms };
                if now_ms.saturating_sub(since) > stall.as_millis() as u64 {
                    let what = if fresh { "no frame" } else { "no first frame" };
                    return Outcome::Failed {
                        reason: format!("stalled: {what} for {} s", cfg.stall_timeout_secs),
                        label: "stall",
                    };
                }
            }
        }
    }
}
