//! The spool: messages whose delivery failed after its retries (exit 5 or 6), kept in
//! `STATE_DIR/spool/` for `mmnotify flush`. One JSON file per message, named so that
//! names sort oldest first; items rejected on a later try move to `spool/rejected/`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};

use crate::secret::SourceRef;
use crate::state::dedupe::DedupeKey;
use crate::state::statedir::{self, try_flock};
use crate::text::time::now_ms;

/// The format version written by this build.
pub(crate) const SPOOL_VERSION: u32 = 1;

/// What saved an item, and so how `flush` delivers it. A new way of delivering is a new
/// variant here (named as it is written in the file) and an arm in `flush`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SpoolKind {
    Send,
    Build,
    Run,
    /// A build event for the Redis stream, saved by `build --enqueue` while Redis was
    /// away; `flush` enqueues it.
    Enqueue,
    /// A build event for a bot's run post (issue 18): `flush` patches or creates the
    /// same run's post.
    Bot,
    /// Written by another version of mmnotify: listed and kept, never delivered by this
    /// one, since it cannot know what delivering it means.
    #[serde(untagged)]
    Other(String),
}

impl SpoolKind {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            SpoolKind::Send => "send",
            SpoolKind::Build => "build",
            SpoolKind::Run => "run",
            SpoolKind::Enqueue => "enqueue",
            SpoolKind::Bot => "bot",
            SpoolKind::Other(name) => name,
        }
    }
}

impl fmt::Display for SpoolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One saved message. Never holds the webhook URL: `source` says how to find it again.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct SpoolItem {
    pub version: u32,
    pub created_at_ms: u64,
    /// `name:NAME`, `file:PATH` or `env`.
    pub source: String,
    /// Hex dedupe key (see [`DedupeKey::from_hex`]), for build events.
    pub dedupe_key: Option<String>,
    pub payload: serde_json::Value,
    /// Already redacted by the caller.
    pub last_error: String,
    /// Deliveries tried so far, each with its own retries.
    pub attempts: u32,
    pub kind: SpoolKind,
    /// For `env` items: hex HMAC-SHA-256 of the URL under the state dir's `spool.key`,
    /// so that `flush` posts the item only to the webhook it was meant for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_hmac: Option<String>,
    /// Every try so far timed out after the request was sent: the server may have
    /// posted it already, so a re-send may show it twice.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maybe_delivered: bool,
    /// Where the shared dedupe store's URL came from (`file:PATH` or `env`), when the key
    /// lives in Redis rather than in the state directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The Redis stream of an `enqueue` item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// A build's run (job, run id, state, its time), which `flush` records in the job's
    /// history once the item is posted or refused; opaque here (`story::history`'s
    /// `RunNote`). Absent in items written before it existed: those still flush.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<serde_json::Value>,
}

impl SpoolItem {
    /// A new item for a delivery that has just failed once.
    pub(crate) fn new(
        kind: SpoolKind,
        source: String,
        dedupe_key: Option<&DedupeKey>,
        payload: serde_json::Value,
        last_error: String,
    ) -> SpoolItem {
        SpoolItem {
            version: SPOOL_VERSION,
            created_at_ms: now_ms(),
            source,
            dedupe_key: dedupe_key.map(|k| k.as_str().to_string()),
            payload,
            last_error,
            attempts: 1,
            kind,
            webhook_hmac: None,
            maybe_delivered: false,
            store: None,
            stream: None,
            history: None,
        }
    }
}

/// One file found in the spool: the item, or why it could not be read (flush should
/// warn and [`Spool::reject`] it).
#[derive(Debug)]
pub(crate) struct SpoolEntry {
    pub path: PathBuf,
    pub item: Result<SpoolItem, String>,
}

impl SpoolEntry {
    /// What `spool list` shows and `spool drop` takes: the file name without `.json`.
    pub(crate) fn id(&self) -> String {
        item_id(&self.path)
    }
}

fn item_id(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(".json").unwrap_or(&name).to_string()
}

/// A file in the spool that is not trusted (Trust rules): never read, never posted.
#[derive(Debug)]
pub(crate) struct Skipped {
    pub path: PathBuf,
    pub why: String,
}

/// Held by a running flush; released on drop (or when the process dies).
#[derive(Debug)]
pub(crate) struct SpoolLock {
    _file: File,
}

