//! mmnotify posts notifications to Mattermost incoming webhooks. The binary is a thin
//! `main.rs`; everything else lives here so tests can reach the clap definition.

pub mod cli;
pub mod error;

// Secrets and the wire.
pub mod deliver;
pub mod diagnose;
pub mod payload;
pub mod retry;
pub mod secret;
pub mod tls;

// Commands.
pub mod doctor;
pub mod flush;
pub mod notify;
pub mod output;
pub mod probe;
pub mod send;

// State on disk.
pub mod dedupe;
pub mod spool;
pub mod statedir;

// Build events.
pub mod build_message;
pub mod ci;
pub mod event;
pub mod markdown;

// Task reports.
pub mod tail;
pub mod task;
pub mod task_report;

// Commands with their own modules.
pub mod build;
pub mod run;
