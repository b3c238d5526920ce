//! Every reading and writing of time: RFC 3339 timestamps, the HTTP date of `Retry-After`,
//! durations for every flag and field, and the wall clock in milliseconds. Dates come from
//! users, CI systems and servers, so every step of arithmetic is checked: no input,
//! however large, can overflow or panic.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: i64 = 86_400;
const NANOS_PER_SEC: u32 = 1_000_000_000;

/// A point in time, UTC, with nanosecond precision; years 0000 to 9999 only, so that it
/// always formats as RFC 3339.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Timestamp {
    secs: i64,
    nanos: u32,
}

// 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z in unix seconds.
const MIN_SECS: i64 = -62_167_219_200;
const END_SECS: i64 = 253_402_300_800;

impl Timestamp {
    /// `None` when out of the years 0000–9999 or `nanos` is not below one second.
    pub(crate) fn from_unix(secs: i64, nanos: u32) -> Option<Timestamp> {
        ((MIN_SECS..END_SECS).contains(&secs) && nanos < NANOS_PER_SEC)
            .then_some(Timestamp { secs, nanos })
    }

    pub(crate) fn from_system_time(t: SystemTime) -> Option<Timestamp> {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp::from_unix(i64::try_from(d.as_secs()).ok()?, d.subsec_nanos()),
            Err(before) => {
                let d = before.duration();
                let secs = i64::try_from(d.as_secs()).ok()?;
                if d.subsec_nanos() == 0 {
                    Timestamp::from_unix(-secs, 0)
                } else {
                    Timestamp::from_unix(-secs - 1, NANOS_PER_SEC - d.subsec_nanos())
                }
            }
        }
    }

    /// Unix milliseconds; `None` before 1970.
    pub(crate) fn unix_ms(self) -> Option<u64> {
        let secs = u64::try_from(self.secs).ok()?;
        Some(secs.saturating_mul(1000) + u64::from(self.nanos / 1_000_000))
    }

    #[cfg(test)]
    pub(crate) fn unix_seconds(self) -> i64 {
        self.secs
    }

    #[cfg(test)]
    pub(crate) fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// `None` only where the platform's clock cannot hold the date.
    #[cfg(test)]
    pub(crate) fn to_system_time(self) -> Option<SystemTime> {
        let whole = Duration::from_secs(self.secs.unsigned_abs());
        let at = if self.secs >= 0 {
            UNIX_EPOCH.checked_add(whole)
        } else {
            UNIX_EPOCH.checked_sub(whole)
        };
        at?.checked_add(Duration::from_nanos(u64::from(self.nanos)))
    }

    /// `2026-11-23T12:00:00Z`; fractional seconds only when there are some, without
    /// trailing zeros.
    pub(crate) fn format_rfc3339(self) -> String {
        let mut out = self.format_rfc3339_seconds();
        out.pop();
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        out.push('Z');
        out
    }

    /// `2026-11-23T12:00:00Z`, fractional seconds dropped.
    pub(crate) fn format_rfc3339_seconds(self) -> String {
        let days = self.secs.div_euclid(SECS_PER_DAY);
        let rem = self.secs.rem_euclid(SECS_PER_DAY);
        // Inside 0000–9999 by construction; the fallback is never taken.
        let (y, m, d) = civil_from_days(days).unwrap_or((1970, 1, 1));
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format_rfc3339())
    }
}

impl FromStr for Timestamp {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_timestamp(s)
    }
}

/// RFC 3339 with whole seconds for a clock reading (`run`'s start time); `-` for a clock
/// outside 0000–9999, which humantime would turn into a panic.
pub(crate) fn format_system_time(t: SystemTime) -> String {
    Timestamp::from_system_time(t).map_or_else(|| "-".into(), Timestamp::format_rfc3339_seconds)
}

/// Shown wherever a timestamp is asked for.
pub(crate) const TIMESTAMP_EXAMPLE: &str = "2026-11-23T12:00:00Z or 2026-11-23T14:00:00+02:00";

/// Parses RFC 3339 (`Z` or a `±HH:MM` offset, optional fractional seconds); usable as a
/// clap `value_parser`.
pub(crate) fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    parse_rfc3339(s.as_bytes()).map_err(|why| {
        format!("invalid timestamp {s:?}: {why} (expected RFC 3339, like {TIMESTAMP_EXAMPLE})")
    })
}

