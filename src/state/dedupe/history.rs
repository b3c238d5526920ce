//! Job histories in the file store (contract: "Job history and transitions"): one record
//! per job, bucketed like the delivered log so that a lookup reads one small file
//! whatever the number of jobs.
//!
//! - `history/XXX.log`: lines `<job hash> <expires_ms> <record>`, appended with one write;
//!   the last line of a job wins, and a last line without its newline (an append cut
//!   short) is none. The bucket is the job hash's first three hex digits
//!   (4096 buckets: about 25 jobs each at 100,000 jobs).
//! - `history.lock`: a read-modify-write of a bucket holds an OFD write lock on the
//!   bucket's byte of this (empty) file, waiting for it, so that two processes recording
//!   runs of one job never lose an update; the kernel drops it when a holder dies.
//!
//! A bucket is rewritten (temp file + rename, under its lock) once it holds more than
//! twice as many lines as live jobs, dropping superseded and expired lines. The record
//! itself is opaque here: `story::history` decides what it says.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;

use crate::state::statedir;
use crate::text::time::{millis, now_ms};

const HISTORY_DIR: &str = "history";
/// The most a bucket may hold: compaction keeps it near twice its live jobs' lines
/// (about 25 jobs of 1 KiB at 100,000 jobs), so this is a planted file, not a history.
const MAX_BUCKET_BYTES: u64 = 16 << 20;
/// Lines past twice the live jobs (plus this) before a bucket is rewritten: a job that
/// runs all day rewrites its bucket once every hundred runs or so, and a bucket stays a
/// few dozen KiB.
const COMPACT_SLACK: usize = 128;

/// The job histories of one state directory's dedupe store.
#[derive(Debug)]
pub(crate) struct Histories {
    dir: PathBuf,
    lock: File,
    /// OFD locks belong to the open file: threads of one process sharing `lock` would
    /// not exclude each other, so they take turns here first.
    local: Mutex<()>,
    /// The bucket used last, open, with its text: an event's story reads its bucket,
    /// its record reads it again under the lock and appends to it, and the next event
    /// of the same job starts over. Checking that the file is unchanged costs one
    /// `stat`, where reading it again cost an open and a read of every line.
    cached: Mutex<Option<Cached>>,
}

/// Device, inode, size, modification and change times.
type FileId = (u64, u64, u64, (i64, i64), (i64, i64));

fn file_id(meta: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        (meta.mtime(), meta.mtime_nsec()),
        (meta.ctime(), meta.ctime_nsec()),
    )
}

/// A bucket as this process last saw it: its file (open for reading and appending),
/// what says the file has not changed since (writers only append, which changes the
/// size and times, or rename a new file over it, which changes the inode), and its text.
#[derive(Debug)]
struct Cached {
    bucket: usize,
    file: File,
    /// Whether `file` is open for appending too: a bucket this process may read but not
    /// write still tells the story.
    writable: bool,
    id: FileId,
    text: String,
    /// Its lines, and the jobs they are of (by hash prefix), kept as lines are
    /// appended: when to compact is then known without a walk of the text.
    lines: usize,
    jobs: HashSet<u64>,
}

impl Cached {
    fn push(&mut self, line: &str, meta: &std::fs::Metadata) {
        self.text.push_str(line);
        self.id = file_id(meta);
        self.lines += 1;
        self.jobs.extend(job_prefix(line));
    }

    fn compaction_due(&self) -> bool {
        self.lines > 2 * self.jobs.len() + COMPACT_SLACK
    }
}

/// What a record that was appended but whose bucket could not be compacted (a directory
/// made read-only, a full disk) fails with: the run is in the history all the same, which
/// the warning must not deny.
#[derive(Debug)]
pub(crate) struct NotCompacted;

impl std::fmt::Display for NotCompacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the run is recorded in the job's history, but its bucket could not be rewritten \
             without the lines it no longer needs, so it grows until a later run can (keep \
             the state directory's dedupe/history writable)",
        )
    }
}

/// A line's job, by the first 16 hex digits of its hash: enough to count jobs.
fn job_prefix(line: &str) -> Option<u64> {
    u64::from_str_radix(line.get(..16)?, 16).ok()
}

