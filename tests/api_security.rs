//! The node's HTTP API behind its guard, with the real node: a bearer token on every route
//! but health, TLS with a certificate from a private CA, and the connection limit.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use vigia::{Config, RunOptions};
use vigia_testkit::free_port;
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::pki::Pki;

const TOKEN: &str = "test-token-9f2c";

fn connector(pki: &Pki) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(pki.path("ca.pem")).unwrap();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn open(port: u16, tls: &TlsConnector) -> Tls {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tls.connect(name, tcp).await.unwrap()
}

/// `GET path` over `s`; returns the status code.
async fn get(mut s: Tls, path: &str, token: Option<&str>) -> u16 {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    std::str::from_utf8(&buf[9..12]).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_wants_its_token_over_tls_and_limits_connections() {
    let pki = Pki::generate();
    let broker = Mosquitto::start().unwrap();
    let data = tempfile::tempdir().unwrap();
    let token_file = data.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let port = free_port().unwrap();
    let telemetry = format!(
        "http_token_file = \"{}\"\nhttp_tls_cert_file = \"{}\"\nhttp_tls_key_file = \"{}\"\nhttp_max_connections = 2\n",
        token_file.display(),
        pki.path("server.pem").display(),
        pki.path("server.key").display()
    );
    let text = format!(
        "{}\n[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\n",
        common::node_config_head("api", data.path(), port, &telemetry, ""),
        broker.port()
    );
    let cfg = Config::parse(&text, Path::new("/"), Path::new("api.toml")).expect("valid config");
    let app = vigia::start(cfg, RunOptions::default()).await.unwrap();
    let tls = connector(&pki);

    assert_eq!(get(open(port, &tls).await, "/healthz", None).await, 200);
    assert_eq!(get(open(port, &tls).await, "/readyz", None).await, 200);
    assert_eq!(
        get(open(port, &tls).await, "/api/v1/status", None).await,
        401
    );
    assert_eq!(get(open(port, &tls).await, "/metrics", None).await, 401);
    assert_eq!(
        get(open(port, &tls).await, "/api/v1/status", Some("wrong")).await,
        401
    );
    assert_eq!(
        get(open(port, &tls).await, "/api/v1/status", Some(TOKEN)).await,
        200
    );
    assert_eq!(
        get(open(port, &tls).await, "/metrics", Some(TOKEN)).await,
        200
    );
    // Plain HTTP to the TLS port gets nothing.
    assert!(
        vigia_testkit::http::get(port, "/healthz").await.is_err(),
        "plain HTTP is not served"
    );

    // Two idle connections take both places; a third waits until one closes.
    let a = open(port, &tls).await;
    let b = open(port, &tls).await;
    let third = tokio::spawn({
        let tls = tls.clone();
        async move { get(open(port, &tls).await, "/healthz", None).await }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!third.is_finished(), "a third connection is served at once");
    drop(a);
    let code = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("served once a place is free")
        .unwrap();
    assert_eq!(code, 200);
    drop(b);
    app.stop().await.unwrap();
}

#[test]
fn check_config_names_a_missing_token_setting_pair() {
    let text = "[telemetry]\nhttp_token_env = \"X\"\nhttp_token_file = \"/t\"\nhttp_tls_cert_file = \"/c\"\n";
    let root = vigia_testkit::paths::project_root();
    let full = format!(
        "{text}[inference.detector]\nmanifest = \"{}\"\n",
        root.join("models/yolox_nano_fit.toml").display()
    );
    let errs = Config::parse(&full, Path::new("/"), Path::new("x.toml")).unwrap_err();
    let paths: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert!(paths.contains(&"telemetry.http_token_env"), "{errs:?}");
    assert!(paths.contains(&"telemetry.http_tls_cert_file"), "{errs:?}");
}
