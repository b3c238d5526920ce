//! Build-event deduplication: post exactly once per webhook + `provider_run_id` + state.
//!
//! Three files in `STATE_DIR/dedupe/`; none is named after the URL or holds it:
//! - `claims.lock`: a process delivering a key holds an OFD write lock on one byte of
//!   this (empty) file, at an offset taken from the key's hash. The kernel drops the lock
//!   when the process dies, so a crash frees its key at once, and nothing is created per
//!   key: a file creation costs about a millisecond on the file systems seen here, which
//!   would cap `build --events` far below its target.
//! - `delivered.log`: one line per delivery, `<key> <delivered_at_ms> <expires_at_ms>`,
//!   appended with a single write. Readers keep an index and read only what was appended
//!   since they last looked.
//! - `claims.log`: one line per claim, `<key> <claimed_at_ms> <deadline_ms>`, where the
//!   deadline is the claimer's own `--timeout` budget: a waiter gives up on a holder that
//!   is alive but stuck only once the holder's budget (plus a grace) has passed.
//! - `compact.lock`: flocked shared by appenders and exclusively by [`Dedupe::prune`],
//!   which rewrites both logs without expired entries.
//!
//! Each entry carries the expiry its writer chose, so a run with a short `--dedupe-ttl`
//! never prunes what other runs asked to remember longer.
//!
//! The log is not fsynced: losing the last entries to a power cut costs at worst one
//! repeated post, which is cheaper than an fsync per event.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::state::statedir;
use crate::text::time::now_ms;

const LOG: &str = "delivered.log";
const CLAIMS: &str = "claims.log";
/// Slack past a holder's recorded budget before it counts as stuck.
const STUCK_GRACE_MS: u64 = 2_000;
/// How long a waiter trusts that a lock it sees held belongs to the latest claim record:
/// a new holder writes its record microseconds after taking the lock.
const RECORD_SETTLE: Duration = Duration::from_millis(100);
/// How often a waiter looks again while another process delivers the same key.
const POLL: Duration = Duration::from_millis(15);

/// A dedupe key: lowercase hex SHA-256, safe to print and to store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupeKey(String);

impl DedupeKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a stored key (from a spool item); only 64 lowercase hex digits pass.
    pub fn from_hex(hex: &str) -> Option<DedupeKey> {
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
}

