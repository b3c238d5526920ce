//! Build-event deduplication: post exactly once per webhook + `provider_run_id` + state.
//!
//! Files in `STATE_DIR/dedupe/`, all named by the key's hash (never the URL):
//! - `<hex>.done`: `{"delivered_at_ms":…}`, written atomically after a delivery.
//! - `<hex>.lock`: flocked by the process that is delivering; holds its claim record
//!   `{"pid":…,"claimed_at_ms":…,"budget_ms":…}` so waiters know how long to wait.
//! - `<hex>.steal`: flocked by the one process that took over from a holder that
//!   outlived its budget, so that a crowd of waiters does not all post at once.
//!
//! The kernel drops a flock when its holder dies, so a crashed process frees its key at
//! once. A lock file is only ever unlinked by a process that holds its flock, and every
//! acquirer checks after locking that the inode it locked is still the one at the path;
//! together these keep two processes from each holding "the" lock on different inodes.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::statedir::{self, now_ms, system_time_ms, try_flock};

/// How long past its recorded budget a holder is still given before it counts as stuck.
const DEFAULT_STUCK_GRACE: Duration = Duration::from_secs(2);
/// Leftovers of a killed atomic writer; a real write takes milliseconds.
const TMP_MAX_AGE: Duration = Duration::from_secs(3600);
const LOCK_EXT: &str = "lock";
const STEAL_EXT: &str = "steal";
const DONE_EXT: &str = "done";

/// A dedupe key: lowercase hex SHA-256, safe to print and to use as a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupeKey(String);

impl DedupeKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a stored key (from a spool item). Only 64 lowercase hex digits pass, so a
    /// tampered value can never name a file outside the dedupe directory.
    pub fn from_hex(hex: &str) -> Option<DedupeKey> {
        let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| DedupeKey(hex.to_string()))
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
    dir: PathBuf,
    ttl: Duration,
    stuck_grace: Duration,
}

/// The outcome of [`Dedupe::claim`].
#[derive(Debug)]
pub enum Claim {
    /// Post, then call [`ClaimGuard::delivered`]; dropping the guard instead leaves the
    /// key free for the next try.
    Acquired(ClaimGuard),
    /// Already delivered within the TTL (possibly by the process we waited for).
    Duplicate,
}

/// The right to post for one key until dropped.
#[derive(Debug)]
pub struct ClaimGuard {
    dir: PathBuf,
    key: DedupeKey,
    stolen: bool,
    /// Only here to be dropped: that releases the key.
    _held: Option<HeldLock>,
}

#[derive(Serialize, Deserialize)]
struct DoneRecord {
    delivered_at_ms: u64,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
struct ClaimRecord {
    pid: u32,
    claimed_at_ms: u64,
    budget_ms: u64,
}

impl Dedupe {
    /// Opens the store, creating `dedupe/` (mode 0700) and its parents when missing.
    pub fn open(state_dir: &Path, ttl: Duration) -> anyhow::Result<Dedupe> {
        let dir = state_dir.join("dedupe");
        statedir::ensure_private_dir(&dir)?;
        Ok(Dedupe {
            dir,
            ttl,
            stuck_grace: DEFAULT_STUCK_GRACE,
        })
    }

