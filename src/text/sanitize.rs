//! The one home for cleaning text we did not write (job output, server answers, user
//! values shown in a post or on a terminal): escape sequences, control characters and
//! bidirectional overrides/isolates, which make a line read differently from what it is.

/// Bidirectional embedding/override (U+202A–U+202E) and isolate (U+2066–U+2069) controls.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode's `Default_Ignorable_Code_Point` set (DerivedCoreProperties.txt): characters
/// a renderer shows as nothing at all (soft hyphen, zero-width characters and joiners,
/// bidi marks, fillers, variation selectors, tag characters, …). The one list both the
/// name checks here and the token search (`scrub`) use.
pub(crate) fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Characters that reorder or hide text without showing themselves: bidi controls, the
/// default-ignorable set, and the interlinear annotation marks. A name holding one reads
/// differently from what it is.
pub(crate) fn reorders_or_hides(c: char) -> bool {
    is_bidi_control(c) || is_default_ignorable(c) || matches!(c, '\u{FFF9}'..='\u{FFFB}')
}

/// Control characters from a remote party must not reach the terminal (escape injection),
/// nor bidirectional overrides, which make a line read differently from what it says:
/// each becomes a space, and at most `max` characters are kept.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || is_bidi_control(c) {
                ' '
            } else {
                c
            }
        })
        .take(max)
        .collect()
}

/// Zero-width space put between the backticks of a run of three or more.
pub(crate) const FENCE_BREAK: char = '\u{200B}';

/// Make program output safe to show inside a fenced Markdown code block:
///
/// - invalid UTF-8 becomes U+FFFD (lossy decoding);
/// - ANSI escape sequences are removed: CSI (`ESC [ … final`), OSC/DCS/SOS/PM/APC
///   strings (`ESC ] … BEL` or `… ESC \`), and two-character escapes (`ESC 7`,
///   `ESC ( B`, …);
/// - other control characters (C0 except tab and newline, DEL, C1) become U+FFFD,
///   so binary output is visibly binary rather than silently glued together, and
///   bidirectional override/isolate characters are removed (they can make the shown
///   text differ from the real one);
/// - runs of three or more backticks get a zero-width space between each backtick,
///   so the output can neither close the report's code block nor open one, while
///   still reading as backticks.
pub(crate) fn sanitize(bytes: &[u8]) -> String {
    let stripped = strip_escapes(bytes);
    let decoded = String::from_utf8_lossy(&stripped);
    let mut clean = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        match c {
            '\t' | '\n' => clean.push(c),
            c if is_bidi_control(c) => {}
            c if c.is_control() => clean.push('\u{FFFD}'),
            c => clean.push(c),
        }
    }
    neutralise_fences(&clean)
}

fn neutralise_fences(s: &str) -> String {
    if !s.contains("```") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut run = 0usize;
    let flush = |out: &mut String, run: usize| {
        for i in 0..run {
            if i > 0 && run >= 3 {
                out.push(FENCE_BREAK);
            }
            out.push('`');
        }
    };
    for c in s.chars() {
        if c == '`' {
            run += 1;
        } else {
            flush(&mut out, run);
            run = 0;
            out.push(c);
        }
    }
    flush(&mut out, run);
    out
}

const ESC: u8 = 0x1B;
const BEL: u8 = 0x07;

