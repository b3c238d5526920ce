//! One integration-test binary, so cargo links once.

mod support;

mod generated;
mod send;
