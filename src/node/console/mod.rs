//! The web console, served by the node's HTTP server under `/console/` behind the same
//! access guard as the API (bearer token, or the session cookie `/console/login` gives for
//! that token): cameras with their live annotated frames, each camera's rules drawn and
//! editable, the live event feed, and health charts (docs/console.md).
//!
//! The pages are server-sent HTML, one small script and one stylesheet, all embedded in the
//! binary (no CDN, no build step, nothing fetched at run time). Data comes from the JSON
//! routes below and from the API (`/api/v1/cameras`, `/api/v1/status`, snapshots).
//!
//! | path | what |
//! |---|---|
//! | `GET /console/` | the console (one page; `#cameras`, `#camera/<id>`, `#events`, `#health`) |
//! | `GET /console/assets/{file}` | its script and stylesheet |
//! | `GET /console/login`, `POST /console/login`, `POST /console/logout` | the session (open routes) |
//! | `GET /console/api/preview/{camera}` | the latest analysed frame's tracks (`seq`, boxes as fractions); watching starts the copies |
//! | `GET /console/api/preview/{camera}/picture[?after=N]` | the latest analysed frame, JPEG ≤ 640 px wide, with its tracks in `x-vigia-boxes` (204: none newer) |
//! | `GET /console/api/rules/{camera}` | the camera's rules as the config file has them |
//! | `POST /console/api/rules/{camera}/check` | an edited zone or line: its TOML and the `check-config` verdict |
//! | `POST /console/api/rules/{camera}/save` | the same, written to the config file when it passes (backup kept), then reloaded live |
//! | `GET /console/api/events` | server-sent events: the last 200 events, then each new one |
//! | `GET /console/api/health` | samples of the last hour (outbox, broker link, model times, CPU, memory) |

pub mod assets;
pub mod feed;
pub mod health;
pub mod rules;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use vigia_analytics::Previews;
use vigia_core::{CameraId, Shutdown};

use super::reload::ReloadHandle;
use super::views::CameraViews;
use feed::EventFeed;
use health::HealthLog;

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    pub previews: Arc<Previews>,
    pub feed: Arc<EventFeed>,
    pub health: Arc<HealthLog>,
    pub cameras: Arc<CameraViews>,
    /// The config file (the rule editor reads it; it never writes it).
    pub config: PathBuf,
    /// The node stopping: event streams end.
    pub stopping: Shutdown,
    /// Reloads the config file after the rule editor saved it (set once the cameras run).
    pub reload: Option<ReloadHandle>,
}

impl ConsoleState {
    /// Health samples every 10 s; previews and the feed empty until used.
    pub fn new(cameras: Arc<CameraViews>, config: PathBuf, stopping: Shutdown) -> Self {
        Self {
            previews: Arc::default(),
            feed: Arc::default(),
            health: Arc::new(HealthLog::new(std::time::Duration::from_secs(10))),
            cameras,
            config,
            stopping,
            reload: None,
        }
    }

    /// Saved rule edits are reloaded through `reload`.
    pub fn with_reload(mut self, reload: ReloadHandle) -> Self {
        self.reload = Some(reload);
        self
    }
}

pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(index))
        .route("/console/assets/{file}", get(asset))
        .route("/console/api/preview/{camera}", get(preview))
        .route("/console/api/preview/{camera}/picture", get(picture))
        .route("/console/api/rules/{camera}", get(rules_of))
        .route("/console/api/rules/{camera}/check", post(check_rule))
        .route("/console/api/rules/{camera}/save", post(save_rule))
        .route("/console/api/events", get(events))
        .route("/console/api/health", get(health_samples))
        .with_state(state)
}

/// Data is never cached.
const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-store");

