//! `mmnotify run -- CMD`: run a job, then report how it went. The job's exit code is what
//! the caller sees; the notifier only speaks up on stderr unless `--strict`.

use std::sync::Arc;

use anyhow::Result;
use serde_json::{Map, Value};

use crate::cli::{RunArgs, RunOutcome};
use crate::commands::config;
use crate::commands::relay::Relay;
use crate::error::{self, ExitKind};
use crate::pipeline::dry_run;
use crate::pipeline::notify::Notifier;
use crate::pipeline::output::{print_stderr_line, Ending, Outcome, Printer, Status};
use crate::secret::{scrub_hook_ids, Sources, WebhookUrl, SECRET_ENV_VARS};
use crate::state::spool::SpoolKind;
use crate::state::statedir;
use crate::task::socket::{self, RunSocket};
use crate::task::tail::CUT_MARKER;
use crate::task::task_report::{self, ReportInput};
use crate::task::{self, TaskSpec};
use crate::wire::deliver;
use crate::wire::payload::{self, Attachment, Member, Payload, Route, MACHINE_PROPS_KEY};

/// The job as `task::run` takes it: the command, its limits, and an environment
/// without mmnotify's secrets.
fn task_spec(args: &RunArgs) -> TaskSpec {
    let (program, rest) = args
        .command
        .split_first()
        .expect("clap requires at least one CMD word");
    let mut spec = TaskSpec {
        program: program.clone(),
        args: rest.to_vec(),
        max_runtime: args.max_runtime,
        kill_grace: args.kill_grace,
        tail_lines: args.tail,
        tail_bytes: TAIL_BYTES,
        env_remove: SECRET_ENV_VARS.iter().map(Into::into).collect(),
        env_set: Vec::new(),
        say: print_stderr_line,
    };
    // Always dropped first: with --no-run-socket (or no socket) the job must not reach
    // an outer `run` either.
    spec.env_remove.push(socket::ENV_VAR.into());
    spec
}

/// Bytes of output kept for the report: the post holds 16383 characters, and the tail
/// shares it with the headline and the details.
const TAIL_BYTES: usize = 12 * 1024;

/// What the send flags add to the report. Read before the job starts: a mistyped
/// `--prop` must not wait for a long job to end, nor cost its report.
struct Additions {
    attachment: Option<Attachment>,
    props: Map<String, Value>,
}

fn additions(args: &RunArgs) -> Result<Additions> {
    let mut carrier = Payload::default();
    config::apply_props(&mut carrier, &args.props)?;
    let props = carrier.props.typed().cloned().unwrap_or_default();
    if props.contains_key(MACHINE_PROPS_KEY) {
        return Err(error::fail(
            ExitKind::Usage,
            format!(
                "--prop {MACHINE_PROPS_KEY}: props.{MACHINE_PROPS_KEY} is the report's own \
                 (kind, outcome, exit code, duration, for machines reading the channel); \
                 choose another key"
            ),
        ));
    }
    Ok(Additions {
        attachment: config::attachment(&args.attachment),
        props,
    })
}

/// The flags' attachment and props, checked as `send` checks its message (escaped
/// slashes, `\u` escapes and keys included).
fn refuse_own_token(url: Option<&WebhookUrl>, additions: &Additions) -> Result<()> {
    let value = serde_json::json!({
        "attachment": additions.attachment,
        "props": additions.props,
    });
    dry_run::refuse_own_token(url, value.to_string().as_bytes())
}

pub(super) fn run(args: RunArgs) -> Result<Ending> {
    let printer = Printer::from(&args.common.output);
    let additions = additions(&args)?;
    let webhook = Sources::from(&args.common.webhook);
    // Resolve the webhook before the job starts, so a broken set-up is reported at once,
    // but run the job either way: a notifier problem must not cost the job itself.
    let notifier = if args.dry_run {
        None
    } else {
        let delivery = deliver::Settings::from(&args.common.delivery);
        Some(
            Notifier::connect(&webhook, &delivery, printer)
                .and_then(|mut n| {
                    // The report and the posts the job hands over share one budget.
                    n.pace(&config::pacing(&args.rate, delivery.timeout), &delivery)?;
                    Ok(n)
                })
                .map(Arc::new),
        )
    };
    if let Some(Err(e)) = &notifier {
        printer.warn(&format!("the report will not be posted: {e:#}"));
    }
    // A dry run checks the webhook as the real run would (`run` itself always posts with
    // its own secret, never through an enclosing job's socket).
    let dry_check = args
        .dry_run
        .then(|| dry_run::check_webhook(&webhook, &printer, false));
    if let Some(Err(e)) = &dry_check {
        printer.warn(&format!("the report would not be posted: {e:#}"));
    }
    // The token to scrub from what the job printed. A dry run needs no secret, but when
    // one is at hand it is still kept out of the printed report.
    let token_url = match (&notifier, &dry_check) {
        (Some(Ok(n)), _) => Some(n.url.clone()),
        (_, Some(Ok(Some(url)))) => Some(url.clone()),
        _ => webhook.resolve().ok().map(|(url, _)| url),
    };
    // What the flags add is the user's own message, as in `send`: holding the webhook's
    // own token it is refused (exit 4), not quietly redacted, and before the job runs.
    refuse_own_token(token_url.as_ref(), &additions)?;

    let mut spec = task_spec(&args);
    let run_socket = if args.no_run_socket {
        None
    } else {
        open_socket(&args, notifier.as_ref(), printer)
    };
    if let Some(s) = &run_socket {
        spec.env_set
            .push((socket::ENV_VAR.into(), s.path().as_os_str().to_owned()));
    }
    hide_own_memory(printer);
    let result = task::run(&spec);
    // Posts the job handed over finish before the report, and nothing is accepted after.
    if let Some(s) = run_socket {
        s.close();
    }
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
        return Ok(reported(Outcome::new(Status::Filtered), None, child_code));
    }

    let post = report(&args, &additions, result, token_url.as_ref());
    deliver_report(&args, printer, &post, dry_check, notifier, child_code)
}

