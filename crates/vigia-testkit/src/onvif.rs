//! An ONVIF camera's control plane for tests: device and media services over HTTP (SOAP
//! 1.2) and WS-Discovery over UDP, answering with responses recorded from real cameras
//! (`fixtures/onvif/`, sources and the few fields changed in its README), checking
//! WS-UsernameToken digests against the device's own clock as cameras do. The video
//! itself comes from a real RTSP server the test starts (its URI is what GetStreamUri
//! answers).
//!
//! The digest is checked here with its own code (`sha1` + `base64`), not vigia's.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::{StatusCode, Uri};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use sha1::{Digest, Sha1};

const SYSTEM_TIME: &str = include_str!("../fixtures/onvif/GetSystemDateAndTime.xml");
const CAPABILITIES: &str = include_str!("../fixtures/onvif/GetCapabilities.xml");
const INFORMATION: &str = include_str!("../fixtures/onvif/GetDeviceInformation.xml");
const PROFILES: &str = include_str!("../fixtures/onvif/GetProfiles.xml");
const STREAM_URI: &str = include_str!("../fixtures/onvif/GetStreamUri.xml");
const PROBE_MATCHES: &str = include_str!("../fixtures/onvif/Probe.xml");
/// The recorded device's clock at the time of GetSystemDateAndTime.xml.
const RECORDED_TIME: &str = "2024-07-09T19:49:06Z";
const RECORDED_URI: &str = "rtsp://192.168.68.111/h264main";
/// The one profile of GetProfiles.xml.
pub const PROFILE_TOKEN: &str = "main";

struct State {
    username: String,
    password: String,
    stream_uri: String,
    /// Calls per operation, and the path each was asked on.
    calls: BTreeMap<String, u32>,
    paths: BTreeMap<String, String>,
    refused: u32,
    nonces: HashSet<String>,
    /// The device clock: the recorded time when the responder started.
    started: Instant,
    boot_time: DateTime<Utc>,
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        self.boot_time + TimeDelta::from_std(self.started.elapsed()).unwrap_or_default()
    }
}

/// A running device. Stops when dropped.
pub struct OnvifDevice {
    state: Arc<Mutex<State>>,
    port: u16,
    discovery: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl OnvifDevice {
    /// Starts the services on free loopback ports; `stream_uri` is what GetStreamUri
    /// answers.
    pub async fn start(username: &str, password: &str, stream_uri: &str) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State {
            username: username.into(),
            password: password.into(),
            stream_uri: stream_uri.into(),
            calls: BTreeMap::new(),
            paths: BTreeMap::new(),
            refused: 0,
            nonces: HashSet::new(),
            started: Instant::now(),
            boot_time: DateTime::parse_from_rfc3339(RECORDED_TIME)
                .expect("recorded time")
                .with_timezone(&Utc),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let st = state.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, body: String| {
            let st = st.clone();
            async move { serve(&st, uri.path(), &body) }
        });
        let http = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let discovery = udp.local_addr()?;
        let service = format!("http://127.0.0.1:{port}/onvif/device_service");
        let probes = tokio::spawn(answer_probes(udp, service));
        Ok(Self {
            state,
            port,
            discovery,
            tasks: vec![http, probes],
        })
    }