impl fmt::Display for DedupeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of one build status on one webhook.
pub fn key(webhook_url: &str, run_id: &str, state: &str) -> DedupeKey {
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
pub struct Dedupe {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    ttl: Duration,
    claims: File,
    compact: File,
    log: Mutex<Log>,
}

/// An append-only file of lines, read incrementally.
#[derive(Debug)]
struct Journal {
    path: PathBuf,
    reader: Option<(File, u64)>,
    offset: u64,
    partial: Vec<u8>,
    appender: Option<(File, u64)>,
}

/// What this process knows of the two logs.
#[derive(Debug)]
struct Log {
    delivered: Journal,
    /// key → (delivered_at_ms, expires_at_ms), the latest line winning.
    index: HashMap<String, (u64, u64)>,
    claims: Journal,
    /// key → (claimed_at_ms, deadline_ms) of the latest claim.
    claim_index: HashMap<String, (u64, u64)>,
}

impl Log {
    fn new(dir: &Path) -> Log {
        Log {
            delivered: Journal::new(dir.join(LOG)),
            index: HashMap::new(),
            claims: Journal::new(dir.join(CLAIMS)),
            claim_index: HashMap::new(),
        }
    }
}

/// What every dedupe store offers: the file store here, and the shared Redis store of
/// redundant gateways (`gateway::store`). Both give the same guarantees: one holder per
/// key at a time, a holder that dies frees the key within its budget, and a delivered
/// key stays a duplicate for the TTL.
pub trait DedupeStore: Send + Sync {
    /// Takes the right to deliver `key`, or learns that it was delivered. `budget` is how
    /// long this holder may keep the key before others may take over.
    fn claim(&self, key: &DedupeKey, budget: Duration) -> anyhow::Result<Claim>;

    /// Whether `key` was delivered within the TTL.
    fn is_delivered(&self, key: &DedupeKey) -> anyhow::Result<bool>;
}

/// One store's side of a held claim. Dropping it without [`Held::delivered`] releases the
/// key for the next try.
pub trait Held: fmt::Debug + Send {
    /// Records the delivery and lets go of the key.
    fn delivered(self: Box<Self>) -> anyhow::Result<()>;
    /// Granted only because the previous holder outlived its budget.
    fn stolen(&self) -> bool;
    fn key(&self) -> &DedupeKey;
}

/// The outcome of [`DedupeStore::claim`].
#[derive(Debug)]
pub enum Claim {
    /// Post, then call [`ClaimGuard::delivered`]; dropping the guard instead leaves the
    /// key free for the next try.
    Acquired(ClaimGuard),
    /// Already delivered within the TTL (possibly by the process we waited for).
    Duplicate,
}

/// The right to post for one key until dropped (or [`ClaimGuard::release`]d).
#[derive(Debug)]
pub struct ClaimGuard(Box<dyn Held>);

impl ClaimGuard {
    pub fn new(held: impl Held + 'static) -> ClaimGuard {
        ClaimGuard(Box::new(held))
    }

    /// Records the delivery, so that later claims of this key are duplicates, and lets
    /// go of the key.
    pub fn delivered(self) -> anyhow::Result<()> {
        self.0.delivered()
    }

    /// True when granted only because the holder outlived its budget: the caller should
    /// warn that a second post is possible.
    pub fn stolen(&self) -> bool {
        self.0.stolen()
    }

    pub fn key(&self) -> &DedupeKey {
        self.0.key()
    }

    /// Gives the key up without a delivery (what dropping the guard does).
    pub fn release(self) {}
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
    pub fn open(state_dir: &Path, ttl: Duration) -> anyhow::Result<Dedupe> {
        let dir = state_dir.join("dedupe");
        statedir::ensure_private_dir(state_dir)?;
        statedir::ensure_private_dir(&dir)?;
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
        Ok(Dedupe {
            inner: Arc::new(Inner {
                claims: open("claims.lock")?,
                compact: open("compact.lock")?,
                log: Mutex::new(Log::new(&dir)),
                dir,
                ttl,
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether `key` was delivered within this store's TTL.
    pub fn is_delivered(&self, key: &DedupeKey) -> anyhow::Result<bool> {
        self.inner.is_delivered(key)
    }

    /// Takes the right to deliver `key`, or learns that it was delivered. While another
    /// live process delivers the same key, waits for its result; a process that died
    /// has already let go. A holder that is alive but stuck is waited for at most
    /// `budget`, after which the claim is granted with [`ClaimGuard::stolen`] set.
    ///
    /// One process claims one key at a time: OFD locks belong to the open file, so two
    /// claims of the same key through one store would not exclude each other.
    pub fn claim(&self, key: &DedupeKey, budget: Duration) -> anyhow::Result<Claim> {
        let started = Instant::now();
        // Our patience when the holder's record cannot be read.
        let own_deadline = now_ms().saturating_add(budget.as_millis() as u64);
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

    /// Rewrites the log without entries past their own expiry. Cheap when nothing has
    /// expired: one read of what was appended since the last look.
    pub fn prune(&self) -> anyhow::Result<usize> {
        let inner = &self.inner;
        let mut log = inner.log.lock().unwrap_or_else(|e| e.into_inner());
        inner.refresh(&mut log)?;
        let (delivered_due, claims_due) = compaction_due(&log, now_ms());
        if !delivered_due && !claims_due {
            return Ok(0);
        }
        let _compacting = FlockGuard::take(&inner.compact, libc::LOCK_EX, &inner.dir)?;
        // Read afresh under the lock: others may have appended since.
        *log = Log::new(&inner.dir);
        inner.refresh(&mut log)?;
        let now = now_ms();
        let before = log.index.len();
        if delivered_due {
            log.index.retain(|_, (_, expires)| *expires > now);
            let mut text = String::with_capacity(log.index.len() * 96);
            for (k, (at, expires)) in &log.index {
                text.push_str(&format!("{k} {at} {expires}\n"));
            }
            statedir::write_atomic(&inner.dir, LOG, text.as_bytes())?;
        }
        if claims_due {
            log.claim_index
                .retain(|_, (_, deadline)| !claim_expired(*deadline, now));
            let mut text = String::new();
            for (k, (at, deadline)) in &log.claim_index {
                text.push_str(&format!("{k} {at} {deadline}\n"));
            }
            statedir::write_atomic(&inner.dir, CLAIMS, text.as_bytes())?;
        }
        let removed = before - log.index.len();
        *log = Log::new(&inner.dir);
        Ok(removed)
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

/// Which logs are worth rewriting: only when a good share of a log has expired, since
/// a rewrite blocks every appender and costs fsyncs (expired entries are ignored anyway).
fn compaction_due(log: &Log, now: u64) -> (bool, bool) {
    let worth =
        |expired: usize, total: usize| expired > 0 && (expired >= 1000 || expired * 4 >= total);
    let delivered = log.index.values().filter(|(_, e)| *e <= now).count();
    let claims = log
        .claim_index
        .values()
        .filter(|(_, d)| claim_expired(*d, now))
        .count();
    (
        worth(delivered, log.index.len()),
        worth(claims, log.claim_index.len()),
    )
}

impl Inner {
    fn is_delivered(&self, key: &DedupeKey) -> anyhow::Result<bool> {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh(&mut log)?;
        let ttl = self.ttl.as_millis() as u64;
        Ok(log
            .index
            .get(key.as_str())
            .is_some_and(|(at, _)| at.saturating_add(ttl) > now_ms()))
    }

    fn holder_deadline(&self, key: &DedupeKey) -> anyhow::Result<Option<u64>> {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        refresh_claims(&mut log)?;
        Ok(log
            .claim_index
            .get(key.as_str())
            .map(|(_, deadline)| *deadline))
    }

    /// Brings both indexes up to date with what others appended.
    fn refresh(&self, log: &mut Log) -> anyhow::Result<()> {
        let (reset, lines) = log.delivered.read_new()?;
        if reset {
            log.index.clear();
        }
        for (k, at, expires) in lines.iter().filter_map(|l| parse_line(l)) {
            // The longest memory any writer asked for wins: a run with a short TTL must
            // not shorten what others keep (nor let prune drop it).
            let e = log.index.entry(k).or_insert((at, expires));
            e.0 = e.0.max(at);
            e.1 = e.1.max(expires);
        }
        refresh_claims(log)
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
        self.write_claim_record(key, at, at.saturating_add(budget.as_millis() as u64))?;
        Ok(Some(ClaimGuard::new(guard)))
    }

    /// A claim line; deadline 0 marks a claim given up without a delivery. Callers hold
    /// the shared compaction lock.
    fn write_claim_record(&self, key: &DedupeKey, at: u64, deadline: u64) -> anyhow::Result<()> {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.claims.append(&format!("{key} {at} {deadline}\n"))?;
        log.claim_index
            .insert(key.as_str().to_string(), (at, deadline));
        Ok(())
    }

    fn append(&self, key: &DedupeKey) -> anyhow::Result<()> {
        let _shared = FlockGuard::take(&self.compact, libc::LOCK_SH, &self.dir)?;
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let at = now_ms();
        let expires = at.saturating_add(self.ttl.as_millis() as u64);
        log.delivered.append(&format!("{key} {at} {expires}\n"))?;
        log.index.insert(key.as_str().to_string(), (at, expires));
        Ok(())
    }

    /// An OFD lock (per open file description, released on close or death) on the key's
    /// byte; `F_UNLCK` releases it. Returns false when another holder has it.
    fn lock_byte(&self, byte: i64, kind: libc::c_int) -> anyhow::Result<bool> {
        let fl = libc::flock {
            l_type: kind as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
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
                Some(libc::EAGAIN) | Some(libc::EACCES) => return Ok(false),
                Some(libc::EINTR) => continue,
                _ => {
                    return Err(err)
                        .with_context(|| format!("cannot lock {}/claims.lock", self.dir.display()))
                }
            }
        }
    }
}

fn refresh_claims(log: &mut Log) -> anyhow::Result<()> {
    let (reset, lines) = log.claims.read_new()?;
    if reset {
        log.claim_index.clear();
    }
    for (k, at, deadline) in lines.iter().filter_map(|l| parse_line(l)) {
        log.claim_index.insert(k, (at, deadline));
    }
    Ok(())
}

impl Journal {
    fn new(path: PathBuf) -> Journal {
        Journal {
            path,
            reader: None,
            offset: 0,
            partial: Vec::new(),
            appender: None,
        }
    }

    /// Complete lines appended since the last call. `reset` is true when the file was
    /// replaced by a compaction (or removed): the caller starts its index over.
    fn read_new(&mut self) -> anyhow::Result<(bool, Vec<String>)> {
        let ino = match fs::metadata(&self.path) {
            Ok(m) => m.ino(),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let reset = self.reader.take().is_some();
                self.offset = 0;
                self.partial.clear();
                return Ok((reset, Vec::new()));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.path.display()))
            }
        };
        let mut reset = false;
        if self.reader.as_ref().map(|(_, i)| *i) != Some(ino) {
            let file = File::open(&self.path)
                .with_context(|| format!("cannot read {}", self.path.display()))?;
            reset = self.reader.is_some();
            self.reader = Some((file, ino));
            self.offset = 0;
            self.partial.clear();
        }
        let Some((file, _)) = self.reader.as_mut() else {
            return Ok((reset, Vec::new()));
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut fresh = Vec::new();
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

    fn append(&mut self, line: &str) -> anyhow::Result<()> {
        // A compaction may have replaced the file this handle appends to.
        let current = fs::metadata(&self.path).ok().map(|m| m.ino());
        if self.appender.as_ref().map(|(_, ino)| Some(*ino)) != Some(current) {
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&self.path)
                .with_context(|| format!("cannot write {}", self.path.display()))?;
            let ino = file.metadata()?.ino();
            self.appender = Some((file, ino));
        }
        let (file, _) = self.appender.as_mut().expect("opened above");
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
        Ok(())
    }

    fn stolen(&self) -> bool {
        self.stolen
    }

    fn key(&self) -> &DedupeKey {
        &self.key
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
        for f in ["claims.lock", "compact.lock", LOG, CLAIMS] {
            assert_eq!(mode(&d.dir().join(f)), 0o600, "{f}");
        }
        let log = fs::read_to_string(d.dir().join(LOG)).unwrap();
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
        results.sort();
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
                let claims = fs::read_to_string(d.dir().join(CLAIMS)).unwrap();
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
        let claims = fs::read_to_string(d.dir().join(CLAIMS)).unwrap();
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
        let log = fs::read_to_string(long.dir().join(LOG)).unwrap();
        assert_eq!(log.lines().count(), 1);
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
            d.dir().join(LOG),
            format!("garbage\n{k} {now} {}\n{k} 12", now + 1000),
        )
        .unwrap();
        assert!(d.is_delivered(&k).unwrap());
        assert!(!d.is_delivered(&key(URL, "2", "failed")).unwrap());
    }
}
