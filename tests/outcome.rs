//! `--output json`: one schema for every outcome. Each exit path of the contract runs
//! once and its object must carry every key (null where it does not apply), with
//! `exit_code` equal to the process's own.

use std::process::Command;

use serde_json::Value;

use crate::support::{setup, Env, Fault, Run, HOOK_ID};

/// The keys of the contract's outcome object.
const KEYS: [&str; 8] = [
    "status",
    "exit_code",
    "http_status",
    "error_id",
    "attempts",
    "elapsed_ms",
    "target",
    "message",
];

fn build(env: &Env, args: &[&str]) -> Command {
    let mut c = env.cmd();
    c.args(["build", "--webhook", "hook", "--output", "json", "--no-env"])
        .args(["--workflow", "ci", "--run-id", "7"])
        .args(args);
    c
}

/// The one object on stdout, checked against the schema; returns it.
fn outcome(run: &Run, code: i32, status: &str) -> Value {
    run.assert_code(code);
    let v = run.json();
    for key in KEYS {
        assert!(v.get(key).is_some(), "`{key}` missing from {v}");
    }
    assert_eq!(v["status"], status, "{v}");
    assert_eq!(v["exit_code"], code, "{v}");
    // What went wrong, when something did; `run`'s job failing is not mmnotify's failure.
    if matches!(status, "failed" | "spooled") {
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    } else {
        assert!(v["message"].is_null(), "{v}");
    }
    v
}

#[test]
fn every_exit_path_prints_every_key() {
    let (env, server) = setup();

    let v = outcome(
        &env.run(&mut env.send(&["--output", "json", "hi"])),
        0,
        "posted",
    );
    assert_eq!(v["http_status"], 200);
    assert_eq!(v["attempts"], 1);
    assert!(v["elapsed_ms"].is_u64() && v["error_id"].is_null());

    let v = outcome(
        &env.run(&mut env.send(&["--output", "json", "--dry-run", "hi"])),
        0,
        "dry-run",
    );
    assert!(v["attempts"].is_null() && v["http_status"].is_null());
    assert_eq!(v["payload"]["text"], "hi", "extra keys stay: {v}");

    outcome(
        &env.run(&mut build(&env, &["--state", "failed"])),
        0,
        "posted",
    );
    outcome(
        &env.run(&mut build(&env, &["--state", "failed"])),
        0,
        "duplicate",
    );
    let v = outcome(
        &env.run(&mut build(
            &env,
            &["--state", "succeeded", "--on", "failed"],
        )),
        0,
        "filtered",
    );
    assert_eq!(v["event"]["workflow"], "ci");
    assert_eq!(
        server.posts().len(),
        2,
        "only the first send and build posted"
    );

    // No secret at all: stopped before anything else could be reported.
    let mut c = env.cmd();
    c.args(["send", "--output", "json", "x"])
        .env("MMNOTIFY_SECRETS_DIR", env.secrets_dir());
    let v = outcome(&env.run(&mut c), 3, "failed");
    assert!(v["target"].is_null());

    outcome(
        &env.run(&mut env.send(&["--output", "json", "   "])),
        4,
        "failed",
    );

    let cases: [(Fault, i32, &str); 6] = [
        (Fault::Status(500), 6, "failed"),
        (Fault::Status(405), 7, "failed"),
        (Fault::Status(400), 40, "failed"),
        (Fault::Status(403), 43, "failed"),
        (Fault::Status(404), 44, "failed"),
        (Fault::Status(503), 6, "spooled"),
    ];
    for (fault, code, status) in cases {
        server.clear();
        server.script(vec![fault; 2]);
        let v = outcome(
            &env.run(&mut env.send(&["--output", "json", "--retries", "1", "x"])),
            code,
            status,
        );
        assert!(v["http_status"].is_u64() && v["target"].is_string(), "{v}");
    }
}

#[test]
fn network_failures_and_probe_doctor_follow_the_schema() {
    let (mut env, server) = setup();
    let v = outcome(&env.run(&mut probe(&env)), 0, "posted");
    assert_eq!(v["http_status"], 200);
    let v = outcome(
        &env.run(env.doctor("hook").args(["--output", "json"])),
        0,
        "ok",
    );
    assert!(v["checks"].is_array(), "{v}");

    // A port nobody listens on: connection refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    env.secret(HOOK_ID);
    env.write_secret("hook", &format!("http://127.0.0.1:{port}/hooks/{HOOK_ID}"));
    let v = outcome(
        &env.run(&mut env.send(&["--output", "json", "--retries", "0", "--no-spool", "x"])),
        5,
        "failed",
    );
    assert!(v["http_status"].is_null() && v["attempts"] == 1, "{v}");
    outcome(
        &env.run(env.doctor("hook").args(["--output", "json"])),
        5,
        "failed",
    );
    drop(server);
}

fn probe(env: &Env) -> Command {
    let mut c = env.cmd();
    c.args(["probe", "--webhook", "hook", "--output", "json"]);
    c
}

#[test]
fn usage_errors_are_outcomes_too() {
    let env = Env::new();
    let refused: [&[&str]; 5] = [
        // clap's own parse errors: an unknown value, an unknown flag, a bad duration.
        &["send", "--output", "json", "--color", "red", "x"],
        &["probe", "-o", "json", "--retries", "2"],
        &["build", "--output=json", "--bogus"],
        &["send", "--timeout", "0s", "--output", "json", "x"],
        &["flush", "--output", "json", "--max-payload-bytes", "1"],
    ];
    for args in refused {
        let mut c = env.cmd();
        c.args(args);
        let run = env.run(&mut c);
        let v = outcome(&run, 2, "failed");
        assert!(run.stderr.contains("error:"), "{}", run.stderr);
        assert!(v["target"].is_null() && v["attempts"].is_null(), "{v}");
    }
    // Without --output json a usage error prints nothing on stdout.
    let mut c = env.cmd();
    c.args(["send", "--color", "red", "x"]);
    let run = env.run(&mut c);
    run.assert_code(2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn listings_that_fail_before_their_first_row_print_a_failed_outcome() {
    let env = Env::new();
    let mut c = env.cmd();
    c.args(["webhooks", "--output", "json", "--secrets-dir"])
        .arg(env.root().join("missing"));
    let v = outcome(&env.run(&mut c), 3, "failed");
    assert!(v["message"].as_str().unwrap().contains("missing"), "{v}");
}

#[test]
fn run_reports_the_exit_code_it_exits_with() {
    let (env, server) = setup();
    let mut c = env.cmd();
    c.args(["run", "--webhook", "hook", "--output", "json", "--"])
        .args(["sh", "-c", "exit 3"]);
    let v = outcome(&env.run(&mut c), 3, "posted");
    assert_eq!(v["http_status"], 200);
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn flush_says_failed_when_it_failed() {
    let (env, server) = setup();
    server.script(vec![Fault::Status(503); 2]);
    outcome(
        &env.run(&mut env.send(&["--output", "json", "--retries", "1", "x"])),
        6,
        "spooled",
    );

    let mut flush = env.cmd();
    flush.args(["flush", "--retries", "0", "--output", "json"]);
    server.script([Fault::Status(503)]);
    let v = outcome(&env.run(&mut flush), 6, "failed");
    assert_eq!(v["failed"], 1, "{v}");

    let v = outcome(&env.run(&mut flush), 0, "flushed");
    assert_eq!(v["posted"], 1, "{v}");
    assert_eq!(server.posts().len(), 1);
}