/// `len` ASCII digits at `from` as a number; `None` if any is missing or not a digit.
fn digits_at(b: &[u8], from: usize, len: usize) -> Option<i64> {
    let digits = b.get(from..from.checked_add(len)?)?;
    digits.iter().try_fold(0i64, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(i64::from(c - b'0'))
        } else {
            None
        }
    })
}

/// `b[at]` is one of `want`.
fn sep(b: &[u8], at: usize, want: &[u8]) -> bool {
    b.get(at).is_some_and(|c| want.contains(c))
}

fn parse_rfc3339(b: &[u8]) -> Result<Timestamp, &'static str> {
    let (year, month, day) = parse_date(b)?;
    if !sep(b, 10, b"Tt") {
        return Err("date and time must be separated by `T`");
    }
    let secs_of_day = parse_time(b)?;
    let mut at = 19;
    let nanos = parse_fraction(b, &mut at)?;
    let offset = parse_offset(b, &mut at)?;
    if at != b.len() {
        return Err("unexpected text after the time zone");
    }
    unix_seconds(year, month, day, secs_of_day)
        .and_then(|s| s.checked_sub(offset))
        .and_then(|secs| Timestamp::from_unix(secs, nanos))
        .ok_or("the time is out of range")
}

/// `YYYY-MM-DD` at the start: year, month and day, the day checked against the month.
fn parse_date(b: &[u8]) -> Result<(i64, i64, i64), &'static str> {
    let year = digits_at(b, 0, 4).ok_or("the date must start with a four-digit year")?;
    if !sep(b, 4, b"-") || !sep(b, 7, b"-") {
        return Err("the date must be YYYY-MM-DD");
    }
    let month = digits_at(b, 5, 2).ok_or("the month must be two digits")?;
    let day = digits_at(b, 8, 2).ok_or("the day must be two digits")?;
    if !(1..=12).contains(&month) {
        return Err("the month must be 01 to 12");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("the day does not exist in that month");
    }
    Ok((year, month, day))
}

/// `HH:MM:SS` at offset 11, as seconds into the day.
fn parse_time(b: &[u8]) -> Result<i64, &'static str> {
    if !sep(b, 13, b":") || !sep(b, 16, b":") {
        return Err("the time must be HH:MM:SS");
    }
    let (Some(hour), Some(min), Some(sec)) = (
        digits_at(b, 11, 2),
        digits_at(b, 14, 2),
        digits_at(b, 17, 2),
    ) else {
        return Err("the time must be HH:MM:SS");
    };
    // 60 is a leap second: it lands on the next second, as most systems do.
    if hour > 23 || min > 59 || sec > 60 {
        return Err("the time is out of range");
    }
    Ok(hour * 3600 + min * 60 + sec)
}

/// Optional `.fraction` at `at` as nanoseconds; `at` moves past it.
fn parse_fraction(b: &[u8], at: &mut usize) -> Result<u32, &'static str> {
    let mut nanos = 0u32;
    if sep(b, *at, b".") {
        *at += 1;
        let start = *at;
        let mut scale = 100_000_000u32;
        while let Some(c) = b.get(*at).filter(|c| c.is_ascii_digit()) {
            // Digits past nanoseconds are accepted and dropped (scale is then 0).
            nanos += u32::from(c - b'0') * scale;
            scale /= 10;
            *at += 1;
        }
        if *at == start {
            return Err("a `.` must be followed by fractional seconds");
        }
    }
    Ok(nanos)
}

/// `Z` or `±HH:MM` at `at` as seconds east of UTC; `at` moves past it.
fn parse_offset(b: &[u8], at: &mut usize) -> Result<i64, &'static str> {
    match b.get(*at) {
        Some(b'Z' | b'z') => {
            *at += 1;
            Ok(0)
        }
        Some(&sign @ (b'+' | b'-')) => {
            let (Some(oh), true, Some(om)) = (
                digits_at(b, *at + 1, 2),
                sep(b, *at + 3, b":"),
                digits_at(b, *at + 4, 2),
            ) else {
                return Err("the offset must be `Z` or ±HH:MM");
            };
            if oh > 23 || om > 59 {
                return Err("the offset is out of range");
            }
            *at += 6;
            let secs = oh * 3600 + om * 60;
            Ok(if sign == b'+' { secs } else { -secs })
        }
        None => Err("the time zone is missing: end with `Z` or an offset like +02:00"),
        Some(_) => Err("the offset must be `Z` or ±HH:MM"),
    }
}

