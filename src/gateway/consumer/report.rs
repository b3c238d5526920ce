//! `--metrics-file`: the gateway's counters and the queue's state, written at start,
//! at most every [`EVERY`] while the gateway runs, and at exit (`gateway::metrics` renders
//! and replaces the file atomically).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use redis::streams::StreamPendingReply;

use super::Consumer;
use crate::gateway::metrics::{write_atomic, Metrics};
use crate::gateway::store::lock;
use crate::pipeline::build::Ctx;
use crate::pipeline::output::Status;
use crate::text::time::now_ms;

/// The contract: never more than 10 s stale while the gateway runs.
const EVERY: Duration = Duration::from_secs(5);

pub(super) struct Report {
    path: PathBuf,
    pub(super) metrics: Metrics,
    last: Option<Instant>,
    /// A write failed: warned once, until one succeeds again.
    failing: bool,
}

impl Report {
    pub(super) fn new(path: PathBuf) -> Report {
        Report {
            path,
            metrics: Metrics::default(),
            last: None,
            failing: false,
        }
    }

    /// The final outcome of an entry, as the outcome's status says.
    pub(super) fn count_final(&mut self, status: Status, failed: bool, dead: bool) {
        let name = match (status, failed, dead) {
            (_, _, true) => "dead",
            (_, true, false) => "rejected",
            (Status::Duplicate, ..) => "duplicate",
            (Status::Filtered, ..) => "filtered",
            _ => {
                self.metrics.last_post_timestamp_seconds = seconds(now_ms());
                "posted"
            }
        };
        self.metrics.count(name);
    }
}

impl Consumer<'_> {
    /// Writes the metrics file at start (a path that cannot be written is exit 3 then),
    /// then whenever [`EVERY`] has passed, and at exit (`force`).
    pub(super) fn report(&mut self, ctx: &Ctx, force: bool) -> Result<()> {
        let Some(report) = &self.report else {
            return Ok(());
        };
        let first = report.last.is_none();
        if !force && !first && report.last.is_some_and(|t| t.elapsed() < EVERY) {
            return Ok(());
        }
        let queue = self.queue_state();
        let report = self.report.as_mut().expect("checked above");
        let m = &mut report.metrics;
        m.redis_up = queue.is_some();
        if let Some((len, pending, oldest)) = queue {
            m.queue_length = len;
            m.queue_pending = pending;
            m.queue_oldest_pending_seconds = oldest;
        }
        m.rate_limited_seconds_total = ctx.rate_limited().as_secs_f64();
        report.last = Some(Instant::now());
        match write_atomic(&report.path, &m.render()) {
            Ok(()) => {
                report.failing = false;
                Ok(())
            }
            Err(e) if first => Err(e),
            Err(e) => {
                if !report.failing {
                    self.printer.warn(&format!("{e:#}"));
                }
                report.failing = true;
                Ok(())
            }
        }
    }

    /// `XLEN`, the group's pending count and the oldest pending entry's age (seconds,
    /// from its id's milliseconds); `None` when Redis does not answer.
    fn queue_state(&self) -> Option<(u64, u64, f64)> {
        let mut redis = lock(&self.redis);
        let len = redis
            .run("cannot read the stream", |con| {
                redis::cmd("XLEN").arg(&self.stream).query::<u64>(con)
            })
            .ok()?;
        let pending = redis
            .run("cannot read pending entries", |con| {
                redis::cmd("XPENDING")
                    .arg(&self.stream)
                    .arg(&self.group)
                    .query::<StreamPendingReply>(con)
            })
            .ok();
        let (count, oldest) = match pending {
            Some(StreamPendingReply::Data(d)) => {
                let at: u64 = d
                    .start_id
                    .split('-')
                    .next()
                    .and_then(|ms| ms.parse().ok())
                    .unwrap_or(0);
                let age = seconds(now_ms().saturating_sub(at));
                (u64::try_from(d.count).unwrap_or(u64::MAX), age)
            }
            // No group yet, or nothing pending.
            _ => (0, 0.0),
        };
        Some((len, count, oldest))
    }
}

/// Milliseconds as seconds: exact for any time a clock gives (below 2^53 ms).
#[allow(clippy::cast_precision_loss)]
fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}
