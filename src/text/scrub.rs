//! Redaction of hook ids in text mmnotify did not write itself (a job's output, its
//! command line): any `/hooks/<id>` is a bearer credential, whichever webhook it opens.

use std::borrow::Cow;

/// A Mattermost id: 26 characters of `[a-z0-9]`.
const ID_LEN: usize = 26;

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// The length of a path separator at the start of `b`: `/`, a Windows `\`, or a
/// percent-encoded `%2F` (a URL pasted through an encoder still opens the hook).
fn separator_len(b: &[u8]) -> Option<usize> {
    match b {
        [b'/' | b'\\', ..] => Some(1),
        [b'%', b'2', b'f' | b'F', ..] => Some(3),
        _ => None,
    }
}

/// Where the id starts if `hooks` (any case) at `at` is framed by separators.
fn id_start_after(bytes: &[u8], at: usize) -> Option<usize> {
    let before = (1..=3)
        .filter_map(|n| at.checked_sub(n))
        .any(|s| separator_len(&bytes[s..at]) == Some(at - s));
    if !before {
        return None;
    }
    let after = at + "hooks".len();
    separator_len(&bytes[after..]).map(|n| after + n)
}

/// Replaces every `/hooks/<26 [a-z0-9]>` with `/hooks/…LAST4`, the redacted form of the
/// contract. A longer run of id characters is redacted whole: it may be an id with
/// something glued to it, and showing its head would show the token. The marker is
/// matched in any case and with `\\` or `%2F` separators too: a mangled URL still
/// carries the token.
pub fn scrub_hook_ids(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let lower = text.to_ascii_lowercase();
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("hooks") {
        let at = search + found;
        search = at + "hooks".len();
        let Some(id_start) = id_start_after(bytes, at) else {
            continue;
        };
        let id_len = bytes[id_start..]
            .iter()
            .take_while(|b| is_id_byte(**b))
            .count();
        if id_len >= ID_LEN {
            let id_end = id_start + id_len;
            out.push_str(&text[copied..id_start]);
            out.push('…');
            out.push_str(&text[id_end - 4..id_end]);
            copied = id_end;
            search = id_end;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Shortens every run of 26 or more id characters to `…LAST4`, with or without a
/// `/hooks/` in front. For messages that quote a value the user gave (a payload `type`, an
/// event field, a rejected flag value): a bare token pasted in the wrong place looks like
/// any other word, and such values are names, never ids, so nothing useful is lost.
pub fn redact_id_runs(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|b| is_id_byte(**b)).count();
        if run >= ID_LEN {
            out.push_str(&text[copied..i]);
            out.push('…');
            out.push_str(&text[i + run - 4..i + run]);
            copied = i + run;
        }
        i += run.max(1);
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The start of text that was cut off at its front (a long output line keeping its end).
/// The cut may have landed inside `…/hooks/<id>`, leaving `oks/<id>` or the id's last
/// characters, which no scrubbing can recognise any more: the run of id characters and
/// slashes at the edge is a fragment of a word anyway, so it goes. A longer run than
/// `hooks/<id>` cannot be such a fragment and is kept.
pub(crate) fn after_cut(text: &str) -> &str {
    let rest = text.trim_start_matches(|c: char| is_id_byte_char(c) || c == '/');
    if text.len() - rest.len() <= "hooks/".len() + ID_LEN {
        rest
    } else {
        text
    }
}

fn is_id_byte_char(c: char) -> bool {
    c.is_ascii() && is_id_byte(c as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_id_runs_in_quoted_values() {
        assert_eq!(
            redact_id_runs(&format!("found `system_{ID}` é")),
            "found `system_…o1ha` é"
        );
        assert_eq!(
            redact_id_runs(&format!("\"{ID}\" and {OTHER}x")),
            "\"…o1ha\" and …r5ax"
        );
        for text in ["system_join_channel", "short words only", "é", ""] {
            assert!(matches!(redact_id_runs(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn a_cut_never_starts_inside_a_hook_id() {
        for cut in [
            ID[5..].to_string(),
            format!("oks/{ID}"),
            format!("s/{ID}"),
            format!("/{ID}"),
        ] {
            let text = format!("{cut} done");
            assert_eq!(after_cut(&text), " done", "{cut}");
        }
        assert_eq!(after_cut("é→ stays"), "é→ stays");
        assert_eq!(after_cut("Done."), "Done.");
        let long_run = "a".repeat(40) + " x";
        assert_eq!(after_cut(&long_run), long_run);
    }

    const ID: &str = "pq3wxk8bmjsyr9cn5ue7tdo1ha";
    const OTHER: &str = "ebq8x1wd7oy3nhfkm4gs9ctr5a";

    #[test]
    fn every_hook_id_is_redacted() {
        let text = format!(
            "url=https://chat.example.com/hooks/{ID} and http://[::1]:9/x/hooks/{OTHER}.\n"
        );
        let clean = scrub_hook_ids(&text);
        assert!(!clean.contains(ID) && !clean.contains(OTHER), "{clean}");
        assert_eq!(
            clean,
            "url=https://chat.example.com/hooks/…o1ha and http://[::1]:9/x/hooks/…tr5a.\n"
        );
    }

    #[test]
    fn text_without_ids_is_borrowed_unchanged() {
        for text in [
            "plain",
            "/hooks/",
            "/hooks/short",
            "/hooks/ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "see /hooks/ and /hooks/x",
        ] {
            assert!(matches!(scrub_hook_ids(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn longer_runs_and_repeated_markers() {
        let glued = format!("/hooks/{ID}abc");
        assert_eq!(scrub_hook_ids(&glued), "/hooks/…aabc");
        let twice = format!("/hooks//hooks/{ID}");
        assert_eq!(scrub_hook_ids(&twice), "/hooks//hooks/…o1ha");
        let back_to_back = format!("/hooks/{ID}/hooks/{OTHER}");
        assert_eq!(scrub_hook_ids(&back_to_back), "/hooks/…o1ha/hooks/…tr5a");
    }

    #[test]
    fn mangled_markers_are_recognised() {
        for text in [
            format!("https%3A%2F%2Fchat.example.com%2Fhooks%2F{ID}"),
            format!("x%2fHOOKS%2f{ID}"),
            format!("chat.example.com/Hooks/{ID}"),
            format!("chat.example.com\\hooks\\{ID}"),
            format!("/hooks%2F{ID}"),
        ] {
            let clean = scrub_hook_ids(&text);
            assert!(!clean.contains(ID) && clean.ends_with("…o1ha"), "{clean}");
        }
        for text in ["hooks", "webhooks/x", "%2Fhooks", "/hooks%2"] {
            assert!(matches!(scrub_hook_ids(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn multibyte_text_around_ids_survives() {
        let text = format!("é→/hooks/{ID}←ü");
        assert_eq!(scrub_hook_ids(&text), "é→/hooks/…o1ha←ü");
    }
}