#[derive(Debug, Clone)]
pub(crate) struct Spool {
    dir: PathBuf,
    rejected: PathBuf,
}

impl Spool {
    /// Opens the spool, creating `spool/` and `spool/rejected/` (mode 0700) when missing;
    /// each existing level must pass the Trust rules (exit 3 otherwise).
    pub(crate) fn open(state_dir: &Path) -> anyhow::Result<Spool> {
        let dir = state_dir.join("spool");
        let rejected = dir.join("rejected");
        for d in [state_dir, &dir, &rejected] {
            statedir::ensure_private_dir(d)?;
        }
        Ok(Spool { dir, rejected })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn rejected_dir(&self) -> &Path {
        &self.rejected
    }

    /// Saves `item` atomically (mode 0600) and returns its path.
    pub(crate) fn save(&self, item: &SpoolItem) -> anyhow::Result<PathBuf> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        check_item(item)?;
        // Zero-padded so that name order is age order; pid and sequence keep names
        // unique and, within one process, in the order saved.
        let name = format!(
            "{:013}-{:010}-{:06}.json",
            item.created_at_ms,
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed) % 1_000_000
        );
        statedir::write_atomic(&self.dir, &name, &encode(item)?)
    }

    /// All trusted items, oldest first (see [`Spool::list_checked`]).
    #[cfg(test)]
    pub(crate) fn list(&self) -> anyhow::Result<Vec<SpoolEntry>> {
        Ok(self.list_checked()?.0)
    }

    /// All items, oldest first, and the files that look like items but are not ours to
    /// trust: anything but a regular file owned by us with mode 0600 (another user's
    /// file, a symlink, a FIFO) is skipped unread. Temp files of killed writers, the lock
    /// and `rejected/` are ignored; an unreadable item is an entry with an error.
    pub(crate) fn list_checked(&self) -> anyhow::Result<(Vec<SpoolEntry>, Vec<Skipped>)> {
        list_dir(&self.dir)
    }

    /// The items in `rejected/`, under the same rules as [`Spool::list_checked`].
    pub(crate) fn list_rejected(&self) -> anyhow::Result<(Vec<SpoolEntry>, Vec<Skipped>)> {
        list_dir(&self.rejected)
    }

    /// Why a rejected item was moved aside (its `.reason` file), if that file is there
    /// and ours.
    pub(crate) fn reason(&self, entry: &SpoolEntry) -> Option<String> {
        let path = self.rejected.join(format!("{}.reason", entry.id()));
        let bytes = read_trusted(&path).ok()?.ok()?;
        Some(String::from_utf8_lossy(&bytes).trim_end().to_string())
    }

    /// The path of the item `id` (as `spool list` shows it; a `.json` suffix is
    /// accepted) in the spool or in `rejected/`. `Err` says why `id` cannot name an
    /// item at all; `Ok(None)` is an item that does not exist.
    pub(crate) fn find(&self, id: &str, rejected: bool) -> Result<Option<PathBuf>, String> {
        let stem = id.strip_suffix(".json").unwrap_or(id);
        let valid = !stem.is_empty()
            && !stem.starts_with('.')
            && stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(format!("`{id}` is not a spool item id"));
        }
        let dir = if rejected { &self.rejected } else { &self.dir };
        let path = dir.join(format!("{stem}.json"));
        // symlink_metadata: a symlink planted under an id exists, and `drop` must
        // refuse it rather than call it unknown.
        Ok(fs::symlink_metadata(&path).is_ok().then_some(path))
    }

    /// Removes an item the user asked to drop, only if it is ours by the same rules as
    /// reading one: a symlink is never followed nor removed, another user's file is left.
    /// The inner `Err` says why it was left. A rejected item's reason goes with it.
    pub(crate) fn drop_item(&self, path: &Path) -> anyhow::Result<Result<(), String>> {
        let cannot = || format!("cannot remove {}", path.display());
        match open_trusted(path) {
            Ok(Ok((_file, checked))) => {
                // The check was made on what was opened; remove only that same file.
                let now = fs::symlink_metadata(path).with_context(cannot)?;
                if (now.dev(), now.ino()) != (checked.dev(), checked.ino()) {
                    return Ok(Err("it was replaced while being checked".to_string()));
                }
            }
            Ok(Err(why)) => return Ok(Err(why)),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Ok(())),
            Err(e) => return Err(e).with_context(cannot),
        }
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(cannot),
        }
        if path.parent() == Some(self.rejected.as_path()) {
            let reason = self.rejected.join(format!("{}.reason", item_id(path)));
            if matches!(open_trusted(&reason), Ok(Ok(_))) {
                let _ = fs::remove_file(&reason);
            }
        }
        Ok(Ok(()))
    }

    /// Removes `.tmp-*` files, left by writers killed between create and rename, that
    /// are older than `age` (younger ones may belong to a writer still at work).
    /// Returns how many went.
    pub(crate) fn remove_stale_temp_files(&self, age: Duration) -> usize {
        let mut removed = 0;
        for dir in [&self.dir, &self.rejected] {
            let Ok(list) = fs::read_dir(dir) else {
                continue;
            };
            for entry in list.flatten() {
                if !entry.file_name().to_string_lossy().starts_with(".tmp-") {
                    continue;
                }
                // DirEntry::metadata does not follow symlinks.
                let Ok(meta) = entry.metadata() else { continue };
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|e| e >= age);
                if meta.is_file()
                    && meta.uid() == euid()
                    && old
                    && fs::remove_file(entry.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Removes a delivered (or meanwhile delivered) item.
    pub(crate) fn remove(&self, entry: &SpoolEntry) -> anyhow::Result<()> {
        match fs::remove_file(&entry.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", entry.path.display())),
        }
    }

    /// Moves an item the server refused (or that cannot be read) to `rejected/`, with
    /// `reason` (redacted by the caller) in a sibling `<name>.reason` file. Returns the
    /// item's new path.
    pub(crate) fn reject(&self, entry: &SpoolEntry, reason: &str) -> anyhow::Result<PathBuf> {
        let name = entry
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("not a spool item: {}", entry.path.display()))?;
        let stem = name.strip_suffix(".json").unwrap_or(name);
        // Reason first: a crash in between leaves a stray reason, never a rejected item
        // without one. A separate file works for items too damaged to rewrite.
        let mut text = reason.trim_end().to_string();
        text.push('\n');
        statedir::write_atomic(&self.rejected, &format!("{stem}.reason"), text.as_bytes())?;
        let target = self.rejected.join(name);
        fs::rename(&entry.path, &target).with_context(|| {
            format!(
                "cannot move {} to {}",
                entry.path.display(),
                target.display()
            )
        })?;
        Ok(target)
    }

    /// Rewrites an item in place, atomically, after another failed try (the caller
    /// bumps `attempts` and sets `last_error`).
    pub(crate) fn update(&self, entry: &SpoolEntry, item: &SpoolItem) -> anyhow::Result<()> {
        check_item(item)?;
        let name = entry
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("not a spool item: {}", entry.path.display()))?;
        statedir::write_atomic(&self.dir, name, &encode(item)?)?;
        Ok(())
    }

    /// Takes the flush lock (`spool/.lock`), waiting up to `wait`; `None` when another
    /// flush still holds it.
    pub(crate) fn lock(&self, wait: Duration) -> anyhow::Result<Option<SpoolLock>> {
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| {
                // Not a bug but a state directory we may not write: the operator's to fix.
                crate::error::config(format!(
                    "cannot open {} ({e}); the spool must be writable by you: fix it with \
                     chmod 0700 {}",
                    path.display(),
                    self.dir.display()
                ))
            })?;
        let started = Instant::now();
        loop {
            if try_flock(&file, &path)? {
                return Ok(Some(SpoolLock { _file: file }));
            }
            let waited = started.elapsed();
            if waited >= wait {
                return Ok(None);
            }
            std::thread::sleep(
                wait.checked_sub(waited)
                    .unwrap()
                    .min(Duration::from_millis(50)),
            );
        }
    }
}

