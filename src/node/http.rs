//! The node's HTTP server: health, readiness, Prometheus metrics and the REST API.
//!
//! | path | what |
//! |---|---|
//! | `GET /healthz` | 200 while the process serves requests (liveness) |
//! | `GET /readyz` | 200 when the pipeline runs and at least one camera streams (or none is configured); 503 otherwise, with the reasons |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /api/v1/status` | node identity, outbox, MQTT, uptime |
//! | `GET /api/v1/cameras` | every camera: state, decoder, fps, counters |
//! | `GET /api/v1/snapshots/{camera}/{day}/{file}` | a plate read's scene or plate crop (JPEG) |
//! | `DELETE /api/v1/snapshots/{camera}/{day}/{file}` | delete that picture now (a data-subject request, docs/privacy.md): 204, or 404 |
//! | `GET /api/v1/hotlists` | hotlist files, entries, bad rows |
//! | `POST /api/v1/hotlists/reload` | reload changed hotlist files now |
//! | `POST /api/v1/alarms/{input}` | trigger an alarm input (docs/alarms.md): 202 `{input, result}`; needs the API token |
//! | `POST /api/v1/config/reload` | reload the config file now (like SIGHUP): 200 with what changed, 422 with the errors of a refused file |
//! | `/console/…` | the web console ([`super::console`]) and its login ([`super::session`]) |

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use vigia_analytics::{HotlistSet, SnapshotStore};
use vigia_core::Shutdown;
use vigia_outbox::Outbox;
use vigia_telemetry::Metrics;

use super::views::CameraViews;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub outbox: Arc<Outbox>,
    pub cameras: Arc<CameraViews>,
    pub started: Arc<AtomicBool>,
    pub stopping: Shutdown,
    pub site: String,
    pub node: String,
    pub topic_prefix: String,
    pub broker: String,
    pub boot: Instant,
    pub snapshots: Option<Arc<SnapshotStore>>,
    pub hotlists: Option<Arc<HotlistSet>>,
    pub reload: super::reload::ReloadHandle,
    /// The alarm inputs (`None`: none configured).
    pub alarms: Option<Arc<super::alarms::AlarmGate>>,
    /// The web console's state.
    pub console: super::console::ConsoleState,
}

pub fn router(state: HttpState) -> Router {
    let console = super::console::router(state.console.clone());
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .route("/api/v1/cameras", get(cameras))
        .route(
            "/api/v1/snapshots/{camera}/{day}/{file}",
            get(snapshot).delete(delete_snapshot),
        )
        .route("/api/v1/hotlists", get(hotlists))
        .route("/api/v1/hotlists/reload", post(reload_hotlists))
        .route("/api/v1/config/reload", post(reload_config))
        .route("/api/v1/alarms/{input}", post(super::alarms::http_trigger))
        .with_state(state)
        .merge(console)
}

/// Binds the listener (so the caller learns the port before serving).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    let mut reasons = Vec::new();
    if !s.started.load(Ordering::Relaxed) {
        reasons.push("pipeline not started".to_string());
    }
    if s.stopping.is_cancelled() {
        reasons.push("shutting down".to_string());
    }
    if s.metrics.outbox_full.get() == 1 {
        reasons.push(
            "outbox full (disk budget used up or too little free disk): analysis paused until the broker acknowledges events or space returns"
                .to_string(),
        );
    }
    let (enabled, streaming) = s.cameras.streaming();
    if enabled > 0 && streaming == 0 {
        reasons.push("no camera is streaming".to_string());
    }
    let ready = reasons.is_empty();
    let body = serde_json::json!({
        "ready": ready,
        "reasons": reasons,
        "cameras_streaming": streaming,
        "cameras_enabled": enabled,
        "mqtt_connected": s.metrics.mqtt_connected.get() == 1,
        "fleet": s.cameras.fleet(),
        "outbox_pending": s.outbox.pending(),
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    s.metrics.outbox_depth.set(s.outbox.pending() as i64);
    if let Some(st) = &s.snapshots {
        s.metrics.snapshot_bytes.set(st.bytes() as i64);
    }
    s.metrics.outbox_bytes.set(s.outbox.bytes() as i64);
    // The outbox counts what its age limit removed; the counter follows it.
    let expired = s.outbox.expired_bytes();
    let counted = s.metrics.outbox_acked_expired_bytes.get();
    if expired > counted {
        s.metrics
            .outbox_acked_expired_bytes
            .inc_by(expired - counted);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

async fn status(State(s): State<HttpState>) -> impl IntoResponse {
    Json(status_json(&s))
}

/// Node stats, published on `<prefix>/stats` (docs/schema/vigia.stats.v1.schema.json).
pub fn stats_json(s: &HttpState, utc: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    let mut v = status_json(s);
    let cameras: Vec<serde_json::Value> = s
        .cameras
        .list()
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id,
                "state": c.state,
                "decoded_fps": c.decoded_fps,
                "analysed_fps": c.analysed_fps,
            })
        })
        .collect();
    v["schema"] = "vigia.stats/1".into();
    v["event_schema"] = vigia_core::SCHEMA.into();
    v["utc_time"] = utc
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .into();
    v["cameras"] = cameras.into();
    v
}

