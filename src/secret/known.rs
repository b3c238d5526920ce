//! The webhook tokens this process holds in the clear, so that the writers of stdout and
//! stderr (and the spool) can find them anywhere, also bare, with no `/hooks/` in front: a
//! token pasted into `--branch`, a field of an event, or a spool file's name. Hook ids
//! after `/hooks/` are caught whichever webhook they open; a bare run of 26 id characters
//! is only known to be a secret when it is one of these.

use std::borrow::Cow;
use std::sync::{Mutex, PoisonError};

use crate::secret::scrub_hook_ids;

/// Filled by [`crate::secret::WebhookUrl::parse`], the one way to hold a webhook: a
/// process resolves one or a few, so a list is enough.
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a token (26 id characters) for [`scrub_secrets`].
pub(crate) fn remember(token: &str) {
    let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
    if !known.iter().any(|t| t == token) {
        known.push(token.to_string());
    }
}

/// `text` with every token this process holds shortened to `…LAST4` (as
/// [`crate::secret::redact_id_runs`] shows a bare id) and every `/hooks/<id>` redacted.
/// Borrowed when there was nothing to take out.
pub(crate) fn scrub_secrets(text: &str) -> Cow<'_, str> {
    let known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = Cow::Borrowed(text);
    for token in known.iter().filter(|t| text.contains(t.as_str())) {
        let last4 = &token[token.len().saturating_sub(4)..];
        out = Cow::Owned(out.replace(token.as_str(), &format!("…{last4}")));
    }
    drop(known);
    match out {
        Cow::Borrowed(t) => scrub_hook_ids(t),
        Cow::Owned(t) => Cow::Owned(scrub_hook_ids(&t).into_owned()),
    }
}

/// [`scrub_secrets`] for a line that may be JSON (an outcome, a dry run's payload, a
/// dead-letter copy of an event): each string in it (keys too) is scrubbed as the text it
/// stands for, and the line written again only when one changed. Scrubbed as JSON text,
/// an escape before an id (`/hooks\n<id>`: a newline in the string) would lose its letter
/// to the id, and the line would no longer be JSON. A line that is not JSON is scrubbed
/// as text.
pub(crate) fn scrub_secrets_json(line: &str) -> Cow<'_, str> {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(line) else {
        return scrub_secrets(line);
    };
    if scrub_strings(&mut value) {
        Cow::Owned(value.to_string())
    } else {
        Cow::Borrowed(line)
    }
}

/// Scrubs every string of `value` in place; true when one changed.
fn scrub_strings(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => match scrub_secrets(s) {
            Cow::Owned(clean) => {
                *s = clean;
                true
            }
            Cow::Borrowed(_) => false,
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| scrub_strings(item) | changed),
        Value::Object(map) => {
            let mut changed = false;
            for (key, mut item) in std::mem::take(map) {
                changed |= scrub_strings(&mut item);
                let clean = scrub_secrets(&key);
                changed |= matches!(clean, Cow::Owned(_));
                map.insert(clean.into_owned(), item);
            }
            changed
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Whether `text` holds a token this process holds or any `/hooks/<id>`: such text is
/// never written to disk.
pub(crate) fn holds_secret(text: &str) -> bool {
    matches!(scrub_secrets(text), Cow::Owned(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_tokens_are_taken_out_bare_and_hook_ids_everywhere() {
        // Unit tests share the process: a token of this test's own.
        let token = "k7wq2m9xz4bn8vc3ld6fh1tj5r";
        remember(token);
        remember(token);
        let other = "pq3wxk8bmjsyr9cn5ue7tdo1ha";
        let text = format!("branch {token}; see https://x/hooks/{other}");
        assert_eq!(
            scrub_secrets(&text),
            "branch …tj5r; see https://x/hooks/…o1ha"
        );
        assert!(holds_secret(token) && holds_secret(&format!("/hooks/{other}")));
        for clean in [
            "",
            "plain words",
            "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2",
        ] {
            assert!(matches!(scrub_secrets(clean), Cow::Borrowed(_)), "{clean}");
            assert!(!holds_secret(clean));
        }
    }
}
