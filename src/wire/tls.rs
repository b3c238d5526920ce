//! TLS material from files: extra roots for self-hosted servers and client certificates for
//! mutual TLS. Every problem here is a configuration error (exit 3), found before connecting.
//!
//! Trust starts with the bundled Mozilla roots (plus `--ca-file`). The system store and
//! `SSL_CERT_FILE`/`SSL_CERT_DIR` are read only by [`config_with_system_roots`], which the
//! deliverer calls after the bundled roots did not know a server's issuer: reading and
//! parsing a few hundred system certificates on every start would cost more than the post.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use crate::error;

pub(crate) struct TlsFiles<'a> {
    pub ca_file: Option<&'a Path>,
    pub client_cert: Option<&'a Path>,
    pub client_key: Option<&'a Path>,
}

/// The configuration for the first connection: bundled roots and `--ca-file`.
pub(crate) fn config(files: &TlsFiles) -> Result<TlsConfig> {
    build(files, Vec::new())
}

/// The same configuration with the system's roots added, or `None` when the system
/// store holds no certificate (then retrying would change nothing). Unreadable entries
/// of the store are skipped, as curl and git skip them.
pub(crate) fn config_with_system_roots(files: &TlsFiles) -> Result<Option<TlsConfig>> {
    let system = system_roots();
    if system.is_empty() {
        return Ok(None);
    }
    build(files, system).map(Some)
}

/// The system store as curl and git see it: `SSL_CERT_FILE`/`SSL_CERT_DIR` when set,
/// else the distribution's bundle (e.g. /etc/ssl/certs on Debian).
fn system_roots() -> Vec<Certificate<'static>> {
    system_store_der()
        .iter()
        .map(|c| Certificate::from_der(c).to_owned())
        .collect()
}

/// The largest `SSL_CERT_FILE` read: Debian's full bundle is about 220 KiB.
const SYSTEM_BUNDLE_LIMIT: u64 = 16 * 1024 * 1024;

/// The system store's certificates (DER), for the webhook and for `rediss://`.
/// `rustls_native_certs` reads `SSL_CERT_FILE` to its end with a blocking open, so a
/// FIFO without a writer would hang us and `/dev/zero` would fill memory: that file is
/// read only when it is a regular file of bundle size, and skipped otherwise, like any
/// unreadable part of the store. Directory entries are already limited to regular files.
pub(crate) fn system_store_der() -> Vec<Vec<u8>> {
    const FILE: &str = "SSL_CERT_FILE";
    const DIR: &str = "SSL_CERT_DIR";
    let file = std::env::var_os(FILE).map(std::path::PathBuf::from);
    let dirs: Vec<std::path::PathBuf> = std::env::var_os(DIR)
        .map(|d| {
            std::env::split_paths(&d)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    let certs = if file.is_none() && dirs.is_empty() {
        rustls_native_certs::load_native_certs().certs
    } else {
        let file = file.filter(|f| {
            std::fs::metadata(f).is_ok_and(|m| m.is_file() && m.len() <= SYSTEM_BUNDLE_LIMIT)
        });
        let mut certs = rustls_native_certs::load_certs_from_paths(file.as_deref(), None).certs;
        for dir in &dirs {
            certs.extend(rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs);
        }
        certs
    };
    certs.iter().map(|c| c.as_ref().to_vec()).collect()
}

fn build(files: &TlsFiles, system: Vec<Certificate<'static>>) -> Result<TlsConfig> {
    let mut builder = TlsConfig::builder();
    if files.ca_file.is_some() || !system.is_empty() {
        // RootCerts::Specific replaces the bundled roots, so the bundle goes in as well:
        // --ca-file and the system store add roots, they do not make public servers fail.
        let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()))
            .collect();
        if let Some(ca) = files.ca_file {
            roots.extend(read_certs(ca, "CA file")?);
        }
        roots.extend(system);
        builder = builder.root_certs(RootCerts::Specific(Arc::new(roots)));
    }
    if let (Some(cert), Some(key)) = (files.client_cert, files.client_key) {
        let chain = read_certs(cert, "client certificate")?;
        let key_pem = read(key, "client key")?;
        let key = PrivateKey::from_pem(&key_pem).map_err(|e| {
            error::config(format!(
                "client key {} is not a PEM private key (PKCS#1, PKCS#8 or SEC1): {e}",
                key.display()
            ))
        })?;
        check_pair(&chain[0], &key_pem).map_err(|why| {
            error::config(format!(
                "client key {} does not match certificate {}: {why}",
                files
                    .client_key
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                cert.display()
            ))
        })?;
        builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(builder.build())
}

/// Certificate chains and keys are a few KiB; the cap keeps `/dev/zero` or a huge file
/// from filling memory.
const PEM_FILE_LIMIT: u64 = 1024 * 1024;

/// One open and one bounded read, as a secrets file is read: `O_NONBLOCK` so that opening
/// a FIFO without a writer cannot hang `send` or `doctor`, and the type checked on the
/// opened descriptor (`fstat`), so a FIFO, device or directory is refused at once and
/// nothing can swap the file between the check and the read.
fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let cannot =
        |e: std::io::Error| error::config(format!("cannot read {what} {}: {e}", path.display()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(error::config(format!(
            "{what} {} is not a regular file (a FIFO, device or directory); give the path \
             of a PEM file",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    file.take(PEM_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > PEM_FILE_LIMIT {
        return Err(error::config(format!(
            "{what} {} is larger than {} MiB; it should hold PEM certificates or a key",
            path.display(),
            PEM_FILE_LIMIT / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<Certificate<'static>>> {
    let pem = read(path, what)?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(error::config(format!(
                    "{what} {} is not valid PEM: {e}",
                    path.display()
                )))
            }
        }
    }
    if certs.is_empty() {
        return Err(error::config(format!(
            "{what} {} contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

/// ureq panics on the first handshake when the key does not belong to the certificate,
/// so compare their public keys here, where it can be reported.
fn check_pair(cert: &Certificate<'static>, key_pem: &[u8]) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let key_der = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| e.to_string())?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .map_err(|e| format!("unsupported key: {e}"))?;
    let certified =
        rustls::sign::CertifiedKey::new(vec![CertificateDer::from(cert.der().to_vec())], signing);
    match certified.keys_match() {
        // Unknown: the key type cannot tell its public key: nothing to compare, let the
        // handshake decide.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
