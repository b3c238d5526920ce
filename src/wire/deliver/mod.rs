//! One delivery: a POST of a JSON body, retried within a time budget, classified into the
//! exit-code contract. The only module that talks HTTP.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;

use crate::cli::{DeliveryArgs, RetryLimit};
use crate::error::{self, ExitKind};
use crate::secret::WebhookUrl;
use crate::wire::diagnose::{self, Answer, Diagnosis};
use crate::wire::retry;
use crate::wire::sent;
use crate::wire::tls;

const USER_AGENT: &str = concat!("mmnotify/", env!("CARGO_PKG_VERSION"));
/// Mattermost answers `ok` or a small JSON error; a proxy's HTML error page is the largest
/// thing expected. Reading the whole (small) body also returns the connection to the pool.
const BODY_LIMIT: u64 = 64 * 1024;

/// Every post (send, build, run, probe, flush) passes through [`Deliverer::deliver_with`],
/// which refuses a body holding the webhook's own token before it is sent.
pub const OWN_URL_IN_MESSAGE: &str =
    "the message contains this webhook's own URL; it would publish the token to the channel";

#[derive(Debug, Clone)]
pub struct Policy {
    pub budget: Duration,
    pub attempt_timeout: Duration,
    pub retries: u32,
}

impl Policy {
    pub fn from_args(a: &DeliveryArgs<impl RetryLimit>) -> Policy {
        Policy {
            budget: a.timeout,
            attempt_timeout: a.attempt_timeout,
            retries: a.retry.retries(),
        }
    }
}

/// What happened to one delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub attempts: u32,
    pub elapsed: Duration,
    pub http_status: Option<u16>,
    pub result: std::result::Result<(), Diagnosis>,
    /// Attempts that got no answer (timed out, or the connection closed) after the whole
    /// request was sent: the server may have posted each of them.
    pub timed_out_after_send: u32,
}

impl Delivery {
    pub fn is_success(&self) -> bool {
        self.result.is_ok()
    }

    /// Posted, but an earlier attempt may have posted too: the message may show twice.
    pub fn possible_duplicate(&self) -> bool {
        self.result.is_ok() && self.timed_out_after_send > 0
    }

    /// Failed, but every attempt timed out after sending: it may have been posted, so
    /// sending it again may show it twice.
    pub fn maybe_delivered(&self) -> bool {
        self.result.is_err() && self.attempts > 0 && self.timed_out_after_send == self.attempts
    }

    pub fn error_id(&self) -> Option<&str> {
        self.result
            .as_ref()
            .err()
            .and_then(|d| d.error_id.as_deref())
    }
}

/// The HTTP client, built once per process so several posts share one connection.
pub struct Deliverer {
    agent: ureq::Agent,
    policy: Policy,
    has_client_cert: bool,
    /// `host:port` of the HTTP proxy in effect, to name it when it is what failed.
    proxy: Option<ureq::Proxy>,
    trust: SystemTrust,
}

/// The second client, trusting the system store too, built the first time a server's
/// issuer is unknown to the bundled roots; from then on every request of this process
/// uses it.
struct SystemTrust {
    enabled: bool,
    proxy: Option<ureq::Proxy>,
    attempt_timeout: Duration,
    ca_file: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    agent: OnceLock<Option<ureq::Agent>>,
    in_use: AtomicBool,
}

impl SystemTrust {
    fn agent(&self) -> Option<&ureq::Agent> {
        self.agent
            .get_or_init(|| {
                let tls = tls::config_with_system_roots(&tls::TlsFiles {
                    ca_file: self.ca_file.as_deref(),
                    client_cert: self.client_cert.as_deref(),
                    client_key: self.client_key.as_deref(),
                })
                // These files were read fine a moment ago; if that changed, the first
                // error stands.
                .ok()??;
                Some(agent(self.proxy.clone(), tls, self.attempt_timeout))
            })
            .as_ref()
    }
}

fn agent(proxy: Option<ureq::Proxy>, tls: ureq::tls::TlsConfig, timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirected POST turns into a GET without its body: report it instead.
        .max_redirects(0)
        .user_agent(USER_AGENT)
        .proxy(proxy)
        .tls_config(tls)
        .timeout_global(Some(timeout))
        .build();
    sent::agent(config)
}

