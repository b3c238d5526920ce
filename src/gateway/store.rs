//! The shared dedupe store: the file store's guarantees, across machines. A claim is
//! `SET claim:<key> <holder token> NX PX <budget>`, so a holder that dies frees the key
//! when its budget runs out; it is released by a compare-and-delete script, so a slow
//! holder never deletes the claim of the one that took over; a delivery writes
//! `done:<key>` with the TTL.
//!
//! A delivery whose marker could not be written (Redis went away during the POST) is
//! kept in memory, counted as delivered here, and written by [`RedisStore::write_backlog`]
//! as soon as Redis answers again.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Result;
use redis::Script;

use crate::gateway::client::Redis;
use crate::state::dedupe::{Claim, ClaimGuard, DedupeKey, DedupeStore, Held};
use crate::text::time::{millis, now_ms};

const PREFIX: &str = "mmnotify:dedupe:";
/// Slack past a holder's budget before its claim expires, as in the file store.
const STUCK_GRACE: Duration = Duration::from_secs(2);
/// How often a waiter looks again while another holder delivers the same key.
const POLL: Duration = Duration::from_millis(20);

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Marks the key delivered and releases our claim in one step: no waiter can see the
/// claim gone and the marker missing.
const DELIVERED: &str = r"
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 1";

pub(crate) type SharedRedis = Arc<Mutex<Redis>>;

pub(crate) fn lock(redis: &SharedRedis) -> MutexGuard<'_, Redis> {
    redis
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where the shared dedupe store is, if one is given, as plain values (the
/// `--dedupe-store[-file]` flags, read once by the command).
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedStore {
    pub dedupe_store_file: Option<PathBuf>,
    pub dedupe_store: Option<String>,
}

#[derive(Clone)]
pub(crate) struct RedisStore {
    redis: SharedRedis,
    ttl: Duration,
    /// Delivered keys whose marker is not in Redis yet.
    backlog: Arc<Mutex<Vec<DedupeKey>>>,
}

fn claim_key(key: &DedupeKey) -> String {
    format!("{PREFIX}claim:{key}")
}

fn done_key(key: &DedupeKey) -> String {
    format!("{PREFIX}done:{key}")
}

impl RedisStore {
    pub(crate) fn new(redis: SharedRedis, ttl: Duration) -> RedisStore {
        RedisStore {
            redis,
            ttl,
            backlog: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn backlog(&self) -> MutexGuard<'_, Vec<DedupeKey>> {
        self.backlog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn backlog_len(&self) -> usize {
        self.backlog().len()
    }

    /// Writes the markers of deliveries made while Redis was away. Stops at the first
    /// failure, keeping the rest.
    pub(crate) fn write_backlog(&self) -> Result<()> {
        loop {
            let Some(key) = self.backlog().first().cloned() else {
                return Ok(());
            };
            self.mark(&key, None)?;
            self.backlog().retain(|k| *k != key);
        }
    }

    fn mark(&self, key: &DedupeKey, token: Option<&str>) -> Result<()> {
        let ttl = millis(self.ttl);
        let at = now_ms();
        lock(&self.redis).run("cannot record the delivery in Redis", |con| {
            Script::new(DELIVERED)
                .key(claim_key(key))
                .key(done_key(key))
                .arg(token.unwrap_or(""))
                .arg(at)
                .arg(ttl)
                .invoke::<i64>(con)
        })?;
        Ok(())
    }
}

impl DedupeStore for RedisStore {
    fn is_delivered(&self, key: &DedupeKey) -> Result<bool> {
        if self.backlog().contains(key) {
            return Ok(true);
        }
        let at: Option<u64> = lock(&self.redis).run("cannot read the dedupe store", |con| {
            redis::cmd("GET").arg(done_key(key)).query(con)
        })?;
        // The writer's TTL expires the marker; a reader with a shorter --dedupe-ttl also
        // treats an older delivery as forgotten, as the file store does.
        let ttl = millis(self.ttl);
        Ok(at.is_some_and(|at| at.saturating_add(ttl) > now_ms()))
    }

    fn claim(&self, key: &DedupeKey, budget: Duration) -> Result<Claim> {
        let token = holder_token();
        let px = millis(budget + STUCK_GRACE);
        let started = Instant::now();
        loop {
            if self.is_delivered(key)? {
                return Ok(Claim::Duplicate);
            }
            let won: Option<String> =
                lock(&self.redis).run("cannot claim the key in the dedupe store", |con| {
                    redis::cmd("SET")
                        .arg(claim_key(key))
                        .arg(&token)
                        .arg("NX")
                        .arg("PX")
                        .arg(px)
                        .query(con)
                })?;
            if won.is_some() {
                let held = RedisClaim {
                    store: self.clone(),
                    key: key.clone(),
                    token,
                    // Waiting longer than our own budget means the holder we waited for
                    // ran out of its own: it may still post.
                    stolen: started.elapsed() > budget,
                    done: false,
                };
                // The holder we waited for may have delivered just before letting go.
                if self.is_delivered(key)? {
                    return Ok(Claim::Duplicate);
                }
                return Ok(Claim::Acquired(ClaimGuard::new(held)));
            }
            std::thread::sleep(POLL);
        }
    }
}

#[derive(Debug)]
struct RedisClaim {
    store: RedisStore,
    key: DedupeKey,
    token: String,
    stolen: bool,
    done: bool,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never locks: a guard may be printed while its store is busy.
        f.write_str("RedisStore")
    }
}

impl Held for RedisClaim {
    fn delivered(mut self: Box<Self>) -> Result<()> {
        self.done = true;
        match self.store.mark(&self.key, Some(&self.token)) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Posted, but Redis is away: remember it until it is back. Our claim
                // expires with the budget; the marker is written before anything new.
                self.store.backlog().push(self.key.clone());
                Err(e)
            }
        }
    }

    fn stolen(&self) -> bool {
        self.stolen
    }
}

impl Drop for RedisClaim {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Best effort: if Redis is away the claim expires with the budget.
        let _ = lock(&self.store.redis).run("cannot release the claim", |con| {
            Script::new(RELEASE)
                .key(claim_key(&self.key))
                .arg(&self.token)
                .invoke::<i64>(con)
        });
    }
}

/// A random token naming one holder, so that only it can release its claim.
fn holder_token() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    // SystemRandom fails only without a kernel RNG; the pid and clock still tell holders
    // apart then.
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        b[..8].copy_from_slice(&now_ms().to_be_bytes());
        b[8..12].copy_from_slice(&std::process::id().to_be_bytes());
    }
    crate::state::fingerprint::hex(&b)
}
