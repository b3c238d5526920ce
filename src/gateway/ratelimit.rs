//! One rate limit per webhook for every process that shares a store (`--rate-limit`), and
//! the fleet-wide pause after a 429. The budget is GCRA (the generic cell rate algorithm:
//! a token bucket kept as one number, the "theoretical arrival time" of the next post),
//! decided by one Lua script, so that the fleet's sum stays under the cap however many
//! gateways ask at once. Time is the Redis server's (`TIME` inside the script): the
//! gateways' clocks may disagree, the one server's cannot disagree with itself.
//! Without a shared store, [`LocalLimiter`] keeps the same budget in the process.
//!
//! The keys name the webhook by a digest the caller gives ([`webhook_key`]), never by its
//! token.

use std::time::{Duration, Instant};

use anyhow::Result;
use redis::Script;

use crate::error;
use crate::gateway::client::Redis;

const RATE_PREFIX: &str = "mmnotify:rate:";
const PAUSE_PREFIX: &str = "mmnotify:pause:";

/// The longest shared pause one 429 can set: a hostile or broken server answering
/// `Retry-After: 999999999` must not stop the fleet for years.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(3600);

/// GCRA with the shared pause first. KEYS: rate (the next theoretical arrival time, µs),
/// pause (until, µs). ARGV: interval µs, burst, the longest pause µs. Returns 0 (go) or
/// the µs to wait. Lua numbers are doubles: µs since 1970 (about 2^51) are exact. Writing
/// after `TIME` needs effects replication, the default since Redis 5; older servers are
/// asked for it.
///
/// Values no mmnotify could have written (a forged or corrupt key: of another type, a
/// pause beyond [`MAX_PAUSE`], an arrival time beyond the burst) must not stop the fleet
/// for good, nor fail every post until its entries are dead-lettered: a key of another
/// type and a pause longer than any 429 can set are deleted, and an arrival time too far
/// ahead starts afresh.
const ACQUIRE: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function read(key)
  local raw = redis.pcall('GET', key)
  if type(raw) == 'table' then
    redis.call('DEL', key)
    return 0
  end
  local n = tonumber(raw or '0')
  -- tonumber is strtod: 'nan' and 'inf' are numbers to it, and NaN compares false.
  if n == nil or n ~= n or n == math.huge or n == -math.huge then
    return 0
  end
  return n
end
local pause = read(KEYS[2])
if pause > now + tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[2])
  pause = 0
end
if pause > now then
  return math.ceil(pause - now)
end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = read(KEYS[1])
if tat < now or tat > now + burst * interval then
  tat = now
end
local next_tat = tat + interval
local allow_at = next_tat - burst * interval
if allow_at > now then
  return math.ceil(allow_at - now)
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX',
  math.ceil((next_tat - now) / 1000) + 1000)
return 0";

/// Extends the shared pause to now + ARGV[1] µs, never shortens it (a key of another
/// type is replaced). KEYS: pause.
/// Returns the µs the pause now lasts.
const PAUSE: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local want = now + tonumber(ARGV[1])
local raw = redis.pcall('GET', KEYS[1])
local cur = 0
if type(raw) ~= 'table' then
  cur = tonumber(raw or '0') or 0
end
if cur ~= cur or cur == math.huge then
  cur = 0
end
if cur < want then
  redis.call('SET', KEYS[1], string.format('%.0f', want), 'PX',
    math.ceil((want - now) / 1000) + 1000)
  cur = want
end
return math.ceil(cur - now)";

/// What the limiter says about one post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    /// Post now; the budget has been taken.
    Go,
    /// Ask again after this long (nothing was taken).
    Wait(Duration),
}

