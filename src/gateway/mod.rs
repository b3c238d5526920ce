//! Redundant gateways on Redis: builders put events on a stream (`build --enqueue`),
//! gateways consume it (`build --consume`) and share one dedupe store. Nothing outside
//! this folder talks to Redis, and nothing here runs unless a Redis flag or variable is
//! given: `send` and plain `build` start exactly as before.

pub(crate) mod client;
pub(crate) mod consumer;
pub(crate) mod doctor;
pub(crate) mod flush;
pub(crate) mod lease;
pub(crate) mod metrics;
pub(crate) mod queue;
pub(crate) mod ratelimit;
pub(crate) mod store;
pub(crate) mod url;

/// Real `redis-server` processes for the unit tests of the plumbing above (a Sentinel
/// group, or one plain node): the integration tests' own support file, shared.
#[cfg(test)]
#[path = "../../tests/support/sentinel.rs"]
#[allow(dead_code, unreachable_pub)]
pub(crate) mod test_sentinel;

/// The support files' one polling helper, which `test_sentinel` waits with.
#[cfg(test)]
#[path = "../../tests/support/wait.rs"]
#[allow(dead_code, unreachable_pub)]
pub(crate) mod wait;