/// The hash of a job's id (hex SHA-256, tagged): safe as a line key or a Redis key,
/// never the id (a repository name) itself. Both stores name records by it.
pub(crate) fn job_hash(job: &str) -> String {
    use std::fmt::Write as _;
    let mut buf = b"mmnotify-job-v1\0".to_vec();
    buf.extend_from_slice(job.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &buf);
    digest.as_ref().iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

fn bucket_of(hash: &str) -> usize {
    usize::from_str_radix(&hash[..3], 16).unwrap_or(0)
}

/// One line: the job hash, its expiry and the record (which holds no newline: it is
/// compact JSON, whose strings escape control characters).
fn parse(line: &str) -> Option<(&str, u64, &str)> {
    let (hash, rest) = line.split_once(' ')?;
    let (expires, record) = rest.split_once(' ')?;
    (hash.len() == 64).then_some(())?;
    Some((hash, expires.parse().ok()?, record))
}

impl Histories {
    /// Opens (creating) `dedupe/history/` and `dedupe/history.lock` in the store `dir`.
    pub(crate) fn open(dir: &Path) -> anyhow::Result<Histories> {
        statedir::ensure_private_dir(&dir.join(HISTORY_DIR))?;
        let path = dir.join("history.lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Histories {
            dir: dir.to_path_buf(),
            lock,
            local: Mutex::new(()),
            cached: Mutex::new(None),
        })
    }

    fn bucket_path(&self, bucket: usize) -> PathBuf {
        self.dir.join(HISTORY_DIR).join(format!("{bucket:03x}.log"))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Brings `cached` to the bucket's current file, read through one descriptor, or
    /// to `None` when there is no file (and `create` is false). A symlink (`lstat`, then
    /// `O_NOFOLLOW`), a FIFO (`O_NONBLOCK`, then `fstat`), `/dev/zero` or a file past
    /// [`MAX_BUCKET_BYTES`] planted there is an error (the story is lost, the post is
    /// not), never a hang or all the memory. Bytes that are not UTF-8 only spoil their
    /// own line, which no job then matches.
    fn load(&self, cached: &mut Option<Cached>, bucket: usize, create: bool) -> anyhow::Result<()> {
        let path = self.bucket_path(bucket);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) => {
                let id = file_id(&meta);
                if cached
                    .as_ref()
                    .is_some_and(|c| c.bucket == bucket && c.id == id)
                {
                    return Ok(());
                }
                anyhow::ensure!(meta.is_file(), "{} is not a regular file", path.display());
            }
            Err(e) if e.kind() == ErrorKind::NotFound && !create => {
                *cached = None;
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
        *cached = None;
        let (mut file, writable) = open_bucket(&path, create)?;
        let meta = file.metadata().ok().filter(std::fs::Metadata::is_file);
        let Some(meta) = meta else {
            anyhow::bail!("{} is not a regular file", path.display());
        };
        anyhow::ensure!(
            meta.len() <= MAX_BUCKET_BYTES,
            "{} is larger than {} MiB, which no bucket of job histories grows to: remove \
             it (the jobs in it start their stories again)",
            path.display(),
            MAX_BUCKET_BYTES >> 20
        );
        // The identity as of before the read: what is read may be longer (another process
        // appended meanwhile), and then the size differs next time, which reads it again.
        // Taken after the read, it would vouch for an append the text lacks, and the next
        // record, under the lock, would be computed without that run.
        let id = file_id(&meta);
        // Sized from `fstat`, so that the read takes one call (and one more to see the
        // end), where a growing buffer took a dozen.
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len())?.saturating_add(1));
        (&mut file)
            .take(MAX_BUCKET_BYTES + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?;
        anyhow::ensure!(
            bytes.len() as u64 <= MAX_BUCKET_BYTES,
            "{} grew past {} MiB while read: remove it",
            path.display(),
            MAX_BUCKET_BYTES >> 20
        );
        // The check alone first: it is several times faster than the lossy walk, which
        // only a damaged bucket needs.
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        *cached = Some(Cached {
            bucket,
            file,
            writable,
            id,
            lines: text.lines().count(),
            jobs: text.lines().filter_map(job_prefix).collect(),
            text,
        });
        Ok(())
    }

    /// The job's record, unless it has expired.
    pub(crate) fn get(&self, job: &str) -> anyhow::Result<Option<String>> {
        let hash = job_hash(job);
        let mut cached = self.cache();
        self.load(&mut cached, bucket_of(&hash), false)?;
        Ok(cached
            .as_ref()
            .and_then(|c| latest(&c.text, &hash, now_ms()))
            .map(str::to_string))
    }

    /// Reads the job's record, hands it to `update`, and appends what that returns
    /// (`None`: nothing changes), all under the bucket's lock.
    pub(crate) fn update(
        &self,
        job: &str,
        ttl: Duration,
        update: &mut dyn FnMut(Option<&str>) -> Option<String>,
    ) -> anyhow::Result<()> {
        let hash = job_hash(job);
        let bucket = bucket_of(&hash);
        let _local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _held = self.lock_bucket(bucket)?;
        let mut guard = self.cache();
        // Under the lock no other writer can append to the bucket or rename a new one
        // over it, so the file checked here is the one written below.
        self.load(&mut guard, bucket, false)?;
        let now = now_ms();
        let current = guard.as_ref().and_then(|c| latest(&c.text, &hash, now));
        let Some(record) = update(current) else {
            return Ok(());
        };
        debug_assert!(!record.contains('\n'));
        if !guard.as_ref().is_some_and(|c| c.writable) {
            // No bucket yet, or one open for reading only: opened for appending now, or
            // the reason why it cannot be.
            *guard = None;
            self.load(&mut guard, bucket, true)?;
        }
        let cached = guard.as_mut().context("no bucket loaded")?;
        // After a line cut short (a crash or a full disk mid-append), this one starts on
        // a line of its own: glued to it, it would be lost with it.
        let cut = !cached.text.is_empty() && !cached.text.ends_with('\n');
        let line = format!(
            "{}{hash} {} {}\n",
            if cut { "\n" } else { "" },
            now.saturating_add(millis(ttl)),
            record.replace('\n', " ")
        );
        let path = self.bucket_path(bucket);
        // One write of a line to an `O_APPEND` file lands whole.
        (&cached.file)
            .write_all(line.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        let before = cached.id.2;
        let meta = cached
            .file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?;
        if meta.len() != before + line.len() as u64 {
            // Someone who takes no lock wrote too: read it all again next time.
            *guard = None;
            return Ok(());
        }
        cached.push(&line, &meta);
        if cached.compaction_due() {
            let text = std::mem::take(&mut cached.text);
            *guard = None;
            self.compact(bucket, &text, now).context(NotCompacted)?;
        }
        Ok(())
    }

    /// Rewrites a bucket (whose current text is `text`) with each live job's last line
    /// only. The caller holds its lock.
    fn compact(&self, bucket: usize, text: &str, now: u64) -> anyhow::Result<()> {
        let mut out = String::new();
        for line in live_lines(text, now).into_values() {
            out.push_str(line);
            out.push('\n');
        }
        // A temp file renamed over the bucket, so that readers (who take no lock) see
        // the old file or the new one. Not fsynced, like the logs: a power cut costs at
        // worst the last runs' streak, and a compaction every hundred or so events of a
        // busy job must not cost two fsyncs.
        let dir = self.dir.join(HISTORY_DIR);
        let tmp = dir.join(format!(".tmp-{bucket:03x}.log-{}", std::process::id()));
        let written = (|| -> anyhow::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?;
            f.write_all(out.as_bytes())
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, self.bucket_path(bucket))
                .with_context(|| format!("cannot rename {}", tmp.display()))
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// Waits for the bucket's byte of `history.lock`; released when the guard drops.
    fn lock_bucket(&self, bucket: usize) -> anyhow::Result<ByteLock<'_>> {
        let byte = i64::try_from(bucket).unwrap_or(0);
        set_lock(&self.lock, byte, libc::F_WRLCK, libc::F_OFD_SETLKW)
            .with_context(|| format!("cannot lock {}/history.lock", self.dir.display()))?;
        Ok(ByteLock {
            file: &self.lock,
            byte,
        })
    }
}

/// Opens a bucket for reading and appending, or for reading alone when this process may
/// not write it (`create` false): the story is told from it, and the record then fails
/// with the reason. Never through a symlink, never waiting on a FIFO.
fn open_bucket(path: &Path, create: bool) -> anyhow::Result<(File, bool)> {
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let opened = OpenOptions::new()
        .read(true)
        .append(true)
        .create(create)
        .mode(0o600)
        .custom_flags(flags)
        .open(path);
    let read_only = |e: &std::io::Error| {
        !create
            && matches!(
                e.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EROFS)
            )
    };
    match opened {
        Ok(file) => Ok((file, true)),
        Err(e) if read_only(&e) => OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(path)
            .map(|file| (file, false))
            .with_context(|| format!("cannot open {}", path.display())),
        Err(e) => Err(e).with_context(|| format!("cannot open {}", path.display())),
    }
}

