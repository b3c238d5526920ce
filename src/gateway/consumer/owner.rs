//! `--exclusive`: the gateways of a group hold one lease in Redis (`gateway::lease`);
//! only the holder consumes, the others stand by, connected, and take the lease when it
//! is released (SIGTERM) or runs out (the holder died). The holder renews it every third
//! of `--lease`: from its loop, and from a keeper thread while an entry is in hand for
//! long (a slow post, a wait for the rate budget or a 429's pause), so that a holder that
//! is alive and busy never lets its lease run out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{log, Consumer};
use crate::gateway::lease::{self, group_lease_key, Lease};
use crate::gateway::store::{lock, SharedRedis};

/// Renews a held lease from its own thread every third of the lease, through the
/// gateway's connection, until stopped or until a renewal finds the lease no longer ours
/// (`lost`). A frozen process (SIGSTOP) freezes it too: that holder is replaced as if
/// dead, and the loop's own renewal on waking finds the lease gone.
struct Keeper {
    done: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Keeper {
    fn start(
        redis: SharedRedis,
        lease: Lease,
        ttl: Duration,
        renewed: Arc<Mutex<Instant>>,
    ) -> Keeper {
        let done = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, gone) = (Arc::clone(&done), Arc::clone(&lost));
        let thread = std::thread::spawn(move || loop {
            while last(&renewed).elapsed() < ttl / 3 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let at = Instant::now();
            match lease.renew(&mut lock(&redis), ttl) {
                Ok(true) => *last(&renewed) = at,
                Ok(false) => {
                    gone.store(true, Ordering::SeqCst);
                    return;
                }
                // Redis away: the loop's outage handling speaks; asked again soon.
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        });
        Keeper {
            done,
            lost,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The last renewal's time (a poisoned lock still holds a valid instant).
fn last(m: &Mutex<Instant>) -> std::sync::MutexGuard<'_, Instant> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) struct Owner {
    key: String,
    ttl: Duration,
    lease: Option<Lease>,
    /// When the lease was last renewed (by the loop or the keeper).
    renewed: Arc<Mutex<Instant>>,
    keeper: Option<Keeper>,
    /// Standing by was said once (until this gateway held the lease again).
    said_standby: bool,
}

impl Owner {
    /// The lease's length while this gateway holds it (`None` on standby).
    pub(super) fn held_lease(&self) -> Option<Duration> {
        self.lease.as_ref().map(|_| self.ttl)
    }

    pub(super) fn new(stream: &str, group: &str, ttl: Duration) -> Owner {
        Owner {
            key: group_lease_key(stream, group),
            ttl,
            lease: None,
            renewed: Arc::new(Mutex::new(Instant::now())),
            keeper: None,
            said_standby: false,
        }
    }
}

impl Consumer<'_> {
    /// Whether this gateway may consume now: always without `--exclusive`; with it, once
    /// it holds the lease (taken when free, renewed when due). A standby waits a little
    /// here, so that it asks again soon without spinning.
    pub(super) fn hold_lease(&mut self) -> Result<bool> {
        let Some(owner) = &mut self.owner else {
            return Ok(true);
        };
        let name = self.name.clone();
        let mut redis = lock(&self.redis);
        if let Some(held) = &owner.lease {
            let lost = owner
                .keeper
                .as_ref()
                .is_some_and(|k| k.lost.load(Ordering::SeqCst));
            if !lost && last(&owner.renewed).elapsed() < owner.ttl / 3 {
                return Ok(true);
            }
            let at = Instant::now();
            if !lost && held.renew(&mut redis, owner.ttl)? {
                *last(&owner.renewed) = at;
                return Ok(true);
            }
            owner.lease = None;
            owner.said_standby = false;
            drop(redis);
            if let Some(k) = owner.keeper.take() {
                k.stop();
            }
            self.set_owner_metric(false);
            log::notice(
                self.printer,
                "lost the --exclusive lease (it ran out before it was renewed): standing by",
            );
            return Ok(false);
        }
        let started = Instant::now();
        if let Some(held) = lease::acquire(&mut redis, &owner.key, &name, owner.ttl)? {
            *last(&owner.renewed) = started;
            owner.keeper = Some(Keeper::start(
                Arc::clone(&self.redis),
                held.clone(),
                owner.ttl,
                Arc::clone(&owner.renewed),
            ));
            owner.lease = Some(held);
            drop(redis);
            self.set_owner_metric(true);
            log::notice(
                self.printer,
                "holding the --exclusive lease: this gateway consumes, the others stand by",
            );
            return Ok(true);
        }
        // Only for the notice, once: a key forged between the two calls is replaced at
        // the next try, and an outage shows at the next step.
        let holder = if owner.said_standby {
            None
        } else {
            lease::owner(&mut redis, &owner.key)
                .ok()
                .flatten()
                .map(|o| o.holder)
        };
        drop(redis);
        let pause = (owner.ttl / 10).min(Duration::from_millis(500));
        if !owner.said_standby {
            owner.said_standby = true;
            log::notice(
                self.printer,
                &format!(
                    "standing by: {} holds the --exclusive lease",
                    holder.as_deref().unwrap_or("another gateway")
                ),
            );
        }
        std::thread::sleep(pause);
        Ok(false)
    }

    /// At a stop: the lease goes at once, so a standby takes over without waiting.
    pub(super) fn release_lease(&mut self) {
        if let Some(k) = self.owner.as_mut().and_then(|o| o.keeper.take()) {
            k.stop();
        }
        let Some(held) = self.owner.as_mut().and_then(|o| o.lease.take()) else {
            return;
        };
        let _ = held.release(&mut lock(&self.redis));
        self.set_owner_metric(false);
    }

    fn set_owner_metric(&mut self, owner: bool) {
        if let Some(r) = &mut self.report {
            r.metrics.owner = owner;
        }
    }
}
