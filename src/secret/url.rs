//! The webhook URL type: parsed and checked once, redacted wherever it is shown.

use std::fmt;

use anyhow::Result;

use crate::error;
use crate::secret::scrub_hook_ids;
use crate::text::scrub::{contains_token, scrub_token, tail_gaps};

/// What a URL copied out of a shell script or `.env` file keeps around it: quotes, or a
/// `NAME=` / `export NAME=` assignment. Nothing reads these files through a shell, so the
/// line must be the bare URL. Only the variable's name is quoted back, never the value.
fn shell_syntax(raw: &str) -> Option<String> {
    let (export, rest) = match raw.strip_prefix("export") {
        Some(rest) if rest.starts_with(char::is_whitespace) => ("export ", rest.trim_start()),
        _ => ("", raw),
    };
    if let Some((name, value)) = rest.split_once('=') {
        let is_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if is_name {
            let quoted = if value.starts_with(['"', '\'']) {
                " and the quotes"
            } else {
                ""
            };
            // A name may be made of the token itself (`<id>=https://…`).
            let name = crate::secret::redact_id_runs(name);
            return Some(format!(
                "it starts with `{export}{name}=`, a shell assignment; write the bare URL \
                 only, without `{export}{name}=`{quoted} (this is not read by a shell)"
            ));
        }
    }
    if raw.starts_with(['"', '\'']) {
        return Some(
            "it is wrapped in quotes; write the bare URL, without quotes (this is not read by \
             a shell)"
                .to_string(),
        );
    }
    None
}

/// A validated Mattermost incoming-webhook URL whose Display and Debug are redacted.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct WebhookUrl {
    full: String,
    scheme: String,
    host: String,
    port: Option<u16>,
    /// A Mattermost sub-path before `/hooks/` (e.g. `/chat`), empty for most servers.
    prefix: String,
    token: String,
}

