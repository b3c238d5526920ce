//! Redundant gateways on Redis: builders put events on a stream (`build --enqueue`),
//! gateways consume it (`build --consume`) and share one dedupe store. Nothing outside
//! this folder talks to Redis, and nothing here runs unless a Redis flag or variable is
//! given: `send` and plain `build` start exactly as before.

pub(crate) mod client;
pub(crate) mod consumer;
pub(crate) mod doctor;
pub(crate) mod flush;
pub(crate) mod queue;
pub(crate) mod store;
pub(crate) mod url;
