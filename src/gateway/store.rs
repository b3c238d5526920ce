//! The shared dedupe store: the file store's guarantees, across machines. A claim is
//! `SET claim:<key> <holder token> NX PX <budget>`, so a holder that dies frees the key
//! when its budget runs out; it is released by a compare-and-delete script, so a slow
//! holder never deletes the claim of the one that took over; a delivery writes
//! `done:<key>` with the TTL.
//!
//! A delivery whose marker could not be written (Redis went away during the POST) is
//! kept in memory, counted as delivered here, and written by [`RedisStore::write_backlog`]
//! as soon as Redis answers again.
//!
//! A webhook cannot tell whether a POST went through when its answer never came back,
//! so the holder leaves a trace before it posts: `sending:<key>` (its token and the
//! time), removed with the delivered marker or when the claim is released. A claim that
//! finds such a trace takes over from a holder that started posting and never said how
//! it ended: it died mid-POST, or it posted while cut off from Redis and still holds the
//! record in memory. The taker first waits [`TAKEOVER_GRACE`] for that record (a live
//! holder writes it within its reconnect backoff once Redis answers it again), and only
//! then posts, flagged as a possible duplicate ([`Held::interrupted`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Result;
use redis::Script;

use crate::gateway::client::Redis;
use crate::state::dedupe::{Claim, ClaimGuard, DedupeKey, DedupeStore, Held, RunPost};
use crate::text::time::{millis, now_ms};

const PREFIX: &str = "mmnotify:dedupe:";
/// Slack past a holder's budget before its claim expires, as in the file store.
const STUCK_GRACE: Duration = Duration::from_secs(2);
/// How often a waiter looks again while another holder delivers the same key.
const POLL: Duration = Duration::from_millis(20);

/// How long a taker waits for the record of a holder that had started sending: more
/// than a live holder needs to reach Redis again (its reconnect backoff, at most
/// `BACKOFF_MAX`, twice over) and write it.
const TAKEOVER_GRACE: Duration = Duration::from_secs(5);
/// How often the taker looks for that record.
const TAKEOVER_POLL: Duration = Duration::from_millis(100);

/// One step, so that nothing comes between the delivered marker's check and the claim:
/// `done` (delivered within the reader's TTL), `busy` (another holder), `won` (the
/// sending trace is ours now), or `interrupted` with the trace a former holder left (the
/// claim is then held for the grace too). A claim without an expiry is no holder's (each
/// sets its budget): it gets the waiter's, so that it blocks no longer than that.
/// KEYS: claim, done, sending. ARGV: token, claim PX, now ms, TTL ms, grace ms, trace.
const CLAIM: &str = r"
local at = redis.call('GET', KEYS[2])
if at and tonumber(at) + tonumber(ARGV[4]) > tonumber(ARGV[3]) then
  return {'done', ''}
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return {'busy', ''}
end
local before = redis.call('GET', KEYS[3])
if before then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[5]))
  return {'interrupted', before}
end
redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[4])
return {'won', ''}";

/// After the grace: posts from here on, if the claim is still ours.
/// KEYS: claim, sending. ARGV: token, claim PX, trace, TTL ms.
const TAKE_OVER: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1";

