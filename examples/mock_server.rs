//! The test suite's Mattermost emulator as a standalone process, for scripts/bench.py.
//! Prints `URL <hook url>` and, with `--tls`, `CA <pem path>`, then serves until stdin
//! closes. Build it with `cargo build --example mock_server`.

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
