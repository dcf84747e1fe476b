//! Certificates for TLS tests (feature `pki`, for dev-dependencies only): a private CA, a
//! broker certificate for 127.0.0.1 / localhost, a client certificate, and an unrelated
//! CA with a "stranger" client certificate, as PEM files in a temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// The files: `ca.pem`, `server.pem`/`.key`, `client.pem`/`.key`, `other-ca.pem`,
/// `stranger.pem`/`.key`. Removed on drop.
pub struct Pki {
    dir: tempfile::TempDir,
}

fn ca(name: &str) -> (Certificate, KeyPair) {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("key");
    (p.self_signed(&key).expect("self-signed CA"), key)
}

fn leaf(dir: &Path, name: &str, server: bool, issuer: &(Certificate, KeyPair)) {
    let names = if server {
        vec!["localhost".to_string()]
    } else {
        Vec::new()
    };
    let mut p = CertificateParams::new(names).expect("leaf params");
    p.distinguished_name.push(DnType::CommonName, name);
    if server {
        p.subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    }
    p.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    let key = KeyPair::generate().expect("key");
    let cert = p.signed_by(&key, &issuer.0, &issuer.1).expect("signed");
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("write cert");
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).expect("write key");
}

impl Pki {
    /// Makes a fresh set of certificates.
    pub fn generate() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let authority = ca("vigia test CA");
        std::fs::write(dir.path().join("ca.pem"), authority.0.pem()).expect("write CA");
        leaf(dir.path(), "server", true, &authority);
        leaf(dir.path(), "client", false, &authority);
        let other = ca("some other CA");
        std::fs::write(dir.path().join("other-ca.pem"), other.0.pem()).expect("write CA");
        leaf(dir.path(), "stranger", false, &other);
        Pki { dir }
    }

    /// A file of the set, e.g. `path("ca.pem")`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A TLS mosquitto set-up with these certificates: client certificate required, and
    /// the given users.
    pub fn secure_broker(&self, users: &[(&str, &str)]) -> crate::mosquitto::Secure {
        crate::mosquitto::Secure {
            ca: self.path("ca.pem"),
            cert: self.path("server.pem"),
            key: self.path("server.key"),
            require_client_cert: true,
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
        }
    }
}
