//! `mmnotify flush`: re-deliver what the spool holds, oldest first, under a lock so two
//! flushes never post one item twice.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::cli::FlushArgs;
use crate::commands::notify;
use crate::commands::output::Printer;
use crate::error::{self, ExitKind};
use crate::secret::Sources;
use crate::state::dedupe::{Claim, Dedupe, DedupeKey};
use crate::state::spool::{Spool, SpoolEntry};
use crate::wire::deliver::Deliverer;

/// How long a delivered build key is remembered when flush checks it (build's default).
const DEDUPE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Default)]
struct Tally {
    posted: usize,
    duplicate: usize,
    rejected: usize,
    failed: usize,
    unresolved: usize,
    worst: Option<ExitKind>,
}

pub fn run(args: FlushArgs) -> Result<u8> {
    let printer = Printer::new(&args.output);
    let dir = notify::state_dir(args.state_dir.as_deref())?;
    let spool = Spool::open(&dir)?;
    // Another flush may be delivering right now; waiting for it beats racing it, and it
    // finishes within its own budget per item.
    let wait = args.delivery.timeout.max(Duration::from_secs(5));
    let Some(_lock) = spool.lock(wait)? else {
        printer.warn("another `mmnotify flush` holds the spool; it will deliver the items");
        return Ok(0);
    };
    let entries = spool.list()?;
    if entries.is_empty() {
        printer.info("the spool is empty");
        summary(&printer, &Tally::default());
        return Ok(0);
    }
    let sources = Sources {
        file: None,
        name: None,
        secrets_dir: args.secrets_dir.clone(),
        env_url: std::env::var("MATTERMOST_WEBHOOK_URL")
            .ok()
            .filter(|v| !v.trim().is_empty()),
    };
    let deliverer = Deliverer::new(&args.delivery)?;
    let dedupe = Dedupe::open(&dir, DEDUPE_TTL)?;
    let mut tally = Tally::default();
    for entry in &entries {
        if let Err(e) = flush_one(
            &spool, entry, &sources, &deliverer, &dedupe, &printer, &mut tally,
        ) {
            printer.warn(&format!("{}: {e:#}", entry.path.display()));
            tally.unresolved += 1;
        }
    }
    summary(&printer, &tally);
    match tally.worst {
        Some(kind) => Err(error::fail(
            kind,
            format!(
                "{} spooled message{} could not be delivered and stay in {}",
                tally.failed,
                if tally.failed == 1 { "" } else { "s" },
                spool.dir().display()
            ),
        )),
        // Items kept because their webhook cannot be resolved need the operator, not
        // time: say so with the configuration code rather than success.
        None if tally.unresolved > 0 => Err(error::config(format!(
            "{} spooled message{} stay in {} because their webhook cannot be resolved \
             (see the warnings above)",
            tally.unresolved,
            if tally.unresolved == 1 { "" } else { "s" },
            spool.dir().display()
        ))),
        None => Ok(0),
    }
}

fn flush_one(
    spool: &Spool,
    entry: &SpoolEntry,
    sources: &Sources,
    deliverer: &Deliverer,
    dedupe: &Dedupe,
    printer: &Printer,
    tally: &mut Tally,
) -> Result<()> {
    let name = entry
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let item = match &entry.item {
        Ok(item) => item,
        Err(why) => {
            let to = spool.reject(entry, &format!("unreadable spool item: {why}"))?;
            printer.warn(&format!(
                "{name} is unreadable ({why}); moved to {}",
                to.display()
            ));
            tally.rejected += 1;
            return Ok(());
        }
    };
    let (url, _source) = match sources.from_spool_ref(&item.source) {
        Ok(found) => found,
        Err(e) => {
            printer.warn(&format!(
                "{name}: its webhook ({}) cannot be resolved now, kept for later: {e:#}",
                item.source
            ));
            tally.unresolved += 1;
            return Ok(());
        }
    };
    let key = item.dedupe_key.as_deref().and_then(DedupeKey::from_hex);
    let claim = match &key {
        Some(k) => match dedupe.claim(k, deliverer.policy().budget)? {
            Claim::Duplicate => {
                spool.remove(entry)?;
                printer.info(&format!("{name}: already delivered meanwhile, removed"));
                tally.duplicate += 1;
                return Ok(());
            }
            Claim::Acquired(guard) => Some(guard),
        },
        None => None,
    };
    let body = serde_json::to_vec(&item.payload)?;
    let channel = item.payload.get("channel").and_then(|c| c.as_str());
    let d = deliverer.deliver(&url, &body, channel);
    match &d.result {
        Ok(()) => {
            if let Some(guard) = claim {
                guard.delivered()?;
            }
            spool.remove(entry)?;
            printer.info(&format!(
                "{name}: posted to {url} after {} attempt(s)",
                d.attempts
            ));
            tally.posted += 1;
        }
        Err(diag) if diag.retryable || diag.kind == ExitKind::Network => {
            let mut updated = item.clone();
            updated.attempts += d.attempts;
            updated.last_error = diag.message.clone();
            spool.update(entry, &updated)?;
            printer.warn(&format!(
                "{name}: {url}: {}; kept in the spool",
                diag.message
            ));
            tally.failed += 1;
            tally.worst = tally.worst.max(Some(diag.kind));
        }
        Err(diag) => {
            // The server gave a final answer (4xx, or a 500 that may have posted part of
            // it): retrying cannot help, and the reason must stay readable.
            let to = spool.reject(entry, &format!("{url}: {}", diag.message))?;
            printer.warn(&format!(
                "{name}: {url}: {}; moved to {}",
                diag.message,
                to.display()
            ));
            tally.rejected += 1;
        }
    }
    Ok(())
}

fn summary(printer: &Printer, t: &Tally) {
    printer.json_line(&json!({
        "status": "flushed",
        "posted": t.posted,
        "duplicate": t.duplicate,
        "rejected": t.rejected,
        "failed": t.failed,
        "unresolved": t.unresolved,
    }));
    if !printer.quiet {
        eprintln!(
            "mmnotify: flush: {} posted, {} duplicate, {} rejected, {} failed, {} unresolved",
            t.posted, t.duplicate, t.rejected, t.failed, t.unresolved
        );
    }
}
