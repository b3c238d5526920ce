//! One integration-test binary, so cargo links once.

mod support;

mod build;
mod doctor;
mod emulator;
mod generated;
mod run;
mod send;
mod spool;
mod state;
