//! What a gateway says without `-v`, so that `journalctl -u mmnotify-gateway -f` shows it
//! at work: a start line, each takeover of an entry another gateway left, and the counts
//! every `--summary-every` (the exit summary adds the same counts). Outages are warned
//! about in `outage.rs`, dead letters and entries left pending in `settle.rs`.
//!
//! These lines are notices: like the warnings and the exit summary, `-q` silences them
//! (a dead letter is still reported). A line per post stays behind `-v`.

use std::time::{Duration, Instant};

use super::Consumer;
use crate::gateway::store::RedisStore;
use crate::gateway::url::RedisUrl;
use crate::pipeline::output::{print_stderr_line, Printer};

pub(super) struct Log {
    every: Duration,
    last: Instant,
    /// Deliveries that failed in a way a retry can cure and left their entry pending.
    pub(super) retried: usize,
}

impl Log {
    pub(super) fn new(every: Duration) -> Log {
        Log {
            every,
            last: Instant::now(),
            retried: 0,
        }
    }
}

pub(super) fn notice(printer: &Printer, msg: &str) {
    if !printer.quiet {
        print_stderr_line(&format!("mmnotify: {msg}"));
    }
}

impl Consumer<'_> {
    /// Where this gateway reads from and posts to; both URLs redacted.
    pub(super) fn log_start(&self, queue: &RedisUrl, webhook: &str) {
        let store = self
            .store
            .as_ref()
            .map_or_else(|| "none (--no-dedupe)".to_string(), RedisStore::describe);
        notice(
            self.printer,
            &format!(
                "gateway started: stream {} at {queue}, group {}, consumer {}, dedupe store \
                 {store}, posting to {webhook}",
                self.stream, self.group, self.name
            ),
        );
    }

    /// An entry came back through `XAUTOCLAIM`. Called before it is handled; one of our
    /// own failed entries coming back for its retry is no takeover.
    pub(super) fn log_takeover(&self, id: &str, deliveries: usize) {
        if self.failing.contains_key(id) {
            return;
        }
        notice(
            self.printer,
            &format!(
                "entry {id}: taken over after it was left unacknowledged for --claim-idle \
                 ({}) by another gateway (or an earlier run of this one); delivery {} of {}",
                crate::text::time::format_duration(self.claim_idle),
                deliveries,
                self.max_deliveries
            ),
        );
    }

    /// The counts so far, once `--summary-every` has passed since the last time.
    pub(super) fn summary_if_due(&mut self) {
        if self.log.last.elapsed() < self.log.every {
            return;
        }
        self.log.last = Instant::now();
        notice(self.printer, &format!("gateway so far: {}", self.counts()));
    }

    /// Every entry finished here is posted, duplicate, filtered or dead (a final failure
    /// always goes to the dead stream); `failed` counts the tries that left one pending.
    fn counts(&self) -> String {
        format!(
            "{} posted, {} duplicate, {} filtered, {} failed (left pending for a retry), {}; \
             {} pending here",
            self.sum.posted,
            self.sum.duplicate,
            self.sum.filtered,
            self.log.retried,
            self.dead_count(),
            self.failing.len()
        )
    }

    /// `N dead (moved to STREAM)`, for the periodic and the exit summary.
    pub(super) fn dead_count(&self) -> String {
        format!(
            "{} dead (moved to {})",
            self.sum.failed + self.sum.invalid,
            self.dead_stream
        )
    }
}
