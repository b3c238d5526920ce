//! Throwaway PKI for TLS and mTLS tests (rcgen), and the rustls server config.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Certificates and keys, as PEM strings and as files (mode 0600) in `dir`.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    /// CA that signed the server certificates (give it to the client as `--ca-file`).
    pub ca_pem: String,
    pub ca_cert: PathBuf,
    /// Server certificate for 127.0.0.1, `::1` and localhost, signed by the CA.
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Same names and key, signed by the CA, but expired in 2001.
    pub expired_cert_pem: String,
    pub expired_cert: PathBuf,
    /// Separate CA for client certificates (the server's mTLS trust anchor).
    pub client_ca_pem: String,
    pub client_ca_cert: PathBuf,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A key that matches no certificate (for key/cert mismatch tests).
    pub other_key_pem: String,
    pub other_key: PathBuf,
    /// An unrelated CA (for "unknown CA" tests).
    pub other_ca_pem: String,
    pub other_ca_cert: PathBuf,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("generate CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    (params.self_signed(&key).expect("self-sign CA"), key)
}

fn leaf(
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    key: &KeyPair,
    issuer: &(rcgen::Certificate, KeyPair),
    expired: bool,
) -> String {
    let mut params = CertificateParams::new(
        names
            .iter()
            .map(std::string::ToString::to_string)
            .collect::<Vec<_>>(),
    )
    .expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    params
        .signed_by(key, &issuer.0, &issuer.1)
        .expect("sign leaf")
        .pem()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    f.write_all(content.as_bytes()).expect("write PEM");
    path
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        fs::create_dir_all(dir).expect("create PKI dir");
        let server_ca = ca("mmnotify test CA");
        let client_ca = ca("mmnotify test client CA");
        let other_ca = ca("unrelated test CA");
        let names = ["localhost", "127.0.0.1", "::1"];
        let server_key = KeyPair::generate().expect("server key");
        let server_cert_pem = leaf(
            &names,
            ExtendedKeyUsagePurpose::ServerAuth,
            &server_key,
            &server_ca,
            false,
        );
        let expired_cert_pem = leaf(
            &names,
            ExtendedKeyUsagePurpose::ServerAuth,
            &server_key,
            &server_ca,
            true,
        );
        let client_key = KeyPair::generate().expect("client key");
        let client_cert_pem = leaf(
            &["mmnotify-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &client_key,
            &client_ca,
            false,
        );
        let other_key_pem = KeyPair::generate().expect("other key").serialize_pem();
        let (ca_pem, client_ca_pem, other_ca_pem) =
            (server_ca.0.pem(), client_ca.0.pem(), other_ca.0.pem());
        let (server_key_pem, client_key_pem) =
            (server_key.serialize_pem(), client_key.serialize_pem());
        Pki {
            dir: dir.to_path_buf(),
            ca_cert: write(dir, "ca.pem", &ca_pem),
            server_cert: write(dir, "server.pem", &server_cert_pem),
            server_key: write(dir, "server.key", &server_key_pem),
            expired_cert: write(dir, "expired.pem", &expired_cert_pem),
            client_ca_cert: write(dir, "client-ca.pem", &client_ca_pem),
            client_cert: write(dir, "client.pem", &client_cert_pem),
            client_key: write(dir, "client.key", &client_key_pem),
            other_key: write(dir, "other.key", &other_key_pem),
            other_ca_cert: write(dir, "other-ca.pem", &other_ca_pem),
            ca_pem,
            server_cert_pem,
            server_key_pem,
            expired_cert_pem,
            client_ca_pem,
            client_cert_pem,
            client_key_pem,
            other_key_pem,
            other_ca_pem,
        }
    }
}

/// Server side TLS material for `ServerOptions::tls`.
#[derive(Debug, Clone)]
pub struct TlsSetup {
    pub cert_pem: String,
    pub key_pem: String,
    /// When set, client certificates signed by this CA are REQUIRED.
    pub client_ca_pem: Option<String>,
}

impl TlsSetup {
    pub fn server(pki: &Pki) -> TlsSetup {
        TlsSetup {
            cert_pem: pki.server_cert_pem.clone(),
            key_pem: pki.server_key_pem.clone(),
            client_ca_pem: None,
        }
    }

    pub fn mtls(pki: &Pki) -> TlsSetup {
        TlsSetup {
            client_ca_pem: Some(pki.client_ca_pem.clone()),
            ..TlsSetup::server(pki)
        }
    }

    /// Serves the expired certificate.
    pub fn expired(pki: &Pki) -> TlsSetup {
        TlsSetup {
            cert_pem: pki.expired_cert_pem.clone(),
            ..TlsSetup::server(pki)
        }
    }

    /// A rustls config using the ring provider explicitly (no process default needed).
    pub(crate) fn server_config(&self) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("server cert PEM");
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("server key PEM");
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions");
        let builder = match &self.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    roots
                        .add(cert.expect("client CA PEM"))
                        .expect("add client CA");
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        Arc::new(
            builder
                .with_single_cert(certs, key)
                .expect("server cert/key"),
        )
    }
}
