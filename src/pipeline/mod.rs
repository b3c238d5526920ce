//! The layer under the commands: one event's path (filter → render → dedupe claim →
//! deliver → spool or record → outcome), shared by `send`, `build` (flags, `--events`,
//! `--consume`), `run`'s relay and `flush`; and the one output object. Nothing here
//! sees clap: the commands hand it plain configuration.

pub(crate) mod bot;
pub(crate) mod build;
pub(crate) mod dry_run;
pub(crate) mod enqueue;
pub(crate) mod locale;
pub(crate) mod notify;
pub mod output;
pub(crate) mod pace;
pub(crate) mod progress;
pub(crate) mod routes;
pub(crate) mod run_socket;
pub(crate) mod story;
