//! The gateways' end of the queue, `build --consume`: reads the stream through a consumer
//! group and hands each entry to the same function as one line of `--events`, then
//! acknowledges it once its outcome is final; what a retry can cure stays pending, for
//! this gateway or another to claim once idle. The builders' end is in `enqueue.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use redis::streams::{
    StreamAutoClaimReply, StreamId, StreamInfoConsumersReply, StreamInfoGroupsReply,
    StreamPendingCountReply, StreamPendingReply, StreamReadReply,
};

use crate::build_event::event::BuildEvent;
use crate::commands::build::{self, Ctx, Summary, Verdict};
use crate::commands::output::{print_stderr_line, Outcome, Printer};
use crate::error::{self, ExitKind};
use crate::gateway::client::{Redis, BACKOFF_MAX};
use crate::gateway::enqueue::{queue_source, shared_store};
use crate::gateway::queue::EVENT_FIELD;
use crate::gateway::store::{lock, RedisStore, SharedRedis};
use crate::gateway::url::RedisSource;
use crate::state::statedir;
use crate::text::time::millis;

/// Entries taken per read or claim.
const BATCH: usize = 16;
/// Longest a read waits for new entries, so that a signal is noticed soon.
const BLOCK: Duration = Duration::from_millis(500);
/// Consumers idle this long with nothing pending are removed at start.
const STALE_CONSUMER: Duration = Duration::from_secs(86_400);
/// How often finished entries are trimmed from the stream.
const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Set by SIGINT/SIGTERM: finish the entry in hand, then stop.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a handler that only stores to an atomic is async-signal-safe; the
        // sigaction struct is fully initialised. SA_RESTART keeps a blocking Redis read
        // from failing with EINTR; the read's short BLOCK bounds the delay instead.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&raw mut sa.sa_mask);
            libc::sigaction(sig, &raw const sa, std::ptr::null_mut());
        }
    }
}

fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// An acknowledgement (and dead-letter copy) not yet written to Redis.
struct Finish {
    id: String,
    dead: Option<Dead>,
}

struct Dead {
    event: String,
    reason: String,
    deliveries: usize,
}

enum Step {
    /// Entries were handled (or there may be more).
    Busy,
    /// Nothing new, nothing claimable.
    Idle,
}

struct Consumer<'c> {
    redis: SharedRedis,
    store: Option<RedisStore>,
    stream: String,
    dead_stream: String,
    group: String,
    name: String,
    claim_idle: Duration,
    max_deliveries: usize,
    drain: bool,
    flags: BuildEvent,
    sum: Summary,
    /// Acknowledgements waiting for Redis, oldest first.
    acks: Vec<Finish>,
    /// Entries of ours that failed in a way a retry can cure, and how.
    failing: HashMap<String, ExitKind>,
    set_up: bool,
    cursor: String,
    last_scan: Option<Instant>,
    last_trim: Instant,
    printer: &'c Printer,
}

/// The shared dedupe store of `build --consume`: the one given, else the queue's Redis.
fn dedupe_store(
    ctx: &mut Ctx,
    redis: &SharedRedis,
    queue: &RedisSource,
    printer: &Printer,
) -> Result<Option<RedisStore>> {
    let args = ctx.args;
    if args.no_dedupe {
        return Ok(None);
    }
    let store = if let Some((store, source)) = shared_store(args, printer)? {
        ctx.store_ref = Some(source.spool_ref());
        store
    } else {
        // Marks the store as shared: a claim that fails on an unreachable Redis must
        // leave the entry pending, not post it without deduplication.
        ctx.store_ref = Some(queue.spool_ref());
        RedisStore::new(redis.clone(), args.dedupe_ttl)
    };
    Ok(Some(store))
}