/// Lets go of our claim and, unless told to keep it, our sending trace.
/// KEYS: claim, sending. ARGV: token, keep the trace (1/0).
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
local s = redis.call('GET', KEYS[2])
if ARGV[2] == '0' and s and string.sub(s, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then
  redis.call('DEL', KEYS[2])
end
return 1";

/// Marks the key delivered and releases our claim and trace in one step: no waiter can
/// see the claim gone and the marker missing.
/// KEYS: claim, done, sending. ARGV: token, now ms, TTL ms.
const DELIVERED: &str = r"
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
local s = redis.call('GET', KEYS[3])
if s and string.sub(s, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then
  redis.call('DEL', KEYS[3])
end
return 1";

/// A job history's read-modify-write, the write half: stores the new record only if the
/// record is still the one the caller read (compare-and-set), so that two gateways
/// recording runs of one job never lose an update; the caller reads again and retries.
/// KEYS: history. ARGV: expected record, 1 when none was expected, new record, TTL ms.
/// Answers `{'1'}` when stored, else `{'0'}` and the record found (none when there is
/// none), so that a lost round needs no second read.
const HISTORY_CAS: &str = r"
local cur = false
local kind = redis.call('TYPE', KEYS[1])
if type(kind) == 'table' then kind = kind['ok'] end
if kind == 'string' and redis.call('STRLEN', KEYS[1]) <= 65536 then
  cur = redis.call('GET', KEYS[1])
end
if (ARGV[2] == '1' and cur) or (ARGV[2] == '0' and cur ~= ARGV[1]) then
  if cur then return {'0', cur} end
  return {'0'}
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return {'1'}";

/// A job's record. A key of another type there (planted, or left by hand) reads as no
/// history, as a damaged record does, and the next record replaces it: a raw
/// `WRONGTYPE` would cost the job its story on every post, for good. So does a string
/// past 64 KiB (a real record holds 16 runs, about 1 KB): a forged one of hundreds of
/// MB was read whole, here and in [`HISTORY_CAS`]'s answer, which treats it the same.
const HISTORY_GET: &str = r"
local kind = redis.call('TYPE', KEYS[1])
if type(kind) == 'table' then kind = kind['ok'] end
if kind ~= 'string' then return false end
if redis.call('STRLEN', KEYS[1]) > 65536 then return false end
return redis.call('GET', KEYS[1])";

/// Compare-and-set rounds before giving up: each lost round means another writer
/// recorded a run of the same job, which takes one round trip.
const HISTORY_ROUNDS: usize = 1000;

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
    /// Delivered keys whose marker is not in Redis yet, with the holder token.
    backlog: Arc<Mutex<Vec<(DedupeKey, String)>>>,
    /// The last job record read, by job: an event's story reads it just before its run
    /// is recorded, so the compare-and-set starts from it instead of reading it again
    /// (a record changed in between only costs one lost round).
    last_history: Arc<Mutex<Option<LastRead>>>,
}

/// A job id and the record last read for it.
type LastRead = (String, Option<String>);

/// A job's record: named by a hash of its id, so that no repository name reaches a key.
fn history_key(job: &str) -> String {
    format!("{PREFIX}history:{}", crate::state::dedupe::job_hash(job))
}

fn claim_key(key: &DedupeKey) -> String {
    format!("{PREFIX}claim:{key}")
}

fn done_key(key: &DedupeKey) -> String {
    format!("{PREFIX}done:{key}")
}

fn sending_key(key: &DedupeKey) -> String {
    format!("{PREFIX}sending:{key}")
}

/// What a holder leaves before it posts: its token and when.
fn trace(token: &str) -> String {
    format!("{token} {}", now_ms())
}

impl RedisStore {
    pub(crate) fn new(redis: SharedRedis, ttl: Duration) -> RedisStore {
        RedisStore {
            redis,
            ttl,
            backlog: Arc::new(Mutex::new(Vec::new())),
            last_history: Arc::new(Mutex::new(None)),
        }
    }

    fn last_history(&self) -> MutexGuard<'_, Option<LastRead>> {
        self.last_history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn backlog(&self) -> MutexGuard<'_, Vec<(DedupeKey, String)>> {
        self.backlog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where the store is, redacted, for the gateway's start line.
    pub(crate) fn describe(&self) -> String {
        lock(&self.redis).redacted_url()
    }

    pub(crate) fn backlog_len(&self) -> usize {
        self.backlog().len()
    }

    /// Writes the markers of deliveries made while Redis was away. Stops at the first
    /// failure, keeping the rest.
    pub(crate) fn write_backlog(&self) -> Result<()> {
        loop {
            let Some((key, token)) = self.backlog().first().cloned() else {
                return Ok(());
            };
            self.mark(&key, &token)?;
            self.backlog().retain(|(k, _)| *k != key);
        }
    }

    fn backlog_has(&self, key: &DedupeKey) -> bool {
        self.backlog().iter().any(|(k, _)| k == key)
    }

    fn mark(&self, key: &DedupeKey, token: &str) -> Result<()> {
        let ttl = millis(self.ttl);
        let at = now_ms();
        lock(&self.redis).run_durable("cannot record the delivery in Redis", |con| {
            Script::new(DELIVERED)
                .key(claim_key(key))
                .key(done_key(key))
                .key(sending_key(key))
                .arg(token)
                .arg(at)
                .arg(ttl)
                .invoke::<i64>(con)
        })?;
        Ok(())
    }
}

/// A run's (or job's) post record: at most its first 256 bytes, as the file store reads
/// it; a key of another type (planted) reads as a damaged record (`""`: the post is
/// looked for again, the job's runs post in the channel), not as an error that would
/// stop every event of the run or job; a missing key is nil.
const RUN_POST: &str = r"
local kind = redis.call('TYPE', KEYS[1])
if type(kind) == 'table' then kind = kind['ok'] end
if kind == 'none' then return false end
if kind ~= 'string' then return '' end
return redis.call('GETRANGE', KEYS[1], 0, 255)";

impl DedupeStore for RedisStore {
    fn run_post(&self, key: &DedupeKey) -> Result<Option<RunPost>> {
        let line: Option<String> =
            lock(&self.redis).run("cannot read the dedupe store", |con| {
                Script::new(RUN_POST)
                    .key(format!("{PREFIX}runpost:{key}"))
                    .invoke(con)
            })?;
        Ok(line.map(|l| RunPost::from_line(&l).unwrap_or_default()))
    }

    fn set_run_post(&self, key: &DedupeKey, post: &RunPost) -> Result<()> {
        let px = millis(self.ttl).max(1);
        lock(&self.redis).run("cannot write to the dedupe store", |con| {
            redis::cmd("SET")
                .arg(format!("{PREFIX}runpost:{key}"))
                .arg(post.to_line())
                .arg("PX")
                .arg(px)
                .query::<()>(con)
        })
    }

    fn history(&self, job: &str) -> Result<Option<String>> {
        let record: Option<String> = lock(&self.redis)
            .run("cannot read the job history in the dedupe store", |con| {
                Script::new(HISTORY_GET).key(history_key(job)).invoke(con)
            })?;
        *self.last_history() = Some((job.to_string(), record.clone()));
        Ok(record)
    }

    fn update_history(
        &self,
        job: &str,
        ttl: Duration,
        update: &mut dyn FnMut(Option<&str>) -> Option<String>,
    ) -> Result<()> {
        let key = history_key(job);
        let last = self.last_history().take();
        let mut current = match last {
            Some((read, record)) if read == job => record,
            _ => self.history(job)?,
        };
        for _ in 0..HISTORY_ROUNDS {
            let Some(new) = update(current.as_deref()) else {
                return Ok(());
            };
            let answer: Vec<String> = lock(&self.redis).run(
                "cannot record the job history in the dedupe store",
                |con| {
                    Script::new(HISTORY_CAS)
                        .key(&key)
                        .arg(current.as_deref().unwrap_or_default())
                        .arg(if current.is_none() { "1" } else { "0" })
                        .arg(&new)
                        .arg(millis(ttl).max(1))
                        .invoke(con)
                },
            )?;
            let mut answer = answer.into_iter();
            if answer.next().as_deref() == Some("1") {
                return Ok(());
            }
            current = answer.next();
        }
        Err(crate::error::fail(
            crate::error::ExitKind::Network,
            format!(
                "the job history kept changing under {HISTORY_ROUNDS} attempts to record a run"
            ),
        ))
    }

    fn is_delivered(&self, key: &DedupeKey) -> Result<bool> {
        if self.backlog_has(key) {
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
            // Posted here while Redis was away: the marker is on its way.
            if self.backlog_has(key) {
                return Ok(Claim::Duplicate);
            }
            let reply: Vec<String> =
                lock(&self.redis).run("cannot claim the key in the dedupe store", |con| {
                    Script::new(CLAIM)
                        .key(claim_key(key))
                        .key(done_key(key))
                        .key(sending_key(key))
                        .arg(&token)
                        .arg(px)
                        .arg(now_ms())
                        .arg(millis(self.ttl))
                        .arg(millis(TAKEOVER_GRACE))
                        .arg(trace(&token))
                        .invoke(con)
                })?;
            let held = |interrupted| RedisClaim {
                store: self.clone(),
                key: key.clone(),
                token: token.clone(),
                // Waiting longer than our own budget means the holder we waited for
                // ran out of its own: it may still post.
                stolen: started.elapsed() > budget,
                interrupted,
                done: false,
            };
            match reply.first().map(String::as_str) {
                Some("done") => return Ok(Claim::Duplicate),
                Some("won") => {
                    // A claim a failover could lose would let the promoted master hand
                    // the key to another holder: it counts once the replicas have it.
                    // Dropped on failure, the guard releases it (best effort).
                    let guard = held(false);
                    lock(&self.redis).confirm()?;
                    return Ok(Claim::Acquired(ClaimGuard::new(guard)));
                }
                Some("interrupted") => {
                    // Dropped without posting, this releases the claim and keeps the trace.
                    let guard = held(true);
                    if self.await_record(key)? {
                        return Ok(Claim::Duplicate);
                    }
                    if self.take_over(key, &token, px)? {
                        return Ok(Claim::Acquired(ClaimGuard::new(guard)));
                    }
                    // The claim ran out meanwhile and another holder has it: start again.
                }
                _ => {}
            }
            std::thread::sleep(POLL);
        }
    }
}

impl RedisStore {
    /// Waits up to [`TAKEOVER_GRACE`] for the delivered marker of a former holder that
    /// had started sending. True when it came.
    fn await_record(&self, key: &DedupeKey) -> Result<bool> {
        let until = Instant::now() + TAKEOVER_GRACE;
        loop {
            if self.is_delivered(key)? {
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            std::thread::sleep(TAKEOVER_POLL);
        }
    }

    /// Leaves our own sending trace in place of the former holder's, if the claim is
    /// still ours.
    fn take_over(&self, key: &DedupeKey, token: &str, px: u64) -> Result<bool> {
        let ttl = millis(self.ttl);
        let ours: i64 =
            lock(&self.redis).run_durable("cannot claim the key in the dedupe store", |con| {
                Script::new(TAKE_OVER)
                    .key(claim_key(key))
                    .key(sending_key(key))
                    .arg(token)
                    .arg(px)
                    .arg(trace(token))
                    .arg(ttl)
                    .invoke(con)
            })?;
        Ok(ours == 1)
    }
}

#[derive(Debug)]
struct RedisClaim {
    store: RedisStore,
    key: DedupeKey,
    token: String,
    stolen: bool,
    /// Taken over from a holder that had started sending and never recorded the end.
    interrupted: bool,
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
        match self.store.mark(&self.key, &self.token) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Posted, but Redis is away: remember it until it is back. Our claim
                // expires with the budget; our sending trace makes a gateway that takes
                // the entry over wait for the marker, which is written before anything new.
                self.store
                    .backlog()
                    .push((self.key.clone(), self.token.clone()));
                Err(e)
            }
        }
    }

    fn stolen(&self) -> bool {
        self.stolen
    }

    fn interrupted(&self) -> bool {
        self.interrupted
    }
}

impl Drop for RedisClaim {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Best effort: if Redis is away the claim expires with the budget (and the
        // sending trace stays: the next taker then warns of a possible duplicate). The
        // trace of a takeover stays in any case: the holder before us may have posted.
        let keep = if self.interrupted { "1" } else { "0" };
        let _ = lock(&self.store.redis).run("cannot release the claim", |con| {
            Script::new(RELEASE)
                .key(claim_key(&self.key))
                .key(sending_key(&self.key))
                .arg(&self.token)
                .arg(keep)
                .invoke::<i64>(con)
        });
    }
}

/// A random token naming one holder, so that only it can release its claim (or lease).
pub(crate) fn holder_token() -> String {
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
