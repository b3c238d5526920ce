//! `mmnotify send`: one message from arguments, stdin or a payload file.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;
use serde_json::{Map, Value};

use crate::cli::SendArgs;
use crate::commands::config;
use crate::error;
use crate::pipeline::notify::Notifier;
use crate::pipeline::output::{Ending, Outcome, Printer, Status};
use crate::pipeline::{dry_run, run_socket};
use crate::secret::Sources;
use crate::state::spool::SpoolKind;
use crate::text::markdown;
use crate::wire::deliver;
use crate::wire::payload::{self, Member, Payload, Route};

pub(super) fn run(args: SendArgs) -> Result<Ending> {
    let printer = Printer::from(&args.common.output);
    let webhook = Sources::from(&args.common.webhook);
    let (obj, body) = build(&args, &printer)?;
    let value = Value::Object(obj);
    if args.dry_run {
        let url = dry_run::check_webhook(
            &webhook,
            &printer,
            run_socket::socket_for(&webhook).is_some(),
        )?;
        dry_run::refuse_own_token(url.as_ref(), &body)?;
        let mut outcome = Outcome::new(Status::DryRun);
        outcome.target = url.map(|u| u.redacted());
        return Ok(Ending::outcome(printer.dry_run(&value, outcome), None));
    }
    let (outcome, err) = if let Some(socket) = run_socket::socket_for(&webhook) {
        // Inside a `run` job: the parent holds the secret and posts for us.
        let request = run_socket::request(
            "send",
            &webhook,
            &deliver::Settings::from(&args.common.delivery),
            &value,
            !args.common.state.no_spool,
            None,
        );
        let (outcome, err) =
            run_socket::post_via(&socket, &request, args.common.delivery.timeout, &printer)?;
        if outcome.status == Status::DryRun {
            return Ok(Ending::outcome(printer.dry_run(&value, outcome), None));
        }
        (outcome, err)
    } else {
        let delivery = deliver::Settings::from(&args.common.delivery);
        let mut notifier = Notifier::connect(&webhook, &delivery, printer)?;
        notifier.pace(&config::pacing(&args.rate, delivery.timeout), &delivery)?;
        let channel = value.get("channel").and_then(Value::as_str);
        notifier.post(
            &value,
            &body,
            channel,
            &config::spool_plan(&args.common.state, SpoolKind::Send),
            None,
        )
    };
    Ok(Ending::outcome(outcome, err))
}

/// Stdin is capped well above the largest payload the server takes, so a runaway producer
/// cannot make us buffer without end.
fn input_limit(args: &SendArgs) -> usize {
    args.props.max_payload_bytes.saturating_mul(4).max(1 << 20)
}

/// `--text-file`: read once, bounded like stdin. (A webhook URL pasted as the path was
/// refused before, with the other path options.)
fn read_text_file(path: &Path, limit: usize) -> Result<String> {
    let what = format!("text file {}", path.display());
    let f =
        std::fs::File::open(path).map_err(|e| error::input(format!("cannot read {what}: {e}")))?;
    let t = payload::read_text_bounded(f, limit, &what)?;
    Ok(t.trim_end_matches(['\n', '\r']).to_string())
}

/// Builds and validates the payload; nothing is sent if this fails.
fn build(args: &SendArgs, printer: &Printer) -> Result<(Map<String, Value>, Vec<u8>)> {
    let limit = input_limit(args);
    let mut obj = match &args.payload {
        Some(path) => read_payload(path, limit, printer)?,
        None => Map::new(),
    };
    // Flags, truncation and fallbacks then see `"Text"` as the server does: as `text`.
    payload::canonicalize(&mut obj)?;
    let mut post = Payload::from_object(obj)?;
    let own_text = text_from_args(args, limit)?;
    // The server takes a text of white space alone, and so does a `--payload`; a text
    // mmnotify reads itself (arguments, stdin, --text-file) that is blank is almost
    // always an empty variable or empty output, so that stays refused (the contract's
    // "text (not only white space)"), unless an attachment carries the post.
    let blank_own_text = own_text.as_deref().is_some_and(|t| t.trim().is_empty());
    if let Some(t) = own_text {
        post.text = t.into();
    }
    if let Some(lang) = &args.code {
        wrap_in_code_block(&mut post, lang, args.split, printer);
    }
    post.apply_route(&Route::from(&args.route));
    if let Some(att) = config::attachment(&args.attachment) {
        post.push_attachment(att);
    }
    config::apply_props(&mut post, &args.props)?;
    post.ensure_fallbacks();
    if !args.split && post.truncate_text() {
        printer.warn(&format!(
            "the text is longer than one post ({} characters) and was cut; pass --split to \
             send it whole as several posts",
            payload::MAX_POST_CHARS
        ));
    }
    let obj = post.to_object()?;
    let has_attachment = obj
        .get("attachments")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(Value::is_object));
    if blank_own_text && !has_attachment {
        return Err(error::input(
            "nothing to post: the text is blank (white space only); give a text or an \
             attachment",
        ));
    }
    let body = payload::validate(&obj, args.props.max_payload_bytes)?;
    Ok((obj, body))
}

