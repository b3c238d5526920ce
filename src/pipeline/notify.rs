//! The path every post takes once its payload is ready: resolve the webhook, deliver, keep
//! what could not be delivered in the spool, and turn the result into an outcome and an
//! exit code. `send`, `build`, `run` and `flush` all go through here.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use serde_json::Value;

use crate::error::{self, ExitKind};
use crate::pipeline::output::{describe_delivery, Handled, Outcome, Printer, Status};
use crate::pipeline::pace::{Pace, Pacing};
use crate::secret::{Source, Sources, WebhookUrl};
use crate::state::dedupe::{ClaimGuard, Dedupe};
use crate::state::fingerprint::FingerprintKey;
use crate::state::spool::{Spool, SpoolItem, SpoolKind};
use crate::state::statedir;
use crate::story::history::RunNote;
use crate::text::time::now_ms;
use crate::wire::deliver::{self, Deliverer, Delivery, Policy};

pub(crate) struct Notifier {
    pub url: WebhookUrl,
    pub source: Source,
    pub deliverer: Deliverer,
    pub printer: Printer,
}

/// Where undelivered payloads go, if anywhere.
#[derive(Debug, Clone)]
pub(crate) struct SpoolPlan {
    pub state_dir: Option<PathBuf>,
    pub enabled: bool,
    pub kind: SpoolKind,
    /// The shared dedupe store's source, recorded so that flush claims the key there.
    pub store: Option<String>,
    /// A build's run, recorded in its job's history when `flush` finally posts it.
    pub history: Option<RunNote>,
}

impl SpoolPlan {
    /// The plan of a command: its `--state-dir` (`None`: the default) and `--no-spool`.
    pub(crate) fn new(state_dir: Option<PathBuf>, no_spool: bool, kind: SpoolKind) -> SpoolPlan {
        SpoolPlan {
            state_dir,
            enabled: !no_spool,
            kind,
            store: None,
            history: None,
        }
    }
}

pub(crate) fn state_dir(explicit: Option<&std::path::Path>) -> Result<PathBuf> {
    statedir::resolve(explicit, &|k| std::env::var(k).ok())
}

impl Notifier {
    pub(crate) fn connect(
        webhook: &Sources,
        delivery: &deliver::Settings,
        printer: Printer,
    ) -> Result<Notifier> {
        let (url, source) = webhook.resolve()?;
        Notifier::with_url(url, source, delivery, printer)
    }

    pub(crate) fn with_url(
        url: WebhookUrl,
        source: Source,
        delivery: &deliver::Settings,
        printer: Printer,
    ) -> Result<Notifier> {
        if !url.is_https() && !url.is_loopback() {
            printer.warn(&format!(
                "{url} uses plain http to a non-loopback host: the webhook token travels \
                 unencrypted"
            ));
        }
        let deliverer = Deliverer::new(delivery)?;
        printer.info(&format!("webhook {url} from {}", source.describe()));
        Ok(Notifier {
            url,
            source,
            deliverer,
            printer,
        })
    }

    /// Paces every post of this notifier (`--rate-limit`, the 429 pause; see
    /// `pipeline::pace`). Returns the pace, whose waiting time the metrics report.
    pub(crate) fn pace(
        &mut self,
        pacing: &Pacing,
        delivery: &deliver::Settings,
    ) -> Result<Option<Arc<Pace>>> {
        let Some(pace) = pacing.pace(delivery)? else {
            return Ok(None);
        };
        let pace = Arc::new(pace);
        self.deliverer.set_gate(pace.clone());
        Ok(Some(pace))
    }

    fn deliver(&self, body: &[u8], channel: Option<&str>, policy: &Policy) -> Delivery {
        let d = self
            .deliverer
            .deliver_within(&self.url, body, channel, policy);
        self.printer.info(&describe_delivery(&d, &self.url));
        if d.possible_duplicate() {
            self.printer.warn(&possible_duplicate_warning(&d));
        }
        d
    }

    /// Delivers and, when retries ran out on something that can succeed later, saves the
    /// payload in the spool. Returns the outcome and, on failure, the error to exit with.
    pub(crate) fn post(
        &self,
        payload: &Value,
        body: &[u8],
        channel: Option<&str>,
        spool: &SpoolPlan,
        dedupe_key: Option<&str>,
    ) -> Handled {
        self.post_within(
            self.deliverer.policy(),
            payload,
            body,
            channel,
            spool,
            dedupe_key,
        )
    }

    /// [`Notifier::post`] with another budget than this notifier's own: a post `run`
    /// makes for its job keeps the job's.
    pub(crate) fn post_within(
        &self,
        policy: &Policy,
        payload: &Value,
        body: &[u8],
        channel: Option<&str>,
        spool: &SpoolPlan,
        dedupe_key: Option<&str>,
    ) -> Handled {
        let d = self.deliver(body, channel, policy);
        let mut outcome = Outcome::from_delivery(&d, &self.url);
        if d.possible_duplicate() {
            outcome = outcome.with("possible_duplicate", true);
        }
        let Err(diag) = &d.result else {
            return (outcome, None);
        };
        let mut message = format!("{}: {}", self.url, diag.message);
        let spoolable = matches!(diag.kind, ExitKind::Network | ExitKind::Server) && diag.retryable;
        if spoolable && spool.enabled {
            let tries = (d.attempts, d.maybe_delivered());
            match self.save(payload, spool, dedupe_key, &diag.message, tries) {
                Ok(path) => {
                    outcome.status = Status::Spooled;
                    outcome = outcome.with("spool_file", path.display().to_string());
                    message.push_str(&format!(
                        "; saved in the spool as {}: run `mmnotify flush` to deliver it later",
                        path.display()
                    ));
                }
                Err(e) => {
                    self.printer
                        .warn(&format!("could not save the message in the spool: {e:#}"));
                }
            }
        }
        outcome.message = Some(message.clone());
        (outcome, Some(error::fail(diag.kind, message)))
    }

