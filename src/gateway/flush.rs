//! What `flush` needs from Redis: the shared dedupe store a spooled build recorded, and
//! the queue of a spooled `build --enqueue`. Each is resolved from the item's recorded
//! source (never a URL) and connected once per flush.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::error::{self, ExitKind};
use crate::gateway::client::Redis;
use crate::gateway::queue::{self, Queue};
use crate::gateway::store::{RedisStore, SharedStore};
use crate::gateway::url::{RedisSources, Role};
use crate::state::spool::SpoolItem;
use crate::wire::deliver;

/// How long flush remembers a delivered key when checking it (build's default TTL).
const DEDUPE_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

pub(crate) struct Stores<'a> {
    delivery: &'a deliver::Settings,
    replicas: Option<u32>,
    queue_sources: RedisSources,
    store_sources: RedisSources,
    stores: HashMap<String, RedisStore>,
    queues: HashMap<String, Redis>,
    /// Queues that failed once in this flush: the rest of their items wait, so one run
    /// lasts about one --timeout, as for webhooks.
    down: HashMap<String, String>,
}

impl<'a> Stores<'a> {
    pub(crate) fn new(
        queue: &Queue,
        store: &SharedStore,
        delivery: &'a deliver::Settings,
    ) -> Stores<'a> {
        Stores {
            delivery,
            replicas: queue.replicas,
            queue_sources: RedisSources::new(
                Role::Queue,
                queue.queue_file.clone(),
                queue.queue.clone(),
            ),
            store_sources: RedisSources::new(
                Role::Store,
                store.dedupe_store_file.clone(),
                store.dedupe_store.clone(),
            ),
            stores: HashMap::new(),
            queues: HashMap::new(),
            down: HashMap::new(),
        }
    }

    /// The shared dedupe store an item's key lives in.
    pub(crate) fn store(&mut self, reference: &str) -> Result<RedisStore> {
        if let Some(s) = self.stores.get(reference) {
            return Ok(s.clone());
        }
        let (url, _) = self
            .store_sources
            .resolve_spool_ref(Role::Store, reference)?;
        let mut redis = Redis::new(url, self.delivery)?;
        redis.set_replicas(self.replicas);
        let store = RedisStore::new(Arc::new(Mutex::new(redis)), DEDUPE_TTL);
        self.stores.insert(reference.to_string(), store.clone());
        Ok(store)
    }

    /// Adds a spooled event to its stream; returns the entry id.
    pub(crate) fn enqueue(&mut self, item: &SpoolItem) -> Result<String> {
        let reference = item.source.as_str();
        if let Some(why) = self.down.get(reference) {
            return Err(error::fail(
                ExitKind::Network,
                format!("not tried: {why} (earlier in this flush)"),
            ));
        }
        if !self.queues.contains_key(reference) {
            let (url, _) = self
                .queue_sources
                .resolve_spool_ref(Role::Queue, reference)?;
            let mut redis = Redis::new(url, self.delivery)?;
            redis.set_replicas(self.replicas);
            self.queues.insert(reference.to_string(), redis);
        }
        let redis = self.queues.get_mut(reference).expect("inserted above");
        let stream = item
            .stream
            .clone()
            .unwrap_or_else(|| "mmnotify:events".to_string());
        let result = redis.connect_within(self.delivery.timeout).and_then(|()| {
            queue::enqueue(
                redis,
                &stream,
                &item.payload.to_string(),
                self.delivery.timeout,
            )
        });
        if let Err(e) = &result {
            if error::exit_kind(e) == ExitKind::Network {
                self.down.insert(reference.to_string(), format!("{e:#}"));
            }
        }
        result
    }
}
