//! `mmnotify send`: one message from arguments, stdin or a payload file.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;
use serde_json::{Map, Value};

use crate::cli::SendArgs;
use crate::commands::notify::{Notifier, SpoolPlan};
use crate::commands::output::{Outcome, Printer};
use crate::commands::{dry_run, relay};
use crate::error;
use crate::state::spool::SpoolKind;
use crate::text::markdown;
use crate::wire::payload;

pub fn run(args: SendArgs) -> Result<u8> {
    let printer = Printer::new(&args.common.output);
    let (obj, body) = build(&args, &printer)?;
    let value = Value::Object(obj);
    if args.dry_run {
        let url = dry_run::check_webhook(
            &args.common.webhook,
            &printer,
            relay::socket_for(&args.common.webhook).is_some(),
        )?;
        dry_run::refuse_own_token(url.as_ref(), &body)?;
        let mut outcome = Outcome::new("dry-run");
        outcome.target = url.map(|u| u.redacted());
        printer.dry_run(&value, outcome);
        return Ok(0);
    }
    let (outcome, err) = if let Some(socket) = relay::socket_for(&args.common.webhook) {
        // Inside a `run` job: the parent holds the secret and posts for us.
        let request = relay::request(
            "send",
            &args.common.webhook,
            &value,
            !args.common.state.no_spool,
            None,
        );
        let (outcome, err) =
            relay::post_via(&socket, &request, args.common.delivery.timeout, &printer)?;
        if outcome.status == "dry-run" {
            printer.dry_run(&value, outcome);
            return Ok(0);
        }
        (outcome, err)
    } else {
        let notifier = Notifier::connect(&args.common.webhook, &args.common.delivery, printer)?;
        let channel = value.get("channel").and_then(Value::as_str);
        notifier.post(
            &value,
            &body,
            channel,
            &SpoolPlan::from_args(&args.common.state, SpoolKind::Send),
            None,
        )
    };
    printer.outcome(&outcome);
    match err {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// Stdin is capped well above the largest payload the server takes, so a runaway producer
/// cannot make us buffer without end.
fn input_limit(args: &SendArgs) -> usize {
    args.max_payload_bytes.saturating_mul(4).max(1 << 20)
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
        Some(path) => {
            let (text, what) = if path.as_os_str() == "-" {
                let t =
                    payload::read_text_bounded(std::io::stdin().lock(), limit, "payload on stdin")?;
                (t, "payload on stdin".to_string())
            } else {
                let f = std::fs::File::open(path).map_err(|e| {
                    error::input(format!("cannot read payload file {}: {e}", path.display()))
                })?;
                let what = format!("payload file {}", path.display());
                (payload::read_text_bounded(f, limit, &what)?, what)
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(error::input(format!("{what} must hold a JSON object"))),
                Err(e) => return Err(error::input(format!("{what} is not valid JSON: {e}"))),
            }
        }
        None => Map::new(),
    };
    // Flags, truncation and fallbacks then see `"Text"` as the server does: as `text`.
    payload::canonicalize(&mut obj)?;

    let text = if !args.text.is_empty() {
        Some(args.text.join(" "))
    } else if let Some(path) = &args.text_file {
        Some(read_text_file(path, limit)?)
    } else if args.payload.is_none() && !std::io::stdin().is_terminal() {
        let t = payload::read_text_bounded(std::io::stdin().lock(), limit, "text on stdin")?;
        // A trailing newline from `echo` is not part of the message.
        let t = t.strip_suffix('\n').unwrap_or(&t);
        let t = t.strip_suffix('\r').unwrap_or(t);
        (!t.is_empty()).then(|| t.to_string())
    } else {
        None
    };
    if let Some(t) = text {
        obj.insert("text".into(), Value::String(t));
    }
    // Blank text stays unwrapped: an empty block would pass for content, and validation
    // must still refuse a post with nothing to show.
    let text = obj
        .get_mut("text")
        .filter(|t| t.as_str().is_some_and(|t| !t.trim().is_empty()));
    if let (Some(lang), Some(Value::String(t))) = (&args.code, text) {
        // Cut inside the block here: the generic cut below would drop the closing fence.
        let limit = (!args.split).then_some(payload::MAX_POST_CHARS);
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

    payload::apply_route(&mut obj, &args.route);
    if let Some(att) = payload::attachment_from_args(&args.attachment) {
        match obj.get_mut("attachments") {
            Some(Value::Array(list)) => list.push(att),
            _ => {
                obj.insert("attachments".into(), Value::Array(vec![att]));
            }
        }
    }
    if args.card.is_some() || !args.prop.is_empty() {
        let props = obj
            .entry("props")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(props) = props else {
            return Err(error::input("`props` in the payload must be an object"));
        };
        for (k, raw) in &args.prop {
            props.insert(k.clone(), payload::prop_value(k, raw)?);
        }
        if let Some(card) = &args.card {
            props.insert("card".into(), Value::String(card.clone()));
        }
    }
    payload::ensure_fallbacks(&mut obj);
    if !args.split && payload::truncate_text(&mut obj) {
        printer.warn(&format!(
            "the text is longer than one post ({} characters) and was cut; pass --split to \
             send it whole as several posts",
            payload::MAX_POST_CHARS
        ));
    }
    let body = payload::validate(&obj, args.max_payload_bytes)?;
    Ok((obj, body))
}
