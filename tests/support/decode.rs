//! How the emulated server turns a JSON body into an `IncomingWebhookRequest`: Go's
//! `encoding/json` semantics (first value only, strict member types, keys matched with
//! Unicode case folding, unknown keys ignored), the server's rescue pass for raw control
//! characters, and the type checks of attachments and their fields. Kept apart from
//! `mattermost.rs` so that file reads as the handler's order of checks; the § numbers
//! are those of `docs/mattermost-server.md`.

use serde_json::{Map, Value};

/// The decoded `IncomingWebhookRequest` (§3), keys matched case-insensitively.
#[derive(Default, Debug)]
pub(super) struct Payload {
    pub(super) text: String,
    pub(super) username: String,
    pub(super) icon_url: String,
    pub(super) icon_emoji: String,
    pub(super) channel: String,
    pub(super) post_type: String,
    pub(super) props: Option<Map<String, Value>>,
    pub(super) attachments: Option<Vec<Value>>,
    pub(super) priority: Option<Value>,
}

/// `model.IncomingWebhookRequestFromJSON` (§2.3): first value only, strict types,
/// and a second try with raw newlines/tabs escaped.
pub(super) fn decode_payload(bytes: &[u8]) -> Result<Payload, String> {
    // Go replaces invalid UTF-8 instead of failing.
    let text = String::from_utf8_lossy(bytes);
    let first = |s: &str| -> Result<Value, String> {
        match serde_json::Deserializer::from_str(s)
            .into_iter::<Value>()
            .next()
        {
            None => Err("EOF".into()),
            Some(r) => r.map_err(|e| e.to_string()),
        }
    };
    let value = match first(&text) {
        Ok(v) => v,
        Err(e) => first(&escape_control_chars(&text)).map_err(|_| e)?,
    };
    let obj = match value {
        Value::Null => return Ok(Payload::default()),
        Value::Object(o) => o,
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type model.IncomingWebhookRequest",
                kind(&other)
            ))
        }
    };
    let mut p = Payload::default();
    for (key, v) in obj {
        let k = go_fold(&key);
        let string_field = match k.as_str() {
            "text" => Some(&mut p.text),
            "username" => Some(&mut p.username),
            "icon_url" => Some(&mut p.icon_url),
            "icon_emoji" => Some(&mut p.icon_emoji),
            "channel" => Some(&mut p.channel),
            "type" => Some(&mut p.post_type),
            _ => None,
        };
        if let Some(slot) = string_field {
            match v {
                Value::String(s) => *slot = s,
                Value::Null => {}
                other => return Err(type_err(&key, &other, "string")),
            }
            continue;
        }
        match k.as_str() {
            "props" => match v {
                Value::Object(m) => p.props = Some(m),
                Value::Null => {}
                other => return Err(type_err(&key, &other, "model.StringInterface")),
            },
            "attachments" => match v {
                Value::Array(items) => {
                    let mut list = Vec::new();
                    for item in items {
                        match item {
                            Value::Null => {}
                            Value::Object(_) => list.push(check_attachment(item)?),
                            other => return Err(type_err(&key, &other, "model.SlackAttachment")),
                        }
                    }
                    // The rebuilt list is nil when no attachment is left (§4 step 2).
                    p.attachments = (!list.is_empty()).then_some(list);
                }
                Value::Null => {}
                other => return Err(type_err(&key, &other, "[]*model.SlackAttachment")),
            },
            "priority" => match v {
                Value::Object(_) => {
                    for (member, want) in [
                        ("priority", "string"),
                        ("requested_ack", "bool"),
                        ("persistent_notifications", "bool"),
                    ] {
                        match (get_ci(&v, member), want) {
                            (None | Some(Value::Null), _)
                            | (Some(Value::String(_)), "string")
                            | (Some(Value::Bool(_)), "bool") => {}
                            (Some(other), _) => return Err(type_err(member, other, want)),
                        }
                    }
                    p.priority = Some(v);
                }
                Value::Null => {}
                other => return Err(type_err(&key, &other, "model.PostPriority")),
            },
            _ => {} // unknown keys are ignored
        }
    }
    Ok(p)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_err(key: &str, v: &Value, want: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field .{key} of type {want}",
        kind(v)
    )
}

