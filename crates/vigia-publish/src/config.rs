//! The `[mqtt]` config section.

use std::net::SocketAddr;
use std::path::PathBuf;
use vigia_core::FieldError;

use serde::Deserialize;

use crate::error::PublishError;

/// `[mqtt]`: the broker vigia publishes to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Broker URL: `mqtt://host[:port]` (port 1883 by default) or, over TLS,
    /// `mqtts://host[:port]` (port 8883 by default; the broker's certificate is always
    /// verified). When absent, vigia starts an embedded broker on `embedded_listen` and
    /// publishes there (demo, single node).
    pub url: Option<String>,
    /// MQTT client id; keep it stable per node so the broker keeps the session.
    /// Default `vigia-<site>-<node>`.
    pub client_id: Option<String>,
    /// Topic prefix. Default `sies/<site>/<node>`.
    pub topic_prefix: Option<String>,
    /// User name for the broker.
    pub username: Option<String>,
    /// Environment variable holding the broker password.
    pub password_env: Option<String>,
    /// File holding the broker password (first line).
    pub password_file: Option<PathBuf>,
    /// `mqtts://` only: PEM file with the CA certificate(s) that signed the broker's
    /// certificate. Default: the system trust store.
    pub ca_file: Option<PathBuf>,
    /// `mqtts://` only: PEM client certificate (chain) for brokers that require one.
    pub client_cert_file: Option<PathBuf>,
    /// `mqtts://` only: the client certificate's private key (PEM: PKCS#8, RSA or EC).
    pub client_key_file: Option<PathBuf>,
    /// MQTT keep-alive. Default 30 s.
    pub keep_alive_secs: u64,
    /// Publishes awaiting their PUBACK at once. Default 32.
    pub inflight_window: u16,
    /// First reconnect delay; doubles per failure up to `reconnect_max_backoff_secs`.
    /// Default 500 ms.
    pub reconnect_min_backoff_ms: u64,
    /// Longest reconnect delay. Default 30 s.
    pub reconnect_max_backoff_secs: u64,
    /// Where the embedded broker listens when `url` is absent. Default `127.0.0.1:1883`.
    pub embedded_listen: SocketAddr,
    /// On shutdown, how long to wait for events still in flight to be acknowledged.
    /// Whatever is left stays in the outbox for the next start. Default 5 s.
    pub drain_timeout_secs: u64,
    /// Also publish plate reads, tracked objects and incidents on ONVIF's analytics topics:
    /// `<onvif_topic_prefix>/onvif-ej/<ONVIF topic>/&<camera>/<rule>` (see [`crate::onvif`]).
    /// Default off.
    pub onvif_mirror: bool,
    /// The ONVIF mirror's topic prefix (ONVIF's event broker `TopicPrefix`). Default: the
    /// topic prefix.
    pub onvif_topic_prefix: Option<String>,
    /// Also publish the pictures of `lpr` and `incident` events as JPEG bytes on
    /// `<prefix>/cameras/<camera>/snapshots/<event id>/<scene|plate>`, through the outbox,
    /// for centers that cannot reach the node's HTTP API. Default off (URLs only).
    pub snapshot_topic: bool,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: None,
            client_id: None,
            topic_prefix: None,
            username: None,
            password_env: None,
            password_file: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            keep_alive_secs: 30,
            inflight_window: 32,
            reconnect_min_backoff_ms: 500,
            reconnect_max_backoff_secs: 30,
            embedded_listen: SocketAddr::from(([127, 0, 0, 1], 1883)),
            drain_timeout_secs: 5,
            onvif_mirror: false,
            onvif_topic_prefix: None,
            snapshot_topic: false,
        }
    }
}

/// A parsed broker URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    /// `mqtts://`: TLS.
    pub tls: bool,
}

impl BrokerUrl {
    /// Parses `mqtt://host[:port]` or `mqtts://host[:port]` (IPv6 hosts in brackets).
    pub fn parse(url: &str) -> Result<Self, PublishError> {
        let err = |message: &str| PublishError::Url {
            url: url.to_string(),
            message: message.to_string(),
        };
        let (rest, tls) = if let Some(r) = url
            .strip_prefix("mqtts://")
            .or_else(|| url.strip_prefix("ssl://"))
        {
            (r, true)
        } else if let Some(r) = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
        {
            (r, false)
        } else {
            return Err(err("use mqtt://host[:port] or mqtts://host[:port]"));
        };
        let default_port = if tls { 8883 } else { 1883 };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('@') {
            return Err(err(
                "no path or user info in the URL; set mqtt.username / mqtt.password_env",
            ));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| err("unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| err("bad port"))?,
                None if after.is_empty() => default_port,
                None => return Err(err("bad port")),
            };
            (h.to_string(), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| err("bad port"))?),
                None => (rest.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(err("missing host"));
        }
        if port == 0 {
            return Err(err("port 0"));
        }
        Ok(Self { host, port, tls })
    }
}

