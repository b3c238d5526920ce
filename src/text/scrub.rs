//! Redaction of hook ids in text mmnotify did not write itself (a job's output, its
//! command line): any `/hooks/<id>` is a bearer credential, whichever webhook it opens.

use std::borrow::Cow;

/// A Mattermost id: 26 characters of `[a-z0-9]`.
const ID_LEN: usize = 26;

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// The length of one path separator at the start of `b`, in any of the spellings a URL
/// takes on its way through JSON, HTML or URL encoders, in any case: `/`, a Windows `\`,
/// `%2F` or `%5C` with its `%` encoded again any number of times (`%252F`, …), a
/// character reference (`&#47;`, `&#x2F;`, `&sol;`, the `;` optional, the `&` maybe
/// written `&amp;`), or an escape (`\u002f`, `\x2f`). A URL spelled any of these ways
/// still opens the hook once decoded.
fn separator_len(b: &[u8]) -> Option<usize> {
    match b.first()? {
        b'/' => Some(1),
        // `\/` (JSON's escaped slash) is a `\` and a `/`: two separators in a row.
        b'\\' => Some(1 + escape_len(&b[1..]).unwrap_or(0)),
        b'%' => percent_len(&b[1..]).map(|n| n + 1),
        b'&' => reference_len(&b[1..]).map(|n| n + 1),
        _ => None,
    }
}

/// What follows the `\` of `\u002f`, `\U0000002F` or `\x2f` (and of `\u005c`, …).
fn escape_len(b: &[u8]) -> Option<usize> {
    let digits = match b.first()? {
        b'u' => 4,
        b'U' => 8,
        b'x' | b'X' => 2,
        _ => return None,
    };
    let hex = b.get(1..=digits)?;
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let text = std::str::from_utf8(hex).ok()?;
    is_separator_code(u32::from_str_radix(text, 16).ok()?).then_some(1 + digits)
}

/// What follows the `%` of `%2F`, `%5C`, `%252F`, `%25252f`, …
fn percent_len(b: &[u8]) -> Option<usize> {
    let again = b.chunks_exact(2).take_while(|p| *p == b"25").count() * 2;
    let code = b.get(again..again + 2)?;
    (code.eq_ignore_ascii_case(b"2f") || code.eq_ignore_ascii_case(b"5c")).then_some(again + 2)
}

/// What follows the `&` of a character reference to `/` or `\`: `#47;`, `#047`,
/// `#x2F;`, `sol;`, `bsol;`, each maybe after `amp;`s (a reference encoded again).
fn reference_len(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while b.len() >= i + 4 && b[i..i + 4].eq_ignore_ascii_case(b"amp;") {
        i += 4;
    }
    let rest = &b[i..];
    for name in [&b"sol;"[..], b"bsol;"] {
        if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name) {
            return Some(i + name.len());
        }
    }
    if rest.first() != Some(&b'#') {
        return None;
    }
    let hex = matches!(rest.get(1), Some(b'x' | b'X'));
    let start = 1 + usize::from(hex);
    let digits = rest[start..]
        .iter()
        .take(8)
        .take_while(|d| {
            if hex {
                d.is_ascii_hexdigit()
            } else {
                d.is_ascii_digit()
            }
        })
        .count();
    let text = std::str::from_utf8(&rest[start..start + digits]).ok()?;
    let code = u32::from_str_radix(text, if hex { 16 } else { 10 }).ok()?;
    if !is_separator_code(code) {
        return None;
    }
    let end = start + digits;
    Some(i + end + usize::from(rest.get(end) == Some(&b';')))
}

fn is_separator_code(code: u32) -> bool {
    code == u32::from(b'/') || code == u32::from(b'\\')
}