impl WebhookUrl {
    /// Validates the URL shape of the contract. Errors never repeat the URL: a user who
    /// pasted it wrong would otherwise see the token in CI logs.
    pub(crate) fn parse(raw: &str) -> Result<WebhookUrl> {
        let raw = raw.trim();
        let bad = |why: &str| error::config(format!("malformed webhook URL: {why}"));
        if raw.is_empty() {
            return Err(bad("it is empty"));
        }
        if let Some(why) = shell_syntax(raw) {
            return Err(bad(&why));
        }
        if raw.contains("hooks.slack.com") {
            return Err(bad(
                "this is a Slack webhook URL; create an incoming webhook in Mattermost \
                 (Integrations → Incoming Webhooks) and use its URL",
            ));
        }
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(bad(
                "it has no scheme; it should look like https://chat.example.com/hooks/<id>",
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            // Echo the scheme only when it is one: a pasted mess may hold the token.
            let plausible = scheme.len() <= 10
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            return Err(bad(&if plausible {
                format!("scheme `{scheme}` is not http or https")
            } else {
                "the scheme is not http or https".to_string()
            }));
        }
        if raw.contains(char::is_whitespace) {
            return Err(bad("it contains white space"));
        }
        if rest.contains('?') || rest.contains('#') {
            return Err(bad(
                "it has a query or fragment; use the URL exactly as Mattermost shows it",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("it contains user credentials before the host"));
        }
        let (host, port) = split_host_port(authority).map_err(|why| bad(&why))?;
        let idx = hook_id_at(path).map_err(|why| bad(&why))?;
        let token = &path[idx + "/hooks/".len()..];
        // From now on the writers take this token out of whatever they print or save.
        crate::secret::remember(token);
        Ok(WebhookUrl {
            full: format!("{scheme}://{rest}"),
            scheme,
            host,
            port,
            prefix: path[..idx].to_string(),
            token: token.to_string(),
        })
    }

    /// The URL in the clear, for the HTTP request only. Everything printed goes through
    /// Display instead.
    pub(crate) fn expose(&self) -> &str {
        &self.full
    }

    /// The bare token, for a bot's `Authorization` header (`secret::bot`).
    pub(super) fn token(&self) -> &str {
        &self.token
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }

    /// The server's base URL without the webhook path: safe to request and to show.
    pub(crate) fn server_base(&self) -> String {
        let authority = match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        };
        format!("{}://{authority}{}", self.scheme, self.prefix)
    }

    pub(crate) fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// Loopback hosts may use plain http without a warning: the token never leaves the box.
    pub(crate) fn is_loopback(&self) -> bool {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case("localhost")
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The redacted form: scheme, host, port and the last four characters of the token.
    pub(crate) fn redacted(&self) -> String {
        let last4 = &self.token[self.token.len() - 4..];
        match self.port {
            Some(p) => format!("{}://{}:{}/hooks/…{}", self.scheme, self.host, p, last4),
            None => format!("{}://{}/hooks/…{}", self.scheme, self.host, last4),
        }
    }

    /// Removes the URL and the token from text that came from elsewhere (library errors,
    /// server messages, Location headers): current Mattermost servers put the hook id in
    /// their error messages.
    /// Any other hook id in it is redacted too: a redirect can point at another hook.
    /// The token is found however it is broken up: across lines, or with spaces,
    /// control or invisible characters between its characters (see [`scrub_token`]).
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.scrub_cut(text, None)
    }

    /// [`WebhookUrl::scrub`] for the end of a longer text (a job's output tail) whose
    /// cut lines start with `cut_marker`: where output was left out, a piece of the token
    /// that touches the gap goes too (see [`tail_gaps`]).
    pub(crate) fn scrub_tail(&self, text: &str, cut_marker: &str) -> String {
        self.scrub_cut(text, Some(cut_marker))
    }

    fn scrub_cut(&self, text: &str, cut_marker: Option<&str>) -> String {
        let own = text.replace(&self.full, &self.redacted());
        let gaps = cut_marker.map_or_else(Vec::new, |m| tail_gaps(&own, m));
        let own = scrub_token(&own, &self.token, &gaps);
        scrub_hook_ids(&own).into_owned()
    }

    /// Whether `text` would carry this webhook's token (a post that holds it would publish
    /// the credential to everyone in the channel).
    /// In a JSON body the token is also found broken up inside one string (folded over
    /// lines, split by a space or an invisible character, see [`scrub_token`]), as `run`
    /// finds it in a job's output: a reader of the channel still gets it.
    pub(crate) fn appears_in(&self, text: &[u8]) -> bool {
        // Every string and key of the text as sent, escapes decoded, by a scan rather than
        // a parse: a body nested deeper than serde_json's limit of 128 (a `--prop` value
        // 127 deep sits 129 deep in the post) does not parse, and a parsed object keeps
        // only the last of two equal keys while both are sent. Anything else as bytes.
        contains_bytes(text, self.token.as_bytes())
            || json_strings(text).any(|s| contains_token(&s, &self.token))
    }
}

/// Whether `needle` (not empty) occurs in `hay`: one pass, a comparison only where its
/// first byte is.
fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return false;
    };
    hay.iter()
        .enumerate()
        .any(|(i, &b)| b == first && hay[i + 1..].starts_with(rest))
}

/// The string literals of a JSON text, keys included, with their escapes decoded (a lone
/// surrogate as U+FFFD), found in one pass without regard to nesting. In valid JSON a
/// `"` outside a string always opens one, so this is every string; in other text, what
/// stands between quotes.
fn json_strings(text: &[u8]) -> impl Iterator<Item = String> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        at += text.get(at..)?.iter().position(|&b| b == b'"')? + 1;
        let mut bytes = Vec::new();
        let mut units = Vec::new();
        while let Some(&b) = text.get(at) {
            at += 1;
            let unit = (b == b'\\' && text.get(at) == Some(&b'u'))
                .then(|| std::str::from_utf8(text.get(at + 1..at + 5)?).ok())
                .flatten()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if let Some(unit) = unit {
                // Surrogate pairs come as two escapes: decoded together.
                at += 5;
                units.push(unit);
                continue;
            }
            push_utf16(&mut bytes, &mut units);
            match b {
                b'"' => break,
                b'\\' => {
                    let esc = text.get(at).copied().unwrap_or(b'\\');
                    at += 1;
                    bytes.push(match esc {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        other => other,
                    });
                }
                _ => bytes.push(b),
            }
        }
        push_utf16(&mut bytes, &mut units);
        Some(String::from_utf8_lossy(&bytes).into_owned())
    })
}

