//! The state directory and the spool under attack and under stress: only our own files
//! are trusted, retries that may have posted say so, flush gives up on an unreachable
//! webhook at once, an unusable dedupe store loses no post, and `env` items stay with
//! their webhook.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use crate::support::{setup, wait_until, Env, Fault, OTHER_HOOK_ID};

/// `send` with retries.
fn send_retrying(env: &Env, retries: &str, args: &[&str]) -> Command {
    let mut c = env.cmd();
    c.args(["send", "--webhook", "hook", "--retries", retries])
        .args(args);
    c
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A loopback port with nothing listening: connections to it are refused.
fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// Item 5: only our own state is trusted.

#[test]
fn foreign_symlinked_and_loose_spool_items_are_never_posted() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "mine"]))
        .assert_code(6);
    let mine = env.spool_items().remove(0);
    let spool = env.state().join("spool");
    // Well-formed items that mmnotify did not write: another user's, a loose one, and a
    // symlink to one of ours.
    let plant = |name: &str, text: &str| {
        let mut item = read_json(&mine);
        item["payload"]["text"] = text.into();
        let p = spool.join(name);
        fs::write(&p, item.to_string()).unwrap();
        chmod(&p, 0o600);
        p
    };
    let as_root = crate::support::is_root_or_skip(
        "foreign_symlinked_and_loose_spool_items_are_never_posted (another user's item)",
        "giving a spool item to uid 65534",
    );
    let foreign = as_root.then(|| {
        let p = plant("0000000000001-0000000001-000000.json", "planted by nobody");
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        p
    });
    let loose = plant("0000000000002-0000000001-000000.json", "group-readable");
    chmod(&loose, 0o644);
    std::os::unix::fs::symlink(&mine, spool.join("0000000000003-0000000001-000000.json")).unwrap();

    let run = env.run(&mut env.flush(&[]));
    run.assert_success()
        .assert_stderr_contains("mode is 0644")
        .assert_stderr_contains("symlink")
        .assert_stderr_contains(if as_root { "3 skipped" } else { "2 skipped" });
    if as_root {
        run.assert_stderr_contains("owned by uid 65534");
    }
    let posts: Vec<String> = server.posts().into_iter().map(|p| p.message).collect();
    assert_eq!(posts, ["mine"], "only our own item is posted, once");
    assert!(
        foreign.as_ref().is_none_or(|f| f.exists()) && loose.exists(),
        "left for their owner to deal with"
    );
}

#[test]
fn a_world_writable_spool_is_refused_with_the_chmod() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "x"]))
        .assert_code(6);
    chmod(&env.state().join("spool"), 0o777);
    env.run(&mut env.flush(&[]))
        .assert_code(3)
        .assert_stderr_contains("mode 0777")
        .assert_stderr_contains(&format!(
            "chmod 0755 {}",
            env.state().join("spool").display()
        ));
    chmod(&env.state().join("spool/rejected"), 0o700);
    chmod(&env.state().join("spool"), 0o700);
    chmod(&env.state().join("spool/rejected"), 0o770);
    env.run(&mut env.flush(&[]))
        .assert_code(3)
        .assert_stderr_contains("chmod 0750");
    assert_eq!(server.posts().len(), 0);
}

#[test]
fn a_symlinked_or_foreign_state_dir_is_refused() {
    let (env, server) = setup();
    let real = env.root().join("real-state");
    fs::create_dir(&real).unwrap();
    chmod(&real, 0o700);
    let link = env.root().join("linked-state");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let build = |dir: &Path| {
        let mut c = env.cmd();
        c.args(["build", "--webhook", "hook", "--no-env", "--retries", "0"])
            .args(["--workflow", "ci", "--state", "failed", "--run-id", "5"])
            .env("MMNOTIFY_STATE_DIR", dir);
        c
    };
    env.run(&mut build(&link))
        .assert_code(3)
        .assert_stderr_contains("is a symlink");
    let mut f = env.flush(&[]);
    f.env("MMNOTIFY_STATE_DIR", &link);
    env.run(&mut f)
        .assert_code(3)
        .assert_stderr_contains("is a symlink");

    if crate::support::is_root_or_skip(
        "a_symlinked_or_foreign_state_dir_is_refused (a foreign state dir)",
        "giving the state directory to uid 65534",
    ) {
        std::os::unix::fs::chown(&real, Some(65534), None).unwrap();
        env.run(&mut build(&real))
            .assert_code(3)
            .assert_stderr_contains(&format!("chown 0 {}", real.display()));
    }
    assert_eq!(server.posts().len(), 0);
}

