//! The test suite's Mattermost emulator as a standalone process, for scripts/bench.py.
//! Prints `URL <hook url>` and, with `--tls`, `CA <pem path>`, then serves until stdin
//! closes. Build it with `cargo build --example mock_server`.

// Pedantic lints `tests/support` is exempt from (see `tests/main.rs`), each for its reason:
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

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Read;

use support::{MockServer, Pki, ServerOptions, TlsSetup};

fn main() {
    let tls = std::env::args().any(|a| a == "--tls");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = ServerOptions::default();
    if tls {
        let pki = Pki::generate(dir.path());
        println!("CA {}", pki.ca_cert.display());
        opts.tls = Some(TlsSetup::server(&pki));
    }
    let server = MockServer::start_with(opts);
    println!("URL {}", server.hook_url());
    println!("READY");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    eprintln!("mock server: {} requests", server.requests().len());
}
