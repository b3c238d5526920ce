//! What a failed request (no HTTP answer) means, in words that say what to do.

use std::time::Duration;

use crate::error::ExitKind;
use crate::secret::WebhookUrl;
use crate::text::time;
use crate::wire::diagnose::Diagnosis;

/// Classifies a transport error. Library errors can carry the URL (ureq's `BadUri`,
/// `RequireHttpsOnly`), so every message is scrubbed before it leaves.
pub(super) fn transport(
    e: &ureq::Error,
    url: &WebhookUrl,
    timeout: Duration,
    has_client_cert: bool,
    system_roots: bool,
    proxy: Option<&str>,
) -> Diagnosis {
    let target = format!("{}:{}", url.host(), url.port());
    if let Some(message) = proxy.and_then(|p| proxy_failure(e, p)) {
        return Diagnosis {
            kind: ExitKind::Network,
            message,
            error_id: None,
            retryable: true,
        };
    }
    let raw = url.scrub(&e.to_string());
    // rustls errors reach us wrapped in io::Error from the TLS stream.
    let inner_tls = match e {
        ureq::Error::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    let (message, retryable) = match (e, inner_tls) {
        (_, Some(tls)) => tls_message(tls, &target, system_roots),
        (ureq::Error::Timeout(_), None) => (
            format!(
                "no answer from {target} within {}; the request may still have been \
                 delivered (delivery is at-least-once): check the channel before resending",
                time::format_duration(Duration::from_millis(time::millis(timeout)))
            ),
            true,
        ),
        (ureq::Error::HostNotFound, None) => (
            format!(
                "DNS: cannot resolve {}; check the host name and the resolver",
                url.host()
            ),
            true,
        ),
        (ureq::Error::Io(io), None) => io_message(io, url, &raw, has_client_cert),
        (ureq::Error::Rustls(r), None) => tls_message(r, &target, system_roots),
        (ureq::Error::Tls(msg), None) => (format!("TLS with {target} failed: {msg}"), false),
        (ureq::Error::ConnectProxyFailed(msg), None) => (
            format!(
                "the proxy refused to open a tunnel to {target}: {}; check --proxy / \
                 HTTPS_PROXY and NO_PROXY",
                url.scrub(msg)
            ),
            true,
        ),
        (ureq::Error::ConnectionFailed, None) => (format!("cannot connect to {target}"), true),
        // The URL passed our own checks but not the HTTP library's: a configuration
        // problem that no retry can fix.
        (ureq::Error::Http(_) | ureq::Error::BadUri(_), None) => {
            return Diagnosis {
                kind: ExitKind::Config,
                message: format!("the webhook URL cannot be used ({raw}); check its host and port"),
                error_id: None,
                retryable: false,
            }
        }
        (ureq::Error::Protocol(_), None) => (
            format!("{target} did not answer with valid HTTP ({raw}); is it an HTTP(S) server?"),
            true,
        ),
        _ => (format!("request to {target} failed: {raw}"), true),
    };
    Diagnosis {
        kind: ExitKind::Network,
        message,
        error_id: None,
        retryable,
    }
}

/// An I/O failure of the connection, in words.
fn io_message(
    io: &std::io::Error,
    url: &WebhookUrl,
    raw: &str,
    has_client_cert: bool,
) -> (String, bool) {
    let target = format!("{}:{}", url.host(), url.port());
    // In TLS 1.3 a server that wants a client certificate accepts the handshake and then
    // drops the connection: the client only sees a closed pipe.
    let mtls_hint = if url.is_https() && !has_client_cert {
        "; if the server requires a client certificate (mutual TLS), pass --client-cert and \
         --client-key"
    } else {
        ""
    };
    match io.kind() {
        std::io::ErrorKind::ConnectionRefused => (
            format!("connection to {target} refused: is the server (or the proxy) up and listening on that port?"),
            true,
        ),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::BrokenPipe => (
            format!("the connection to {target} was closed before an answer ({raw}); the request may have been delivered (at-least-once){mtls_hint}"),
            true,
        ),
        _ if raw.contains("lookup") || raw.contains("resolve") => (
            format!("DNS: cannot resolve {} ({raw})", url.host()),
            true,
        ),
        _ => (format!("network error talking to {target}: {raw}"), true),
    }
}

/// Failures that can only be the proxy's own: the connection to it, and the name
/// lookup of it (with a proxy, the target's name is resolved by the proxy).
fn proxy_failure(e: &ureq::Error, proxy: &str) -> Option<String> {
    let fix = "check --proxy / HTTPS_PROXY (or bypass it with --proxy none or NO_PROXY)";
    match e {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            Some(format!("proxy {proxy} refused the connection; {fix}"))
        }
        ureq::Error::HostNotFound => Some(format!("DNS: cannot resolve proxy {proxy}; {fix}")),
        ureq::Error::ConnectionFailed => Some(format!("cannot connect to proxy {proxy}; {fix}")),
        _ => None,
    }
}

fn tls_message(e: &rustls::Error, target: &str, system_roots: bool) -> (String, bool) {
    use rustls::{AlertDescription, CertificateError, Error as R};
    match e {
        R::InvalidCertificate(CertificateError::UnknownIssuer) => (
            format!(
                "TLS: the certificate of {target} is signed by an unknown authority (not in \
                 the bundled Mozilla roots{}); for a self-hosted server pass its CA with \
                 --ca-file{}",
                if system_roots {
                    ", nor in the system store or SSL_CERT_FILE/SSL_CERT_DIR"
                } else {
                    "; the system store was not consulted (--no-system-roots)"
                },
                if system_roots {
                    " or add it to the system store"
                } else {
                    ""
                }
            ),
            false,
        ),
        R::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => (
            format!("TLS: the certificate of {target} has expired; renew it on the server"),
            false,
        ),
        R::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => (
            format!(
                "TLS: the certificate of {target} is not valid for that name; use the host \
                 name the certificate was issued for"
            ),
            false,
        ),
        R::InvalidCertificate(c) => (
            format!("TLS: the certificate of {target} was refused: {c:?}"),
            false,
        ),
        R::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::HandshakeFailure
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA,
        ) => (
            format!(
                "TLS: {target} refused the handshake ({e}); it probably requires a client \
                 certificate it trusts: pass --client-cert and --client-key"
            ),
            false,
        ),
        other => (format!("TLS with {target} failed: {other}"), true),
    }
}
