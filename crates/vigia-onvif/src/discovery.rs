//! WS-Discovery (the 2005/04 version ONVIF Core §7 uses): a Probe for
//! `dn:NetworkVideoTransmitter` sent to the multicast group (or to given addresses: a
//! directed probe, for networks that do not carry multicast between vigia and the
//! cameras), and the ProbeMatches that come back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::net::UdpSocket;

use crate::xml;

/// The WS-Discovery multicast group and port.
pub const MULTICAST: &str = "239.255.255.250:3702";

/// A device that answered a probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discovered {
    /// The device's stable identity (`urn:uuid:...`).
    pub endpoint: String,
    pub types: Vec<String>,
    pub scopes: Vec<String>,
    /// Device service addresses.
    pub xaddrs: Vec<String>,
    /// Where the answer came from.
    pub from: String,
}

impl Discovered {
    /// The value of the scope `onvif://www.onvif.org/<kind>/<value>` (percent-decoded).
    pub fn scope(&self, kind: &str) -> Option<String> {
        let prefix = format!("onvif://www.onvif.org/{kind}/");
        self.scopes
            .iter()
            .find_map(|s| s.strip_prefix(&prefix))
            .filter(|v| !v.is_empty())
            .map(vigia_core::url::percent_decode)
    }
}

/// A Probe message with the given `urn:uuid:` message id.
pub fn probe_message(message_id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header><a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>{message_id}</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>"#
    )
}

/// The matches in a ProbeMatches message. `relates_to`: when given, answers to other
/// probes are ignored (an empty list).
pub fn parse_probe_matches(
    text: &str,
    relates_to: Option<&str>,
    from: SocketAddr,
) -> Result<Vec<Discovered>, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if let (Some(want), Some(header)) = (relates_to, xml::child(root, "Header"))
        && let Some(got) = xml::child_text(header, "RelatesTo")
        && got != want
    {
        return Ok(Vec::new());
    }
    let body = xml::child(root, "Body").ok_or("no SOAP Body")?;
    let Some(matches) = xml::child(body, "ProbeMatches") else {
        return Ok(Vec::new());
    };
    let split = |n: roxmltree::Node<'_, '_>, name: &str| -> Vec<String> {
        xml::child_text(n, name)
            .map(|t| t.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    Ok(xml::children(matches, "ProbeMatch")
        .filter_map(|m| {
            let endpoint =
                xml::child(m, "EndpointReference").and_then(|e| xml::child_text(e, "Address"))?;
            Some(Discovered {
                endpoint,
                types: split(m, "Types"),
                scopes: split(m, "Scopes"),
                xaddrs: split(m, "XAddrs"),
                from: from.to_string(),
            })
        })
        .collect())
}

/// Sends a probe to each target (twice, as UDP may drop one) and collects the answers
/// that arrive within `wait`, one per device (by endpoint).
pub async fn probe(targets: &[SocketAddr], wait: Duration) -> std::io::Result<Vec<Discovered>> {
    let socket = UdpSocket::bind("0.0.0.0:0").await?;
    let id = format!("urn:uuid:{}", uuid::Uuid::now_v7());
    let message = probe_message(&id);
    for round in 0..2 {
        for t in targets {
            if let Err(e) = socket.send_to(message.as_bytes(), t).await
                && round == 0
            {
                tracing::warn!(target = %t, error = %e, "WS-Discovery probe not sent");
            }
        }
        if round == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut found: BTreeMap<String, Discovered> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = vec![0u8; 65_536];
    while let Ok(got) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
        let (n, from) = got?;
        let text = String::from_utf8_lossy(&buf[..n]);
        match parse_probe_matches(&text, Some(&id), from) {
            Ok(ms) => {
                for m in ms {
                    found.entry(m.endpoint.clone()).or_insert(m);
                }
            }
            Err(e) => tracing::debug!(%from, error = %e, "not a ProbeMatches answer"),
        }
    }
    Ok(found.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_is_well_formed_and_asks_for_video_transmitters() {
        let m = probe_message("urn:uuid:1");
        let doc = roxmltree::Document::parse(&m).unwrap();
        let types = xml::find(doc.root_element(), "Types").unwrap();
        assert_eq!(xml::text(types).unwrap(), "dn:NetworkVideoTransmitter");
        assert_eq!(
            types.lookup_namespace_uri(Some("dn")),
            Some("http://www.onvif.org/ver10/network/wsdl")
        );
    }

    #[test]
    fn matches_are_read_and_scopes_decoded() {
        let text = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><e:Header><w:RelatesTo>urn:uuid:1</w:RelatesTo></e:Header><e:Body><d:ProbeMatches><d:ProbeMatch><w:EndpointReference><w:Address>urn:uuid:abc</w:Address></w:EndpointReference><d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types><d:Scopes>onvif://www.onvif.org/name/Calle%2010 onvif://www.onvif.org/hardware/IPC</d:Scopes><d:XAddrs>http://10.0.0.5/onvif/device_service http://[fe80::1]/onvif/device_service</d:XAddrs></d:ProbeMatch></d:ProbeMatches></e:Body></e:Envelope>"#;
        let from: SocketAddr = "10.0.0.5:3702".parse().unwrap();
        let ms = parse_probe_matches(text, Some("urn:uuid:1"), from).unwrap();
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].endpoint, "urn:uuid:abc");
        assert_eq!(ms[0].xaddrs.len(), 2);
        assert_eq!(ms[0].scope("name").as_deref(), Some("Calle 10"));
        assert_eq!(ms[0].scope("hardware").as_deref(), Some("IPC"));
        assert_eq!(ms[0].scope("location"), None);
        // An answer to someone else's probe is not ours.
        assert!(
            parse_probe_matches(text, Some("urn:uuid:2"), from)
                .unwrap()
                .is_empty()
        );
        assert!(parse_probe_matches("garbage", None, from).is_err());
    }
}