fn status_json(s: &HttpState) -> serde_json::Value {
    serde_json::json!({
        "site": s.site,
        "node": s.node,
        "version": env!("CARGO_PKG_VERSION"),
        "schema": vigia_core::SCHEMA,
        "topic_prefix": s.topic_prefix,
        "uptime_secs": s.boot.elapsed().as_secs(),
        "mqtt": { "broker": s.broker, "connected": s.metrics.mqtt_connected.get() == 1 },
        "outbox": {
            "pending": s.outbox.pending(),
            "bytes": s.outbox.bytes(),
            "max_bytes": s.outbox.max_bytes(),
            "full": s.metrics.outbox_full.get() == 1,
        },
    })
}

async fn snapshot(
    State(s): State<HttpState>,
    Path((camera, day, file)): Path<(String, String, String)>,
) -> axum::response::Response {
    let Some(path) = s
        .snapshots
        .as_ref()
        .and_then(|st| st.resolve(&camera, &day, &file))
    else {
        return (StatusCode::NOT_FOUND, "no such snapshot\n").into_response();
    };
    match tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
    {
        Ok(bytes) => ([(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "no such snapshot\n").into_response(),
    }
}

async fn delete_snapshot(
    State(s): State<HttpState>,
    Path((camera, day, file)): Path<(String, String, String)>,
) -> axum::response::Response {
    let Some(store) = s.snapshots.clone() else {
        return (StatusCode::NOT_FOUND, "no such snapshot\n").into_response();
    };
    let deleted = tokio::task::spawn_blocking(move || store.delete(&camera, &day, &file)).await;
    match deleted {
        Ok(Ok(Some(kind))) => {
            tracing::info!(kind = kind.as_str(), "snapshot deleted on request");
            s.metrics
                .snapshots_deleted
                .with_label_values(&[kind.as_str(), "request"])
                .inc();
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "no such snapshot\n").into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

async fn hotlists(State(s): State<HttpState>) -> impl IntoResponse {
    match &s.hotlists {
        Some(h) => Json(serde_json::json!({ "entries": h.len(), "files": h.status() })),
        None => Json(serde_json::json!({ "entries": 0, "files": [] })),
    }
}

async fn reload_hotlists(State(s): State<HttpState>) -> impl IntoResponse {
    let Some(h) = s.hotlists.clone() else {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "no hotlists configured" })),
        );
    };
    let h2 = h.clone();
    let changed = tokio::task::spawn_blocking(move || h2.reload_if_changed())
        .await
        .unwrap_or(false);
    s.metrics.hotlist_entries.set(h.len() as i64);
    (
        StatusCode::OK,
        Json(serde_json::json!({ "reloaded": changed, "entries": h.len(), "files": h.status() })),
    )
}

async fn reload_config(State(s): State<HttpState>) -> axum::response::Response {
    match s.reload.reload().await {
        Some(o) if o.applied => (StatusCode::OK, Json(o)).into_response(),
        Some(o) => (StatusCode::UNPROCESSABLE_ENTITY, Json(o)).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

async fn cameras(State(s): State<HttpState>) -> impl IntoResponse {
    Json(s.cameras.list())
}

/// Publishes node stats on `<prefix>/stats` every `every` (QoS 0, outside the outbox).
pub async fn publish_stats(
    state: HttpState,
    topic: String,
    every: std::time::Duration,
    clock: Arc<dyn vigia_core::Clock>,
    tx: tokio::sync::mpsc::Sender<vigia_publish::Ephemeral>,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let payload = stats_json(&state, clock.now_utc()).to_string().into_bytes();
        // Full channel: the publisher is offline and an older snapshot waits; keep it.
        let _ = tx.try_send(vigia_publish::Ephemeral {
            topic: topic.clone(),
            payload,
        });
    }
}

/// Serves the API on `listener` until `stop` is cancelled, every request through the
/// access guard (token, timeout).
pub async fn serve(
    listener: super::guard::GuardedListener,
    state: HttpState,
    access: super::guard::Access,
    stop: Shutdown,
) -> anyhow::Result<()> {
    let app = router(state)
        .merge(super::session::router(access.login()))
        .layer(axum::middleware::from_fn_with_state(
            access,
            super::guard::guard,
        ));
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await?;
    Ok(())
}