/// Refuses items that would break the spool's promises (a URL as source, a key that
/// is not a hash): mostly bugs in the caller, so they are internal errors; the caller
/// warns and the message is not saved.
fn check_item(item: &SpoolItem) -> anyhow::Result<()> {
    // A secrets file may be named after its hook id (`<id>.url`): saving `name:<id>` or
    // its path would write the token to disk, which the Trust rules forbid.
    if crate::secret::redact_id_runs(&item.source) != item.source {
        return Err(anyhow!(
            "the webhook's name or file path looks like its token (a run of 26 id \
             characters), which is never written to disk; rename the file after what it \
             posts to, e.g. ops.url"
        ));
    }
    // The payload, stream and errors must not carry a webhook URL or a token this process
    // holds either: an enqueue refuses such an event before it gets here (exit 4), and a
    // post refuses its own token; this is the last line.
    if [&item.payload.to_string(), &item.last_error]
        .into_iter()
        .chain(item.stream.as_ref())
        .chain(item.store.as_ref())
        .any(|text| crate::secret::holds_secret(text))
    {
        return Err(anyhow!(
            "the item holds a webhook URL or token, which is never written to disk"
        ));
    }
    let source_ok = match item.source.parse::<SourceRef>() {
        // An event for the queue may come from `--queue URL` (no password): flush then
        // takes the URL from its own `--queue`.
        Ok(SourceRef::Flag) => item.kind == SpoolKind::Enqueue,
        Ok(r) => r.is_complete(),
        Err(_) => false,
    };
    if !source_ok {
        return Err(anyhow!(
            "spool item source must be name:NAME, file:PATH or env (refusing to save it)"
        ));
    }
    // The store's source names where its URL is, never the URL (which holds the
    // password): only `file:/PATH`, `env` or `flag`.
    if let Some(store) = &item.store {
        let store_ok = matches!(store.as_str(), "env" | "flag")
            || store.strip_prefix("file:").is_some_and(|p| {
                p.starts_with('/') && !p.contains("://") && !p.contains(char::is_control)
            });
        if !store_ok || crate::secret::redact_id_runs(store) != *store {
            return Err(anyhow!(
                "spool item dedupe store must be file:PATH, env or flag (refusing to save it)"
            ));
        }
    }
    if let Some(k) = &item.dedupe_key {
        if DedupeKey::from_hex(k).is_none() {
            return Err(anyhow!("spool item dedupe key is not a hex SHA-256"));
        }
    }
    if let Some(h) = &item.webhook_hmac {
        if DedupeKey::from_hex(h).is_none() {
            return Err(anyhow!(
                "spool item webhook fingerprint is not a hex HMAC-SHA-256"
            ));
        }
    }
    Ok(())
}

