//! What the unit tests of the store share.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    bucket_file, claims_file, Claim, ClaimGuard, Dedupe, DedupeKey, CLAIMS_DIR, DELIVERED_DIR,
};

pub(super) const URL: &str = "https://chat.example.com/hooks/pq3wxk8bmjsyr9cn5ue7tdo1ha";
pub(super) const DAY: Duration = Duration::from_secs(86400);
// Large, so that "did not wait for the budget" holds on a loaded machine.
pub(super) const BUDGET: Duration = Duration::from_secs(60);

pub(super) fn store(dir: &Path, ttl: Duration) -> Dedupe {
    Dedupe::open(dir, ttl).unwrap()
}

// The logs' folders; a key's lines are in the bucket file `bucket` names.
pub(super) const LOG: &str = DELIVERED_DIR;
pub(super) const CLAIMS: &str = CLAIMS_DIR;

pub(super) fn bucket(d: &Dedupe, log: &str, k: &DedupeKey) -> PathBuf {
    let name = if log == CLAIMS {
        claims_file(k.bucket())
    } else {
        bucket_file(k.bucket())
    };
    d.dir().join(log).join(name)
}

/// Every line of every bucket of one log.
pub(super) fn all_lines(d: &Dedupe, log: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in fs::read_dir(d.dir().join(log)).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

pub(super) fn acquired(c: Claim) -> ClaimGuard {
    match c {
        Claim::Acquired(g) => g,
        Claim::Duplicate => panic!("expected Acquired, got Duplicate"),
    }
}
