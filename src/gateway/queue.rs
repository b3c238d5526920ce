//! Where the queue is, and the builder's end of it: one `XADD` of the validated event.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::error;
use crate::gateway::client::Redis;
use crate::gateway::url::{RedisSource, RedisSources, RedisUrl, Role};

/// Where the queue is and which stream, as plain values (the queue flags, read once by
/// the command).
#[derive(Debug, Clone, Default)]
pub(crate) struct Queue {
    pub queue_file: Option<PathBuf>,
    pub queue: Option<String>,
    pub stream: String,
    /// `--replicas N`: replicas that must confirm a write (default 1 with Sentinel, else 0).
    pub replicas: Option<u32>,
}

/// The one field a stream entry carries.
pub(crate) const EVENT_FIELD: &str = "event";

/// Adds `event_json` (compact JSON) to `stream` and returns the entry id, once
/// `--replicas` replicas have it (waiting up to `wait`): an entry a failover could lose is
/// not acknowledged (network-kind error, so the caller spools or keeps it).
pub(crate) fn enqueue(
    redis: &mut Redis,
    stream: &str,
    event_json: &str,
    wait: Duration,
) -> Result<String> {
    let id = redis.run("cannot add the event to the Redis stream", |con| {
        redis::cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg(EVENT_FIELD)
            .arg(event_json)
            .query::<String>(con)
    })?;
    let replicas = redis.replicas();
    redis.wait_replicas(replicas, wait)?;
    Ok(id)
}

/// The queue's URL and source; exit 3 when none is given.
pub(crate) fn queue_source(args: &Queue) -> Result<(RedisUrl, RedisSource)> {
    RedisSources::new(Role::Queue, args.queue_file.clone(), args.queue.clone())
        .resolve(Role::Queue)?
        .ok_or_else(|| {
            error::config(
                "no queue configured: pass --queue-file PATH (a secrets file holding the \
                 redis:// URL), set MMNOTIFY_QUEUE, or pass --queue URL (without a password)",
            )
        })
}
