//! One integration-test binary, so cargo links once.

mod support;

mod attack;
mod build;
mod doctor;
mod dry_run;
mod emulator;
mod fuzz;
mod gateway;
mod generated;
mod outcome;
mod progress;
mod recipes;
mod run;
mod run_socket;
mod secrets;
mod send;
mod spool;
mod state;
mod time;
mod validate;
mod webhooks;
