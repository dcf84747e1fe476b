//! [`BrokerLink`]: how to reach the broker (address, credentials, TLS), shared by the
//! publisher and by `vigia tail`.

use std::fmt;
use std::sync::Arc;

use rumqttc::{MqttOptions, TlsConfiguration, Transport};

use crate::config::{BrokerUrl, MqttConfig};
use crate::error::PublishError;

/// Address, credentials and TLS configuration of a broker. `Debug` never shows the password.
#[derive(Clone)]
pub struct BrokerLink {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// TLS (`mqtts://`): the verified rustls configuration; `None` for plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for BrokerLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerLink")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl BrokerLink {
    /// Plain TCP, no credentials (the embedded broker, tests).
    pub fn plain(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            username: None,
            password: None,
            tls: None,
        }
    }

    /// The broker `[mqtt]` names; `None` when it names none (the embedded broker). Reads
    /// the password and the TLS files; every problem names its field.
    pub fn from_config(cfg: &MqttConfig) -> Result<Option<Self>, PublishError> {
        let Some(url) = &cfg.url else {
            return Ok(None);
        };
        let url = BrokerUrl::parse(url)?;
        let tls = if url.tls {
            Some(cfg.tls_files().client_config()?)
        } else {
            None
        };
        Ok(Some(Self {
            host: url.host,
            port: url.port,
            username: cfg.username.clone(),
            password: cfg.password()?,
            tls,
        }))
    }

    /// `host:port`, for logs.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Client options with this link's transport and credentials.
    pub fn options(&self, client_id: &str) -> MqttOptions {
        let mut o = MqttOptions::new(client_id, &self.host, self.port);
        o.set_max_packet_size(4 << 20, 4 << 20);
        if let Some(tls) = &self.tls {
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        if let Some(user) = &self.username {
            o.set_credentials(user, self.password.clone().unwrap_or_default());
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let mut l = BrokerLink::plain("h", 1);
        l.username = Some("vigia".into());
        l.password = Some("s3cret-value".into());
        let d = format!("{l:?}");
        assert!(!d.contains("s3cret") && d.contains("redacted"), "{d}");
    }
}