async fn index(headers: HeaderMap) -> Response {
    assets::INDEX.serve(&headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match file.as_str() {
        "console.js" => assets::SCRIPT.serve(&headers),
        "console.css" => assets::STYLE.serve(&headers),
        _ => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

/// A camera the node knows (the console never makes state for other names).
fn known(s: &ConsoleState, camera: &str) -> Option<CameraId> {
    let id = CameraId::new(camera).ok()?;
    s.cameras.counters(&id).map(|_| id)
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": what })),
    )
        .into_response()
}

async fn preview(State(s): State<ConsoleState>, Path(camera): Path<String>) -> Response {
    let Some(cam) = known(&s, &camera) else {
        return not_found("no such camera");
    };
    let body = match s.previews.want(&cam) {
        Some(p) => serde_json::json!({
            "camera": camera,
            "seq": p.seq,
            "captured_utc": vigia_core::event::format_utc(&p.captured_utc),
            "frame": { "width": p.frame_size.0, "height": p.frame_size.1 },
            "boxes": p.boxes,
        }),
        // Watching starts now: the first preview follows within a fraction of a second
        // when the camera streams.
        None => serde_json::json!({ "camera": camera, "seq": null, "boxes": [] }),
    };
    ([NO_STORE], Json(body)).into_response()
}

#[derive(Deserialize)]
struct PictureQuery {
    /// The sequence number the console already shows.
    after: Option<u64>,
}

/// The latest preview: the JPEG, its sequence number (`x-vigia-seq`) and its tracks
/// (`x-vigia-boxes`, JSON as in the preview route) together, so boxes never land on
/// another frame. 204 when no frame was analysed yet or none after `?after=N`.
async fn picture(
    State(s): State<ConsoleState>,
    Path(camera): Path<String>,
    Query(q): Query<PictureQuery>,
) -> Response {
    let Some(cam) = known(&s, &camera) else {
        return not_found("no such camera");
    };
    let Some(p) = s.previews.want(&cam).filter(|p| Some(p.seq) != q.after) else {
        return (StatusCode::NO_CONTENT, [NO_STORE]).into_response();
    };
    // Bounded: a header stays small whatever the scene.
    let boxes = serde_json::to_string(&p.boxes[..p.boxes.len().min(64)]).unwrap_or_default();
    let seq = p.seq;
    match tokio::task::spawn_blocking(move || p.picture.jpeg(80)).await {
        Ok(Ok(jpeg)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg".to_string()),
                (header::CACHE_CONTROL, "no-store".to_string()),
                (HeaderName::from_static("x-vigia-seq"), seq.to_string()),
                (HeaderName::from_static("x-vigia-boxes"), boxes),
            ],
            jpeg,
        )
            .into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the picture\n",
        )
            .into_response(),
    }
}

async fn rules_of(State(s): State<ConsoleState>, Path(camera): Path<String>) -> Response {
    let config = s.config.clone();
    let cam = camera.clone();
    match tokio::task::spawn_blocking(move || rules::camera_rules(&config, &cam)).await {
        Ok(Ok(rules)) => Json(serde_json::json!({
            "camera": camera,
            "file": s.config.display().to_string(),
            "rules": rules,
        }))
        .into_response(),
        Ok(Err(e)) => not_found(&e.to_string()),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

/// The edit in a request body, or why it is not one.
fn parse_edit(body: &[u8]) -> Result<rules::RuleEdit, String> {
    serde_json::from_slice(body)
        .map_err(|e| format!("the edit is not valid JSON of the expected shape: {e}"))
}

fn bad_request(msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": msg })),
    )
        .into_response()
}

fn refused(e: &anyhow::Error) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(serde_json::json!({ "error": e.to_string() })),
    )
        .into_response()
}

/// Parses the edit in `body` and runs `f` on it off the async threads.
async fn run_edit<T: Send + 'static>(
    s: &ConsoleState,
    camera: String,
    body: &[u8],
    f: fn(&std::path::Path, &str, &rules::RuleEdit) -> anyhow::Result<T>,
) -> Result<T, Box<Response>> {
    let edit = parse_edit(body).map_err(|msg| Box::new(bad_request(&msg)))?;
    let config = s.config.clone();
    match tokio::task::spawn_blocking(move || f(&config, &camera, &edit)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Box::new(refused(&e))),
        Err(_) => Err(Box::new(
            (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
        )),
    }
}

async fn check_rule(
    State(s): State<ConsoleState>,
    Path(camera): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    match run_edit(&s, camera, &body, rules::check_edit).await {
        Ok(outcome) => Json(outcome).into_response(),
        Err(r) => *r,
    }
}

/// Saves the edit when it passes, then reloads the file: `{ok, errors, toml, backup,
/// reload}` (`reload`: what the reload did, as `POST /api/v1/config/reload` says it).
async fn save_rule(
    State(s): State<ConsoleState>,
    Path(camera): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let saved = match run_edit(&s, camera, &body, rules::save_edit).await {
        Ok(saved) => saved,
        Err(r) => return *r,
    };
    if let Some(backup) = &saved.backup {
        tracing::info!(file = %s.config.display(), backup = %backup.display(), "rule edit saved from the console");
    }
    let reload = match (&saved.backup, &s.reload) {
        (Some(_), Some(r)) => r.reload().await,
        _ => None,
    };
    let mut body = serde_json::to_value(&saved).unwrap_or_default();
    body["reload"] = serde_json::to_value(reload).unwrap_or_default();
    Json(body).into_response()
}

async fn events(State(s): State<ConsoleState>) -> Response {
    s.feed.sse(s.stopping.clone()).into_response()
}

async fn health_samples(State(s): State<ConsoleState>) -> Response {
    Json(serde_json::json!({
        "every_secs": s.health.every().as_secs_f64(),
        "samples": s.health.samples(),
    }))
    .into_response()
}