    /// `onvif://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("onvif://127.0.0.1:{}", self.port)
    }

    /// Where WS-Discovery probes are answered (a directed probe's target).
    pub fn discovery_addr(&self) -> SocketAddr {
        self.discovery
    }

    /// Changes the stream URI, as a camera may after a reboot.
    pub fn set_stream_uri(&self, uri: &str) {
        self.lock().stream_uri = uri.to_string();
    }

    /// How many times `operation` was answered (refusals not counted).
    pub fn calls(&self, operation: &str) -> u32 {
        self.lock().calls.get(operation).copied().unwrap_or(0)
    }

    /// The HTTP path `operation` was last asked on.
    pub fn path_of(&self, operation: &str) -> Option<String> {
        self.lock().paths.get(operation).cloned()
    }

    /// Calls refused for bad or missing credentials.
    pub fn refused(&self) -> u32 {
        self.lock().refused
    }

    /// The device's clock now.
    pub fn clock(&self) -> DateTime<Utc> {
        self.lock().now()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for OnvifDevice {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

type Reply = (StatusCode, [(&'static str, &'static str); 1], String);

fn reply(status: StatusCode, text: String) -> Reply {
    (
        status,
        [("content-type", "application/soap+xml; charset=utf-8")],
        text,
    )
}

fn serve(state: &Mutex<State>, path: &str, body: &str) -> Reply {
    let Ok(doc) = roxmltree::Document::parse(body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            fault("Sender", "WellFormed", "not XML"),
        );
    };
    let envelope = doc.root_element();
    let Some(operation) = child(envelope, "Body")
        .and_then(|b| b.children().find(|c| c.is_element()))
        .map(|op| op.tag_name().name().to_string())
    else {
        return reply(
            StatusCode::BAD_REQUEST,
            fault("Sender", "WellFormed", "no Body"),
        );
    };
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    if operation != "GetSystemDateAndTime" && !authorized(&mut st, envelope) {
        st.refused += 1;
        return reply(
            StatusCode::BAD_REQUEST,
            fault("Sender", "NotAuthorized", "Sender not Authorized"),
        );
    }
    let answer = match operation.as_str() {
        "GetSystemDateAndTime" => system_time(st.now()),
        "GetCapabilities" => CAPABILITIES.to_string(),
        "GetDeviceInformation" => INFORMATION.to_string(),
        "GetProfiles" => PROFILES.to_string(),
        "GetStreamUri" => {
            let token = doc
                .descendants()
                .find(|n| n.is_element() && n.tag_name().name() == "ProfileToken")
                .and_then(|n| n.text())
                .unwrap_or_default();
            if token.trim() != PROFILE_TOKEN {
                return reply(
                    StatusCode::BAD_REQUEST,
                    fault(
                        "Sender",
                        "NoProfile",
                        "The requested profile does not exist",
                    ),
                );
            }
            STREAM_URI.replace(RECORDED_URI, &xml_escape(&st.stream_uri))
        }
        _ => {
            return reply(
                StatusCode::BAD_REQUEST,
                fault(
                    "Receiver",
                    "ActionNotSupported",
                    "Optional Action Not Implemented",
                ),
            );
        }
    };
    *st.calls.entry(operation.clone()).or_default() += 1;
    st.paths.insert(operation, path.to_string());
    reply(StatusCode::OK, answer)
}

/// The WS-UsernameToken check of ONVIF Core: user, digest, a fresh nonce, `Created`
/// within 5 s of the device's clock.
fn authorized(st: &mut State, envelope: roxmltree::Node<'_, '_>) -> bool {
    let Some(token) = envelope
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "UsernameToken")
    else {
        return false;
    };
    let field = |name: &str| {
        child(token, name)
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
    };
    let (Some(user), Some(digest), Some(nonce), Some(created)) = (
        field("Username"),
        field("Password"),
        field("Nonce"),
        field("Created"),
    ) else {
        return false;
    };
    let Ok(raw_nonce) = B64.decode(&nonce) else {
        return false;
    };
    let mut h = Sha1::new();
    h.update(&raw_nonce);
    h.update(created.as_bytes());
    h.update(st.password.as_bytes());
    let expected = B64.encode(h.finalize());
    let fresh = DateTime::parse_from_rfc3339(&created)
        .map(|c| (c.with_timezone(&Utc) - st.now()).num_seconds().abs() <= 5)
        .unwrap_or(false);
    user == st.username && digest == expected && fresh && st.nonces.insert(nonce)
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// The recorded answer with the device's running clock in its UTC fields.
fn system_time(now: DateTime<Utc>) -> String {
    let (head, rest) = SYSTEM_TIME
        .split_once("<tt:UTCDateTime>")
        .expect("fixture has UTCDateTime");
    let (_, tail) = rest
        .split_once("</tt:UTCDateTime>")
        .expect("fixture has UTCDateTime");
    format!(
        "{head}<tt:UTCDateTime>\n          <tt:Time>\n            <tt:Hour>{}</tt:Hour>\n            <tt:Minute>{}</tt:Minute>\n            <tt:Second>{}</tt:Second>\n          </tt:Time>\n          <tt:Date>\n            <tt:Year>{}</tt:Year>\n            <tt:Month>{}</tt:Month>\n            <tt:Day>{}</tt:Day>\n          </tt:Date>\n        </tt:UTCDateTime>{tail}",
        now.hour(),
        now.minute(),
        now.second(),
        now.year(),
        now.month(),
        now.day()
    )
}

/// A SOAP 1.2 fault with an ONVIF `ter:` subcode.
fn fault(code: &str, subcode: &str, reason: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault><env:Code><env:Value>env:{code}</env:Value><env:Subcode><env:Value>ter:{subcode}</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>"#
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

async fn answer_probes(socket: tokio::net::UdpSocket, service: String) {
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, from)) = socket.recv_from(&mut buf).await {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let Ok(doc) = roxmltree::Document::parse(&text) else {
            continue;
        };
        let is_probe = doc
            .descendants()
            .any(|n| n.is_element() && n.tag_name().name() == "Probe");
        let id = doc
            .descendants()
            .find(|n| n.is_element() && n.tag_name().name() == "MessageID")
            .and_then(|n| n.text())
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        if !is_probe || id.is_empty() {
            continue;
        }
        let answer = PROBE_MATCHES
            .replace(
                "<wsa:RelatesTo>urn:uuid:01234567-dead-beef-baad-abcdeffedcba</wsa:RelatesTo>",
                &format!("<wsa:RelatesTo>{}</wsa:RelatesTo>", xml_escape(&id)),
            )
            .replace("SERVICE_URI", &service);
        let _ = socket.send_to(answer.as_bytes(), from).await;
    }
}
