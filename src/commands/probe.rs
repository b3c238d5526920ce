//! `mmnotify probe`: one minimal post, no retries, and a line an operator can read at a
//! glance: status, latency, target.

use anyhow::Result;

use crate::cli::ProbeArgs;
use crate::pipeline::notify::Notifier;
use crate::pipeline::output::{print_stdout_line, Ending, Outcome, Printer};
use crate::secret::Sources;
use crate::state::statedir;
use crate::wire::deliver;
use crate::wire::payload::Payload;

pub(super) fn run(args: ProbeArgs) -> Result<Ending> {
    let printer = Printer::from(&args.common.output);
    let webhook = Sources::from(&args.common.webhook);
    let text = args
        .text
        .clone()
        .unwrap_or_else(|| format!("mmnotify probe from {}", statedir::hostname()));
    if text.trim().is_empty() {
        return Err(crate::error::input(
            "--text is empty: the server refuses a post without text",
        ));
    }
    let probe = Payload {
        text: text.into(),
        ..Payload::default()
    };
    let body = serde_json::to_vec(&probe)?;
    let notifier = Notifier::connect(
        &webhook,
        &deliver::Settings::from(&args.common.delivery),
        printer,
    )?;
    // A probe measures one attempt: a retry would hide the very failure being looked for.
    let d = notifier
        .deliverer
        .deliver_with(&notifier.url, &body, None, 0);
    let outcome = Outcome::from_delivery(&d, &notifier.url);
    if !printer.json {
        print_stdout_line(&format!(
            "{} {} in {} ms {}",
            if d.is_success() { "ok" } else { "failed" },
            d.http_status
                .map_or_else(|| "no HTTP answer".into(), |s| format!("HTTP {s}")),
            d.elapsed.as_millis(),
            notifier.url
        ));
    }
    let err = d
        .result
        .err()
        .map(|diag| crate::error::fail(diag.kind, format!("{}: {}", notifier.url, diag.message)));
    Ok(Ending::outcome(outcome, err))
}
