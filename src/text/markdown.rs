//! Markdown for values that must show as themselves in a post: user and command text,
//! branch names, URLs. Shared by the build message and the task report.

use crate::task::tail::{sanitize, FENCE_BREAK};

/// Text shown as itself in Markdown: cleaned like output, on one line, with
/// Markdown punctuation backslash-escaped, and a zero-width space after `@` so a
/// task named "@channel" notifies no one.
pub fn escape(s: &str) -> String {
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
pub fn code_span(s: &str) -> String {
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

/// A URL made safe as a Markdown link target: characters that would end the link
/// or break it are percent-encoded.
pub fn link_target(url: &str) -> String {
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
