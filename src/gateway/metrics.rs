//! `--metrics-file PATH`: the gateway's counters in the Prometheus text format, for
//! `node_exporter`'s textfile collector. The names and labels are fixed by the contract.
//! The file is replaced atomically (a temp file in the same directory, renamed over it),
//! so the collector never reads half of one; the temp name starts with a dot and does
//! not end in `.prom`, so the collector never picks it up either.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Result;

use crate::error;

/// The final outcomes an entry is counted under once, then `failed` for each attempt
/// that left its entry pending, in the order the file lists them.
pub(crate) const OUTCOMES: [&str; 7] = [
    "posted",
    "duplicate",
    "filtered",
    "invalid",
    "rejected",
    "dead",
    "failed",
];

/// One snapshot of a gateway, as written to the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Metrics {
    /// `mmnotify_events_total{outcome}`, indexed like [`OUTCOMES`].
    pub events: [u64; 7],
    /// `XLEN` of the stream.
    pub queue_length: u64,
    /// Entries of the group delivered to a consumer and not yet acknowledged.
    pub queue_pending: u64,
    /// Age of the oldest pending entry; 0 when nothing is pending.
    pub queue_oldest_pending_seconds: f64,
    /// Unix time of the last post; 0 before the first.
    pub last_post_timestamp_seconds: f64,
    pub redis_up: bool,
    /// Time spent waiting for the rate budget or a 429 pause.
    pub rate_limited_seconds_total: f64,
    /// Holds the `--exclusive` lease.
    pub owner: bool,
}

impl Metrics {
    /// Counts one event under `outcome` (one of [`OUTCOMES`]); an unknown name is a bug
    /// in the caller and is not counted.
    pub(crate) fn count(&mut self, outcome: &str) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            self.events[i] += 1;
        } else {
            debug_assert!(false, "unknown outcome {outcome}");
        }
    }

    /// The Prometheus text exposition format, version 0.0.4.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, value) in samples {
                out.push_str(&format!("{name}{labels} {value}\n"));
            }
        };
        let events: Vec<(String, String)> = OUTCOMES
            .iter()
            .zip(self.events)
            .map(|(o, n)| (format!("{{outcome=\"{o}\"}}"), n.to_string()))
            .collect();
        family(
            "mmnotify_events_total",
            "counter",
            "Entries by final outcome; failed counts attempts that left the entry pending.",
            &events,
        );
        let one = |v: String| [(String::new(), v)];
        family(
            "mmnotify_queue_length",
            "gauge",
            "Entries in the stream (XLEN).",
            &one(self.queue_length.to_string()),
        );
        family(
            "mmnotify_queue_pending",
            "gauge",
            "Entries of the group delivered and not yet acknowledged.",
            &one(self.queue_pending.to_string()),
        );
        family(
            "mmnotify_queue_oldest_pending_seconds",
            "gauge",
            "Age of the oldest pending entry, 0 when none is pending.",
            &one(float(self.queue_oldest_pending_seconds)),
        );
        family(
            "mmnotify_last_post_timestamp_seconds",
            "gauge",
            "Unix time of the last post, 0 before the first.",
            &one(float(self.last_post_timestamp_seconds)),
        );
        family(
            "mmnotify_redis_up",
            "gauge",
            "1 when the last Redis command succeeded.",
            &one(u8::from(self.redis_up).to_string()),
        );
        family(
            "mmnotify_rate_limited_seconds_total",
            "counter",
            "Time spent waiting for the rate budget or a 429 pause.",
            &one(float(self.rate_limited_seconds_total)),
        );
        family(
            "mmnotify_owner",
            "gauge",
            "1 while this gateway holds the --exclusive lease, else 0.",
            &one(u8::from(self.owner).to_string()),
        );
        out
    }
}

/// A sample value: never NaN, infinite or negative (none of ours can be), and without
/// an exponent.
fn float(v: f64) -> String {
    if v.is_finite() && v > 0.0 {
        format!("{v}")
    } else {
        "0".into()
    }
}