/// A bucket's whole lines: a last line without its newline is an append cut short, or
/// one being written as the bucket was read (without the lock), and no record.
fn whole_lines(text: &str) -> std::str::Lines<'_> {
    text[..text.rfind('\n').map_or(0, |i| i + 1)].lines()
}

/// The last unexpired line of `hash` in a bucket's text.
fn latest<'a>(text: &'a str, hash: &str, now: u64) -> Option<&'a str> {
    whole_lines(text)
        .rev()
        .filter_map(parse)
        .find(|(h, _, _)| *h == hash)
        .filter(|(_, expires, _)| *expires > now)
        .map(|(_, _, record)| record)
}

/// Each unexpired job's last line, by hash.
fn live_lines(text: &str, now: u64) -> HashMap<&str, &str> {
    let mut last: HashMap<&str, (&str, u64)> = HashMap::new();
    for line in whole_lines(text) {
        if let Some((hash, expires, _)) = parse(line) {
            last.insert(hash, (line, expires));
        }
    }
    last.into_iter()
        .filter(|(_, (_, expires))| *expires > now)
        .map(|(h, (line, _))| (h, line))
        .collect()
}

struct ByteLock<'a> {
    file: &'a File,
    byte: i64,
}

impl Drop for ByteLock<'_> {
    fn drop(&mut self) {
        let _ = set_lock(self.file, self.byte, libc::F_UNLCK, libc::F_OFD_SETLK);
    }
}