impl MqttConfig {
    /// Checks the values; returns `(field, message)` pairs.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let tls = match self.url.as_deref().map(BrokerUrl::parse) {
            Some(Ok(u)) => u.tls,
            Some(Err(e)) => {
                errs.push(FieldError::new("url", e.to_string()));
                true
            }
            None => false,
        };
        if !tls {
            for (field, set) in [
                ("ca_file", self.ca_file.is_some()),
                ("client_cert_file", self.client_cert_file.is_some()),
                ("client_key_file", self.client_key_file.is_some()),
            ] {
                if set {
                    errs.push(FieldError::new(
                        field,
                        "needs a TLS broker: url = \"mqtts://host[:port]\"".to_string(),
                    ));
                }
            }
        }
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            errs.push(FieldError::new(
                "client_cert_file",
                "set client_cert_file and client_key_file together".to_string(),
            ));
        }
        for (field, prefix) in [
            ("topic_prefix", &self.topic_prefix),
            ("onvif_topic_prefix", &self.onvif_topic_prefix),
        ] {
            if let Some(p) = prefix
                && let Err(e) = crate::topics::Topics::new(p)
            {
                errs.push(FieldError::new(field, e.to_string()));
            }
        }
        if let Some(id) = &self.client_id
            && (id.is_empty() || id.len() > 128)
        {
            errs.push(FieldError::new(
                "client_id",
                "must be 1 to 128 characters".to_string(),
            ));
        }
        if self.inflight_window == 0 || self.inflight_window > 1000 {
            errs.push(FieldError::new(
                "inflight_window",
                format!("must be 1..=1000, got {}", self.inflight_window),
            ));
        }
        if self.keep_alive_secs < 5 {
            errs.push(FieldError::new(
                "keep_alive_secs",
                "must be at least 5".to_string(),
            ));
        }
        if self.reconnect_min_backoff_ms == 0 {
            errs.push(FieldError::new(
                "reconnect_min_backoff_ms",
                "must be at least 1".to_string(),
            ));
        }
        if self.password_env.is_some() && self.password_file.is_some() {
            errs.push(FieldError::new(
                "password_env",
                "set password_env or password_file, not both".to_string(),
            ));
        }
        errs
    }

    /// The TLS files, for an `mqtts://` broker.
    pub fn tls_files(&self) -> crate::tls::TlsFiles {
        crate::tls::TlsFiles {
            ca_file: self.ca_file.clone(),
            client_auth: self
                .client_cert_file
                .clone()
                .zip(self.client_key_file.clone()),
        }
    }

    /// The broker password from `password_env` / `password_file`, if configured.
    pub fn password(&self) -> Result<Option<String>, PublishError> {
        vigia_core::secrets::read_secret(
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        )
        .map_err(|e| PublishError::Config(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_broker_urls() {
        assert_eq!(
            BrokerUrl::parse("mqtt://broker.sies.local").unwrap(),
            BrokerUrl {
                host: "broker.sies.local".into(),
                port: 1883,
                tls: false,
            }
        );
        let tls = BrokerUrl::parse("mqtts://broker.sies.local").unwrap();
        assert_eq!((tls.port, tls.tls), (8883, true));
        assert_eq!(BrokerUrl::parse("mqtts://[::1]:18883").unwrap().port, 18883);
        assert_eq!(
            BrokerUrl::parse("mqtt://10.1.2.3:11883/").unwrap().port,
            11883
        );
        assert_eq!(BrokerUrl::parse("mqtt://[::1]:1884").unwrap().host, "::1");
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:x",
            "mqtt://u:p@h",
            "mqtts://",
            "https://h",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_fields() {
        let c = MqttConfig {
            url: Some("nope".into()),
            inflight_window: 0,
            topic_prefix: Some("a/+/b".into()),
            ..MqttConfig::default()
        };
        let fields: Vec<_> = c.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["url", "topic_prefix", "inflight_window"]);
        assert!(MqttConfig::default().validate().is_empty());
        let plain_with_tls_files = MqttConfig {
            url: Some("mqtt://h".into()),
            ca_file: Some("ca.pem".into()),
            client_cert_file: Some("c.pem".into()),
            ..MqttConfig::default()
        };
        let fields: Vec<_> = plain_with_tls_files
            .validate()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec!["ca_file", "client_cert_file", "client_cert_file"]
        );
    }
}