/// The report as it will be posted: with what the flags add, scrubbed of every hook id
/// and the token, with the route flags applied.
fn report(
    args: &RunArgs,
    additions: &Additions,
    mut result: task::TaskResult,
    token_url: Option<&WebhookUrl>,
) -> Payload {
    // Scrubbed before rendering too: the report caps the name and cuts lines to fit, and
    // a cut through a token leaves a piece that no later scrubbing recognises.
    let clean = |text: &str| scrub_text(text, token_url);
    let command_line = clean(&shell_words(&args.command));
    let name = args.name.as_deref().map(clean);
    let log_url = args.log_url.as_deref().map(clean);
    result.tail = scrub_tail(&result.tail, token_url);
    let host = statedir::hostname();
    let report = task_report::render(&ReportInput {
        name: name.as_deref().unwrap_or(&command_line),
        result: &result,
        host: &host,
        log_url: log_url.as_deref(),
        command_line: &command_line,
    });
    let report = with_additions(report, additions);
    let mut post = scrub_report(&report, token_url);
    post.apply_route(&Route::from(&args.route));
    post.ensure_fallbacks();
    post
}

/// The attachment flags laid on the report's own attachment (`--color` replacing the
/// outcome's colour, fields after exit code and duration), the props beside its
/// `props.mmnotify`.
fn with_additions(mut report: Payload, additions: &Additions) -> Payload {
    if let Some(over) = &additions.attachment {
        match &mut report.attachments {
            Member::Typed(list) => match list.first_mut() {
                Some(Member::Typed(own)) => own.overlay(over.clone()),
                _ => list.insert(0, over.clone().into()),
            },
            _ => report.push_attachment(over.clone()),
        }
    }
    if !additions.props.is_empty() {
        if let Ok(props) = report.props_mut() {
            props.extend(additions.props.clone());
        }
    }
    report
}

/// Validates, then prints (dry run) or posts the report. A failure costs the job's exit
/// code nothing unless `--strict`.
fn deliver_report(
    args: &RunArgs,
    printer: Printer,
    post: &Payload,
    dry_check: Option<Result<Option<WebhookUrl>>>,
    notifier: Option<Result<Arc<Notifier>>>,
    child_code: u8,
) -> Result<Ending> {
    let obj = post.to_object()?;
    let body = match payload::validate(&obj, args.props.max_payload_bytes) {
        Ok(body) => body,
        Err(e) if args.strict => return Err(e),
        Err(e) => {
            not_posted(&e);
            return Ok(reported(
                Outcome::failure(&format!("{e:#}"), child_code),
                None,
                child_code,
            ));
        }
    };
    let value = Value::Object(obj);
    if let Some(check) = dry_check {
        let mut outcome = Outcome::new(Status::DryRun);
        outcome.target = check
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .map(WebhookUrl::redacted);
        let outcome = printer.dry_run(&value, outcome);
        return Ok(match check {
            Err(e) if args.strict => reported(outcome, Some(e), child_code),
            _ => reported(outcome, None, child_code),
        });
    }
    let notifier = match notifier {
        Some(Ok(n)) => n,
        Some(Err(e)) if args.strict => return Err(e),
        Some(Err(e)) => {
            let outcome = Outcome::failure(&format!("{e:#}"), child_code);
            return Ok(reported(outcome, None, child_code));
        }
        // Only a dry run has none, and it has returned above.
        None => return Err(anyhow::anyhow!("no webhook was resolved for the report")),
    };
    let (outcome, err) = notifier.post(
        &value,
        &body,
        args.route.channel.as_deref(),
        &config::spool_plan(&args.common.state, SpoolKind::Run),
        None,
    );
    Ok(match err {
        Some(e) if args.strict => reported(outcome, Some(e), child_code),
        Some(e) => {
            not_posted(&e);
            reported(outcome, None, child_code)
        }
        None => reported(outcome, None, child_code),
    })
}

/// `run` exits with its job's code, unless `--strict` lets a failed post win.
fn reported(outcome: Outcome, strict_error: Option<anyhow::Error>, child_code: u8) -> Ending {
    Ending {
        outcome: Some(outcome),
        error: strict_error,
        code: child_code,
    }
}

