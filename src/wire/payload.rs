//! The webhook JSON: built from flags and files, checked the way the server would check it
//! (and a little stricter), and cut to one post unless the user asked for a split.
//!
//! Builders work on the typed [`Payload`] (`model`); the checks here read the object it
//! serializes to (or one a `run` job handed over), because matching keys the server's
//! case-insensitive way needs the keys as they were given.

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use crate::error;

mod model;
pub(crate) use model::{Attachment, Field, Member, Payload, Route, MACHINE_PROPS_KEY};

/// One Mattermost post holds this many Unicode scalar values (`PostMessageMaxRunesV2`).
pub(crate) const MAX_POST_CHARS: usize = 16383;
/// Props above this many characters are refused by the server (`PostPropsMaxUserRunes`).
pub(crate) const MAX_PROPS_CHARS: usize = 760_000;
pub(crate) use crate::text::markdown::TRUNCATION_MARKER;

/// Parses a `--prop KEY=JSON` value.
pub(crate) fn prop_value(key: &str, raw: &str) -> Result<Value> {
    serde_json::from_str(raw).map_err(|e| {
        error::input(format!(
            "--prop {key}: the value is not valid JSON ({e}); quote strings, e.g. --prop \
             {key}='\"text\"'"
        ))
    })
}

/// Members of the request object (`model.IncomingWebhookRequest`), plus `silent` and
/// `root_id` of newer servers.
const REQUEST_KEYS: &[&str] = &[
    "text",
    "username",
    "icon_url",
    "icon_emoji",
    "channel",
    "props",
    "attachments",
    "type",
    "priority",
    "silent",
    "root_id",
];
/// The attachment members the server decodes as Go strings (a number there fails the
/// whole request); the rest of [`ATTACHMENT_KEYS`] have types of their own.
const ATTACHMENT_STRING_KEYS: &[&str] = &[
    "fallback",
    "color",
    "pretext",
    "author_name",
    "author_link",
    "author_icon",
    "title",
    "title_link",
    "text",
    "image_url",
    "thumb_url",
    "footer",
    "footer_icon",
];
/// Members of one attachment (`model.SlackAttachment`).
const ATTACHMENT_KEYS: &[&str] = &[
    "id",
    "fallback",
    "color",
    "pretext",
    "author_name",
    "author_link",
    "author_icon",
    "title",
    "title_link",
    "text",
    "fields",
    "image_url",
    "thumb_url",
    "footer",
    "footer_icon",
    "ts",
    "actions",
];
const FIELD_KEYS: &[&str] = &["title", "value", "short"];
/// The post types a webhook may set, besides `custom_*`: those `Post.IsValid` knows on
/// every server from v9 on, less the `system_*` ones the webhook handler refuses
/// (docs/mattermost-server.md §7). The CLI contract allowed only empty and `custom_*`;
/// issue 14 (item 35) widened it to what the server accepts. Newer types (`card`,
/// `burn_on_read`) are left out: an older server fails such a post with a 500.
const POST_TYPES: &[&str] = &[
    "",
    "slack_attachment",
    "me",
    "reminder",
    "add_bot_teams_channels",
];
const PRIORITY_KEYS: &[&str] = &["priority", "requested_ack", "persistent_notifications"];

