//! The file store: claims as OFD byte locks in `claims.lock` with a record in the claims
//! log, deliveries appended to the delivered log.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::bucket::Log;
use super::history::Histories;
use super::lock::{lock_byte, FlockGuard};
use super::migrate::migrate;
use super::{
    Claim, ClaimGuard, DedupeKey, DedupeStore, Held, CLAIMS_DIR, DELIVERED_DIR, POLL,
    RECORD_SETTLE, STUCK_GRACE_MS, SWEEP_EVERY,
};
use crate::state::statedir;
use crate::text::time::{millis, now_ms};

/// The dedupe store in `STATE_DIR/dedupe/`.
#[derive(Debug, Clone)]
pub(crate) struct Dedupe {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) dir: PathBuf,
    pub(super) ttl: Duration,
    pub(super) claims: File,
    pub(super) compact: File,
    pub(super) log: Mutex<Log>,
    /// The next bucket a prune sweeps; each process starts somewhere else.
    pub(super) sweep_at: AtomicUsize,
    /// Deliveries recorded by this process, to sweep every [`SWEEP_EVERY`] of them.
    pub(super) deliveries: AtomicUsize,
    /// The job histories (`history/`), opened with the store.
    pub(super) histories: Histories,
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
                histories: Histories::open(&dir)?,
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

    fn run_post(&self, key: &DedupeKey) -> anyhow::Result<Option<super::RunPost>> {
        self.read_run_post(key)
    }

    fn set_run_post(&self, key: &DedupeKey, post: &super::RunPost) -> anyhow::Result<()> {
        self.write_run_post(key, post)
    }

    fn history(&self, job: &str) -> anyhow::Result<Option<String>> {
        self.inner.histories.get(job)
    }

    fn update_history(
        &self,
        job: &str,
        ttl: Duration,
        update: &mut dyn FnMut(Option<&str>) -> Option<String>,
    ) -> anyhow::Result<()> {
        self.inner.histories.update(job, ttl, update)
    }
}

impl Inner {
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

    pub(super) fn holder_deadline(&self, key: &DedupeKey) -> anyhow::Result<Option<u64>> {
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
        if !lock_byte(&self.claims, &self.dir, byte, libc::F_WRLCK)? {
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
            let _ = lock_byte(&self.inner.claims, &self.inner.dir, byte, libc::F_UNLCK);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::dedupe::test_support::*;
    use crate::state::dedupe::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

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
}
