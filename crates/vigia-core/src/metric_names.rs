//! Every Prometheus metric name vigia exports, in one place. Labels are bounded: camera ids
//! and model names yes, plate text or event ids never.

pub const FRAMES_DECODED: &str = "vigia_frames_decoded_total";
pub const FRAMES_DROPPED: &str = "vigia_frames_dropped_total";
pub const FRAMES_ANALYSED: &str = "vigia_frames_analysed_total";
pub const CAMERA_UP: &str = "vigia_camera_up";
pub const CAMERA_RESTARTS: &str = "vigia_camera_restarts_total";
pub const INFERENCE_SECONDS: &str = "vigia_inference_seconds";
pub const DETECTIONS: &str = "vigia_detections_total";
pub const EVENTS_CREATED: &str = "vigia_events_created_total";
pub const EVENTS_PUBLISHED: &str = "vigia_events_published_total";
pub const EVENT_DELIVERY_SECONDS: &str = "vigia_event_delivery_seconds";
pub const FRAME_TO_EVENT_SECONDS: &str = "vigia_frame_to_event_seconds";
pub const FRAME_TO_PUBACK_SECONDS: &str = "vigia_frame_to_puback_seconds";
pub const PIPELINE_STAGE_SECONDS: &str = "vigia_pipeline_stage_seconds";
pub const OUTBOX_DEPTH: &str = "vigia_outbox_depth";
pub const OUTBOX_BYTES: &str = "vigia_outbox_bytes";
pub const OUTBOX_APPEND_SECONDS: &str = "vigia_outbox_append_seconds";
pub const OUTBOX_FULL: &str = "vigia_outbox_full";
pub const OUTBOX_CORRUPT_REGIONS: &str = "vigia_outbox_corrupt_regions_total";
pub const OUTBOX_ACKED_EXPIRED_BYTES: &str = "vigia_outbox_acked_expired_bytes_total";
pub const FLEET_CONNECTED: &str = "vigia_fleet_connected";
pub const FLEET_CAMERAS: &str = "vigia_fleet_cameras";
pub const MQTT_CONNECTED: &str = "vigia_mqtt_connected";
pub const MQTT_CONNECTION_ERRORS: &str = "vigia_mqtt_connection_errors_total";
pub const PLATE_READS: &str = "vigia_plate_reads_total";
pub const PLATE_SCANS_SKIPPED: &str = "vigia_plate_scans_skipped_total";
pub const INCIDENTS: &str = "vigia_incidents_total";
pub const ALARM_TRIGGERS: &str = "vigia_alarm_triggers_total";
pub const SNAPSHOTS_DELETED: &str = "vigia_snapshots_deleted_total";
pub const FRAMES_SKIPPED: &str = "vigia_frames_skipped_total";
pub const FRAMES_IN_REGION: &str = "vigia_frames_in_region_total";
pub const HOTLIST_HITS: &str = "vigia_hotlist_hits_total";
pub const HOTLIST_ENTRIES: &str = "vigia_hotlist_entries";
pub const SNAPSHOT_BYTES: &str = "vigia_snapshot_bytes";
pub const CONFIG_RELOADS: &str = "vigia_config_reloads_total";
pub const CONFIG_LAST_RELOAD_SUCCESSFUL: &str = "vigia_config_last_reload_successful";

/// `result` label values of [`CONFIG_RELOADS`].
pub mod reload_result {
    /// The new file was valid; its camera changes were applied.
    pub const APPLIED: &str = "applied";
    /// The new file was refused (invalid, or a change that needs a restart); the running
    /// configuration was kept.
    pub const REFUSED: &str = "refused";
}

/// `reason` label values of [`FRAMES_DROPPED`].
pub mod drop_reason {
    /// A newer frame of the same camera arrived before a worker took this one.
    pub const SUPERSEDED: &str = "superseded";
    /// Frames refused while shutting down.
    pub const SHUTDOWN: &str = "shutdown";
}

/// `stage` label values of [`PIPELINE_STAGE_SECONDS`]: where a frame's time goes between
/// ingest and the outbox.
pub mod stage {
    /// Waiting in the frame hub for an inference worker (from the appsink).
    pub const HUB_WAIT: &str = "hub_wait";
    /// A worker's work on the frame: motion gate, detector, plate reader.
    pub const INFERENCE: &str = "inference";
    /// Waiting to reach analytics (the worker blocked on a full channel, then the queue).
    pub const ANALYTICS_WAIT: &str = "analytics_wait";
    /// Analytics' work on the frame, events written to the outbox included.
    pub const ANALYTICS: &str = "analytics";
}