/// Replaces `path` with `text` atomically, mode 0644 (`node_exporter` runs as another
/// user). A final component that is a symlink is refused without following it: a
/// gateway must not be made to replace whatever file a link points at. A directory is
/// refused too.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let name = path.file_name().ok_or_else(|| {
        error::config(format!(
            "--metrics-file {}: not a file name",
            path.display()
        ))
    })?;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(error::config(format!(
                "--metrics-file {} is a symbolic link; give the real path (the link is not \
                 followed, so that the gateway never replaces the file it points at)",
                path.display()
            )));
        }
        Ok(m) if !m.is_file() => {
            return Err(error::config(format!(
                "--metrics-file {} exists and is not a regular file",
                path.display()
            )));
        }
        _ => {}
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        // A leftover of a crashed run of this pid, never anything else's: O_EXCL with
        // O_NOFOLLOW below, so a planted link or file there is an error, not a target.
        if std::fs::symlink_metadata(&tmp).is_ok_and(|m| m.is_file()) {
            std::fs::remove_file(&tmp)?;
        }
        let mut f: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        // The umask may have taken read bits away; the collector needs them.
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    // Exit 3: a missing or unwritable directory is the operator's to fix.
    result.map_err(|e| {
        error::config(format!(
            "cannot write --metrics-file {}: {e:#}",
            path.display()
        ))
    })?;
    // The rename is durable once the directory is; best effort (a crash loses at most
    // one snapshot, rewritten within 10 s).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitKind;

    #[test]
    fn the_text_has_the_fixed_names_and_labels() {
        let mut m = Metrics {
            queue_length: 12,
            queue_pending: 2,
            queue_oldest_pending_seconds: 3.25,
            last_post_timestamp_seconds: 1_796_000_000.5,
            redis_up: true,
            rate_limited_seconds_total: 0.0,
            owner: false,
            ..Metrics::default()
        };
        for o in ["posted", "posted", "dead", "failed", "failed", "failed"] {
            m.count(o);
        }
        assert_eq!(
            m.render(),
            "# HELP mmnotify_events_total Entries by final outcome; failed counts attempts that left the entry pending.
# TYPE mmnotify_events_total counter
mmnotify_events_total{outcome=\"posted\"} 2
mmnotify_events_total{outcome=\"duplicate\"} 0
mmnotify_events_total{outcome=\"filtered\"} 0
mmnotify_events_total{outcome=\"invalid\"} 0
mmnotify_events_total{outcome=\"rejected\"} 0
mmnotify_events_total{outcome=\"dead\"} 1
mmnotify_events_total{outcome=\"failed\"} 3
# HELP mmnotify_queue_length Entries in the stream (XLEN).
# TYPE mmnotify_queue_length gauge
mmnotify_queue_length 12
# HELP mmnotify_queue_pending Entries of the group delivered and not yet acknowledged.
# TYPE mmnotify_queue_pending gauge
mmnotify_queue_pending 2
# HELP mmnotify_queue_oldest_pending_seconds Age of the oldest pending entry, 0 when none is pending.
# TYPE mmnotify_queue_oldest_pending_seconds gauge
mmnotify_queue_oldest_pending_seconds 3.25
# HELP mmnotify_last_post_timestamp_seconds Unix time of the last post, 0 before the first.
# TYPE mmnotify_last_post_timestamp_seconds gauge
mmnotify_last_post_timestamp_seconds 1796000000.5
# HELP mmnotify_redis_up 1 when the last Redis command succeeded.
# TYPE mmnotify_redis_up gauge
mmnotify_redis_up 1
# HELP mmnotify_rate_limited_seconds_total Time spent waiting for the rate budget or a 429 pause.
# TYPE mmnotify_rate_limited_seconds_total counter
mmnotify_rate_limited_seconds_total 0
# HELP mmnotify_owner 1 while this gateway holds the --exclusive lease, else 0.
# TYPE mmnotify_owner gauge
mmnotify_owner 0
"
        );
        assert_eq!(float(f64::NAN), "0");
        assert_eq!(float(-1.0), "0");
        assert_eq!(float(f64::INFINITY), "0");
        assert_eq!(float(0.001), "0.001");
    }

    #[test]
    fn the_file_is_replaced_whole_with_mode_0644() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mmnotify.prom");
        write_atomic(&path, "a 1\n").unwrap();
        write_atomic(&path, "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        // Nothing else is left in the directory (the temp file was renamed).
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["mmnotify.prom"]);
        // A reader holding the old file keeps reading the old content: the file was
        // replaced, not rewritten in place.
        let mut old = File::open(&path).unwrap();
        write_atomic(&path, "a 3\n").unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut old, &mut s).unwrap();
        assert_eq!(s, "a 2\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 3\n");
        // A missing directory is the operator's to fix: exit 3, naming the path.
        let err = write_atomic(&dir.path().join("no/such/m.prom"), "a 1\n").unwrap_err();
        assert_eq!(error::exit_kind(&err), ExitKind::Config);
        assert!(format!("{err:#}").contains("no/such/m.prom"), "{err:#}");
    }

    #[test]
    fn a_symlink_at_the_path_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep\n").unwrap();
        let link = dir.path().join("mmnotify.prom");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = write_atomic(&link, "a 1\n").unwrap_err();
        assert_eq!(error::exit_kind(&err), ExitKind::Config);
        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        // A dangling link too: it would otherwise create its target.
        let dangling = dir.path().join("other.prom");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(write_atomic(&dangling, "a 1\n").is_err());
        assert!(!dir.path().join("nowhere").exists());
        // A link planted at the temp name is not followed either.
        let path = dir.path().join("m.prom");
        let tmp = dir
            .path()
            .join(format!(".m.prom.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&target, &tmp).unwrap();
        assert!(write_atomic(&path, "a 1\n").is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
        assert!(!path.exists());
        // A directory is refused.
        let err = write_atomic(dir.path(), "a 1\n").unwrap_err();
        assert_eq!(error::exit_kind(&err), ExitKind::Config);
    }
}
