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
    proxy: Option<&ureq::Proxy>,
) -> Diagnosis {
    let target = format!("{}:{}", url.host(), url.port());
    if let Some(message) = proxy.and_then(|p| proxy_failure(e, p, url)) {
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
        (_, Some(tls)) => tls_message(tls, &target, system_roots, has_client_cert),
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
        (ureq::Error::Rustls(r), None) => tls_message(r, &target, system_roots, has_client_cert),
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

/// Failures that can only be the proxy's own: the connection to it, the name lookup of
/// it (with an HTTP or `socks5h://` proxy, the target's name is resolved by the proxy),
/// and a SOCKS handshake that ended before the server was reached.
fn proxy_failure(e: &ureq::Error, proxy: &ureq::Proxy, url: &WebhookUrl) -> Option<String> {
    let fix = "check --proxy / ALL_PROXY / HTTPS_PROXY (or bypass it with --proxy none or \
               NO_PROXY)";
    // An HTTP proxy keeps its short `host:port` name; others say their scheme, which
    // matters (socks5 resolves names here, socks5h at the proxy).
    let label = match proxy.protocol() {
        ureq::ProxyProtocol::Http => format!("{}:{}", proxy.host(), proxy.port()),
        _ => super::proxy_label(proxy),
    };
    let is_dns = |io: &std::io::Error| {
        let text = io.to_string();
        text.contains("lookup") || text.contains("resolve")
    };
    match e {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            Some(format!("proxy {label} refused the connection; {fix}"))
        }
        ureq::Error::HostNotFound => Some(dns_failure(proxy, &label, url, fix)),
        ureq::Error::Io(io) if is_dns(io) && !crate::wire::sent::connection_was_made() => {
            Some(dns_failure(proxy, &label, url, fix))
        }
        ureq::Error::ConnectionFailed => Some(format!("cannot connect to proxy {label}; {fix}")),
        ureq::Error::Io(io)
            if is_socks(proxy)
                && !crate::wire::sent::connection_was_made()
                && io.get_ref().is_none_or(|i| !i.is::<rustls::Error>()) =>
        {
            Some(format!(
                "the SOCKS proxy {label} could not open a connection to {}:{} ({}); check \
                 that the proxy may reach that host and port, and {fix}",
                url.host(),
                url.port(),
                url.scrub(&io.to_string())
            ))
        }
        _ => None,
    }
}

fn is_socks(p: &ureq::Proxy) -> bool {
    !matches!(
        p.protocol(),
        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
    )
}

/// A failed name lookup with a proxy: the proxy's own name, or, for `socks4://` and
/// `socks5://`, which resolve the webhook's host on this machine, maybe that one. Looked
/// up again only on this error path.
fn dns_failure(proxy: &ureq::Proxy, label: &str, url: &WebhookUrl, fix: &str) -> String {
    use std::net::ToSocketAddrs;
    let proxy_resolves = (proxy.host().trim_matches(['[', ']']), proxy.port())
        .to_socket_addrs()
        .is_ok_and(|mut a| a.next().is_some());
    if proxy.resolve_target() && proxy_resolves {
        format!(
            "DNS: cannot resolve {} on this machine; {label} resolves names here, not at the \
             proxy: use socks5h:// (or socks4a://) to let the proxy resolve them",
            url.host()
        )
    } else {
        format!("DNS: cannot resolve proxy {label}; {fix}")
    }
}

fn tls_message(
    e: &rustls::Error,
    target: &str,
    system_roots: bool,
    has_client_cert: bool,
) -> (String, bool) {
    use rustls::{AlertDescription, Error as R, PeerIncompatible};
    let old_tls = format!(
        "TLS: {target} only offers a TLS version older than 1.2 (handshake failure: \
         protocol version); mmnotify speaks TLS 1.2 and 1.3 only: enable TLS 1.2 or 1.3 on \
         the server (or its reverse proxy)"
    );
    match e {
        R::InvalidCertificate(c) => (certificate_message(c, target, system_roots), false),
        R::AlertReceived(AlertDescription::ProtocolVersion)
        | R::PeerIncompatible(
            PeerIncompatible::ServerDoesNotSupportTls12Or13
            | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig,
        ) => (old_tls, false),
        // A server sends this when it shares no TLS version or cipher suite with us, and
        // some when a client certificate is missing: say both unless one was given.
        R::AlertReceived(AlertDescription::HandshakeFailure) if !has_client_cert => (
            format!(
                "TLS: {target} refused the handshake (handshake failure): it shares no TLS \
                 version or cipher suite with mmnotify (TLS 1.2 or 1.3; servers that only \
                 offer TLS 1.0 or 1.1 answer so), or it requires a client certificate: pass \
                 --client-cert and --client-key"
            ),
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

/// Why the server's certificate was refused, and the fix (never retryable).
fn certificate_message(c: &rustls::CertificateError, target: &str, system_roots: bool) -> String {
    use rustls::CertificateError;
    match c {
        CertificateError::UnknownIssuer => format!(
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
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("TLS: the certificate of {target} has expired; renew it on the server")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "TLS: the certificate of {target} is not valid for that name; use the host \
                 name the certificate was issued for"
            )
        }
        // rustls reports webpki's reason only as an opaque `Other`; this one is a common
        // set-up mistake (the CA's certificate installed as the server's).
        CertificateError::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => format!(
            "TLS: {target} presented a CA certificate as its own certificate; install a \
             server certificate issued by that CA (with the CA in the chain) on the server"
        ),
        c => format!("TLS: the certificate of {target} was refused: {c:?}"),
    }
}