#[test]
fn a_missing_state_dir_is_created_private() {
    let (env, server) = setup();
    let dir = env.root().join("fresh/state");
    server.script([Fault::Status(503)]);
    let mut c = env.send(&["--retries", "0", "x"]);
    c.env("MMNOTIFY_STATE_DIR", &dir);
    env.run(&mut c).assert_code(6);
    for d in [dir.clone(), dir.join("spool"), dir.join("spool/rejected")] {
        assert_eq!(
            fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}

// Item 9: retries that may have posted say so.

#[test]
fn a_retry_after_a_timeout_that_posted_says_it_may_show_twice() {
    let (env, server) = setup();
    // The first request is answered (and posted) only after the client gave up on it.
    server.script([Fault::Delay(Duration::from_millis(1200))]);
    let run = env.run(&mut send_retrying(
        &env,
        "3",
        &[
            "--attempt-timeout",
            "400ms",
            "--output",
            "json",
            "deploy done",
        ],
    ));
    run.assert_success()
        .assert_stderr_contains("may appear twice");
    let out = run.json();
    assert_eq!(out["status"], "posted");
    assert_eq!(out["possible_duplicate"], true, "{out}");
    // A post that outlived its client's timeout lands a little later.
    wait_until("the second post", Duration::from_secs(5), || {
        server.posts().len() >= 2
    });
    assert_eq!(server.posts().len(), 2, "it really did post twice");

    // A retry after an answer that posted nothing is not a possible duplicate.
    server.clear();
    server.script([Fault::Status(503)]);
    let run = env.run(&mut send_retrying(&env, "2", &["--output", "json", "y"]));
    run.assert_success();
    assert!(
        run.json().get("possible_duplicate").is_none(),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("twice"), "{}", run.stderr);
}

#[test]
fn an_item_whose_every_try_timed_out_after_sending_is_marked_and_flush_warns() {
    let (env, server) = setup();
    server.script([
        Fault::Hang(Duration::from_secs(3)),
        Fault::Hang(Duration::from_secs(3)),
    ]);
    env.run(&mut send_retrying(
        &env,
        "1",
        &["--attempt-timeout", "300ms", "x"],
    ))
    .assert_code(5);
    let item = read_json(&env.spool_items()[0]);
    assert_eq!(item["maybe_delivered"], true, "{item}");

    // Refused outright: nothing can have been posted, so no mark.
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "y"]))
        .assert_code(6);
    let second = read_json(&env.spool_items()[1]);
    assert!(second.get("maybe_delivered").is_none(), "{second}");

    // Timed out in the TLS handshake, before any of the request left: no mark either.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    env.write_secret(
        "silent",
        &format!(
            "https://127.0.0.1:{}/hooks/{}",
            silent.local_addr().unwrap().port(),
            crate::support::HOOK_ID
        ),
    );
    let mut c = env.cmd();
    c.args(["send", "--webhook", "silent", "--retries", "1"])
        .args(["--attempt-timeout", "300ms", "z"]);
    env.run(&mut c).assert_code(5);
    let third = read_json(&env.spool_items()[2]);
    assert_eq!(third["attempts"], 2, "{third}");
    assert!(third.get("maybe_delivered").is_none(), "{third}");
    assert!(
        third["last_error"]
            .as_str()
            .unwrap()
            .contains("was not sent"),
        "{third}"
    );
    fs::remove_file(&env.spool_items()[2]).unwrap();

    let run = env.run(&mut env.flush(&[]));
    run.assert_success();
    let warnings = run
        .stderr
        .lines()
        .filter(|l| l.contains("may have posted it already"))
        .count();
    assert_eq!(warnings, 1, "{}", run.stderr);
    assert_eq!(server.posts().len(), 2);
}