    /// Changes the slack given to a holder past its budget (default 2 s); for tests.
    pub fn with_stuck_grace(mut self, grace: Duration) -> Dedupe {
        self.stuck_grace = grace;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `key` was delivered within the TTL.
    pub fn is_delivered(&self, key: &DedupeKey) -> anyhow::Result<bool> {
        Ok(self.delivered_at(key)?.is_some_and(|t| self.within_ttl(t)))
    }

    /// Claims `key` for one delivery. `budget` is this process's whole delivery budget
    /// (`--timeout`); it is recorded so that waiters know when to stop waiting for us.
    /// Waits while another live process holds the key, at most until that holder's
    /// recorded budget (plus a grace) has run out; after that the claim is taken over
    /// and [`ClaimGuard::stolen`] is true.
    pub fn claim(&self, key: &DedupeKey, budget: Duration) -> anyhow::Result<Claim> {
        loop {
            if self.is_delivered(key)? {
                return Ok(Claim::Duplicate);
            }
            let (held, stolen) = match self.lock_or_wait(&self.path(key, LOCK_EXT), budget)? {
                Level::Held(h) => (Some(h), false),
                Level::Changed => continue,
                // The holder outlived its budget (stopped or hung). Those taking over
                // queue on a second lock so that only one of them posts.
                Level::Stuck => match self.lock_or_wait(&self.path(key, STEAL_EXT), budget)? {
                    Level::Held(steal) => {
                        // The holder may have let go just now: then ours is an ordinary
                        // claim and a newcomer cannot take `.lock` behind our back.
                        match try_take(&self.path(key, LOCK_EXT), true)? {
                            Some(lock) => (Some(lock), false),
                            None => (Some(steal), true),
                        }
                    }
                    Level::Changed => continue,
                    // Both the holder and the one who took over are stuck: rare enough
                    // that posting without any lock beats blocking the build.
                    Level::Stuck => (None, true),
                },
            };
            if let Some(h) = &held {
                h.write_record(budget)?;
            }
            // Someone may have delivered between our first check and the lock.
            if self.is_delivered(key)? {
                return Ok(Claim::Duplicate);
            }
            return Ok(Claim::Acquired(ClaimGuard {
                dir: self.dir.clone(),
                key: key.clone(),
                stolen,
                _held: held,
            }));
        }
    }

    /// Removes delivery markers older than the TTL, lock files left by crashed holders
    /// and older than the TTL, and temp files of killed writers. Returns how many files
    /// were removed. A lock some process holds is never removed.
    pub fn prune(&self) -> anyhow::Result<usize> {
        let entries = fs::read_dir(&self.dir)
            .with_context(|| format!("cannot read directory {}", self.dir.display()))?;
        let mut removed = 0;
        for entry in entries {
            let entry =
                entry.with_context(|| format!("cannot read directory {}", self.dir.display()))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            let Some(age) = age_of(&path)? else { continue };

            if name.starts_with(".tmp-") {
                if age > TMP_MAX_AGE && remove_if_exists(&path)? {
                    removed += 1;
                }
            } else if let Some(key) = name.strip_suffix(".done").and_then(DedupeKey::from_hex) {
                if self.prune_done(&key)? {
                    removed += 1;
                }
            } else if (name.ends_with(".lock") || name.ends_with(".steal")) && age >= self.ttl {
                if let Some(held) = try_take(&path, false)? {
                    drop(held);
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    fn prune_done(&self, key: &DedupeKey) -> anyhow::Result<bool> {
        if self.is_delivered(key)? {
            return Ok(false);
        }
        // Under the key's lock, so that a claimer who is re-delivering an expired key
        // cannot have its fresh marker removed by us.
        let Some(_lock) = try_take(&self.path(key, LOCK_EXT), true)? else {
            return Ok(false);
        };
        if self.is_delivered(key)? {
            return Ok(false);
        }
        remove_if_exists(&self.path(key, DONE_EXT))
    }

    /// When `key` was delivered, expired or not.
    fn delivered_at(&self, key: &DedupeKey) -> anyhow::Result<Option<u64>> {
        let path = self.path(key, DONE_EXT);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        if let Ok(rec) = serde_json::from_slice::<DoneRecord>(&bytes) {
            return Ok(Some(rec.delivered_at_ms));
        }
        // Markers are written atomically, so a bad one was damaged afterwards; its
        // mtime is still the time of delivery.
        match fs::metadata(&path).and_then(|m| m.modified()) {
            Ok(t) => Ok(Some(system_time_ms(t))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot stat {}", path.display())),
        }
    }

    fn within_ttl(&self, delivered_at_ms: u64) -> bool {
        // A marker from the future (clock set back) counts as fresh.
        u128::from(now_ms().saturating_sub(delivered_at_ms)) < self.ttl.as_millis()
    }

    fn path(&self, key: &DedupeKey, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", key.as_str()))
    }

    /// Locks `path`, waiting while a live holder has it, but not past that holder's
    /// recorded deadline (or, with no readable record, past our own budget).
    fn lock_or_wait(&self, path: &Path, budget: Duration) -> anyhow::Result<Level> {
        let file = open_lock_file(path, true)?
            .with_context(|| format!("cannot create {}", path.display()))?;
        let grace_ms = duration_ms(self.stuck_grace);
        let fallback_deadline = now_ms()
            .saturating_add(duration_ms(budget))
            .saturating_add(grace_ms);
        let mut seen: Option<(ClaimRecord, u64)> = None;
        loop {
            if try_flock(&file, path)? {
                return Ok(if same_file(&file, path)? {
                    Level::Held(HeldLock {
                        file,
                        path: path.to_path_buf(),
                    })
                } else {
                    Level::Changed
                });
            }
            let now = now_ms();
            // Re-read each round: a new holder may have taken over with a new record,
            // and a record being rewritten can be momentarily empty.
            if let Some(rec) = read_record(&file) {
                if seen.map(|(r, _)| r) != Some(rec) {
                    // Also bounded from when we first saw it, so a claim stamped in the
                    // future (clock set back) cannot stretch the wait.
                    let end = rec
                        .claimed_at_ms
                        .min(now)
                        .saturating_add(rec.budget_ms)
                        .saturating_add(grace_ms);
                    seen = Some((rec, end));
                }
            }
            let deadline = seen.map_or(fallback_deadline, |(_, end)| end);
            if now >= deadline {
                return Ok(Level::Stuck);
            }
            std::thread::sleep(poll_interval().min(Duration::from_millis(deadline - now)));
        }
    }
}

impl ClaimGuard {
    /// Records the delivery, then releases the key. Later claims within the TTL are
    /// duplicates.
    pub fn delivered(self) -> anyhow::Result<()> {
        let record = serde_json::to_vec(&DoneRecord {
            delivered_at_ms: now_ms(),
        })
        .context("cannot encode delivery record")?;
        statedir::write_atomic(&self.dir, &format!("{}.{DONE_EXT}", self.key), &record)?;
        Ok(())
    }

    /// True when the claim was taken over from a process that held the key past its
    /// budget; the caller should warn that it posts anyway.
    pub fn stolen(&self) -> bool {
        self.stolen
    }

    pub fn key(&self) -> &DedupeKey {
        &self.key
    }
}

enum Level {
    Held(HeldLock),
    /// The file we locked is no longer the one at the path (its holder finished and
    /// unlinked it): start over.
    Changed,
    /// The holder is past its recorded deadline.
    Stuck,
}

/// A flocked lock file; dropping it unlinks the file, then unlocks.
#[derive(Debug)]
struct HeldLock {
    file: File,
    path: PathBuf,
}

impl HeldLock {
    fn write_record(&self, budget: Duration) -> anyhow::Result<()> {
        let record = serde_json::to_vec(&ClaimRecord {
            pid: std::process::id(),
            claimed_at_ms: now_ms(),
            budget_ms: duration_ms(budget),
        })
        .context("cannot encode claim record")?;
        self.file
            .set_len(0)
            .and_then(|()| self.file.write_all_at(&record, 0))
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        // Unlinking while still locked is what lets waiters on this inode notice (by
        // the inode check) that they must start over; leaving it would also be safe,
        // just untidy. Checked first in case someone removed files by hand.
        if same_file(&self.file, &self.path).unwrap_or(false) {
            let _ = fs::remove_file(&self.path);
        }
        // Closing `file` releases the flock.
    }
}

/// Takes the lock at `path` if it is free right now (and is still the file at `path`).
fn try_take(path: &Path, create: bool) -> anyhow::Result<Option<HeldLock>> {
    let Some(file) = open_lock_file(path, create)? else {
        return Ok(None);
    };
    if try_flock(&file, path)? && same_file(&file, path)? {
        return Ok(Some(HeldLock {
            file,
            path: path.to_path_buf(),
        }));
    }
    Ok(None)
}

/// Opens (or creates, 0600) a lock file; `None` when it does not exist and `create` is
/// false.
fn open_lock_file(path: &Path, create: bool) -> anyhow::Result<Option<File>> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if !create && e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot open {}", path.display())),
    }
}

/// Whether `file` is still the file at `path` (false when the path is gone).
fn same_file(file: &File, path: &Path) -> anyhow::Result<bool> {
    let ours = file
        .metadata()
        .with_context(|| format!("cannot stat {}", path.display()))?;
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(m.dev() == ours.dev() && m.ino() == ours.ino()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot stat {}", path.display())),
    }
}

fn read_record(file: &File) -> Option<ClaimRecord> {
    let mut buf = [0u8; 512];
    let n = file.read_at(&mut buf, 0).ok()?;
    serde_json::from_slice(&buf[..n]).ok()
}

/// Age by mtime; `None` when the file vanished meanwhile (another pruner).
fn age_of(path: &Path) -> anyhow::Result<Option<Duration>> {
    match fs::symlink_metadata(path).and_then(|m| m.modified()) {
        Ok(t) => Ok(Some(
            SystemTime::now()
                .duration_since(t)
                .unwrap_or(Duration::ZERO),
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot stat {}", path.display())),
    }
}

fn remove_if_exists(path: &Path) -> anyhow::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// 20–50 ms, jittered so that a crowd of waiters does not retry in lockstep.
fn poll_interval() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(20 + u64::from(nanos % 31))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    const URL: &str = "https://chat.example.com/hooks/abcdefghijklmnopqrstuvwxyz";

    fn store(ttl: Duration) -> (tempfile::TempDir, Dedupe) {
        let tmp = tempfile::tempdir().unwrap();
        let d = Dedupe::open(tmp.path(), ttl).unwrap();
        (tmp, d)
    }

    fn acquired(c: Claim) -> ClaimGuard {
        match c {
            Claim::Acquired(g) => g,
            Claim::Duplicate => panic!("expected Acquired, got Duplicate"),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    const DAY: Duration = Duration::from_secs(86400);
    const BUDGET: Duration = Duration::from_secs(10);

    #[test]
    fn key_is_stable_and_separates() {
        let k = key(URL, "123-2", "failed");
        assert_eq!(k, key(URL, "123-2", "failed"));
        assert_ne!(k, key(URL, "123-2", "succeeded"));
        assert_ne!(k, key(URL, "123", "failed"));
        assert_ne!(key("a|b", "c", "s"), key("a", "|bc", "s"));
        assert_ne!(key("ab", "", "s"), key("a", "b", "s"));
        assert_eq!(k.as_str().len(), 64);
        assert_eq!(k.to_string(), k.as_str());
        assert!(!k.as_str().contains("abcdefghij"));
        assert!(!k.as_str().contains("chat"));
        assert_eq!(DedupeKey::from_hex(k.as_str()), Some(k.clone()));
        assert_eq!(DedupeKey::from_hex("../../etc/passwd"), None);
        assert_eq!(DedupeKey::from_hex(&k.as_str().to_uppercase()), None);
    }

    #[test]
    fn delivered_key_is_duplicate() {
        let (_tmp, d) = store(DAY);
        let k = key(URL, "1", "failed");
        assert!(!d.is_delivered(&k).unwrap());
        let g = acquired(d.claim(&k, BUDGET).unwrap());
        assert!(!g.stolen());
        // While held, the lock file carries our claim record and nothing about the URL.
        let rec = fs::read_to_string(d.dir().join(format!("{k}.lock"))).unwrap();
        assert!(rec.contains(&format!("\"pid\":{}", std::process::id())));
        assert!(rec.contains("\"budget_ms\":10000"));
        g.delivered().unwrap();

        assert!(d.is_delivered(&k).unwrap());
        assert!(matches!(d.claim(&k, BUDGET).unwrap(), Claim::Duplicate));
        // Only the marker remains, named by the hash, holding only a time.
        assert_eq!(names(d.dir()), vec![format!("{k}.done")]);
        let done = fs::read_to_string(d.dir().join(format!("{k}.done"))).unwrap();
        assert!(done.starts_with("{\"delivered_at_ms\":"), "{done}");
        // Another state of the same run is still free.
        acquired(d.claim(&key(URL, "1", "succeeded"), BUDGET).unwrap());
    }

    #[test]
    fn failed_delivery_does_not_consume_the_key() {
        let (_tmp, d) = store(DAY);
        let k = key(URL, "1", "failed");
        drop(acquired(d.claim(&k, BUDGET).unwrap()));
        assert!(!d.is_delivered(&k).unwrap());
        let started = Instant::now();
        acquired(d.claim(&k, BUDGET).unwrap()).delivered().unwrap();
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn ttl_expiry_and_prune() {
        let (_tmp, d) = store(Duration::from_millis(100));
        let old = key(URL, "old", "failed");
        acquired(d.claim(&old, BUDGET).unwrap())
            .delivered()
            .unwrap();
        assert!(d.is_delivered(&old).unwrap());

        // A live holder whose lock file ages past the TTL, and a crashed holder's
        // leftover (an unlocked lock file).
        let live = key(URL, "live", "failed");
        let live_guard = acquired(d.claim(&live, BUDGET).unwrap());
        let crashed = d
            .dir()
            .join(format!("{}.lock", key(URL, "crashed", "failed")));
        File::create(&crashed).unwrap();
        // A killed writer's temp file, an hour old, and a fresh one.
        let old_tmp = d.dir().join(".tmp-x.done-1-2-3");
        let f = File::create(&old_tmp).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
        let new_tmp = d.dir().join(".tmp-y.done-1-2-3");
        File::create(&new_tmp).unwrap();

        std::thread::sleep(Duration::from_millis(150));
        assert!(!d.is_delivered(&old).unwrap());
        assert_eq!(d.prune().unwrap(), 3);
        assert_eq!(
            names(d.dir()),
            vec![".tmp-y.done-1-2-3".to_string(), format!("{live}.lock")]
        );
        live_guard.delivered().unwrap();
        // Fresh markers are kept.
        assert_eq!(d.prune().unwrap(), 0);
        assert!(d.is_delivered(&live).unwrap());
        // An expired key posts again.
        std::thread::sleep(Duration::from_millis(150));
        acquired(d.claim(&live, BUDGET).unwrap());
    }

    #[test]
    fn waiter_sees_the_holders_delivery() {
        let (_tmp, d) = store(DAY);
        let d = Arc::new(d);
        let k = key(URL, "1", "failed");
        let holder = acquired(d.claim(&k, BUDGET).unwrap());
        let started = Instant::now();
        let waiter = {
            let (d, k) = (d.clone(), k.clone());
            std::thread::spawn(move || d.claim(&k, BUDGET).unwrap())
        };
        std::thread::sleep(Duration::from_millis(150));
        holder.delivered().unwrap();
        assert!(matches!(waiter.join().unwrap(), Claim::Duplicate));
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[test]
    fn waiter_takes_over_from_a_failed_holder() {
        let (_tmp, d) = store(DAY);
        let d = Arc::new(d);
        let k = key(URL, "1", "failed");
        let holder = acquired(d.claim(&k, BUDGET).unwrap());
        let waiter = {
            let (d, k) = (d.clone(), k.clone());
            std::thread::spawn(move || d.claim(&k, BUDGET).unwrap())
        };
        std::thread::sleep(Duration::from_millis(100));
        drop(holder);
        let g = acquired(waiter.join().unwrap());
        assert!(!g.stolen());
    }

    #[test]
    fn stuck_holder_is_taken_over_after_its_budget() {
        let (_tmp, d) = store(DAY);
        let d = Arc::new(d.with_stuck_grace(Duration::from_millis(100)));
        let k = key(URL, "1", "failed");
        let stuck = acquired(d.claim(&k, Duration::ZERO).unwrap());

        let started = Instant::now();
        let taker = acquired(d.claim(&k, BUDGET).unwrap());
        let waited = started.elapsed();
        assert!(taker.stolen());
        assert!(waited >= Duration::from_millis(90), "{waited:?}");
        assert!(waited < Duration::from_secs(1), "{waited:?}");

        // A third process queues behind the one that took over instead of posting too.
        let third = {
            let (d, k) = (d.clone(), k.clone());
            std::thread::spawn(move || d.claim(&k, BUDGET).unwrap())
        };
        std::thread::sleep(Duration::from_millis(250));
        taker.delivered().unwrap();
        assert!(matches!(third.join().unwrap(), Claim::Duplicate));

        drop(stuck);
        assert!(matches!(d.claim(&k, BUDGET).unwrap(), Claim::Duplicate));
    }

    #[test]
    fn stuck_holder_and_stuck_taker_do_not_block() {
        let (_tmp, d) = store(DAY);
        let d = d.with_stuck_grace(Duration::from_millis(50));
        let k = key(URL, "1", "failed");
        let _stuck = acquired(d.claim(&k, Duration::ZERO).unwrap());
        let _stuck_taker = acquired(d.claim(&k, Duration::ZERO).unwrap());
        let started = Instant::now();
        let g = acquired(d.claim(&k, BUDGET).unwrap());
        assert!(g.stolen());
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn unreadable_record_bounds_the_wait_by_our_budget() {
        let (_tmp, d) = store(DAY);
        let d = d.with_stuck_grace(Duration::from_millis(50));
        let k = key(URL, "1", "failed");
        // A holder that locked but never wrote a record.
        let path = d.dir().join(format!("{k}.lock"));
        let f = open_lock_file(&path, true).unwrap().unwrap();
        assert!(try_flock(&f, &path).unwrap());
        let started = Instant::now();
        let g = acquired(d.claim(&k, Duration::from_millis(100)).unwrap());
        assert!(g.stolen());
        assert!(started.elapsed() >= Duration::from_millis(140));
    }
}
