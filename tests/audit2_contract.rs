//! Audit 2: places where the binary does not do what /work/shared/cli-contract.md says.
//! Each test quotes the contract line it checks and fails on the code it was written on.

use std::process::Command;

use crate::support::{setup, Env, Fault};

fn spool_one(env: &Env, server: &crate::support::MockServer) {
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "first"]))
        .assert_code(6);
}

fn cmd(env: &Env, args: &[&str]) -> Command {
    let mut c = env.cmd();
    c.args(args);
    c
}

/// Contract, Spool: "`mmnotify spool list` prints one line per item: id, kind, age,
/// attempts, last error, redacted source". The redacted source is the last column, so
/// a script can take it with `awk '{print $NF}'`; the binary prints it before the error.
#[test]
fn spool_list_line_ends_with_the_redacted_source() {
    let (env, server) = setup();
    spool_one(&env, &server);
    let out = env.run(&mut cmd(&env, &["spool", "list"]));
    out.assert_success();
    let line = out.stdout.lines().next().expect("one line");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert!(line.contains("503"), "last error: {line}");
    assert_eq!(cols.last(), Some(&"name:hook"), "source last: {line}");
}

/// Contract, Spool: "`--output json`: one object per item: id, kind, age, attempts,
/// last error, redacted source". Every other field is there under its own name (`id`,
/// `kind`, `attempts`, `last_error`, `source`); the age is only `age_s`.
#[test]
fn spool_list_json_has_an_age_field() {
    let (env, server) = setup();
    spool_one(&env, &server);
    let out = env.run(&mut cmd(&env, &["spool", "list", "--output", "json"]));
    out.assert_success();
    let obj: serde_json::Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert!(!obj["age"].is_null(), "no `age` in {obj}");
}

/// Contract, Task reports: "Every send option (`--webhook`, `--channel`, `--timeout`,
/// `--dry-run`, …) works here." `--max-payload-bytes` (the body limit of "Validated
/// before sending") is a send option that `run` refuses as unknown (exit 2).
#[test]
fn run_takes_the_payload_size_limit_of_send() {
    let (env, _server) = setup();
    let out = env.run(&mut cmd(
        &env,
        &[
            "run",
            "--webhook",
            "hook",
            "--dry-run",
            "--max-payload-bytes",
            "300000",
            "--",
            "true",
        ],
    ));
    out.assert_success();
}

/// Contract, Task reports: "Every send option … works here"; Message content: "`--card
/// TEXT` sets `props.card`; `--prop KEY=JSON` sets any other prop." A runbook card on a
/// nightly job's report is the obvious use; `run` refuses both (exit 2).
#[test]
fn run_takes_card_and_prop_of_send() {
    let (env, _server) = setup();
    let out = env.run(&mut cmd(
        &env,
        &[
            "run",
            "--webhook",
            "hook",
            "--dry-run",
            "--card",
            "runbook",
            "--prop",
            "team=\"ops\"",
            "--",
            "true",
        ],
    ));
    out.assert_success();
    let payload: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(payload["props"]["card"], "runbook");
    assert_eq!(payload["props"]["team"], "ops");
}
