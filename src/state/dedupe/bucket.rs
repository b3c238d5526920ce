//! What this process knows of the logs: one index per bucket, bounded in memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::journal::Journal;
use super::{
    bucket_file, claim_expired, claims_file, parse_line, CLAIMS_COMPACT_AT, CLAIMS_DIR,
    DELIVERED_DIR, MAX_CACHED_ENTRIES,
};

/// What this process knows of one bucket of both logs.
#[derive(Debug)]
pub(super) struct Bucket {
    pub(super) delivered: Journal,
    /// key → (`delivered_at_ms`, `expires_at_ms`), the longest memory winning.
    pub(super) index: HashMap<String, (u64, u64)>,
    pub(super) claims: Journal,
    /// key → (`claimed_at_ms`, `deadline_ms`) of the latest claim.
    pub(super) claim_index: HashMap<String, (u64, u64)>,
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

    pub(super) fn len(&self) -> usize {
        self.index.len() + self.claim_index.len()
    }

    /// Brings both indexes up to date with what others appended.
    pub(super) fn refresh(&mut self) -> anyhow::Result<()> {
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

    pub(super) fn refresh_claims(&mut self) -> anyhow::Result<()> {
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
    pub(super) fn compaction_due(&self, now: u64) -> (bool, bool) {
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
pub(super) struct Log {
    dir: PathBuf,
    pub(super) buckets: HashMap<usize, Bucket>,
    /// Sum of the buckets' lengths.
    pub(super) entries: usize,
    clock: u64,
}

impl Log {
    pub(super) fn new(dir: &Path) -> Log {
        Log {
            dir: dir.to_path_buf(),
            buckets: HashMap::new(),
            entries: 0,
            clock: 0,
        }
    }

    /// Runs `f` on bucket `b` (read in when not cached), keeps the entry count, and
    /// evicts the least recently used other buckets when over the bound.
    pub(super) fn with<T>(
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

    pub(super) fn forget(&mut self, b: usize) {
        if let Some(bucket) = self.buckets.remove(&b) {
            self.entries -= bucket.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::dedupe::test_support::*;
    use crate::state::dedupe::*;
    use crate::text::time::now_ms;
    use std::fs;

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
}
