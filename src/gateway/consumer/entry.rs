//! Reading a stream entry: its `event` field, or, for an entry without one, the whole
//! entry as the text its dead-letter copy keeps.

use redis::streams::StreamId;

use crate::gateway::queue::EVENT_FIELD;
use crate::pipeline::build::MAX_EVENT_BYTES;

/// The event text, or why the entry holds none; and the text a dead-letter copy keeps.
pub(super) fn decode(entry: &StreamId) -> (Result<String, String>, String) {
    // No builder enqueues more than an event's limit: a larger entry was planted. It is
    // refused before any copy of it is made (each copy of a 50 MB entry cost 50 MB more,
    // past the unit's MemoryMax), and its dead-letter copy keeps only its size.
    let size: usize = entry.map.values().map(value_len).sum();
    if size > MAX_EVENT_BYTES {
        let why = format!(
            "the entry holds {size} bytes, more than any event a builder enqueues \
             ({MAX_EVENT_BYTES} at most): not read"
        );
        let note = serde_json::json!({ "not_kept": format!("{size} bytes") }).to_string();
        return (Err(why), note);
    }
    let Some(text) = field(entry, EVENT_FIELD) else {
        let why = format!("the entry has no `{EVENT_FIELD}` field");
        return (Err(why), whole_entry(entry));
    };
    // As `--events` does for a line: bytes that are not UTF-8 are refused, not
    // posted with replacement characters.
    let not_utf8 = matches!(entry.map.get(EVENT_FIELD),
        Some(redis::Value::BulkString(b)) if std::str::from_utf8(b).is_err());
    if not_utf8 {
        let why = format!("the `{EVENT_FIELD}` field is not valid UTF-8");
        return (Err(why), text);
    }
    (Ok(text.clone()), text)
}

/// The bytes a field's value holds (a nested reply counts its parts).
fn value_len(v: &redis::Value) -> usize {
    match v {
        redis::Value::BulkString(b) => b.len(),
        redis::Value::SimpleString(s) => s.len(),
        redis::Value::Array(a) | redis::Value::Set(a) => a.iter().map(value_len).sum(),
        _ => 16,
    }
}

fn field(entry: &StreamId, name: &str) -> Option<String> {
    entry.map.get(name).and_then(value_text)
}

fn value_text(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// An entry without an `event` field goes to the dead-letter stream whole, as JSON.
fn whole_entry(entry: &StreamId) -> String {
    let mut m = serde_json::Map::new();
    let mut keys: Vec<_> = entry.map.keys().collect();
    keys.sort();
    for k in keys {
        let v = entry.map.get(k).and_then(value_text).unwrap_or_default();
        m.insert(k.clone(), serde_json::Value::String(v));
    }
    serde_json::Value::Object(m).to_string()
}
