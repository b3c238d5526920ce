//! One delivery: a POST of a JSON body, retried within a time budget, classified into the
//! exit-code contract. The only module that talks HTTP.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::error::ExitKind;
use crate::secret::WebhookUrl;
use crate::text::time::format_duration;
use crate::wire::diagnose::Diagnosis;
use crate::wire::retry;
use crate::wire::sent;
use crate::wire::tls;
use agent::{agent, SystemTrust};
use attempt::Attempt;
use transport::transport;

mod agent;
mod attempt;
mod proxy;
mod rest_call;
mod transport;

pub(crate) use proxy::{proxy_label, ProxyChoice};
pub(crate) use rest_call::{
    server_error_id, Method, RestAnswer, RestFail, RestOk, REST_BODY_LIMIT,
};

/// Mattermost answers `ok` or a small JSON error; a proxy's HTML error page is the largest
/// thing expected. Reading the whole (small) body also returns the connection to the pool.
const BODY_LIMIT: u64 = 64 * 1024;

/// Every post (send, build, run, probe, flush) passes through [`Deliverer::deliver_within`],
/// which refuses a body holding the webhook's own token before it is sent.
pub(crate) const OWN_URL_IN_MESSAGE: &str =
    "the message contains this webhook's own URL; it would publish the token to the channel";

/// How deliveries are made, as plain values (the delivery flags, read once by the
/// command): budget, retries, proxy and TLS.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub timeout: Duration,
    pub attempt_timeout: Duration,
    pub retries: u32,
    pub proxy: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub no_system_roots: bool,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub budget: Duration,
    pub attempt_timeout: Duration,
    pub retries: u32,
}

impl Policy {
    pub(crate) fn from_settings(a: &Settings) -> Policy {
        Policy {
            budget: a.timeout,
            attempt_timeout: a.attempt_timeout,
            retries: a.retries,
        }
    }
}

/// Paces the posts to one webhook (`--rate-limit`, and the pause a 429 asks for). The
/// layer above decides where the budget lives (a shared store, or this process).
pub(crate) trait Gate: Send + Sync {
    /// Waits for this post's turn. `until`: the latest the turn may come (a retry within
    /// the delivery's budget); `None` for the first attempt, whose budget starts once the
    /// turn has come. `Err`: why no turn came; the post was not made, and may be later.
    fn turn(&self, url: &WebhookUrl, until: Option<Instant>) -> std::result::Result<(), String>;
    /// A 429 asked to wait this long before the next post to this webhook.
    fn retry_after(&self, url: &WebhookUrl, wait: Duration);
}

/// A post the gate did not let through: not made, worth making later.
fn not_let_through(message: String) -> Diagnosis {
    Diagnosis {
        kind: ExitKind::Network,
        message,
        error_id: None,
        retryable: true,
    }
}

/// What happened to one delivery.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub attempts: u32,
    pub elapsed: Duration,
    pub http_status: Option<u16>,
    pub result: std::result::Result<(), Diagnosis>,
    /// Attempts that got no answer (timed out, or the connection closed) after the whole
    /// request was sent: the server may have posted each of them.
    pub timed_out_after_send: u32,
}

impl Delivery {
    pub(crate) fn is_success(&self) -> bool {
        self.result.is_ok()
    }

    /// Posted, but an earlier attempt may have posted too: the message may show twice.
    pub(crate) fn possible_duplicate(&self) -> bool {
        self.result.is_ok() && self.timed_out_after_send > 0
    }

    /// Failed, but every attempt timed out after sending: it may have been posted, so
    /// sending it again may show it twice.
    pub(crate) fn maybe_delivered(&self) -> bool {
        self.result.is_err() && self.attempts > 0 && self.timed_out_after_send == self.attempts
    }

    pub(crate) fn error_id(&self) -> Option<&str> {
        self.result
            .as_ref()
            .err()
            .and_then(|d| d.error_id.as_deref())
    }
}

/// The HTTP client, built once per process so several posts share one connection.
pub(crate) struct Deliverer {
    agent: ureq::Agent,
    policy: Policy,
    has_client_cert: bool,
    /// The proxy in effect, to name it when it is what failed.
    proxy: Option<ureq::Proxy>,
    trust: SystemTrust,
    gate: Option<std::sync::Arc<dyn Gate>>,
    /// The answers of the bot's REST requests since they were last taken.
    rest_log: std::sync::Mutex<Vec<RestAnswer>>,
}

impl Deliverer {
    pub(crate) fn new(args: &Settings) -> Result<Deliverer> {
        let proxy = ProxyChoice::from_arg(args.proxy.as_deref()).resolve()?;
        let tls = tls::config(&tls::TlsFiles {
            ca_file: args.ca_file.as_deref(),
            client_cert: args.client_cert.as_deref(),
            client_key: args.client_key.as_deref(),
        })?;
        Ok(Deliverer {
            agent: agent(proxy.clone(), tls, args.attempt_timeout),
            policy: Policy::from_settings(args),
            has_client_cert: args.client_cert.is_some(),
            proxy: proxy.clone(),
            trust: SystemTrust::new(args, proxy),
            gate: None,
            rest_log: std::sync::Mutex::default(),
        })
    }

    /// Every attempt from now on waits for the gate's turn first.
    pub(crate) fn set_gate(&mut self, gate: std::sync::Arc<dyn Gate>) {
        self.gate = Some(gate);
    }

    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Posts `body`, retrying what can succeed later, never past the budget.
    pub(crate) fn deliver(&self, url: &WebhookUrl, body: &[u8], channel: Option<&str>) -> Delivery {
        self.deliver_within(url, body, channel, &self.policy)
    }

