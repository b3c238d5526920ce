//! `mmnotify flush`: re-deliver what the spool holds, oldest first, under a lock so two
//! flushes never post one item twice.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::cli::FlushArgs;
use crate::commands::config;
use crate::commands::spool::{one_line, rfc3339};
use crate::error::{self, ExitKind};
use crate::gateway;
use crate::gateway::queue::Queue;
use crate::gateway::store::SharedStore;
use crate::pipeline::bot::{self, BotConn, BotItem};
use crate::pipeline::notify;
use crate::pipeline::output::{print_stderr_line, Ending, Outcome, Printer, Status};
use crate::pipeline::pace::Pacing;
use crate::pipeline::progress::Progress;
use crate::pipeline::story;
use crate::secret::{BotSources, Sources, WebhookUrl};
use crate::state::dedupe::{Claim, ClaimGuard, Dedupe, DedupeKey, DedupeStore};
use crate::state::fingerprint::FingerprintKey;
use crate::state::spool::{Skipped, Spool, SpoolEntry, SpoolItem, SpoolKind};
use crate::story::history::RunNote;
use crate::text::time::{self, now_ms};
use crate::wire::deliver::{self, Deliverer, Delivery};
use crate::wire::payload::Payload;
use crate::wire::retry;

/// How long a delivered build key is remembered when flush checks it (build's default).
const DEDUPE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// A `.tmp-*` file this old was left by a writer that died: writers rename within
/// moments.
const STALE_TEMP: Duration = Duration::from_secs(3600);
/// A post this late says so: readers would otherwise take it for news.
const DELAYED_AFTER: Duration = Duration::from_secs(60);
/// Fewer items go by too fast for a progress bar to help.
const PROGRESS_MIN_ITEMS: usize = 5;

#[derive(Default)]
struct Tally {
    posted: usize,
    /// Events saved by `build --enqueue` and now added to their stream: not posts.
    enqueued: usize,
    duplicate: usize,
    rejected: usize,
    /// Older than `--max-age`: moved to `rejected/` unposted.
    expired: usize,
    failed: usize,
    unresolved: usize,
    /// Left untouched because their webhook was unreachable earlier in this run.
    not_tried: usize,
    /// Not ours to trust (Trust rules): never read.
    skipped: usize,
    worst: Option<ExitKind>,
}

/// What one run of flush has learnt so far.
struct Run<'a> {
    spool: &'a Spool,
    sources: &'a Sources,
    deliverer: &'a Deliverer,
    /// The delivery flags, for the bot items' own clients.
    delivery: &'a deliver::Settings,
    /// `None` when the store cannot be used: items then go out undeduplicated.
    dedupe: Option<&'a Dedupe>,
    /// Shared Redis stores and queues named by items, connected on first use.
    redis: gateway::flush::Stores<'a>,
    printer: &'a Printer,
    /// The key of `env` items' fingerprints, when the state dir has one.
    key: Option<FingerprintKey>,
    /// Webhooks (full URLs, never shown) that failed to connect in this run: one
    /// network failure is enough to know that the next item would wait as long.
    unreachable: HashSet<String>,
    max_age: Option<Duration>,
    tally: Tally,
}

/// The deliverer for the whole flush, paced by `--rate-limit`: one budget per webhook,
/// shared through the dedupe store given (as `build` shares it), else for this flush
/// alone.
fn paced_deliverer(args: &FlushArgs, delivery: &deliver::Settings) -> Result<Deliverer> {
    let mut deliverer = Deliverer::new(delivery)?;
    let store = gateway::url::RedisSources::new(
        gateway::url::Role::Store,
        args.store.dedupe_store_file.clone(),
        args.store.dedupe_store.clone(),
    )
    .resolve(gateway::url::Role::Store)
    // A store that cannot be resolved now is reported by the items that need it; the
    // budget is then this flush's own.
    .ok()
    .flatten();
    let pacing = Pacing {
        shared: store.map(|(url, _)| url),
        ..config::pacing(&args.rate, delivery.timeout)
    };
    if let Some(pace) = pacing.pace(delivery)? {
        deliverer.set_gate(std::sync::Arc::new(pace));
    }
    Ok(deliverer)
}

