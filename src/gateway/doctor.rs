//! `doctor` with a queue: connect, authenticate, and look at the stream and its group,
//! one check each.

use redis::streams::{
    StreamInfoConsumersReply, StreamInfoGroupsReply, StreamPendingCountReply, StreamPendingReply,
};

use crate::error::{self, ExitKind};
use crate::gateway::client::Redis;
use crate::gateway::queue::{queue_source, Queue};
use crate::gateway::url::RedisSource;
use crate::wire::deliver;

/// One check: its name and what was found, or the exit kind and why it failed.
pub(crate) type Check = (&'static str, Result<String, (ExitKind, String)>);

fn failed(e: &anyhow::Error) -> (ExitKind, String) {
    (error::exit_kind(e), format!("{e:#}"))
}

/// What the queue checks need, as plain values (read once by `commands::doctor`).
pub(crate) struct Settings {
    pub queue: Queue,
    pub group: String,
    pub delivery: deliver::Settings,
}

/// The checks in order; the list stops at the first failure that makes the rest moot (or
/// at a group not created yet, which leaves nothing more to look at).
pub(crate) fn checks(args: &Settings) -> Vec<Check> {
    let mut out: Vec<Check> = Vec::new();
    // Each step pushes its own checks, and `None` once a failure made the rest moot.
    let _ = walk(args, &mut out);
    out
}

fn walk(args: &Settings, out: &mut Vec<Check>) -> Option<()> {
    let mut redis = connect(args, out)?;
    let (stream, group) = (&args.queue.stream, &args.group);
    out.push(("webhook owner", webhook_owner(&mut redis, stream, group)));
    stream_and_group(&mut redis, stream, group, out)?;
    out.push(("consumers", consumers(&mut redis, stream, group)));
    let oldest = pending(&mut redis, stream, group, out)?;
    out.push((
        "oldest pending",
        Ok(oldest_pending(&mut redis, stream, group, oldest)),
    ));
    Some(())
}

/// Who holds the `--exclusive` lease of the group, and for how long.
fn webhook_owner(
    redis: &mut Redis,
    stream: &str,
    group: &str,
) -> Result<String, (ExitKind, String)> {
    let key = crate::gateway::lease::group_lease_key(stream, group);
    let owner = crate::gateway::lease::owner(redis, &key).map_err(|e| failed(&e))?;
    let secs = |d: std::time::Duration| format!("{} s", d.as_secs());
    Ok(match owner {
        None => "no --exclusive lease is held: every gateway of the group consumes \
                 (active-active), or none is running"
            .into(),
        Some(o) => format!(
            "{} holds the --exclusive lease{} (expires in {} unless renewed)",
            o.holder,
            o.held_for
                .map_or_else(String::new, |d| format!(" for {}", secs(d))),
            secs(o.expires_in)
        ),
    })
}

/// Where the queue URL comes from, then the connection and the password.
fn connect(args: &Settings, out: &mut Vec<Check>) -> Option<Redis> {
    let (url, source) = match queue_source(&args.queue) {
        Ok(found) => found,
        Err(e) => {
            out.push(("queue", Err(failed(&e))));
            return None;
        }
    };
    let from = match &source {
        RedisSource::File(p) => format!("secrets file {}", p.display()),
        RedisSource::Env => "environment variable MMNOTIFY_QUEUE".into(),
        RedisSource::Flag => "--queue".into(),
    };
    out.push(("queue", Ok(format!("{url} from {from}"))));
    let mut redis = match Redis::new(url.clone(), &args.delivery) {
        Ok(mut r) => {
            r.set_replicas(args.queue.replicas);
            r
        }
        Err(e) => {
            out.push(("redis connect", Err(failed(&e))));
            return None;
        }
    };
    let started = std::time::Instant::now();
    match redis.connect_within(std::time::Duration::from_millis(1)) {
        Ok(()) => {
            let tls = if url.is_tls() { " over TLS" } else { "" };
            let ms = started.elapsed().as_millis();
            let found = match (url.sentinel(), redis.master()) {
                // The Sentinels are asked first; the master they name is what answered.
                (Some(s), Some(master)) => format!(
                    "the Sentinels name {master} as master of {}; it answered{tls} in {ms} ms \
                     (writes wait for {} replica(s))",
                    s.master,
                    redis.replicas()
                ),
                _ => format!("{}:{}{tls} answered in {ms} ms", url.host(), url.port()),
            };
            out.push(("redis connect", Ok(found)));
            out.push((
                "redis auth",
                Ok(if url.has_password() {
                    "password accepted".into()
                } else {
                    "no password in the URL, and none required".into()
                }),
            ));
            Some(redis)
        }
        Err(e) if error::exit_kind(&e) == ExitKind::Config => {
            out.push((
                "redis connect",
                Ok(format!("{}:{} reachable", url.host(), url.port())),
            ));
            out.push(("redis auth", Err(failed(&e))));
            None
        }
        Err(e) => {
            out.push(("redis connect", Err(failed(&e))));
            None
        }
    }
}

fn stream_and_group(
    redis: &mut Redis,
    stream: &str,
    group: &str,
    out: &mut Vec<Check>,
) -> Option<()> {
    let len = redis.run("cannot read the stream", |con| {
        redis::cmd("XLEN").arg(stream).query::<u64>(con)
    });
    match len {
        Ok(n) => out.push(("stream", Ok(format!("{stream} holds {n} entries")))),
        Err(e) => {
            out.push(("stream", Err(failed(&e))));
            return None;
        }
    }
    let groups = redis.run("cannot read the stream's groups", |con| {
        redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(stream)
            .query::<StreamInfoGroupsReply>(con)
    });
    let found = match groups {
        Ok(g) => g.groups.into_iter().find(|g| g.name == group),
        // A stream that does not exist yet has no groups: the first gateway creates both.
        // Any other error (an ACL that denies XINFO, which the gateway needs to trim, a
        // key of another type) is a fault, not a new set-up.
        Err(e) => {
            let exists = redis.run("cannot read the stream", |con| {
                redis::cmd("EXISTS").arg(stream).query::<u64>(con)
            });
            if !matches!(exists, Ok(0)) {
                out.push(("group", Err(failed(&e))));
                return None;
            }
            None
        }
    };
    let Some(g) = found else {
        // Before the first gateway ran this is a correct new set-up, not a fault: the
        // first `build --consume` creates the group at the stream's start, so entries
        // enqueued meanwhile are not lost. Nothing more to look at until then.
        out.push((
            "group",
            Ok(format!(
                "{group} not created yet: the first `mmnotify build --consume` creates it \
                 and reads {stream} from its start (if a gateway already runs, check \
                 --group and --stream)"
            )),
        ));
        return None;
    };
    out.push((
        "group",
        Ok(format!(
            "{group}: last delivered entry {}{}",
            g.last_delivered_id,
            g.lag
                .map(|l| format!(", {l} not yet read"))
                .unwrap_or_default()
        )),
    ));
    Some(())
}

fn consumers(redis: &mut Redis, stream: &str, group: &str) -> Result<String, (ExitKind, String)> {
    let c = redis
        .run("cannot list the group's consumers", |con| {
            redis::cmd("XINFO")
                .arg("CONSUMERS")
                .arg(stream)
                .arg(group)
                .query::<StreamInfoConsumersReply>(con)
        })
        .map_err(|e| failed(&e))?;
    let names: Vec<String> = c
        .consumers
        .iter()
        .map(|c| {
            format!(
                "{} (idle {} s, {} pending)",
                shown_name(&c.name),
                c.idle / 1000,
                c.pending
            )
        })
        .collect();
    Ok(if names.is_empty() {
        "none yet".into()
    } else {
        names.join(", ")
    })
}

/// How many entries wait for an acknowledgement; returns the oldest one's id, if any.
fn pending(
    redis: &mut Redis,
    stream: &str,
    group: &str,
    out: &mut Vec<Check>,
) -> Option<Option<String>> {
    let pending = redis.run("cannot read pending entries", |con| {
        redis::cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .query::<StreamPendingReply>(con)
    });
    match pending {
        Ok(StreamPendingReply::Data(d)) if d.count > 0 => {
            out.push((
                "pending",
                Ok(format!("{} entries not yet acknowledged", d.count)),
            ));
            Some(Some(d.start_id))
        }
        Ok(_) => {
            out.push(("pending", Ok("0 entries".into())));
            Some(None)
        }
        Err(e) => {
            out.push(("pending", Err(failed(&e))));
            None
        }
    }
}

/// The oldest pending entry: how long ago it was enqueued and who holds it.
fn oldest_pending(redis: &mut Redis, stream: &str, group: &str, oldest: Option<String>) -> String {
    let Some(id) = oldest else {
        return "no pending entry".to_string();
    };
    let ms: u64 = id
        .split('-')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let idle = redis
        .run("cannot read pending entries", |con| {
            redis::cmd("XPENDING")
                .arg(stream)
                .arg(group)
                .arg(&id)
                .arg(&id)
                .arg(1)
                .query::<StreamPendingCountReply>(con)
        })
        .ok()
        .and_then(|r| r.ids.into_iter().next());
    let age = crate::text::time::now_ms().saturating_sub(ms) / 1000;
    match idle {
        Some(p) => format!(
            "{id}, enqueued {age} s ago, held by {} for {} s, delivered {} time(s)",
            shown_name(&p.consumer),
            p.last_delivered_ms / 1000,
            p.times_delivered
        ),
        None => format!("{id}, enqueued {age} s ago"),
    }
}

/// A consumer's name as chosen by whoever connected to Redis: its control characters (an
/// escape sequence that would rewrite the terminal) shown as spaces.
fn shown_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