/// `build --consume`.
pub(crate) fn run(ctx: &mut Ctx) -> Result<u8> {
    let args = ctx.args;
    let (url, source) = queue_source(&args.queue)?;
    // A gateway without a usable webhook would take entries only to leave them pending.
    crate::secret::Sources::from_args(&args.common.webhook).resolve()?;
    let printer = ctx.printer;
    let mut redis = Redis::new(url.clone(), &args.common.delivery)?;
    // A wrong password or URL is exit 3 at start; an unreachable Redis is waited for.
    if let Err(e) = redis.connect_within(Duration::from_millis(1)) {
        if error::exit_kind(&e) != ExitKind::Network {
            return Err(e);
        }
    }
    let redis: SharedRedis = Arc::new(Mutex::new(redis));
    let store = dedupe_store(ctx, &redis, &source, &printer)?;
    if let Some(store) = &store {
        ctx.dedupe = build::Store::Open(Box::new(store.clone()));
    }
    ctx.spool = false;
    let name = args
        .gateway
        .consumer
        .clone()
        .unwrap_or_else(|| format!("{}-{}", statedir::hostname(), std::process::id()));
    printer.info(&format!(
        "consuming {} at {url} as {name} in group {}",
        args.queue.stream, args.gateway.group
    ));
    install_signal_handlers();
    let mut c = Consumer {
        redis,
        store,
        stream: args.queue.stream.clone(),
        dead_stream: format!("{}:dead", args.queue.stream),
        group: args.gateway.group.clone(),
        name,
        claim_idle: args.gateway.claim_idle,
        max_deliveries: args.gateway.max_deliveries as usize,
        drain: args.gateway.drain,
        flags: build::stream_flags(args),
        sum: Summary::default(),
        acks: Vec::new(),
        failing: HashMap::new(),
        set_up: false,
        cursor: "0-0".into(),
        last_scan: None,
        last_trim: Instant::now(),
        printer: &printer,
    };
    let mut outage: Option<Instant> = None;
    let mut gave_up = None;
    let mut pause = Duration::from_millis(50);
    while !stopping() {
        match c.step(ctx) {
            Ok(step) => {
                if outage.take().is_some() {
                    printer.warn(&format!("Redis at {url} answers again; consuming"));
                }
                pause = Duration::from_millis(50);
                if matches!(step, Step::Idle) && c.drain {
                    // What this run finished leaves the stream before it exits.
                    if let Err(e) = c.trim() {
                        printer.warn(&format!("trimming the stream: {e:#}"));
                    }
                    break;
                }
            }
            // A signal during a blocking read interrupts it: that is the stop, not an outage.
            Err(_) if stopping() => break,
            // A drain is a batch job: an outage longer than --timeout ends it (exit 5)
            // instead of waiting for Redis forever. A gateway without --drain waits.
            Err(e)
                if error::exit_kind(&e) == ExitKind::Network
                    && c.drain
                    && outage.is_some_and(|t| t.elapsed() >= args.common.delivery.timeout) =>
            {
                gave_up = Some(e);
                break;
            }
            Err(e) if error::exit_kind(&e) == ExitKind::Network => {
                if outage.is_none() {
                    printer.warn(&format!(
                        "{e:#}; reconnecting with backoff (entries stay in the stream)"
                    ));
                    outage = Some(Instant::now());
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(BACKOFF_MAX);
            }
            // The group was deleted under us (XGROUP DESTROY, or a Redis restarted without
            // persistence): create it again rather than stop the gateway. Its entries come
            // again from the start, and the dedupe store keeps them from posting twice.
            Err(e) if c.set_up && format!("{e:#}").contains("NOGROUP") => {
                printer.warn(&format!("{e:#}; creating the group again"));
                c.set_up = false;
                c.cursor = "0-0".into();
                c.failing.clear();
            }
            Err(e) => return Err(e),
        }
    }
    let code = c.finish(ctx)?;
    match gave_up {
        Some(e) => Err(e.context(format!(
            "--drain stopped: Redis stayed unreachable for --timeout ({})",
            humantime::format_duration(args.common.delivery.timeout)
        ))),
        None => Ok(code),
    }
}

impl Consumer<'_> {
    fn step(&mut self, ctx: &mut Ctx) -> Result<Step> {
        // What was posted while Redis was away is recorded before anything new.
        if let Some(store) = &self.store {
            store.write_backlog()?;
        }
        self.write_acks()?;
        if !self.set_up {
            self.set_up()?;
        }
        if self.last_trim.elapsed() >= TRIM_EVERY {
            self.trim()?;
        }
        let claimed = self.autoclaim()?;
        if !claimed.is_empty() {
            for entry in claimed {
                let deliveries = self.deliveries(&entry.id)?;
                self.process(ctx, entry, deliveries)?;
                if stopping() {
                    break;
                }
            }
            return Ok(Step::Busy);
        }
        let fresh = self.read()?;
        if fresh.is_empty() {
            // Draining ends only after a full claim scan found nothing either.
            return Ok(if self.cursor == "0-0" {
                Step::Idle
            } else {
                Step::Busy
            });
        }
        for entry in fresh {
            self.process(ctx, entry, 1)?;
            if stopping() {
                break;
            }
        }
        Ok(Step::Busy)
    }

    fn run<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        lock(&self.redis).run(what, f)
    }

    /// Creates the group at the stream's start (so events enqueued before the first
    /// gateway count) and removes consumers that died long ago with nothing pending.
    fn set_up(&mut self) -> Result<()> {
        // Checked before any entry is taken: with a dead-letter key of another type the
        // acknowledgement would go through while its dead-letter copy failed.
        let kind: String = self.run("cannot check the dead-letter stream", |con| {
            redis::cmd("TYPE").arg(&self.dead_stream).query(con)
        })?;
        if kind != "stream" && kind != "none" {
            return Err(error::config(format!(
                "the dead-letter key {} holds a {kind}, not a stream; rename or delete it \
                 (redis-cli DEL {}) or use another --stream",
                self.dead_stream, self.dead_stream
            )));
        }
        let created = self.run("cannot create the consumer group", |con| {
            redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&self.stream)
                .arg(&self.group)
                .arg("0")
                .arg("MKSTREAM")
                .query::<()>(con)
        });
        if let Err(e) = created {
            if !format!("{e:#}").contains("BUSYGROUP") {
                return Err(e);
            }
        }
        let consumers: StreamInfoConsumersReply =
            self.run("cannot list the group's consumers", |con| {
                redis::cmd("XINFO")
                    .arg("CONSUMERS")
                    .arg(&self.stream)
                    .arg(&self.group)
                    .query(con)
            })?;
        for c in consumers.consumers {
            if is_stale(c.pending, c.idle, &c.name, &self.name) {
                self.run("cannot remove a stale consumer", |con| {
                    redis::cmd("XGROUP")
                        .arg("DELCONSUMER")
                        .arg(&self.stream)
                        .arg(&self.group)
                        .arg(&c.name)
                        .query::<i64>(con)
                })?;
                self.printer.info(&format!(
                    "removed consumer {} (idle for more than a day, nothing pending)",
                    c.name
                ));
            }
        }
        self.set_up = true;
        Ok(())
    }

    /// Removes entries the group has finished: everything before its oldest pending
    /// entry, or before its first undelivered one.
    fn trim(&mut self) -> Result<()> {
        self.last_trim = Instant::now();
        let pending: StreamPendingReply = self.run("cannot read pending entries", |con| {
            redis::cmd("XPENDING")
                .arg(&self.stream)
                .arg(&self.group)
                .query(con)
        })?;
        let groups: StreamInfoGroupsReply = self.run("cannot read the group", |con| {
            redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(&self.stream)
                .query(con)
        })?;
        let Some(group) = groups.groups.iter().find(|g| g.name == self.group) else {
            return Ok(());
        };
        let min_id = match &pending {
            StreamPendingReply::Data(d) if d.count > 0 => d.start_id.clone(),
            _ => match next_id(&group.last_delivered_id) {
                Some(id) => id,
                None => return Ok(()),
            },
        };
        self.run("cannot trim the stream", |con| {
            redis::cmd("XTRIM")
                .arg(&self.stream)
                .arg("MINID")
                .arg(&min_id)
                .query::<i64>(con)
        })?;
        Ok(())
    }

    /// The next batch of entries idle for `--claim-idle`, walking the pending list with
    /// a cursor; a full walk is repeated at most every quarter of `--claim-idle`.
    fn autoclaim(&mut self) -> Result<Vec<StreamId>> {
        let interval =
            (self.claim_idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let due = self.cursor != "0-0"
            || self.drain
            || self.last_scan.is_none_or(|t| t.elapsed() >= interval);
        if !due {
            return Ok(Vec::new());
        }
        let idle = millis(self.claim_idle);
        loop {
            let reply: StreamAutoClaimReply = self.run("cannot claim idle entries", |con| {
                redis::cmd("XAUTOCLAIM")
                    .arg(&self.stream)
                    .arg(&self.group)
                    .arg(&self.name)
                    .arg(idle)
                    .arg(&self.cursor)
                    .arg("COUNT")
                    .arg(BATCH)
                    .query(con)
            })?;
            self.cursor = reply.next_stream_id;
            if self.cursor == "0-0" {
                self.last_scan = Some(Instant::now());
            }
            if !reply.claimed.is_empty() || self.cursor == "0-0" {
                return Ok(reply.claimed);
            }
        }
    }

    /// How often an entry has been delivered, this delivery included.
    fn deliveries(&self, id: &str) -> Result<usize> {
        let reply: StreamPendingCountReply = self.run("cannot read pending entries", |con| {
            redis::cmd("XPENDING")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(id)
                .arg(id)
                .arg(1)
                .query(con)
        })?;
        Ok(reply.ids.first().map_or(1, |p| p.times_delivered))
    }

    fn read(&mut self) -> Result<Vec<StreamId>> {
        let block = !self.drain;
        let (stream, group, name) = (&self.stream, &self.group, &self.name);
        let reply: Option<StreamReadReply> =
            lock(&self.redis).run_blocking("cannot read the stream", BLOCK, |con| {
                let mut cmd = redis::cmd("XREADGROUP");
                cmd.arg("GROUP")
                    .arg(group)
                    .arg(name)
                    .arg("COUNT")
                    .arg(BATCH);
                if block {
                    cmd.arg("BLOCK").arg(millis(BLOCK));
                }
                cmd.arg("STREAMS").arg(stream).arg(">").query(con)
            })?;
        Ok(reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default())
    }

    /// Handles one entry as one line of `--events`, then acknowledges it when its
    /// outcome is final.
    fn process(&mut self, ctx: &mut Ctx, entry: StreamId, deliveries: usize) -> Result<()> {
        let id = entry.id.clone();
        let (text, original) = match field(&entry, EVENT_FIELD) {
            Some(t) => (Some(t.clone()), t),
            None => (None, whole_entry(&entry)),
        };
        // As `--events` does for a line: bytes that are not UTF-8 are refused, not
        // posted with replacement characters.
        let not_utf8 = matches!(entry.map.get(EVENT_FIELD),
            Some(redis::Value::BulkString(b)) if std::str::from_utf8(b).is_err());
        let verdict = match &text {
            Some(_) if not_utf8 => {
                Verdict::Invalid(format!("the `{EVENT_FIELD}` field is not valid UTF-8"))
            }
            Some(t) => build::handle_text(ctx, &self.flags, t)?,
            None => Verdict::Invalid(format!("the entry has no `{EVENT_FIELD}` field")),
        };
        match verdict {
            Verdict::Invalid(why) => {
                print_stderr_line(&format!(
                    "mmnotify: entry {id}: invalid event, moved to {}: {why}",
                    self.dead_stream
                ));
                self.sum.record_invalid();
                ctx.printer.outcome(
                    &Outcome::failure(&why, ExitKind::Input.code()).with("entry_id", id.as_str()),
                );
                self.failing.remove(&id);
                self.finish_entry(
                    id,
                    Some(Dead {
                        event: original,
                        reason: why,
                        deliveries,
                    }),
                );
            }
            Verdict::Done(outcome, err) => {
                let retry = err
                    .as_ref()
                    .is_some_and(|e| retryable(error::exit_kind(e), outcome.http_status));
                if retry && deliveries < self.max_deliveries {
                    let e = err.expect("retry implies an error");
                    if !lock(&self.redis).is_connected() {
                        // Redis itself went away (the dedupe store is on it): one outage
                        // warning from the loop, not one line per entry of the batch.
                        return Err(e);
                    }
                    print_stderr_line(&format!(
                        "mmnotify: entry {id}: {e:#}; left pending, to be retried once idle \
                         for --claim-idle ({} of {} deliveries)",
                        deliveries, self.max_deliveries
                    ));
                    self.failing.insert(id, error::exit_kind(&e));
                    return Ok(());
                }
                self.sum.record(&outcome, err.as_ref());
                self.failing.remove(&id);
                let dead = err.as_ref().map(|e| {
                    let reason = if retry {
                        format!(
                            "not posted after {deliveries} deliveries (--max-deliveries): {e:#}"
                        )
                    } else {
                        format!("{e:#}")
                    };
                    print_stderr_line(&format!(
                        "mmnotify: entry {id}: {reason}; moved to {}",
                        self.dead_stream
                    ));
                    Dead {
                        event: original.clone(),
                        reason,
                        deliveries,
                    }
                });
                let mut outcome = outcome.with("entry_id", id.as_str());
                outcome.exit_code = Some(err.as_ref().map_or(0, |e| error::exit_kind(e).code()));
                if let Some(e) = &err {
                    outcome.message.get_or_insert(format!("{e:#}"));
                }
                ctx.printer.outcome(&outcome);
                self.finish_entry(id, dead);
            }
        }
        Ok(())
    }

    fn finish_entry(&mut self, id: String, dead: Option<Dead>) {
        self.acks.push(Finish { id, dead });
        // A failure leaves it queued; the loop notices the outage on its next step.
        let _ = self.write_acks();
    }

    /// Writes queued acknowledgements (and dead-letter copies), oldest first, each
    /// atomically with its copy.
    fn write_acks(&mut self) -> Result<()> {
        while let Some(f) = self.acks.first() {
            let (stream, group, dead_stream) = (&self.stream, &self.group, &self.dead_stream);
            lock(&self.redis).run("cannot acknowledge the entry", |con| {
                let mut p = redis::pipe();
                p.atomic();
                if let Some(d) = &f.dead {
                    p.cmd("XADD")
                        .arg(dead_stream)
                        .arg("*")
                        .arg("event")
                        .arg(&d.event)
                        .arg("reason")
                        .arg(one_line(&d.reason))
                        .arg("source_id")
                        .arg(&f.id)
                        .arg("deliveries")
                        .arg(d.deliveries)
                        .ignore();
                }
                p.cmd("XACK").arg(stream).arg(group).arg(&f.id).ignore();
                p.query::<()>(con)
            })?;
            self.acks.remove(0);
        }
        Ok(())
    }

    /// Last writes, the summary and the exit code.
    fn finish(mut self, ctx: &Ctx) -> Result<u8> {
        let unwritten = self
            .store
            .as_ref()
            .map_or(Ok(()), super::store::RedisStore::write_backlog);
        let acks = self.write_acks();
        if unwritten.is_err() || acks.is_err() {
            self.printer.warn(&format!(
                "Redis is unreachable: {} delivery record(s) and {} acknowledgement(s) could \
                 not be written; those entries may be posted again",
                self.store
                    .as_ref()
                    .map_or(0, super::store::RedisStore::backlog_len),
                self.acks.len()
            ));
        }
        for kind in self.failing.values() {
            self.sum.failed += 1;
            self.sum.note_failure(*kind);
        }
        // After an outage another connection attempt would only add a --timeout.
        let others = if lock(&self.redis).is_connected() {
            self.pending_elsewhere().unwrap_or(0)
        } else {
            0
        };
        let extra = format!(
            "; {} left pending here, {} pending with other gateways",
            self.failing.len(),
            others
        );
        self.sum.finish(ctx, &extra)
    }

    fn pending_elsewhere(&self) -> Result<usize> {
        let pending: StreamPendingReply = self.run("cannot read pending entries", |con| {
            redis::cmd("XPENDING")
                .arg(&self.stream)
                .arg(&self.group)
                .query(con)
        })?;
        Ok(match pending {
            StreamPendingReply::Data(d) => d
                .consumers
                .iter()
                .filter(|c| c.name != self.name)
                .map(|c| c.pending)
                .sum(),
            _ => 0,
        })
    }
}

