//! Auditor's findings against the contract ("Build stories", "Bot account", "Sending
//! behaviour"): each test drives the real binary as a user following the contract would,
//! and fails on the code it was written against.

use crate::support::{botted, hooked, Run, ServerOptions};

fn json_lines(run: &Run) -> Vec<serde_json::Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Contract, Routing: "An event goes to every route that matches" and "The exit code is
/// the most severe over the routes"; Job history: the record is updated when the event's
/// outcome is final (posted). A matching route whose webhook cannot be resolved (a
/// missing `NAME.url`, exit 3) must not stop the other matching routes, must not hide
/// their outcomes from `--output json`, and must not keep a posted event out of the
/// job's history.
#[test]
fn audit_a_route_with_a_missing_webhook_does_not_stop_the_other_routes_or_the_story() {
    let (env, server) = hooked(ServerOptions::default());
    let config = env.write_file(
        "conf/routes.toml",
        "[[route]]\nwebhook = \"gone\"\n\n[[route]]\nwebhook = \"hook\"\n",
        0o600,
    );
    let build = |run_id: &str| {
        let mut c = env.cmd();
        c.args([
            "build",
            "--no-env",
            "--workflow",
            "ci",
            "--branch",
            "main",
            "--repository",
            "acme/app",
            "--run-id",
            run_id,
            "--state",
            "failed",
            "--output",
            "json",
            "--config",
        ])
        .arg(&config);
        env.run(&mut c)
    };
    let run = build("1");
    run.assert_code(3);
    assert_eq!(
        server.posts().len(),
        1,
        "the `hook` route matches too and must get the event: {}{}",
        run.stdout,
        run.stderr
    );
    let outcomes = json_lines(&run);
    let routes: Vec<_> = outcomes.iter().map(|o| o["route"].clone()).collect();
    assert_eq!(
        routes,
        ["hook", "gone"],
        "one object per route, each naming it: {}",
        run.stdout
    );
    // The event was posted to `hook`: the job's history has it, so the next failure is
    // the second in a row, not another "broken" (which would mention people again).
    let run = build("2");
    let posts = server.posts();
    let last = posts.last().expect("the second run posted to `hook`");
    assert_eq!(
        last.props["mmnotify"]["transition"], "still_failing",
        "{}",
        run.stdout
    );
    assert_eq!(last.props["mmnotify"]["streak"], 2);
}

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

/// Contract, Routing ("An event goes to every route that matches") and Redundant
/// gateways ("A bad password or configuration is exit 3 at start"; an entry is handled
/// like one line of `--events`). One entry matching a route whose `NAME.url` is missing
/// (deleted during a rotation, say) ends the gateway with exit 3 mid-run: the matching
/// `hook` route is not posted, nor is any later entry, and the packaged unit
/// (`RestartPreventExitStatus=2 3`) does not restart it.
#[test]
fn audit_a_gateway_keeps_posting_when_one_routes_webhook_is_missing() {
    let Some(redis) = crate::support::RedisServer::start(
        "audit_a_gateway_keeps_posting_when_one_routes_webhook_is_missing",
    ) else {
        return;
    };
    let (env, server) = hooked(ServerOptions::default());
    let config = env.write_file(
        "conf/routes.toml",
        "[[route]]\nwebhook = \"gone\"\nrepository = \"acme/*\"\n\n[[route]]\nwebhook = \"hook\"\n",
        0o600,
    );
    for (repo, run) in [("acme/app", "1"), ("other/lib", "2")] {
        let mut c = env.cmd();
        c.args([
            "build",
            "--enqueue",
            "--no-env",
            "--queue",
            &redis.url(),
            "--workflow",
            "ci",
            "--repository",
            repo,
            "--run-id",
            run,
            "--state",
            "failed",
        ]);
        env.run(&mut c).assert_success();
    }
    let mut c = env.cmd();
    c.args([
        "build",
        "--consume",
        "--drain",
        "--queue",
        &redis.url(),
        "--output",
        "json",
        "--config",
    ])
    .arg(&config);
    let run = env.run(&mut c);
    let repos: Vec<_> = server
        .posts()
        .iter()
        .map(|p| p.props["mmnotify"]["event"]["repository"].clone())
        .collect();
    assert_eq!(
        repos,
        ["acme/app", "other/lib"],
        "both entries match the `hook` route: {}{}",
        run.stdout,
        run.stderr
    );
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
