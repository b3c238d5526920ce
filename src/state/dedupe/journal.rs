//! One log file of lines, read incrementally and appended to.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use anyhow::Context;

/// An append-only file of lines, read incrementally. No descriptor is kept: a process
/// may touch thousands of buckets.
#[derive(Debug)]
pub(super) struct Journal {
    path: PathBuf,
    /// The inode read so far; a compaction replaces the file with a new one.
    ino: Option<u64>,
    offset: u64,
    partial: Vec<u8>,
}

impl Journal {
    pub(super) fn new(path: PathBuf) -> Journal {
        Journal {
            path,
            ino: None,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Complete lines appended since the last call. `reset` is true when the file was
    /// replaced by a compaction (or removed): the caller starts its index over.
    pub(super) fn read_new(&mut self) -> anyhow::Result<(bool, Vec<String>)> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let reset = self.ino.take().is_some();
                self.offset = 0;
                self.partial.clear();
                return Ok((reset, Vec::new()));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.path.display()))
            }
        };
        let meta = file
            .metadata()
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let ino = meta.ino();
        let mut reset = false;
        if self.ino != Some(ino) {
            reset = self.ino.is_some();
            self.ino = Some(ino);
            self.offset = 0;
            self.partial.clear();
        }
        let len = meta.len();
        file.seek(SeekFrom::Start(self.offset))?;
        let mut fresh = Vec::with_capacity(
            usize::try_from(len.saturating_sub(self.offset)).map_or(0, |n| n.saturating_add(1)),
        );
        file.read_to_end(&mut fresh)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        self.offset += fresh.len() as u64;
        let mut data = std::mem::take(&mut self.partial);
        data.extend_from_slice(&fresh);
        let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let lines = data[..complete]
            .split(|b| *b == b'\n')
            .filter_map(|l| std::str::from_utf8(l).ok())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        self.partial = data[complete..].to_vec();
        Ok((reset, lines))
    }

    /// Callers hold the shared compaction lock, so the file opened is the current one.
    pub(super) fn append(&mut self, line: &str) -> anyhow::Result<()> {
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        // One write of a short line to an O_APPEND file lands whole.
        file.write_all(line.as_bytes())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use crate::state::dedupe::test_support::*;
    use crate::state::dedupe::*;
    use crate::text::time::now_ms;
    use std::fs;

    #[test]
    fn torn_and_foreign_lines_are_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let d = store(tmp.path(), DAY);
        let k = key(URL, "1", "failed");
        let now = now_ms();
        fs::write(
            bucket(&d, LOG, &k),
            format!("garbage\n{k} {now} {}\n{k} 12", now + 1000),
        )
        .unwrap();
        assert!(d.is_delivered(&k).unwrap());
        assert!(!d.is_delivered(&key(URL, "2", "failed")).unwrap());
    }
}