/// The server's decoder (Go `encoding/json`) matches object keys to struct members
/// case-insensitively, with Unicode simple folding: `TEXT`, `Text` and even `ſhort`
/// (long s) or `requested_acK` (Kelvin sign) fill the same member. This folds a key so
/// that two keys fold equal exactly when Go would treat them as the same member.
fn go_fold(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii() {
                return c.to_ascii_lowercase();
            }
            // Go folds with simple (one-to-one) case mappings only.
            let mut up = c.to_uppercase();
            let (Some(u), None) = (up.next(), up.next()) else {
                return c;
            };
            let mut low = u.to_lowercase();
            match (low.next(), low.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

/// A user-given string for an error message, shown only when it is too short to hold a
/// webhook id (26 characters): a payload may carry the token anywhere, and an error must
/// never print it.
fn echo(s: &str) -> String {
    if s.chars().count() < 26 {
        format!("`{}`", s.escape_debug())
    } else {
        format!("a {}-character value", s.chars().count())
    }
}

/// Renames the keys of one struct-decoded object to the member names the server reads
/// them as, refusing two keys the server would read as one member.
fn canonical_object(obj: &mut Map<String, Value>, members: &[&str], what: &str) -> Result<()> {
    let mut seen: Vec<(String, &String)> = Vec::with_capacity(obj.len());
    for key in obj.keys() {
        let folded = go_fold(key);
        if let Some((_, first)) = seen.iter().find(|(f, _)| *f == folded) {
            return Err(error::input(format!(
                "ambiguous key in {what}: {} and {} differ only by case, and the server \
                 reads both as the same field; keep one",
                echo(first),
                echo(key)
            )));
        }
        seen.push((folded, key));
    }
    let renames: Vec<(String, &str)> = obj
        .keys()
        .filter_map(|k| {
            let folded = go_fold(k);
            members
                .iter()
                .find(|m| **m == folded && *m != k)
                .map(|m| (k.clone(), *m))
        })
        .collect();
    for (from, to) in renames {
        if let Some(v) = obj.remove(&from) {
            obj.insert(to.to_string(), v);
        }
    }
    Ok(())
}

/// Gives every key the server decodes into a struct member its canonical lower-case name,
/// at each level the server decodes (request, attachment, field, priority), so that a
/// `--payload` with `"Text"` or `"PRIORITY"` is checked, truncated and overridden by flags
/// exactly like its lower-case form. Two keys that differ only by case are refused (exit
/// 4): the server would silently keep the last one. Props are a plain map with exact keys,
/// and unknown keys keep their spelling.
pub(crate) fn canonicalize(obj: &mut Map<String, Value>) -> Result<()> {
    canonical_object(obj, REQUEST_KEYS, "the payload")?;
    if let Some(Value::Object(p)) = obj.get_mut("priority") {
        canonical_object(p, PRIORITY_KEYS, "`priority`")?;
    }
    if let Some(Value::Array(atts)) = obj.get_mut("attachments") {
        for (i, att) in atts.iter_mut().enumerate() {
            let Value::Object(a) = att else { continue };
            canonical_object(a, ATTACHMENT_KEYS, &format!("attachment {}", i + 1))?;
            if let Some(Value::Array(fields)) = a.get_mut("fields") {
                for (j, f) in fields.iter_mut().enumerate() {
                    let Value::Object(f) = f else { continue };
                    let what = format!("attachment {} field {}", i + 1, j + 1);
                    canonical_object(f, FIELD_KEYS, &what)?;
                }
            }
        }
    }
    Ok(())
}

/// Length in Unicode scalar values of `v` as Go's `json.Marshal` writes it, which is how
/// the server measures props: `<`, `>`, `&`, U+2028 and U+2029 become six-character
/// `\u` escapes, and every number is a float64 written in Go's shortest form.
pub(crate) fn go_json_chars(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(b) => {
            if *b {
                4
            } else {
                5
            }
        }
        Value::Number(n) => go_number(n.as_f64().unwrap_or(0.0)).len(),
        Value::String(s) => go_string_chars(s),
        Value::Array(a) => {
            2 + a.iter().map(go_json_chars).sum::<usize>() + a.len().saturating_sub(1)
        }
        Value::Object(m) => {
            2 + m
                .iter()
                .map(|(k, v)| go_string_chars(k) + 1 + go_json_chars(v))
                .sum::<usize>()
                + m.len().saturating_sub(1)
        }
    }
}

fn go_string_chars(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => 6,
            c if (c as u32) < 0x20 => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Go's float64 encoding: shortest digits, exponent form below 1e-6 and from 1e21 on.
fn go_number(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        match exp.strip_prefix('-') {
            Some(e) => format!("{mant}e-{e}"),
            None => format!("{mant}e+{exp:0>2}"),
        }
    } else {
        format!("{f}")
    }
}

/// Whether `text` @-mentions a user (not `@channel`, `@here` or `@all`), the way a
/// username mention is written: `@` after a non-word character, then a letter.
fn mentions_a_user(text: &str) -> bool {
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let starts = c == '@' && !prev.is_some_and(|p| p.is_alphanumeric() || p == '_');
        prev = Some(c);
        if !starts {
            continue;
        }
        let name: String = text[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .collect();
        let name = name.trim_end_matches(['.', '-', '_']);
        let special = ["channel", "here", "all"]
            .iter()
            .any(|s| name.eq_ignore_ascii_case(s));
        if name.starts_with(|c: char| c.is_ascii_alphabetic()) && !special {
            return true;
        }
    }
    false
}

/// Validates a payload as the server would, before anything is sent. Everything the
/// server would refuse with a 400 (or 500, for `type`) is exit 4 here instead. Keys are
/// matched the server's way (see [`canonicalize`]); the body keeps the caller's spelling.
pub(crate) fn validate(obj: &Map<String, Value>, max_bytes: usize) -> Result<Vec<u8>> {
    let body = serde_json::to_vec(obj).context("serializing the payload")?;
    let mut canon = obj.clone();
    canonicalize(&mut canon)?;
    check(&canon)?;
    if body.len() > max_bytes {
        return Err(error::input(format!(
            "the payload is {} bytes, over the limit of {max_bytes} (--max-payload-bytes; \
             the server's MaximumPayloadSizeBytes): shorten the text or attachments",
            body.len()
        )));
    }
    Ok(body)
}

/// The checks of [`validate`] on a payload whose keys are canonical.
fn check(obj: &Map<String, Value>) -> Result<()> {
    let text = match obj.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(error::input("`text` must be a string")),
    };
    for key in ["channel", "username", "icon_url", "icon_emoji", "type"] {
        match obj.get(key) {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(_) => return Err(error::input(format!("`{key}` must be a string"))),
        }
    }
    let attachments = match obj.get("attachments") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(error::input("`attachments` must be an array of objects")),
    };
    // The server drops null attachments, and an empty list left over counts as none.
    for (i, att) in attachments.iter().enumerate().filter(|(_, a)| !a.is_null()) {
        validate_attachment(i, att)?;
    }
    // The server refuses only an empty text (`text == ""` with no attachments), so a
    // text of white space alone is accepted here too. The CLI contract asks for text
    // "not only white space"; issue 14 (item 36) overrides it: what the server accepts,
    // mmnotify must not refuse.
    let has_text = text.is_some_and(|t| !t.is_empty());
    let has_attachment = attachments.iter().any(Value::is_object);
    if !has_text && !has_attachment {
        return Err(error::input(
            "nothing to post: give a text (arguments, stdin or --payload) or an attachment",
        ));
    }
    check_priority(obj, text.unwrap_or(""))?;
    if let Some(Value::String(t)) = obj.get("type") {
        if !POST_TYPES.contains(&t.as_str()) && !t.starts_with("custom_") {
            return Err(error::input(format!(
                "`type` must be empty, one of {} or start with custom_ (found {})",
                POST_TYPES[1..].join(", "),
                echo(t)
            )));
        }
    }
    match obj.get("props") {
        None | Some(Value::Null) => {}
        Some(props @ Value::Object(_)) => {
            let chars = go_json_chars(props);
            if chars > MAX_PROPS_CHARS {
                return Err(error::input(format!(
                    "props are {chars} characters of JSON as the server counts them (`<`, \
                     `>` and `&` count 6 each); the server accepts at most {MAX_PROPS_CHARS}"
                )));
            }
        }
        Some(_) => return Err(error::input("`props` must be an object")),
    }
    if !matches!(obj.get("silent"), None | Some(Value::Null | Value::Bool(_))) {
        return Err(error::input("`silent` must be a boolean"));
    }
    Ok(())
}

