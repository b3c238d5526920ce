//! `--rate-limit` and the pause after a 429, on the path every post takes: the
//! notifier's deliverer asks [`Pace`] for a turn before each attempt. The budget lives in
//! the shared Redis store when there is one (one GCRA script per webhook, so the fleet's
//! sum stays under the cap; the pause is shared with or without a rate), else in this
//! process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::gateway::client::Redis;
use crate::gateway::ratelimit::{webhook_key, Limiter, LocalLimiter, Permit, Rate};
use crate::gateway::url::RedisUrl;
use crate::secret::WebhookUrl;
use crate::text::time::format_duration;
use crate::wire::deliver;
use crate::wire::deliver::Gate;

/// Longest single sleep while waiting: a signal is noticed within it, and the shared
/// budget is asked again (another process may have been paused or freed meanwhile).
const STEP: Duration = Duration::from_millis(250);

/// Where the budget is and how long a post may wait for it. One budget per webhook:
/// `flush` posts to several through one deliverer.
pub(crate) struct Pace {
    rate: Option<Rate>,
    /// The shared store: the budget and the pause live there, per webhook.
    redis: Option<Mutex<Redis>>,
    /// Without a shared store: this process's budget per webhook (by its key).
    local: Mutex<HashMap<String, Limiter>>,
    /// How long the first attempt may wait for its turn; `None`: as long as it takes (a
    /// gateway keeps the entry pending meanwhile, and never drops it for waiting).
    max_wait: Option<Duration>,
    /// Set by a gateway: a stop ends the wait (the entry stays pending).
    stop: Option<fn() -> bool>,
    /// Time spent waiting for the budget or a pause, in µs (for the metrics).
    waited_us: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pace {
    /// Shared through `redis` when given (the pause applies even without a rate), else
    /// per process (`None` when there is no rate either).
    pub(crate) fn new(
        rate: Option<Rate>,
        redis: Option<Redis>,
        max_wait: Option<Duration>,
    ) -> Option<Pace> {
        if redis.is_none() && rate.is_none() {
            return None;
        }
        Some(Pace {
            rate,
            redis: redis.map(Mutex::new),
            local: Mutex::new(HashMap::new()),
            max_wait,
            stop: None,
            waited_us: AtomicU64::new(0),
        })
    }

    /// A gateway's stop check, so that a stop is not held up by a long pause.
    pub(crate) fn stop_when(mut self, stop: fn() -> bool) -> Pace {
        self.stop = Some(stop);
        self
    }

    /// Time spent waiting for the budget or a 429 pause so far.
    pub(crate) fn waited(&self) -> Duration {
        Duration::from_micros(self.waited_us.load(Ordering::Relaxed))
    }

    fn permit(&self, key: &str) -> Result<Permit, String> {
        let now = Instant::now();
        if let Some(redis) = &self.redis {
            let mut shared = Limiter::Shared {
                key: key.to_string(),
                rate: self.rate,
            };
            return shared
                .acquire(Some(&mut lock(redis)), now)
                .map_err(|e| format!("{e:#}"));
        }
        let Some(rate) = self.rate else {
            return Ok(Permit::Go);
        };
        lock(&self.local)
            .entry(key.to_string())
            .or_insert_with(|| Limiter::Local(Some(LocalLimiter::new(rate))))
            .acquire(None, now)
            .map_err(|e| format!("{e:#}"))
    }

    fn note_wait(&self, since: Instant) {
        let us = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.waited_us.fetch_add(us, Ordering::Relaxed);
    }

    fn what(&self) -> String {
        match self.rate {
            Some(r) => format!(
                "the rate limit (one post per {} per webhook, burst {}) or a 429's pause",
                format_duration(r.interval),
                r.burst
            ),
            None => "a 429's Retry-After pause for this webhook".into(),
        }
    }
}

impl Gate for Pace {
    fn turn(&self, url: &WebhookUrl, until: Option<Instant>) -> Result<(), String> {
        let key = webhook_key(url.expose());
        let start = Instant::now();
        // A gateway waits as long as it takes, retries included: an entry is never given
        // up (or dead-lettered) for being rate limited.
        let limit = self.max_wait.map(|m| until.unwrap_or(start + m));
        loop {
            let wait = match self.permit(&key) {
                Ok(Permit::Go) => {
                    self.note_wait(start);
                    return Ok(());
                }
                Ok(Permit::Wait(wait)) => wait,
                Err(e) => {
                    self.note_wait(start);
                    return Err(format!("not posted: {e}"));
                }
            };
            if limit.is_some_and(|l| Instant::now() + wait > l) {
                self.note_wait(start);
                return Err(format!(
                    "not posted: {} allows the next post in {}, past --timeout",
                    self.what(),
                    format_duration(wait)
                ));
            }
            if self.stop.is_some_and(|stop| stop()) {
                self.note_wait(start);
                return Err(format!(
                    "not posted: stopped while waiting for {}",
                    self.what()
                ));
            }
            std::thread::sleep(wait.min(STEP));
        }
    }

    fn retry_after(&self, url: &WebhookUrl, wait: Duration) {
        let key = webhook_key(url.expose());
        let now = Instant::now();
        // Best effort: the deliverer waits out Retry-After itself in any case.
        match &self.redis {
            Some(redis) => {
                let mut shared = Limiter::Shared {
                    key,
                    rate: self.rate,
                };
                let _ = shared.pause(Some(&mut lock(redis)), now, wait);
            }
            None => {
                if let Some(l) = lock(&self.local).get_mut(&key) {
                    let _ = l.pause(None, now, wait);
                }
            }
        }
    }
}

/// How a command paces its posts, as plain values: the rate, where the shared budget is,
/// and how long a post may wait for its turn.
#[derive(Clone, Default)]
pub(crate) struct Pacing {
    /// `--rate-limit` with `--rate-burst`.
    pub rate: Option<Rate>,
    /// The shared store's Redis (the dedupe store given, or a gateway's queue): the
    /// budget and the 429 pause are the fleet's.
    pub shared: Option<RedisUrl>,
    /// `None`: wait as long as it takes (a gateway); else `--timeout`.
    pub max_wait: Option<Duration>,
    pub stop: Option<fn() -> bool>,
}

impl Pacing {
    /// The pace of posts, or `None` when nothing paces them.
    pub(crate) fn pace(&self, delivery: &deliver::Settings) -> anyhow::Result<Option<Pace>> {
        let redis = match &self.shared {
            Some(u) => Some(Redis::new(u.clone(), delivery)?),
            None => None,
        };
        let pace = Pace::new(self.rate, redis, self.max_wait);
        Ok(match self.stop {
            Some(stop) => pace.map(|p| p.stop_when(stop)),
            None => pace,
        })
    }
}
