//! `mmnotify run -- CMD`: run a job, then report how it went. The job's exit code is what
//! the caller sees; the notifier only speaks up on stderr unless `--strict`.

use anyhow::Result;
use serde_json::Value;

use crate::cli::{RunArgs, RunOutcome};
use crate::commands::notify::{Notifier, SpoolPlan};
use crate::commands::output::{Outcome, Printer};
use crate::task::task_report::{self, ReportInput};
use crate::task::{self, TaskSpec};
use crate::{state::statedir, wire::payload};

/// Bytes of output kept for the report: the post holds 16383 characters, and the tail
/// shares it with the headline and the details.
const TAIL_BYTES: usize = 12 * 1024;

pub fn run(args: RunArgs) -> Result<u8> {
    let printer = Printer::new(&args.output);
    // Resolve the webhook before the job starts, so a broken set-up is reported at once,
    // but run the job either way: a notifier problem must not cost the job itself.
    let notifier = if args.dry_run {
        None
    } else {
        Some(Notifier::connect(&args.webhook, &args.delivery, printer))
    };
    if let Some(Err(e)) = &notifier {
        printer.warn(&format!("the report will not be posted: {e:#}"));
    }

    let (program, rest) = args
        .command
        .split_first()
        .expect("clap requires at least one CMD word");
    let spec = TaskSpec {
        program: program.clone(),
        args: rest.to_vec(),
        max_runtime: args.max_runtime,
        kill_grace: args.kill_grace,
        tail_lines: args.tail,
        tail_bytes: TAIL_BYTES,
    };
    let result = task::run(&spec);
    let child_code = u8::try_from(result.exit_code.clamp(0, 255)).unwrap_or(1);

    let kind = match result.outcome {
        task::Outcome::Success => RunOutcome::Success,
        task::Outcome::Failure { .. } => RunOutcome::Failure,
        task::Outcome::Timeout => RunOutcome::Timeout,
    };
    if !args.on.contains(&kind) {
        printer.info(&format!(
            "outcome {} is not in --on: no report",
            result.outcome.as_str()
        ));
        printer.outcome(&Outcome::new("filtered").with("exit_code", child_code));
        return Ok(child_code);
    }

    let command_line = shell_words(&args.command);
    let host = statedir::hostname();
    let report = task_report::render(&ReportInput {
        name: args.name.as_deref().unwrap_or(&command_line),
        result: &result,
        host: &host,
        log_url: args.log_url.as_deref(),
        command_line: &command_line,
    });
    let Value::Object(mut obj) = report else {
        return Err(anyhow::anyhow!("the task report is not a JSON object"));
    };
    payload::apply_route(&mut obj, &args.route);
    payload::ensure_fallbacks(&mut obj);
    let body = match payload::validate(&obj, 300_000) {
        Ok(body) => body,
        Err(e) if args.strict => return Err(e),
        Err(e) => {
            not_posted(&e);
            return Ok(child_code);
        }
    };
    let value = Value::Object(obj);
    if args.dry_run {
        printer.dry_run(
            &value,
            Outcome::new("dry-run").with("exit_code", child_code),
        );
        return Ok(child_code);
    }
    let notifier = match notifier {
        Some(Ok(n)) => n,
        Some(Err(e)) if args.strict => return Err(e),
        _ => return Ok(child_code),
    };
    let (outcome, err) = notifier.post(
        &value,
        &body,
        args.route.channel.as_deref(),
        &SpoolPlan::from_args(&args.state, "run"),
        None,
    );
    printer.outcome(&outcome.with("exit_code", child_code));
    match err {
        Some(e) if args.strict => Err(e),
        Some(e) => {
            not_posted(&e);
            Ok(child_code)
        }
        None => Ok(child_code),
    }
}

/// A failed report is a diagnostic even under `-q`: the job's exit code hides it.
fn not_posted(e: &anyhow::Error) {
    eprintln!("mmnotify: warning: the report was not posted: {e:#}");
}

/// The command line as a person would type it, for the default task name.
fn shell_words(words: &[std::ffi::OsString]) -> String {
    words
        .iter()
        .map(|w| {
            let w = w.to_string_lossy();
            let plain = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
            if plain {
                w.into_owned()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_quoted_like_a_shell() {
        let words: Vec<std::ffi::OsString> = ["make", "test", "a b", "it's", ""]
            .iter()
            .map(Into::into)
            .collect();
        assert_eq!(shell_words(&words), r"make test 'a b' 'it'\''s' ''");
    }
}
