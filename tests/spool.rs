//! Nothing lost: what could not be delivered waits in the spool, and `flush` delivers it
//! once, oldest first.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::{Env, Fault, MockServer};

fn setup() -> (Env, MockServer) {
    crate::support::hooked(crate::support::ServerOptions::default())
}

fn send(env: &Env, args: &[&str]) -> Command {
    let mut c = env.cmd();
    c.args(["send", "--webhook", "hook", "--retries", "0"])
        .args(args);
    c
}

fn flush(env: &Env) -> Command {
    let mut c = env.cmd();
    c.args(["flush", "--retries", "0"]);
    c
}

fn items(env: &Env) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(env.state().join("spool"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "json"));
    v.sort();
    v
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn exhausted_retries_are_spooled_then_flushed_once() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut send(&env, &["first"]))
        .assert_code(6)
        .assert_stderr_contains("mmnotify flush");
    server.script([Fault::Drop]);
    env.run(&mut send(&env, &["second"])).assert_code(5);
    let spooled = items(&env);
    assert_eq!(spooled.len(), 2);
    assert_eq!(mode(&env.state().join("spool")), 0o700);
    for p in &spooled {
        assert_eq!(mode(p), 0o600);
        let item: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        assert_eq!(item["source"], "name:hook");
    }
    assert_eq!(server.posts().len(), 0);

    env.run(&mut flush(&env))
        .assert_success()
        .assert_stderr_contains("2 posted");
    let posts: Vec<String> = server.posts().into_iter().map(|p| p.message).collect();
    assert_eq!(posts, ["first", "second"], "oldest first");
    assert!(items(&env).is_empty());
    env.run(&mut flush(&env)).assert_success();
    assert_eq!(server.posts().len(), 2, "a second flush posts nothing");
}

#[test]
fn what_is_not_spooled() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut send(&env, &["--no-spool", "x"]))
        .assert_code(6);
    server.script([Fault::Status(500)]);
    env.run(&mut send(&env, &["x"])).assert_code(6);
    server.script([Fault::Status(400)]);
    env.run(&mut send(&env, &["x"])).assert_code(40);
    assert!(items(&env).is_empty());
}

#[test]
fn flush_keeps_items_while_the_server_is_down() {
    let (env, server) = setup();
    server.script([Fault::Status(502)]);
    env.run(&mut send(&env, &["x"])).assert_code(6);
    server.script([Fault::Status(503)]);
    env.run(&mut flush(&env)).assert_code(6);
    let kept = items(&env);
    assert_eq!(kept.len(), 1);
    let item: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&kept[0]).unwrap()).unwrap();
    assert_eq!(item["attempts"], 2);
    env.run(&mut flush(&env)).assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn rejected_items_move_aside_with_the_reason() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut send(&env, &["x"])).assert_code(6);
    server.script([Fault::Status(403)]);
    env.run(&mut flush(&env)).assert_success();
    assert!(items(&env).is_empty());
    let rejected: Vec<PathBuf> = std::fs::read_dir(env.state().join("spool/rejected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let reason = rejected
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "reason"))
        .expect("a reason file");
    assert!(std::fs::read_to_string(reason).unwrap().contains("403"));
    assert_eq!(server.posts().len(), 0);
}

#[test]
fn half_written_items_are_never_delivered() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut send(&env, &["real"])).assert_code(6);
    // What a writer killed before its rename leaves behind.
    std::fs::write(
        env.state().join("spool/.tmp-123-456.json"),
        b"{\"version\":1,\"pay",
    )
    .unwrap();
    env.run(&mut flush(&env)).assert_success();
    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].message, "real");
}

#[test]
fn concurrent_flushes_post_each_item_once() {
    let (env, server) = setup();
    for i in 0..5 {
        server.script([Fault::Status(503)]);
        env.run(&mut send(&env, &[&format!("item {i}")]))
            .assert_code(6);
    }
    server.script([Fault::Delay(Duration::from_millis(200))]);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                env.run(&mut flush(&env)).assert_success();
            });
        }
    });
    let mut posts: Vec<String> = server.posts().into_iter().map(|p| p.message).collect();
    posts.sort();
    assert_eq!(posts, ["item 0", "item 1", "item 2", "item 3", "item 4"]);
    assert!(items(&env).is_empty());
}