// Item 10: flush gives up on a webhook at its first network failure.

#[test]
fn flush_stops_at_the_first_network_failure_of_a_webhook() {
    let (env, server) = setup();
    let port = refused_port();
    env.write_secret(
        "dead",
        &format!("http://127.0.0.1:{port}/hooks/{}", crate::support::HOOK_ID),
    );
    for i in 0..3 {
        let mut c = env.cmd();
        c.args(["send", "--webhook", "dead", "--retries", "0"])
            .arg(format!("dead {i}"));
        env.run(&mut c).assert_code(5);
        // An item for a webhook that works, in between: it still goes out.
        if i == 1 {
            server.script([Fault::Status(503)]);
            env.run(&mut env.send(&["--retries", "0", "alive"]))
                .assert_code(6);
        }
    }
    let before: Vec<Vec<u8>> = env
        .spool_items()
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    assert_eq!(before.len(), 4);

    let started = Instant::now();
    let mut c = env.cmd();
    // Each refused item alone would retry until its 2 s budget: three would take 6 s;
    // the bound leaves room for a loaded machine.
    c.args(["flush", "--timeout", "2s", "--retries", "20"]);
    let run = env.run(&mut c);
    let took = started.elapsed();
    run.assert_code(5)
        .assert_stderr_contains("1 failed")
        .assert_stderr_contains("2 not tried")
        .assert_stderr_contains("1 posted");
    assert!(took < Duration::from_millis(4_500), "flush took {took:?}");
    let posts: Vec<String> = server.posts().into_iter().map(|p| p.message).collect();
    assert_eq!(posts, ["alive"]);
    let after = env.spool_items();
    assert_eq!(after.len(), 3);
    assert_ne!(
        fs::read(&after[0]).unwrap(),
        before[0],
        "the tried item is updated"
    );
    assert_eq!(fs::read(&after[1]).unwrap(), before[1], "untouched");
    assert_eq!(fs::read(&after[2]).unwrap(), before[3], "untouched");
}

// Item 11: an unusable dedupe store never costs a post or means exit 1.

#[test]
fn an_unwritable_state_dir_posts_without_deduplication() {
    let (env, server) = setup();
    // Root ignores permission bits, so chmod 0500 cannot make a state dir unwritable in
    // these tests; a state dir below a regular file fails for every user (ENOTDIR), the
    // way a read-only or full file system fails.
    env.write_file("blocker", "not a directory\n", 0o600);
    let state = env.root().join("blocker/state");
    let build = |env: &Env| {
        let mut c = env.cmd();
        c.args(["build", "--webhook", "hook", "--no-env", "--retries", "0"])
            .args(["--workflow", "ci", "--state", "failed", "--run-id", "9"])
            .env("MMNOTIFY_STATE_DIR", &state);
        c
    };
    env.run(&mut build(&env))
        .assert_success()
        .assert_stderr_contains("without deduplication")
        .assert_stderr_contains("duplicates are possible");
    assert_eq!(server.posts().len(), 1);

    // A failed delivery exits by its own outcome, not 1, even with nowhere to spool.
    server.script([Fault::Status(503)]);
    env.run(&mut build(&env))
        .assert_code(6)
        .assert_stderr_contains("could not save the message in the spool");
}

// Item 12: `env` items stay with their webhook.

#[test]
fn env_items_are_posted_only_to_the_webhook_they_were_spooled_for() {
    let (env, server) = setup();
    server.script([Fault::Status(504)]);
    let mut c = env.cmd();
    c.args(["send", "--retries", "0", "for the first hook"])
        .env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    env.run(&mut c).assert_code(6);
    let key = env.state().join("spool.key");
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(fs::read(&key).unwrap().len(), 32);
    let item = read_json(&env.spool_items()[0]);
    assert_eq!(item["webhook_hmac"].as_str().unwrap().len(), 64, "{item}");

    let mut c = env.flush(&[]);
    c.env("MATTERMOST_WEBHOOK_URL", server.hook_url_for(OTHER_HOOK_ID));
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains("this item belongs to another webhook");
    assert_eq!(
        server.requests().len(),
        1,
        "nothing sent to the other webhook"
    );
    assert_eq!(env.spool_items().len(), 1);

    let mut c = env.flush(&[]);
    c.env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    env.run(&mut c).assert_success();
    assert_eq!(server.posts().len(), 1);
    assert!(env.spool_items().is_empty());
}

