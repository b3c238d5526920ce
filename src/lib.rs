//! mmnotify posts notifications to Mattermost incoming webhooks. The binary is a thin
//! `main.rs`; everything else lives here so tests can reach the clap definition.
//! `docs/architecture.md` describes the folders and what may depend on what.
//!
//! Only what `main.rs` and the tests reach is `pub`; `unreachable_pub` keeps the rest
//! `pub(crate)` so that rustc reports code nothing uses.
#![warn(unreachable_pub)]

pub mod cli;
pub mod error;

/// Normalized build events, CI detection, and the message built from them.
mod build_event;
/// One module per subcommand: clap's values turned into configuration for the layers below.
pub mod commands;
/// The config file (routes, people, templates): where it is, its trust rules, its schema.
mod config;
/// Redundant gateways on Redis: the shared queue, its consumer and the shared dedupe
/// store. Untouched unless a Redis flag or variable is given.
mod gateway;
/// One event's path from filter to outcome, the notifier, the run-socket client, and the
/// one writer to stdout and stderr (`output`).
pub mod pipeline;
/// The webhook URL type, where it comes from, and the rules its file must pass.
pub mod secret;
/// The state directory: spool and deduplication store.
mod state;
/// Build stories: job history and transitions, `--on` with transitions, mentions.
mod story;
/// `run`: supervising the job, its output tail, and the report.
mod task;
/// Markdown escaping shared by every message builder, and every reading and writing of
/// time (timestamps, HTTP dates, durations, the wall clock).
mod text;
/// Payload, HTTP delivery with retries, TLS, and what an answer means.
mod wire;
