//! The HTTP clients: the one built at start, and the second one that also trusts the
//! system store, with the retry of a request from the first to the second.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::secret::WebhookUrl;
use crate::wire::deliver::Deliverer;
use crate::wire::sent;
use crate::wire::tls;

const USER_AGENT: &str = concat!("mmnotify/", env!("CARGO_PKG_VERSION"));

/// The second client, trusting the system store too, built the first time a server's
/// issuer is unknown to the bundled roots; from then on every request of this process
/// uses it.
pub(super) struct SystemTrust {
    pub(super) enabled: bool,
    proxy: Option<ureq::Proxy>,
    attempt_timeout: Duration,
    ca_file: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    agent: OnceLock<Option<ureq::Agent>>,
    pub(super) in_use: AtomicBool,
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

impl SystemTrust {
    pub(super) fn new(args: &super::Settings, proxy: Option<ureq::Proxy>) -> SystemTrust {
        SystemTrust {
            enabled: !args.no_system_roots,
            proxy,
            attempt_timeout: args.attempt_timeout,
            ca_file: args.ca_file.clone(),
            client_cert: args.client_cert.clone(),
            client_key: args.client_key.clone(),
            agent: OnceLock::new(),
            in_use: AtomicBool::new(false),
        }
    }
}

pub(super) fn agent(
    proxy: Option<ureq::Proxy>,
    tls: ureq::tls::TlsConfig,
    timeout: Duration,
) -> ureq::Agent {
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

impl Deliverer {
    /// Runs one request with the bundled roots, and once more with the system store
    /// added when the server's issuer was unknown, within the same `timeout`.
    pub(super) fn call<T>(
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

    /// The proxy a request to `url` goes through (none when `NO_PROXY` bypasses it).
    pub(super) fn proxy_for(&self, url: &WebhookUrl) -> Option<&ureq::Proxy> {
        let p = self.proxy.as_ref()?;
        let uri: Option<ureq::http::Uri> = url.server_base().parse().ok();
        if uri.as_ref().is_some_and(|u| p.is_no_proxy(u)) {
            return None;
        }
        Some(p)
    }
}