/// Appends the UTF-16 code units of `\u` escapes to `bytes` as UTF-8.
fn push_utf16(bytes: &mut Vec<u8>, units: &mut Vec<u16>) {
    for c in char::decode_utf16(units.drain(..)) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.redacted())
    }
}

/// Where `/hooks/` starts in a webhook URL's path, once the id after it is checked: 26
/// lowercase letters and digits, the end of the path. `Err` says why not (never the id).
fn hook_id_at(path: &str) -> std::result::Result<usize, String> {
    if path.split('/').filter(|seg| *seg == "hooks").count() > 1 {
        return Err(
            "`/hooks/` appears twice; the path should end in a single /hooks/<id>".to_string(),
        );
    }
    let Some(idx) = path.rfind("/hooks/") else {
        return Err("the path does not end in /hooks/<id>".to_string());
    };
    let token = &path[idx + "/hooks/".len()..];
    if token.ends_with('/') {
        return Err("remove the trailing slash after the webhook id".to_string());
    }
    if token.contains('/') {
        return Err("the path does not end in /hooks/<id>".to_string());
    }
    if token.len() != 26
        || !token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(format!(
            "the webhook id must be 26 lowercase letters and digits (found {} characters)",
            token.chars().count()
        ));
    }
    Ok(idx)
}

