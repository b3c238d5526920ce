//! The record of a run's post (issue 18): which post a bot made for a run, and how far the
//! run has come, kept in the dedupe store under a key of the run so that every process
//! (and every gateway sharing the store) patches the same post. One line:
//! `<post id> <rank>`, then optional `root=<id>` (the run's post is a reply in that
//! thread), `run=<hex>` and `since=<ms>` (a job's record of the post that broke it: a
//! digest of the breaking run's key, and when the failure streak began); the id `?` means
//! a create's answer was lost (the next process looks for the post in the channel before
//! it creates one). The same record, under a key of the job, names the post that broke a
//! job (its thread holds the job's next runs while it stays broken).

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use crate::state::dedupe::{Dedupe, DedupeKey};
use crate::state::statedir;

/// Which post a run has, and the furthest state it was patched to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RunPost {
    /// A 26-character Mattermost id, or `None` when a create's answer was lost.
    pub post_id: Option<String>,
    /// 1 running, 2 terminal: a post never moves back. (A job's record: 1 while the job
    /// is broken, 2 once the breaking post says it was fixed.)
    pub rank: u8,
    /// The thread the run's post is a reply in (a run of a broken job), as an id.
    pub root_id: Option<String>,
    /// A job's record: the digest (64 hex) of the breaking run's key.
    pub run: Option<String>,
    /// A job's record: when its failure streak began (Unix ms).
    pub since_ms: Option<u64>,
}

fn is_id(id: &str) -> bool {
    id.len() == 26
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl RunPost {
    /// A record of `post_id` at `rank`, with nothing else.
    pub(crate) fn at(post_id: Option<&str>, rank: u8) -> RunPost {
        RunPost {
            post_id: post_id.map(str::to_string),
            rank,
            ..RunPost::default()
        }
    }

    pub(crate) fn to_line(&self) -> String {
        let mut line = format!("{} {}", self.post_id.as_deref().unwrap_or("?"), self.rank);
        if let Some(root) = &self.root_id {
            line.push_str(&format!(" root={root}"));
        }
        if let Some(run) = &self.run {
            line.push_str(&format!(" run={run}"));
        }
        if let Some(since) = self.since_ms {
            line.push_str(&format!(" since={since}"));
        }
        line
    }

    /// Reads a stored line. Anything that is not an id (a forged or damaged record) reads
    /// as "lost": the post is looked for again, never requested by that text. A field
    /// that does not read as its kind is left out.
    pub(crate) fn from_line(line: &str) -> Option<RunPost> {
        let mut parts = line.split_whitespace();
        let id = parts.next()?;
        let rank = parts.next()?.parse::<u8>().ok().filter(|r| *r <= 2)?;
        let mut post = RunPost::at(is_id(id).then_some(id), rank);
        for part in parts {
            match part.split_once('=') {
                Some(("root", v)) if is_id(v) => post.root_id = Some(v.to_string()),
                Some(("run", v))
                    if v.len() == 64
                        && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
                {
                    post.run = Some(v.to_string());
                }
                Some(("since", v)) => post.since_ms = v.parse().ok(),
                _ => {}
            }
        }
        Some(post)
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
            return Ok(Some(RunPost::default()));
        }
        let mut text = String::new();
        file.take(256).read_to_string(&mut text)?;
        Ok(Some(RunPost::from_line(&text).unwrap_or_default()))
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
        let p = RunPost::at(Some("pq3wxk8bmjsyr9cn5ue7tdo1ha"), 2);
        assert_eq!(RunPost::from_line(&p.to_line()), Some(p.clone()));
        let job = RunPost {
            root_id: Some("zq3wxk8bmjsyr9cn5ue7tdo1ha".into()),
            run: Some("ab".repeat(32)),
            since_ms: Some(1_700_000_000_000),
            ..p
        };
        assert_eq!(RunPost::from_line(&job.to_line()), Some(job));
        // Forged fields are left out, never passed on.
        let forged =
            RunPost::from_line("pq3wxk8bmjsyr9cn5ue7tdo1ha 1 root=../x run=zz since=x").unwrap();
        assert_eq!(forged, RunPost::at(Some("pq3wxk8bmjsyr9cn5ue7tdo1ha"), 1));
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