/// `--rate-limit N/s` or `N/min` with `--rate-burst M` (default N): at most `burst` posts
/// at once, then one per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    /// Time between two posts at the steady rate.
    pub interval: Duration,
    /// Posts allowed at once after a quiet spell (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `N/s` or `N/min` (N from 1; also `N/sec`, `N/second`, `N/m`, `N/minute`); the
    /// burst defaults to N. The flag itself is parsed by clap (`cli::parse::parse_rate`,
    /// the same rules); the tests write their rates this way.
    #[cfg(test)]
    pub(crate) fn parse(raw: &str, burst: Option<u32>) -> Result<Rate, String> {
        let (n, per) = raw
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("`{raw}` is not a rate; write N/s or N/min, e.g. 10/s"))?;
        let n: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{raw}`: the count must be a whole number from 1"))?;
        let per = match per.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            _ => return Err(format!("`{raw}`: the unit must be /s or /min")),
        };
        let burst = burst.unwrap_or(n);
        if burst == 0 {
            return Err("--rate-burst must be at least 1".into());
        }
        // 1,000,000/s is one per µs, the script's resolution; more is no limit at all.
        let interval = per / n;
        if interval < Duration::from_micros(1) {
            return Err(format!("`{raw}` is more than 1000000/s"));
        }
        Ok(Rate { interval, burst })
    }

    fn interval_micros(self) -> u64 {
        u64::try_from(self.interval.as_micros()).unwrap_or(u64::MAX)
    }
}

/// The name of a webhook in the rate and pause keys: a digest of its URL, so that the
/// token never reaches Redis, and every process posting to the same webhook shares one
/// budget.
pub(crate) fn webhook_key(webhook_url: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, webhook_url.as_bytes());
    crate::state::fingerprint::hex(&d.as_ref()[..16])
}

/// Takes one post from the shared budget of `key` (see [`webhook_key`]), or says how
/// long to wait: the shared pause first, then the rate.
pub(crate) fn acquire(redis: &mut Redis, key: &str, rate: Rate) -> Result<Permit> {
    let micros: u64 = redis.run("cannot check the shared rate limit", |con| {
        Script::new(ACQUIRE)
            .key(format!("{RATE_PREFIX}{key}"))
            .key(format!("{PAUSE_PREFIX}{key}"))
            .arg(rate.interval_micros())
            .arg(rate.burst)
            .arg(u64::try_from(MAX_PAUSE.as_micros()).unwrap_or(u64::MAX))
            .invoke(con)
    })?;
    Ok(match micros {
        0 => Permit::Go,
        n => Permit::Wait(Duration::from_micros(n)),
    })
}

/// Pauses every process of the store for `key` for `duration` (a 429's `Retry-After`,
/// capped at [`MAX_PAUSE`]); a longer pause already set stays. Returns how long the pause
/// now lasts.
pub(crate) fn pause(redis: &mut Redis, key: &str, duration: Duration) -> Result<Duration> {
    let micros = u64::try_from(duration.min(MAX_PAUSE).as_micros()).unwrap_or(u64::MAX);
    let left: u64 = redis.run("cannot set the shared pause", |con| {
        Script::new(PAUSE)
            .key(format!("{PAUSE_PREFIX}{key}"))
            .arg(micros)
            .invoke(con)
    })?;
    Ok(Duration::from_micros(left))
}

/// The same budget and pause within one process, for when no store is shared. The
/// caller gives the time, so that it can be tested exactly.
#[derive(Debug)]
pub(crate) struct LocalLimiter {
    rate: Rate,
    /// The theoretical arrival time of the next post; None before the first.
    tat: Option<Instant>,
    paused_until: Option<Instant>,
}

impl LocalLimiter {
    pub(crate) fn new(rate: Rate) -> LocalLimiter {
        LocalLimiter {
            rate,
            tat: None,
            paused_until: None,
        }
    }

    /// As [`acquire`], at `now`.
    pub(crate) fn acquire(&mut self, now: Instant) -> Permit {
        if let Some(until) = self.paused_until.filter(|u| *u > now) {
            return Permit::Wait(until - now);
        }
        let tat = self.tat.filter(|t| *t > now).unwrap_or(now);
        let next = tat + self.rate.interval;
        let allow_at = next
            .checked_sub(self.rate.interval * self.rate.burst)
            .unwrap_or(now);
        if allow_at > now {
            return Permit::Wait(allow_at - now);
        }
        self.tat = Some(next);
        Permit::Go
    }

    /// As [`pause`], from `now`.
    pub(crate) fn pause(&mut self, now: Instant, duration: Duration) -> Duration {
        let want = now + duration.min(MAX_PAUSE);
        let until = self.paused_until.filter(|u| *u > want).unwrap_or(want);
        self.paused_until = Some(until);
        until - now
    }
}

/// The two limiters behind one interface: the shared one (a store is given; the pause
/// applies with or without a rate) or the process's own (None: no `--rate-limit`, the
/// retry loop's own handling of a 429 is all there is).
pub(crate) enum Limiter {
    Shared { key: String, rate: Option<Rate> },
    Local(Option<LocalLimiter>),
}

impl Limiter {
    /// One post's permit. The shared pause applies with or without `--rate-limit`, so a
    /// shared limiter without a rate still checks it (with a rate no post can reach).
    pub(crate) fn acquire(&mut self, redis: Option<&mut Redis>, now: Instant) -> Result<Permit> {
        match self {
            Limiter::Local(None) => Ok(Permit::Go),
            Limiter::Local(Some(l)) => Ok(l.acquire(now)),
            Limiter::Shared { key, rate } => {
                let redis = redis.ok_or_else(|| error::config("a shared limiter needs Redis"))?;
                // Without --rate-limit only the pause counts: a rate of one per µs with
                // the largest burst never makes anyone wait.
                let rate = rate.unwrap_or(Rate {
                    interval: Duration::from_micros(1),
                    burst: u32::MAX,
                });
                acquire(redis, key, rate)
            }
        }
    }

    /// After a 429 with `Retry-After`: pauses the webhook (for the fleet when shared).
    pub(crate) fn pause(
        &mut self,
        redis: Option<&mut Redis>,
        now: Instant,
        duration: Duration,
    ) -> Result<Duration> {
        match self {
            Limiter::Local(None) => Ok(duration.min(MAX_PAUSE)),
            Limiter::Local(Some(l)) => Ok(l.pause(now, duration)),
            Limiter::Shared { key, .. } => {
                let redis = redis.ok_or_else(|| error::config("a shared limiter needs Redis"))?;
                pause(redis, key, duration)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::client::test_client;
    use crate::gateway::test_sentinel::Node;

    #[test]
    fn rates_parse_and_bad_ones_say_why() {
        assert_eq!(
            Rate::parse("5/s", None).unwrap(),
            Rate {
                interval: Duration::from_millis(200),
                burst: 5
            }
        );
        assert_eq!(
            Rate::parse(" 30/min ", Some(2)).unwrap(),
            Rate {
                interval: Duration::from_secs(2),
                burst: 2
            }
        );
        for (raw, burst, want) in [
            ("5", None, "not a rate"),
            ("0/s", None, "from 1"),
            ("-1/s", None, "from 1"),
            ("5/h", None, "unit"),
            ("5/s", Some(0), "at least 1"),
            ("2000000/s", None, "more than"),
        ] {
            let err = Rate::parse(raw, burst).unwrap_err();
            assert!(err.contains(want), "{raw}: {err}");
        }
    }

    #[test]
    fn webhook_keys_hide_the_token_and_tell_hooks_apart() {
        let a = webhook_key("https://mm.example/hooks/abcdefghijklmnopqrstuvwxyz");
        let b = webhook_key("https://mm.example/hooks/bbcdefghijklmnopqrstuvwxyz");
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(!a.contains("abcdef"));
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn the_local_limiter_gives_the_burst_then_one_per_interval() {
        let rate = Rate::parse("2/s", Some(3)).unwrap();
        let mut l = LocalLimiter::new(rate);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.acquire(t0), Permit::Go);
        }
        assert_eq!(l.acquire(t0), Permit::Wait(Duration::from_millis(500)));
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.acquire(t1), Permit::Go);
        assert_eq!(l.acquire(t1), Permit::Wait(Duration::from_millis(500)));
        // After a quiet spell the full burst is back, not more.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(l.acquire(t2), Permit::Go);
        }
        assert!(matches!(l.acquire(t2), Permit::Wait(_)));
        // A pause holds everything until it ends; a shorter one does not shorten it.
        assert_eq!(
            l.pause(t2, Duration::from_secs(10)),
            Duration::from_secs(10)
        );
        assert_eq!(l.pause(t2, Duration::from_secs(1)), Duration::from_secs(10));
        let t3 = t2 + Duration::from_secs(4);
        assert_eq!(l.acquire(t3), Permit::Wait(Duration::from_secs(6)));
        assert_eq!(l.acquire(t2 + Duration::from_secs(10)), Permit::Go);
        // A huge Retry-After is capped.
        assert_eq!(l.pause(t3, Duration::from_secs(u64::MAX / 4)), MAX_PAUSE);

        // The same through the common interface, which needs no Redis.
        let mut l = Limiter::Local(Some(LocalLimiter::new(Rate::parse("1/min", None).unwrap())));
        assert_eq!(l.acquire(None, t0).unwrap(), Permit::Go);
        assert_eq!(
            l.acquire(None, t0).unwrap(),
            Permit::Wait(Duration::from_secs(60))
        );
        let mut none = Limiter::Local(None);
        assert_eq!(none.acquire(None, t0).unwrap(), Permit::Go);
        assert_eq!(
            none.pause(None, t0, Duration::from_secs(5)).unwrap(),
            Duration::from_secs(5)
        );
        assert_eq!(
            l.pause(None, t0, Duration::from_secs(90)).unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            l.acquire(None, t0 + Duration::from_secs(60)).unwrap(),
            Permit::Wait(Duration::from_secs(30))
        );
    }

    /// Takes permits for `key` for `window` as fast as they come; returns how many.
    fn take_for(url: &str, key: &str, rate: Rate, window: Duration) -> usize {
        let mut redis = test_client(url);
        let end = Instant::now() + window;
        let mut grants = 0;
        while Instant::now() < end {
            match acquire(&mut redis, key, rate).unwrap() {
                Permit::Go => grants += 1,
                Permit::Wait(d) => std::thread::sleep(d.min(Duration::from_millis(20))),
            }
        }
        grants
    }

    #[test]
    fn two_processes_sharing_a_webhook_never_exceed_its_rate_together() {
        let Some(node) = Node::start("two_processes_sharing_a_webhook") else {
            return;
        };
        let rate = Rate::parse("20/s", Some(5)).unwrap();
        let key = webhook_key("https://mm.example/hooks/shared");
        let window = Duration::from_millis(1500);
        let start = Instant::now();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (url, key) = (node.url(), key.clone());
                std::thread::spawn(move || take_for(&url, &key, rate, window))
            })
            .collect();
        let each: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        let elapsed = start.elapsed();
        let total: usize = each.iter().sum();
        // The budget over the time the test saw (longer than the server's window):
        // the burst plus one per interval, plus the one that may start the window.
        let cap = 5 + 1 + usize::try_from(elapsed.as_millis() / 50).unwrap();
        assert!(
            total <= cap,
            "{each:?} = {total} grants in {elapsed:?}, cap {cap}"
        );
        // Both took part, and the budget was used (more than the burst alone).
        assert!(each.iter().all(|n| *n > 0), "{each:?}");
        assert!(total > 5, "{each:?}");
        // Another webhook has a budget of its own.
        let mut redis = test_client(&node.url());
        assert_eq!(
            acquire(&mut redis, &webhook_key("other"), rate).unwrap(),
            Permit::Go
        );
    }

    #[test]
    fn a_shared_pause_holds_every_process_until_it_ends() {
        let Some(node) = Node::start("a_shared_pause_holds_every_process") else {
            return;
        };
        let rate = Rate::parse("100/s", None).unwrap();
        let key = webhook_key("https://mm.example/hooks/paused");
        let mut a = test_client(&node.url());
        let mut b = test_client(&node.url());
        assert_eq!(acquire(&mut a, &key, rate).unwrap(), Permit::Go);
        // A 429 seen by `a` pauses `b` too, with or without a rate limit.
        let left = pause(&mut a, &key, Duration::from_secs(30)).unwrap();
        assert!(
            left > Duration::from_secs(29) && left <= Duration::from_secs(30),
            "{left:?}"
        );
        for redis in [&mut a, &mut b] {
            match acquire(redis, &key, rate).unwrap() {
                Permit::Wait(d) => assert!(d > Duration::from_secs(28), "{d:?}"),
                Permit::Go => panic!("a paused webhook granted a post"),
            }
        }
        let mut unlimited = Limiter::Shared {
            key: key.clone(),
            rate: None,
        };
        assert!(matches!(
            unlimited.acquire(Some(&mut b), Instant::now()).unwrap(),
            Permit::Wait(_)
        ));
        // A shorter pause does not shorten it; the key expires with the pause.
        let left = pause(&mut b, &key, Duration::from_secs(1)).unwrap();
        assert!(left > Duration::from_secs(28), "{left:?}");
        let ttl: i64 = node.query(&["PTTL", &format!("{PAUSE_PREFIX}{key}")]);
        assert!(ttl > 28_000 && ttl <= 31_000, "{ttl}");
        // A short pause ends, and posting resumes.
        let other = webhook_key("https://mm.example/hooks/short");
        pause(&mut a, &other, Duration::from_millis(100)).unwrap();
        assert!(matches!(
            acquire(&mut b, &other, rate).unwrap(),
            Permit::Wait(_)
        ));
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(acquire(&mut b, &other, rate).unwrap(), Permit::Go);
        // Nothing about the webhook but its digest reaches Redis.
        let keys: Vec<String> = node.query(&["KEYS", "*"]);
        assert!(keys.iter().all(|k| !k.contains("hooks")), "{keys:?}");
    }
}
