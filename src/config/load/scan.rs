//! The secret scan of the decoded file: every key and string after TOML has undone
//! its escapes (`\u0040` for `@`, `\u002f` for `/`) and joined its line-ending
//! backslashes, which the scan of the raw text cannot see. It runs before the typed
//! read, whose messages (and `config check`'s listing) would echo such a value.

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The byte offset of the first key or string that holds a webhook id or a URL with
/// credentials once decoded. A file TOML cannot parse is scanned as far as it parses.
pub(super) fn first_secret(text: &str, looks_secret: &dyn Fn(&str) -> bool) -> Option<usize> {
    let (table, _) = DeTable::parse_recoverable(text);
    in_table(table.get_ref(), looks_secret)
}

fn in_table(table: &DeTable<'_>, looks_secret: &dyn Fn(&str) -> bool) -> Option<usize> {
    table.iter().find_map(|(k, v)| {
        if looks_secret(k.get_ref()) {
            Some(k.span().start)
        } else {
            in_value(v, looks_secret)
        }
    })
}

fn in_value(v: &Spanned<DeValue<'_>>, looks_secret: &dyn Fn(&str) -> bool) -> Option<usize> {
    match v.get_ref() {
        DeValue::String(s) => looks_secret(s).then(|| v.span().start),
        DeValue::Array(a) => a.iter().find_map(|item| in_value(item, looks_secret)),
        DeValue::Table(t) => in_table(t, looks_secret),
        _ => None,
    }
}
