//! When to try again and how long to wait: pure functions, so the policy is tested without
//! a network.

use std::time::{Duration, SystemTime};

/// Statuses that can succeed later. 500 is not among them: Mattermost was reached and may
/// have posted part of a split message already; 501 means webhooks are switched off.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 502 | 503 | 504)
}

const BASE: Duration = Duration::from_millis(250);
const CAP: Duration = Duration::from_secs(8);

/// Exponential backoff with full jitter: uniform in [0, min(cap, base·2^(n-1))]. Full
/// jitter keeps many gateways that failed together from retrying together.
pub fn backoff(attempt: u32, random: u64) -> Duration {
    let exp = BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let ceiling = exp.min(CAP).as_millis() as u64;
    Duration::from_millis(random % (ceiling + 1))
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past means
/// "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// IMF-fixdate, the only format senders may generate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let rest = s.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u32
        + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days.checked_mul(86_400)? + (*h * 3600 + *m * 60 + *sec) as i64;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A random number from the OS, for jitter. Falls back to the clock: jitter only needs to
/// differ between processes, not to be unpredictable.
pub fn random_u64() -> u64 {
    use ring::rand::SecureRandom;
    let mut buf = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut buf).is_ok() {
        return u64::from_le_bytes(buf);
    }
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 ^ u64::from(std::process::id()))
        .unwrap_or(0)
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
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1, u64::MAX), Duration::from_millis(u64::MAX % 251));
        assert!(backoff(1, 1_000_000) <= Duration::from_millis(250));
        assert!(backoff(3, 999) <= Duration::from_millis(1000));
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
    fn http_date_epoch_and_leap_day() {
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(SystemTime::UNIX_EPOCH)
        );
        let leap = parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT").unwrap();
        let secs = leap
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(secs, 1_709_208_000);
    }
}
