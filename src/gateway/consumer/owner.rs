//! `--exclusive`: the gateways of a group hold one lease in Redis (`gateway::lease`);
//! only the holder consumes, the others stand by, connected, and take the lease when it
//! is released (SIGTERM) or runs out (the holder died). The holder renews it every third
//! of `--lease` from its loop.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{log, Consumer};
use crate::gateway::lease::{self, group_lease_key, Lease};
use crate::gateway::store::lock;

pub(super) struct Owner {
    key: String,
    ttl: Duration,
    lease: Option<Lease>,
    renewed: Instant,
    /// Standing by was said once (until this gateway held the lease again).
    said_standby: bool,
}

impl Owner {
    pub(super) fn new(stream: &str, group: &str, ttl: Duration) -> Owner {
        Owner {
            key: group_lease_key(stream, group),
            ttl,
            lease: None,
            renewed: Instant::now(),
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
            if owner.renewed.elapsed() < owner.ttl / 3 {
                return Ok(true);
            }
            if held.renew(&mut redis, owner.ttl)? {
                owner.renewed = Instant::now();
                return Ok(true);
            }
            owner.lease = None;
            owner.said_standby = false;
            drop(redis);
            self.set_owner_metric(false);
            log::notice(
                self.printer,
                "lost the --exclusive lease (it ran out before it was renewed): standing by",
            );
            return Ok(false);
        }
        let started = Instant::now();
        if let Some(held) = lease::acquire(&mut redis, &owner.key, &name, owner.ttl)? {
            owner.lease = Some(held);
            owner.renewed = started;
            drop(redis);
            self.set_owner_metric(true);
            log::notice(
                self.printer,
                "holding the --exclusive lease: this gateway consumes, the others stand by",
            );
            return Ok(true);
        }
        let holder = lease::owner(&mut redis, &owner.key)?.map(|o| o.holder);
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