pub(super) fn run(args: FlushArgs) -> Result<Ending> {
    // Item file names and sources are whatever was written to the spool, which may be a
    // file named after a token (`2-<id>.json`) or a forged `name:<id>`.
    let printer = Printer::from(&args.output).quoting_untrusted_names();
    let dir = notify::state_dir(args.state_dir.path())?;
    let spool = Spool::open(&dir)?;
    // Another flush may be delivering right now; waiting for it beats racing it, and it
    // finishes within its own budget per item.
    let wait = args.delivery.timeout.max(Duration::from_secs(5));
    let Some(_lock) = spool.lock(wait)? else {
        let why = "another `mmnotify flush` holds the spool; it will deliver the items";
        printer.warn(why);
        let mut outcome = Outcome::new(Status::Flushed);
        outcome.message = Some(why.to_string());
        return Ok(Ending::outcome(outcome, None));
    };
    let (entries, skipped) = tidy_and_list(&printer, &spool)?;
    if entries.is_empty() {
        printer.info("the spool is empty");
        let tally = Tally {
            skipped: skipped.len(),
            ..Tally::default()
        };
        return Ok(Ending::outcome(summary(&printer, &tally), None));
    }
    let sources = Sources {
        file: None,
        name: None,
        secrets_dir: args.secrets_dir.path().to_path_buf(),
        env_url: crate::secret::env_url(),
    };
    let delivery = deliver::Settings::from(&args.delivery);
    let deliverer = paced_deliverer(&args, &delivery)?;
    // An unusable store must not keep the spool from draining (a lost post is worse
    // than a repeated one); open_dedupe warns and still refuses an untrusted one.
    let dedupe = notify::open_dedupe(&printer, Some(&dir), DEDUPE_TTL)?;
    let mut run = Run {
        spool: &spool,
        sources: &sources,
        deliverer: &deliverer,
        delivery: &delivery,
        dedupe: dedupe.as_ref(),
        redis: gateway::flush::Stores::new(
            &Queue::from(&args.queue),
            &SharedStore::from(&args.store),
            &delivery,
        ),
        printer: &printer,
        key: FingerprintKey::load(&dir)?,
        unreachable: HashSet::new(),
        max_age: args.max_age,
        tally: Tally {
            skipped: skipped.len(),
            ..Tally::default()
        },
    };
    let progress = (entries.len() >= PROGRESS_MIN_ITEMS)
        .then(|| Progress::start(&printer, Some(entries.len() as u64), "items"));
    for entry in &entries {
        if let Err(e) = run.flush_one(entry) {
            printer.warn(&format!("{}: {e:#}", entry.path.display()));
            run.tally.unresolved += 1;
        }
        if let Some(p) = &progress {
            p.inc();
        }
    }
    drop(progress);
    let tally = run.tally;
    let mut outcome = summary(&printer, &tally);
    let err = left_behind(&tally, &spool);
    if err.is_some() {
        // A script reading only `status` must not take a failed flush for a done one.
        outcome.status = Status::Failed;
    }
    Ok(Ending::outcome(outcome, err))
}