    /// With another number of retries (`probe`: none).
    pub(crate) fn deliver_with(
        &self,
        url: &WebhookUrl,
        body: &[u8],
        channel: Option<&str>,
        retries: u32,
    ) -> Delivery {
        let policy = Policy {
            retries,
            ..self.policy.clone()
        };
        self.deliver_within(url, body, channel, &policy)
    }

    /// With another budget than this client's own (a post `run` makes for its job keeps
    /// the job's `--timeout`, `--attempt-timeout` and `--retries`).
    pub(crate) fn deliver_within(
        &self,
        url: &WebhookUrl,
        body: &[u8],
        channel: Option<&str>,
        policy: &Policy,
    ) -> Delivery {
        let retries = policy.retries;
        let mut progress = Progress {
            start: Instant::now(),
            attempts: 0,
            timed_out_after_send: 0,
        };
        if url.appears_in(body) {
            return progress.delivery(
                None,
                Err(Diagnosis {
                    kind: ExitKind::Input,
                    message: OWN_URL_IN_MESSAGE.to_string(),
                    error_id: None,
                    retryable: false,
                }),
            );
        }
        if let Some(gate) = &self.gate {
            if let Err(why) = gate.turn(url, None) {
                return progress.delivery(None, Err(not_let_through(why)));
            }
            // The budget is for delivering: waiting for the turn does not spend it.
            progress.start = Instant::now();
        }
        let deadline = progress.start + policy.budget;
        loop {
            progress.attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let per_attempt = policy.attempt_timeout.min(remaining);
            sent::reset();
            let (status, diagnosis, wait_hint) =
                match self.attempt(url, body, per_attempt, channel, progress.attempts) {
                    Attempt::Posted(status) => return progress.delivery(Some(status), Ok(())),
                    Attempt::Failed {
                        status,
                        diagnosis,
                        retry_after,
                        timed_out,
                    } => {
                        let diagnosis =
                            progress.note_failure(url, status, diagnosis, timed_out, per_attempt);
                        if let (Some(gate), Some(429), Some(wait)) =
                            (&self.gate, status, retry_after)
                        {
                            gate.retry_after(url, wait);
                        }
                        (status, diagnosis, retry_after)
                    }
                };
            if !diagnosis.retryable || progress.attempts > retries {
                return progress.delivery(status, Err(diagnosis));
            }
            let wait =
                wait_hint.unwrap_or_else(|| retry::backoff(progress.attempts, retry::random_u64()));
            if wait >= deadline.saturating_duration_since(Instant::now()) {
                let diagnosis = Self::gave_up(
                    policy,
                    diagnosis,
                    progress.attempts,
                    wait,
                    wait_hint.is_some(),
                );
                return progress.delivery(status, Err(diagnosis));
            }
            std::thread::sleep(wait);
            if let Some(gate) = &self.gate {
                if let Err(why) = gate.turn(url, Some(deadline)) {
                    let mut diagnosis = diagnosis;
                    diagnosis.message = format!("{}; {why}", diagnosis.message);
                    return progress.delivery(status, Err(diagnosis));
                }
            }
        }
    }

    /// The last failure, saying why no retry follows within the budget.
    fn gave_up(
        policy: &Policy,
        mut diagnosis: Diagnosis,
        attempts: u32,
        wait: Duration,
        server_asked: bool,
    ) -> Diagnosis {
        diagnosis.message = format!(
            "{} (gave up after {attempts} attempt{}: the next retry{} would pass the \
             --timeout budget of {})",
            diagnosis.message,
            if attempts == 1 { "" } else { "s" },
            if server_asked {
                format!(", which the server asked to delay by {}", fmt_secs(wait))
            } else {
                String::new()
            },
            format_duration(policy.budget)
        );
        diagnosis
    }

    /// One GET of the server's ping endpoint: proves DNS, TCP, proxy and TLS (client
    /// certificate included) with the same settings as a post, without posting anything.
    /// `within` caps this one request (doctor's remaining budget).
    pub(crate) fn ping(
        &self,
        url: &WebhookUrl,
        within: Duration,
    ) -> std::result::Result<u16, Diagnosis> {
        let timeout = self.policy.attempt_timeout.min(within);
        let ping = format!("{}/api/v4/system/ping", url.server_base());
        sent::reset();
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
                self.proxy_for(url),
            )),
        }
    }
}

fn fmt_secs(d: Duration) -> String {
    format_duration(Duration::from_secs(d.as_secs().max(1)))
}

/// The attempts of one delivery so far.
struct Progress {
    start: Instant,
    attempts: u32,
    timed_out_after_send: u32,
}

impl Progress {
    fn delivery(&self, http_status: Option<u16>, result: Result<(), Diagnosis>) -> Delivery {
        Delivery {
            attempts: self.attempts,
            elapsed: self.start.elapsed(),
            http_status,
            result,
            timed_out_after_send: self.timed_out_after_send,
        }
    }

    /// Counts an attempt that may have been posted, and says of a timeout whether the
    /// request went out.
    fn note_failure(
        &mut self,
        url: &WebhookUrl,
        status: Option<u16>,
        mut diagnosis: Diagnosis,
        timed_out: bool,
        per_attempt: Duration,
    ) -> Diagnosis {
        // A connection closed or reset after the whole request went out is as
        // unknowable as a timeout: the server may have posted it.
        if status.is_none() && sent::request_was_sent() {
            self.timed_out_after_send += 1;
        } else if timed_out {
            diagnosis.message = format!(
                "no answer from {}:{} within {} while connecting (TCP, proxy or TLS \
                 handshake); the request was not sent",
                url.host(),
                url.port(),
                format_duration(per_attempt)
            );
        }
        diagnosis
    }
}