/// `priority`: an object with a string `priority.priority` and boolean flags; persistent
/// notifications only where the server accepts them.
fn check_priority(obj: &Map<String, Value>, text: &str) -> Result<()> {
    let Some(p) = obj.get("priority") else {
        return Ok(());
    };
    match p {
        Value::Null => {}
        Value::Object(m) => {
            match m.get("priority") {
                Some(Value::String(_)) => {}
                _ => {
                    return Err(error::input(
                        "`priority` needs a string `priority.priority` (urgent, important \
                         or \"\")",
                    ))
                }
            }
            for key in ["requested_ack", "persistent_notifications"] {
                if !matches!(m.get(key), None | Some(Value::Null | Value::Bool(_))) {
                    return Err(error::input(format!("`priority.{key}` must be a boolean")));
                }
            }
            if m.get("persistent_notifications") == Some(&Value::Bool(true)) {
                check_persistent(obj, m, text)?;
            }
        }
        _ => return Err(error::input("`priority` must be an object")),
    }
    Ok(())
}

/// The server accepts persistent notifications only on a post that notifies someone:
/// with no one to notify, creating the post fails with a 500 after the checks passed.
/// The web app offers them only on urgent posts that mention a user, so ask the same.
fn check_persistent(obj: &Map<String, Value>, prio: &Map<String, Value>, text: &str) -> Result<()> {
    let urgent = prio.get("priority").and_then(Value::as_str) == Some("urgent");
    // A direct message always has its recipient to notify.
    let direct = obj
        .get("channel")
        .and_then(Value::as_str)
        .is_some_and(|c| c.starts_with('@'));
    if !urgent || !(direct || mentions_a_user(text)) {
        return Err(error::input(
            "`priority.persistent_notifications` needs `priority.priority` \"urgent\" and a \
             text that @-mentions a user (or a `channel` of @user): the server fails such a \
             post with no one to notify",
        ));
    }
    if obj.get("silent") == Some(&Value::Bool(true)) {
        return Err(error::input(
            "`silent` and `priority.persistent_notifications` exclude each other",
        ));
    }
    Ok(())
}