impl Run<'_> {
    /// Each step below either hands on what the next one needs or returns `None` once it
    /// has dealt with the item (moved, kept or counted) itself.
    fn flush_one(&mut self, entry: &SpoolEntry) -> Result<()> {
        let name = entry
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((item, age)) = self.admit(entry, &name)? else {
            return Ok(());
        };
        let Some(url) = self.webhook(item, &name) else {
            return Ok(());
        };
        let Some(claim) = self.claim(entry, item, &name)? else {
            return Ok(());
        };
        if item.maybe_delivered {
            self.printer.warn(&format!(
                "{name}: every earlier try got no answer after the request was sent, so the \
                 server may have posted it already; sending it again may show it twice"
            ));
        }
        let payload = with_delay_note(item, age)?;
        let body = serde_json::to_vec(&payload)?;
        let channel = payload.get("channel").and_then(|c| c.as_str());
        let d = self.deliverer.deliver(&url, &body, channel);
        if d.possible_duplicate() {
            self.printer.warn(&format!(
                "{name}: {}",
                notify::possible_duplicate_warning(&d)
            ));
        }
        self.settle(entry, item, &name, &url, &d, claim)?;
        // Final now (posted, or refused by the server): the run joins its job's history,
        // as it would have had it been posted at once.
        let refused = crate::wire::retry::rejected(d.http_status);
        if d.is_success() || (refused && d.result.as_ref().is_err_and(|e| !e.retryable)) {
            self.record_history(item, &name);
        }
        Ok(())
    }

    /// Records a flushed build's run in its job's history, in the store the item was
    /// spooled with (its shared store, else the local one). Items from before the note
    /// existed, and other kinds, carry none.
    fn record_history(&mut self, item: &SpoolItem, name: &str) {
        let Some(note) = item
            .history
            .clone()
            .and_then(|v| serde_json::from_value::<RunNote>(v).ok())
        else {
            return;
        };
        let prefix = format!("{name}: ");
        match &item.store {
            Some(reference) => match self.redis.store(reference) {
                Ok(store) => story::record(&store, &note, self.printer, &prefix),
                Err(e) => self.printer.warn(&format!(
                    "{prefix}cannot record the run in the job's history: {e:#}"
                )),
            },
            None => {
                if let Some(store) = self.dedupe {
                    story::record(store, &note, self.printer, &prefix);
                }
            }
        }
    }

    /// Sorts out what is not to be posted now: unreadable and expired items, spooled
    /// enqueues and kinds this version does not deliver. Returns the item and its age.
    fn admit<'e>(
        &mut self,
        entry: &'e SpoolEntry,
        name: &str,
    ) -> Result<Option<(&'e SpoolItem, Duration)>> {
        let (spool, printer) = (self.spool, self.printer);
        let item = match &entry.item {
            Ok(item) => item,
            Err(why) => {
                let to = spool.reject(entry, &format!("unreadable spool item: {why}"))?;
                printer.warn(&format!(
                    "{name} is unreadable ({why}); moved to {}",
                    to.display()
                ));
                self.tally.rejected += 1;
                return Ok(None);
            }
        };
        let age = Duration::from_millis(now_ms().saturating_sub(item.created_at_ms));
        if let Some(max_age) = self.max_age.filter(|max| age > *max) {
            let reason = format!(
                "expired: first tried {}, more than --max-age {} ago",
                rfc3339(item.created_at_ms),
                time::format_duration(max_age)
            );
            let to = spool.reject(entry, &reason)?;
            printer.info(&format!("{name}: {reason}; moved to {}", to.display()));
            self.tally.expired += 1;
            return Ok(None);
        }
        match &item.kind {
            SpoolKind::Send | SpoolKind::Build | SpoolKind::Run => Ok(Some((item, age))),
            SpoolKind::Enqueue => {
                self.flush_enqueue(entry, item);
                Ok(None)
            }
            SpoolKind::Bot => {
                self.flush_bot(entry, item, name)?;
                Ok(None)
            }
            SpoolKind::Other(kind) => {
                printer.warn(&format!(
                    "{name}: its kind `{}` is not one this mmnotify delivers (saved by \
                     another version?); kept in the spool",
                    one_line(kind)
                ));
                self.tally.unresolved += 1;
                Ok(None)
            }
        }
    }

    /// The webhook the item was spooled for, if it can be found, is still the one an
    /// `env` item was bound to, and has not already failed to connect in this run.
    fn webhook(&mut self, item: &SpoolItem, name: &str) -> Option<WebhookUrl> {
        let printer = self.printer;
        let (url, _source) = match self.sources.resolve_spool_ref(&item.source) {
            Ok(found) => found,
            Err(e) => {
                printer.warn(&format!(
                    "{name}: its webhook ({}) cannot be resolved now, kept for later: {e:#}",
                    item.source
                ));
                self.tally.unresolved += 1;
                return None;
            }
        };
        if item.source == "env" {
            if let Err(why) = self.check_env_binding(item, url.expose()) {
                printer.warn(&format!("{name}: {why}; kept in the spool"));
                self.tally.unresolved += 1;
                return None;
            }
        }
        if self.unreachable.contains(url.expose()) {
            self.tally.not_tried += 1;
            return None;
        }
        Some(url)
    }

    /// Claims a build's key again, in the shared store it was spooled with or else the
    /// local one. `Some(None)`: post without a claim (no key, or no usable local store).
    fn claim(
        &mut self,
        entry: &SpoolEntry,
        item: &SpoolItem,
        name: &str,
    ) -> Result<Option<Option<ClaimGuard>>> {
        let (spool, printer) = (self.spool, self.printer);
        let key = item.dedupe_key.as_deref().and_then(DedupeKey::from_hex);
        let shared = match &item.store {
            Some(reference) => match self.redis.store(reference) {
                Ok(s) => Some(s),
                Err(e) => {
                    printer.warn(&format!(
                        "{name}: its dedupe store ({reference}) cannot be resolved now, kept \
                         for later: {e:#}"
                    ));
                    self.tally.unresolved += 1;
                    return Ok(None);
                }
            },
            None => None,
        };
        let budget = self.deliverer.policy().budget;
        let claim = match (&key, &shared, self.dedupe) {
            (Some(k), Some(store), _) => match store.claim(k, budget) {
                // The shared store is away: posting now could post twice.
                Err(e) if error::exit_kind(&e) == ExitKind::Network => {
                    printer.warn(&format!("{name}: {e:#}; kept in the spool"));
                    self.tally.failed += 1;
                    self.tally.worst = self.tally.worst.max(Some(ExitKind::Network));
                    return Ok(None);
                }
                other => other?,
            },
            (Some(k), None, Some(store)) => match store.claim(k, budget) {
                Err(e) => {
                    notify::warn_undeduplicated(printer, &format!("{name}: "), &e);
                    return Ok(Some(None));
                }
                Ok(claim) => claim,
            },
            _ => return Ok(Some(None)),
        };
        match claim {
            Claim::Duplicate => {
                spool.remove(entry)?;
                printer.info(&format!("{name}: already delivered meanwhile, removed"));
                self.tally.duplicate += 1;
                Ok(None)
            }
            Claim::Acquired(guard) => Ok(Some(Some(guard))),
        }
    }

    /// Removes, keeps or rejects the item after a delivery, by what the server said.
    fn settle(
        &mut self,
        entry: &SpoolEntry,
        item: &SpoolItem,
        name: &str,
        url: &WebhookUrl,
        d: &Delivery,
        claim: Option<ClaimGuard>,
    ) -> Result<()> {
        let (spool, printer) = (self.spool, self.printer);
        match &d.result {
            Ok(()) => {
                if let Some(guard) = claim {
                    // The post is out: the item must go whatever the store says, or the
                    // next flush would post it again.
                    notify::record_delivered(printer, &format!("{name}: "), guard);
                }
                spool.remove(entry)?;
                printer.info(&format!(
                    "{name}: posted to {url} after {} attempt(s)",
                    d.attempts
                ));
                self.tally.posted += 1;
            }
            Err(diag) if diag.retryable || diag.kind == ExitKind::Network => {
                let mut updated = item.clone();
                updated.attempts += d.attempts;
                updated.last_error.clone_from(&diag.message);
                // Once it may have been posted, it stays so.
                updated.maybe_delivered |= d.maybe_delivered();
                spool.update(entry, &updated)?;
                printer.warn(&format!(
                    "{name}: {url}: {}; kept in the spool",
                    diag.message
                ));
                if diag.kind == ExitKind::Network {
                    self.unreachable.insert(url.expose().to_string());
                }
                self.tally.failed += 1;
                self.tally.worst = self.tally.worst.max(Some(diag.kind));
            }
            Err(diag) => {
                // The server gave a final answer (4xx, or a 500 that may have posted part
                // of it): retrying cannot help, and the reason must stay readable.
                let to = spool.reject(entry, &format!("{url}: {}", diag.message))?;
                printer.warn(&format!(
                    "{name}: {url}: {}; moved to {}",
                    diag.message,
                    to.display()
                ));
                self.tally.rejected += 1;
            }
        }
        Ok(())
    }

    /// A bot event (issue 18): the same run's post is patched or created, through the
    /// item's own bot and channel, claimed in the store it was spooled with.
    fn flush_bot(&mut self, entry: &SpoolEntry, item: &SpoolItem, name: &str) -> Result<()> {
        let (spool, printer) = (self.spool, self.printer);
        let Some((channel, event)) = BotItem::from_json(&item.payload) else {
            let to = spool.reject(entry, "not a bot event")?;
            printer.warn(&format!(
                "{name}: not a bot event; moved to {}",
                to.display()
            ));
            self.tally.rejected += 1;
            return Ok(());
        };
        let bots = BotSources {
            secrets_dir: self.sources.secrets_dir.clone(),
            ..BotSources::default()
        }
        .with_env();
        let kept = |this: &mut Self, why: String| {
            printer.warn(&format!("{name}: {why}; kept in the spool"));
            this.tally.unresolved += 1;
        };
        let (token, source) = match bots.resolve_spool_ref(&item.source) {
            Ok(found) => found,
            Err(e) => {
                kept(
                    self,
                    format!("its bot ({}) cannot be resolved now: {e:#}", item.source),
                );
                return Ok(());
            }
        };
        if item.source == "env" {
            if let Err(why) = self.check_env_binding(item, token.expose_for_hash()) {
                kept(self, why);
                return Ok(());
            }
        }
        let shared = match &item.store {
            Some(reference) => match self.redis.store(reference) {
                Ok(s) => Some(s),
                Err(e) => {
                    kept(
                        self,
                        format!("its dedupe store ({reference}) cannot be resolved now: {e:#}"),
                    );
                    return Ok(());
                }
            },
            None => None,
        };
        let store: Option<&dyn DedupeStore> = match (&shared, self.dedupe) {
            (Some(s), _) => Some(s),
            (None, Some(d)) => Some(d),
            (None, None) => None,
        };
        let key = item.dedupe_key.as_deref().and_then(DedupeKey::from_hex);
        let conn = match BotConn::connect_with(token, source, &channel, self.delivery) {
            Ok(conn) => conn,
            Err(e) => {
                let status = error::answer_of(&e).and_then(|a| a.http_status);
                return self.settle_bot(entry, item, name, (Err(e), status));
            }
        };
        let result = bot::post(&conn, printer, store, key.as_ref(), &event);
        let answers = conn.reported_answers(printer);
        // Final now (posted, or refused by the server with an answer a retry would not
        // change, the one rule of `wire::retry::rejected`: a 3xx or 405 too): the run
        // joins its job's history, as it would have had it been posted at once. Not when
        // only the connection failed, nor when the item stays in the spool: `build`
        // records nothing then either.
        let status = answers
            .iter()
            .rev()
            .find(|a| !a.is_success())
            .and_then(|a| a.status);
        let refused = result.as_ref().is_err_and(|e| {
            !retry::curable(error::exit_kind(e), status) && retry::rejected(status)
        });
        if matches!(result, Ok(Some(_))) || refused {
            self.record_history(item, name);
        }
        self.settle_bot(entry, item, name, (result, status))
    }

    /// What became of a flushed bot event (`status`: the answer that failed it): removed
    /// when its run's post is up to date (or was already), kept while another delivery may
    /// post it (the rule `build` spooled it by: a 500 is final, as for a webhook item),
    /// rejected otherwise.
    fn settle_bot(
        &mut self,
        entry: &SpoolEntry,
        item: &SpoolItem,
        name: &str,
        (result, status): (Result<Option<String>>, Option<u16>),
    ) -> Result<()> {
        let (spool, printer) = (self.spool, self.printer);
        match result {
            Ok(Some(post_id)) => {
                spool.remove(entry)?;
                printer.info(&format!("{name}: the run's post {post_id} is up to date"));
                self.tally.posted += 1;
            }
            Ok(None) => {
                spool.remove(entry)?;
                printer.info(&format!("{name}: already delivered meanwhile, removed"));
                self.tally.duplicate += 1;
            }
            Err(e) if retry::curable(error::exit_kind(&e), status) => {
                let mut updated = item.clone();
                updated.attempts += 1;
                updated.last_error = format!("{e:#}");
                spool.update(entry, &updated)?;
                printer.warn(&format!("{name}: {e:#}; kept in the spool"));
                self.tally.failed += 1;
                self.tally.worst = self.tally.worst.max(Some(error::exit_kind(&e)));
            }
            Err(e) => {
                let to = spool.reject(entry, &format!("{e:#}"))?;
                printer.warn(&format!("{name}: {e:#}; moved to {}", to.display()));
                self.tally.rejected += 1;
            }
        }
        Ok(())
    }

    /// An event saved by `build --enqueue` while Redis was away: add it to its stream.
    fn flush_enqueue(&mut self, entry: &SpoolEntry, item: &SpoolItem) {
        let (spool, printer) = (self.spool, self.printer);
        let name = entry.path.display();
        match self.redis.enqueue(item) {
            Ok(id) => {
                if let Err(e) = spool.remove(entry) {
                    printer.warn(&format!("{name}: enqueued as {id}, but {e:#}"));
                }
                printer.info(&format!("{name}: enqueued as entry {id}"));
                self.tally.enqueued += 1;
            }
            Err(e) if error::exit_kind(&e) == ExitKind::Network => {
                let mut updated = item.clone();
                updated.attempts += 1;
                updated.last_error = format!("{e:#}");
                if let Err(e) = spool.update(entry, &updated) {
                    printer.warn(&format!("{name}: {e:#}"));
                }
                printer.warn(&format!("{name}: {e:#}; kept in the spool"));
                self.tally.failed += 1;
                self.tally.worst = self.tally.worst.max(Some(ExitKind::Network));
            }
            Err(e) => {
                printer.warn(&format!(
                    "{name}: its queue ({}) cannot be used now, kept for later: {e:#}",
                    item.source
                ));
                self.tally.unresolved += 1;
            }
        }
    }

    /// An `env` item goes only to the webhook it was spooled for: the variable may
    /// name another one now (another job, another team).
    fn check_env_binding(&self, item: &SpoolItem, url: &str) -> Result<(), String> {
        let Some(fingerprint) = &item.webhook_hmac else {
            // Saved by an older mmnotify: nothing tells which webhook it was for, and
            // posting it to the wrong one would leak it. The operator decides.
            return Err(
                "it was spooled from MATTERMOST_WEBHOOK_URL without a webhook fingerprint \
                 (an older mmnotify), so it cannot be matched to this webhook; post it by \
                 hand or remove the file"
                    .to_string(),
            );
        };
        match &self.key {
            Some(key) if key.matches(url, fingerprint) => Ok(()),
            Some(_) => Err("this item belongs to another webhook than the current \
                 MATTERMOST_WEBHOOK_URL; flush it with the variable it was spooled with"
                .to_string()),
            None => Err(
                "the state directory's spool.key is gone, so this item cannot be matched to \
                 a webhook; post it by hand or remove the file"
                    .to_string(),
            ),
        }
    }
}

