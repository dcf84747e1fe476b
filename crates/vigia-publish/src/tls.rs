//! MQTT over TLS: the rustls client configuration from `[mqtt]`'s files.
//!
//! The broker's certificate is always verified: against `ca_file` when set (a private CA,
//! the usual case for a monitoring center), otherwise against the operating system's trust
//! store. A client certificate is presented when `client_cert_file` and `client_key_file`
//! are set. There is no switch to turn verification off. rustls runs with the `ring`
//! provider, chosen explicitly so nothing depends on a process-wide default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::PublishError;

/// Where the TLS material comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file with the CA certificate(s) that sign the broker's certificate; `None`: the
    /// system trust store.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and its private key (PKCS#8, PKCS#1 or SEC1).
    pub client_auth: Option<(PathBuf, PathBuf)>,
}

fn err(field: &'static str, path: &Path, message: impl std::fmt::Display) -> PublishError {
    PublishError::File {
        field,
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn read_pem(field: &'static str, path: &Path) -> Result<Vec<u8>, PublishError> {
    std::fs::read(path).map_err(|e| err(field, path, format!("cannot read: {e}")))
}

fn certificates(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, PublishError> {
    let pem = read_pem(field, path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(field, path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(err(
            field,
            path,
            "no certificate in it (expected -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

fn private_key(field: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, PublishError> {
    let pem = read_pem(field, path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| err(field, path, format!("not a PEM key file: {e}")))?
        .ok_or_else(|| {
            err(
                field,
                path,
                "no private key in it (expected a PKCS#8, RSA or EC PEM key)",
            )
        })
}

impl TlsFiles {
    /// Builds the rustls configuration; every problem names the `[mqtt]` field and file.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, PublishError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in certificates("ca_file", path)? {
                    roots.add(cert).map_err(|e| {
                        err("ca_file", path, format!("unusable CA certificate: {e}"))
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(PublishError::Config(
                        "mqtt: no CA certificates in the system trust store (install ca-certificates) and no mqtt.ca_file set".into(),
                    ));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| PublishError::Config(format!("mqtt: TLS set-up failed: {e}")))?
            .with_root_certificates(roots);
        let config = match &self.client_auth {
            Some((cert, key)) => {
                let chain = certificates("client_cert_file", cert)?;
                let key_der = private_key("client_key_file", key)?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    err(
                        "client_key_file",
                        key,
                        format!("does not go with client_cert_file {}: {e}", cert.display()),
                    )
                })?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_named_with_their_field() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello\n").unwrap();
        let missing = dir.path().join("missing.pem");

        let e = TlsFiles {
            ca_file: Some(missing.clone()),
            client_auth: None,
        }
        .client_config()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("mqtt.ca_file") && e.contains("missing.pem") && e.contains("cannot read"),
            "{e}"
        );

        let e = TlsFiles {
            ca_file: Some(junk.clone()),
            client_auth: None,
        }
        .client_config()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("mqtt.ca_file") && e.contains("no certificate"),
            "{e}"
        );
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertificateParams::new(vec!["ca".into()])
            .unwrap()
            .self_signed(&ca_key)
            .unwrap();
        let other_key = rcgen::KeyPair::generate().unwrap();
        let ca_pem = dir.path().join("ca.pem");
        let key_pem = dir.path().join("other.key");
        std::fs::write(&ca_pem, ca.pem()).unwrap();
        std::fs::write(&key_pem, other_key.serialize_pem()).unwrap();
        let ok = TlsFiles {
            ca_file: Some(ca_pem.clone()),
            client_auth: None,
        };
        ok.client_config().unwrap();
        let e = TlsFiles {
            ca_file: Some(ca_pem.clone()),
            client_auth: Some((ca_pem.clone(), key_pem)),
        }
        .client_config()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("mqtt.client_key_file") && e.contains("does not go with"),
            "{e}"
        );
        let e = TlsFiles {
            ca_file: Some(ca_pem.clone()),
            client_auth: Some((ca_pem.clone(), ca_pem)),
        }
        .client_config()
        .unwrap_err()
        .to_string();
        assert!(e.contains("no private key"), "{e}");
    }
}
