//! Console sessions: a browser cannot send the API's bearer token with a page load, an
//! `<img>` or an event stream, so `/console/login` takes the token once and answers with a
//! session cookie (`vigia_session`: random, `HttpOnly`, `SameSite=Strict`, `Secure` under
//! TLS, 12 hours) that the access guard accepts in the token's place — for reads, and for
//! writes only with the console's `x-vigia-console` header, which another site's page
//! cannot send without a CORS preflight the node never grants (no cross-site request
//! forgery). The token itself is never stored in the browser.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::console::assets;

/// The session cookie's name.
pub const COOKIE: &str = "vigia_session";
/// How long a session lasts.
const TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the oldest goes first).
const MAX_SESSIONS: usize = 1024;

/// The live sessions: id → expiry.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session id (256 random bits, hex).
    pub fn create(&self) -> String {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut live = self.live();
        live.retain(|_, until| *until > now);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone())
        {
            live.remove(&oldest);
        }
        live.insert(id.clone(), now + TTL);
        id
    }

    /// Whether `id` is a live session.
    pub fn valid(&self, id: &str) -> bool {
        let live = self.live();
        // Looked up by hash: timing tells nothing about other sessions' ids.
        live.get(id).is_some_and(|until| *until > Instant::now())
    }

    pub fn end(&self, id: &str) {
        self.live().remove(id);
    }
}

/// The session id in the request's cookies, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// Compares without leaking where the first difference is.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the login routes need.
#[derive(Clone)]
pub struct Login {
    /// The API token (`None`: the API is open and so is the console).
    pub token: Option<Arc<str>>,
    pub sessions: Arc<Sessions>,
    /// Cookies get `Secure` (the API is served over TLS).
    pub secure: bool,
}

pub fn router(login: Login) -> Router {
    Router::new()
        .route("/console/login", get(login_page).post(log_in))
        .route("/console/logout", post(log_out))
        .with_state(login)
}

fn page(status: StatusCode, message: &str) -> Response {
    let body = assets::LOGIN.replace("{{message}}", message);
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn login_page(State(l): State<Login>) -> Response {
    if l.token.is_none() {
        return Redirect::to("/console/").into_response();
    }
    page(StatusCode::OK, "")
}

#[derive(Deserialize)]
struct Credentials {
    token: String,
}

async fn log_in(State(l): State<Login>, Form(c): Form<Credentials>) -> Response {
    let Some(token) = &l.token else {
        return Redirect::to("/console/").into_response();
    };
    if !same(c.token.trim().as_bytes(), token.as_bytes()) {
        // Slows guessing; tokens are long enough that this is a courtesy.
        tokio::time::sleep(Duration::from_millis(500)).await;
        tracing::warn!("console login refused: wrong token");
        return page(
            StatusCode::UNAUTHORIZED,
            "That token is not this node's API token.",
        );
    }
    let id = l.sessions.create();
    let secure = if l.secure { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        TTL.as_secs()
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/console/".to_string()),
        ],
    )
        .into_response()
}

async fn log_out(State(l): State<Login>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers) {
        l.sessions.end(id);
    }
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
            ),
            (header::LOCATION, "/console/login".to_string()),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_and_end() {
        let s = Sessions::default();
        let (a, b) = (s.create(), s.create());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(s.valid(&a) && s.valid(&b));
        assert!(!s.valid("nope"));
        s.end(&a);
        assert!(!s.valid(&a) && s.valid(&b));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "theme=dark; vigia_session=abc".parse().unwrap(),
        );
        assert_eq!(cookie(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1".parse().unwrap());
        h.append(header::COOKIE, "vigia_session=xyz; b=2".parse().unwrap());
        assert_eq!(cookie(&h), Some("xyz"));
        assert_eq!(cookie(&HeaderMap::new()), None);
    }
}
