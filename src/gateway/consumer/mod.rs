//! The gateways' end of the queue, `build --consume`: reads the stream through a consumer
//! group and hands each entry to the same function as one line of `--events`, then
//! acknowledges it once its outcome is final; what a retry can cure stays pending, for
//! this gateway or another to claim once idle. The builders' end is in `enqueue.rs`.
//!
//! Here: the consumer's state and its loop. Taking entries is in `take.rs`, reading one
//! in `entry.rs`, acknowledging or dead-lettering it in `settle.rs`, the group's upkeep
//! in `housekeeping.rs`, waiting out a Redis outage in `outage.rs`.

mod entry;
mod housekeeping;
mod log;
mod outage;
mod owner;
mod reload;
mod report;
mod settle;
mod signal;
mod take;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::build_event::event::BuildEvent;
use crate::error::{self, ExitKind};
use crate::gateway::client::{Redis, BACKOFF_MAX};
use crate::gateway::queue::queue_source;
use crate::gateway::store::{lock, RedisStore, SharedRedis};
use crate::gateway::url::{RedisSource, RedisUrl};
use crate::pipeline::build::{self, Ctx, Settings, Summary};
use crate::pipeline::enqueue::shared_store;
use crate::pipeline::output::Printer;
use crate::state::statedir;
use crate::text::time::format_duration;
use outage::Outage;
pub(crate) use reload::Reload;
use settle::PendingAck;
pub(crate) use signal::catch_reload;
use signal::stopping;

enum Step {
    /// Entries were handled (or there may be more).
    Busy,
    /// Nothing new, nothing claimable.
    Idle,
}

/// How often the claim scan for idle entries runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scans {
    /// Every quarter of `--claim-idle` (at most 5 s).
    Paced,
    /// `--drain` found the stream empty: back to back until one full scan, begun after
    /// that, finds nothing either. (While entries keep coming, a drain scans at the
    /// usual pace rather than once per entry.)
    BackToBack,
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
    acks: Vec<PendingAck>,
    /// Entries of ours that failed in a way a retry can cure, and how.
    failing: HashMap<String, ExitKind>,
    set_up: bool,
    cursor: String,
    last_scan: Option<Instant>,
    scans: Scans,
    last_trim: Instant,
    /// The loop ended during a Redis outage.
    redis_away: bool,
    /// How long a stop waits for Redis to record what was posted during an outage.
    stop_wait: Duration,
    log: log::Log,
    /// `--metrics-file`, when given.
    report: Option<report::Report>,
    /// `--exclusive`: the lease, held or waited for.
    owner: Option<owner::Owner>,
    /// What SIGHUP reads again.
    reload_from: Reload,
    printer: &'c Printer,
}

/// How this gateway consumes, as plain values (the gateway flags, read once by
/// `commands::build`).
pub(crate) struct Gateway {
    pub group: String,
    pub consumer: Option<String>,
    pub claim_idle: Duration,
    pub max_deliveries: u32,
    pub drain: bool,
    pub summary_every: Duration,
    /// `--metrics-file PATH`.
    pub metrics_file: Option<std::path::PathBuf>,
    /// `--exclusive` with its `--lease`.
    pub exclusive: Option<Duration>,
    /// What SIGHUP reads again.
    pub reload: Reload,
}

/// `build --consume`.
pub(crate) fn run(ctx: &mut Ctx, gateway: &Gateway) -> Result<u8> {
    let args = ctx.args.clone();
    let args: &Settings = &args;
    let (url, source) = queue_source(&args.queue)?;
    // A gateway without a usable webhook (or bot) would take entries only to leave them
    // pending. With the config's routes, their webhooks are read below.
    let target = if args.bot.is_given() {
        let conn = crate::pipeline::bot::BotConn::connect(
            &args.bot,
            args.route.channel.as_deref(),
            &args.delivery,
        )?;
        let target = conn.describe();
        ctx.bot = Some(conn);
        target
    } else if ctx.routing.is_some() {
        "the config's routes".to_string()
    } else {
        args.webhook.resolve()?.0.redacted()
    };
    let printer = ctx.printer;
    let redis = connect(&url, args)?;
    let store = dedupe_store(ctx, &redis, &source, &printer)?;
    if let Some(store) = &store {
        ctx.dedupe = build::Store::Open(std::sync::Arc::new(store.clone()));
    }
    ctx.spool = false;
    // The fleet shares one budget per webhook: through the dedupe store given, else the
    // queue. A gateway waits for it as long as it takes (entries stay pending), until a stop.
    ctx.pacing.shared = Some(build::shared_store_url(args)?.unwrap_or_else(|| url.clone()));
    ctx.pacing.max_wait = None;
    ctx.pacing.stop = Some(stopping);
    // The webhooks are read now, with the fleet's pacing, and not again before a SIGHUP:
    // one that cannot be read is exit 3 here, never at some later event.
    if let Some(mut routing) = ctx.routing.take() {
        let connected = routing.connect(ctx);
        ctx.routing = Some(routing);
        connected?;
    } else if !args.bot.is_given() && !args.dry_run {
        ctx.connect_webhook()?;
    }
    let mut c = Consumer::new(args, gateway, redis, store, &printer);
    c.log_start(&url, &target);
    signal::install();
    // Written at once: a path that cannot be written is exit 3 at start, not a silent gap.
    c.report(ctx, false)?;
    let gave_up = c.consume(ctx, &url, args.delivery.timeout)?;
    let code = c.finish(ctx)?;
    match gave_up {
        Some(e) => Err(e.context(format!(
            "--drain stopped: Redis stayed unreachable for --timeout ({})",
            format_duration(args.delivery.timeout)
        ))),
        None => Ok(code),
    }
}

