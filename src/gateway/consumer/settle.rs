//! Settling an entry once handled: acknowledged when its outcome is final (with a copy on
//! the dead-letter stream when it was not posted), left pending when a retry can cure it.
//! Acknowledgements queue up while Redis is away and are written, oldest first, when it
//! answers again.

use anyhow::Result;
use redis::streams::StreamId;

use super::{entry, Consumer};
use crate::error::{self, ExitKind};
use crate::gateway::store::lock;
use crate::pipeline::build::{self, Ctx, Verdict};
use crate::pipeline::output::{print_stderr_line, Outcome};
use crate::pipeline::routes;

/// An acknowledgement (and dead-letter copy) not yet written to Redis. Not a result of
/// handling the entry (that is the pipeline's `Verdict`): what is still owed to the
/// stream once the entry was settled, queued while Redis is away.
pub(super) struct PendingAck {
    id: String,
    dead: Option<Dead>,
}

struct Dead {
    event: String,
    reason: String,
    deliveries: usize,
}

/// The entry in hand: its id, the text a dead-letter copy keeps, and how often it has
/// been delivered, this delivery included.
struct Taken {
    id: String,
    original: String,
    deliveries: usize,
}

impl Taken {
    fn dead(&self, reason: String) -> Dead {
        Dead {
            // Kept for an operator to read: a webhook URL (or this gateway's token) in it
            // would reach everyone who can read the stream, and Redis's disk.
            event: crate::secret::scrub_secrets_json(&self.original).into_owned(),
            reason,
            deliveries: self.deliveries,
        }
    }
}

impl Consumer<'_> {
    /// Handles one entry as one line of `--events`, then acknowledges it when its
    /// outcome is final.
    pub(super) fn process(
        &mut self,
        ctx: &mut Ctx,
        entry: StreamId,
        deliveries: usize,
    ) -> Result<()> {
        let (text, original) = entry::decode(&entry);
        // Only a delivery another may follow fails a posted event for a step a retry can
        // finish (the breaking post's "fixed" mark): on the last one it is a warning, or
        // the posted event would be dead-lettered as not posted and its run left out of
        // the job's history (its next success a second "fixed").
        ctx.redelivers = deliveries < self.max_deliveries;
        let verdict = match text {
            Ok(t) => build::handle_text(ctx, &self.flags, &t)?,
            Err(why) => Verdict::Invalid(why),
        };
        let taken = Taken {
            id: entry.id,
            original,
            deliveries,
        };
        match verdict {
            Verdict::Invalid(why) => {
                self.settle_invalid(ctx, taken, why);
                Ok(())
            }
            Verdict::Done((outcome, err)) => self.settle_done(ctx, taken, outcome, err),
        }
    }

    fn settle_invalid(&mut self, ctx: &Ctx, taken: Taken, why: String) {
        let id = &taken.id;
        print_stderr_line(&format!(
            "mmnotify: entry {id}: invalid event, moved to {}: {why}",
            self.dead_stream
        ));
        self.sum.record_invalid();
        if let Some(r) = &mut self.report {
            r.metrics.count("invalid");
        }
        ctx.printer
            .outcome(&Outcome::failure(&why, ExitKind::Input.code()).with("entry_id", id.as_str()));
        self.failing.remove(id);
        let dead = taken.dead(why);
        self.finish_entry(taken.id, Some(dead));
    }

    fn settle_done(
        &mut self,
        ctx: &Ctx,
        taken: Taken,
        outcome: Outcome,
        err: Option<anyhow::Error>,
    ) -> Result<()> {
        let (id, deliveries) = (&taken.id, taken.deliveries);
        // A route whose webhook cannot be resolved waits too: the file may be back at
        // the next delivery, and the other routes are deduplicated, so they are not
        // posted twice. Without a dedupe store (`--no-dedupe`) every delivery would post
        // to the other routes again (up to --max-deliveries times), so it does not wait.
        let retry = err.as_ref().is_some_and(|e| {
            crate::wire::retry::curable(error::exit_kind(e), outcome.http_status)
                || (routes::is_unresolved_route(e) && self.store.is_some())
        });
        if retry && deliveries < self.max_deliveries {
            let e = err.expect("retry implies an error");
            if !lock(&self.redis).is_connected() {
                // Redis itself went away (the dedupe store is on it): one outage
                // warning from the loop, not one line per entry of the batch.
                return Err(e);
            }
            print_stderr_line(&format!(
                "mmnotify: entry {id}: {e:#}; left pending, to be retried once idle \
                 for --claim-idle ({} of {} deliveries)",
                deliveries, self.max_deliveries
            ));
            self.failing.insert(taken.id, error::exit_kind(&e));
            self.log.retried += 1;
            if let Some(r) = &mut self.report {
                r.metrics.count("failed");
            }
            return Ok(());
        }
        self.sum.record(&outcome, err.as_ref());
        if let Some(r) = &mut self.report {
            r.count_final(outcome.status, err.is_some(), retry);
        }
        self.failing.remove(id);
        let dead = err.as_ref().map(|e| {
            let reason = if retry {
                format!("not posted after {deliveries} deliveries (--max-deliveries): {e:#}")
            } else {
                format!("{e:#}")
            };
            print_stderr_line(&format!(
                "mmnotify: entry {id}: {reason}; moved to {}",
                self.dead_stream
            ));
            taken.dead(reason)
        });
        let mut outcome = outcome.with("entry_id", id.as_str());
        outcome.exit_code = Some(err.as_ref().map_or(0, |e| error::exit_kind(e).code()));
        if let Some(e) = &err {
            outcome.message.get_or_insert(format!("{e:#}"));
        }
        ctx.printer.outcome(&outcome);
        self.finish_entry(taken.id, dead);
        Ok(())
    }

    fn finish_entry(&mut self, id: String, dead: Option<Dead>) {
        self.acks.push(PendingAck { id, dead });
        // A failure leaves it queued; the loop notices the outage on its next step.
        let _ = self.write_acks();
    }

    /// Writes queued acknowledgements (and dead-letter copies), oldest first, each
    /// atomically with its copy.
    pub(super) fn write_acks(&mut self) -> Result<()> {
        while let Some(f) = self.acks.first_mut() {
            let (stream, group, dead_stream) = (&self.stream, &self.group, &self.dead_stream);
            let mut redis = lock(&self.redis);
            redis.run("cannot acknowledge the entry", |con| {
                let mut p = redis::pipe();
                p.atomic();
                if let Some(d) = &f.dead {
                    p.cmd("XADD")
                        .arg(dead_stream)
                        .arg("*")
                        .arg("event")
                        .arg(&d.event)
                        .arg("reason")
                        .arg(one_line(&d.reason))
                        .arg("source_id")
                        .arg(&f.id)
                        .arg("deliveries")
                        .arg(d.deliveries)
                        .ignore();
                }
                p.cmd("XACK").arg(stream).arg(group).arg(&f.id).ignore();
                p.query::<()>(con)
            })?;
            // Written: a retry after an unconfirmed WAIT repeats only the XACK (the
            // dead-letter copy is not added twice).
            f.dead = None;
            // An acknowledgement a failover could lose would hand the entry out again.
            redis.confirm()?;
            drop(redis);
            self.acks.remove(0);
        }
        Ok(())
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_one_line() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
