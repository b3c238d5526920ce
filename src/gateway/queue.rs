//! The builder's end of the queue: one `XADD` of the validated event.

use anyhow::Result;

use crate::gateway::client::Redis;

/// The one field a stream entry carries.
pub(crate) const EVENT_FIELD: &str = "event";

/// Adds `event_json` (compact JSON) to `stream` and returns the entry id.
pub(crate) fn enqueue(redis: &mut Redis, stream: &str, event_json: &str) -> Result<String> {
    redis.run("cannot add the event to the Redis stream", |con| {
        redis::cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg(EVENT_FIELD)
            .arg(event_json)
            .query::<String>(con)
    })
}
