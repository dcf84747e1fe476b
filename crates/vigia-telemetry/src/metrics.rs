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
    /// 1 while connected to the MQTT broker.
    pub mqtt_connected: IntGauge,
    /// MQTT connection attempts that failed or connections that broke.
    pub mqtt_connection_errors: IntCounter,
    /// Plate reads (one per plate per analysed frame). Labels: camera.
    pub plate_reads: IntCounterVec,
    /// Incidents started. Labels: camera, kind.
    pub incidents: IntCounterVec,
    /// Frames not given to the detector. Labels: camera, reason (`no_motion`).
    pub frames_skipped: IntCounterVec,
    /// Hotlist hits (one per pass and entry). Labels: list.
    pub hotlist_hits: IntCounterVec,
    /// Hotlist entries loaded.
    pub hotlist_entries: IntGauge,
    /// Bytes of snapshot files on disk.
    pub snapshot_bytes: IntGauge,
}

impl Metrics {
    /// Creates the registry and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let frames_decoded = counter_vec(
            n::FRAMES_DECODED,
            "Frames decoded and handed to vigia",
            &["camera"],
        );
        let frames_dropped = counter_vec(
            n::FRAMES_DROPPED,
            "Frames dropped before analysis",
            &["camera", "reason"],
        );
        let frames_analysed = counter_vec(
            n::FRAMES_ANALYSED,
            "Frames run through the detector",
            &["camera"],
        );
        let camera_up = IntGaugeVec::new(
            Opts::new(n::CAMERA_UP, "1 while the camera is streaming"),
            &["camera"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(camera_up.clone()))
            .expect("unique metric");
        let camera_restarts = counter_vec(
            n::CAMERA_RESTARTS,
            "Camera pipeline restarts",
            &["camera", "reason"],
        );
        let inference_seconds = HistogramVec::new(
            HistogramOpts::new(
                n::INFERENCE_SECONDS,
                "Model run time including pre- and post-processing",
            )
            .buckets(vec![
                0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0,
            ]),
            &["model"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(inference_seconds.clone()))
            .expect("unique metric");
        let detections = counter_vec(
            n::DETECTIONS,
            "Detections kept after NMS and class filtering",
            &["camera", "class"],
        );
        let events_created =
            counter_vec(n::EVENTS_CREATED, "Events written to the outbox", &["type"]);
        let events_published = counter_vec(
            n::EVENTS_PUBLISHED,
            "Events acknowledged by the broker",
            &["type"],
        );
        let event_delivery_seconds = Histogram::with_opts(
            HistogramOpts::new(
                n::EVENT_DELIVERY_SECONDS,
                "Time from event creation to the broker's PUBACK",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0,
            ]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(event_delivery_seconds.clone()))
            .expect("unique metric");
        let outbox_depth = gauge(n::OUTBOX_DEPTH, "Outbox records not yet acknowledged");
        let outbox_bytes = gauge(n::OUTBOX_BYTES, "Bytes of outbox segment files on disk");
        let outbox_append_seconds = Histogram::with_opts(
            HistogramOpts::new(
                n::OUTBOX_APPEND_SECONDS,
                "Outbox append time including fsync",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
            ]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(outbox_append_seconds.clone()))
            .expect("unique metric");
        let outbox_full = gauge(
            n::OUTBOX_FULL,
            "1 while the outbox disk budget is exhausted",
        );
        let outbox_corrupt_regions = IntCounter::new(
            n::OUTBOX_CORRUPT_REGIONS,
            "Torn or corrupt outbox regions skipped when the outbox was opened",
        )
        .expect("valid metric");
        registry
            .register(Box::new(outbox_corrupt_regions.clone()))
            .expect("unique metric");
        let mqtt_connected = gauge(n::MQTT_CONNECTED, "1 while connected to the MQTT broker");
        let mqtt_connection_errors = IntCounter::new(
            n::MQTT_CONNECTION_ERRORS,
            "MQTT connection attempts that failed or connections that broke",
        )
        .expect("valid metric");
        registry
            .register(Box::new(mqtt_connection_errors.clone()))
            .expect("unique metric");
        let incidents = counter_vec(n::INCIDENTS, "Incidents started", &["camera", "kind"]);
        let frames_skipped = counter_vec(
            n::FRAMES_SKIPPED,
            "Frames not given to the detector",
            &["camera", "reason"],
        );
        let plate_reads = counter_vec(
            n::PLATE_READS,
            "Plate reads (per plate per analysed frame)",
            &["camera"],
        );
        let hotlist_hits = counter_vec(
            n::HOTLIST_HITS,
            "Hotlist hits (one per pass and entry)",
            &["list"],
        );
        let hotlist_entries = gauge(n::HOTLIST_ENTRIES, "Hotlist entries loaded");
        let snapshot_bytes = gauge(n::SNAPSHOT_BYTES, "Bytes of snapshot files on disk");
        Self {
            registry,
            incidents,
            frames_skipped,
            plate_reads,
            hotlist_hits,
            hotlist_entries,
            snapshot_bytes,
            frames_decoded,
            frames_dropped,
            frames_analysed,
            camera_up,
            camera_restarts,
            inference_seconds,
            detections,
            events_created,
            events_published,
            event_delivery_seconds,
            outbox_depth,
            outbox_bytes,
            outbox_append_seconds,
            outbox_full,
            outbox_corrupt_regions,
            mqtt_connected,
            mqtt_connection_errors,
        }
    }

    /// The registry, for tests and extra collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
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
