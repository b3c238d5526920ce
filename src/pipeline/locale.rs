//! Whether the terminal can show mmnotify's own symbols (✓ ✗ →). Under a C or POSIX
//! locale they arrive as mojibake or `?`, so diagnostics fall back to ASCII there.
//! Posted messages are not touched: Mattermost shows UTF-8 whatever the local locale.

use std::borrow::Cow;
use std::sync::OnceLock;

/// The locale's character set is UTF-8: the first of `LC_ALL`, `LC_CTYPE`, `LANG` that is
/// set and not empty decides (as the C library does); none set is the C locale.
pub(crate) fn is_utf8(var: impl Fn(&str) -> Option<String>) -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .into_iter()
        .find_map(|name| var(name).filter(|v| !v.is_empty()))
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}

fn utf8() -> bool {
    static UTF8: OnceLock<bool> = OnceLock::new();
    *UTF8.get_or_init(|| is_utf8(|k| std::env::var(k).ok()))
}

/// The mark of a check that passed.
pub(crate) fn ok_mark() -> &'static str {
    if utf8() {
        "✓"
    } else {
        "ok"
    }
}

/// The mark of a check that failed.
pub(crate) fn fail_mark() -> &'static str {
    if utf8() {
        "✗"
    } else {
        "FAIL"
    }
}

/// A diagnostic line as the terminal can show it. The `…` of a redacted webhook stays:
/// its form is fixed by the contract and scripts match on it.
pub(crate) fn fit(line: &str) -> Cow<'_, str> {
    if utf8() {
        Cow::Borrowed(line)
    } else {
        to_ascii(line)
    }
}

fn to_ascii(line: &str) -> Cow<'_, str> {
    const SYMBOLS: [(char, &str); 5] = [
        ('✓', "ok"),
        ('✗', "FAIL"),
        ('→', "->"),
        ('—', "--"),
        ('–', "-"),
    ];
    if !line.contains(|c| SYMBOLS.iter().any(|(s, _)| *s == c)) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match SYMBOLS.iter().find(|(s, _)| *s == c) {
            Some((_, ascii)) => out.push_str(ascii),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> bool {
        is_utf8(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn the_first_set_variable_decides() {
        assert!(with(&[("LANG", "en_US.UTF-8")]));
        assert!(with(&[("LANG", "de_DE.utf8")]));
        assert!(with(&[("LC_CTYPE", "C.Utf-8"), ("LANG", "C")]));
        assert!(!with(&[("LC_ALL", "C"), ("LANG", "en_US.UTF-8")]));
        assert!(!with(&[("LC_ALL", "POSIX")]));
        assert!(!with(&[("LANG", "en_US.ISO-8859-1")]));
        assert!(!with(&[]));
        // An empty variable is unset as far as the C library is concerned.
        assert!(with(&[("LC_ALL", ""), ("LANG", "C.UTF-8")]));
    }

    #[test]
    fn symbols_become_ascii() {
        assert_eq!(
            to_ascii("✓ dns: h → 1.2.3.4 — ✗ …o1ha"),
            "ok dns: h -> 1.2.3.4 -- FAIL …o1ha"
        );
        assert!(matches!(to_ascii("plain"), Cow::Borrowed(_)));
    }
}