fn validate_attachment(i: usize, att: &Value) -> Result<()> {
    let Value::Object(a) = att else {
        return Err(error::input(format!(
            "attachment {} must be an object",
            i + 1
        )));
    };
    match a.get("fields") {
        None | Some(Value::Null) => {}
        Some(Value::Array(fields)) => {
            for (j, f) in fields.iter().enumerate() {
                let where_ = || format!("attachment {} field {}", i + 1, j + 1);
                let Value::Object(f) = f else {
                    if f.is_null() {
                        continue;
                    }
                    return Err(error::input(format!("{} must be an object", where_())));
                };
                if !matches!(f.get("title"), None | Some(Value::String(_))) {
                    return Err(error::input(format!(
                        "{}: `title` must be a string",
                        where_()
                    )));
                }
                match f.get("short") {
                    None | Some(Value::Bool(_)) => {}
                    Some(Value::String(s))
                        if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {}
                    Some(_) => {
                        return Err(error::input(format!(
                            "{}: `short` must be true or false",
                            where_()
                        )))
                    }
                }
            }
        }
        Some(_) => {
            return Err(error::input(format!(
                "attachment {}: `fields` must be an array",
                i + 1
            )))
        }
    }
    for &key in ATTACHMENT_STRING_KEYS {
        if !matches!(a.get(key), None | Some(Value::Null | Value::String(_))) {
            return Err(error::input(format!(
                "attachment {}: `{key}` must be a string",
                i + 1
            )));
        }
    }
    Ok(())
}

/// What in a payload that passed [`validate`] can still make a server refuse it with the
/// one answer era-B servers give to most causes (`web.incoming_webhook.general.app_error`
/// 400): things only the server can check. Most likely first; empty when nothing in the
/// payload explains a refusal.
pub(crate) fn suspects(body: &[u8]) -> Vec<String> {
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    if canonicalize(&mut obj).is_err() {
        return vec!["keys that differ only by case".into()];
    }
    let name = |k: &str| {
        format!(
            "`{}`",
            k.chars().take(40).collect::<String>().escape_debug()
        )
    };
    let mut out = Vec::new();
    if let Some(user) = obj
        .get("channel")
        .and_then(Value::as_str)
        .filter(|c| c.starts_with('@'))
    {
        out.push(format!(
            "the user {} in `channel` may not exist",
            name(user)
        ));
    }
    let prio = obj.get("priority").and_then(Value::as_object);
    if prio.and_then(|p| p.get("persistent_notifications")) == Some(&Value::Bool(true)) {
        out.push(
            "persistent notifications, which the server refuses when no mentioned user can \
             be notified"
                .into(),
        );
    }
    let atts: Vec<&Map<String, Value>> = obj
        .get("attachments")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let size = obj.get("props").map_or(0, go_json_chars)
        + atts
            .iter()
            .map(|a| go_json_chars(&Value::Object((*a).clone())))
            .sum::<usize>();
    if size > MAX_PROPS_CHARS / 10 * 9 {
        out.push(format!(
            "props and attachments of {size} characters as the server counts them, close to \
             its limit of {MAX_PROPS_CHARS} (server-set props count too): make them smaller"
        ));
    }
    if obj.contains_key("root_id") {
        out.push("a `root_id`, which must name an existing post in the channel".into());
    }
    if atts.iter().any(|a| a.contains_key("actions")) {
        out.push("attachment `actions`, which mmnotify does not check".into());
    }
    let mut unknown: Vec<String> = obj
        .keys()
        .filter(|k| !REQUEST_KEYS.contains(&k.as_str()))
        .map(|k| name(k))
        .collect();
    for a in &atts {
        unknown.extend(
            a.keys()
                .filter(|k| !ATTACHMENT_KEYS.contains(&k.as_str()))
                .map(|k| format!("attachment {}", name(k))),
        );
    }
    if !unknown.is_empty() {
        unknown.truncate(5);
        out.push(format!(
            "fields passed through unchecked from the payload ({})",
            unknown.join(", ")
        ));
    }
    out
}

