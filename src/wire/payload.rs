//! The webhook JSON: built from flags and files, checked the way the server would check it
//! (and a little stricter), and cut to one post unless the user asked for a split.

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use crate::cli::{AttachmentArgs, RouteArgs};
use crate::error;

/// One Mattermost post holds this many Unicode scalar values (`PostMessageMaxRunesV2`).
pub const MAX_POST_CHARS: usize = 16383;
/// Props above this many characters are refused by the server (`PostPropsMaxUserRunes`).
pub const MAX_PROPS_CHARS: usize = 760_000;
pub const TRUNCATION_MARKER: &str = "… (truncated)";

/// Applies channel, username, icon and priority flags to a payload object.
pub fn apply_route(obj: &mut Map<String, Value>, route: &RouteArgs) {
    let set = |obj: &mut Map<String, Value>, key: &str, v: &Option<String>| {
        if let Some(v) = v {
            obj.insert(key.to_string(), Value::String(v.clone()));
        }
    };
    set(obj, "channel", &route.channel);
    set(obj, "username", &route.username);
    set(obj, "icon_url", &route.icon_url);
    set(obj, "icon_emoji", &route.icon_emoji);
    if route.priority.is_some() || route.requested_ack {
        let mut p = Map::new();
        p.insert(
            "priority".into(),
            Value::String(route.priority.map(|p| p.as_str()).unwrap_or("").into()),
        );
        if route.requested_ack {
            p.insert("requested_ack".into(), Value::Bool(true));
        }
        obj.insert("priority".into(), Value::Object(p));
    }
}

/// Builds the one attachment described by the attachment flags, or None without any.
pub fn attachment_from_args(a: &AttachmentArgs) -> Option<Value> {
    if a.is_empty() {
        return None;
    }
    let mut m = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_string(), Value::String(v.clone()));
        }
    };
    put("color", &a.color);
    put("title", &a.title);
    put("title_link", &a.title_link);
    put("pretext", &a.pretext);
    put("text", &a.attachment_text);
    put("footer", &a.footer);
    put("image_url", &a.image_url);
    put("thumb_url", &a.thumb_url);
    let fields: Vec<Value> = a
        .field
        .iter()
        .map(|f| (f, false))
        .chain(a.field_short.iter().map(|f| (f, true)))
        .map(|((title, value), short)| {
            serde_json::json!({"title": title, "value": value, "short": short})
        })
        .collect();
    if !fields.is_empty() {
        m.insert("fields".into(), Value::Array(fields));
    }
    Some(Value::Object(m))
}

