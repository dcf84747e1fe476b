//! What stands between the network and the node's HTTP API: a bearer token (every route
//! but `/healthz`, `/readyz`, the console's login and assets and, when
//! `telemetry.metrics_public`, `/metrics`) or a console session made with that token
//! ([`super::session`]), a request timeout, a limit on open connections, and optional TLS
//! (rustls with `ring`).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use vigia_telemetry::TelemetryConfig;

use super::session::{self, Login, Sessions, same};

/// Who may call the API.
#[derive(Clone)]
pub struct Access {
    /// The bearer token; `None`: the API is open (only sensible on 127.0.0.1).
    token: Option<Arc<str>>,
    metrics_public: bool,
    timeout: Duration,
    /// Console sessions made with the token.
    sessions: Arc<Sessions>,
    /// The API is served over TLS (session cookies are `Secure`).
    tls: bool,
}

impl Access {
    /// From `[telemetry]`; reads the token from its env variable or file now.
    pub fn from_config(t: &TelemetryConfig) -> Result<Self> {
        let token = vigia_core::secrets::read_secret(
            t.http_token_env.as_deref(),
            t.http_token_file.as_deref(),
        )
        .map_err(|e| {
            anyhow!(
                "telemetry.http_token: {}",
                e.to_string().replace("password", "http_token")
            )
        })?
        .filter(|s| !s.is_empty());
        if token.is_none() && !t.http_listen.ip().is_loopback() {
            tracing::warn!(listen = %t.http_listen, "the HTTP API listens beyond this machine without a token: set telemetry.http_token_env or http_token_file");
        }
        Ok(Self {
            token: token.map(Arc::from),
            metrics_public: t.metrics_public,
            timeout: Duration::from_secs(t.http_request_timeout_secs.max(1)),
            sessions: Arc::default(),
            tls: t.http_tls_cert_file.is_some(),
        })
    }

    /// What the console's login routes need.
    pub fn login(&self) -> Login {
        Login {
            token: self.token.clone(),
            sessions: self.sessions.clone(),
            secure: self.tls,
        }
    }

    /// Whether the API asks for a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    fn open_route(&self, path: &str) -> bool {
        matches!(
            path,
            "/healthz" | "/readyz" | "/console/login" | "/console/logout"
        ) || path.starts_with("/console/assets/")
            || (self.metrics_public && path == "/metrics")
    }

    /// A live console session: reads, and writes the console itself makes.
    fn session_allows(&self, req: &Request) -> bool {
        let Some(id) = session::cookie(req.headers()) else {
            return false;
        };
        let read = matches!(*req.method(), Method::GET | Method::HEAD);
        (read || req.headers().contains_key(CONSOLE_HEADER)) && self.sessions.valid(id)
    }

    fn allows(&self, req: &Request) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        if self.open_route(req.uri().path()) {
            return true;
        }
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| same(given.trim().as_bytes(), token.as_bytes()))
            || self.session_allows(req)
    }
}

/// The header the console's own writes carry (see [`super::session`]).
const CONSOLE_HEADER: &str = "x-vigia-console";

/// Middleware: the token check, then the request under the timeout.
pub async fn guard(State(access): State<Access>, req: Request, next: Next) -> Response {
    if !access.allows(&req) {
        let path = req.uri().path();
        if req.method() == Method::GET && (path == "/console" || path == "/console/") {
            return Redirect::to("/console/login").into_response();
        }
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required (Authorization: Bearer <telemetry.http_token>)\n",
        )
            .into_response();
    }
    match tokio::time::timeout(access.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response(),
    }
}

