//! The group's upkeep: creating it (and checking the dead-letter key) before the first
//! entry, removing consumers long gone, trimming finished entries, and counting what
//! other gateways still hold.

use std::time::{Duration, Instant};

use anyhow::Result;
use redis::streams::{StreamInfoConsumersReply, StreamInfoGroupsReply, StreamPendingReply};

use super::Consumer;
use crate::error;

/// Consumers idle this long with nothing pending are removed at start.
const STALE_CONSUMER: Duration = Duration::from_secs(86_400);
/// How often finished entries are trimmed from the stream.
const TRIM_EVERY: Duration = Duration::from_secs(10);

impl Consumer<'_> {
    /// Creates the group at the stream's start (so events enqueued before the first
    /// gateway count) and removes consumers that died long ago with nothing pending.
    pub(super) fn set_up(&mut self) -> Result<()> {
        self.check_dead_stream()?;
        let created = self.run("cannot create the consumer group", |con| {
            redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&self.stream)
                .arg(&self.group)
                .arg("0")
                .arg("MKSTREAM")
                .query::<()>(con)
        });
        if let Err(e) = created {
            if !format!("{e:#}").contains("BUSYGROUP") {
                return Err(e);
            }
        }
        self.register();
        self.remove_stale_consumers()?;
        self.set_up = true;
        Ok(())
    }

    /// Joins the group at once, so that `doctor` lists every running gateway: Redis
    /// before 7.2 adds a consumer only once it is given an entry. Best effort: a Redis
    /// older than 6.2 lacks the command, and then the gateway shows up with its first
    /// entry, as it did before.
    fn register(&self) {
        let _ = self.run("cannot join the consumer group", |con| {
            redis::cmd("XGROUP")
                .arg("CREATECONSUMER")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(&self.name)
                .query::<i64>(con)
        });
    }

    /// Checked before any entry is taken: with a dead-letter key of another type the
    /// acknowledgement would go through while its dead-letter copy failed.
    fn check_dead_stream(&self) -> Result<()> {
        let kind: String = self.run("cannot check the dead-letter stream", |con| {
            redis::cmd("TYPE").arg(&self.dead_stream).query(con)
        })?;
        if kind != "stream" && kind != "none" {
            return Err(error::config(format!(
                "the dead-letter key {} holds a {kind}, not a stream; rename or delete it \
                 (redis-cli DEL {}) or use another --stream",
                self.dead_stream, self.dead_stream
            )));
        }
        Ok(())
    }

    fn remove_stale_consumers(&self) -> Result<()> {
        let consumers: StreamInfoConsumersReply =
            self.run("cannot list the group's consumers", |con| {
                redis::cmd("XINFO")
                    .arg("CONSUMERS")
                    .arg(&self.stream)
                    .arg(&self.group)
                    .query(con)
            })?;
        for c in consumers.consumers {
            if is_stale(c.pending, c.idle, &c.name, &self.name) {
                self.run("cannot remove a stale consumer", |con| {
                    redis::cmd("XGROUP")
                        .arg("DELCONSUMER")
                        .arg(&self.stream)
                        .arg(&self.group)
                        .arg(&c.name)
                        .query::<i64>(con)
                })?;
                self.printer.info(&format!(
                    "removed consumer {} (idle for more than a day, nothing pending)",
                    c.name
                ));
            }
        }
        Ok(())
    }

    /// Trims when `TRIM_EVERY` has passed since the last trim.
    pub(super) fn trim_if_due(&mut self) -> Result<()> {
        if self.last_trim.elapsed() >= TRIM_EVERY {
            self.trim()?;
        }
        Ok(())
    }

    /// Removes entries every group of the stream has finished: everything before the
    /// oldest entry one of them still needs (its oldest pending entry, or its first
    /// undelivered one). Other groups (another team's gateways, with their own webhook)
    /// read the same stream: trimming by our group alone would take their entries away
    /// before they were read.
    pub(super) fn trim(&mut self) -> Result<()> {
        self.last_trim = Instant::now();
        let groups: StreamInfoGroupsReply = self.run("cannot read the stream's groups", |con| {
            redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(&self.stream)
                .query(con)
        })?;
        let mut needed = Vec::with_capacity(groups.groups.len());
        for group in &groups.groups {
            let oldest_pending = if group.pending > 0 {
                let pending: StreamPendingReply =
                    self.run("cannot read pending entries", |con| {
                        redis::cmd("XPENDING")
                            .arg(&self.stream)
                            .arg(&group.name)
                            .query(con)
                    })?;
                match pending {
                    StreamPendingReply::Data(d) if d.count > 0 => Some(d.start_id),
                    _ => None,
                }
            } else {
                None
            };
            needed.push(oldest_pending.or_else(|| next_id(&group.last_delivered_id)));
        }
        let Some(min_id) = trim_point(&needed) else {
            return Ok(());
        };
        self.run("cannot trim the stream", |con| {
            redis::cmd("XTRIM")
                .arg(&self.stream)
                .arg("MINID")
                .arg(&min_id)
                .query::<i64>(con)
        })?;
        Ok(())
    }

    pub(super) fn pending_elsewhere(&self) -> Result<usize> {
        let pending: StreamPendingReply = self.run("cannot read pending entries", |con| {
            redis::cmd("XPENDING")
                .arg(&self.stream)
                .arg(&self.group)
                .query(con)
        })?;
        Ok(match pending {
            StreamPendingReply::Data(d) => d
                .consumers
                .iter()
                .filter(|c| c.name != self.name)
                .map(|c| c.pending)
                .sum(),
            _ => 0,
        })
    }
}