#[test]
fn env_items_without_a_fingerprint_are_kept() {
    let (env, server) = setup();
    server.script([Fault::Status(504)]);
    let mut c = env.cmd();
    c.args(["send", "--retries", "0", "old"])
        .env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    env.run(&mut c).assert_code(6);
    // As an mmnotify without fingerprints wrote it.
    let path = env.spool_items().remove(0);
    let mut item = read_json(&path);
    item.as_object_mut().unwrap().remove("webhook_hmac");
    fs::write(&path, item.to_string()).unwrap();

    let mut c = env.flush(&[]);
    c.env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains("without a webhook fingerprint");
    assert_eq!(server.posts().len(), 0);
    assert!(path.exists());
}

// Item 13: small truths.

#[test]
fn a_huge_max_payload_is_a_usage_error() {
    let env = Env::new();
    for v in ["67108865", "18446744073709551615", "0"] {
        let mut c = env.cmd();
        c.args(["send", "--dry-run", "--max-payload-bytes", v, "x"]);
        env.run(&mut c).assert_code(2);
    }
    let mut c = env.cmd();
    c.args(["send", "--dry-run", "--max-payload-bytes", "67108864", "x"]);
    env.run(&mut c).assert_success();
}

#[test]
fn a_refusing_proxy_is_named_as_the_proxy() {
    let (env, server) = setup();
    let port = refused_port();
    let run = env.run(&mut env.send(&[
        "--retries",
        "0",
        "--no-spool",
        "--proxy",
        &format!("http://127.0.0.1:{port}"),
        "x",
    ]));
    run.assert_code(5)
        .assert_stderr_contains(&format!("proxy 127.0.0.1:{port} refused the connection"));
    assert!(
        !run.stderr
            .contains(&format!("connection to 127.0.0.1:{}", server.port())),
        "the server is not blamed: {}",
        run.stderr
    );
}

#[test]
fn flush_removes_half_written_files_older_than_an_hour() {
    let (env, _server) = setup();
    env.run(&mut env.flush(&[])).assert_success();
    let spool = env.state().join("spool");
    let old = spool.join(".tmp-0000000000001-1-1.json-1-1-0");
    let young = spool.join(".tmp-0000000000002-1-1.json-1-1-0");
    for p in [&old, &young] {
        fs::write(p, b"{\"vers").unwrap();
    }
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();
    env.run(&mut env.flush(&[])).assert_success();
    assert!(!old.exists(), "a writer died long ago");
    assert!(young.exists(), "may belong to a writer still at work");
}

#[test]
fn doctor_keeps_to_its_timeout_budget() {
    let (env, server) = setup();
    server.script([Fault::Hang(Duration::from_secs(20))]);
    let started = Instant::now();
    let mut c = env.cmd();
    c.args([
        "doctor",
        "--webhook",
        "hook",
        "--timeout",
        "1s",
        "--attempt-timeout",
        "15s",
    ]);
    env.run(&mut c).assert_code(5);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "doctor took {took:?}");
}

/// A connection that closes after the whole request was sent is as unknowable as a
/// timeout: when a retry then posts, the outcome says it may show twice.
#[test]
fn a_retry_after_a_connection_cut_after_sending_says_it_may_show_twice() {
    let (env, server) = setup();
    server.script([Fault::Drop]);
    let run = env.run(&mut send_retrying(
        &env,
        "2",
        &["--output", "json", "deploy done"],
    ));
    run.assert_success()
        .assert_stderr_contains("may appear twice");
    assert_eq!(run.json()["possible_duplicate"], true, "{}", run.stdout);
}
