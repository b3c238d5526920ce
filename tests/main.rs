//! One integration-test binary, so cargo links once.

// Pedantic lints the test code is exempt from, each for its reason:
#![allow(
    // The emulator's date and rate-limit arithmetic and its FFI sizes cast small, known
    // values; a cast that went wrong would fail the test relying on it.
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    // Scenarios and the emulator's handlers follow the server's steps in order; split,
    // one story would be scattered over helpers used once.
    clippy::too_many_lines
)]

mod support;

mod architecture;
mod attack;
mod bot;
mod bot_gateway;
mod bot_outcome;
mod bot_threads;
mod build;
mod doctor;
mod dry_run;
mod echo;
mod emulator;
mod emulator_rest;
mod fleet;
mod fuzz;
mod gateway;
mod generated;
mod net;
mod outcome;
mod progress;
mod readme_stories;
mod recipes;
mod review;
mod run;
mod run_scrub;
mod run_socket;
mod secrets;
mod send;
mod sentinel;
mod spool;
mod state;
mod stories;
mod stories_audit;
mod stories_history;
mod time;
mod validate;
mod webhooks;