/// The length of the run of separators at the start of `b` (`/`, `//`, `\/`, `%2F/`, …),
/// with any white space or control characters among or after them (a URL folded after
/// its slash, `/hooks/` and the id on the next line): 0 without a separator.
fn separators_len(b: &[u8]) -> usize {
    let mut i = 0;
    let mut seen = false;
    loop {
        if let Some(n) = separator_len(&b[i..]) {
            i += n;
            seen = true;
        } else if b
            .get(i)
            .is_some_and(|c| c.is_ascii_whitespace() || c.is_ascii_control())
        {
            i += 1;
        } else {
            break;
        }
    }
    if seen {
        i
    } else {
        0
    }
}

/// The longest single separator looked for in front of `hooks`: `&amp;amp;#x0002F;`
/// and shorter.
const MAX_SEPARATOR_LEN: usize = 32;

/// Where the id starts if `hooks` (any case) at `at` is framed by separators, or starts
/// a word and is followed by them: a relative reference (`hooks/<id>` in a `Location`,
/// `?next=hooks/<id>`) opens a hook of the server it is resolved against.
fn id_start_after(bytes: &[u8], at: usize) -> Option<usize> {
    let word_start = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
    let before = word_start
        || (1..=MAX_SEPARATOR_LEN)
            .filter_map(|n| at.checked_sub(n))
            .any(|s| separator_len(&bytes[s..]) == Some(at - s));
    if !before {
        return None;
    }
    let after = at + "hooks".len();
    match separators_len(&bytes[after..]) {
        0 => None,
        n => Some(after + n),
    }
}

/// Replaces every `/hooks/<26 [a-zA-Z0-9]>` with `/hooks/…LAST4`, the redacted form of the
/// contract. A longer run of id characters is redacted whole: it may be an id with
/// something glued to it, and showing its head would show the token. The marker is
/// matched in any case, with every spelling of its separators that [`separator_len`]
/// knows and with several in a row (`/hooks//ID`, `https:\/\/x\/hooks\/ID`): a
/// mangled URL still carries the token.
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
        // Ids are lower case, but a server on a case-insensitive MySQL collation finds
        // the hook by an upper-case spelling too: after the marker, either case counts.
        let id_len = bytes[id_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
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

/// The most a cut can leave of a hook URL before its id ends: a tail of `hooks` and of
/// its separators (`%252F`, `&#x2F;`, … and several in a row), then up to 25 characters
/// of the id itself.
const MAX_CUT_FRAGMENT: usize = 64;

/// What a hook URL is made of, in any of the spellings [`separator_len`] knows.
fn is_fragment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'\\' | b'%' | b'&' | b'#' | b';')
}

/// The start of text that was cut off at its front (a long output line keeping its end).
/// The cut may have landed inside `…/hooks/<id>`, leaving `oks/<id>` or the id's last
/// characters, which no scrubbing can recognise any more, even when more letters or digits
/// are glued to the id. So the first [`MAX_CUT_FRAGMENT`] characters of the run of URL
/// characters at the edge go (all of it when shorter): a fragment of a word anyway.
///
/// `text` must already have been through [`scrub_hook_ids`]: a whole hook URL further
/// into the run is then redacted (its `…` ends the run), so that dropping a fixed count
/// never makes a new cut through an id that was whole.
///
/// Separators can be longer than that (many slashes, `%252525…2F`, `&amp;amp;…#47;`): what
/// the cut left of them ends at the run's last byte that cannot be in an id (a capital or
/// punctuation), or after a run of the `25`s of an encoded-again `%` (and its `2f`), and
/// the id and the alphanumeric tail of an escape (`u002f`, `U0000002f`) go with them.
pub(crate) fn after_cut(text: &str) -> &str {
    let b = text.as_bytes();
    let run = b.iter().take_while(|c| is_fragment_byte(**c)).count();
    let mut lead = b[..run]
        .iter()
        .rposition(|c| !is_id_byte(*c))
        .map_or(0, |i| i + 1);
    // `%25252…2f` cut inside its `25`s has no byte outside an id.
    if b[lead..run].starts_with(b"52") {
        lead += 1;
    }
    while b[lead..run].starts_with(b"25") {
        lead += 2;
    }
    if b[lead..run].starts_with(b"2f") || b[lead..run].starts_with(b"5c") {
        lead += 2;
    }
    let drop = MAX_CUT_FRAGMENT.max(lead + ID_LEN + MAX_ESCAPE_TAIL);
    // The run is ASCII: any count of its bytes ends on a character boundary.
    &text[run.min(drop)..]
}

