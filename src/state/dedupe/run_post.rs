//! The record of a run's post (issue 18): which post a bot made for a run, and how far the
//! run has come, kept in the dedupe store under a key of the run so that every process
//! (and every gateway sharing the store) patches the same post. One line:
//! `<post id> <rank>`; the id `?` means a create's answer was lost (the next process
//! looks for the post in the channel before it creates one).

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use crate::state::dedupe::{Dedupe, DedupeKey};
use crate::state::statedir;

/// Which post a run has, and the furthest state it was patched to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunPost {
    /// A 26-character Mattermost id, or `None` when a create's answer was lost.
    pub post_id: Option<String>,
    /// 1 running, 2 terminal: a post never moves back.
    pub rank: u8,
}

impl RunPost {
    pub(crate) fn to_line(&self) -> String {
        format!("{} {}", self.post_id.as_deref().unwrap_or("?"), self.rank)
    }

    /// Reads a stored line. Anything that is not an id (a forged or damaged record) reads
    /// as "lost": the post is looked for again, never requested by that text.
    pub(crate) fn from_line(line: &str) -> Option<RunPost> {
        let (id, rank) = line.trim().split_once(' ')?;
        let rank = rank.parse::<u8>().ok().filter(|r| *r <= 2)?;
        let is_id = id.len() == 26
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        Some(RunPost {
            post_id: is_id.then(|| id.to_string()),
            rank,
        })
    }
}

const RUNS_DIR: &str = "runs";

impl Dedupe {
    /// `STATE_DIR/dedupe/runs/<key>`: one small file per run, written atomically.
    pub(super) fn read_run_post(&self, key: &DedupeKey) -> anyhow::Result<Option<RunPost>> {
        let path = self.inner.dir.join(RUNS_DIR).join(key.as_str());
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        };
        // Only our own regular files count (the state directory's trust rules).
        let meta = file.metadata()?;
        if !meta.is_file() || meta.uid() != crate::secret::current_uid() {
            return Ok(Some(RunPost {
                post_id: None,
                rank: 0,
            }));
        }
        let mut text = String::new();
        file.take(256).read_to_string(&mut text)?;
        Ok(Some(RunPost::from_line(&text).unwrap_or(RunPost {
            post_id: None,
            rank: 0,
        })))
    }

    pub(super) fn write_run_post(&self, key: &DedupeKey, post: &RunPost) -> anyhow::Result<()> {
        let dir = self.inner.dir.join(RUNS_DIR);
        statedir::ensure_private_dir(&dir)?;
        let tmp = dir.join(format!(".{}.{}", key.as_str(), std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(format!("{}\n", post.to_line()).as_bytes())?;
        drop(f);
        std::fs::rename(&tmp, dir.join(key.as_str()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_forged_ids_read_as_lost() {
        let p = RunPost {
            post_id: Some("pq3wxk8bmjsyr9cn5ue7tdo1ha".into()),
            rank: 2,
        };
        assert_eq!(RunPost::from_line(&p.to_line()), Some(p));
        for forged in ["../users/me 1", "PQ3WXK8BMJSYR9CN5UE7TDO1HA 1", "? 1"] {
            assert_eq!(
                RunPost::from_line(forged).unwrap().post_id,
                None,
                "{forged}"
            );
        }
        assert_eq!(RunPost::from_line("x 9"), None);
    }
}