/// A consumer that holds nothing and has not been heard of for a day is a gateway that
/// is gone (each process names itself HOST-PID by default, so they pile up otherwise).
fn is_stale(pending: usize, idle_ms: usize, name: &str, me: &str) -> bool {
    pending == 0 && idle_ms as u128 > STALE_CONSUMER.as_millis() && name != me
}

/// Where to trim: the oldest of the ids each group still needs, or None when a group
/// needs everything (it has read nothing yet: `None` in `needed`) or there is no group.
fn trim_point(needed: &[Option<String>]) -> Option<String> {
    let mut min: Option<((u64, u64), &String)> = None;
    for id in needed {
        let id = id.as_ref()?;
        let parsed = parse_id(id)?;
        if min.is_none_or(|(m, _)| parsed < m) {
            min = Some((parsed, id));
        }
    }
    min.map(|(_, id)| id.clone())
}

fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// The stream id right after `id` (`ms-seq` → `ms-(seq+1)`), or None for `0-0`.
fn next_id(id: &str) -> Option<String> {
    let (ms, seq) = parse_id(id)?;
    if ms == 0 && seq == 0 {
        return None;
    }
    // The largest id (a stream anyone can XADD to may hold it) has none after it: no
    // trim then, rather than an overflow.
    Some(match seq.checked_add(1) {
        Some(s) => format!("{ms}-{s}"),
        None => format!("{}-0", ms.checked_add(1)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idle_consumers_without_pending_entries_are_stale() {
        let day = 86_400_000;
        assert!(is_stale(0, day + 1, "gw-old", "gw-me"));
        assert!(!is_stale(1, day + 1, "gw-old", "gw-me"));
        assert!(!is_stale(0, day - 1, "gw-old", "gw-me"));
        assert!(!is_stale(0, day + 1, "gw-me", "gw-me"));
    }

    #[test]
    fn the_trim_point_is_the_oldest_id_any_group_still_needs() {
        let ids = |v: &[Option<&str>]| v.iter().map(|i| i.map(str::to_string)).collect::<Vec<_>>();
        // Compared as numbers, not as text ("9-0" is older than "10-0").
        assert_eq!(
            trim_point(&ids(&[Some("10-0"), Some("9-5"), Some("9-12")])).as_deref(),
            Some("9-5")
        );
        assert_eq!(
            trim_point(&ids(&[Some("9-2"), Some("9-10")])).as_deref(),
            Some("9-2")
        );
        // A group that has read nothing needs every entry; no group, nothing to say.
        assert_eq!(trim_point(&ids(&[Some("10-0"), None])), None);
        assert_eq!(trim_point(&[]), None);
    }

    #[test]
    fn next_ids() {
        assert_eq!(next_id("0-0"), None);
        assert_eq!(next_id("17-3").as_deref(), Some("17-4"));
        assert_eq!(next_id("bad"), None);
        assert_eq!(
            next_id("18446744073709551615-18446744073709551615"),
            None,
            "the largest id has none after it"
        );
    }
}