/// Members of `SlackAttachment` (§3).
const ATTACHMENT_MEMBERS: [&str; 17] = [
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

/// Type checks of `SlackAttachment` and its fields; nulls in `fields` are dropped and
/// known keys get their member names, as decoding into the struct does.
#[expect(
    clippy::match_same_arms,
    reason = "one arm per key and type, as Go decodes them"
)]
fn check_attachment(mut a: Value) -> Result<Value, String> {
    const STRINGS: [&str; 13] = [
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
    let obj = a.as_object_mut().ok_or("attachment is not an object")?;
    canonical_keys(obj, &ATTACHMENT_MEMBERS);
    for (key, v) in obj.iter_mut() {
        let k = go_fold(key);
        match (k.as_str(), &*v) {
            (_, Value::Null) if k != "fields" => {}
            (k, Value::String(_)) if STRINGS.contains(&k) => {}
            (k, other) if STRINGS.contains(&k) => return Err(type_err(key, other, "string")),
            ("id", Value::Number(n)) if n.is_i64() || n.is_u64() => {}
            ("id", other) => return Err(type_err(key, other, "int64")),
            ("actions", Value::Array(_)) => {}
            ("actions", other) => return Err(type_err(key, other, "[]*model.PostAction")),
            ("fields", Value::Null) => {}
            ("fields", Value::Array(_)) => {
                let Value::Array(fields) = v else {
                    unreachable!()
                };
                fields.retain(|f| !f.is_null());
                for f in fields.iter_mut() {
                    if let Some(f) = f.as_object_mut() {
                        canonical_keys(f, &["title", "value", "short"]);
                    }
                    check_field(f)?;
                }
            }
            ("fields", other) => return Err(type_err(key, other, "[]*model.SlackAttachmentField")),
            _ => {} // ts is `interface{}`; unknown keys are ignored
        }
    }
    Ok(a)
}

#[expect(
    clippy::match_same_arms,
    reason = "one arm per key and type, as Go decodes them"
)]
fn check_field(f: &Value) -> Result<(), String> {
    let obj = f
        .as_object()
        .ok_or_else(|| type_err("fields", f, "model.SlackAttachmentField"))?;
    for (key, v) in obj {
        match (go_fold(key).as_str(), v) {
            ("title", Value::String(_) | Value::Null) => {}
            ("title", other) => return Err(type_err(key, other, "string")),
            // SlackCompatibleBool: true/false or the strings "true"/"false"; null fails.
            ("short", Value::Bool(_)) => {}
            ("short", Value::String(s))
                if matches!(s.to_ascii_lowercase().as_str(), "true" | "false") => {}
            ("short", other) => {
                return Err(format!("unmarshal: unable to convert {other} to bool"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The rescue pass of `IncomingWebhookRequestFromJSON` (§2.3): the server's regex
/// `(?s)"(text|fallback|pretext|author_name|title|value)"\s*:\s*"(.*?[^\\])"` (keys in
/// exact lower case), with raw newlines and tabs escaped inside each whole match (so a tab
/// between the colon and the value breaks the JSON, as it does there). Other keys,
/// other spellings of these and other control characters are not rescued.
fn escape_control_chars(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() + 16);
    let mut i = 0;
    while i < b.len() {
        if let Some(end) = rescue_match(b, i) {
            for &c in &b[i..end] {
                match c {
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    c => out.push(c),
                }
            }
            i = end;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The end (after the closing quote) of a rescue-regex match starting at `i`, if any.
fn rescue_match(b: &[u8], i: usize) -> Option<usize> {
    const KEYS: [&str; 6] = [
        "text",
        "fallback",
        "pretext",
        "author_name",
        "title",
        "value",
    ];
    if b[i] != b'"' {
        return None;
    }
    // RE2 `\s`: tab, newline, form feed, carriage return, space.
    let skip_ws = |mut j: usize| {
        while j < b.len() && matches!(b[j], b'\t' | b'\n' | 0x0c | b'\r' | b' ') {
            j += 1;
        }
        j
    };
    let key = KEYS.iter().find(|k| {
        let k = k.as_bytes();
        b[i + 1..].starts_with(k) && b.get(i + 1 + k.len()) == Some(&b'"')
    })?;
    let mut j = skip_ws(i + key.len() + 2);
    if b.get(j) != Some(&b':') {
        return None;
    }
    j = skip_ws(j + 1);
    if b.get(j) != Some(&b'"') {
        return None;
    }
    let start = j + 1;
    // `.*?[^\\]"`: the shortest run of at least one byte whose last is not a backslash,
    // followed by a quote.
    (start + 1..b.len())
        .find(|&k| b[k] == b'"' && b[k - 1] != b'\\')
        .map(|k| k + 1)
}

/// A member of a decoded object, its key matched the way Go matches struct members.
pub(super) fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(key)
        .or_else(|| obj.iter().find(|(k, _)| go_fold(k) == key).map(|(_, v)| v))
}

/// Go `encoding/json` matches keys to struct members with Unicode simple case folding
/// (`bytes.EqualFold`), so `TEXT`, `ſhort` (long s) and `acK` (Kelvin sign) all match.
/// Returns the folded key, to compare with a lower-case member name.
pub fn go_fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{17f}' => 's',
            '\u{212a}' => 'k',
            c if c.is_ascii() => c.to_ascii_lowercase(),
            c => {
                let mut l = c.to_lowercase();
                match (l.next(), l.next()) {
                    (Some(l), None) => l,
                    _ => c,
                }
            }
        })
        .collect()
}

/// Renames the keys of a struct-decoded object that match `members` to the member name,
/// as decoding into the struct would. Keys that differ only by case collapse into one; Go
/// keeps the last in document order, this (sorted) map the last in key order.
fn canonical_keys(obj: &mut Map<String, Value>, members: &[&str]) {
    let keys: Vec<String> = obj.keys().cloned().collect();
    for k in keys {
        let folded = go_fold(&k);
        if let Some(m) = members.iter().find(|m| **m == folded && **m != k) {
            if let Some(v) = obj.remove(&k) {
                // Go: null leaves a string member as it was.
                if !(v.is_null() && obj.contains_key(*m)) {
                    obj.insert(m.to_string(), v);
                }
            }
        }
    }
}
