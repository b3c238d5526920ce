//! Merging the files of older layouts into the current buckets.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::lock::FlockGuard;
use super::{
    bucket_file, bucket_of, claim_expired, claims_file, is_old_claims_file, parse_line, CLAIMS_DIR,
    DELIVERED_DIR, OLD_CLAIMS, OLD_DELIVERED,
};
use crate::text::time::now_ms;

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
pub(super) fn migrate(dir: &Path, compact: &File) -> anyhow::Result<()> {
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
        let buckets = live_lines(&sources, is_claim, now)?;
        install(&dir.join(sub), buckets)?;
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

/// The unexpired lines of `sources`, grouped by the current bucket file they belong in.
fn live_lines(
    sources: &[PathBuf],
    is_claim: bool,
    now: u64,
) -> anyhow::Result<HashMap<String, Vec<u8>>> {
    let mut buckets: HashMap<String, Vec<u8>> = HashMap::new();
    for path in sources {
        let text = match fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        // A torn last line (a writer killed mid-write) is left out, as readers do.
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        for line in text[..complete].split(|b| *b == b'\n') {
            let Some((k, _, until)) = std::str::from_utf8(line).ok().and_then(parse_line) else {
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
    Ok(buckets)
}

/// Writes the lines of each bucket in `buckets` before what that bucket in `target` holds,
/// and replaces the buckets only once all are written.
fn install(target: &Path, buckets: HashMap<String, Vec<u8>>) -> anyhow::Result<()> {
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
    let dirfd = File::open(target).with_context(|| format!("cannot open {}", target.display()))?;
    // SAFETY: syncfs on a descriptor owned by `dirfd`, alive for the call.
    unsafe { libc::syncfs(dirfd.as_raw_fd()) };
    for (tmp, final_path) in renames {
        fs::rename(&tmp, &final_path)
            .with_context(|| format!("cannot replace {}", final_path.display()))?;
    }
    dirfd
        .sync_all()
        .with_context(|| format!("cannot sync {}", target.display()))?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::dedupe::test_support::*;
    use crate::state::dedupe::*;
    use std::os::unix::fs::PermissionsExt;

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
}
