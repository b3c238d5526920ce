//! Compaction: rewriting buckets without their expired entries, and the sweep that
//! picks which.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::Context;

use super::bucket::Log;
use super::file::Inner;
use super::lock::FlockGuard;
use super::{
    bucket_file, claim_expired, claims_file, parse_line, BUCKETS, CLAIMS_COMPACT_AT, CLAIMS_DIR,
    DELIVERED_DIR, MIN_LINE, SWEEP,
};
use crate::state::statedir;
use crate::text::time::now_ms;

impl Inner {
    /// Compacts the due buckets among the next [`SWEEP`] of the rotation and, with
    /// `cached`, among those this process holds in memory.
    pub(super) fn prune(&self, cached: bool) -> anyhow::Result<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::dedupe::test_support::*;
    use crate::state::dedupe::*;
    use std::os::unix::fs::MetadataExt;

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
