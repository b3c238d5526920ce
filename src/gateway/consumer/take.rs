//! Taking entries: new ones through `XREADGROUP`, and others' (or our own) entries idle
//! for `--claim-idle` through `XAUTOCLAIM`.

use std::time::{Duration, Instant};

use anyhow::Result;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};

use super::Consumer;
use crate::gateway::store::lock;
use crate::text::time::millis;

/// Entries taken per read or claim.
const BATCH: usize = 16;
/// Longest a read waits for new entries, so that a signal is noticed soon.
const BLOCK: Duration = Duration::from_millis(500);

impl Consumer<'_> {
    /// The next batch of entries idle for `--claim-idle`, walking the pending list with
    /// a cursor; a full walk is repeated at most every quarter of `--claim-idle`.
    pub(super) fn autoclaim(&mut self) -> Result<Vec<StreamId>> {
        let interval =
            (self.claim_idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let due = self.cursor != "0-0"
            || self.drain
            || self.last_scan.is_none_or(|t| t.elapsed() >= interval);
        if !due {
            return Ok(Vec::new());
        }
        let idle = millis(self.claim_idle);
        loop {
            let reply: StreamAutoClaimReply = self.run("cannot claim idle entries", |con| {
                redis::cmd("XAUTOCLAIM")
                    .arg(&self.stream)
                    .arg(&self.group)
                    .arg(&self.name)
                    .arg(idle)
                    .arg(&self.cursor)
                    .arg("COUNT")
                    .arg(BATCH)
                    .query(con)
            })?;
            self.cursor = reply.next_stream_id;
            if self.cursor == "0-0" {
                self.last_scan = Some(Instant::now());
            }
            if !reply.claimed.is_empty() || self.cursor == "0-0" {
                return Ok(reply.claimed);
            }
        }
    }

    /// How often an entry has been delivered, this delivery included.
    pub(super) fn deliveries(&self, id: &str) -> Result<usize> {
        let reply: StreamPendingCountReply = self.run("cannot read pending entries", |con| {
            redis::cmd("XPENDING")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(id)
                .arg(id)
                .arg(1)
                .query(con)
        })?;
        Ok(reply.ids.first().map_or(1, |p| p.times_delivered))
    }

    pub(super) fn read(&mut self) -> Result<Vec<StreamId>> {
        let block = !self.drain;
        let (stream, group, name) = (&self.stream, &self.group, &self.name);
        let reply: Option<StreamReadReply> =
            lock(&self.redis).run_blocking("cannot read the stream", BLOCK, |con| {
                let mut cmd = redis::cmd("XREADGROUP");
                cmd.arg("GROUP")
                    .arg(group)
                    .arg(name)
                    .arg("COUNT")
                    .arg(BATCH);
                if block {
                    cmd.arg("BLOCK").arg(millis(BLOCK));
                }
                cmd.arg("STREAMS").arg(stream).arg(">").query(con)
            })?;
        Ok(reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default())
    }
}
