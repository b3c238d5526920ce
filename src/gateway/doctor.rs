//! `doctor` with a queue: connect, authenticate, and look at the stream and its group,
//! one check each.

use redis::streams::{
    StreamInfoConsumersReply, StreamInfoGroupsReply, StreamPendingCountReply, StreamPendingReply,
};

use crate::cli::DoctorArgs;
use crate::error::{self, ExitKind};
use crate::gateway::client::Redis;
use crate::gateway::consumer::queue_source;
use crate::gateway::url::RedisSource;

/// One check: its name and what was found, or the exit kind and why it failed.
pub type Check = (&'static str, Result<String, (ExitKind, String)>);

fn failed(e: &anyhow::Error) -> (ExitKind, String) {
    (error::exit_kind(e), format!("{e:#}"))
}

/// The checks in order; the list stops at the first failure that makes the rest moot.
pub fn checks(args: &DoctorArgs) -> Vec<Check> {
    let mut out: Vec<Check> = Vec::new();
    let (url, source) = match queue_source(&args.queue) {
        Ok(found) => found,
        Err(e) => {
            out.push(("queue", Err(failed(&e))));
            return out;
        }
    };
    let from = match &source {
        RedisSource::File(p) => format!("secrets file {}", p.display()),
        RedisSource::Env => "environment variable MMNOTIFY_QUEUE".into(),
        RedisSource::Flag => "--queue".into(),
    };
    out.push(("queue", Ok(format!("{url} from {from}"))));
    let mut redis = match Redis::new(url.clone(), &args.common.delivery) {
        Ok(r) => r,
        Err(e) => {
            out.push(("redis connect", Err(failed(&e))));
            return out;
        }
    };
    let started = std::time::Instant::now();
    match redis.connect_within(std::time::Duration::from_millis(1)) {
        Ok(()) => {
            out.push((
                "redis connect",
                Ok(format!(
                    "{}:{}{} answered in {} ms",
                    url.host(),
                    url.port(),
                    if url.is_tls() { " over TLS" } else { "" },
                    started.elapsed().as_millis()
                )),
            ));
            out.push((
                "redis auth",
                Ok(if url.has_password() {
                    "password accepted".into()
                } else {
                    "no password in the URL, and none required".into()
                }),
            ));
        }
        Err(e) if error::exit_kind(&e) == ExitKind::Config => {
            out.push((
                "redis connect",
                Ok(format!("{}:{} reachable", url.host(), url.port())),
            ));
            out.push(("redis auth", Err(failed(&e))));
            return out;
        }
        Err(e) => {
            out.push(("redis connect", Err(failed(&e))));
            return out;
        }
    }
    let stream = &args.queue.stream;
    let group = &args.group;
    let len = redis.run("cannot read the stream", |con| {
        redis::cmd("XLEN").arg(stream).query::<u64>(con)
    });
    match len {
        Ok(n) => out.push(("stream", Ok(format!("{stream} holds {n} entries")))),
        Err(e) => {
            out.push(("stream", Err(failed(&e))));
            return out;
        }
    }
    let groups = redis.run("cannot read the stream's groups", |con| {
        redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(stream)
            .query::<StreamInfoGroupsReply>(con)
    });
    let found = match groups {
        Ok(g) => g.groups.into_iter().find(|g| &g.name == group),
        // A stream that does not exist yet has no groups: the first gateway creates both.
        Err(_) => None,
    };
    match found {
        Some(g) => out.push((
            "group",
            Ok(format!(
                "{group}: last delivered entry {}{}",
                g.last_delivered_id,
                g.lag
                    .map(|l| format!(", {l} not yet read"))
                    .unwrap_or_default()
            )),
        )),
        None => {
            out.push((
                "group",
                Err((
                    ExitKind::Config,
                    format!(
                        "group {group} does not exist on {stream}; the first `mmnotify build \
                         --consume` creates it (or check --group and --stream)"
                    ),
                )),
            ));
            return out;
        }
    }
    match redis.run("cannot list the group's consumers", |con| {
        redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(stream)
            .arg(group)
            .query::<StreamInfoConsumersReply>(con)
    }) {
        Ok(c) => {
            let names: Vec<String> = c
                .consumers
                .iter()
                .map(|c| {
                    format!(
                        "{} (idle {} s, {} pending)",
                        c.name,
                        c.idle / 1000,
                        c.pending
                    )
                })
                .collect();
            out.push((
                "consumers",
                Ok(if names.is_empty() {
                    "none yet".into()
                } else {
                    names.join(", ")
                }),
            ));
        }
        Err(e) => out.push(("consumers", Err(failed(&e)))),
    }
    let pending = redis.run("cannot read pending entries", |con| {
        redis::cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .query::<StreamPendingReply>(con)
    });
    let oldest = match pending {
        Ok(StreamPendingReply::Data(d)) if d.count > 0 => {
            out.push((
                "pending",
                Ok(format!("{} entries not yet acknowledged", d.count)),
            ));
            Some(d.start_id)
        }
        Ok(_) => {
            out.push(("pending", Ok("0 entries".into())));
            None
        }
        Err(e) => {
            out.push(("pending", Err(failed(&e))));
            return out;
        }
    };
    let age = match oldest {
        None => Ok("no pending entry".to_string()),
        Some(id) => {
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
            Ok(match idle {
                Some(p) => format!(
                    "{id}, enqueued {age} s ago, held by {} for {} s, delivered {} time(s)",
                    p.consumer,
                    p.last_delivered_ms / 1000,
                    p.times_delivered
                ),
                None => format!("{id}, enqueued {age} s ago"),
            })
        }
    };
    out.push(("oldest pending", age));
    out
}