/// Clears what interrupted writers left, then lists the items, saying which files are
/// not trusted.
fn tidy_and_list(printer: &Printer, spool: &Spool) -> Result<(Vec<SpoolEntry>, Vec<Skipped>)> {
    let stale = spool.remove_stale_temp_files(STALE_TEMP);
    if stale > 0 {
        printer.info(&format!(
            "removed {stale} half-written file{} left by interrupted writers",
            if stale == 1 { "" } else { "s" }
        ));
    }
    let (entries, skipped) = spool.list_checked()?;
    for s in &skipped {
        printer.warn(&format!(
            "{} is not trusted ({}): skipped, never posted; only regular files of mode 0600 \
             owned by you are delivered",
            s.path.display(),
            s.why
        ));
    }
    Ok((entries, skipped))
}

/// The error for what stays in the spool after this run, if anything does.
fn left_behind(tally: &Tally, spool: &Spool) -> Option<anyhow::Error> {
    match tally.worst {
        Some(kind) => Some(error::fail(
            kind,
            format!(
                "{} could not be delivered and {} in {}{}",
                spooled_messages(tally.failed),
                stay(tally.failed),
                spool.dir().display(),
                if tally.not_tried > 0 {
                    format!(
                        "; {} more for the same webhook not tried in this run",
                        tally.not_tried
                    )
                } else {
                    String::new()
                }
            ),
        )),
        // Items kept because their webhook cannot be resolved need the operator, not
        // time: say so with the configuration code rather than success.
        // An enqueue item needs its queue, not a webhook: the message names both.
        None if tally.unresolved > 0 => Some(error::config(format!(
            "{} {} in {} because what {} cannot be used now (a webhook, queue or \
             dedupe store that cannot be resolved, or a kind this mmnotify does not \
             deliver; see the warnings above)",
            spooled_messages(tally.unresolved),
            stay(tally.unresolved),
            spool.dir().display(),
            if tally.unresolved == 1 {
                "it needs"
            } else {
                "they need"
            }
        ))),
        None => None,
    }
}

