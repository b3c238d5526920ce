//! Build-event deduplication: post exactly once per webhook + `provider_run_id` + state.
//!
//! Everything lives in `STATE_DIR/dedupe/`; nothing is named after the URL or holds it:
//! - `claims.lock`: a process delivering a key holds an OFD write lock on one byte of
//!   this (empty) file, at an offset taken from the key's hash. The kernel drops the lock
//!   when the process dies, so a crash frees its key at once, and nothing is created per
//!   key: a file creation costs about a millisecond on the file systems seen here, which
//!   would cap `build --events` far below its target.
//! - `delivered/XXX.log`: one line per delivery, `<key> <delivered_at_ms> <expires_at_ms>`,
//!   appended with a single write to the bucket named by the key's first three hex digits.
//! - `claims/XX.log`: one line per claim, `<key> <claimed_at_ms> <deadline_ms>`, where
//!   the deadline is the claimer's own `--timeout` budget: a waiter gives up on a holder
//!   that is alive but stuck only once the holder's budget (plus a grace) has passed.
//!   Bucketed by the first two hex digits only, and rewritten only once many of its
//!   claims have expired, so that claims cost few file creations.
//! - `compact.lock`: flocked shared by appenders and exclusively by compaction, which
//!   rewrites one bucket without its expired entries.
//!
//! Why buckets: every lookup used to read two logs holding every remembered key, so a
//! busy gateway's single-shot `build` grew to 150 ms and 43 MiB after two weeks. A lookup
//! now reads one bucket (1/4096 of the history: about 250 lines at a million keys), and
//! keeps it indexed to read only what was appended since. A long-running `--events`
//! process keeps at most [`MAX_CACHED_ENTRIES`] entries in memory and re-reads an evicted
//! bucket when it needs it again.
//!
//! Each entry carries the expiry its writer chose, so a run with a short `--dedupe-ttl`
//! never prunes what other runs asked to remember longer.
//!
//! The logs are not fsynced: losing the last entries to a power cut costs at worst one
//! repeated post, which is cheaper than an fsync per event.
//!
//! Stores written before the buckets (one `delivered.log` and one `claims.log`), and the
//! claims of the short-lived layout that had 4096 claims buckets (`claims/XXX.log`), are
//! merged into the current buckets by the first process that opens them, under the
//! exclusive compaction lock, before it reads anything. Every open lists `claims/` (256
//! names at most) for such files, so that claims a not yet upgraded process appends in
//! the old layout are taken in by the next open.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::state::statedir;
use crate::text::time::{millis, now_ms};

const DELIVERED_DIR: &str = "delivered";
const CLAIMS_DIR: &str = "claims";
/// The single logs of stores written before the buckets.
const OLD_DELIVERED: &str = "delivered.log";
const OLD_CLAIMS: &str = "claims.log";
/// Buckets of the delivered log. A power of 16, so a bucket is a prefix of the hex key;
/// 4096 keeps a bucket at a few hundred lines up to a million keys. (256 would spare a
/// fresh store some file creations, but a bucket of 4,000 lines at a million keys made
/// a single-shot `build` 1.7 times slower and a consumer re-read 375 KB per event.)
const BUCKETS: usize = 4096;
/// Hex digits of the key that name its delivered bucket.
const BUCKET_DIGITS: usize = 3;
/// Claims buckets hold the claims of 16 delivered buckets: claims expire within a minute
/// or so, so they stay short anyway, and a fresh store creates 256 of them, not 4096.
const CLAIMS_DIGITS: usize = 2;
/// Expired lines a claims bucket collects before it is rewritten. Claims expire within
/// a minute or so, so a share-based rule would rewrite (and then re-create) a claims
/// bucket every few deliveries; a file creation costs about a millisecond.
const CLAIMS_COMPACT_AT: usize = 128;
/// How many index entries (delivered and claims together) one process keeps in memory.
/// About 150 bytes each: a couple of MiB, whatever the history.
const MAX_CACHED_ENTRIES: usize = 16_384;
/// Buckets a prune looks at besides those this process used, so that buckets nobody
/// touches lately are compacted too: the whole store every 512 prunes.
const SWEEP: usize = 8;
/// A process that stays (`build --events`) sweeps after this many deliveries, so that a
/// gateway that runs for weeks still compacts the whole store within days.
const SWEEP_EVERY: usize = 64;
/// The shortest line either log holds: a key, a 13-digit time and a 0 deadline.
const MIN_LINE: usize = 64 + 1 + 13 + 1 + 1 + 1;
/// Slack past a holder's recorded budget before it counts as stuck.
const STUCK_GRACE_MS: u64 = 2_000;
/// How long a waiter trusts that a lock it sees held belongs to the latest claim record:
/// a new holder writes its record microseconds after taking the lock.
const RECORD_SETTLE: Duration = Duration::from_millis(100);
/// How often a waiter looks again while another process delivers the same key.
const POLL: Duration = Duration::from_millis(15);

/// A dedupe key: lowercase hex SHA-256, safe to print and to store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DedupeKey(String);

impl DedupeKey {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a stored key (from a spool item); only 64 lowercase hex digits pass.
    pub(crate) fn from_hex(hex: &str) -> Option<DedupeKey> {
        let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| DedupeKey(hex.to_string()))
    }

    /// The byte of `claims.lock` that stands for this key. Two keys share one with odds
    /// of 2^-60, and then one merely waits for the other.
    fn slot(&self) -> i64 {
        // 15 hex digits: below 2^60, which leaves the range above it for takeover bytes.
        i64::from_str_radix(&self.0[..15], 16).unwrap_or(0)
    }

    /// The byte that the one waiter taking over from a stuck holder locks, so that a
    /// crowd of waiters does not all post at once.
    fn takeover_slot(&self) -> i64 {
        self.slot() + (1 << 60)
    }

    /// The bucket of both logs that holds this key's lines.
    fn bucket(&self) -> usize {
        bucket_of(&self.0).unwrap_or(0)
    }
}

/// The bucket of a hex key: its first two digits (SHA-256 spreads them evenly).
fn bucket_of(hex: &str) -> Option<usize> {
    usize::from_str_radix(hex.get(..BUCKET_DIGITS)?, 16).ok()
}

fn bucket_file(bucket: usize) -> String {
    format!("{bucket:03x}.log")
}

/// The claims bucket of delivered bucket `bucket`: its first two hex digits.
fn claims_file(bucket: usize) -> String {
    format!(
        "{:02x}.log",
        bucket >> (4 * (BUCKET_DIGITS - CLAIMS_DIGITS))
    )
}