/// The job runs as our user, and a same-user process may read `/proc/<our pid>/environ`
/// (the token, when it came from `MATTERMOST_WEBHOOK_URL`) and our memory. Not dumpable,
/// those files belong to root. The job itself is unaffected: exec makes it dumpable again.
fn hide_own_memory(printer: Printer) {
    // SAFETY: PR_SET_DUMPABLE takes plain integers and changes only this process's flag.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        printer.warn(&format!(
            "cannot hide this process's environment from the job ({})",
            std::io::Error::last_os_error()
        ));
    }
}

/// Offers the job a socket to post through; a socket that cannot be opened costs the
/// job nothing but that.
fn open_socket(
    args: &RunArgs,
    notifier: Option<&Result<Arc<Notifier>>>,
    printer: Printer,
) -> Option<RunSocket> {
    let default = match notifier {
        Some(Ok(n)) => Ok(Arc::clone(n)),
        Some(Err(e)) => Err((error::exit_kind(e), format!("{e:#}"))),
        None => Err((ExitKind::Config, "it is a dry run".to_string())),
    };
    let relay = Relay {
        default,
        webhook: args.common.webhook.clone(),
        delivery: args.common.delivery.clone(),
        state: args.common.state.clone(),
        printer,
        dry_run: args.dry_run,
    };
    match RunSocket::open(Arc::new(move |req| relay.handle(req))) {
        Ok(s) => Some(s),
        Err(e) => {
            printer.warn(&format!(
                "no run socket for the job ({e}): `mmnotify send` inside it cannot post"
            ));
            None
        }
    }
}

/// The report is built from the job's output and command line, which may hold a webhook
/// URL (its own, or one it read somewhere): every hook id and the configured token go
/// before it is printed, posted or spooled. Each string of the report is scrubbed as
/// itself, not the serialized JSON: a match that began inside an escape (`\n` before a
/// token starting with `n`) would break the JSON.
fn scrub_report(report: &Payload, url: Option<&WebhookUrl>) -> Payload {
    let Ok(mut value) = serde_json::to_value(report) else {
        return report.clone();
    };
    scrub_strings(&mut value, url);
    serde_json::from_value(value).unwrap_or_else(|_| report.clone())
}

/// Every string in `value`, object keys included, through [`scrub_text`].
fn scrub_strings(value: &mut Value, url: Option<&WebhookUrl>) {
    match value {
        Value::String(s) => *s = scrub_text(s, url),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_strings(v, url)),
        Value::Object(members) => {
            *members = std::mem::take(members)
                .into_iter()
                .map(|(k, mut v)| {
                    scrub_strings(&mut v, url);
                    (scrub_text(&k, url), v)
                })
                .collect();
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The output tail, scrubbed as one text: a token folded over lines (`fold`) or broken
/// up by spaces or invisible characters is found across them, and so is a piece of it
/// next to output the tail left out (older lines, the front of a cut line). Each line
/// keeps its place: a redacted span keeps its line breaks.
fn scrub_tail(lines: &[String], url: Option<&WebhookUrl>) -> Vec<String> {
    if lines.is_empty() {
        return Vec::new();
    }
    let text = lines.join("\n");
    let text = match url {
        Some(u) => u.scrub_tail(&text, CUT_MARKER),
        None => scrub_hook_ids(&text).into_owned(),
    };
    text.split('\n').map(str::to_string).collect()
}

fn scrub_text(text: &str, url: Option<&WebhookUrl>) -> String {
    let text = scrub_hook_ids(text);
    match url {
        Some(u) => u.scrub(&text),
        None => text.into_owned(),
    }
}

/// A failed report is a diagnostic even under `-q`: the job's exit code hides it.
fn not_posted(e: &anyhow::Error) {
    print_stderr_line(&format!(
        "mmnotify: warning: the report was not posted: {e:#}"
    ));
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
    fn reports_lose_every_hook_id_and_the_token() {
        let id = "pq3wxk8bmjsyr9cn5ue7tdo1ha";
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:9/hooks/{id}")).unwrap();
        let other = "ebq8x1wd7oy3nhfkm4gs9ctr5a";
        let report = serde_json::json!({
            "text": format!("token {id} alone, \"quoted\" /hooks/{other}"),
            "props": {"cmd": [format!("curl http://x/hooks/{id}")]},
        });
        let report = Payload::from_object(report.as_object().unwrap().clone()).unwrap();
        let json = |p: &Payload| serde_json::to_string(p).unwrap();
        let clean = json(&scrub_report(&report, Some(&url)));
        assert!(!clean.contains(id) && !clean.contains(other), "{clean}");
        assert!(clean.contains("\\\"quoted\\\""), "{clean}");
        let without_url = json(&scrub_report(&report, None));
        assert!(!without_url.contains(other), "{without_url}");
    }

    #[test]
    fn command_line_is_quoted_like_a_shell() {
        let words: Vec<std::ffi::OsString> = ["make", "test", "a b", "it's", ""]
            .iter()
            .map(Into::into)
            .collect();
        assert_eq!(shell_words(&words), r"make test 'a b' 'it'\''s' ''");
    }
}