/// The TLS acceptor for `telemetry.http_tls_cert_file` / `http_tls_key_file`, if set.
pub fn tls(t: &TelemetryConfig) -> Result<Option<TlsAcceptor>> {
    let (Some(cert), Some(key)) = (&t.http_tls_cert_file, &t.http_tls_key_file) else {
        return Ok(None);
    };
    let certs = read_certs(cert)?;
    let key = read_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("telemetry.http_tls_key_file: the key does not match the certificate")?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("telemetry.http_tls_cert_file {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("telemetry.http_tls_cert_file {}", path.display()))?;
    if certs.is_empty() {
        return Err(anyhow!(
            "telemetry.http_tls_cert_file {}: no certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("telemetry.http_tls_key_file {}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .with_context(|| format!("telemetry.http_tls_key_file {}", path.display()))?
        .ok_or_else(|| {
            anyhow!(
                "telemetry.http_tls_key_file {}: no private key in it",
                path.display()
            )
        })
}

/// The API's listener: at most `max` connections open at once (more wait in the accept
/// backlog), each over TLS when configured.
pub struct GuardedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    tls: Option<TlsAcceptor>,
}

impl GuardedListener {
    pub fn new(inner: TcpListener, max: usize, tls: Option<TlsAcceptor>) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max.max(1))),
            tls,
        }
    }
}

/// How long a client has to finish the TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(5);

impl axum::serve::Listener for GuardedListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        loop {
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                std::future::pending::<()>().await;
                continue;
            };
            let (tcp, addr) = match self.inner.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let stream = match &self.tls {
                None => Stream::Plain(tcp),
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %addr, error = %e, "TLS handshake failed");
                            continue;
                        }
                        Err(_) => continue,
                    }
                }
            };
            return (
                Conn {
                    stream,
                    _permit: permit,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// One accepted connection; holds its place under the connection limit until dropped.
pub struct Conn {
    stream: Stream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, auth: Option<&str>) -> Request {
        let mut b = axum::http::Request::builder().uri(path);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    fn with_token() -> Access {
        Access {
            token: Some(Arc::from("s3cret-token")),
            metrics_public: false,
            timeout: Duration::from_secs(1),
            sessions: Arc::default(),
            tls: false,
        }
    }

    #[test]
    fn the_token_guards_every_route_but_health() {
        let a = with_token();
        assert!(a.allows(&req("/healthz", None)));
        assert!(a.allows(&req("/readyz", None)));
        assert!(!a.allows(&req("/metrics", None)));
        assert!(!a.allows(&req("/api/v1/cameras", None)));
        assert!(!a.allows(&req("/api/v1/cameras", Some("Bearer wrong"))));
        assert!(!a.allows(&req("/api/v1/cameras", Some("s3cret-token"))));
        assert!(a.allows(&req("/api/v1/cameras", Some("Bearer s3cret-token"))));
        let public = Access {
            metrics_public: true,
            ..a.clone()
        };
        assert!(public.allows(&req("/metrics", None)));
        let open = Access { token: None, ..a };
        assert!(open.allows(&req("/api/v1/hotlists/reload", None)));
    }

    #[test]
    fn a_console_session_reads_and_writes_only_with_the_console_header() {
        let a = with_token();
        let id = a.sessions.create();
        let with = |method: Method, path: &str, cookie: &str, console: bool| {
            let mut b = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .header(header::COOKIE, format!("vigia_session={cookie}"));
            if console {
                b = b.header(CONSOLE_HEADER, "1");
            }
            b.body(axum::body::Body::empty()).unwrap()
        };
        assert!(a.allows(&with(Method::GET, "/console/", &id, false)));
        assert!(a.allows(&with(Method::GET, "/api/v1/cameras", &id, false)));
        assert!(!a.allows(&with(Method::GET, "/api/v1/cameras", "forged", false)));
        // A write from a page of another site carries the cookie but not the header.
        assert!(!a.allows(&with(Method::POST, "/api/v1/config/reload", &id, false)));
        assert!(a.allows(&with(Method::POST, "/console/api/rules/x/check", &id, true)));
        // Login and assets are open; the console's pages and data are not.
        assert!(a.allows(&req("/console/login", None)));
        assert!(a.allows(&req("/console/assets/console.css", None)));
        assert!(!a.allows(&req("/console/", None)));
        assert!(!a.allows(&req("/console/api/events", None)));
    }
}
