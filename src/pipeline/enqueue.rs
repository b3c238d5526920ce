//! The builders' end of the queue: the shared dedupe store, and `--enqueue`, which
//! validates an event and adds it to the stream.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::build_event::event::ValidEvent;
use crate::error::{self, ExitKind};
use crate::gateway::client::{Redis, BACKOFF_MAX};

/// Slack past twice `--timeout` before an enqueue still waiting on one reply is given up.
const OVERRUN: Duration = Duration::from_secs(1);
use crate::gateway::queue::{self, queue_source};
use crate::gateway::store::RedisStore;
use crate::gateway::url::{RedisSource, RedisSources, Role};
use crate::pipeline::build::{Ctx, Settings};
use crate::pipeline::notify;
use crate::pipeline::output::{Ending, Outcome, Printer, Status};
use crate::state::spool::{Spool, SpoolItem, SpoolKind};

/// The shared dedupe store, when `--dedupe-store[-file]` or its variable is given.
pub(crate) fn shared_store(
    args: &Settings,
    printer: &Printer,
) -> Result<Option<(RedisStore, RedisSource)>> {
    let sources = RedisSources::new(
        Role::Store,
        args.store.dedupe_store_file.clone(),
        args.store.dedupe_store.clone(),
    );
    let Some((url, source)) = sources.resolve(Role::Store)? else {
        return Ok(None);
    };
    printer.info(&format!("dedupe store {url}"));
    let mut redis = Redis::new(url, &args.delivery)?;
    redis.set_replicas(args.queue.replicas);
    Ok(Some((
        RedisStore::new(Arc::new(Mutex::new(redis)), args.dedupe_ttl),
        source,
    )))
}

/// An enqueue holds no webhook, so it cannot tell whose token a `/hooks/<id>` is: any is
/// refused (exit 4), before Redis or the spool could keep it, and without echoing it.
/// (`--stream` refuses a URL itself, exit 2.)
fn refuse_hook_urls(event: &str) -> Result<()> {
    if crate::secret::holds_secret(event) {
        return Err(error::input(
            "the event holds what looks like a webhook URL (/hooks/<id>) in one of its \
             fields; the URL is a password and is neither queued nor saved: remove it from \
             the event",
        ));
    }
    Ok(())
}

/// Adds the event to the stream, retrying network failures with backoff until `--timeout`
/// (`budget`, counted from `started`) is spent.
fn enqueue_within(
    redis: &mut Redis,
    stream: &str,
    text: &str,
    (started, budget): (Instant, Duration),
) -> Result<String> {
    let mut pause = Duration::from_millis(50);
    loop {
        let left = budget.saturating_sub(started.elapsed());
        let attempt = redis.connect_within(left).and_then(|()| {
            // Not replicated within what is left of --timeout: spooled, as when
            // Redis is down (the entry may survive too; dedupe keeps the post single).
            let left = budget.saturating_sub(started.elapsed());
            queue::enqueue(redis, stream, text, left)
        });
        match attempt {
            Err(e)
                if error::exit_kind(&e) == ExitKind::Network
                    && started.elapsed() + pause < budget =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(BACKOFF_MAX);
            }
            other => return other,
        }
    }
}

/// [`enqueue_within`] in a thread of its own, so that the command ends even when a server
/// keeps one reply going for ever (each read then answers within --timeout, so no read
/// times out, and the library reads whatever length the reply announces).
fn enqueue_with_deadline(
    mut redis: Redis,
    stream: &str,
    text: &str,
    (started, budget): (Instant, Duration),
    url: &impl std::fmt::Display,
) -> Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = {
        let (stream, text) = (stream.to_string(), text.to_string());
        move || {
            let result = enqueue_within(&mut redis, &stream, &text, (started, budget));
            let _ = tx.send(result);
        }
    };
    std::thread::spawn(worker);
    rx.recv_timeout(budget.saturating_mul(2) + OVERRUN)
        .unwrap_or_else(|_| {
            Err(error::fail(
                ExitKind::Network,
                format!(
                    "Redis at {url} was still answering one request after twice --timeout \
                     ({}): a broken or hostile server (a reply without end)",
                    crate::text::time::format_duration(budget)
                ),
            ))
        })
}

/// `build --enqueue`: add the event to the stream, retrying until `--timeout`; keep it in
/// the spool when Redis stays away.
pub(crate) fn enqueue_one(ctx: &Ctx, ev: &ValidEvent) -> Result<Ending> {
    let args = ctx.args.clone();
    let args: &Settings = &args;
    let stream = &args.queue.stream;
    let event = ev.to_json();
    let text = event.to_string();
    refuse_hook_urls(&text)?;
    let (url, source) = queue_source(&args.queue)?;
    let mut redis = Redis::new(url.clone(), &args.delivery)?;
    redis.set_replicas(args.queue.replicas);
    let started = Instant::now();
    let budget = args.delivery.timeout;
    let result = enqueue_with_deadline(redis, stream, &text, (started, budget), &url);
    let mut outcome = Outcome::new(Status::Enqueued)
        .with("event", event.clone())
        .with("stream", stream.as_str());
    outcome.elapsed = Some(started.elapsed());
    outcome.target = Some(url.to_string());
    match result {
        Ok(id) => {
            ctx.printer
                .info(&format!("enqueued as entry {id} on {stream} at {url}"));
            Ok(Ending::outcome(outcome.with("entry_id", id), None))
        }
        Err(e) if error::exit_kind(&e) == ExitKind::Network => {
            let mut message = format!("{e:#}");
            outcome.status = Status::Failed;
            if ctx.spool {
                let mut item = SpoolItem::new(
                    SpoolKind::Enqueue,
                    source.spool_ref(),
                    None,
                    event,
                    message.clone(),
                );
                item.stream = Some(stream.clone());
                let saved = notify::state_dir(args.state_dir.as_deref())
                    .and_then(|dir| Spool::open(&dir))
                    .and_then(|spool| spool.save(&item));
                match saved {
                    Ok(path) => {
                        message.push_str(&format!(
                            "; the event was saved in the spool as {}: run `mmnotify flush` \
                             to enqueue it later",
                            path.display()
                        ));
                        outcome.status = Status::Spooled;
                        outcome = outcome.with("spool_file", path.display().to_string());
                    }
                    Err(e) => ctx
                        .printer
                        .warn(&format!("could not save the event in the spool: {e:#}")),
                }
            }
            outcome.message = Some(message.clone());
            Ok(Ending::outcome(
                outcome,
                Some(error::fail(ExitKind::Network, message)),
            ))
        }
        Err(e) => Err(e),
    }
}