/// The queue's connection. A wrong password or URL is exit 3 at start; an unreachable
/// Redis is waited for by the loop.
fn connect(url: &RedisUrl, args: &Settings) -> Result<SharedRedis> {
    let mut redis = Redis::new(url.clone(), &args.delivery)?;
    redis.set_replicas(args.queue.replicas);
    if let Err(e) = redis.connect_within(Duration::from_millis(1)) {
        if error::exit_kind(&e) != ExitKind::Network {
            return Err(e);
        }
    }
    Ok(Arc::new(Mutex::new(redis)))
}

/// The shared dedupe store of `build --consume`: the one given, else the queue's Redis.
fn dedupe_store(
    ctx: &mut Ctx,
    redis: &SharedRedis,
    queue: &RedisSource,
    printer: &Printer,
) -> Result<Option<RedisStore>> {
    let args = ctx.args.clone();
    let args: &Settings = &args;
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

impl<'c> Consumer<'c> {
    fn new(
        args: &Settings,
        gateway: &Gateway,
        redis: SharedRedis,
        store: Option<RedisStore>,
        printer: &'c Printer,
    ) -> Consumer<'c> {
        let name = gateway
            .consumer
            .clone()
            .unwrap_or_else(|| format!("{}-{}", statedir::hostname(), std::process::id()));
        Consumer {
            redis,
            store,
            stream: args.queue.stream.clone(),
            dead_stream: format!("{}:dead", args.queue.stream),
            group: gateway.group.clone(),
            name,
            claim_idle: gateway.claim_idle,
            max_deliveries: gateway.max_deliveries as usize,
            drain: gateway.drain,
            flags: build::stream_flags(args),
            sum: Summary::default(),
            acks: Vec::new(),
            failing: HashMap::new(),
            set_up: false,
            cursor: "0-0".into(),
            last_scan: None,
            scans: Scans::Paced,
            last_trim: Instant::now(),
            stop_wait: args.delivery.timeout,
            redis_away: false,
            log: log::Log::new(gateway.summary_every),
            report: gateway.metrics_file.clone().map(report::Report::new),
            owner: gateway
                .exclusive
                .map(|ttl| owner::Owner::new(&args.queue.stream, &gateway.group, ttl)),
            reload_from: gateway.reload.clone(),
            printer,
        }
    }
}

