//! Value parsers for flags clap cannot check by itself.

use std::time::Duration;

use crate::text::time;

const DAY: Duration = Duration::from_secs(86_400);

/// A delivery budget: zero would send nothing and still report a timeout.
pub(super) fn parse_timeout(s: &str) -> Result<Duration, String> {
    time::duration_in(Duration::from_millis(1), DAY)(s)
}

pub(super) fn parse_runtime(s: &str) -> Result<Duration, String> {
    time::duration_in(Duration::ZERO, 365 * DAY)(s)
}

/// At least a second: a waiter must still see the delivery it waited for as recent.
pub(super) fn parse_ttl(s: &str) -> Result<Duration, String> {
    time::duration_in(Duration::from_secs(1), 100 * 365 * DAY)(s)
}

/// Every name `--on` (and `--mention-on`) accepts: the states, the transitions and the
/// shorthands. `story::on::OnFilter::known_names` is the authority; a unit test in
/// `commands` keeps the two equal (the door may not see `story/`).
pub(crate) const ON_NAMES: [&str; 10] = [
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
    "running",
    "broken",
    "still_failing",
    "fixed",
    "changes",
    "failures",
];

/// One name of an `--on` list.
pub(super) fn parse_on_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    if ON_NAMES.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "expected a state, a transition or a shorthand: {}",
            ON_NAMES.join(", ")
        ))
    }
}

/// A Redis key name (a stream): a webhook URL pasted here would be queued and spooled
/// under it, token and all. clap quotes the value, but the usage error is redacted.
pub(super) fn parse_stream_name(s: &str) -> Result<String, String> {
    if crate::secret::refuse_url_as_path(s.as_ref(), "--stream").is_err() {
        return Err(
            "a stream name, not a URL: the webhook URL is a password and never \
             names a stream (e.g. mmnotify:events)"
                .to_string(),
        );
    }
    Ok(s.to_string())
}

/// A Mattermost post id: 26 lowercase letters and digits.
pub(super) fn parse_post_id(s: &str) -> Result<String, String> {
    let ok = s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(s.to_string())
    } else {
        Err(
            "a post id is 26 lowercase letters and digits (the last part of the post's link)"
                .into(),
        )
    }
}

pub(super) fn parse_color(s: &str) -> Result<String, String> {
    let ok = matches!(s, "good" | "warning" | "danger")
        || (s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(s.to_string())
    } else {
        Err("expected good, warning, danger or #RRGGBB".into())
    }
}

pub(super) fn parse_code_lang(s: &str) -> Result<String, String> {
    if crate::text::markdown::is_language_tag(s) {
        Ok(s.to_string())
    } else {
        Err(
            "not a language name (letters, digits, `+-_.#`); to wrap text that follows a \
             bare --code, put it after `--`: send --code -- TEXT"
                .to_string(),
        )
    }
}

/// `--field TITLE=VALUE`: the error names the form the flag's help shows.
pub(super) fn parse_field(s: &str) -> Result<(String, String), String> {
    split_pair(s, "TITLE=VALUE")
}

/// `--prop KEY=JSON`.
pub(super) fn parse_prop(s: &str) -> Result<(String, String), String> {
    split_pair(s, "KEY=JSON")
}

fn split_pair(s: &str, form: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected {form}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_bounded() {
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert!(parse_timeout("0s").unwrap_err().contains("at least"));
        assert!(parse_timeout("300000000000years").is_err());
        assert!(parse_runtime("366days").unwrap_err().contains("at most"));
        assert_eq!(parse_runtime("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 24 * 3600)));
        assert!(parse_ttl("0s").is_err());
    }

    #[test]
    fn colors() {
        assert!(parse_color("good").is_ok());
        assert!(parse_color("#a0B1c2").is_ok());
        assert!(parse_color("#a0B1c").is_err());
        assert!(parse_color("red").is_err());
    }

    #[test]
    fn key_values_split_at_first_equals() {
        assert_eq!(
            parse_field("a=b=c").unwrap(),
            ("a".to_string(), "b=c".to_string())
        );
        assert_eq!(parse_field("=x").unwrap_err(), "expected TITLE=VALUE");
        assert_eq!(parse_field("nokey").unwrap_err(), "expected TITLE=VALUE");
        assert_eq!(parse_prop("nokey").unwrap_err(), "expected KEY=JSON");
    }
}

/// `--rate-limit`: `N/s` or `N/min`, N from 1, at most one post per µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateValue {
    pub count: u32,
    pub per: Duration,
}

pub(super) fn parse_rate(s: &str) -> Result<RateValue, String> {
    let (n, per) = s
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not a rate; write N/s or N/min, e.g. 10/s"))?;
    let count: u32 = n
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}`: the count must be a whole number from 1"))?;
    let per = match per.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        _ => return Err(format!("`{s}`: the unit must be /s or /min")),
    };
    if per / count < Duration::from_micros(1) {
        return Err(format!("`{s}` is more than 1000000/s"));
    }
    Ok(RateValue { count, per })
}

/// `--lease`: at least 3 s, so that renewing it (every third of it) leaves room for a
/// blocking read and a post; at most a day.
pub(super) fn parse_lease(s: &str) -> Result<Duration, String> {
    time::duration_in(Duration::from_secs(3), DAY)(s)
}