/// Seconds since the epoch of a civil date plus seconds into that day.
fn unix_seconds(year: i64, month: i64, day: i64, secs_of_day: i64) -> Option<i64> {
    days_from_civil(year, month, day)?
        .checked_mul(SECS_PER_DAY)?
        .checked_add(secs_of_day)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, day 0 is
// 1970-01-01), with every step checked so that any i64 year gives an answer or `None`.
// `m` must be 1–12; `d` may run past the month's end (the date rolls over), as HTTP
// dates have always been read here.
fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    if !(1..=12).contains(&m) {
        return None;
    }
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = ((153 * mp + 2) / 5).checked_add(d)?.checked_sub(1)?;
    let doe = (yoe * 365 + yoe / 4 - yoe / 100).checked_add(doy)?;
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

/// Year, month (1–12) and day (1–31) of a day number; `None` only for day numbers
/// whose year does not fit an i64.
fn civil_from_days(z: i64) -> Option<(i64, i64, i64)> {
    let z = z.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = era
        .checked_mul(400)?
        .checked_add(yoe)?
        .checked_add(i64::from(m <= 2))?;
    Some((y, m, d))
}

/// Years past this are all "never" to a sender; clamping keeps every HTTP date inside
/// i64 seconds.
const HTTP_MAX_YEAR: i64 = 1_000_000_000;

/// Unix seconds of an IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, the only HTTP date
/// format senders may generate (RFC 9110 §5.6.7). The weekday is not checked. A year of
/// more than four digits is read (and clamped) rather than refused, so a server's "not
/// for a very long time" still reads as that.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let rest = s.trim().split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    if !all_digits(day) || !all_digits(year) {
        return None;
    }
    let day: i64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)?;
    let month = i64::try_from(month).ok()? + 1;
    // All digits, so a failed parse can only mean "too many of them".
    let year = year.parse::<i64>().unwrap_or(i64::MAX).min(HTTP_MAX_YEAR);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| if all_digits(p) { p.parse().ok() } else { None })
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *sec > 60 {
        return None;
    }
    unix_seconds(year, month, day, h * 3600 + m * 60 + sec)
}

/// How long from `now` until the HTTP date `s`: zero for a date in the past, and no
/// overflow for one in the far future. `None` if `s` is not an IMF-fixdate.
pub(crate) fn until_http_date(s: &str, now: SystemTime) -> Option<Duration> {
    let at = i128::from(parse_http_date(s)?) * i128::from(NANOS_PER_SEC);
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    };
    let wait = at.saturating_sub(now);
    if wait <= 0 {
        return Some(Duration::ZERO);
    }
    let nanos = i128::from(NANOS_PER_SEC);
    let secs = u64::try_from(wait / nanos).unwrap_or(u64::MAX);
    let subsec = u32::try_from(wait % nanos).unwrap_or(0);
    Some(Duration::new(secs, subsec))
}

const DURATION_EXAMPLE: &str = "expected a duration like 1m 30s, 90s or a number of seconds";

/// The one duration parser, for every flag and field: humantime (`1m 30s`, `90s`,
/// `250ms`) or a plain non-negative number of seconds (`90`, `1.5`), read exactly (no
/// floating point). Unbounded: flags that feed a clock take [`duration_in`].
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(format!("empty duration: {DURATION_EXAMPLE}"));
    }
    if s.starts_with('-') {
        return Err(format!("invalid duration {s:?}: it must not be negative"));
    }
    // Only plain decimal numbers here: "inf", "NaN" and "1e3" are refused as humantime.
    if s.bytes().all(|c| c.is_ascii_digit() || c == b'.') && s.bytes().any(|c| c.is_ascii_digit()) {
        return plain_seconds(s)
            .ok_or_else(|| format!("invalid duration {s:?}: {DURATION_EXAMPLE}"))?
            .ok_or_else(|| format!("invalid duration {s:?}: too large"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration {s:?}: {e}; {DURATION_EXAMPLE}"))
}

/// `12`, `1.5`, `.5`, `2.`: `None` if malformed, `Some(None)` if too large. Digits past
/// nanoseconds are dropped.
fn plain_seconds(s: &str) -> Option<Option<Duration>> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.contains('.') {
        return None;
    }
    let mut secs = 0u64;
    for c in whole.bytes() {
        match secs
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
        {
            Some(v) => secs = v,
            None => return Some(None),
        }
    }
    let mut nanos = 0u32;
    let mut scale = NANOS_PER_SEC / 10;
    for c in frac.bytes() {
        nanos += u32::from(c - b'0') * scale;
        scale /= 10;
    }
    Some(Some(Duration::new(secs, nanos)))
}

/// A clap value parser for a duration flag: [`parse_duration`] within `min..=max`.
/// Flags are bounded so that adding them to a clock can never overflow.
pub(crate) fn duration_in(
    min: Duration,
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |s| {
        let d = parse_duration(s)?;
        if d < min {
            return Err(format!("must be at least {}", format_duration(min)));
        }
        if d > max {
            return Err(format!("must be at most {}", format_duration(max)));
        }
        Ok(d)
    }
}

/// Humantime form (`1m 30s`), as [`parse_duration`] reads it, to the millisecond: a
/// measured time left in a budget would otherwise read "782ms 328us 553ns".
pub(crate) fn format_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(millis(d))).to_string()
}

