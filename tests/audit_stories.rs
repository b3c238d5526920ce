//! Auditor's findings against the contract ("Build stories", "Bot account", "Sending
//! behaviour"): each test drives the real binary as a user following the contract would,
//! and fails on the code it was written against.

use crate::support::{botted, ServerOptions};

/// Contract, Sending behaviour: "`-v` prints the redacted target, status, attempts and
/// time on stderr"; Bot account: the bot is "shown as `bot …k3c9 at
/// https://chat.example.com`". A bot post with `-v` prints nothing at all.
#[test]
fn audit_a_bot_post_with_v_prints_its_redacted_target_and_status() {
    let (env, server, seed) = botted(ServerOptions::default());
    let mut c = env.cmd();
    c.args([
        "build",
        "--no-env",
        "--workflow",
        "deploy",
        "--branch",
        "main",
        "--repository",
        "acme/app",
        "--run-id",
        "41",
        "--state",
        "failed",
        "--bot",
        "bot",
        "--channel",
        "dev-team/builds",
        "-v",
    ]);
    let run = env.run(&mut c);
    run.assert_success();
    assert_eq!(server.rest().roots_in(&seed.builds).len(), 1);
    let last4 = &seed.bot.token[seed.bot.token.len() - 4..];
    let target = format!("bot …{last4} at {}", server.url());
    run.assert_stderr_contains(&target);
}

/// Contract, Sending behaviour: "`--output json` prints one JSON object on stdout
/// describing the outcome (`status` …, plus `http_status`, `attempts`, `elapsed_ms`,
/// `target` (redacted), `error_id`)"; Bot account, Answers: 403 is exit 43 with the
/// fix. A bot post refused with 403 reports `http_status` and `error_id` as null in its
/// JSON outcome, although the diagnostic names both.
#[test]
fn audit_a_bot_posts_json_outcome_carries_the_http_status_and_error_id() {
    let (env, _server, _seed) = botted(ServerOptions::default());
    let mut c = env.cmd();
    c.args([
        "build",
        "--no-env",
        "--workflow",
        "deploy",
        "--run-id",
        "42",
        "--state",
        "failed",
        "--bot",
        "bot",
        // Open, but the bot is not a member: the create answers 403.
        "--channel",
        "dev-team/general",
        "--output",
        "json",
    ]);
    let run = env.run(&mut c);
    run.assert_code(43);
    let out = run.json();
    assert_eq!(out["http_status"], 403, "{out}");
    assert!(
        out["error_id"]
            .as_str()
            .is_some_and(|id| id.ends_with(".app_error")),
        "{out}"
    );
}