/// A consumer that holds nothing and has not been heard of for a day is a gateway that
/// is gone (each process names itself HOST-PID by default, so they pile up otherwise).
fn is_stale(pending: usize, idle_ms: usize, name: &str, me: &str) -> bool {
    pending == 0 && idle_ms as u128 > STALE_CONSUMER.as_millis() && name != me
}

/// Network failures and 408/429/502–504 after retries: another try may post it. A 500
/// is final: the server may have posted part of it.
fn retryable(kind: ExitKind, http_status: Option<u16>) -> bool {
    match kind {
        ExitKind::Network => true,
        ExitKind::Server => http_status != Some(500),
        _ => false,
    }
}

fn field(entry: &StreamId, name: &str) -> Option<String> {
    entry.map.get(name).and_then(value_text)
}

fn value_text(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// An entry without an `event` field goes to the dead-letter stream whole, as JSON.
fn whole_entry(entry: &StreamId) -> String {
    let mut m = serde_json::Map::new();
    let mut keys: Vec<_> = entry.map.keys().collect();
    keys.sort();
    for k in keys {
        let v = entry.map.get(k).and_then(value_text).unwrap_or_default();
        m.insert(k.clone(), serde_json::Value::String(v));
    }
    serde_json::Value::Object(m).to_string()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The stream id right after `id` (`ms-seq` → `ms-(seq+1)`), or None for `0-0`.
fn next_id(id: &str) -> Option<String> {
    let (ms, seq) = id.split_once('-')?;
    let (ms, seq): (u64, u64) = (ms.parse().ok()?, seq.parse().ok()?);
    if ms == 0 && seq == 0 {
        return None;
    }
    Some(match seq.checked_add(1) {
        Some(s) => format!("{ms}-{s}"),
        None => format!("{}-0", ms + 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_rules_follow_the_contract() {
        assert!(retryable(ExitKind::Network, None));
        assert!(retryable(ExitKind::Server, Some(503)));
        assert!(retryable(ExitKind::Server, Some(429)));
        assert!(!retryable(ExitKind::Server, Some(500)));
        for k in [
            ExitKind::BadRequest,
            ExitKind::Http,
            ExitKind::Input,
            ExitKind::NotFound,
        ] {
            assert!(!retryable(k, Some(400)));
        }
    }

    #[test]
    fn only_idle_consumers_without_pending_entries_are_stale() {
        let day = 86_400_000;
        assert!(is_stale(0, day + 1, "gw-old", "gw-me"));
        assert!(!is_stale(1, day + 1, "gw-old", "gw-me"));
        assert!(!is_stale(0, day - 1, "gw-old", "gw-me"));
        assert!(!is_stale(0, day + 1, "gw-me", "gw-me"));
    }

    #[test]
    fn next_ids() {
        assert_eq!(next_id("0-0"), None);
        assert_eq!(next_id("17-3").as_deref(), Some("17-4"));
        assert_eq!(next_id("bad"), None);
    }

    #[test]
    fn reasons_are_one_line() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
