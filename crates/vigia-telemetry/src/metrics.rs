//! The Prometheus registry and typed metric handles.
//!
//! One [`Metrics`] is created by the binary and shared (`Arc`) with every stage. Label
//! values are bounded: camera ids, model names, event types, drop reasons.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use vigia_core::metric_names as n;

/// Every metric vigia exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Frames decoded and handed to vigia by a camera's pipeline. Labels: camera.
    pub frames_decoded: IntCounterVec,
    /// Frames dropped before analysis. Labels: camera, reason.
    pub frames_dropped: IntCounterVec,
    /// Frames that went through the detector. Labels: camera.
    pub frames_analysed: IntCounterVec,
    /// 1 while a camera is streaming, else 0. Labels: camera.
    pub camera_up: IntGaugeVec,
    /// Pipeline restarts. Labels: camera, reason (error, stall, eos).
    pub camera_restarts: IntCounterVec,
    /// Model run time including pre- and post-processing, seconds. Labels: model.
    pub inference_seconds: HistogramVec,
    /// Detections kept after NMS and class filtering. Labels: camera, class.
    pub detections: IntCounterVec,
    /// Events written to the outbox. Labels: type.
    pub events_created: IntCounterVec,
    /// Events acknowledged by the broker (PUBACK). Labels: type.
    pub events_published: IntCounterVec,
    /// Time from event creation to its PUBACK, seconds.
    pub event_delivery_seconds: Histogram,
    /// Time from a frame reaching vigia to an event made from it stored in the outbox.
    pub frame_to_event_seconds: Histogram,
    /// Time from a frame reaching vigia to the PUBACK of an event made from it.
    pub frame_to_puback_seconds: Histogram,
    /// Where a frame's time goes, per stage, seconds. Labels: stage (see
    /// `vigia_core::metric_names::stage`).
    pub stage_seconds: HistogramVec,
    /// Records in the outbox not yet acknowledged.
    pub outbox_depth: IntGauge,
    /// Bytes of outbox segment files on disk.
    pub outbox_bytes: IntGauge,
    /// Outbox append time including the fsync the policy asks for, seconds.
    pub outbox_append_seconds: Histogram,
    /// 1 while the outbox refuses appends because its disk budget is exhausted.
    pub outbox_full: IntGauge,
    /// Torn or corrupt outbox regions found (and skipped) when the outbox was opened.
    pub outbox_corrupt_regions: IntCounter,
    /// Bytes of acknowledged outbox records removed for their age (`acked_max_age_secs`).
    pub outbox_acked_expired_bytes: IntCounter,
    /// Fleet nodes: 1 while etcd answers (0 when cut off or without quorum; the node then
    /// keeps the cameras it holds).
    pub fleet_connected: IntGauge,
    /// Fleet nodes: cameras this node holds from the fleet.
    pub fleet_cameras: IntGauge,
    /// 1 while connected to the MQTT broker.
    pub mqtt_connected: IntGauge,
    /// MQTT connection attempts that failed or connections that broke.
    pub mqtt_connection_errors: IntCounter,
    /// Plate reads (one per plate per analysed frame). Labels: camera.
    pub plate_reads: IntCounterVec,
    /// Analysed frames of LPR cameras not given to the plate reader because every vehicle
    /// in view has its plate settled (`lpr.pass.settled_read_every`). Labels: camera.
    pub plate_scans_skipped: IntCounterVec,
    /// Incidents started. Labels: camera, kind.
    pub incidents: IntCounterVec,
    /// Alarm-input triggers by outcome. Labels: input (empty for unknown inputs and bad
    /// payloads), result (`raised`, `debounced`, `inactive`, `unknown_input`,
    /// `bad_payload`).
    pub alarm_triggers: IntCounterVec,
    /// Snapshot files deleted before the byte budget needed the room. Labels: kind
    /// (`plate`, `incident`), reason (`retention`, `request`).
    pub snapshots_deleted: IntCounterVec,
    /// Frames not given to the detector. Labels: camera, reason (`no_motion`).
    pub frames_skipped: IntCounterVec,
    /// Analysed frames the detector read only in a motion region. Labels: camera.
    pub frames_in_region: IntCounterVec,
    /// Hotlist hits (one per pass and entry). Labels: list.
    pub hotlist_hits: IntCounterVec,
    /// Hotlist entries loaded.
    pub hotlist_entries: IntGauge,
    /// Bytes of snapshot files on disk.
    pub snapshot_bytes: IntGauge,
    /// Configuration reloads (SIGHUP, file change, API). Labels: result.
    pub config_reloads: IntCounterVec,
    /// 0 after a reload was refused, 1 after one was applied (and at start).
    pub config_last_reload_successful: IntGauge,
}

/// Registers `m` in `registry` and returns it.
fn reg<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, m: T) -> T {
    registry
        .register(Box::new(m.clone()))
        .expect("unique metric");
    m
}