/// See [`Spool::list_checked`].
fn list_dir(dir: &Path) -> anyhow::Result<(Vec<SpoolEntry>, Vec<Skipped>)> {
    let read_err = || format!("cannot read directory {}", dir.display());
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).with_context(read_err)? {
        let entry = entry.with_context(read_err)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || Path::new(name).extension().is_none_or(|e| e != "json") {
            continue;
        }
        paths.push(entry.path());
    }
    paths.sort();

    let mut entries = Vec::with_capacity(paths.len());
    let mut skipped = Vec::new();
    for path in paths {
        let item = match read_trusted(&path) {
            Ok(Ok(bytes)) => decode(&bytes),
            Ok(Err(why)) => {
                skipped.push(Skipped { path, why });
                continue;
            }
            // Removed since the readdir, by a flush that ran without the lock.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => Err(format!("cannot read: {e}")),
        };
        entries.push(SpoolEntry { path, item });
    }
    Ok((entries, skipped))
}

fn euid() -> u32 {
    crate::secret::current_uid()
}

/// Opens a spool file through one descriptor that is checked before anything else is
/// done with it: `O_NOFOLLOW` refuses a symlink, `O_NONBLOCK` keeps a planted FIFO from
/// hanging us, and `fstat` checks what was actually opened. The inner `Err` says why the
/// file is not trusted.
fn open_trusted(path: &Path) -> std::io::Result<Result<(File, fs::Metadata), String>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Ok(Err("it is a symlink".to_string()))
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Err("it is not a regular file".to_string()));
    }
    if meta.uid() != euid() {
        return Ok(Err(format!(
            "it is owned by uid {}, not by you (uid {})",
            meta.uid(),
            euid()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode != 0o600 {
        return Ok(Err(format!(
            "its mode is {mode:04o}, not the 0600 mmnotify writes"
        )));
    }
    Ok(Ok((file, meta)))
}

/// The largest spool file read: an item holds at most one payload of the largest
/// `--max-payload-bytes` (64 MiB), which JSON escaping can make up to six times longer.
/// A larger file (a sparse one claims any size) was not written by mmnotify; reading it
/// whole, or reserving its claimed size, would abort `list` and `flush`.
const ITEM_FILE_LIMIT: u64 = 512 << 20;

/// Reads a spool file checked by [`open_trusted`].
fn read_trusted(path: &Path) -> std::io::Result<Result<Vec<u8>, String>> {
    let (file, meta) = match open_trusted(path)? {
        Ok(opened) => opened,
        Err(why) => return Ok(Err(why)),
    };
    if meta.len() > ITEM_FILE_LIMIT {
        return Err(std::io::Error::other(format!(
            "it is larger than the {} MiB any spool item takes",
            ITEM_FILE_LIMIT >> 20
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow after the fstat.
    (&file).take(ITEM_FILE_LIMIT).read_to_end(&mut bytes)?;
    Ok(Ok(bytes))
}

fn encode(item: &SpoolItem) -> anyhow::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(item).context("cannot encode spool item")?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn decode(bytes: &[u8]) -> Result<SpoolItem, String> {
    let item: SpoolItem =
        serde_json::from_slice(bytes).map_err(|e| format!("not a valid spool item: {e}"))?;
    if item.version != SPOOL_VERSION {
        return Err(format!(
            "spool item version {} is not supported (expected {SPOOL_VERSION})",
            item.version
        ));
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn spool() -> (tempfile::TempDir, Spool) {
        let tmp = tempfile::tempdir().unwrap();
        let s = Spool::open(&tmp.path().join("state")).unwrap();
        (tmp, s)
    }

    fn item(created_at_ms: u64, text: &str) -> SpoolItem {
        let mut it = SpoolItem::new(
            SpoolKind::Send,
            "name:ops".to_string(),
            None,
            serde_json::json!({ "text": text }),
            "connection refused".to_string(),
        );
        it.created_at_ms = created_at_ms;
        it
    }

    /// Writes a file as mmnotify would own it (0600), whatever the umask.
    fn plant(p: &Path, bytes: &[u8]) {
        fs::write(p, bytes).unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn texts(s: &Spool) -> Vec<String> {
        s.list()
            .unwrap()
            .into_iter()
            .map(|e| {
                e.item.unwrap().payload["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn an_item_holding_a_hook_url_is_never_saved() {
        let (_tmp, s) = spool();
        let url = "https://chat.example.com/hooks/pq3wxk8bmjsyr9cn5ue7tdo1ha";
        let in_payload = item(1_000, &format!("see {url}"));
        let mut in_stream = item(1_000, "x");
        in_stream.stream = Some(url.to_string());
        let mut in_error = item(1_000, "x");
        in_error.last_error = format!("{url}: refused");
        for bad in [in_payload, in_stream, in_error] {
            assert!(s.save(&bad).is_err(), "{bad:?}");
        }
        assert!(s.list().unwrap().is_empty());
        assert!(s.save(&item(1_000, "fine")).is_ok());
    }

    #[test]
    fn save_list_round_trip() {
        let (_tmp, s) = spool();
        assert_eq!(mode(s.dir()), 0o700);
        assert_eq!(mode(s.rejected_dir()), 0o700);

        let key = crate::state::dedupe::key("https://x/hooks/abc", "42", "failed");
        let mut third = item(3_000, "third");
        third.kind = SpoolKind::Build;
        third.dedupe_key = Some(key.as_str().to_string());
        let p = s.save(&third).unwrap();
        s.save(&item(1_000, "first")).unwrap();
        s.save(&item(2_000, "second")).unwrap();
        assert_eq!(mode(&p), 0o600);

        let entries = s.list().unwrap();
        assert_eq!(texts(&s), ["first", "second", "third"]);
        assert_eq!(entries[2].path, p);
        assert_eq!(entries[2].item.as_ref().unwrap(), &third);
    }

    #[test]
    fn same_millisecond_keeps_save_order() {
        let (_tmp, s) = spool();
        for t in ["a", "b", "c", "d"] {
            s.save(&item(5_000, t)).unwrap();
        }
        assert_eq!(texts(&s), ["a", "b", "c", "d"]);
    }

    #[test]
    fn corrupt_item_is_an_error_entry_and_can_be_rejected() {
        let (_tmp, s) = spool();
        s.save(&item(2_000, "good")).unwrap();
        let bad = s.dir().join("0000000001000-0000000001-000000.json");
        plant(&bad, b"{\"version\":1,");

        let entries = s.list().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].path, bad);
        let err = entries[0].item.as_ref().unwrap_err();
        assert!(err.contains("not a valid spool item"), "{err}");
        assert!(entries[1].item.is_ok());

        let moved = s.reject(&entries[0], "not a valid spool item").unwrap();
        assert_eq!(moved, s.rejected_dir().join(bad.file_name().unwrap()));
        assert!(moved.exists() && !bad.exists());
        let reason = fs::read_to_string(
            s.rejected_dir()
                .join("0000000001000-0000000001-000000.reason"),
        )
        .unwrap();
        assert_eq!(reason, "not a valid spool item\n");
        assert_eq!(texts(&s), ["good"]);
    }

    #[test]
    fn unsupported_version_is_an_error_entry() {
        let (_tmp, s) = spool();
        let mut it = item(1, "future");
        it.version = 2;
        plant(
            &s.dir().join("0000000000001-1-1.json"),
            &encode(&it).unwrap(),
        );
        let entries = s.list().unwrap();
        assert!(entries[0].item.as_ref().unwrap_err().contains("version 2"));
    }

    #[test]
    fn leftovers_are_not_listed() {
        let (_tmp, s) = spool();
        s.save(&item(1_000, "kept")).unwrap();
        // As if a writer was killed between create and rename.
        fs::write(
            s.dir().join(".tmp-0000000000500-1-1.json-99-123-0"),
            b"{\"vers",
        )
        .unwrap();
        let _lock = s.lock(Duration::ZERO).unwrap().unwrap();
        s.reject(&s.list().unwrap()[0], "400").unwrap();
        s.save(&item(2_000, "other")).unwrap();
        assert_eq!(texts(&s), ["other"]);
    }

    #[test]
    fn update_and_remove() {
        let (_tmp, s) = spool();
        s.save(&item(1_000, "x")).unwrap();
        let entry = s.list().unwrap().remove(0);
        let mut it = entry.item.clone().unwrap();
        it.attempts += 1;
        it.last_error = "HTTP 503".to_string();
        s.update(&entry, &it).unwrap();
        let again = s.list().unwrap().remove(0);
        assert_eq!(again.path, entry.path);
        assert_eq!(again.item.as_ref().unwrap(), &it);
        assert_eq!(mode(&again.path), 0o600);

        s.remove(&again).unwrap();
        s.remove(&again).unwrap();
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn untrusted_files_are_skipped_unread() {
        let (_tmp, s) = spool();
        s.save(&item(1_000, "ours")).unwrap();
        let loose = s.dir().join("0000000000002-1-1.json");
        plant(&loose, &encode(&item(2_000, "loose")).unwrap());
        fs::set_permissions(&loose, fs::Permissions::from_mode(0o640)).unwrap();
        let fifo = s.dir().join("0000000000003-1-1.json");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (entries, skipped) = s.list_checked().unwrap();
        assert_eq!(entries.len(), 1);
        let why: Vec<&str> = skipped.iter().map(|k| k.why.as_str()).collect();
        assert_eq!(skipped.len(), 2, "{why:?}");
        assert!(why[0].contains("0640"), "{why:?}");
        assert!(why[1].contains("not a regular file"), "{why:?}");
    }

    #[test]
    fn refuses_a_url_as_source() {
        let (_tmp, s) = spool();
        let mut it = item(1, "x");
        it.source = "https://chat.example.com/hooks/abcdefghijklmnopqrstuvwxyz".to_string();
        let err = s.save(&it).unwrap_err();
        assert!(!format!("{err:#}").contains("abcdefghij"));
        it.source = "env".to_string();
        it.dedupe_key = Some("../../x".to_string());
        assert!(s.save(&it).is_err());
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn one_flush_at_a_time() {
        let (_tmp, s) = spool();
        let first = s.lock(Duration::ZERO).unwrap().expect("free lock");
        // A second open file description contends, as a second process would.
        let started = Instant::now();
        assert!(s.lock(Duration::from_millis(100)).unwrap().is_none());
        assert!(started.elapsed() >= Duration::from_millis(100));

        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || s.lock(Duration::from_secs(5)).unwrap().is_some())
        };
        std::thread::sleep(Duration::from_millis(100));
        drop(first);
        assert!(waiter.join().unwrap());
    }
}