/// The server's chain ends in a root the bundled set does not hold: the one failure the
/// system store can cure. Nothing was sent yet, so trying again is safe.
fn unknown_issuer(e: &ureq::Error) -> bool {
    let tls = match e {
        ureq::Error::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        ureq::Error::Rustls(r) => Some(r),
        _ => None,
    };
    matches!(
        tls,
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer
        ))
    )
}

pub enum ProxyChoice {
    /// `*_PROXY` / `NO_PROXY` from the environment.
    Env,
    None,
    Url(String),
}

impl ProxyChoice {
    pub fn from_arg(arg: Option<&str>) -> ProxyChoice {
        match arg.map(str::trim) {
            None | Some("") => ProxyChoice::Env,
            Some(s) if s.eq_ignore_ascii_case("none") => ProxyChoice::None,
            Some(s) => ProxyChoice::Url(s.to_string()),
        }
    }

    pub fn resolve(&self) -> Result<Option<ureq::Proxy>> {
        match self {
            ProxyChoice::Env => Ok(ureq::Proxy::try_from_env()),
            ProxyChoice::None => Ok(None),
            ProxyChoice::Url(u) => ureq::Proxy::new(u).map(Some).map_err(|_| {
                error::config(format!(
                    "invalid --proxy URL {}: expected http://host:port or `none`",
                    redact_userinfo(u)
                ))
            }),
        }
    }
}

/// Proxy URLs may carry credentials; show them without (and without any hook id, for a
/// `*_PROXY` variable set to the wrong URL).
pub fn redact_userinfo(url: &str) -> String {
    let url = crate::secret::scrub_hook_ids(url);
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        (None, Some(at)) => format!("***@{}", &url[at + 1..]),
        _ => url.into_owned(),
    }
}

impl Deliverer {
    pub fn new(args: &DeliveryArgs<impl RetryLimit>) -> Result<Deliverer> {
        let proxy = ProxyChoice::from_arg(args.proxy.as_deref()).resolve()?;
        let tls = tls::config(&tls::TlsFiles {
            ca_file: args.ca_file.as_deref(),
            client_cert: args.client_cert.as_deref(),
            client_key: args.client_key.as_deref(),
        })?;
        Ok(Deliverer {
            agent: agent(proxy.clone(), tls, args.attempt_timeout),
            policy: Policy::from_args(args),
            has_client_cert: args.client_cert.is_some(),
            proxy: proxy.clone(),
            trust: SystemTrust {
                enabled: !args.no_system_roots,
                proxy,
                attempt_timeout: args.attempt_timeout,
                ca_file: args.ca_file.clone(),
                client_cert: args.client_cert.clone(),
                client_key: args.client_key.clone(),
                agent: OnceLock::new(),
                in_use: AtomicBool::new(false),
            },
        })
    }

