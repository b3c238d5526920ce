//! Markdown for values that must show as themselves in a post: user and command text,
//! branch names, URLs. Shared by the build message and the task report.

use crate::text::sanitize::{sanitize, FENCE_BREAK};

/// The end of a text cut to fit one post.
pub(crate) const TRUNCATION_MARKER: &str = "… (truncated)";

/// Text shown as itself in Markdown: cleaned like output, on one line, with
/// Markdown punctuation backslash-escaped, and a zero-width space after `@` so a
/// task named "@channel" notifies no one.
pub(crate) fn escape(s: &str) -> String {
    let clean = sanitize(s.as_bytes());
    let mut out = String::with_capacity(clean.len() + 8);
    for c in clean.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '(' | ')' | '#' | '<' | '>' | '|' | '!'
            | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '@' => {
                out.push('@');
                out.push(FENCE_BREAK);
            }
            '\n' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `s` as one inline code span: delimited by more backticks than any run inside it
/// (sanitize leaves runs of at most two), padded when it starts or ends with one.
pub(crate) fn code_span(s: &str) -> String {
    let clean = sanitize(s.as_bytes()).replace(['\n', '\t'], " ");
    let longest = clean.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    let pad = if clean.starts_with('`') || clean.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{clean}{pad}{ticks}")
}

/// `text` as a fenced code block tagged `lang`, cleaned as `run` cleans job output so
/// that nothing inside can close the fence early or open another. With `max_chars`, the
/// content is cut (keeping its start, where a table's header is) so that the block with
/// its closing fence and a truncation marker after it fits; the flag says whether it was.
pub(crate) fn code_block(text: &str, lang: &str, max_chars: Option<usize>) -> (String, bool) {
    let clean = sanitize(text.trim_end_matches(['\n', '\r']).as_bytes());
    let block = |content: &str| format!("```{lang}\n{content}\n```");
    let whole = block(&clean);
    let Some(max) = max_chars else {
        return (whole, false);
    };
    if whole.chars().count() <= max {
        return (whole, false);
    }
    let overhead = block("").chars().count() + 1 + TRUNCATION_MARKER.chars().count();
    let keep = max.saturating_sub(overhead);
    let end = clean
        .char_indices()
        .nth(keep)
        .map_or(clean.len(), |(i, _)| i);
    (
        format!("{}\n{TRUNCATION_MARKER}", block(&clean[..end])),
        true,
    )
}

/// Whether `s` can follow an opening fence as its language tag without changing the
/// block (no white space, no backtick, short).
pub(crate) fn is_language_tag(s: &str) -> bool {
    s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'.' | b'#'))
}

/// A URL made safe as a Markdown link target: characters that would end the link
/// or break it are percent-encoded.
pub(crate) fn link_target(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '[' => out.push_str("%5B"),
            ']' => out.push_str("%5D"),
            '`' => out.push_str("%60"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_block_neutralises_fences_and_keeps_columns() {
        let (b, cut) = code_block("a  b\n```\nrm -rf\n", "text", None);
        assert!(!cut);
        assert_eq!(b, "```text\na  b\n`\u{200B}`\u{200B}`\nrm -rf\n```");
        assert_eq!(b.matches("```").count(), 2, "{b}");
        assert_eq!(code_block("x", "", None).0, "```\nx\n```");
    }

    #[test]
    fn code_block_is_cut_inside_the_fence() {
        let text = "é".repeat(100);
        let (b, cut) = code_block(&text, "sh", Some(50));
        assert!(cut);
        assert_eq!(b.chars().count(), 50, "{b}");
        assert!(b.starts_with("```sh\né"));
        assert!(b.ends_with(&format!("é\n```\n{TRUNCATION_MARKER}")), "{b}");
        let (b, cut) = code_block(&text, "sh", Some(200));
        assert!(!cut);
        assert_eq!(b.chars().count(), 100 + 10);
    }

    #[test]
    fn language_tags() {
        for ok in ["", "sh", "c++", "objective-c", "c#", "text.plain"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["two words", "a`b", "x\ny", &"a".repeat(41)] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}
