//! MQTT over TLS with authentication against a real mosquitto: certificates made by the
//! test (a private CA, a broker certificate for 127.0.0.1, a client certificate), a TLS
//! listener that requires a client certificate and a user name + password.

use std::sync::Arc;
use std::time::Duration;

use vigia_core::Shutdown;
use vigia_outbox::{FsyncPolicy, Outbox, OutboxConfig};
use vigia_publish::{BrokerLink, OutboxMessage, Publisher, PublisherSettings, TlsFiles};
use vigia_telemetry::Metrics;
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::mqtt::Subscriber;
use vigia_testkit::pki::Pki;

const PREFIX: &str = "sies/test/tls";
const USER: &str = "edge-01";
const PASSWORD: &str = "correct horse battery staple";

fn link(broker: &Mosquitto, tls: &TlsFiles, user: Option<(&str, &str)>) -> BrokerLink {
    BrokerLink {
        host: "127.0.0.1".into(),
        port: broker.port(),
        username: user.map(|u| u.0.to_string()),
        password: user.map(|u| u.1.to_string()),
        tls: Some(tls.client_config().unwrap()),
    }
}

fn good_tls(pki: &Pki) -> TlsFiles {
    TlsFiles {
        ca_file: Some(pki.path("ca.pem")),
        client_auth: Some((pki.path("client.pem"), pki.path("client.key"))),
    }
}

/// Publishes `n` records through `broker` for up to `within`; returns (outbox left pending,
/// connection errors seen).
async fn publish(broker: BrokerLink, n: usize, within: Duration) -> (usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = OutboxConfig {
        fsync: FsyncPolicy::Never,
        ..OutboxConfig::default()
    };
    let (ob, _) = Outbox::open(dir.path(), &cfg).unwrap();
    let ob = Arc::new(ob);
    for i in 0..n {
        let msg = OutboxMessage {
            topic: format!("{PREFIX}/cameras/c1/objects"),
            retain: false,
            kind: "object".into(),
            created_ms: 0,
            frame_ms: None,
            payload: format!("tls-{i}").into_bytes(),
        };
        ob.append(&msg.encode()).unwrap();
    }
    let metrics = Arc::new(Metrics::new());
    let settings = PublisherSettings {
        broker,
        client_id: format!("vigia-tls-{}", vigia_testkit::free_port().unwrap()),
        keep_alive: Duration::from_secs(5),
        inflight_window: 8,
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        available_topic: format!("{PREFIX}/available"),
        drain_timeout: Duration::from_secs(2),
    };
    let drain = Shutdown::new();
    let task = tokio::spawn(
        Publisher::new(settings, ob.clone(), metrics.clone(), None).run(drain.clone()),
    );
    let deadline = tokio::time::Instant::now() + within;
    while ob.pending() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drain.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    (ob.pending(), metrics.mqtt_connection_errors.get())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificate_and_password_delivers_and_bad_credentials_are_refused() {
    let pki = Pki::generate();
    let broker = Mosquitto::start_secure(pki.secure_broker(&[(USER, PASSWORD)])).unwrap();
    assert!(broker.url().starts_with("mqtts://"));

    // A subscriber over TLS with its own credentials.
    let sub_link = link(&broker, &good_tls(&pki), Some((USER, PASSWORD)));
    let mut sub = Subscriber::connect_with(
        sub_link.options(&Subscriber::client_id()),
        &format!("{PREFIX}/cameras/#"),
    )
    .await;

    // Everything right: all delivered over TLS.
    let (left, _) = publish(
        link(&broker, &good_tls(&pki), Some((USER, PASSWORD))),
        20,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(left, 0, "all acknowledged; broker log:\n{}", broker.log());
    let mut got = Vec::new();
    while got.len() < 20 {
        let m = tokio::time::timeout(Duration::from_secs(10), sub.rx.recv())
            .await
            .expect("messages over TLS")
            .unwrap();
        got.push(String::from_utf8(m.payload).unwrap());
    }
    assert_eq!(got, (0..20).map(|i| format!("tls-{i}")).collect::<Vec<_>>());

    // Wrong password, no client certificate, a certificate from another CA, a broker
    // certificate vigia does not trust: refused, nothing acknowledged, all kept.
    let wait = Duration::from_millis(1500);
    let cases = [
        (
            "wrong password",
            link(&broker, &good_tls(&pki), Some((USER, "wrong"))),
        ),
        ("no password", link(&broker, &good_tls(&pki), None)),
        (
            "no client certificate",
            link(
                &broker,
                &TlsFiles {
                    ca_file: Some(pki.path("ca.pem")),
                    client_auth: None,
                },
                Some((USER, PASSWORD)),
            ),
        ),
        (
            "client certificate from another CA",
            link(
                &broker,
                &TlsFiles {
                    ca_file: Some(pki.path("ca.pem")),
                    client_auth: Some((pki.path("stranger.pem"), pki.path("stranger.key"))),
                },
                Some((USER, PASSWORD)),
            ),
        ),
        (
            "untrusted broker certificate",
            link(
                &broker,
                &TlsFiles {
                    ca_file: Some(pki.path("other-ca.pem")),
                    client_auth: Some((pki.path("client.pem"), pki.path("client.key"))),
                },
                Some((USER, PASSWORD)),
            ),
        ),
    ];
    for (what, l) in cases {
        let (left, errors) = publish(l, 3, wait).await;
        assert_eq!(left, 3, "{what}: nothing may be acknowledged");
        assert!(errors > 0, "{what}: the connection must fail");
    }
    // And nothing from those attempts reached the subscriber.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sub.rx.recv())
            .await
            .is_err()
    );
}