/// The keys whose string values the server's rescue pass repairs.
const RESCUED_KEYS: [&str; 6] = [
    "text",
    "fallback",
    "pretext",
    "author_name",
    "title",
    "value",
];

/// The server's second try at a body that is not valid JSON
/// (`escapeControlCharsFromPayload`, docs/mattermost-server.md §2.3): raw newlines and
/// tabs are escaped inside every match of
/// `(?s)"(text|fallback|pretext|author_name|title|value)"\s*:\s*"(.*?[^\\])"`, keys in
/// exact lower case, anywhere in the document. It exists for shell templates such as
/// `{"text":"$OUTPUT"}`. Other control characters (a carriage return) are not repaired,
/// there or here. `None` when the pass changes nothing.
pub(crate) fn rescue_raw_newlines(json: &str) -> Option<String> {
    let b = json.as_bytes();
    let mut out = Vec::with_capacity(b.len() + 16);
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        let Some(end) = rescue_match(b, i) else {
            out.push(b[i]);
            i += 1;
            continue;
        };
        for &c in &b[i..end] {
            match c {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\t' => out.extend_from_slice(b"\\t"),
                c => out.push(c),
            }
            changed |= c == b'\n' || c == b'\t';
        }
        i = end;
    }
    // Only ASCII bytes were replaced by ASCII, so the text stays UTF-8.
    changed.then(|| String::from_utf8(out).ok()).flatten()
}

/// The end (just after the closing quote) of a match of the rescue pattern that starts
/// at `i`, if one does: leftmost-first, as Go's `ReplaceAllFunc` finds them.
fn rescue_match(b: &[u8], i: usize) -> Option<usize> {
    // RE2's `\s`: tab, newline, form feed, carriage return, space.
    let skip_space = |mut j: usize| {
        while b
            .get(j)
            .is_some_and(|c| matches!(c, b'\t' | b'\n' | 0x0c | b'\r' | b' '))
        {
            j += 1;
        }
        j
    };
    if b[i] != b'"' {
        return None;
    }
    let key = RESCUED_KEYS
        .iter()
        .find(|k| b[i + 1..].starts_with(k.as_bytes()) && b.get(i + 1 + k.len()) == Some(&b'"'))?;
    let colon = skip_space(i + key.len() + 2);
    if b.get(colon) != Some(&b':') {
        return None;
    }
    let open = skip_space(colon + 1);
    if b.get(open) != Some(&b'"') {
        return None;
    }
    // `(.*?[^\\])"`: the shortest run of at least one character, the last not a
    // backslash, then a quote.
    (open + 2..b.len())
        .find(|&k| b[k] == b'"' && b[k - 1] != b'\\')
        .map(|k| k + 1)
}