fn strip_escapes(b: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !b.contains(&ESC) {
        return std::borrow::Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != ESC {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        match b.get(i) {
            None => break,
            Some(b'[') => {
                i += 1;
                while let Some(&c) = b.get(i) {
                    match c {
                        0x20..=0x3F => i += 1,
                        0x40..=0x7E => {
                            i += 1;
                            break;
                        }
                        // Malformed: drop what was read, keep the odd byte as text.
                        _ => break,
                    }
                }
            }
            Some(b']' | b'P' | b'X' | b'^' | b'_') => {
                i += 1;
                while let Some(&c) = b.get(i) {
                    match c {
                        BEL => {
                            i += 1;
                            break;
                        }
                        ESC if b.get(i + 1) == Some(&b'\\') => {
                            i += 2;
                            break;
                        }
                        // An unterminated string ends at the next escape or line, not
                        // at the end of the output.
                        ESC | b'\n' => break,
                        _ => i += 1,
                    }
                }
            }
            Some(0x20..=0x2F) => {
                while matches!(b.get(i), Some(0x20..=0x2F)) {
                    i += 1;
                }
                if matches!(b.get(i), Some(0x30..=0x7E)) {
                    i += 1;
                }
            }
            Some(0x30..=0x7E) => i += 1,
            // ESC before anything else: drop the ESC alone.
            Some(_) => {}
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_zero_width_and_bom_reorder_or_hide_and_letters_do_not() {
        for c in [
            '\u{202E}',
            '\u{2066}',
            '\u{200B}',
            '\u{200F}',
            '\u{061C}',
            '\u{FEFF}',
            '\u{2060}',
            '\u{00AD}',
            '\u{3164}',
            '\u{FE0F}',
            '\u{E0041}',
            '\u{E0100}',
        ] {
            assert!(reorders_or_hides(c), "{c:?}");
        }
        for c in ['a', '-', '@', 'é', '\u{4E2D}'] {
            assert!(!reorders_or_hides(c), "{c:?}");
        }
    }

    #[test]
    fn one_line_blanks_controls_and_bidi_and_caps_the_length() {
        assert_eq!(one_line("a\x1b[31mb\nc", 300), "a [31mb c");
        assert_eq!(
            one_line("ok \u{202E}lmth.exe\u{2066}", 300),
            "ok  lmth.exe "
        );
        assert_eq!(one_line("abcdef", 3), "abc");
    }

    #[test]
    fn sanitize_decodes_lossily() {
        assert_eq!(sanitize(b"a\xffb"), "a\u{FFFD}b");
        assert_eq!(sanitize("héllo".as_bytes()), "héllo");
    }

    #[test]
    fn sanitize_strips_csi_osc_and_short_escapes() {
        assert_eq!(sanitize(b"\x1b[1;31mred\x1b[0m plain"), "red plain");
        assert_eq!(
            sanitize(b"\x1b[?25lhidden cursor\x1b[?25h"),
            "hidden cursor"
        );
        assert_eq!(sanitize(b"\x1b]0;title\x07text"), "text");
        assert_eq!(
            sanitize(b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"),
            "link"
        );
        assert_eq!(sanitize(b"\x1b(Bcharset \x1b7saved\x1b8"), "charset saved");
        assert_eq!(sanitize(b"lone esc at end\x1b"), "lone esc at end");
        // An unterminated OSC stops at the end of the line.
        assert_eq!(sanitize(b"\x1b]0;never closed\nnext"), "\nnext");
    }

    #[test]
    fn sanitize_replaces_control_characters_but_keeps_tab() {
        assert_eq!(
            sanitize(b"a\0b\tc\x07d\x7fe"),
            "a\u{FFFD}b\tc\u{FFFD}d\u{FFFD}e"
        );
        assert_eq!(sanitize("x\u{0085}y".as_bytes()), "x\u{FFFD}y");
        assert_eq!(sanitize("ab\u{202E}cd".as_bytes()), "abcd");
    }

    #[test]
    fn sanitize_breaks_code_fences() {
        let s = sanitize(b"```\nend of block? ```` ok `` `");
        assert!(!s.contains("```"), "{s:?}");
        assert_eq!(
            s,
            "`\u{200B}`\u{200B}`\nend of block? `\u{200B}`\u{200B}`\u{200B}` ok `` `"
        );
        // Stripping an escape must not assemble a fence.
        let s = sanitize(b"``\x1b[0m`");
        assert!(!s.contains("```"), "{s:?}");
    }
}
