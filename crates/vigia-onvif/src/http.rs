//! One SOAP POST over HTTP/1.1 (`hyper`'s connection-level client: a device call is a
//! handful of requests at start and on reconnects, so no pool is kept).

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::error::OnvifError;

/// Answers larger than this are refused (a GetProfiles answer is a few tens of KB).
const MAX_ANSWER: usize = 4 << 20;

/// An `http://host[:port]/path` URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if url.starts_with("https://") {
            return Err(
                "https device services are not supported (use the device's http address)".into(),
            );
        } else {
            return Err("not an http:// URL".into());
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let (host, port) = split_host_port(authority, 80)?;
        Ok(Self {
            host,
            port,
            path: path.to_string(),
        })
    }

    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.path)
    }
}

/// `host[:port]` or `[v6]:port`; `default` when no port is given.
pub(crate) fn split_host_port(authority: &str, default: u16) -> Result<(String, u16), String> {
    if authority.contains('@') {
        return Err("credentials belong in username / password_env, not in the address".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, rest) = v6.split_once(']').ok_or("unclosed [ in the host")?;
        (h, rest.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("missing host".into());
    }
    let port = match port {
        None => default,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("bad port {p:?}"))?,
    };
    Ok((host.to_string(), port))
}

/// POSTs a SOAP envelope; returns the HTTP status and the answer's text.
pub(crate) async fn post(
    url: &HttpUrl,
    action: &str,
    envelope: String,
    timeout: Duration,
) -> Result<(u16, String), OnvifError> {
    let shown = url.to_string();
    let timed_out = || OnvifError::Timeout {
        url: shown.clone(),
        secs: timeout.as_secs().max(1),
    };
    tokio::time::timeout(timeout, exchange(url, action, envelope))
        .await
        .map_err(|_| timed_out())?
        .map_err(|message| OnvifError::Connect {
            url: shown.clone(),
            message,
        })
}

async fn exchange(url: &HttpUrl, action: &str, envelope: String) -> Result<(u16, String), String> {
    let stream = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::post(&url.path)
        .header(hyper::header::HOST, url.authority())
        .header(
            hyper::header::CONTENT_TYPE,
            format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
        )
        .body(Full::new(Bytes::from(envelope)))
        .map_err(|e| e.to_string())?;
    let res = sender.send_request(req).await.map_err(|e| e.to_string());
    let out = match res {
        Ok(res) => {
            let status = res.status().as_u16();
            let body = Limited::new(res.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        }
        Err(e) => Err(e),
    };
    driver.abort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        let u = HttpUrl::parse("http://192.168.0.137:8080/onvif/services").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("192.168.0.137", 8080, "/onvif/services")
        );
        assert_eq!(u.to_string(), "http://192.168.0.137:8080/onvif/services");
        let u = HttpUrl::parse("http://cam.local").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u = HttpUrl::parse("http://[fe80::1]:81/x").unwrap();
        assert_eq!(
            (u.host.as_str(), u.authority()),
            ("fe80::1", "[fe80::1]:81".to_string())
        );
        assert!(
            HttpUrl::parse("https://cam/x")
                .unwrap_err()
                .contains("https")
        );
        assert!(HttpUrl::parse("http://:80/x").is_err());
        assert!(HttpUrl::parse("http://cam:0/x").is_err());
        assert!(
            split_host_port("admin:pw@cam", 80)
                .unwrap_err()
                .contains("credentials")
        );
    }
}