/// The longest alphanumeric end of a separator after its last punctuation: `U0000002f`.
const MAX_ESCAPE_TAIL: usize = 9;

/// The shortest piece of the configured token that is redacted at a gap: the redacted
/// form shows four characters anyway (and must not be taken for a piece itself).
const MIN_PIECE: usize = 5;

/// Characters a job can put between the token's characters while a reader (or a copy
/// and paste) still gets the token: white space and line breaks (`fold`), control
/// characters and the U+FFFD a report shows for them (a NUL), and invisible format
/// characters (zero-width space and joiners, soft hyphen, word joiner, BOM, variation
/// selectors, …): Unicode's `Default_Ignorable_Code_Point` set, which includes the tag
/// characters and variation selectors 17..256 at U+E0000.. (a reader sees none of them).
fn is_filler(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || crate::text::sanitize::is_default_ignorable(c)
        || matches!(c, '\u{FFF9}'..='\u{FFFD}')
}

/// The gaps of a text that is the end of something longer, each a byte range that
/// stands for output left out: its start, its end (output may have stopped mid-token),
/// the `marker` that starts every line whose front was cut, and every other line's start
/// (a carriage return makes a line start again, dropping what came before it on that
/// line, as a terminal shows it). Only there can a mere piece of the token be a cut
/// token; elsewhere it is a coincidence of short words.
pub(crate) fn tail_gaps(text: &str, marker: &str) -> Vec<std::ops::Range<usize>> {
    let mut gaps = Vec::new();
    let mut line_start = 0;
    for line in text.split('\n') {
        let cut = !marker.is_empty() && line.starts_with(marker);
        let gap_end = line_start + if cut { marker.len() } else { 0 };
        gaps.push(line_start..gap_end);
        line_start += line.len() + 1;
    }
    gaps.push(text.len()..text.len());
    gaps
}

/// The longest run of `token` that `text` starts with: where it is in the token, and its
/// length.
fn longest_piece_starting(text: &[u8], token: &[u8]) -> (usize, usize) {
    (0..token.len())
        .map(|at| {
            let len = token[at..]
                .iter()
                .zip(text)
                .take_while(|(a, b)| a == b)
                .count();
            (at, len)
        })
        .max_by_key(|&(_, len)| len)
        .unwrap_or((0, 0))
}