/// Reads UTF-8 text with a size bound, so a runaway producer cannot exhaust memory.
pub(crate) fn read_text_bounded(
    reader: impl std::io::Read,
    limit: usize,
    what: &str,
) -> Result<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| error::input(format!("cannot read {what}: {e}")))?;
    if buf.len() > limit {
        return Err(error::input(format!(
            "{what} is larger than {limit} bytes; nothing was sent"
        )));
    }
    String::from_utf8(buf).map_err(|e| {
        error::input(format!(
            "{what} is not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn last_line_is_added_within_one_post() {
        let mut o = typed(json!({"text": "deploy failed"}));
        o.append_last_line("_(late)_");
        assert_eq!(o.text.typed().unwrap(), "deploy failed\n\n_(late)_");

        let mut o = typed(json!({"attachments": [{"fallback": "x"}]}));
        o.append_last_line("_(late)_");
        assert_eq!(o.text.typed().unwrap(), "_(late)_");

        let full = "a".repeat(MAX_POST_CHARS);
        let mut o = typed(json!({ "text": full }));
        o.append_last_line("_(late)_");
        let text = o.text.typed().unwrap();
        assert_eq!(text.chars().count(), MAX_POST_CHARS);
        assert!(
            text.ends_with(&format!("{TRUNCATION_MARKER}\n\n_(late)_")),
            "{text}"
        );

        // Sent whole with --split: the server splits it, nothing is cut.
        let split = "é".repeat(MAX_POST_CHARS + 10);
        let mut o = typed(json!({ "text": split }));
        o.append_last_line("_(late)_");
        assert_eq!(
            o.text.typed().unwrap().chars().count(),
            MAX_POST_CHARS + 10 + 10
        );
    }

    fn kind(r: Result<Vec<u8>>) -> String {
        let e = r.unwrap_err();
        assert_eq!(error::exit_kind(&e), error::ExitKind::Input);
        format!("{e:#}")
    }

    #[test]
    fn text_or_attachment_required() {
        for nothing in [json!({"text": ""}), json!({}), json!({"text": null})] {
            assert!(kind(validate(&obj(nothing), 1000)).contains("nothing to post"));
        }
        // The server refuses only "": white space alone is a text.
        assert!(validate(&obj(json!({"text": "  \n"})), 1000).is_ok());
        assert!(validate(&obj(json!({"text": "hi"})), 1000).is_ok());
        assert!(validate(&obj(json!({"attachments": [{"text": "x"}]})), 1000).is_ok());
    }

    #[test]
    fn rescue_escapes_raw_newlines_and_tabs_in_the_six_keys_only() {
        let fixed = |s: &str| rescue_raw_newlines(s);
        assert_eq!(
            fixed("{\"text\":\"a\n\tb\"}").as_deref(),
            Some("{\"text\":\"a\\n\\tb\"}")
        );
        // Escaped quotes do not end the value; white space around the colon is allowed.
        assert_eq!(
            fixed("{\"title\" : \"x \\\"y\n\\\" z\"}").as_deref(),
            Some("{\"title\" : \"x \\\"y\\n\\\" z\"}")
        );
        // The whole match is escaped, so a newline before the value's quote becomes `\n`
        // outside a string: that JSON stays broken, as on the server.
        assert_eq!(
            fixed("{\"text\":\n\"a\"}").as_deref(),
            Some("{\"text\":\\n\"a\"}")
        );
        for key in ["fallback", "pretext", "author_name", "value"] {
            let json = format!("{{\"{key}\":\"a\nb\"}}");
            assert_eq!(fixed(&json), Some(format!("{{\"{key}\":\"a\\nb\"}}")));
        }
        // Other keys, other spellings, carriage returns: left alone.
        for json in [
            "{\"username\":\"a\nb\"}",
            "{\"Text\":\"a\nb\"}",
            "{\"text\":\"a\r b\"}",
            "{\"text\":\"ab\"}",
        ] {
            assert_eq!(fixed(json), None, "{json:?}");
        }
        // Unterminated: nothing to match.
        assert_eq!(fixed("{\"text\":\"a\n"), None);
    }

    #[test]
    fn server_rules() {
        assert!(
            kind(validate(&obj(json!({"text": "x", "priority": {}})), 1000))
                .contains("priority.priority")
        );
        assert!(kind(validate(
            &obj(json!({"text": "x", "type": "system_join"})),
            1000
        ))
        .contains("custom_"));
        assert!(validate(&obj(json!({"text": "x", "type": "custom_build"})), 1000).is_ok());
        for known in [
            "slack_attachment",
            "me",
            "reminder",
            "add_bot_teams_channels",
        ] {
            assert!(validate(&obj(json!({"text": "x", "type": known})), 1000).is_ok());
        }
        assert!(
            kind(validate(&obj(json!({"text": "x", "type": "card"})), 1000)).contains("custom_")
        );
        let bad_short = json!({"text": "x", "attachments": [{"fields": [{"title": "a", "value": 1, "short": null}]}]});
        assert!(kind(validate(&obj(bad_short), 1000)).contains("short"));
        let str_short = json!({"text": "x", "attachments": [{"fields": [{"title": "a", "value": 1, "short": "TRUE"}]}]});
        assert!(validate(&obj(str_short), 1000).is_ok());
        assert!(kind(validate(&obj(json!({"text": 5})), 1000)).contains("string"));
        assert!(kind(validate(&obj(json!({"text": "x", "props": "p"})), 1000)).contains("props"));
        assert!(kind(validate(
            &obj(json!({"text": "x", "attachments": {}})),
            1000
        ))
        .contains("array"));
    }

    #[test]
    fn keys_are_matched_case_insensitively_like_go() {
        let refused = [
            json!({"text": "x", "PRIORITY": {}}),
            json!({"text": "x", "Type": "system_x"}),
            json!({"text": "x", "Props": "x"}),
            json!({"text": "x", "Attachments": {}}),
            json!({"text": "x", "attachments": [{"Fields": [{"SHORT": "yes"}]}]}),
            json!({"text": "x", "attachments": [{"fields": [{"\u{17f}hort": "yes"}]}]}),
            json!({"TEXT": 5}),
            json!({"text": "x", "priority": {"priority": "", "requested_ac\u{212a}": 1}}),
        ];
        for p in refused {
            kind(validate(&obj(p.clone()), 1000));
        }
        assert!(validate(
            &obj(json!({"Text": "x", "PRIORITY": {"Priority": "urgent"}})),
            1000
        )
        .is_ok());
    }

    #[test]
    fn errors_never_echo_a_value_long_enough_to_be_a_token() {
        let token = "pq3wxk8bmjsyr9cn5ue7tdo1ha";
        for p in [
            json!({"text": "x", "type": token}),
            json!({"text": "x", "type": format!("system_{token}")}),
            json!({"text": "x", token: 1, token.to_uppercase(): 2}),
        ] {
            let msg = kind(validate(&obj(p), 1000));
            assert!(!msg.to_lowercase().contains(token), "{msg}");
        }
        let msg = kind(validate(
            &obj(json!({"text": "x", "type": "system_x"})),
            1000,
        ));
        assert!(msg.contains("`system_x`"), "{msg}");
    }

    #[test]
    fn keys_differing_only_by_case_are_ambiguous() {
        for p in [
            json!({"text": "a", "TEXT": "b"}),
            json!({"text": "a", "x_Custom": 1, "X_CUSTOM": 2}),
            json!({"text": "a", "attachments": [{"title": "t", "Title": "u"}]}),
            json!({"text": "a", "attachments": [{"fields": [{"short": true, "\u{17f}hort": false}]}]}),
            json!({"text": "a", "priority": {"priority": "", "Priority": "urgent"}}),
        ] {
            assert!(
                kind(validate(&obj(p.clone()), 1000)).contains("ambiguous key"),
                "{p}"
            );
        }
        // Props are a map with exact keys: both survive on the server.
        assert!(validate(&obj(json!({"text": "a", "props": {"k": 1, "K": 2}})), 1000).is_ok());
    }

    #[test]
    fn canonical_names_and_the_body_keeps_the_spelling() {
        let mut o =
            obj(json!({"TEXT": "t", "Attachments": [{"Fields": [{"Short": true}]}], "Extra": 1}));
        let body = validate(&o, 1000).unwrap();
        assert!(String::from_utf8(body).unwrap().contains("\"TEXT\""));
        canonicalize(&mut o).unwrap();
        assert_eq!(
            Value::Object(o),
            json!({"text": "t", "attachments": [{"fields": [{"short": true}]}], "Extra": 1})
        );
    }

    #[test]
    fn empty_or_null_attachments_are_none() {
        for p in [
            json!({"attachments": []}),
            json!({"attachments": [null]}),
            json!({"text": "", "attachments": [null, null]}),
        ] {
            assert!(kind(validate(&obj(p), 1000)).contains("nothing to post"));
        }
    }

    #[test]
    fn props_are_counted_as_go_marshals_them() {
        assert_eq!(
            go_json_chars(&json!({"a": "<&>"})),
            r#"{"a":"\u003c\u0026\u003e"}"#.len()
        );
        assert_eq!(go_json_chars(&json!("\u{2028}é\n\u{1}")), 2 + 6 + 1 + 2 + 6);
        assert_eq!(
            go_json_chars(&json!([1.0, 1_000_000, 1e21, 1e-7, null, true])),
            "[1,1000000,1e+21,1e-07,null,true]".len() - 1
        );
        assert_eq!(go_number(1e-7), "1e-7");
        assert_eq!(go_number(1.5e300), "1.5e+300");
        assert_eq!(go_number(-0.25), "-0.25");
        // Under the limit by serde's count, over it by the server's.
        let n = MAX_PROPS_CHARS / 6 + 10;
        let props = json!({"text": "x", "props": {"k": "<".repeat(n)}});
        assert!(serde_json::to_string(&props["props"]).unwrap().len() < MAX_PROPS_CHARS);
        assert!(kind(validate(&obj(props), 10_000_000)).contains("6 each"));
        let ok = json!({"text": "x", "props": {"k": "<".repeat(MAX_PROPS_CHARS / 6 - 10)}});
        assert!(validate(&obj(ok), 10_000_000).is_ok());
    }

    #[test]
    fn persistent_notifications_need_urgent_and_someone_to_notify() {
        let p = |prio: &str, text: &str| json!({"text": text, "priority": {"priority": prio, "persistent_notifications": true}});
        assert!(validate(&obj(p("urgent", "db down @alice")), 1000).is_ok());
        assert!(validate(&obj(p("urgent", "<@alice> look")), 1000).is_ok());
        for bad in [
            p("important", "db down @alice"),
            p("", "@alice"),
            p("urgent", "db down"),
            p("urgent", "mail ops@example.com"),
            p("urgent", "@channel @here @all"),
            p("urgent", "@ alone"),
        ] {
            assert!(
                kind(validate(&obj(bad.clone()), 1000)).contains("persistent"),
                "{bad}"
            );
        }
        let dm = json!({"text": "x", "channel": "@bob", "priority": {"priority": "urgent", "persistent_notifications": true}});
        assert!(validate(&obj(dm), 1000).is_ok());
        let off =
            json!({"text": "x", "priority": {"priority": "", "persistent_notifications": false}});
        assert!(validate(&obj(off), 1000).is_ok());
        let silent = json!({"text": "@a", "silent": true, "priority": {"priority": "urgent", "persistent_notifications": true}});
        assert!(kind(validate(&obj(silent), 1000)).contains("silent"));
    }

    #[test]
    fn suspects_name_what_only_the_server_can_check() {
        let s = |v: Value| suspects(v.to_string().as_bytes());
        assert!(s(json!({"text": "plain"})).is_empty());
        assert!(suspects(b"not json").is_empty());
        let all = s(json!({
            "text": "@a", "Channel": "@ghost", "root_id": "r", "x_new": 1,
            "priority": {"priority": "urgent", "persistent_notifications": true},
            "props": {"k": "&".repeat(MAX_PROPS_CHARS / 6)},
            "attachments": [{"actions": [], "x_att": 2}]
        }))
        .join("; ");
        for needle in [
            "`@ghost`",
            "persistent",
            "close to",
            "root_id",
            "actions",
            "`x_new`",
            "attachment `x_att`",
        ] {
            assert!(all.contains(needle), "{needle} in {all}");
        }
    }

    #[test]
    fn size_limits() {
        let big = "x".repeat(2000);
        assert!(kind(validate(&obj(json!({"text": big})), 1000)).contains("over the limit"));
        let props = json!({"text": "x", "props": {"k": "y".repeat(MAX_PROPS_CHARS)}});
        assert!(kind(validate(&obj(props), 10_000_000)).contains("props are"));
    }

    fn typed(v: Value) -> Payload {
        Payload::from_object(obj(v)).unwrap()
    }

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        let mut o = typed(json!({"text": "é".repeat(MAX_POST_CHARS + 5)}));
        assert!(o.truncate_text());
        let t = o.text.typed().unwrap();
        assert_eq!(t.chars().count(), MAX_POST_CHARS);
        assert!(t.ends_with(TRUNCATION_MARKER));
        let mut short = typed(json!({"text": "é".repeat(MAX_POST_CHARS)}));
        assert!(!short.truncate_text());
    }

    #[test]
    fn fallbacks_are_derived() {
        let mut o = typed(json!({"attachments": [
            {"title": "Deploy"},
            {"fields": [{"title": "Env", "value": "prod"}]},
            {"color": "good"},
            {"fallback": "given", "title": "t"}
        ]}));
        o.ensure_fallbacks();
        let o = Value::Object(o.to_object().unwrap());
        let a = o["attachments"].as_array().unwrap();
        assert_eq!(a[0]["fallback"], "Deploy");
        assert_eq!(a[1]["fallback"], "Env: prod");
        assert_eq!(a[2]["fallback"], "attachment");
        assert_eq!(a[3]["fallback"], "given");
    }

    #[test]
    fn requested_ack_without_priority() {
        let mut o = Payload::default();
        let route = Route {
            requested_ack: true,
            ..Default::default()
        };
        o.apply_route(&route);
        assert_eq!(
            Value::Object(o.to_object().unwrap())["priority"],
            json!({"priority": "", "requested_ack": true})
        );
    }

    #[test]
    fn bounded_reads() {
        assert_eq!(
            read_text_bounded(&b"hello"[..], 5, "stdin").unwrap(),
            "hello"
        );
        let e = read_text_bounded(&b"hello!"[..], 5, "stdin").unwrap_err();
        assert_eq!(error::exit_kind(&e), error::ExitKind::Input);
        let e = read_text_bounded(&b"a\xffb"[..], 5, "stdin").unwrap_err();
        assert!(format!("{e:#}").contains("UTF-8"));
    }

    #[test]
    fn prop_values_must_be_json() {
        assert_eq!(prop_value("k", "{\"a\":1}").unwrap(), json!({"a": 1}));
        let e = prop_value("k", "not json").unwrap_err();
        assert_eq!(error::exit_kind(&e), error::ExitKind::Input);
    }
}