/// The `--payload` file (`-` = stdin): one JSON object, bounded like stdin. Raw newlines
/// and tabs in the strings the server repairs are repaired the same way (the server
/// accepts them), and the valid JSON is what gets sent.
fn read_payload(path: &Path, limit: usize, printer: &Printer) -> Result<Map<String, Value>> {
    let (text, what) = if path.as_os_str() == "-" {
        let t = payload::read_text_bounded(std::io::stdin().lock(), limit, "payload on stdin")?;
        (t, "payload on stdin".to_string())
    } else {
        let f = std::fs::File::open(path).map_err(|e| {
            error::input(format!("cannot read payload file {}: {e}", path.display()))
        })?;
        let what = format!("payload file {}", path.display());
        (payload::read_text_bounded(f, limit, &what)?, what)
    };
    let parsed = match serde_json::from_str::<Value>(&text) {
        Ok(v) => Ok(v),
        Err(strict) => {
            let repaired = payload::rescue_raw_newlines(&text)
                .and_then(|fixed| serde_json::from_str::<Value>(&fixed).ok());
            if repaired.is_some() {
                printer.info(&format!(
                    "{what}: raw newlines or tabs inside JSON strings were escaped, as the \
                     server does; sending the repaired JSON"
                ));
            }
            repaired.ok_or(strict)
        }
    };
    match parsed {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(error::input(format!("{what} must hold a JSON object"))),
        Err(e) if e.to_string().contains("control character") => Err(error::input(format!(
            "{what} is not valid JSON: {e}; like the server, mmnotify repairs only raw \
             newlines and tabs in text, fallback, pretext, author_name, title and value: \
             escape other control characters (\\r, \\u0000)"
        ))),
        Err(e) => Err(error::input(format!("{what} is not valid JSON: {e}"))),
    }
}

/// The TEXT arguments, `--text-file`, or stdin when there is neither and no payload file.
fn text_from_args(args: &SendArgs, limit: usize) -> Result<Option<String>> {
    if !args.text.is_empty() {
        return Ok(Some(args.text.join(" ")));
    }
    if let Some(path) = &args.text_file {
        return read_text_file(path, limit).map(Some);
    }
    if args.payload.is_some() || std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let t = payload::read_text_bounded(std::io::stdin().lock(), limit, "text on stdin")?;
    // A trailing newline from `echo` is not part of the message.
    let t = t.strip_suffix('\n').unwrap_or(&t);
    let t = t.strip_suffix('\r').unwrap_or(t);
    Ok((!t.is_empty()).then(|| t.to_string()))
}

/// `--code LANG`: the text becomes one fenced block.
fn wrap_in_code_block(post: &mut Payload, lang: &str, split: bool, printer: &Printer) {
    // Blank text stays unwrapped: an empty block would pass for content, and validation
    // must still refuse a post with nothing to show.
    let Member::Typed(t) = &mut post.text else {
        return;
    };
    if t.trim().is_empty() {
        return;
    }
    // Cut inside the block here: the generic cut below would drop the closing fence.
    let limit = (!split).then_some(payload::MAX_POST_CHARS);
    let (block, cut) = markdown::code_block(t, lang, limit);
    *t = block;
    if cut {
        printer.warn(&format!(
            "the code block is longer than one post ({} characters) and was cut; pass \
             --split to send it whole as several posts",
            payload::MAX_POST_CHARS
        ));
    }
}