/// Whether `name` is a claims bucket of the layout that had 4096 of them (`XXX.log`).
fn is_old_claims_file(name: &str) -> bool {
    name.strip_suffix(".log").is_some_and(|stem| {
        stem.len() == BUCKET_DIGITS && stem.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

impl fmt::Display for DedupeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of one build status on one webhook.
pub(crate) fn key(webhook_url: &str, run_id: &str, state: &str) -> DedupeKey {
    // Length-prefixed, so ("a|b", "c") and ("a", "|bc") differ; the tag keeps these
    // hashes from matching any other use of SHA-256 over the same strings.
    let mut buf = Vec::with_capacity(64 + webhook_url.len() + run_id.len() + state.len());
    buf.extend_from_slice(b"mmnotify-dedupe-v1\0");
    for part in [webhook_url, run_id, state] {
        buf.extend_from_slice(&(part.len() as u64).to_be_bytes());
        buf.extend_from_slice(part.as_bytes());
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &buf);
    let mut hex = String::with_capacity(64);
    for b in digest.as_ref() {
        hex.push_str(&format!("{b:02x}"));
    }
    DedupeKey(hex)
}

/// The dedupe store in `STATE_DIR/dedupe/`.
#[derive(Debug, Clone)]
pub(crate) struct Dedupe {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    ttl: Duration,
    claims: File,
    compact: File,
    log: Mutex<Log>,
    /// The next bucket a prune sweeps; each process starts somewhere else.
    sweep_at: AtomicUsize,
    /// Deliveries recorded by this process, to sweep every [`SWEEP_EVERY`] of them.
    deliveries: AtomicUsize,
}

/// An append-only file of lines, read incrementally. No descriptor is kept: a process
/// may touch thousands of buckets.
#[derive(Debug)]
struct Journal {
    path: PathBuf,
    /// The inode read so far; a compaction replaces the file with a new one.
    ino: Option<u64>,
    offset: u64,
    partial: Vec<u8>,
}

/// What this process knows of one bucket of both logs.
#[derive(Debug)]
struct Bucket {
    delivered: Journal,
    /// key → (`delivered_at_ms`, `expires_at_ms`), the longest memory winning.
    index: HashMap<String, (u64, u64)>,
    claims: Journal,
    /// key → (`claimed_at_ms`, `deadline_ms`) of the latest claim.
    claim_index: HashMap<String, (u64, u64)>,
    /// When this process last used the bucket, for eviction.
    used: u64,
}

impl Bucket {
    fn new(dir: &Path, bucket: usize) -> Bucket {
        Bucket {
            delivered: Journal::new(dir.join(DELIVERED_DIR).join(bucket_file(bucket))),
            index: HashMap::new(),
            // Shared with the 15 other buckets of the same claims file: the index holds
            // their claims too, which is harmless, and a compaction rewrites the whole file.
            claims: Journal::new(dir.join(CLAIMS_DIR).join(claims_file(bucket))),
            claim_index: HashMap::new(),
            used: 0,
        }
    }

    fn len(&self) -> usize {
        self.index.len() + self.claim_index.len()
    }

    /// Brings both indexes up to date with what others appended.
    fn refresh(&mut self) -> anyhow::Result<()> {
        let (reset, lines) = self.delivered.read_new()?;
        if reset {
            self.index.clear();
        }
        for (k, at, expires) in lines.iter().filter_map(|l| parse_line(l)) {
            // The longest memory any writer asked for wins: a run with a short TTL must
            // not shorten what others keep (nor let prune drop it).
            let e = self.index.entry(k).or_insert((at, expires));
            e.0 = e.0.max(at);
            e.1 = e.1.max(expires);
        }
        self.refresh_claims()
    }

    fn refresh_claims(&mut self) -> anyhow::Result<()> {
        let (reset, lines) = self.claims.read_new()?;
        if reset {
            self.claim_index.clear();
        }
        for (k, at, deadline) in lines.iter().filter_map(|l| parse_line(l)) {
            self.claim_index.insert(k, (at, deadline));
        }
        Ok(())
    }

    /// Which logs are worth rewriting: only when a good share of a bucket has expired,
    /// since a rewrite blocks every appender and costs fsyncs (expired entries are
    /// ignored anyway).
    fn compaction_due(&self, now: u64) -> (bool, bool) {
        let delivered = self.index.values().filter(|(_, e)| *e <= now).count();
        let claims = self
            .claim_index
            .values()
            .filter(|(_, d)| claim_expired(*d, now))
            .count();
        (
            delivered > 0 && (delivered >= 1000 || delivered * 4 >= self.index.len()),
            claims >= CLAIMS_COMPACT_AT,
        )
    }
}

/// The buckets this process has read, bounded by [`MAX_CACHED_ENTRIES`].
#[derive(Debug)]
struct Log {
    dir: PathBuf,
    buckets: HashMap<usize, Bucket>,
    /// Sum of the buckets' lengths.
    entries: usize,
    clock: u64,
}

impl Log {
    fn new(dir: &Path) -> Log {
        Log {
            dir: dir.to_path_buf(),
            buckets: HashMap::new(),
            entries: 0,
            clock: 0,
        }
    }

    /// Runs `f` on bucket `b` (read in when not cached), keeps the entry count, and
    /// evicts the least recently used other buckets when over the bound.
    fn with<T>(
        &mut self,
        b: usize,
        f: impl FnOnce(&mut Bucket) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.clock += 1;
        let dir = &self.dir;
        let bucket = self.buckets.entry(b).or_insert_with(|| Bucket::new(dir, b));
        bucket.used = self.clock;
        let before = bucket.len();
        let result = f(bucket);
        let after = bucket.len();
        self.entries = self.entries - before + after;
        if self.entries > MAX_CACHED_ENTRIES {
            self.evict(b);
        }
        result
    }

    /// Drops whole buckets, oldest use first, down to three quarters of the bound, so
    /// that the scan happens once per many inserts. An evicted bucket is read again from
    /// its file when needed: only memory is lost.
    fn evict(&mut self, keep: usize) {
        let mut by_age: Vec<(u64, usize)> = self
            .buckets
            .iter()
            .filter(|(b, _)| **b != keep)
            .map(|(b, bucket)| (bucket.used, *b))
            .collect();
        by_age.sort_unstable();
        for (_, b) in by_age {
            if self.entries <= MAX_CACHED_ENTRIES * 3 / 4 {
                break;
            }
            if let Some(bucket) = self.buckets.remove(&b) {
                self.entries -= bucket.len();
            }
        }
    }

    fn forget(&mut self, b: usize) {
        if let Some(bucket) = self.buckets.remove(&b) {
            self.entries -= bucket.len();
        }
    }
}

/// What every dedupe store offers: the file store here, and the shared Redis store of
/// redundant gateways (`gateway::store`). Both give the same guarantees: one holder per
/// key at a time, a holder that dies frees the key within its budget, and a delivered
/// key stays a duplicate for the TTL.
pub(crate) trait DedupeStore: Send + Sync {
    /// Takes the right to deliver `key`, or learns that it was delivered. `budget` is how
    /// long this holder may keep the key before others may take over.
    fn claim(&self, key: &DedupeKey, budget: Duration) -> anyhow::Result<Claim>;

    /// Whether `key` was delivered within the TTL.
    fn is_delivered(&self, key: &DedupeKey) -> anyhow::Result<bool>;
}

/// One store's side of a held claim. Dropping it without [`Held::delivered`] releases the
/// key for the next try.
pub(crate) trait Held: fmt::Debug + Send {
    /// Records the delivery and lets go of the key.
    fn delivered(self: Box<Self>) -> anyhow::Result<()>;
    /// Granted only because the previous holder outlived its budget.
    fn stolen(&self) -> bool;
}

/// The outcome of [`DedupeStore::claim`].
#[derive(Debug)]
pub(crate) enum Claim {
    /// Post, then call [`ClaimGuard::delivered`]; dropping the guard instead leaves the
    /// key free for the next try.
    Acquired(ClaimGuard),
    /// Already delivered within the TTL (possibly by the process we waited for).
    Duplicate,
}

/// The right to post for one key until dropped.
#[derive(Debug)]
pub(crate) struct ClaimGuard(Box<dyn Held>);

impl ClaimGuard {
    pub(crate) fn new(held: impl Held + 'static) -> ClaimGuard {
        ClaimGuard(Box::new(held))
    }

    /// Records the delivery, so that later claims of this key are duplicates, and lets
    /// go of the key.
    pub(crate) fn delivered(self) -> anyhow::Result<()> {
        self.0.delivered()
    }

    /// True when granted only because the holder outlived its budget: the caller should
    /// warn that a second post is possible.
    pub(crate) fn stolen(&self) -> bool {
        self.0.stolen()
    }
}

/// The file store's claim: a byte lock in `claims.lock`.
#[derive(Debug)]
struct FileClaim {
    inner: Arc<Inner>,
    key: DedupeKey,
    /// The byte of `claims.lock` this claim holds, if any.
    byte: Option<i64>,
    stolen: bool,
    delivered: bool,
}

impl Dedupe {
    /// Opens the store, creating `dedupe/` (mode 0700) and its parents when missing.
    pub(crate) fn open(state_dir: &Path, ttl: Duration) -> anyhow::Result<Dedupe> {
        let dir = state_dir.join("dedupe");
        statedir::ensure_private_dir(state_dir)?;
        statedir::ensure_private_dir(&dir)?;
        for sub in [DELIVERED_DIR, CLAIMS_DIR] {
            statedir::ensure_private_dir(&dir.join(sub))?;
        }
        let open = |name: &str| {
            let path = dir.join(name);
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))
        };
        let compact = open("compact.lock")?;
        migrate(&dir, &compact)?;
        Ok(Dedupe {
            inner: Arc::new(Inner {
                claims: open("claims.lock")?,
                compact,
                log: Mutex::new(Log::new(&dir)),
                // Buckets are taken modulo 4096: the low 32 bits carry all of the seed.
                sweep_at: AtomicUsize::new(
                    usize::try_from(u64::from(std::process::id()) ^ (now_ms() & 0xffff_ffff))
                        .unwrap_or_default(),
                ),
                deliveries: AtomicUsize::new(0),
                dir,
                ttl,
            }),
        })
    }

    #[cfg(test)]
    pub(crate) fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether `key` was delivered within this store's TTL.
    pub(crate) fn is_delivered(&self, key: &DedupeKey) -> anyhow::Result<bool> {
        self.inner.is_delivered(key)
    }

    /// Takes the right to deliver `key`, or learns that it was delivered. While another
    /// live process delivers the same key, waits for its result; a process that died
    /// has already let go. A holder that is alive but stuck is waited for at most
    /// `budget`, after which the claim is granted with [`ClaimGuard::stolen`] set.
    ///
    /// One process claims one key at a time: OFD locks belong to the open file, so two
    /// claims of the same key through one store would not exclude each other.
    pub(crate) fn claim(&self, key: &DedupeKey, budget: Duration) -> anyhow::Result<Claim> {
        let started = Instant::now();
        // Our patience when the holder's record cannot be read.
        let own_deadline = now_ms().saturating_add(millis(budget));
        loop {
            if self.inner.is_delivered(key)? {
                return Ok(Claim::Duplicate);
            }
            if let Some(guard) = self.inner.try_acquire(key, key.slot(), budget, false)? {
                // The holder we waited for may have delivered just before letting go.
                if self.inner.is_delivered(key)? {
                    return Ok(Claim::Duplicate);
                }
                return Ok(Claim::Acquired(guard));
            }
            // Someone alive holds the key: wait for its result, for as long as its own
            // budget allows. A record of a released claim means the new holder is about
            // to write its own.
            let give_up_at = match self.inner.holder_deadline(key)? {
                Some(deadline) if deadline > 0 && started.elapsed() >= RECORD_SETTLE => {
                    deadline.saturating_add(STUCK_GRACE_MS)
                }
                Some(deadline) if deadline > 0 => {
                    deadline.saturating_add(STUCK_GRACE_MS).max(own_deadline)
                }
                _ => own_deadline,
            };
            let now = now_ms();
            if now >= give_up_at {
                // The holder is stuck. Only one waiter takes over; it records its own
                // claim, which the others then wait on.
                if let Some(guard) =
                    self.inner
                        .try_acquire(key, key.takeover_slot(), budget, true)?
                {
                    if self.inner.is_delivered(key)? {
                        return Ok(Claim::Duplicate);
                    }
                    return Ok(Claim::Acquired(guard));
                }
                // The one that took over is stuck as well: do not wait forever.
                if now >= give_up_at.max(own_deadline).saturating_add(STUCK_GRACE_MS) {
                    return Ok(Claim::Acquired(ClaimGuard::new(FileClaim {
                        inner: self.inner.clone(),
                        key: key.clone(),
                        byte: None,
                        stolen: true,
                        delivered: false,
                    })));
                }
            }
            std::thread::sleep(POLL);
        }
    }

    /// Rewrites buckets without entries past their own expiry: the buckets this process
    /// has used, and a few others in turn. Cheap when nothing has expired: a look at the
    /// first line of each bucket not in memory (compaction writes the soonest expiry
    /// first), and a read of what was appended since for the others.
    pub(crate) fn prune(&self) -> anyhow::Result<usize> {
        self.inner.prune(true)
    }
}

impl DedupeStore for Dedupe {
    fn claim(&self, key: &DedupeKey, budget: Duration) -> anyhow::Result<Claim> {
        Dedupe::claim(self, key, budget)
    }

    fn is_delivered(&self, key: &DedupeKey) -> anyhow::Result<bool> {
        Dedupe::is_delivered(self, key)
    }
}

fn claim_expired(deadline: u64, now: u64) -> bool {
    deadline.saturating_add(STUCK_GRACE_MS) <= now
}

/// Whether the first entry of bucket `b` in either log has expired. After a compaction
/// that is the soonest expiry of the bucket; before one, the oldest line.
fn head_expired(dir: &Path, b: usize, now: u64) -> anyhow::Result<bool> {
    for (sub, name, is_claim) in [
        (DELIVERED_DIR, bucket_file(b), false),
        (CLAIMS_DIR, claims_file(b), true),
    ] {
        let path = dir.join(sub).join(&name);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        // A claims bucket too short to hold CLAIMS_COMPACT_AT lines is not due, and
        // reading it in would read its (large) delivered bucket too.
        let len = file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        if is_claim && len < (CLAIMS_COMPACT_AT * MIN_LINE) as u64 {
            continue;
        }
        let mut head = [0u8; 128];
        let n = file
            .read(&mut head)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let line = head[..n].split(|c| *c == b'\n').next().unwrap_or_default();
        let parsed = std::str::from_utf8(line).ok().and_then(parse_line);
        if let Some((_, _, until)) = parsed {
            let expired = if is_claim {
                claim_expired(until, now)
            } else {
                until <= now
            };
            if expired {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The files of older layouts that feed the log kept in `sub`: the single log of stores
/// written before the buckets (first: it is the oldest), then, for claims, the buckets
/// of the layout that had 4096 of them.
fn old_sources(dir: &Path, single: &str, sub: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut sources = Vec::new();
    let path = dir.join(single);
    if path.symlink_metadata().is_ok() {
        sources.push(path);
    }
    if sub != CLAIMS_DIR {
        return Ok(sources);
    }
    let target = dir.join(sub);
    let entries = match fs::read_dir(&target) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(sources),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", target.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", target.display()))?;
        if entry.file_name().to_str().is_some_and(is_old_claims_file) {
            sources.push(entry.path());
        }
    }
    Ok(sources)
}

/// Merges the files of older layouts (see [`old_sources`]) into the current buckets.
/// Under the exclusive compaction lock, so that no process of this version reads a
/// bucket before it is complete; each bucket is replaced atomically and the old files
/// removed last, so that a crash in between only repeats the work. Migrated lines go
/// before what a bucket already holds, so a repeat never makes an old claim record look
/// like the latest.
fn migrate(dir: &Path, compact: &File) -> anyhow::Result<()> {
    let logs = [
        (OLD_CLAIMS, CLAIMS_DIR, true),
        (OLD_DELIVERED, DELIVERED_DIR, false),
    ];
    let mut found = false;
    for (single, sub, _) in logs {
        found |= !old_sources(dir, single, sub)?.is_empty();
    }
    if !found {
        return Ok(());
    }
    let _exclusive = FlockGuard::take(compact, libc::LOCK_EX, dir)?;
    let now = now_ms();
    for (single, sub, is_claim) in logs {
        // Listed again under the lock: another process may have finished first.
        let sources = old_sources(dir, single, sub)?;
        if sources.is_empty() {
            continue;
        }
        let mut buckets: HashMap<String, Vec<u8>> = HashMap::new();
        for path in &sources {
            let text = match fs::read(path) {
                Ok(text) => text,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            };
            // A torn last line (a writer killed mid-write) is left out, as readers do.
            let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            for line in text[..complete].split(|b| *b == b'\n') {
                let Some((k, _, until)) = std::str::from_utf8(line).ok().and_then(parse_line)
                else {
                    continue;
                };
                let expired = if is_claim {
                    claim_expired(until, now)
                } else {
                    until <= now
                };
                if !expired {
                    let b = bucket_of(&k).unwrap_or(0);
                    let name = if is_claim {
                        claims_file(b)
                    } else {
                        bucket_file(b)
                    };
                    let lines = buckets.entry(name).or_default();
                    lines.extend_from_slice(line);
                    lines.push(b'\n');
                }
            }
        }
        let target = dir.join(sub);
        let mut renames = Vec::with_capacity(buckets.len());
        for (name, mut lines) in buckets {
            let final_path = target.join(&name);
            match fs::read(&final_path) {
                Ok(existing) => lines.extend_from_slice(&existing),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot read {}", final_path.display()))
                }
            }
            let tmp = target.join(format!(".tmp-migrate-{name}-{}", std::process::id()));
            write_new(&tmp, &lines)?;
            renames.push((tmp, final_path));
        }
        // One sync of the file system instead of one per bucket: a store of a million
        // keys has thousands of them.
        let dirfd =
            File::open(&target).with_context(|| format!("cannot open {}", target.display()))?;
        // SAFETY: syncfs on a descriptor owned by `dirfd`, alive for the call.
        unsafe { libc::syncfs(dirfd.as_raw_fd()) };
        for (tmp, final_path) in renames {
            fs::rename(&tmp, &final_path)
                .with_context(|| format!("cannot replace {}", final_path.display()))?;
        }
        dirfd
            .sync_all()
            .with_context(|| format!("cannot sync {}", target.display()))?;
        for path in &sources {
            match fs::remove_file(path) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {}", path.display()))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Replaces a bucket with `text`; an empty bucket is removed instead, which spares the
/// fsyncs of a rewrite (claims buckets are usually all expired).
fn replace_bucket(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    if text.is_empty() {
        let path = dir.join(name);
        return match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        };
    }
    statedir::write_atomic(dir, name, text.as_bytes()).map(drop)
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let _ = fs::remove_file(path); // a leftover of a migration that was killed
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .with_context(|| format!("cannot write {}", path.display()))
}

impl Inner {
    /// Compacts the due buckets among the next [`SWEEP`] of the rotation and, with
    /// `cached`, among those this process holds in memory.
    fn prune(&self, cached: bool) -> anyhow::Result<usize> {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = now_ms();
        let start = self.sweep_at.fetch_add(SWEEP, Ordering::Relaxed);
        let mut candidates = Vec::new();
        for i in 0..SWEEP {
            let b = start.wrapping_add(i) % BUCKETS;
            // Only a bucket whose soonest expiry has passed is worth reading in.
            if log.buckets.contains_key(&b) || head_expired(&self.dir, b, now)? {
                candidates.push(b);
            }
        }
        if cached {
            candidates.extend(log.buckets.keys().copied());
            candidates.sort_unstable();
            candidates.dedup();
        }
        let mut removed = 0;
        for b in candidates {
            let (delivered, claims) = log.with(b, |bucket| {
                bucket.refresh()?;
                Ok(bucket.compaction_due(now))
            })?;
            if delivered || claims {
                removed += self.compact(&mut log, b, delivered, claims)?;
            }
        }
        Ok(removed)
    }

    fn is_delivered(&self, key: &DedupeKey) -> anyhow::Result<bool> {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ttl = millis(self.ttl);
        log.with(key.bucket(), |bucket| {
            bucket.refresh()?;
            Ok(bucket
                .index
                .get(key.as_str())
                .is_some_and(|(at, _)| at.saturating_add(ttl) > now_ms()))
        })
    }

    fn holder_deadline(&self, key: &DedupeKey) -> anyhow::Result<Option<u64>> {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.with(key.bucket(), |bucket| {
            bucket.refresh_claims()?;
            Ok(bucket
                .claim_index
                .get(key.as_str())
                .map(|(_, deadline)| *deadline))
        })
    }

    /// Rewrites bucket `b` without expired entries, under the exclusive lock. Returns
    /// how many delivered keys were dropped.
    fn compact(
        &self,
        log: &mut Log,
        b: usize,
        delivered: bool,
        claims: bool,
    ) -> anyhow::Result<usize> {
        let _compacting = FlockGuard::take(&self.compact, libc::LOCK_EX, &self.dir)?;
        // Read afresh under the lock: others may have appended since.
        log.forget(b);
        let now = now_ms();
        let removed = log.with(b, |bucket| {
            bucket.refresh()?;
            let before = bucket.index.len();
            if delivered {
                bucket.index.retain(|_, (_, expires)| *expires > now);
                let mut entries: Vec<_> = bucket.index.iter().collect();
                // Soonest expiry first: a prune then sees from the first line alone
                // whether anything is due.
                entries.sort_unstable_by_key(|(_, (_, expires))| *expires);
                let mut text = String::with_capacity(entries.len() * 96);
                for (k, (at, expires)) in entries {
                    text.push_str(&format!("{k} {at} {expires}\n"));
                }
                replace_bucket(&self.dir.join(DELIVERED_DIR), &bucket_file(b), &text)?;
            }
            if claims {
                bucket
                    .claim_index
                    .retain(|_, (_, deadline)| !claim_expired(*deadline, now));
                let mut entries: Vec<_> = bucket.claim_index.iter().collect();
                entries.sort_unstable_by_key(|(_, (_, deadline))| *deadline);
                let mut text = String::new();
                for (k, (at, deadline)) in entries {
                    text.push_str(&format!("{k} {at} {deadline}\n"));
                }
                replace_bucket(&self.dir.join(CLAIMS_DIR), &claims_file(b), &text)?;
            }
            Ok(before - bucket.index.len())
        });
        // Appenders reopen the bucket; readers start it over on the next lookup.
        log.forget(b);
        removed
    }

    /// Locks `byte` and records the claim with the deadline of our budget, counted from
    /// now. Both happen under the shared compaction lock, so that no prune can come
    /// between them and leave waiters reading an older holder's record.
    fn try_acquire(
        self: &Arc<Self>,
        key: &DedupeKey,
        byte: i64,
        budget: Duration,
        stolen: bool,
    ) -> anyhow::Result<Option<ClaimGuard>> {
        let _shared = FlockGuard::take(&self.compact, libc::LOCK_SH, &self.dir)?;
        if !self.lock_byte(byte, libc::F_WRLCK)? {
            return Ok(None);
        }
        let guard = FileClaim {
            inner: Arc::clone(self),
            key: key.clone(),
            byte: Some(byte),
            stolen,
            delivered: false,
        };
        let at = now_ms();
        self.write_claim_record(key, at, at.saturating_add(millis(budget)))?;
        Ok(Some(ClaimGuard::new(guard)))
    }

    /// A claim line; deadline 0 marks a claim given up without a delivery. Callers hold
    /// the shared compaction lock.
    fn write_claim_record(&self, key: &DedupeKey, at: u64, deadline: u64) -> anyhow::Result<()> {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.with(key.bucket(), |bucket| {
            bucket.claims.append(&format!("{key} {at} {deadline}\n"))?;
            bucket
                .claim_index
                .insert(key.as_str().to_string(), (at, deadline));
            Ok(())
        })
    }

    fn append(&self, key: &DedupeKey) -> anyhow::Result<()> {
        let _shared = FlockGuard::take(&self.compact, libc::LOCK_SH, &self.dir)?;
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = now_ms();
        let expires = at.saturating_add(millis(self.ttl));
        log.with(key.bucket(), |bucket| {
            bucket
                .delivered
                .append(&format!("{key} {at} {expires}\n"))?;
            let e = bucket
                .index
                .entry(key.as_str().to_string())
                .or_insert((at, expires));
            e.0 = e.0.max(at);
            e.1 = e.1.max(expires);
            Ok(())
        })
    }

    /// An OFD lock (per open file description, released on close or death) on the key's
    /// byte; `F_UNLCK` releases it. Returns false when another holder has it.
    fn lock_byte(&self, byte: i64, kind: libc::c_int) -> anyhow::Result<bool> {
        let fl = libc::flock {
            l_type: libc::c_short::try_from(kind).context("lock type out of range")?,
            l_whence: libc::c_short::try_from(libc::SEEK_SET).context("SEEK_SET out of range")?,
            l_start: byte,
            l_len: 1,
            l_pid: 0,
        };
        loop {
            // SAFETY: `fl` is a valid flock for this call and the descriptor is owned by
            // `self.claims`, which outlives it.
            let rc = unsafe { libc::fcntl(self.claims.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
            if rc == 0 {
                return Ok(true);
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EAGAIN | libc::EACCES) => return Ok(false),
                // Interrupted: try again.
                Some(libc::EINTR) => {}
                _ => {
                    return Err(err)
                        .with_context(|| format!("cannot lock {}/claims.lock", self.dir.display()))
                }
            }
        }
    }
}

impl Journal {
    fn new(path: PathBuf) -> Journal {
        Journal {
            path,
            ino: None,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Complete lines appended since the last call. `reset` is true when the file was
    /// replaced by a compaction (or removed): the caller starts its index over.
    fn read_new(&mut self) -> anyhow::Result<(bool, Vec<String>)> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let reset = self.ino.take().is_some();
                self.offset = 0;
                self.partial.clear();
                return Ok((reset, Vec::new()));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.path.display()))
            }
        };
        let meta = file
            .metadata()
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let ino = meta.ino();
        let mut reset = false;
        if self.ino != Some(ino) {
            reset = self.ino.is_some();
            self.ino = Some(ino);
            self.offset = 0;
            self.partial.clear();
        }
        let len = meta.len();
        file.seek(SeekFrom::Start(self.offset))?;
        let mut fresh = Vec::with_capacity(
            usize::try_from(len.saturating_sub(self.offset)).map_or(0, |n| n.saturating_add(1)),
        );
        file.read_to_end(&mut fresh)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        self.offset += fresh.len() as u64;
        let mut data = std::mem::take(&mut self.partial);
        data.extend_from_slice(&fresh);
        let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let lines = data[..complete]
            .split(|b| *b == b'\n')
            .filter_map(|l| std::str::from_utf8(l).ok())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        self.partial = data[complete..].to_vec();
        Ok((reset, lines))
    }

    /// Callers hold the shared compaction lock, so the file opened is the current one.
    fn append(&mut self, line: &str) -> anyhow::Result<()> {
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        // One write of a short line to an O_APPEND file lands whole.
        file.write_all(line.as_bytes())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

fn parse_line(text: &str) -> Option<(String, u64, u64)> {
    let mut parts = text.split(' ');
    let k = DedupeKey::from_hex(parts.next()?)?;
    let at = parts.next()?.parse().ok()?;
    let expires = parts.next()?.parse().ok()?;
    Some((k.0, at, expires))
}

impl Held for FileClaim {
    fn delivered(mut self: Box<Self>) -> anyhow::Result<()> {
        self.inner.append(&self.key)?;
        self.delivered = true;
        if self.inner.deliveries.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Housekeeping only: a failure shows at the next start's prune.
            let _ = self.inner.prune(false);
        }
        Ok(())
    }

    fn stolen(&self) -> bool {
        self.stolen
    }
}

impl Drop for FileClaim {
    fn drop(&mut self) {
        if let Some(byte) = self.byte {
            if !self.delivered {
                // Close our record, so that no waiter mistakes it for the next holder's.
                if let Ok(_shared) =
                    FlockGuard::take(&self.inner.compact, libc::LOCK_SH, &self.inner.dir)
                {
                    let _ = self.inner.write_claim_record(&self.key, now_ms(), 0);
                }
            }
            // Closing the file would release the lock too, but the store lives on for
            // the next event of a stream.
            let _ = self.inner.lock_byte(byte, libc::F_UNLCK);
        }
    }
}

/// A blocking `flock`, released on drop.
struct FlockGuard<'a>(&'a File);

impl<'a> FlockGuard<'a> {
    fn take(file: &'a File, op: libc::c_int, dir: &Path) -> anyhow::Result<FlockGuard<'a>> {
        loop {
            // SAFETY: flock on a descriptor owned by `file`, alive for the call.
            if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
                return Ok(FlockGuard(file));
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(err)
                    .with_context(|| format!("cannot lock {}/compact.lock", dir.display()));
            }
        }
    }
}

impl Drop for FlockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `take`.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const URL: &str = "https://chat.example.com/hooks/pq3wxk8bmjsyr9cn5ue7tdo1ha";
    const DAY: Duration = Duration::from_secs(86400);
    // Large, so that "did not wait for the budget" holds on a loaded machine.
    const BUDGET: Duration = Duration::from_secs(60);

    fn store(dir: &Path, ttl: Duration) -> Dedupe {
        Dedupe::open(dir, ttl).unwrap()
    }

    // The logs' folders; a key's lines are in the bucket file `bucket` names.
    const LOG: &str = DELIVERED_DIR;
    const CLAIMS: &str = CLAIMS_DIR;

    fn bucket(d: &Dedupe, log: &str, k: &DedupeKey) -> PathBuf {
        let name = if log == CLAIMS {
            claims_file(k.bucket())
        } else {
            bucket_file(k.bucket())
        };
        d.dir().join(log).join(name)
    }

    /// Every line of every bucket of one log.
    fn all_lines(d: &Dedupe, log: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for entry in fs::read_dir(d.dir().join(log)).unwrap() {
            let text = fs::read_to_string(entry.unwrap().path()).unwrap();
            lines.extend(text.lines().map(str::to_string));
        }
        lines
    }

    fn acquired(c: Claim) -> ClaimGuard {
        match c {
            Claim::Acquired(g) => g,
            Claim::Duplicate => panic!("expected Acquired, got Duplicate"),
        }
    }

    #[test]
    fn keys_are_stable_separate_and_secret_free() {
        let a = key(URL, "1", "failed");
        assert_eq!(a, key(URL, "1", "failed"));
        assert_ne!(a, key(URL, "1", "succeeded"));
        assert_ne!(a, key(URL, "2", "failed"));
        assert_ne!(key(URL, "a|b", "c"), key(URL, "a", "|bc"));
        assert_eq!(a.as_str().len(), 64);
        assert!(!a.as_str().contains("pq3w"));
        assert_eq!(DedupeKey::from_hex(a.as_str()), Some(a));
        assert_eq!(DedupeKey::from_hex("../../etc/passwd"), None);
    }

    #[test]
    fn delivered_keys_are_duplicates_and_files_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let d = store(tmp.path(), DAY);
        let k = key(URL, "1", "failed");
        acquired(d.claim(&k, BUDGET).unwrap()).delivered().unwrap();
        assert!(d.is_delivered(&k).unwrap());
        assert!(matches!(d.claim(&k, BUDGET).unwrap(), Claim::Duplicate));
        // A second process (another open of the store) sees it too.
        let other = store(tmp.path(), DAY);
        assert!(matches!(other.claim(&k, BUDGET).unwrap(), Claim::Duplicate));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(d.dir()), 0o700);
        for f in ["claims.lock", "compact.lock"] {
            assert_eq!(mode(&d.dir().join(f)), 0o600, "{f}");
        }
        for f in [LOG, CLAIMS] {
            assert_eq!(mode(&d.dir().join(f)), 0o700, "{f}");
            assert_eq!(mode(&bucket(&d, f, &k)), 0o600, "{f}");
        }
        let log = fs::read_to_string(bucket(&d, LOG, &k)).unwrap();
        assert!(log.starts_with(k.as_str()), "{log}");
    }

    #[test]
    fn a_failed_delivery_does_not_consume_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let d = store(tmp.path(), DAY);
        let k = key(URL, "1", "failed");
        drop(acquired(d.claim(&k, BUDGET).unwrap()));
        assert!(!d.is_delivered(&k).unwrap());
        let other = store(tmp.path(), DAY);
        let started = Instant::now();
        let g = acquired(other.claim(&k, BUDGET).unwrap());
        assert!(!g.stolen());
        assert!(started.elapsed() < BUDGET / 2);
    }

    #[test]
    fn a_waiter_learns_the_holders_result() {
        let tmp = tempfile::tempdir().unwrap();
        let holder = store(tmp.path(), DAY);
        let k = key(URL, "7", "succeeded");
        let g = acquired(holder.claim(&k, BUDGET).unwrap());
        let waiter = {
            let (dir, k) = (tmp.path().to_path_buf(), k.clone());
            std::thread::spawn(move || store(&dir, DAY).claim(&k, BUDGET).unwrap())
        };
        std::thread::sleep(Duration::from_millis(100));
        g.delivered().unwrap();
        assert!(matches!(waiter.join().unwrap(), Claim::Duplicate));

        // When the holder fails instead, the waiter gets the key.
        let k = key(URL, "8", "succeeded");
        let g = acquired(holder.claim(&k, BUDGET).unwrap());
        let waiter = {
            let (dir, k) = (tmp.path().to_path_buf(), k.clone());
            std::thread::spawn(move || {
                let c = store(&dir, DAY).claim(&k, BUDGET).unwrap();
                matches!(c, Claim::Acquired(ref g) if !g.stolen())
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        drop(g);
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn a_stuck_holder_blocks_until_its_own_budget_has_passed() {
        let tmp = tempfile::tempdir().unwrap();
        let k = key(URL, "9", "failed");
        let _stuck = acquired(
            store(tmp.path(), DAY)
                .claim(&k, Duration::from_millis(100))
                .unwrap(),
        );
        let started = Instant::now();
        let g = acquired(store(tmp.path(), DAY).claim(&k, BUDGET).unwrap());
        assert!(g.stolen());
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(STUCK_GRACE_MS),
            "{waited:?}"
        );
        assert!(waited < BUDGET / 2, "{waited:?}");
    }

    #[test]
    fn a_short_budget_waiter_does_not_steal_from_a_holder_within_its_budget() {
        let tmp = tempfile::tempdir().unwrap();
        let k = key(URL, "10", "failed");
        let holder = acquired(store(tmp.path(), DAY).claim(&k, BUDGET).unwrap());
        let waiter = {
            let (dir, k) = (tmp.path().to_path_buf(), k.clone());
            std::thread::spawn(move || {
                store(&dir, DAY)
                    .claim(&k, Duration::from_millis(50))
                    .unwrap()
            })
        };
        std::thread::sleep(Duration::from_millis(600));
        assert!(
            !waiter.is_finished(),
            "the waiter gave up on a holder inside its budget"
        );
        holder.delivered().unwrap();
        assert!(matches!(waiter.join().unwrap(), Claim::Duplicate));
    }

    #[test]
    fn only_one_waiter_takes_over_from_a_stuck_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let k = key(URL, "11", "failed");
        let _stuck = acquired(
            store(tmp.path(), DAY)
                .claim(&k, Duration::from_millis(50))
                .unwrap(),
        );
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (dir, k) = (tmp.path().to_path_buf(), k.clone());
                std::thread::spawn(move || match store(&dir, DAY).claim(&k, BUDGET).unwrap() {
                    Claim::Acquired(g) => {
                        assert!(g.stolen());
                        std::thread::sleep(Duration::from_millis(300));
                        g.delivered().unwrap();
                        "took over"
                    }
                    Claim::Duplicate => "duplicate",
                })
            })
            .collect();
        let mut results: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        results.sort_unstable();
        assert_eq!(results, ["duplicate", "duplicate", "took over"]);
    }

    #[test]
    fn a_holder_that_waited_records_its_full_budget() {
        let tmp = tempfile::tempdir().unwrap();
        let k = key(URL, "14", "failed");
        let first = acquired(store(tmp.path(), DAY).claim(&k, BUDGET).unwrap());
        let second = {
            let (dir, k) = (tmp.path().to_path_buf(), k.clone());
            std::thread::spawn(move || {
                let d = store(&dir, DAY);
                let g = acquired(d.claim(&k, Duration::from_secs(5)).unwrap());
                let claims = fs::read_to_string(bucket(&d, CLAIMS, &k)).unwrap();
                drop(g);
                claims
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        drop(first);
        let claims = second.join().unwrap();
        let (_, at, deadline) = parse_line(claims.lines().last().unwrap()).unwrap();
        assert_eq!(
            deadline - at,
            5000,
            "the budget counts from the claim: {claims}"
        );
    }

    #[test]
    fn a_claim_given_up_is_marked_released() {
        let tmp = tempfile::tempdir().unwrap();
        let d = store(tmp.path(), DAY);
        let k = key(URL, "12", "failed");
        drop(acquired(d.claim(&k, BUDGET).unwrap()));
        let claims = fs::read_to_string(bucket(&d, CLAIMS, &k)).unwrap();
        let last = claims.lines().last().unwrap();
        assert!(
            last.starts_with(k.as_str()) && last.ends_with(" 0"),
            "{claims}"
        );
    }

    #[test]
    fn a_short_ttl_delivery_does_not_shorten_a_longer_one() {
        let tmp = tempfile::tempdir().unwrap();
        let long = store(tmp.path(), DAY);
        let short = store(tmp.path(), Duration::from_millis(50));
        let k = key(URL, "13", "failed");
        acquired(long.claim(&k, BUDGET).unwrap())
            .delivered()
            .unwrap();
        std::thread::sleep(Duration::from_millis(80));
        // Past the short TTL, a short-TTL run posts again...
        acquired(short.claim(&k, BUDGET).unwrap())
            .delivered()
            .unwrap();
        std::thread::sleep(Duration::from_millis(80));
        short.prune().unwrap();
        // ...but the key keeps the longest expiry anyone asked for.
        assert!(store(tmp.path(), DAY).is_delivered(&k).unwrap());
    }

    #[test]
    fn ttl_is_the_readers_and_pruning_honours_each_writers_expiry() {
        let tmp = tempfile::tempdir().unwrap();
        let long = store(tmp.path(), DAY);
        let short = store(tmp.path(), Duration::from_millis(50));
        let kept = key(URL, "1", "failed");
        let gone = key(URL, "2", "failed");
        acquired(long.claim(&kept, BUDGET).unwrap())
            .delivered()
            .unwrap();
        acquired(short.claim(&gone, BUDGET).unwrap())
            .delivered()
            .unwrap();
        std::thread::sleep(Duration::from_millis(80));
        assert!(
            !short.is_delivered(&kept).unwrap(),
            "the reader's TTL decides"
        );
        assert!(long.is_delivered(&kept).unwrap());
        assert_eq!(short.prune().unwrap(), 1);
        assert!(
            long.is_delivered(&kept).unwrap(),
            "a short TTL must not prune others"
        );
        assert!(!long.is_delivered(&gone).unwrap());
        assert_eq!(all_lines(&long, LOG).len(), 1);
        // Appends after a compaction go to the new file.
        let later = key(URL, "3", "failed");
        acquired(long.claim(&later, BUDGET).unwrap())
            .delivered()
            .unwrap();
        assert!(store(tmp.path(), DAY).is_delivered(&later).unwrap());
        assert_eq!(long.prune().unwrap(), 0);
    }

    #[test]
    fn torn_and_foreign_lines_are_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let d = store(tmp.path(), DAY);
        let k = key(URL, "1", "failed");
        let now = now_ms();
        fs::write(
            bucket(&d, LOG, &k),
            format!("garbage\n{k} {now} {}\n{k} 12", now + 1000),
        )
        .unwrap();
        assert!(d.is_delivered(&k).unwrap());
        assert!(!d.is_delivered(&key(URL, "2", "failed")).unwrap());
    }

    #[test]
    fn a_key_lives_in_the_bucket_of_its_first_three_hex_digits() {
        assert_eq!(bucket_of("abc0"), Some(0xabc));
        assert_eq!(bucket_of("ab"), None);
        assert_eq!(bucket_file(5), "005.log");
        assert_eq!(bucket_file(BUCKETS - 1), "fff.log");
        // Its claims in that of its first two.
        assert_eq!(claims_file(0xabc), "ab.log");
        assert_eq!(claims_file(BUCKETS - 1), "ff.log");
        assert!(is_old_claims_file("0af.log") && !is_old_claims_file("0a.log"));
        assert!(!is_old_claims_file("claims.log") && !is_old_claims_file("0af.tmp"));
        let tmp = tempfile::tempdir().unwrap();
        let d = store(tmp.path(), DAY);
        let keys: Vec<_> = (0..40)
            .map(|i| key(URL, &i.to_string(), "failed"))
            .collect();
        for k in &keys {
            assert_eq!(
                k.bucket(),
                usize::from_str_radix(&k.as_str()[..3], 16).unwrap()
            );
            acquired(d.claim(k, BUDGET).unwrap()).delivered().unwrap();
        }
        for k in &keys {
            let lines = fs::read_to_string(bucket(&d, LOG, k)).unwrap();
            assert!(lines.lines().any(|l| l.starts_with(k.as_str())), "{k}");
            assert!(
                lines.lines().all(|l| bucket_of(l) == Some(k.bucket())),
                "foreign key in the bucket of {k}: {lines}"
            );
        }
        // 40 keys over 4096 buckets: spread, not piled into one.
        let files = fs::read_dir(d.dir().join(LOG)).unwrap().count();
        assert!(files >= 30, "{files} buckets for 40 keys");
    }

    /// Writes `count` delivered lines straight into the bucket files, as a long history.
    fn prefill(dir: &Path, count: usize, expires: u64) -> Vec<DedupeKey> {
        let mut buckets: HashMap<usize, String> = HashMap::new();
        let mut keys = Vec::with_capacity(count);
        let now = now_ms();
        for i in 0..count {
            let k = key(URL, &format!("old-{i}"), "failed");
            let text = buckets.entry(k.bucket()).or_default();
            text.push_str(&format!("{k} {now} {expires}\n"));
            keys.push(k);
        }
        let logs = dir.join("dedupe").join(LOG);
        fs::create_dir_all(&logs).unwrap();
        for (b, text) in buckets {
            fs::write(logs.join(bucket_file(b)), text).unwrap();
        }
        keys
    }

    #[test]
    fn a_lookup_reads_one_bucket_whatever_the_history() {
        let tmp = tempfile::tempdir().unwrap();
        let keys = prefill(tmp.path(), 100_000, u64::MAX);
        let d = store(tmp.path(), DAY);
        assert!(d.is_delivered(&keys[77]).unwrap());
        assert!(!d.is_delivered(&key(URL, "new", "failed")).unwrap());
        let log = d.inner.log.lock().unwrap();
        // About 100,000 / 4096 = 24 per bucket, in at most the two buckets looked at.
        assert!(log.buckets.len() <= 2, "{} buckets read", log.buckets.len());
        assert!(log.entries < 120, "{} entries in memory", log.entries);
    }

    #[test]
    fn memory_stays_bounded_and_evicted_buckets_are_read_again() {
        let tmp = tempfile::tempdir().unwrap();
        let keys = prefill(tmp.path(), MAX_CACHED_ENTRIES * 2, u64::MAX);
        let d = store(tmp.path(), DAY);
        for k in &keys {
            assert!(d.is_delivered(k).unwrap());
            let log = d.inner.log.lock().unwrap();
            assert!(log.entries <= MAX_CACHED_ENTRIES, "{} entries", log.entries);
        }
        {
            let log = d.inner.log.lock().unwrap();
            let counted: usize = log.buckets.values().map(Bucket::len).sum();
            assert_eq!(counted, log.entries);
            assert!(log.buckets.len() < BUCKETS, "nothing was evicted");
        }
        // Evicted buckets are read from disk again: every key is still remembered, and
        // claims through the same store still see them.
        for k in keys.iter().step_by(97) {
            assert!(matches!(d.claim(k, BUDGET).unwrap(), Claim::Duplicate));
        }
        let fresh = key(URL, "fresh", "failed");
        acquired(d.claim(&fresh, BUDGET).unwrap())
            .delivered()
            .unwrap();
        assert!(store(tmp.path(), DAY).is_delivered(&fresh).unwrap());
    }

    #[test]
    fn an_old_single_log_store_is_split_into_buckets_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dedupe");
        fs::create_dir_all(&dir).unwrap();
        let now = now_ms();
        let live = key(URL, "live", "failed");
        let expired = key(URL, "expired", "failed");
        let held = key(URL, "held", "failed");
        // What an older version wrote: one log each, a torn last line included.
        fs::write(
            dir.join(OLD_DELIVERED),
            format!(
                "{live} {now} {}\ngarbage\n{expired} 1 2\n{held} {now} 12",
                now + 60_000
            ),
        )
        .unwrap();
        fs::write(
            dir.join(OLD_CLAIMS),
            format!("{held} {now} {}\n{live} 1 0\n", now + 60_000),
        )
        .unwrap();
        // A bucket written meanwhile keeps its lines, after the migrated ones.
        let later = now + 1;
        fs::create_dir_all(dir.join(CLAIMS)).unwrap();
        let held_bucket = dir.join(CLAIMS).join(claims_file(held.bucket()));
        fs::write(&held_bucket, format!("{held} {later} 0\n")).unwrap();

        let d = store(tmp.path(), DAY);
        assert!(!dir.join(OLD_DELIVERED).exists());
        assert!(!dir.join(OLD_CLAIMS).exists());
        assert!(d.is_delivered(&live).unwrap());
        assert!(!d.is_delivered(&expired).unwrap());
        assert!(
            !d.is_delivered(&held).unwrap(),
            "a torn line is not a delivery"
        );
        assert!(matches!(d.claim(&live, BUDGET).unwrap(), Claim::Duplicate));
        // The newest record of `held` is still the bucket's own, written after.
        assert_eq!(d.inner.holder_deadline(&held).unwrap(), Some(0));
        let claims = fs::read_to_string(&held_bucket).unwrap();
        assert!(claims.starts_with(&format!("{held} {now} ")), "{claims}");
        // Expired entries and the released claim were left behind.
        let delivered = all_lines(&d, LOG);
        assert_eq!(delivered.len(), 1, "{delivered:?}");
        assert!(!all_lines(&d, CLAIMS)
            .iter()
            .any(|l| l.starts_with(live.as_str())));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&bucket(&d, LOG, &live)), 0o600);
        // Opening again finds nothing left to migrate.
        drop(d);
        let again = store(tmp.path(), DAY);
        assert!(again.is_delivered(&live).unwrap());
        assert_eq!(all_lines(&again, LOG).len(), 1);
    }

    #[test]
    fn claims_of_the_4096_claims_buckets_layout_are_merged() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dedupe");
        let now = now_ms();
        let held: Vec<_> = (0..50)
            .map(|i| key(URL, &format!("held-{i}"), "failed"))
            .collect();
        let expired = key(URL, "expired", "failed");
        let released = key(URL, "released", "failed");
        let old_file = |k: &DedupeKey| format!("{}.log", &k.as_str()[..3]);
        fs::create_dir_all(dir.join(CLAIMS)).unwrap();
        let append = |k: &DedupeKey, line: String| {
            let path = dir.join(CLAIMS).join(old_file(k));
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            f.write_all(line.as_bytes()).unwrap();
        };
        for k in &held {
            append(k, format!("{k} {now} {}\n", now + 60_000));
        }
        append(&expired, format!("{expired} 1 2\n"));
        // A claim in the old layout, and its newer release in the current one.
        append(&released, format!("{released} {now} {}\n", now + 60_000));
        let released_bucket = dir.join(CLAIMS).join(claims_file(released.bucket()));
        fs::write(&released_bucket, format!("{released} {} 0\n", now + 1)).unwrap();

        let d = store(tmp.path(), DAY);
        let names: Vec<_> = fs::read_dir(dir.join(CLAIMS))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| n.len() == "00.log".len()), "{names:?}");
        for k in &held {
            assert_eq!(
                d.inner.holder_deadline(k).unwrap(),
                Some(now + 60_000),
                "{k}"
            );
        }
        assert_eq!(d.inner.holder_deadline(&expired).unwrap(), None);
        assert_eq!(d.inner.holder_deadline(&released).unwrap(), Some(0));
        assert_eq!(all_lines(&d, CLAIMS).len(), held.len() + 2);
        // A process of the old version that claims meanwhile is taken in by the next open.
        let late = key(URL, "late", "failed");
        append(&late, format!("{late} {now} {}\n", now + 60_000));
        let again = store(tmp.path(), DAY);
        assert_eq!(
            again.inner.holder_deadline(&late).unwrap(),
            Some(now + 60_000)
        );
        assert!(!dir.join(CLAIMS).join(old_file(&late)).exists());
    }

    #[test]
    fn a_claims_bucket_is_rewritten_only_once_many_claims_have_expired() {
        let tmp = tempfile::tempdir().unwrap();
        let d = store(tmp.path(), DAY);
        let k0 = key(URL, "0", "failed");
        let same: Vec<_> = (0..100_000)
            .map(|i| key(URL, &i.to_string(), "failed"))
            .filter(|k| claims_file(k.bucket()) == claims_file(k0.bucket()))
            .take(CLAIMS_COMPACT_AT)
            .collect();
        // Claims given up: their release records have expired at once, as all claims
        // have after a busy minute.
        for k in &same[..CLAIMS_COMPACT_AT - 1] {
            drop(acquired(d.claim(k, BUDGET).unwrap()));
        }
        let path = bucket(&d, CLAIMS, &k0);
        let ino = || fs::metadata(&path).unwrap().ino();
        let before = ino();
        d.prune().unwrap();
        // A rewrite (or a removal and a new file at the next claim) costs a file creation:
        // a few expired claims are not worth one.
        assert_eq!(ino(), before, "the claims bucket was rewritten too early");
        drop(acquired(
            d.claim(&same[CLAIMS_COMPACT_AT - 1], BUDGET).unwrap(),
        ));
        d.prune().unwrap();
        assert!(!path.exists(), "a bucket of expired claims is still there");
    }

    #[test]
    fn prune_rewrites_a_bucket_without_its_expired_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let d = store(tmp.path(), DAY);
        let short = store(tmp.path(), Duration::from_millis(30));
        // Find keys sharing one bucket, so that the rewrite is of one file.
        let k0 = key(URL, "0", "failed");
        let mut same: Vec<_> = (1..100_000)
            .map(|i| key(URL, &i.to_string(), "failed"))
            .filter(|k| k.bucket() == k0.bucket())
            .take(3)
            .collect();
        same.insert(0, k0);
        for k in &same[..2] {
            acquired(d.claim(k, BUDGET).unwrap()).delivered().unwrap();
        }
        for k in &same[2..] {
            acquired(short.claim(k, BUDGET).unwrap())
                .delivered()
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(short.prune().unwrap(), 2);
        let lines = fs::read_to_string(bucket(&d, LOG, &same[0])).unwrap();
        assert_eq!(lines.lines().count(), 2, "{lines}");
        assert!(d.is_delivered(&same[0]).unwrap() && d.is_delivered(&same[1]).unwrap());
        assert!(!store(tmp.path(), DAY).is_delivered(&same[3]).unwrap());
    }

    #[test]
    fn a_process_that_stays_compacts_as_it_delivers() {
        let tmp = tempfile::tempdir().unwrap();
        let d = store(tmp.path(), Duration::from_millis(30));
        let first = key(URL, "first", "failed");
        acquired(d.claim(&first, BUDGET).unwrap())
            .delivered()
            .unwrap();
        std::thread::sleep(Duration::from_millis(60));
        // The rotation reaches the bucket of `first` at the next sweep.
        d.inner.sweep_at.store(first.bucket(), Ordering::Relaxed);
        let has_first = || {
            fs::read_to_string(bucket(&d, LOG, &first))
                .unwrap_or_default()
                .contains(first.as_str())
        };
        for i in 0..SWEEP_EVERY - 2 {
            let k = key(URL, &format!("later-{i}"), "failed");
            acquired(d.claim(&k, BUDGET).unwrap()).delivered().unwrap();
        }
        assert!(has_first(), "compacted before a sweep was due");
        let k = key(URL, "last", "failed");
        acquired(d.claim(&k, BUDGET).unwrap()).delivered().unwrap();
        assert!(!has_first(), "the expired key is still in its bucket");
    }
}