/// Model run times, per model.
fn inference_histogram(registry: &Registry) -> HistogramVec {
    reg(
        registry,
        HistogramVec::new(
            HistogramOpts::new(
                n::INFERENCE_SECONDS,
                "Model run time including pre- and post-processing",
            )
            .buckets(vec![
                0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0,
            ]),
            &["model"],
        )
        .expect("valid metric"),
    )
}

/// Configuration reloads by result, and whether the last one was applied.
fn reload_metrics(registry: &Registry) -> (IntCounterVec, IntGauge) {
    let opts = Opts::new(n::CONFIG_RELOADS, "Configuration reloads, by result");
    let reloads = IntCounterVec::new(opts, &["result"]).expect("valid metric");
    let last = IntGauge::new(
        n::CONFIG_LAST_RELOAD_SUCCESSFUL,
        "0 after a configuration reload was refused, 1 after one was applied",
    )
    .expect("valid metric");
    (reg(registry, reloads), reg(registry, last))
}

/// Latency buckets from 5 ms to 10 s.
const LAG_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The frame lag histograms: frame to outbox, frame to PUBACK, and per stage.
fn lag_histograms(registry: &Registry) -> (Histogram, Histogram, HistogramVec) {
    let one = |name: &str, help: &str| {
        let opts = HistogramOpts::new(name, help).buckets(LAG_BUCKETS.to_vec());
        reg(registry, Histogram::with_opts(opts).expect("valid metric"))
    };
    let stages = HistogramVec::new(
        HistogramOpts::new(
            n::PIPELINE_STAGE_SECONDS,
            "Time a frame spends in each pipeline stage",
        )
        .buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        ]),
        &["stage"],
    )
    .expect("valid metric");
    (
        one(
            n::FRAME_TO_EVENT_SECONDS,
            "Time from a frame reaching vigia to an event made from it stored in the outbox",
        ),
        one(
            n::FRAME_TO_PUBACK_SECONDS,
            "Time from a frame reaching vigia to the broker's PUBACK of an event made from it",
        ),
        reg(registry, stages),
    )
}

/// Makes labelled counters registered in `r` (a handle: registries share their contents).
fn counter_vecs(r: Registry) -> impl Fn(&str, &str, &[&str]) -> IntCounterVec {
    move |name, help, labels| {
        reg(
            &r,
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
        )
    }
}

/// Event delivery (creation → PUBACK) and outbox append times.
fn delivery_histograms(registry: &Registry) -> (Histogram, Histogram) {
    let histogram = |name: &str, help: &str, buckets: &[f64]| {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        reg(registry, Histogram::with_opts(opts).expect("valid metric"))
    };
    (
        histogram(
            n::EVENT_DELIVERY_SECONDS,
            "Time from event creation to the broker's PUBACK",
            &[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0,
            ],
        ),
        histogram(
            n::OUTBOX_APPEND_SECONDS,
            "Outbox append time including fsync",
            &[
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
            ],
        ),
    )
}

/// The motion gate's counters: frames it kept from the detector, frames read in a region.
fn motion_counters(registry: &Registry) -> (IntCounterVec, IntCounterVec) {
    let counter_vec = counter_vecs(registry.clone());
    (
        counter_vec(
            n::FRAMES_SKIPPED,
            "Frames not given to the detector",
            &["camera", "reason"],
        ),
        counter_vec(
            n::FRAMES_IN_REGION,
            "Analysed frames the detector read only in a motion region",
            &["camera"],
        ),
    )
}

/// Makes counters registered in `r`.
fn counters(r: Registry) -> impl Fn(&str, &str) -> IntCounter {
    move |name, help| reg(&r, IntCounter::new(name, help).expect("valid metric"))
}