    /// Saves a payload that was not even tried (its dedupe store is unreachable) and
    /// returns the `spooled` (or `failed`) outcome with a network error.
    pub(crate) fn keep(
        &self,
        payload: &Value,
        plan: &SpoolPlan,
        dedupe_key: Option<&str>,
        message: &str,
    ) -> (Outcome, anyhow::Error) {
        let mut outcome = Outcome::new(Status::Failed);
        outcome.target = Some(self.url.redacted());
        let mut message = message.to_string();
        if plan.enabled {
            match self.save(payload, plan, dedupe_key, &message, (0, false)) {
                Ok(path) => {
                    outcome.status = Status::Spooled;
                    outcome = outcome.with("spool_file", path.display().to_string());
                    message.push_str(&format!(
                        "; saved in the spool as {}: run `mmnotify flush` once the store is \
                         back",
                        path.display()
                    ));
                }
                Err(e) => self
                    .printer
                    .warn(&format!("could not save the message in the spool: {e:#}")),
            }
        }
        outcome.message = Some(message.clone());
        (outcome, error::fail(ExitKind::Network, message))
    }

    fn save(
        &self,
        payload: &Value,
        plan: &SpoolPlan,
        dedupe_key: Option<&str>,
        last_error: &str,
        (attempts, maybe_delivered): (u32, bool),
    ) -> Result<PathBuf> {
        let dir = state_dir(plan.state_dir.as_deref())?;
        let spool = Spool::open(&dir)?;
        // An `env` item names no webhook by itself: bind it to this one.
        let webhook_hmac = match self.source {
            Source::Env => {
                Some(FingerprintKey::load_or_create(&dir)?.fingerprint(self.url.expose()))
            }
            _ => None,
        };
        let item = SpoolItem {
            version: 1,
            created_at_ms: now_ms(),
            source: self.source.spool_ref(),
            dedupe_key: dedupe_key.map(str::to_string),
            payload: payload.clone(),
            last_error: last_error.to_string(),
            attempts,
            kind: plan.kind.clone(),
            webhook_hmac,
            maybe_delivered,
            store: plan.store.clone(),
            stream: None,
            history: plan
                .history
                .as_ref()
                .and_then(|n| serde_json::to_value(n).ok()),
        };
        spool.save(&item)
    }
}

/// What to tell the user when a post went through on a retry after a try that may have
/// gone through too.
pub(crate) fn possible_duplicate_warning(d: &Delivery) -> String {
    format!(
        "posted, but the message may appear twice: {} earlier attempt{} got no answer \
         (timed out or cut off) after the request was sent, and the server may have posted {}",
        d.timed_out_after_send,
        if d.timed_out_after_send == 1 { "" } else { "s" },
        if d.timed_out_after_send == 1 {
            "it"
        } else {
            "them"
        },
    )
}

/// Opens the local dedupe store for `build` and for builds relayed by `run`. A state
/// directory that fails the Trust rules stops everything (exit 3); one that merely cannot
/// be written gives `None`, with a warning: posts then go out undeduplicated, because a
/// lost post is worse than a repeated one.
pub(crate) fn open_dedupe(
    printer: &Printer,
    explicit: Option<&std::path::Path>,
    ttl: std::time::Duration,
) -> Result<Option<Dedupe>> {
    let dir = state_dir(explicit)?;
    for d in [dir.clone(), dir.join("dedupe")] {
        statedir::check_trusted_dir(&d)?;
    }
    match Dedupe::open(&dir, ttl) {
        Ok(store) => {
            if let Err(e) = store.prune() {
                printer.warn(&format!("pruning old deduplication entries: {e:#}"));
            }
            Ok(Some(store))
        }
        Err(e) => {
            printer.warn(&format!(
                "cannot use the deduplication store in {} ({e:#}): posting without \
                 deduplication, so duplicates are possible until it is writable again",
                dir.display()
            ));
            Ok(None)
        }
    }
}

/// A claim could not be made in a store that is ours alone: the post goes out anyway,
/// because losing it would be worse than a possible repeat. `who` prefixes the warning
/// (an item's name in `flush`), or is empty.
pub(crate) fn warn_undeduplicated(printer: &Printer, who: &str, e: &anyhow::Error) {
    printer.warn(&format!(
        "{who}cannot use the deduplication store ({e:#}): posting without deduplication, \
         so this message may be posted twice"
    ));
}

/// Records a delivered post for deduplication. The post is out whatever the store says,
/// so a failure here only warns.
pub(crate) fn record_delivered(printer: &Printer, who: &str, guard: ClaimGuard) {
    if let Err(e) = guard.delivered() {
        printer.warn(&format!(
            "{who}posted, but could not record it for deduplication: {e:#}"
        ));
    }
}
