//! When to try again and how long to wait: pure functions, so the policy is tested without
//! a network.

use std::time::{Duration, SystemTime};

use crate::error::ExitKind;
use crate::text::time;

/// Statuses that can succeed later. 500 is not among them: Mattermost was reached and may
/// have posted part of a split message already; 501 means webhooks are switched off.
pub(crate) fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 502 | 503 | 504)
}

/// Rejected by the server: it answered, and a retry would get the same answer (every
/// status but 408, 429 and 502–504: a 4xx, a 500 or 501, a 3xx that is not followed).
/// The contract calls such an outcome final, like a post: the job's history records it
/// and a gateway acknowledges its entry.
pub(crate) fn rejected(http_status: Option<u16>) -> bool {
    http_status.is_some_and(|s| !retryable_status(s))
}

/// Whether another delivery may post what this failure did not: a network failure, or
/// a server answer that is not final (408, 429, 502–504 after the retries). The rule a
/// gateway leaves an entry pending by and `build` spools by, for webhook and bot posts
/// alike; a 500 is final (the server may have saved part of it), as is every 4xx.
pub(crate) fn curable(kind: ExitKind, http_status: Option<u16>) -> bool {
    match kind {
        ExitKind::Network => true,
        ExitKind::Server => !rejected(http_status),
        _ => false,
    }
}

const BASE: Duration = Duration::from_millis(250);
const CAP: Duration = Duration::from_secs(8);

/// Exponential backoff with full jitter: uniform in [0, min(cap, base·2^(n-1))]. Full
/// jitter keeps many gateways that failed together from retrying together.
pub(crate) fn backoff(attempt: u32, random: u64) -> Duration {
    let exp = BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let ceiling = crate::text::time::millis(exp.min(CAP));
    Duration::from_millis(random % (ceiling + 1))
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past means
/// "now"; a delay too long for any clock is as good as forever, not an error.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse().unwrap_or(u64::MAX)));
    }
    time::until_http_date(v, now)
}

/// A random number from the OS, for jitter. Falls back to the clock: jitter only needs to
/// differ between processes, not to be unpredictable.
pub(crate) fn random_u64() -> u64 {
    use ring::rand::SecureRandom;
    let mut buf = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut buf).is_ok() {
        return u64::from_le_bytes(buf);
    }
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| {
            low_64_bits(d.as_nanos()) ^ u64::from(std::process::id())
        })
}

/// The fast-changing part of a clock reading: the high bits are the same in every process.
fn low_64_bits(n: u128) -> u64 {
    u64::try_from(n & u128::from(u64::MAX)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_table() {
        for s in [408, 429, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 405, 413, 500, 501] {
            assert!(!retryable_status(s), "{s}");
        }
        for s in [302, 400, 403, 404, 413, 500, 501, 505, 600] {
            assert!(rejected(Some(s)), "{s}");
        }
        for s in [408, 429, 502, 503, 504] {
            assert!(!rejected(Some(s)), "{s}");
        }
        assert!(!rejected(None), "no answer at all is a network failure");
    }

    #[test]
    fn curable_follows_the_contract() {
        assert!(curable(ExitKind::Network, None));
        assert!(curable(ExitKind::Server, Some(503)));
        assert!(curable(ExitKind::Server, Some(429)));
        assert!(!curable(ExitKind::Server, Some(500)));
        assert!(!curable(ExitKind::Server, Some(505)));
        for k in [
            ExitKind::BadRequest,
            ExitKind::Http,
            ExitKind::Input,
            ExitKind::NotFound,
            ExitKind::Forbidden,
        ] {
            assert!(!curable(k, Some(400)));
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1, u64::MAX), Duration::from_millis(u64::MAX % 251));
        assert!(backoff(1, 1_000_000) <= Duration::from_millis(250));
        assert!(backoff(3, 999) <= Duration::from_secs(1));
        for n in 1..40 {
            assert!(backoff(n, u64::MAX - 7) <= CAP);
        }
        assert_eq!(backoff(2, 0), Duration::ZERO);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_770);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(
            parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now),
            None
        );
    }

    #[test]
    fn retry_after_beyond_any_clock_is_long_not_a_panic() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after("100000000000000000000", now),
            Some(Duration::from_secs(u64::MAX))
        );
        let century = Duration::from_secs(100 * 365 * 86_400);
        for date in [
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Fri, 31 Dec 292277026596 23:59:59 GMT",
            "Fri, 31 Dec 99999999999999999999999 23:59:59 GMT",
        ] {
            assert!(parse_retry_after(date, now).unwrap() > century, "{date}");
        }
    }
}