/// Wall-clock milliseconds since the Unix epoch: state files are shared between
/// processes, so only the wall clock is comparable across them. 0 for a clock before
/// 1970.
pub(crate) fn now_ms() -> u64 {
    system_time_ms(SystemTime::now())
}

fn system_time_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// Whole milliseconds of `d`, saturating: a `Duration` holds up to 2^64 seconds, which
/// no `u64` of milliseconds can.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn timestamp_utc_and_offsets() {
        assert_eq!(ts("1970-01-01T00:00:00Z").unix_seconds(), 0);
        assert_eq!(
            ts("2026-11-23T12:00:00Z").format_rfc3339(),
            "2026-11-23T12:00:00Z"
        );
        assert_eq!(ts("2026-11-23T14:00:00+02:00"), ts("2026-11-23T12:00:00Z"));
        assert_eq!(ts("2026-11-23T06:30:00-05:30"), ts("2026-11-23T12:00:00Z"));
        assert_eq!(ts("2026-11-23T12:00:00-00:00"), ts("2026-11-23T12:00:00Z"));
        // Offsets can move the date across a year boundary.
        assert_eq!(
            ts("2027-01-01T01:00:00+02:00").format_rfc3339(),
            "2026-12-31T23:00:00Z"
        );
        assert_eq!(ts("2026-11-23t12:00:00z"), ts("2026-11-23T12:00:00Z"));
    }

    #[test]
    fn timestamp_fractions() {
        let t = ts("2026-11-23T12:00:00.5Z");
        assert_eq!(t.subsec_nanos(), 500_000_000);
        assert_eq!(t.format_rfc3339(), "2026-11-23T12:00:00.5Z");
        assert_eq!(
            ts("2026-11-23T12:00:00.123456789123+01:00").format_rfc3339(),
            "2026-11-23T11:00:00.123456789Z"
        );
        assert!(parse_timestamp("2026-11-23T12:00:00.Z").is_err());
    }

    #[test]
    fn timestamp_calendar_edges() {
        assert_eq!(
            ts("2028-02-29T00:00:00Z").format_rfc3339(),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            ts("2000-02-29T23:59:59Z").format_rfc3339(),
            "2000-02-29T23:59:59Z"
        );
        assert!(parse_timestamp("2026-02-29T00:00:00Z").is_err());
        assert!(parse_timestamp("1900-02-29T00:00:00Z").is_err());
        assert!(parse_timestamp("2026-04-31T00:00:00Z").is_err());
        let err = parse_timestamp("2026-13-01T00:00:00Z").unwrap_err();
        assert!(err.contains("month"), "{err}");
        assert!(err.contains("RFC 3339"), "{err}");
        // A leap second lands on the next second.
        assert_eq!(
            ts("2016-12-31T23:59:60Z").format_rfc3339(),
            "2017-01-01T00:00:00Z"
        );
        assert_eq!(
            ts("1969-12-31T23:59:59.25Z").format_rfc3339(),
            "1969-12-31T23:59:59.25Z"
        );
        assert_eq!(ts("0000-01-01T00:00:00Z").unix_seconds(), MIN_SECS);
        assert!(parse_timestamp("0000-01-01T00:00:00+01:00").is_err());
        assert_eq!(
            ts("9999-12-31T23:59:59Z").format_rfc3339(),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn timestamp_rejects_malformed() {
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23 12:00:00Z",
            "2026-11-2312:00:00Z",
            "2026-11-23T12:00:00",
            "2026-11-23T12:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T12:00:00+2:00",
            "2026-11-23T12:00:00+0200",
            "2026-11-23T12:00:00+24:00",
            "2026-11-23T12:00:00Zjunk",
            "26-11-23T12:00:00Z",
            "2026-1-23T12:00:00Z",
            "2026-11-00T12:00:00Z",
            "２026-11-23T12:00:00Z",
            "2026-11-23T12:00:00.\u{e9}Z",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?} was accepted");
        }
        let err = parse_timestamp("2026-11-23 12:00:00Z").unwrap_err();
        assert!(err.contains("`T`"), "{err}");
    }

    #[test]
    fn timestamp_system_time_round_trip() {
        let t = ts("1969-12-31T23:59:59.25Z");
        assert_eq!(
            Timestamp::from_system_time(t.to_system_time().unwrap()),
            Some(t)
        );
        let t = ts("2026-11-23T12:00:00.000000001Z");
        assert_eq!(
            Timestamp::from_system_time(t.to_system_time().unwrap()),
            Some(t)
        );
        assert!(Timestamp::from_unix(0, 1_000_000_000).is_none());
        assert!(Timestamp::from_unix(END_SECS, 0).is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 1.5 "), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "-5", "inf", "NaN", "1e3", "abc", ".", "1..2"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m 30s");
        assert_eq!(format_duration(Duration::from_nanos(782_328_553)), "782ms");
        assert_eq!(
            format_duration(Duration::from_nanos(1_500_000_999)),
            "1s 500ms"
        );
    }

    #[test]
    fn timestamp_seconds_form_and_system_time() {
        assert_eq!(
            ts("2026-11-23T12:00:00.75Z").format_rfc3339_seconds(),
            "2026-11-23T12:00:00Z"
        );
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        assert_eq!(format_system_time(t), "2023-11-14T22:13:20Z");
        // humantime panics on these; a report must still be written.
        assert_eq!(
            format_system_time(UNIX_EPOCH - Duration::from_secs(1)),
            "1969-12-31T23:59:59Z"
        );
        if let Some(far) = UNIX_EPOCH.checked_add(Duration::from_secs(END_SECS as u64)) {
            assert_eq!(format_system_time(far), "-");
        }
    }

    #[test]
    fn calendar_math_is_checked() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(0, 1, 1), Some(MIN_SECS / SECS_PER_DAY));
        assert_eq!(days_from_civil(2024, 13, 1), None);
        assert_eq!(days_from_civil(i64::MAX, 12, 31), None);
        assert_eq!(days_from_civil(i64::MIN, 1, 1), None);
        assert_eq!(days_from_civil(2024, 1, i64::MAX), None);
        assert_eq!(civil_from_days(0), Some((1970, 1, 1)));
        assert_eq!(civil_from_days(-1), Some((1969, 12, 31)));
        assert_eq!(civil_from_days(i64::MAX), None);
        assert!(civil_from_days(i64::MIN).is_some());
        assert_eq!(unix_seconds(i64::MAX / 400, 6, 1, 0), None);
    }

    #[test]
    fn http_date_epoch_and_leap_day() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT"),
            Some(1_709_208_000)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(END_SECS - 1)
        );
    }

    #[test]
    fn http_date_refuses_other_forms() {
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov -1994 08:49:37 GMT",
            "Sun, 06 Nov +1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 +8:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 99999999999999999999:00:00 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn until_http_date_is_saturating() {
        let now = UNIX_EPOCH + Duration::from_millis(784_111_770_250);
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(
            until_http_date(date, now),
            Some(Duration::from_millis(6_750))
        );
        assert_eq!(
            until_http_date("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        let huge = "Fri, 31 Dec 99999999999999999999999999 23:59:59 GMT";
        let wait = until_http_date(huge, now).unwrap();
        assert!(wait > Duration::from_secs(HTTP_MAX_YEAR as u64 * 365 * 86_400 / 2));
        // A clock before 1970 still compares.
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(
            until_http_date("Thu, 01 Jan 1970 00:00:00 GMT", before),
            Some(Duration::from_secs(10))
        );
        assert_eq!(until_http_date("soon", now), None);
    }

    #[test]
    fn plain_seconds_are_exact() {
        assert_eq!(parse_duration("0.1"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.000000001"), Ok(Duration::new(1, 1)));
        assert_eq!(parse_duration("1.0000000019"), Ok(Duration::new(1, 1)));
        assert_eq!(parse_duration(".5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2."), Ok(Duration::from_secs(2)));
        assert_eq!(
            parse_duration("18446744073709551615"),
            Ok(Duration::from_secs(u64::MAX))
        );
        let err = parse_duration("100000000000000000000").unwrap_err();
        assert!(err.contains("too large"), "{err}");
        let err = parse_duration("100000000000000000000s").unwrap_err();
        assert!(err.contains("1m 30s"), "{err}");
    }

    #[test]
    fn duration_in_keeps_bounds_and_accepts_seconds() {
        let timeout = duration_in(Duration::from_millis(1), Duration::from_secs(86_400));
        assert_eq!(timeout("30"), Ok(Duration::from_secs(30)));
        assert_eq!(timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(timeout("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(timeout("0").unwrap_err(), "must be at least 1ms");
        assert_eq!(timeout("86401").unwrap_err(), "must be at most 1day");
        assert_eq!(timeout("1day"), Ok(Duration::from_secs(86_400)));
        // The same wording as `--duration` and event files.
        assert_eq!(
            timeout("soon").unwrap_err(),
            parse_duration("soon").unwrap_err()
        );
        let any = duration_in(Duration::ZERO, Duration::MAX);
        assert_eq!(any("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn wall_clock_milliseconds() {
        assert_eq!(
            system_time_ms(UNIX_EPOCH + Duration::from_millis(1_234)),
            1_234
        );
        assert_eq!(system_time_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
        let before = now_ms();
        assert!(before > 1_700_000_000_000, "{before}");
        assert!(now_ms() >= before);
    }

    fn civil() -> impl Strategy<Value = (i64, i64, i64, i64, i64, i64)> {
        (
            0i64..=9999,
            1i64..=12,
            1i64..=31,
            0i64..24,
            0i64..60,
            0i64..60,
        )
            .prop_filter("day exists", |(y, m, d, ..)| *d <= days_in_month(*y, *m))
    }

    proptest! {
        #[test]
        fn rfc3339_round_trips(secs in MIN_SECS..END_SECS, nanos in 0u32..NANOS_PER_SEC) {
            let t = Timestamp::from_unix(secs, nanos).unwrap();
            prop_assert_eq!(parse_timestamp(&t.format_rfc3339()), Ok(t));
            prop_assert_eq!(Timestamp::from_system_time(t.to_system_time().unwrap()), Some(t));
        }

        #[test]
        fn rfc3339_offsets_are_the_same_instant(
            (y, mo, d, h, mi, s) in civil(),
            sign in prop::bool::ANY,
            oh in 0i64..24,
            om in 0i64..60,
        ) {
            let local = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
            let z = ts(&format!("{local}Z"));
            let (c, shift) = if sign { ('+', -(oh * 3600 + om * 60)) } else { ('-', oh * 3600 + om * 60) };
            let expected = Timestamp::from_unix(z.unix_seconds() + shift, 0);
            let got = parse_timestamp(&format!("{local}{c}{oh:02}:{om:02}")).ok();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn civil_days_round_trip(z in -4_000_000_000_000_000i64..4_000_000_000_000_000) {
            let (y, m, d) = civil_from_days(z).unwrap();
            prop_assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), Some(z));
        }

        #[test]
        fn http_date_agrees_with_rfc3339((y, mo, d, h, mi, s) in civil()) {
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let http = format!("Mon, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT", MONTHS[usize::try_from(mo - 1).unwrap()]);
            let rfc = ts(&format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"));
            prop_assert_eq!(parse_http_date(&http), Some(rfc.unix_seconds()));
        }

        #[test]
        fn no_input_panics(s in "\\PC{0,40}", y in any::<i64>(), m in any::<i64>(), d in any::<i64>(), z in any::<i64>()) {
            let _ = parse_timestamp(&s);
            let _ = parse_duration(&s);
            let _ = parse_http_date(&s);
            let _ = until_http_date(&s, SystemTime::now());
            let _ = days_from_civil(y, m, d);
            let _ = civil_from_days(z);
            let _ = unix_seconds(y, m.rem_euclid(12) + 1, d, z);
            let date = format!("Sun, {} Nov {} {}:00:{} GMT", d.unsigned_abs(), y.unsigned_abs(), m.unsigned_abs() % 24, z.unsigned_abs());
            let _ = until_http_date(&date, SystemTime::now());
        }

        #[test]
        fn plain_seconds_match_whole_and_fraction(secs in any::<u64>(), nanos in 0u32..NANOS_PER_SEC) {
            prop_assert_eq!(parse_duration(&secs.to_string()), Ok(Duration::from_secs(secs)));
            prop_assert_eq!(parse_duration(&format!("{secs}.{nanos:09}")), Ok(Duration::new(secs, nanos)));
        }
    }
}
