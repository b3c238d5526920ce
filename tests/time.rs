//! Durations and dates at the command line and on the wire: every duration flag takes
//! plain seconds within its bounds, and a server's `Retry-After` can be as far off as it
//! likes without a panic or a wait past the budget.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{setup, Env, Fault};

fn cmd(env: &Env, args: &[&str]) -> Command {
    let mut c = env.cmd();
    c.args(args);
    c
}

#[test]
fn every_duration_flag_takes_plain_seconds() {
    let (env, server) = setup();
    let send = ["send", "--webhook", "hook", "--timeout", "30"];
    env.run(&mut cmd(
        &env,
        &[&send[..], &["--attempt-timeout", "2.5", "x"]].concat(),
    ))
    .assert_success();
    assert_eq!(server.posts().len(), 1);

    let build = [
        "build",
        "--webhook",
        "hook",
        "--no-env",
        "--workflow",
        "ci",
        "--state",
        "failed",
        "--run-id",
        "7",
        "--duration",
        "90",
        "--dedupe-ttl",
        "60",
        "--timeout",
        "30",
    ];
    env.run(&mut cmd(&env, &build)).assert_success();
    let body = server.requests()[1].body_str().clone();
    assert!(body.contains("1m 30s"), "{body}");

    // Fractions are honoured, not rounded away: the command is stopped after 0.3 s.
    let start = Instant::now();
    let run = [
        "run",
        "--webhook",
        "hook",
        "--max-runtime",
        "0.3",
        "--kill-grace",
        "0.3",
        "--timeout",
        "30",
        "--",
        "sh",
        "-c",
        "sleep 30",
    ];
    env.run(&mut cmd(&env, &run)).assert_code(124);
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(server.posts().len(), 3);
}

#[test]
fn plain_seconds_keep_each_flags_bounds() {
    let (env, server) = setup();
    let cases: [(&[&str], &str); 5] = [
        (
            &["send", "--webhook", "hook", "--timeout", "0", "x"],
            "at least 1ms",
        ),
        (
            &[
                "send",
                "--webhook",
                "hook",
                "--attempt-timeout",
                "86401",
                "x",
            ],
            "at most 1day",
        ),
        (
            &["send", "--webhook", "hook", "--timeout", "soon", "x"],
            "a number of seconds",
        ),
        (
            &[
                "build",
                "--webhook",
                "hook",
                "--no-env",
                "--dedupe-ttl",
                "0.5",
            ],
            "at least 1s",
        ),
        (
            &[
                "run",
                "--webhook",
                "hook",
                "--max-runtime",
                "100000000000000000000",
                "--",
                "true",
            ],
            "too large",
        ),
    ];
    for (args, why) in cases {
        env.run(&mut cmd(&env, args))
            .assert_code(2)
            .assert_stderr_contains(why);
    }
    assert!(server.requests().is_empty());
}

#[test]
fn far_future_retry_after_is_bounded_by_the_budget() {
    let (env, server) = setup();
    for retry_after in [
        "Fri, 31 Dec 9999 23:59:59 GMT",
        // Overflowed the calendar arithmetic (a panic in debug builds) before it was checked.
        "Fri, 31 Dec 9223372036854775807 23:59:59 GMT",
        "Fri, 31 Dec 99999999999999999999999 23:59:59 GMT",
        "100000000000000000000",
    ] {
        server.clear();
        server.script([Fault::RateLimited {
            retry_after: retry_after.into(),
        }]);
        let start = Instant::now();
        let mut c = cmd(
            &env,
            &[
                "send",
                "--webhook",
                "hook",
                "--timeout",
                "2s",
                "--no-spool",
                "x",
            ],
        );
        env.run(&mut c)
            .assert_code(6)
            .assert_stderr_contains("asked to delay")
            .assert_stderr_contains("budget");
        assert_eq!(server.requests().len(), 1, "{retry_after}: retried anyway");
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{retry_after}: waited"
        );
    }
}
