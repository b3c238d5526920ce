//! Test support for the `mmnotify` integration tests: the `Env` harness that runs the
//! binary and enforces redaction, real `redis-server`, Sentinel and SOCKS processes, and
//! the one polling helper. The Mattermost emulator (mock server, CONNECT proxy, PKI) is
//! the `mmnotify-emulator` crate whose root is `lib.rs` beside this file (a
//! dev-dependency, shared with `examples/mock_server.rs`), re-exported here so tests name
//! everything as `crate::support::…`.
// Not every test needs every helper.
#![allow(unused)]

mod env;
pub mod redis;
pub mod sentinel;
pub mod socks;
mod wait;

pub use mmnotify_emulator::{
    go_fold, go_marshal, http_date, new_id, query_parses, Bot, Call, Channel, ChannelKind,
    ConnectProxy, Era, Fault, Hook, MockServer, PatchRecord, Pki, Post, RateLimit, Request, Rest,
    RestChannel, RestPost, Seed, ServerOptions, TlsSetup, HOOK_ID, MAX_URL_LENGTH, OTHER_HOOK_ID,
    POST_PROPS_MAX_USER_RUNES,
};
pub use mmnotify_emulator::{proxy, rest, server, tls};

pub use self::redis::RedisServer;
pub use env::{Closed, Env, Run, Spawned};
pub use socks::SocksServer;
pub use wait::{wait_for, wait_until};

/// A running emulator and an Env that watches its hook ids for leaks (no secrets file:
/// the test writes its own).
pub fn watched(opts: ServerOptions) -> (Env, MockServer) {
    let server = MockServer::start_with(opts);
    let mut env = Env::new();
    env.watch(&server);
    (env, server)
}

/// A running emulator and an Env whose `secrets/hook.url` points at it (with a comment
/// and a blank line first, as operators write them); its hook ids are watched for leaks.
pub fn hooked(opts: ServerOptions) -> (Env, MockServer) {
    let (env, server) = watched(opts);
    env.write_secret("hook", &format!("# test hook\n\n{}\n", server.hook_url()));
    (env, server)
}

/// [`hooked`] with the emulator's defaults: what most tests start from (`env.send(..)`
/// then posts to it).
pub fn setup() -> (Env, MockServer) {
    hooked(ServerOptions::default())
}

/// `hooked` plus the REST world of `Rest::seed` (a bot in `dev-team`, its channels) and
/// `secrets/bot.bot` holding the server URL and the bot token, as the contract's `.bot`
/// file has them; the bot token is watched for leaks like the hook id (issue 18).
pub fn botted(opts: ServerOptions) -> (Env, MockServer, Seed) {
    let (mut env, server) = hooked(opts);
    let seed = server.rest().seed();
    env.secret(&seed.bot.token);
    env.write_file(
        "secrets/bot.bot",
        &format!("# test bot\n\n{}\n{}\n", server.url(), seed.bot.token),
        0o600,
    );
    (env, server, seed)
}

/// Whether the test runs as root, which parts of some tests need (giving a file to
/// another uid, running the binary as another user). Not root: a SKIP line on stderr,
/// so a skip is never mistaken for a pass, or a failure when `MMNOTIFY_REQUIRE_ROOT=1`
/// (set by `.ci/run`, which runs as root) asks for every test to run.
pub fn is_root_or_skip(test: &str, needs: &str) -> bool {
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory of ours.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var("MMNOTIFY_REQUIRE_ROOT").as_deref() != Ok("1"),
        "{test}: needs root ({needs}) and MMNOTIFY_REQUIRE_ROOT=1 requires it to run"
    );
    eprintln!(
        "{test}: SKIPPED: needs root ({needs}); set MMNOTIFY_REQUIRE_ROOT=1 to make this a failure"
    );
    false
}

/// A file's permission bits.
pub fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