fn spooled_messages(n: usize) -> String {
    format!("{n} spooled message{}", if n == 1 { "" } else { "s" })
}

/// The verb agrees with the count: 1 message stays, 2 messages stay.
fn stay(n: usize) -> &'static str {
    if n == 1 {
        "stays"
    } else {
        "stay"
    }
}

/// The payload to post: a post this late says when it was first tried.
fn with_delay_note(item: &SpoolItem, age: Duration) -> Result<Value> {
    let mut payload = item.payload.clone();
    if age > DELAYED_AFTER {
        if let Value::Object(obj) = &payload {
            let mut post = Payload::from_object(obj.clone())?;
            post.append_last_line(&format!(
                "_(delayed: first tried {})_",
                rfc3339(item.created_at_ms)
            ));
            payload = Value::Object(post.to_object()?);
        }
    }
    Ok(payload)
}

/// Says on stderr what this run did (when it did something), and returns its outcome
/// with the counts.
fn summary(printer: &Printer, t: &Tally) -> Outcome {
    let outcome = Outcome::new(Status::Flushed)
        .with("posted", t.posted)
        .with("enqueued", t.enqueued)
        .with("duplicate", t.duplicate)
        .with("rejected", t.rejected)
        .with("expired", t.expired)
        .with("failed", t.failed)
        .with("unresolved", t.unresolved)
        .with("not_tried", t.not_tried)
        .with("skipped", t.skipped);
    // A timer runs flush every few minutes: a run that changed nothing is not worth a
    // log line. Items it could only skip (untrusted), leave (unresolved) or keep
    // (failed, not tried) already have their warnings and, for the last three, the
    // final error; the summary adds nothing the operator needs then.
    let did_something = [t.posted, t.enqueued, t.duplicate, t.rejected, t.expired]
        .iter()
        .any(|&n| n > 0);
    if !printer.quiet && (did_something || printer.verbose) {
        // Enqueues are named only when there were some: most spools never hold one.
        let enqueued = if t.enqueued > 0 {
            format!(", {} enqueued", t.enqueued)
        } else {
            String::new()
        };
        print_stderr_line(&format!(
            "mmnotify: flush: {} posted{enqueued}, {} duplicate, {} rejected, {} expired, \
             {} failed, {} unresolved, {} not tried, {} skipped",
            t.posted,
            t.duplicate,
            t.rejected,
            t.expired,
            t.failed,
            t.unresolved,
            t.not_tried,
            t.skipped
        ));
    }
    outcome
}
