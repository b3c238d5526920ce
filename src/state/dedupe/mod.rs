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

mod bucket;
mod compact;
mod file;
mod history;
mod journal;
mod lock;
mod migrate;
mod run_post;
#[cfg(test)]
mod test_support;

use std::fmt;
use std::time::Duration;

pub(crate) use file::Dedupe;
pub(crate) use history::job_hash;
pub(crate) use history::NotCompacted;
pub(crate) use run_post::RunPost;

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

/// What every dedupe store offers: the file store ([`Dedupe`]), and the shared Redis store of
/// redundant gateways (`gateway::store`). Both give the same guarantees: one holder per
/// key at a time, a holder that dies frees the key within its budget, and a delivered
/// key stays a duplicate for the TTL.
pub(crate) trait DedupeStore: Send + Sync {
    /// Takes the right to deliver `key`, or learns that it was delivered. `budget` is how
    /// long this holder may keep the key before others may take over.
    fn claim(&self, key: &DedupeKey, budget: Duration) -> anyhow::Result<Claim>;

    /// Whether `key` was delivered within the TTL.
    fn is_delivered(&self, key: &DedupeKey) -> anyhow::Result<bool>;

    /// The post a bot made for a run (issue 18), under the run's key.
    fn run_post(&self, key: &DedupeKey) -> anyhow::Result<Option<RunPost>>;

    /// Records the run's post; callers hold the run's claim while they read and write it.
    fn set_run_post(&self, key: &DedupeKey, post: &RunPost) -> anyhow::Result<()>;

    /// The history record of the job whose id is `job` (`story::history::JobKey::id`),
    /// unless it was forgotten: opaque text here, `story::history` reads it.
    fn history(&self, job: &str) -> anyhow::Result<Option<String>>;

    /// Reads the job's record, hands it to `update` and stores what that returns
    /// (`None`: nothing changes) for `ttl`, atomically: two processes recording runs of
    /// one job at once never lose an update. `update` may be called more than once
    /// (the shared store retries when another writer came first).
    fn update_history(
        &self,
        job: &str,
        ttl: Duration,
        update: &mut dyn FnMut(Option<&str>) -> Option<String>,
    ) -> anyhow::Result<()>;
}

/// One store's side of a held claim. Dropping it without [`Held::delivered`] releases the
/// key for the next try.
pub(crate) trait Held: fmt::Debug + Send {
    /// Records the delivery and lets go of the key.
    fn delivered(self: Box<Self>) -> anyhow::Result<()>;
    /// Granted only because the previous holder outlived its budget.
    fn stolen(&self) -> bool;
    /// Taken over from a holder that had started posting and never recorded how that
    /// ended (killed mid-POST, or cut off from the shared store): a post now may be a
    /// second one. Only the shared store can tell.
    fn interrupted(&self) -> bool {
        false
    }
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

    /// True when the previous holder started posting and never recorded the outcome:
    /// the caller should warn that the message may appear twice.
    pub(crate) fn interrupted(&self) -> bool {
        self.0.interrupted()
    }
}

fn claim_expired(deadline: u64, now: u64) -> bool {
    deadline.saturating_add(STUCK_GRACE_MS) <= now
}

fn parse_line(text: &str) -> Option<(String, u64, u64)> {
    let mut parts = text.split(' ');
    let k = DedupeKey::from_hex(parts.next()?)?;
    let at = parts.next()?.parse().ok()?;
    let expires = parts.next()?.parse().ok()?;
    Some((k.0, at, expires))
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use std::fs;

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
}
