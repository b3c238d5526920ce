//! Redundant gateways on Redis: builders put events on a stream (`build --enqueue`),
//! gateways consume it (`build --consume`) and share one dedupe store. Nothing outside
//! this folder talks to Redis, and nothing here runs unless a Redis flag or variable is
//! given: `send` and plain `build` start exactly as before.

pub mod client;
pub mod consumer;
pub mod doctor;
pub mod enqueue;
pub mod flush;
pub mod queue;
pub mod store;
pub mod url;
