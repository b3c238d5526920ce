//! Audit 2: places where the binary does not do what /work/shared/cli-contract.md says.
//! Each test quotes the contract line it checks and fails on the code it was written on.

use std::process::Command;

use crate::support::{setup, Env};

fn cmd(env: &Env, args: &[&str]) -> Command {
    let mut c = env.cmd();
    c.args(args);
    c
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
