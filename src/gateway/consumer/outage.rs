//! Redis going away and coming back while the gateway runs: one warning each way, a
//! growing pause between attempts, and the limit a `--drain` puts on the wait. What was
//! posted meanwhile waits in the store's backlog and the consumer's acknowledgement queue.

use std::fmt::Display;
use std::time::{Duration, Instant};

use crate::gateway::client::BACKOFF_MAX;
use crate::pipeline::output::Printer;

const FIRST_PAUSE: Duration = Duration::from_millis(50);

pub(super) struct Outage {
    since: Option<Instant>,
    pause: Duration,
}

impl Outage {
    pub(super) const fn none() -> Outage {
        Outage {
            since: None,
            pause: FIRST_PAUSE,
        }
    }

    /// Redis answered: says so if it had been away.
    pub(super) fn over(&mut self, printer: &Printer, url: &impl Display) {
        if let Some(since) = self.since.take() {
            printer.warn(&format!(
                "Redis at {url} answers again after {}; consuming",
                crate::text::time::format_duration(Duration::from_secs(since.elapsed().as_secs()))
            ));
        }
        self.pause = FIRST_PAUSE;
    }

    /// Redis has not answered since the last failure.
    pub(super) const fn is_on(&self) -> bool {
        self.since.is_some()
    }

    pub(super) fn outlasted(&self, limit: Duration) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= limit)
    }

    /// Warns at the first failure of an outage, then backs off before the next try.
    pub(super) fn wait(&mut self, printer: &Printer, e: &anyhow::Error) {
        if self.since.is_none() {
            printer.warn(&format!(
                "{e:#}; reconnecting with backoff (entries stay in the stream)"
            ));
            self.since = Some(Instant::now());
        }
        std::thread::sleep(self.pause);
        self.pause = (self.pause * 2).min(BACKOFF_MAX);
    }
}
