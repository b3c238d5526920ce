//! One integration-test binary, so cargo links once.

mod generated;
