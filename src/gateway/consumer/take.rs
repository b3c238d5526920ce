//! Taking entries: new ones through `XREADGROUP`, and others' (or our own) entries idle
//! for `--claim-idle` through `XAUTOCLAIM`, one at a time; and handing back, at a stop,
//! what is still pending under our name.

use std::time::{Duration, Instant};

use anyhow::Result;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};

use super::owner::Owner;
use super::Consumer;
use crate::gateway::store::lock;
use crate::text::time::millis;

/// Entries taken per read or claim: one, so that a stop leaves no entry read but not
/// started under this gateway's name, where others could take it only after
/// `--claim-idle`. A round trip per entry is little next to the post itself.
const BATCH: usize = 1;
/// At most this many entries are handed back at a stop (with one entry taken at a time,
/// only those left pending by failures can be under our name).
const HAND_BACK_MAX: usize = 10_000;
/// Longest a read waits for new entries, so that a signal is noticed soon.
const BLOCK: Duration = Duration::from_millis(500);

impl Consumer<'_> {
    /// The next batch of entries idle for `--claim-idle`, walking the pending list with
    /// a cursor; a full walk is repeated at most every quarter of `--claim-idle`.
    pub(super) fn autoclaim(&mut self) -> Result<Vec<StreamId>> {
        let interval =
            (self.claim_idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let due = self.cursor != "0-0"
            || self.scans == super::Scans::BackToBack
            || self.last_scan.is_none_or(|t| t.elapsed() >= interval);
        if !due {
            return Ok(Vec::new());
        }
        // Under --exclusive only the holder consumes: an entry pending elsewhere for longer
        // than the lease was taken by a holder that lost it (dead, or frozen while a
        // blocking read was answered for it), so the holder takes it after the lease, not
        // after --claim-idle. A woken old holder finds it delivered (dedupe) or claimed.
        let idle_for = match self.owner.as_ref().and_then(Owner::held_lease) {
            Some(lease) => self.claim_idle.min(lease),
            None => self.claim_idle,
        };
        let idle = millis(idle_for);
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

impl Consumer<'_> {
    /// At a stop: the entries still pending under this gateway's name (left pending by a
    /// failure a retry can cure, or read as the stop came) are handed back to the group,
    /// made idle since the epoch so that any gateway claims them at once instead of after
    /// `--claim-idle`. Their delivery counts stay as they are (`JUSTID`). Returns how many.
    pub(super) fn hand_back(&self) -> Result<usize> {
        let mine: StreamPendingCountReply = self.run("cannot read pending entries", |con| {
            redis::cmd("XPENDING")
                .arg(&self.stream)
                .arg(&self.group)
                .arg("-")
                .arg("+")
                .arg(HAND_BACK_MAX)
                .arg(&self.name)
                .query(con)
        })?;
        if mine.ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = mine.ids.iter().map(|p| p.id.as_str()).collect();
        self.run("cannot hand pending entries back", |con| {
            redis::cmd("XCLAIM")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(&self.name)
                .arg(0)
                .arg(&ids)
                // TIME 1: delivered at the epoch, so idle for longer than any --claim-idle.
                .arg("TIME")
                .arg(1)
                .arg("JUSTID")
                .query::<redis::Value>(con)
        })?;
        Ok(ids.len())
    }
}