impl Consumer<'_> {
    /// Steps until a signal, the end of a `--drain`, or an error that stops the gateway.
    /// Returns the outage that ended a `--drain`, if one did.
    fn consume(
        &mut self,
        ctx: &mut Ctx,
        url: &RedisUrl,
        timeout: Duration,
    ) -> Result<Option<anyhow::Error>> {
        let mut outage = Outage::none();
        while !stopping() {
            // Between entries: the one in hand (if any) was finished with the old settings.
            if signal::take_reload() {
                self.reload(ctx);
            }
            let step = self.step(ctx);
            self.summary_if_due();
            self.report(ctx, false)?;
            match step {
                Ok(step) => {
                    outage.over(self.printer, url);
                    if matches!(step, Step::Idle) && self.drain {
                        // What this run finished leaves the stream before it exits.
                        if let Err(e) = self.trim() {
                            self.printer.warn(&format!("trimming the stream: {e:#}"));
                        }
                        break;
                    }
                }
                // A failure once a stop is asked for (a read with a receive timeout can
                // fail with EINTR after a SIGSTOP/SIGCONT) is the stop, not an outage. The
                // signals thread never interrupts the read: its short BLOCK bounds the delay.
                Err(_) if stopping() => break,
                // A drain is a batch job: an outage longer than --timeout ends it (exit 5)
                // instead of waiting for Redis forever. A gateway without --drain waits.
                Err(e) if error::exit_kind(&e) == ExitKind::Network => {
                    if self.drain && outage.outlasted(timeout) {
                        self.redis_away = true;
                        return Ok(Some(e));
                    }
                    outage.wait(self.printer, &e);
                }
                // The group was deleted under us (XGROUP DESTROY, or a Redis restarted without
                // persistence): create it again rather than stop the gateway. Its entries come
                // again from the start, and the dedupe store keeps them from posting twice.
                Err(e) if self.set_up && format!("{e:#}").contains("NOGROUP") => {
                    self.printer
                        .warn(&format!("{e:#}; creating the group again"));
                    self.set_up = false;
                    self.cursor = "0-0".into();
                    self.failing.clear();
                }
                Err(e) => return Err(e),
            }
        }
        self.redis_away = outage.is_on();
        Ok(None)
    }

    fn step(&mut self, ctx: &mut Ctx) -> Result<Step> {
        // What was posted while Redis was away is recorded before anything new.
        if let Some(store) = &self.store {
            store.write_backlog()?;
        }
        self.write_acks()?;
        if !self.hold_lease()? {
            // A hot standby: connected and ready, but the holder consumes (it does not
            // even join the group until it holds the lease).
            return Ok(Step::Busy);
        }
        if !self.set_up {
            self.set_up()?;
        }
        self.trim_if_due()?;
        let claimed = self.autoclaim()?;
        if !claimed.is_empty() {
            for entry in claimed {
                // Taken as the stop came: handed back at the end, not started.
                if stopping() {
                    break;
                }
                let deliveries = self.deliveries(&entry.id)?;
                self.log_takeover(&entry.id, deliveries);
                self.process(ctx, entry, deliveries)?;
            }
            return Ok(Step::Busy);
        }
        let fresh = self.read()?;
        if fresh.is_empty() {
            // Draining ends only after a full claim scan, begun after the stream was
            // found empty, found nothing either.
            let done = self.cursor == "0-0" && (self.scans == Scans::BackToBack || !self.drain);
            if self.drain {
                self.scans = Scans::BackToBack;
            }
            return Ok(if done { Step::Idle } else { Step::Busy });
        }
        self.scans = Scans::Paced;
        for entry in fresh {
            if stopping() {
                break;
            }
            self.process(ctx, entry, 1)?;
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

    /// Last writes, the summary and the exit code.
    fn finish(mut self, ctx: &Ctx) -> Result<u8> {
        let written = self.write_last();
        // A stop hands the webhook over at once, not after the lease runs out.
        self.release_lease();
        // At exit, whatever happened (a failure to write was warned about already).
        let _ = self.report(ctx, true);
        if !written {
            let records = self.store.as_ref().map_or(0, RedisStore::backlog_len);
            self.printer.warn(&format!(
                "Redis stayed unreachable: {records} delivery record(s) and {} \
                 acknowledgement(s) could not be written. A gateway that takes those \
                 entries over (once idle for --claim-idle) posts the unrecorded ones again, \
                 saying that they may appear twice, and finds the others already posted",
                self.acks.len()
            ));
        }
        let dead = self.dead_count();
        for kind in self.failing.values() {
            self.sum.failed += 1;
            self.sum.note_failure(*kind);
        }
        // After an outage another connection attempt would only add a --timeout. (A
        // signal during a blocking read drops the connection: that is no outage.)
        let connected = written && !self.redis_away;
        let (here, others) = if connected {
            let here = self.hand_back().unwrap_or(self.failing.len());
            (here, self.pending_elsewhere().unwrap_or(0))
        } else {
            (self.failing.len() + self.acks.len(), 0)
        };
        let handed = if connected && here > 0 {
            " (handed back: any gateway may take them now)"
        } else {
            ""
        };
        let extra = format!(
            "; {dead}; {here} left pending here{handed}, {others} pending with other gateways"
        );
        let result = self.sum.finish(ctx, &extra);
        match result {
            // The contract: SIGINT/SIGTERM end the gateway with exit 0 once the entry in
            // hand is finished, whatever earlier entries did (their outcomes are in the
            // dead stream and the summary), so that `systemctl stop` never marks the unit
            // failed. (The gateway's own configuration errors never reach this summary:
            // they end it before; an entry's, such as a route's missing webhook, do.)
            Err(e) if stopping() => {
                self.printer.warn(&format!(
                    "{e:#}; stopped by a signal, so the exit code is 0"
                ));
                Ok(0)
            }
            other => other,
        }
    }

    /// Writes what was posted but not yet recorded (delivered markers, then
    /// acknowledgements). At a stop during an outage it keeps trying for up to `--timeout`
    /// (a second signal ends the wait): a post whose record never reaches Redis is posted
    /// again by the gateway that takes its entry over. Returns whether all was written.
    fn write_last(&mut self) -> bool {
        // A --drain that gave up on Redis has waited --timeout already.
        let wait = if stopping() {
            self.stop_wait
        } else {
            Duration::ZERO
        };
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(50);
        let mut warned = false;
        loop {
            let unwritten = self
                .store
                .as_ref()
                .map_or(Ok(()), RedisStore::write_backlog);
            let acks = self.write_acks();
            if unwritten.is_ok() && acks.is_ok() {
                return true;
            }
            let now = Instant::now();
            if signal::insisting() || now >= deadline {
                return false;
            }
            if !warned {
                self.printer.warn(&format!(
                    "stopping: waiting up to --timeout ({}) for Redis to record what was \
                     posted while it was away; a second signal stops at once",
                    format_duration(self.stop_wait)
                ));
                warned = true;
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(BACKOFF_MAX);
        }
    }
}