#[test]
fn items_delivered_meanwhile_are_dropped() {
    let (env, server) = setup();
    let build = |env: &Env| {
        let mut c = env.cmd();
        c.args(["build", "--webhook", "hook", "--no-env", "--retries", "0"])
            .args(["--workflow", "ci", "--state", "failed", "--run-id", "77"]);
        c
    };
    server.script([Fault::Status(503)]);
    env.run(&mut build(&env)).assert_code(6);
    assert_eq!(items(&env).len(), 1);
    env.run(&mut build(&env)).assert_success();
    env.run(&mut flush(&env))
        .assert_success()
        .assert_stderr_contains("1 duplicate");
    assert_eq!(server.posts().len(), 1);
    assert!(items(&env).is_empty());
}

#[test]
fn unresolvable_sources_stay_with_a_warning() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut send(&env, &["x"])).assert_code(6);
    std::fs::rename(
        env.secrets_dir().join("hook.url"),
        env.secrets_dir().join("moved.url"),
    )
    .unwrap();
    env.run(&mut flush(&env))
        .assert_code(3)
        .assert_stderr_contains("cannot be resolved");
    assert_eq!(items(&env).len(), 1);
    std::fs::rename(
        env.secrets_dir().join("moved.url"),
        env.secrets_dir().join("hook.url"),
    )
    .unwrap();
    env.run(&mut flush(&env)).assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn environment_sources_are_saved_as_env() {
    let (env, server) = setup();
    server.script([Fault::Status(504)]);
    let mut c = env.cmd();
    c.args(["send", "--retries", "0", "x"])
        .env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    env.run(&mut c).assert_code(6);
    let item: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&items(&env)[0]).unwrap()).unwrap();
    assert_eq!(item["source"], "env");
    let mut c = flush(&env);
    c.env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    env.run(&mut c).assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn relative_secret_files_resolve_from_any_directory() {
    let (env, server) = setup();
    env.write_file("work/hook.url", &server.hook_url(), 0o600);
    server.script([Fault::Status(503)]);
    let mut c = env.cmd();
    c.current_dir(env.root().join("work")).args([
        "send",
        "--webhook-file",
        "hook.url",
        "--retries",
        "0",
        "x",
    ]);
    env.run(&mut c).assert_code(6);
    let item: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&items(&env)[0]).unwrap()).unwrap();
    assert!(
        item["source"].as_str().unwrap().starts_with("file:/"),
        "{item}"
    );
    let mut c = flush(&env);
    c.current_dir("/");
    env.run(&mut c).assert_success();
    assert_eq!(server.posts().len(), 1);
}

/// A spool whose lock cannot be opened is the operator's to fix (exit 3), not an internal
/// error; the items stay.
#[test]
fn a_spool_lock_that_cannot_be_opened_is_a_configuration_error() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut send(&env, &["kept"])).assert_code(6);
    // Root ignores modes; a directory in the lock's place fails for everyone.
    std::fs::create_dir(env.state().join("spool/.lock")).unwrap();
    env.run(&mut flush(&env))
        .assert_code(3)
        .assert_stderr_contains("spool must be writable");
    assert_eq!(items(&env).len(), 1);
    assert_eq!(server.posts().len(), 0);
}

/// A timer running flush every minute leaves no line when there was nothing to do.
#[test]
fn an_empty_flush_is_silent_unless_verbose() {
    let (env, _server) = setup();
    let run = env.run(&mut flush(&env));
    run.assert_success();
    assert_eq!(run.stderr, "", "{run:?}");
    env.run(flush(&env).arg("-v"))
        .assert_success()
        .assert_stderr_contains("0 posted");
}

/// An unusable dedupe store (a broken file in it) never keeps the spool from draining,
/// and never ends in exit 1: the item goes out undeduplicated, with a warning.
#[test]
fn flush_posts_through_an_unusable_dedupe_store() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    let mut c = env.cmd();
    c.args(["build", "--webhook", "hook", "--retries", "0", "--no-env"])
        .args(["--workflow", "ci", "--state", "failed", "--run-id", "77"]);
    env.run(&mut c).assert_code(6);
    let lock = env.state().join("dedupe/claims.lock");
    let _ = std::fs::remove_file(&lock);
    std::fs::create_dir_all(&lock).unwrap();
    env.run(&mut flush(&env))
        .assert_success()
        .assert_stderr_contains("without deduplication");
    assert_eq!(server.posts().len(), 1);
    assert!(items(&env).is_empty());
}