impl Metrics {
    /// Creates the registry and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter_vec = counter_vecs(registry.clone());
        let gauge = |name: &str, help: &str| {
            reg(&registry, IntGauge::new(name, help).expect("valid metric"))
        };
        let counter = counters(registry.clone());
        let (config_reloads, config_last_reload_successful) = reload_metrics(&registry);
        let (frame_to_event_seconds, frame_to_puback_seconds, stage_seconds) =
            lag_histograms(&registry);
        let (event_delivery_seconds, outbox_append_seconds) = delivery_histograms(&registry);
        let (frames_skipped, frames_in_region) = motion_counters(&registry);
        Self {
            frames_decoded: counter_vec(
                n::FRAMES_DECODED,
                "Frames decoded and handed to vigia",
                &["camera"],
            ),
            frames_dropped: counter_vec(
                n::FRAMES_DROPPED,
                "Frames dropped before analysis",
                &["camera", "reason"],
            ),
            frames_analysed: counter_vec(
                n::FRAMES_ANALYSED,
                "Frames run through the detector",
                &["camera"],
            ),
            camera_up: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new(n::CAMERA_UP, "1 while the camera is streaming"),
                    &["camera"],
                )
                .expect("valid metric"),
            ),
            camera_restarts: counter_vec(
                n::CAMERA_RESTARTS,
                "Camera pipeline restarts",
                &["camera", "reason"],
            ),
            inference_seconds: inference_histogram(&registry),
            detections: counter_vec(
                n::DETECTIONS,
                "Detections kept after NMS and class filtering",
                &["camera", "class"],
            ),
            events_created: counter_vec(
                n::EVENTS_CREATED,
                "Events written to the outbox",
                &["type"],
            ),
            events_published: counter_vec(
                n::EVENTS_PUBLISHED,
                "Events acknowledged by the broker",
                &["type"],
            ),
            event_delivery_seconds,
            frame_to_event_seconds,
            frame_to_puback_seconds,
            stage_seconds,
            outbox_depth: gauge(n::OUTBOX_DEPTH, "Outbox records not yet acknowledged"),
            outbox_bytes: gauge(n::OUTBOX_BYTES, "Bytes of outbox segment files on disk"),
            outbox_append_seconds,
            outbox_full: gauge(
                n::OUTBOX_FULL,
                "1 while the outbox disk budget is exhausted",
            ),
            outbox_corrupt_regions: counter(
                n::OUTBOX_CORRUPT_REGIONS,
                "Torn or corrupt outbox regions skipped when the outbox was opened",
            ),
            outbox_acked_expired_bytes: counter(
                n::OUTBOX_ACKED_EXPIRED_BYTES,
                "Bytes of acknowledged outbox records removed for their age",
            ),
            fleet_connected: gauge(n::FLEET_CONNECTED, "1 while the fleet's etcd answers"),
            fleet_cameras: gauge(n::FLEET_CAMERAS, "Cameras this node holds from the fleet"),
            mqtt_connected: gauge(n::MQTT_CONNECTED, "1 while connected to the MQTT broker"),
            mqtt_connection_errors: counter(
                n::MQTT_CONNECTION_ERRORS,
                "MQTT connection attempts that failed or connections that broke",
            ),
            incidents: counter_vec(n::INCIDENTS, "Incidents started", &["camera", "kind"]),
            frames_skipped,
            frames_in_region,
            plate_reads: counter_vec(
                n::PLATE_READS,
                "Plate reads (per plate per analysed frame)",
                &["camera"],
            ),
            alarm_triggers: counter_vec(
                n::ALARM_TRIGGERS,
                "Alarm-input triggers by outcome",
                &["input", "result"],
            ),
            snapshots_deleted: counter_vec(
                n::SNAPSHOTS_DELETED,
                "Snapshot files deleted by retention or on request",
                &["kind", "reason"],
            ),
            plate_scans_skipped: counter_vec(
                n::PLATE_SCANS_SKIPPED,
                "Analysed frames not given to the plate reader: every vehicle in view has its plate settled",
                &["camera"],
            ),
            hotlist_hits: counter_vec(
                n::HOTLIST_HITS,
                "Hotlist hits (one per pass and entry)",
                &["list"],
            ),
            hotlist_entries: gauge(n::HOTLIST_ENTRIES, "Hotlist entries loaded"),
            snapshot_bytes: gauge(n::SNAPSHOT_BYTES, "Bytes of snapshot files on disk"),
            config_reloads,
            config_last_reload_successful,
            registry,
        }
    }

    /// The registry, for tests and extra collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Per model: the model-run histogram's sum (seconds) and count so far (the web
    /// console charts the mean of each interval).
    pub fn inference_totals(&self) -> Vec<(String, f64, u64)> {
        let name = n::INFERENCE_SECONDS;
        let mut out = Vec::new();
        for family in self.registry.gather() {
            if family.name() != name {
                continue;
            }
            for m in family.get_metric() {
                let model = m
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "model")
                    .map(|l| l.value().to_string())
                    .unwrap_or_default();
                let h = m.get_histogram();
                out.push((model, h.get_sample_sum(), h.get_sample_count()));
            }
        }
        out
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_metrics_with_labels() {
        let m = Metrics::new();
        m.frames_decoded.with_label_values(&["cam-1"]).inc_by(3);
        m.inference_seconds
            .with_label_values(&["yolox_nano"])
            .observe(0.02);
        m.outbox_depth.set(5);
        let text = m.render();
        assert!(text.contains("vigia_frames_decoded_total{camera=\"cam-1\"} 3"));
        assert!(text.contains("vigia_inference_seconds_count{model=\"yolox_nano\"} 1"));
        assert!(text.contains("vigia_outbox_depth 5"));
    }

    #[test]
    fn two_instances_do_not_collide() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.outbox_depth.set(1);
        assert!(b.render().contains("vigia_outbox_depth 0"));
    }
}