/// Mobile clients show an attachment-only post as empty unless each attachment carries a
/// fallback, so derive one from what the attachment shows.
pub fn ensure_fallbacks(obj: &mut Map<String, Value>) {
    let Some(Value::Array(atts)) = obj.get_mut("attachments") else {
        return;
    };
    for att in atts.iter_mut() {
        let Value::Object(a) = att else { continue };
        let has = a
            .get("fallback")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty());
        if has {
            continue;
        }
        let pick = ["title", "pretext", "text", "footer"]
            .iter()
            .find_map(|k| {
                a.get(*k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
            })
            .map(str::to_string)
            .or_else(|| {
                a.get("fields").and_then(Value::as_array).and_then(|fs| {
                    let parts: Vec<String> = fs
                        .iter()
                        .filter_map(|f| {
                            let t = f.get("title")?.as_str()?;
                            let v = match f.get("value")? {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            Some(format!("{t}: {v}"))
                        })
                        .collect();
                    (!parts.is_empty()).then(|| parts.join(", "))
                })
            })
            .unwrap_or_else(|| "attachment".to_string());
        a.insert("fallback".into(), Value::String(first_line(&pick, 300)));
    }
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    line.chars().take(max).collect()
}

/// Cuts text longer than one post on a character boundary and marks the cut. Returns
/// whether anything was cut.
pub fn truncate_text(obj: &mut Map<String, Value>) -> bool {
    let Some(Value::String(text)) = obj.get_mut("text") else {
        return false;
    };
    if text.chars().count() <= MAX_POST_CHARS {
        return false;
    }
    let keep = MAX_POST_CHARS - TRUNCATION_MARKER.chars().count() - 1;
    let cut = text
        .char_indices()
        .nth(keep)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    text.truncate(cut);
    text.push('\n');
    text.push_str(TRUNCATION_MARKER);
    true
}

/// Parses a `--prop KEY=JSON` value.
pub fn prop_value(key: &str, raw: &str) -> Result<Value> {
    serde_json::from_str(raw).map_err(|e| {
        error::input(format!(
            "--prop {key}: the value is not valid JSON ({e}); quote strings, e.g. --prop \
             {key}='\"text\"'"
        ))
    })
}

/// Validates a payload as the server would, before anything is sent. Everything the
/// server would refuse with a 400 (or 500, for `type`) is exit 4 here instead.
pub fn validate(obj: &Map<String, Value>, max_bytes: usize) -> Result<Vec<u8>> {
    let text = match obj.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(error::input("`text` must be a string")),
    };
    for key in ["channel", "username", "icon_url", "icon_emoji", "type"] {
        match obj.get(key) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => return Err(error::input(format!("`{key}` must be a string"))),
        }
    }
    let attachments = match obj.get("attachments") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(error::input("`attachments` must be an array of objects")),
    };
    for (i, att) in attachments.iter().enumerate() {
        validate_attachment(i, att)?;
    }
    let has_text = text.is_some_and(|t| !t.trim().is_empty());
    let has_attachment = attachments.iter().any(Value::is_object);
    if !has_text && !has_attachment {
        return Err(error::input(
            "nothing to post: give a text (arguments, stdin or --payload) or an attachment",
        ));
    }
    if let Some(p) = obj.get("priority") {
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
                    if !matches!(m.get(key), None | Some(Value::Null) | Some(Value::Bool(_))) {
                        return Err(error::input(format!("`priority.{key}` must be a boolean")));
                    }
                }
            }
            _ => return Err(error::input("`priority` must be an object")),
        }
    }
    if let Some(Value::String(t)) = obj.get("type") {
        if !t.is_empty() && !t.starts_with("custom_") {
            return Err(error::input(format!(
                "`type` must be empty or start with custom_ (found `{}`)",
                t.escape_debug()
            )));
        }
    }
    match obj.get("props") {
        None | Some(Value::Null) => {}
        Some(props @ Value::Object(_)) => {
            let chars = props.to_string().chars().count();
            if chars > MAX_PROPS_CHARS {
                return Err(error::input(format!(
                    "props are {chars} characters of JSON; the server accepts at most \
                     {MAX_PROPS_CHARS}"
                )));
            }
        }
        Some(_) => return Err(error::input("`props` must be an object")),
    }
    let body = serde_json::to_vec(obj).context("serializing the payload")?;
    if body.len() > max_bytes {
        return Err(error::input(format!(
            "the payload is {} bytes, over the limit of {max_bytes} (--max-payload-bytes; \
             the server's MaximumPayloadSizeBytes): shorten the text or attachments",
            body.len()
        )));
    }
    Ok(body)
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
    for key in [
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
    ] {
        if !matches!(
            a.get(key),
            None | Some(Value::Null) | Some(Value::String(_))
        ) {
            return Err(error::input(format!(
                "attachment {}: `{key}` must be a string",
                i + 1
            )));
        }
    }
    Ok(())
}

/// Reads UTF-8 text with a size bound, so a runaway producer cannot exhaust memory.
pub fn read_text_bounded(reader: impl std::io::Read, limit: usize, what: &str) -> Result<String> {
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

    fn kind(r: Result<Vec<u8>>) -> String {
        let e = r.unwrap_err();
        assert_eq!(error::exit_kind(&e), error::ExitKind::Input);
        format!("{e:#}")
    }

    #[test]
    fn text_or_attachment_required() {
        assert!(kind(validate(&obj(json!({"text": "  \n"})), 1000)).contains("nothing to post"));
        assert!(validate(&obj(json!({"text": "hi"})), 1000).is_ok());
        assert!(validate(&obj(json!({"attachments": [{"text": "x"}]})), 1000).is_ok());
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
    fn size_limits() {
        let big = "x".repeat(2000);
        assert!(kind(validate(&obj(json!({"text": big})), 1000)).contains("over the limit"));
        let props = json!({"text": "x", "props": {"k": "y".repeat(MAX_PROPS_CHARS)}});
        assert!(kind(validate(&obj(props), 10_000_000)).contains("props are"));
    }

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        let mut o = obj(json!({"text": "é".repeat(MAX_POST_CHARS + 5)}));
        assert!(truncate_text(&mut o));
        let t = o["text"].as_str().unwrap();
        assert_eq!(t.chars().count(), MAX_POST_CHARS);
        assert!(t.ends_with(TRUNCATION_MARKER));
        let mut short = obj(json!({"text": "é".repeat(MAX_POST_CHARS)}));
        assert!(!truncate_text(&mut short));
    }

    #[test]
    fn fallbacks_are_derived() {
        let mut o = obj(json!({"attachments": [
            {"title": "Deploy"},
            {"fields": [{"title": "Env", "value": "prod"}]},
            {"color": "good"},
            {"fallback": "given", "title": "t"}
        ]}));
        ensure_fallbacks(&mut o);
        let a = o["attachments"].as_array().unwrap();
        assert_eq!(a[0]["fallback"], "Deploy");
        assert_eq!(a[1]["fallback"], "Env: prod");
        assert_eq!(a[2]["fallback"], "attachment");
        assert_eq!(a[3]["fallback"], "given");
    }

    #[test]
    fn requested_ack_without_priority() {
        let mut o = Map::new();
        let route = RouteArgs {
            requested_ack: true,
            ..Default::default()
        };
        apply_route(&mut o, &route);
        assert_eq!(
            Value::Object(o)["priority"],
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