fn split_host_port(authority: &str) -> std::result::Result<(String, Option<u16>), String> {
    if authority.is_empty() {
        return Err("it has no host".into());
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err("unbalanced [ in the host".into());
        };
        let host = &authority[..end + 2];
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err("unexpected text after the IPv6 host".into()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("the IPv6 address in brackets is not valid".into());
        }
    } else if !host.is_ascii() {
        return Err(
            "the host name is not ASCII; use its xn-- (punycode) form as the server's \
             certificate does"
                .into(),
        );
    } else if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err("the host contains characters a host name cannot have".into());
    }
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| "the port is not a number from 1 to 65535".to_string())?,
        ),
        None => None,
    };
    Ok((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error;
    use crate::secret::scrub_hook_ids;
    use std::borrow::Cow;

    fn parse(s: &str) -> Result<WebhookUrl> {
        WebhookUrl::parse(s)
    }

    const ID: &str = "pq3wxk8bmjsyr9cn5ue7tdo1ha";

    #[test]
    fn redacted_forms() {
        let u = parse(&format!("https://chat.example.com/hooks/{ID}")).unwrap();
        assert_eq!(u.to_string(), "https://chat.example.com/hooks/…o1ha");
        assert_eq!(
            format!("{u:?}"),
            "WebhookUrl(https://chat.example.com/hooks/…o1ha)"
        );
        let u = parse(&format!("http://127.0.0.1:8065/mm/hooks/{ID}")).unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:8065/hooks/…o1ha");
        assert!(u.is_loopback());
        assert_eq!(u.port(), 8065);
        let u = parse(&format!("HTTPS://[::1]:9/hooks/{ID}")).unwrap();
        assert_eq!(u.to_string(), "https://[::1]:9/hooks/…o1ha");
        assert!(u.is_loopback());
    }

    #[test]
    fn scrub_removes_url_and_token() {
        let u = parse(&format!("https://chat.example.com/x/hooks/{ID}")).unwrap();
        let msg = format!("bad uri: https://chat.example.com/x/hooks/{ID} and hook {ID}.");
        let clean = u.scrub(&msg);
        assert!(!clean.contains(ID), "{clean}");
        assert!(clean.contains("…o1ha"));
    }

    #[test]
    fn rejects_usual_mistakes_without_echoing_the_token() {
        let cases = [
            (format!("chat.example.com/hooks/{ID}"), "no scheme"),
            (
                format!("https://chat.example.com/hooks/hooks/{ID}"),
                "twice",
            ),
            (format!("https://chat.example.com/hooks/{ID}?x=1"), "query"),
            (
                format!("https://chat.example.com/hooks/{ID}#f"),
                "query or fragment",
            ),
            (
                format!("https://chat.example.com/hooks/{ID}/"),
                "trailing slash",
            ),
            (format!("ftp://chat.example.com/hooks/{ID}"), "not http"),
            (format!("https://chat.example.com/api/{ID}"), "does not end"),
            (
                "https://hooks.slack.com/services/T0/B0/XXXX".to_string(),
                "Slack",
            ),
            (
                "https://chat.example.com/hooks/ABC".to_string(),
                "26 lowercase",
            ),
            (
                format!("https://user:pw@chat.example.com/hooks/{ID}"),
                "credentials",
            ),
            (format!("https:///hooks/{ID}"), "no host"),
            (format!("https://h:99999/hooks/{ID}"), "port"),
            (format!("https://ex{{ample.com/hooks/{ID}"), "characters"),
            (format!("https://host:8065:99/hooks/{ID}"), "characters"),
            (format!("https://ünï.example/hooks/{ID}"), "punycode"),
            (format!("https://[zz::1]/hooks/{ID}"), "IPv6"),
            (format!("hooks/{ID}://x"), "scheme is not"),
        ];
        for (url, want) in cases {
            let err = parse(&url).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains(want), "{url}: {msg}");
            assert!(!msg.contains(ID), "token leaked: {msg}");
            assert_eq!(error::exit_kind(&err), error::ExitKind::Config);
        }
    }

    #[test]
    fn every_hook_id_is_scrubbed() {
        let other = "ebq8x1wd7oy3nhfkm4gs9ctr5a";
        let text = format!(
            "moved to https://x.example/hooks/{other} (was /hooks/{ID}/); see /hooks/short"
        );
        let clean = scrub_hook_ids(&text);
        assert_eq!(
            clean,
            "moved to https://x.example/hooks/…tr5a (was /hooks/…o1ha/); see /hooks/short"
        );
        assert!(matches!(
            scrub_hook_ids("no ids here /hooks/"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            scrub_hook_ids("/hooks/UPPERCASEISNOTANIDXXXXX"),
            Cow::Borrowed(_)
        ));
        // Multi-byte text around an id must not split a character.
        assert_eq!(scrub_hook_ids(&format!("é/hooks/{ID}é")), "é/hooks/…o1haé");
        let u = parse(&format!("https://chat.example.com/hooks/{ID}")).unwrap();
        let clean = u.scrub(&format!("Location: https://evil.example/hooks/{other}"));
        assert!(!clean.contains(other), "{clean}");
    }

    #[test]
    fn own_token_is_found_in_a_body() {
        let u = parse(&format!("https://chat.example.com/hooks/{ID}")).unwrap();
        assert!(u.appears_in(format!(r#"{{"text":"see {ID}"}}"#).as_bytes()));
        assert!(!u.appears_in(br#"{"text":"hello"}"#));
        // The first of two equal keys is sent too, though a parsed object keeps the last.
        let twice = format!(r#"{{"text":"{} {}","text":"hi"}}"#, &ID[..9], &ID[9..]);
        assert!(u.appears_in(twice.as_bytes()));
        // Deeper than serde_json parses, broken up by a space or escapes.
        let deep = format!(
            r#"{{"props":{{"k":{}"{} {}"{}}}}}"#,
            "[".repeat(200),
            &ID[..9],
            &ID[9..],
            "]".repeat(200)
        );
        assert!(u.appears_in(deep.as_bytes()));
        let escaped = ID.chars().fold(String::new(), |mut e, c| {
            use std::fmt::Write as _;
            let _ = write!(e, "\\u{:04x}", u32::from(c));
            e
        });
        assert!(u.appears_in(format!(r#"["{}{escaped}"]"#, "[".repeat(200)).as_bytes()));
        assert!(u.appears_in(format!(r#"{{"{}\n{}":1}}"#, &ID[..4], &ID[4..]).as_bytes()));
        // A surrogate pair and a lone surrogate decode; an escaped quote stays inside.
        let s: Vec<String> =
            json_strings(br#"{"a\"b":"\ud83d\ude00x\ud800","c":"\u00e9"}"#).collect();
        assert_eq!(s, ["a\"b", "\u{1F600}x\u{FFFD}", "c", "\u{e9}"]);
        assert!(!u.appears_in(format!(r#"{{"a":"{}","b":"{}"}}"#, &ID[..13], &ID[13..]).as_bytes()));
    }
}
