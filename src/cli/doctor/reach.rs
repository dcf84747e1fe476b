//! The checks that reach out: the broker, etcd, the cameras.

use vigia_ingest::Source;

use super::{Check, REACH_TIMEOUT, Status, check};
use crate::config::Config;

/// A fleet node's etcd: reachable, with a leader, and what the fleet holds.
pub(super) async fn etcd(cfg: &Config) -> Check {
    let Some(f) = &cfg.fleet else {
        return check(
            "etcd",
            Status::Skip,
            "not configured: a standalone node with its own camera list",
        );
    };
    let prefix = f.prefix_for(&cfg.site);
    let what = format!("{} ({prefix})", f.etcd.join(", "));
    let look = async {
        let mut store =
            vigia_fleet::FleetStore::connect(&f.etcd, &prefix, &cfg.node, f.lease_ttl_secs).await?;
        let leader = store.cluster_has_leader().await;
        let snap = store.snapshot().await?;
        Ok::<_, vigia_fleet::FleetError>((leader, snap))
    };
    match tokio::time::timeout(REACH_TIMEOUT, look).await {
        Ok(Ok((Some(true), s))) => check(
            "etcd",
            Status::Ok,
            format!(
                "{what}: {} node(s) live, {} camera(s) in the fleet, {} held",
                s.nodes.len(),
                s.cameras.len(),
                s.owners.len()
            ),
        ),
        Ok(Ok((_, _))) => check(
            "etcd",
            Status::Fail,
            format!("{what}: no leader (quorum lost)"),
        ),
        Ok(Err(e)) => check("etcd", Status::Fail, format!("{what}: {e}")),
        Err(_) => check(
            "etcd",
            Status::Fail,
            format!("{what}: no answer within {} s", REACH_TIMEOUT.as_secs()),
        ),
    }
}

pub(super) async fn broker(cfg: &Config) -> Check {
    let link = match vigia_publish::BrokerLink::from_config(&cfg.mqtt) {
        Ok(Some(l)) => l,
        Ok(None) => {
            // The embedded broker must be able to listen there when the node starts.
            let at = cfg.mqtt.embedded_listen;
            return match std::net::TcpListener::bind(at) {
                Ok(_) => check(
                    "mqtt",
                    Status::Ok,
                    format!("embedded broker on {at} (no [mqtt] url): the port is free"),
                ),
                Err(e) => check(
                    "mqtt",
                    Status::Warn,
                    format!(
                        "embedded broker on {at} (no [mqtt] url): cannot listen there ({e}); another broker or a running vigia holds it"
                    ),
                ),
            };
        }
        Err(e) => return check("mqtt", Status::Fail, e.to_string()),
    };
    let what = format!(
        "{} ({}{})",
        link.address(),
        if link.tls.is_some() {
            "TLS"
        } else {
            "plain TCP"
        },
        link.username
            .as_deref()
            .map(|u| format!(", user {u}"))
            .unwrap_or_default()
    );
    let opts = link.options(&format!("vigia-doctor-{}", std::process::id()));
    let (client, mut events) = rumqttc::AsyncClient::new(opts, 10);
    let answer = tokio::time::timeout(REACH_TIMEOUT, async {
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await;
    let _ = client.try_disconnect();
    match answer {
        Ok(Ok(())) => check("mqtt", Status::Ok, format!("{what}: connected")),
        Ok(Err(e)) => check("mqtt", Status::Fail, format!("{what}: {e}")),
        Err(_) => check(
            "mqtt",
            Status::Fail,
            format!("{what}: no answer within {} s", REACH_TIMEOUT.as_secs()),
        ),
    }
}

pub(super) async fn camera(cam: &vigia_ingest::CameraConfig) -> Check {
    let name = format!("camera {}", cam.id);
    let shown = vigia_ingest::source::redact_url(&cam.url);
    let result = match cam.source() {
        Err(e) => Err(e.to_string()),
        Ok(Source::Test { .. }) => Ok("test pattern".to_string()),
        Ok(Source::File { path }) if path.is_file() => Ok(format!("file {}", path.display())),
        Ok(Source::File { path }) => Err(format!("file {} does not exist", path.display())),
        Ok(Source::Rtsp { url, .. }) => rtsp_port(&url).await,
        Ok(Source::Onvif { .. }) => {
            match tokio::time::timeout(REACH_TIMEOUT * 4, vigia_ingest::onvif::resolve_source(cam))
                .await
            {
                Ok(Ok(Source::Rtsp { url, .. })) => rtsp_port(&url).await.map(|s| {
                    format!(
                        "ONVIF stream {}; {s}",
                        vigia_ingest::source::redact_url(&url)
                    )
                }),
                Ok(Ok(_)) => Err("ONVIF device gave no RTSP stream".into()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("ONVIF device did not answer in time".into()),
            }
        }
    };
    match result {
        Ok(s) => check(&name, Status::Ok, format!("{shown}: {s}")),
        Err(e) => check(&name, Status::Fail, format!("{shown}: {e}")),
    }
}

/// Whether an RTSP URL's host:port accepts a TCP connection (the stream itself is the
/// node's business; this tells a wrong address or a firewall from a camera fault).
async fn rtsp_port(url: &str) -> Result<String, String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let default = if url.starts_with("rtsps://") {
        322
    } else {
        554
    };
    let target = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{default}")
    };
    match tokio::time::timeout(REACH_TIMEOUT, tokio::net::TcpStream::connect(&target)).await {
        Ok(Ok(_)) => Ok(format!("{target} accepts connections")),
        Ok(Err(e)) => Err(format!("{target}: {e}")),
        Err(_) => Err(format!(
            "{target}: no answer within {} s",
            REACH_TIMEOUT.as_secs()
        )),
    }
}