fn set_lock(file: &File, byte: i64, kind: libc::c_int, cmd: libc::c_int) -> std::io::Result<()> {
    let fl = libc::flock {
        l_type: libc::c_short::try_from(kind).unwrap_or_default(),
        l_whence: libc::c_short::try_from(libc::SEEK_SET).unwrap_or_default(),
        l_start: byte,
        l_len: 1,
        l_pid: 0,
    };
    loop {
        // SAFETY: `fl` is a valid flock for this call and the descriptor is owned by
        // `file`, which outlives it.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &fl) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(3600);

    #[test]
    fn the_last_line_of_a_job_wins_and_buckets_are_compacted() {
        let tmp = tempfile::tempdir().unwrap();
        let h = Histories::open(tmp.path()).unwrap();
        assert_eq!(h.get("job").unwrap(), None);
        // Enough runs that the bucket is compacted at least once.
        let runs = 3 * (2 + u32::try_from(COMPACT_SLACK).unwrap());
        for i in 0..runs {
            h.update("job", TTL, &mut |prev| {
                let n: u32 = prev.map_or(0, |p| p.parse().unwrap());
                assert_eq!(n, i);
                Some((n + 1).to_string())
            })
            .unwrap();
        }
        assert_eq!(h.get("job").unwrap().as_deref(), Some(&*runs.to_string()));
        assert_eq!(h.get("other").unwrap(), None);
        let bucket = std::fs::read_to_string(h.bucket_path(bucket_of(&job_hash("job")))).unwrap();
        assert!(bucket.lines().count() <= 2 + COMPACT_SLACK, "{bucket}");
        // `None` writes nothing.
        h.update("job", TTL, &mut |_| None).unwrap();
        assert_eq!(h.get("job").unwrap().as_deref(), Some(&*runs.to_string()));
        // Expired records are gone.
        h.update("job", Duration::ZERO, &mut |_| Some("x".into()))
            .unwrap();
        assert_eq!(h.get("job").unwrap(), None);
    }

    #[test]
    fn concurrent_updates_from_separate_opens_are_not_lost() {
        let tmp = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let dir = tmp.path().to_path_buf();
                std::thread::spawn(move || {
                    let h = Histories::open(&dir).unwrap();
                    for _ in 0..50 {
                        h.update("job", TTL, &mut |prev| {
                            let n: u32 = prev.map_or(0, |p| p.parse().unwrap());
                            Some((n + 1).to_string())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let h = Histories::open(tmp.path()).unwrap();
        assert_eq!(h.get("job").unwrap().as_deref(), Some("200"));
    }
}