    /// Runs one request with the bundled roots, and once more with the system store
    /// added when the server's issuer was unknown, within the same `timeout`.
    fn call<T>(
        &self,
        timeout: Duration,
        request: impl Fn(&ureq::Agent, Duration) -> Result<T, ureq::Error>,
    ) -> Result<T, ureq::Error> {
        if self.trust.in_use.load(Ordering::Relaxed) {
            if let Some(agent) = self.trust.agent() {
                return request(agent, timeout);
            }
        }
        let start = Instant::now();
        let first = request(&self.agent, timeout);
        match first {
            Err(e) if self.trust.enabled && unknown_issuer(&e) => {
                let left = timeout.saturating_sub(start.elapsed());
                match self.trust.agent() {
                    Some(agent) if !left.is_zero() => {
                        self.trust.in_use.store(true, Ordering::Relaxed);
                        request(agent, left)
                    }
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    /// The proxy a request to `url` goes through, as `host:port`.
    fn proxy_for(&self, url: &WebhookUrl) -> Option<String> {
        let p = self.proxy.as_ref()?;
        let uri: Option<ureq::http::Uri> = url.server_base().parse().ok();
        if uri.as_ref().is_some_and(|u| p.is_no_proxy(u)) {
            return None;
        }
        Some(format!("{}:{}", p.host(), p.port()))
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Posts `body`, retrying what can succeed later, never past the budget.
    pub fn deliver(&self, url: &WebhookUrl, body: &[u8], channel: Option<&str>) -> Delivery {
        self.deliver_with(url, body, channel, self.policy.retries)
    }

    pub fn deliver_with(
        &self,
        url: &WebhookUrl,
        body: &[u8],
        channel: Option<&str>,
        retries: u32,
    ) -> Delivery {
        let start = Instant::now();
        if url.appears_in(body) {
            return Delivery {
                attempts: 0,
                elapsed: start.elapsed(),
                http_status: None,
                timed_out_after_send: 0,
                result: Err(Diagnosis {
                    kind: ExitKind::Input,
                    message: OWN_URL_IN_MESSAGE.to_string(),
                    error_id: None,
                    retryable: false,
                }),
            };
        }
        let deadline = start + self.policy.budget;
        let mut attempts = 0;
        let mut timed_out_after_send = 0;
        loop {
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let per_attempt = self.policy.attempt_timeout.min(remaining);
            sent::reset();
            let (status, diagnosis, wait_hint) =
                match self.attempt(url, body, per_attempt, channel, attempts) {
                    Attempt::Posted(status) => {
                        return Delivery {
                            attempts,
                            elapsed: start.elapsed(),
                            http_status: Some(status),
                            result: Ok(()),
                            timed_out_after_send,
                        }
                    }
                    Attempt::Failed {
                        status,
                        diagnosis,
                        retry_after,
                        timed_out,
                    } => {
                        let mut diagnosis = diagnosis;
                        // A connection closed or reset after the whole request went out
                        // is as unknowable as a timeout: the server may have posted it.
                        if status.is_none() && sent::request_was_sent() {
                            timed_out_after_send += 1;
                        } else if timed_out {
                            diagnosis.message = format!(
                                "no answer from {}:{} within {} while connecting (TCP, proxy \
                                 or TLS handshake); the request was not sent",
                                url.host(),
                                url.port(),
                                humantime::format_duration(per_attempt)
                            );
                        }
                        (status, diagnosis, retry_after)
                    }
                };
            let done = |d: Diagnosis| Delivery {
                attempts,
                elapsed: start.elapsed(),
                http_status: status,
                result: Err(d),
                timed_out_after_send,
            };
            if !diagnosis.retryable || attempts > retries {
                return done(diagnosis);
            }
            let wait = wait_hint.unwrap_or_else(|| retry::backoff(attempts, retry::random_u64()));
            let left = deadline.saturating_duration_since(Instant::now());
            if wait >= left {
                let mut d = diagnosis;
                d.message = format!(
                    "{} (gave up after {attempts} attempt{}: the next retry{} would pass the \
                     --timeout budget of {})",
                    d.message,
                    if attempts == 1 { "" } else { "s" },
                    if wait_hint.is_some() {
                        format!(", which the server asked to delay by {}", fmt_secs(wait))
                    } else {
                        String::new()
                    },
                    humantime::format_duration(self.policy.budget)
                );
                return done(d);
            }
            std::thread::sleep(wait);
        }
    }

    /// One GET of the server's ping endpoint: proves DNS, TCP, proxy and TLS (client
    /// certificate included) with the same settings as a post, without posting anything.
    /// `within` caps this one request (doctor's remaining budget).
    pub fn ping(&self, url: &WebhookUrl, within: Duration) -> std::result::Result<u16, Diagnosis> {
        let timeout = self.policy.attempt_timeout.min(within);
        let ping = format!("{}/api/v4/system/ping", url.server_base());
        match self.call(timeout, |agent, timeout| {
            agent
                .get(&ping)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .call()
        }) {
            Ok(mut resp) => {
                let _ = resp
                    .body_mut()
                    .with_config()
                    .limit(BODY_LIMIT)
                    .read_to_vec();
                Ok(resp.status().as_u16())
            }
            Err(e) => Err(transport(
                &e,
                url,
                timeout,
                self.has_client_cert,
                self.trust.enabled,
                self.proxy_for(url).as_deref(),
            )),
        }
    }

    fn attempt(
        &self,
        url: &WebhookUrl,
        body: &[u8],
        timeout: Duration,
        channel: Option<&str>,
        attempts: u32,
    ) -> Attempt {
        let response = self.call(timeout, |agent, timeout| {
            agent
                .post(url.expose())
                .config()
                .timeout_global(Some(timeout))
                .build()
                .content_type("application/json")
                .send(body)
        });
        match response {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let header = |name: &str| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let location = header("location");
                let retry_after = header("retry-after");
                let text = resp
                    .body_mut()
                    .with_config()
                    .limit(BODY_LIMIT)
                    .lossy_utf8(true)
                    .read_to_string()
                    .unwrap_or_default();
                if (200..300).contains(&status) {
                    return Attempt::Posted(status);
                }
                let diagnosis = diagnose::http(
                    &Answer {
                        status,
                        body: &text,
                        location: location.as_deref(),
                    },
                    url,
                    channel,
                    attempts,
                );
                let diagnosis = diagnose::with_payload_suspects(diagnosis, url, body);
                Attempt::Failed {
                    status: Some(status),
                    diagnosis,
                    retry_after: retry_after
                        .as_deref()
                        .and_then(|v| retry::parse_retry_after(v, SystemTime::now())),
                    timed_out: false,
                }
            }
            Err(e) => Attempt::Failed {
                status: None,
                diagnosis: transport(
                    &e,
                    url,
                    timeout,
                    self.has_client_cert,
                    self.trust.enabled,
                    self.proxy_for(url).as_deref(),
                ),
                retry_after: None,
                timed_out: matches!(e, ureq::Error::Timeout(_)),
            },
        }
    }
}

enum Attempt {
    Posted(u16),
    Failed {
        status: Option<u16>,
        diagnosis: Diagnosis,
        retry_after: Option<Duration>,
        timed_out: bool,
    },
}

fn fmt_secs(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs().max(1))).to_string()
}

/// Classifies a transport error. Library errors can carry the URL (ureq's `BadUri`,
/// `RequireHttpsOnly`), so every message is scrubbed before it leaves.
fn transport(
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
    // In TLS 1.3 a server that wants a client certificate accepts the handshake and then
    // drops the connection: the client only sees a closed pipe.
    let mtls_hint = if url.is_https() && !has_client_cert {
        "; if the server requires a client certificate (mutual TLS), pass --client-cert and \
         --client-key"
    } else {
        ""
    };
    let (message, retryable) = match (e, inner_tls) {
        (_, Some(tls)) => tls_message(tls, &target, system_roots),
        (ureq::Error::Timeout(_), None) => (
            format!(
                "no answer from {target} within {}; the request may still have been \
                 delivered (delivery is at-least-once): check the channel before resending",
                humantime::format_duration(Duration::from_millis(timeout.as_millis() as u64))
            ),
            true,
        ),
        (ureq::Error::HostNotFound, None) => (
            format!("DNS: cannot resolve {}; check the host name and the resolver", url.host()),
            true,
        ),
        (ureq::Error::Io(io), None) => match io.kind() {
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
        },
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
        R::InvalidCertificate(CertificateError::Expired)
        | R::InvalidCertificate(CertificateError::ExpiredContext { .. }) => (
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
        R::AlertReceived(AlertDescription::CertificateRequired)
        | R::AlertReceived(AlertDescription::HandshakeFailure)
        | R::AlertReceived(AlertDescription::BadCertificate)
        | R::AlertReceived(AlertDescription::UnknownCA) => (
            format!(
                "TLS: {target} refused the handshake ({e}); it probably requires a client \
                 certificate it trusts: pass --client-cert and --client-key"
            ),
            false,
        ),
        other => (format!("TLS with {target} failed: {other}"), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_hidden() {
        assert_eq!(
            redact_userinfo("http://u:p@proxy:3128"),
            "http://***@proxy:3128"
        );
        assert_eq!(redact_userinfo("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(redact_userinfo("u:p@proxy:3128"), "***@proxy:3128");
    }

    #[test]
    fn proxy_choice() {
        assert!(matches!(ProxyChoice::from_arg(None), ProxyChoice::Env));
        assert!(matches!(
            ProxyChoice::from_arg(Some("NONE")),
            ProxyChoice::None
        ));
        assert!(matches!(
            ProxyChoice::from_arg(Some("http://p:1")),
            ProxyChoice::Url(_)
        ));
    }
}