/// The longest run of `token` that `text` ends with: where it is in the token, and its
/// length.
fn longest_piece_ending(text: &[u8], token: &[u8]) -> (usize, usize) {
    (1..=token.len())
        .map(|end| {
            let len = token[..end]
                .iter()
                .rev()
                .zip(text.iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            (end - len, len)
        })
        .max_by_key(|&(_, len)| len)
        .unwrap_or((0, 0))
}

/// Redacts `token` (a lowercase Mattermost id) in `text` however it is broken up:
/// compared with the [`is_filler`] characters taken out and without regard to case, each
/// match mapped back to its span of the original text. A span becomes `…LAST4` and keeps
/// its line breaks, so that a token folded over lines costs no line of the text. At each
/// of `gaps` (see [`tail_gaps`]), a piece of the token of [`MIN_PIECE`] characters or more
/// that touches it goes too: the token's head just before a gap, its end just after, or
/// any run of it that the cuts left.
///
/// Linear in the text: one pass to take the fillers out, one substring search, and a
/// comparison with the token's 26 positions at each gap.
pub(crate) fn scrub_token<'a>(
    text: &'a str,
    token: &str,
    gaps: &[std::ops::Range<usize>],
) -> Cow<'a, str> {
    let n = token.len();
    if n < MIN_PIECE || !token.bytes().all(is_id_byte) {
        return Cow::Borrowed(text);
    }
    // The text without fillers, one byte per character (anything that cannot be in a
    // token as NUL, itself a filler), and where each of those characters starts.
    let mut compact = String::with_capacity(text.len());
    let mut starts = Vec::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if !is_filler(c) {
            compact.push(if c.is_ascii() {
                c.to_ascii_lowercase()
            } else {
                '\0'
            });
            starts.push(i);
        }
    }
    let end_of = |k: usize| starts[k] + text[starts[k]..].chars().next().map_or(0, char::len_utf8);
    let cb = compact.as_bytes();
    let tb = token.as_bytes();
    // (start, end, whether it shows as the token's last four)
    let mut spans: Vec<(usize, usize, bool)> = compact
        .match_indices(token)
        .map(|(k, _)| (starts[k], end_of(k + n - 1), true))
        .collect();
    for gap in gaps {
        let before = starts.partition_point(|&o| o < gap.start);
        let after = starts.partition_point(|&o| o < gap.end);
        // Any run of the token, not only its head or end: between two gaps (a line cut
        // at its front, then cut short by the next gap) its middle is all that is left.
        let (at, len) = longest_piece_ending(&cb[..before], tb);
        if len >= MIN_PIECE {
            spans.push((starts[before - len], end_of(before - 1), at + len == n));
        }
        let (at, len) = longest_piece_starting(&cb[after..], tb);
        if len >= MIN_PIECE {
            spans.push((starts[after], end_of(after + len - 1), at + len == n));
        }
    }
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable();
    let last4 = &token[n - 4..];
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < spans.len() {
        let (start, mut end, mut shows_end) = spans[i];
        i += 1;
        while i < spans.len() && spans[i].0 < end {
            end = end.max(spans[i].1);
            shows_end |= spans[i].2;
            i += 1;
        }
        let start = start.max(copied);
        out.push_str(&text[copied..start]);
        out.push('…');
        if shows_end {
            out.push_str(last4);
        }
        out.extend(text[start..end].chars().filter(|&c| c == '\n'));
        copied = end.max(copied);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Whether [`scrub_token`] without gaps would change `text`: the token appears in it
/// once fillers are left out and ASCII letters lowercased. The same test without
/// building the compacted text: a post's every JSON string is checked for the webhook's
/// own token, twice, so this runs on every string of every post.
pub(crate) fn contains_token(text: &str, token: &str) -> bool {
    let tb = token.as_bytes();
    let n = tb.len();
    if n < MIN_PIECE || !tb.iter().copied().all(is_id_byte) || text.len() < n {
        return false;
    }
    // Knuth–Morris–Pratt over the compacted characters: `fail[i]` is the length of the
    // longest proper border of `tb[..=i]`.
    let mut fail = vec![0usize; n];
    let mut k = 0;
    for i in 1..n {
        while k > 0 && tb[i] != tb[k] {
            k = fail[k - 1];
        }
        if tb[i] == tb[k] {
            k += 1;
        }
        fail[i] = k;
    }
    let mut matched = 0;
    for c in text.chars().filter(|&c| !is_filler(c)) {
        // Like the compacted text: anything that cannot be in a token is a NUL, which
        // no token byte equals.
        let b = if c.is_ascii() {
            c.to_ascii_lowercase() as u8
        } else {
            0
        };
        while matched > 0 && b != tb[matched] {
            matched = fail[matched - 1];
        }
        if b == tb[matched] {
            matched += 1;
            if matched == n {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        // The first word was cut anyway.
        assert_eq!(after_cut("Done."), ".");
        let long_run = "a".repeat(100) + " x";
        assert_eq!(after_cut(&long_run), "a".repeat(36) + " x");
    }

    /// Issue 14, item 2: letters or digits glued to the id made the run too long to be
    /// taken for a fragment, and 25 of the id's 26 characters stayed.
    #[test]
    fn a_cut_with_characters_glued_to_the_id_leaves_no_piece_of_it() {
        let glued = "z0".repeat(6000);
        let long = [
            format!("/hooks{}", "/".repeat(80)),
            format!("/hooks%{}2f", "25".repeat(40)),
            format!("/hooks&{}#47;", "amp;".repeat(25)),
            format!("/hooks{}", "\\U0000002f".repeat(8)),
        ];
        for marker in [
            "/hooks/",
            "%2Fhooks%252F",
            "&#x2F;HOOKS&#47;",
            "\\/hooks\\u002f",
        ]
        .into_iter()
        .chain(long.iter().map(String::as_str))
        {
            let whole = format!("{marker}{ID}{glued}");
            for cut in 1..marker.len() + ID.len() {
                let text = &whole[cut..];
                let kept = after_cut(&scrub_hook_ids(text)).to_string();
                assert_no_piece(&kept, ID, &format!("{marker} cut at {cut}"));
            }
        }
    }

    /// No five characters of `id` in a row in `text`.
    fn assert_no_piece(text: &str, id: &str, what: &str) {
        for piece in id.as_bytes().windows(5) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(
                !text.contains(piece),
                "{what}: {piece} of the id in {text:.80}"
            );
        }
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
            "/hooks/ABCDEFGHIJKLMNOPQRSTUVWXY",
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

    /// A server on a case-insensitive collation finds a hook by an upper-case id too.
    #[test]
    fn an_upper_case_hook_id_is_redacted_too() {
        let upper = ID.to_ascii_uppercase();
        for text in [
            format!("https://x/hooks/{upper}"),
            format!("Location: /HOOKS/{}{}", &upper[..13], &ID[13..]),
        ] {
            let clean = scrub_hook_ids(&text);
            assert!(
                !clean.contains(&upper[..13]) && clean.contains('…'),
                "{text} → {clean}"
            );
        }
    }

    /// Issue 14, item 4: escaped slashes, doubled slashes and encoded-again separators.
    #[test]
    fn escaped_and_encoded_separators_are_recognised() {
        for text in [
            format!(r"https:\/\/x\/hooks\/{ID}"),
            format!(r"https:\/\/x\/HOOKS\/\/{ID}"),
            format!("https://x/hooks//{ID}"),
            format!("x%252Fhooks%252F{ID}"),
            format!("x%25252fHooks%25252F{ID}"),
            format!("x%5Chooks%5c{ID}"),
            format!("x&#47;hooks&#47;{ID}"),
            format!("x&#047hooks&#047;{ID}"),
            format!("x&#x2F;hooks&#X2f;{ID}"),
            format!("x&amp;#47;hooks&amp;amp;#x2f;{ID}"),
            format!("x&sol;hooks&SOL;{ID}"),
            format!(r"x\u002fhooks\u002F{ID}"),
            format!(r"x\\u002fhooks\\u002f{ID}"),
            format!(r"x\x2Fhooks\x2f{ID}"),
            format!(r"%2F/hooks\/%252F&#47;\u002f{ID}"),
            // Folded after its slash, and a JSON escape (the text of a JSON line).
            format!("https://x/hooks/\r\n {ID}"),
            format!(r"https://x/hooks/\n{ID}"),
        ] {
            let clean = scrub_hook_ids(&text);
            assert!(
                !clean.contains(ID) && clean.ends_with("…o1ha"),
                "{text} → {clean}"
            );
        }
        // Look-alikes that decode to something else than a separator.
        for text in [
            format!("x&#48;hooks&#48;{ID}"),
            format!(r"x\u0030hooks\u0030{ID}"),
            format!("x%2Ehooks%2E{ID}"),
            format!("x&#x2G;hooks&#x2G;{ID}"),
            format!("x&amp;hooks&amp;{ID}"),
        ] {
            assert!(matches!(scrub_hook_ids(&text), Cow::Borrowed(_)), "{text}");
        }
    }

    /// The spellings of one separator, as encoders and escapes write them.
    const SEPARATORS: &[&str] = &[
        "/",
        "\\",
        "%2F",
        "%2f",
        "%5C",
        "%252F",
        "%25252f",
        "&#47;",
        "&#047;",
        "&#x2F;",
        "&#X2f;",
        "&#92;",
        "&amp;#47;",
        "&sol;",
        "\\u002f",
        "\\u002F",
        "\\u005c",
        "\\x2f",
    ];

    fn separators() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(SEPARATORS), 1..4).prop_map(|s| s.concat())
    }

    proptest! {
        // No regression files in the source tree; a failure prints its minimal input.
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// `contains_token` is `scrub_token`'s verdict, without the copy: over texts
        /// that hold the token (with fillers, another case, a near miss) and texts that do
        /// not.
        #[test]
        fn contains_token_agrees_with_scrub_token(
            token in "[a-z0-9]{5,30}",
            pieces in prop::collection::vec(
                prop_oneof![
                    Just("TOKEN".to_string()),
                    "[a-z0-9]{0,6}",
                    filler(),
                    "[A-Z]{1,3}",
                    "[ -~é\u{200B}]{0,8}",
                ],
                0..12,
            ),
            cut in 0usize..30,
        ) {
            // Near misses: the token's own pieces, cut short, around the whole token.
            let part = &token[..cut.min(token.len())];
            let text: String = pieces
                .iter()
                .map(|p| if p == "TOKEN" { format!("{part}{token}") } else { p.clone() })
                .collect();
            let upper = text.to_uppercase();
            for t in [&text, &upper, &format!("{part}{}", &token[1..])] {
                let scrubbed = matches!(scrub_token(t, &token, &[]), Cow::Owned(_));
                prop_assert_eq!(contains_token(t, &token), scrubbed, "{:?}", t);
            }
        }

        /// Whatever the separators, the case of `hooks` and the text around: no id is left.
        #[test]
        fn any_spelling_of_a_hook_url_loses_its_id(
            id in "[a-z0-9]{26}",
            before in separators(),
            after in separators(),
            hooks in "[hH][oO][oO][kK][sS]",
            head in "[ -~]{0,12}",
            tail in "[ -~é]{0,12}",
        ) {
            let text = format!("{head}{before}{hooks}{after}{id}{tail}");
            let clean = scrub_hook_ids(&text);
            prop_assert!(!clean.contains(&id), "{} → {}", text, clean);
        }

        /// Issue 14, item 3: a token broken up by line breaks, spaces, NULs (U+FFFD in a
        /// report) or invisible characters is redacted whole, and lines keep their places.
        #[test]
        fn a_broken_up_token_is_redacted(
            token in "[a-z0-9]{26}",
            fillers in prop::collection::vec(filler(), 26),
            head in "[ -~\n]{0,16}",
            tail in "[ -~\n]{0,16}",
        ) {
            let text = format!("{head}{}{tail}", broken_up(&token, &fillers));
            let clean = scrub_token(&text, &token, &[]);
            prop_assert!(!without_fillers(&clean).contains(&token), "{:?} → {:?}", text, clean);
            prop_assert_eq!(clean.matches('\n').count(), text.matches('\n').count());
        }

        /// A piece of the token next to output left out (the start and end of a tail, a
        /// cut line) is redacted; four characters are what the redacted form shows.
        #[test]
        fn pieces_at_the_gaps_of_a_tail_are_redacted(
            token in "[a-z0-9]{26}",
            fillers in prop::collection::vec(filler(), 26),
            cuts in (1usize..26, 1usize..26, 1usize..26, 1usize..26),
            inner in (0usize..21).prop_flat_map(|from| (Just(from), from + 5..26)),
            middle in "[ -~]{0,16}",
        ) {
            let (a, b, c, d) = cuts;
            let text = format!(
                "{}\n{middle}{}\n…{}\n{middle}\n{}\n…{}\n…z",
                broken_up(&token[a..], &fillers),
                broken_up(&token[..b], &fillers),
                broken_up(&token[c..], &fillers),
                broken_up(&token[..d], &fillers),
                broken_up(&token[inner.0..inner.1], &fillers),
            );
            let clean = scrub_token(&text, &token, &tail_gaps(&text, "…"));
            assert_no_piece(&without_fillers(&clean), &token, &format!("{text:?}"));
        }
    }

    fn filler() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => Just(String::new()),
            1 => prop::sample::select(vec![
                " ", "\n", "\r\n", "\t", "\0", "\u{200B}", "\u{00AD}", "\u{FFFD}", "\u{FEFF}",
                "\u{2060}", " \n ", "\u{200D}\u{200C}",
            ])
            .prop_map(str::to_string),
        ]
    }

    /// `token` with `fillers[i]` after its character `i`.
    fn broken_up(token: &str, fillers: &[String]) -> String {
        let mut out = String::new();
        for (c, f) in token.chars().zip(fillers) {
            out.push(c);
            out.push_str(f);
        }
        out
    }

    fn without_fillers(text: &str) -> String {
        text.chars().filter(|c| !is_filler(*c)).collect()
    }

    #[test]
    fn a_folded_token_keeps_its_lines() {
        let text = format!("url http://h/hooks/{}\n{} done\nnext", &ID[..11], &ID[11..]);
        assert_eq!(
            scrub_token(&text, ID, &[]),
            "url http://h/hooks/…o1ha\n done\nnext"
        );
        // Pieces away from a gap are words like any other.
        let text = format!("{} and {}", &ID[18..], &ID[..8]);
        assert!(matches!(scrub_token(&text, ID, &[]), Cow::Borrowed(_)));
        // At a gap they go: the tail's start and end, a cut line's front.
        let gaps = tail_gaps(&text, "…");
        assert_eq!(scrub_token(&text, ID, &gaps), "…o1ha and …");
        let cut = format!("first\n…{} x", &ID[20..]);
        assert_eq!(
            scrub_token(&cut, ID, &tail_gaps(&cut, "…")),
            "first\n……o1ha x"
        );
        // The redacted form at a gap is no piece: scrubbing again changes nothing.
        let done = "x/hooks/…o1ha\n…o1ha\n…o1ha";
        assert!(matches!(
            scrub_token(done, ID, &tail_gaps(done, "…")),
            Cow::Borrowed(_)
        ));
        // A line a carriage return started again (its head, `pq3wx`, overwritten).
        let redrawn = format!("before\n{} done\nafter", &ID[5..]);
        assert_eq!(
            scrub_token(&redrawn, ID, &tail_gaps(&redrawn, "…")),
            "before\n…o1ha done\nafter"
        );
    }

    /// What the README says cannot be caught: a token encoded on purpose, or with visible
    /// text between its characters. Capitals are caught.
    #[test]
    fn deliberate_encodings_are_not_recognised() {
        let reversed: String = ID.chars().rev().collect();
        let dashed = ID
            .as_bytes()
            .chunks(5)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("-");
        for text in [reversed, dashed] {
            assert!(
                matches!(scrub_token(&text, ID, &[]), Cow::Borrowed(_)),
                "{text}"
            );
        }
        let upper = ID.to_uppercase();
        assert_eq!(scrub_token(&upper, ID, &[]), "…o1ha");
    }

    #[test]
    fn multibyte_text_around_ids_survives() {
        let text = format!("é→/hooks/{ID}←ü");
        assert_eq!(scrub_hook_ids(&text), "é→/hooks/…o1ha←ü");
    }
}
