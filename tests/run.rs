//! `mmnotify run -- CMD`: exit codes pass through, output passes through untouched, and
//! the report shows what happened.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{setup, Env, Fault};

fn run_cmd(env: &Env, opts: &[&str], script: &str) -> Command {
    let mut c = env.cmd();
    c.args(["run", "--webhook", "hook"])
        .args(opts)
        .args(["--", "sh", "-c", script]);
    c
}

#[test]
fn exit_codes_pass_through_with_a_report_each() {
    let (env, server) = setup();
    let cases: &[(&str, i32, &[&str])] = &[
        ("echo fine", 0, &["✅ Succeeded"]),
        (
            "echo broken >&2; exit 3",
            3,
            &["❌ Failed", "exit 3", "broken"],
        ),
        ("kill -KILL $$", 137, &["❌ Failed", "SIGKILL"]),
    ];
    for (script, code, needles) in cases {
        server.clear();
        env.run(&mut run_cmd(&env, &[], script)).assert_code(*code);
        let posts = server.posts();
        assert_eq!(posts.len(), 1, "{script}");
        for n in *needles {
            assert!(
                posts[0].message.contains(n),
                "{script}: {n} not in {}",
                posts[0].message
            );
        }
        assert!(
            posts[0].message.contains("Duration"),
            "{}",
            posts[0].message
        );
    }
}

#[test]
fn max_runtime_stops_the_command_with_124() {
    let (env, server) = setup();
    env.run(&mut run_cmd(
        &env,
        &["--max-runtime", "300ms", "--kill-grace", "1s"],
        "sleep 30",
    ))
    .assert_code(124);
    let msg = &server.posts()[0].message;
    assert!(msg.contains("⏱ Timed Out"), "{msg}");

    // A command that ignores SIGTERM is killed after the grace period.
    server.clear();
    env.run(&mut run_cmd(
        &env,
        &["--max-runtime", "300ms", "--kill-grace", "300ms"],
        "trap '' TERM; sleep 30",
    ))
    .assert_code(124);
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn commands_that_cannot_start() {
    let (env, server) = setup();
    let mut c = env.cmd();
    c.args([
        "run",
        "--webhook",
        "hook",
        "--",
        "/nonexistent/tool",
        "--flag",
    ]);
    env.run(&mut c).assert_code(127);
    let not_exec = env.write_file("script.sh", "#!/bin/sh\necho hi\n", 0o644);
    let mut c = env.cmd();
    c.args(["run", "--webhook", "hook", "--"]).arg(&not_exec);
    env.run(&mut c).assert_code(126);
    let posts = server.posts();
    assert_eq!(posts.len(), 2);
    assert!(
        posts[0].message.contains("❌ Failed"),
        "{}",
        posts[0].message
    );
    assert!(
        posts[0].message.contains("/nonexistent/tool"),
        "{}",
        posts[0].message
    );
}

#[test]
fn output_passes_through_byte_for_byte() {
    let (env, server) = setup();
    let script = r"printf 'a\000b\r\n\377\033[31mred\033[0m\n'; printf 'err\n' >&2";
    let out = run_cmd(&env, &[], script).output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"a\0b\r\n\xff\x1b[31mred\x1b[0m\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn the_tail_is_bounded_and_made_safe() {
    let (env, server) = setup();
    let script = r"for i in $(seq 1 40); do echo line$i; done
printf '\033[1;32mgreen\033[0m\n'
printf 'fence ``` inside\n'
printf 'bad \377 byte\n'";
    env.run(&mut run_cmd(&env, &["--tail", "5"], script))
        .assert_success();
    let msg = &server.posts()[0].message;
    assert!(!msg.contains("line38"), "only the last 5 lines: {msg}");
    assert!(msg.contains("line39") && msg.contains("line40"), "{msg}");
    assert!(
        msg.contains("green") && !msg.contains('\u{1b}'),
        "ANSI removed: {msg}"
    );
    assert!(msg.contains('\u{fffd}'), "invalid UTF-8 replaced: {msg}");
    // Exactly one opening and one closing fence: the tail cannot close the block.
    assert_eq!(msg.matches("```").count(), 2, "{msg}");
}

#[test]
fn a_loud_command_still_fits_one_post() {
    let (env, server) = setup();
    let script = "yes 'a long line of output that repeats' | head -c 3000000";
    let out = run_cmd(&env, &["--tail", "100000"], script)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let msg = &server.posts()[0].message;
    assert!(msg.chars().count() <= 16383, "{}", msg.chars().count());
}

#[test]
fn name_log_url_and_default_name() {
    let (env, server) = setup();
    env.run(&mut run_cmd(
        &env,
        &[
            "--name",
            "nightly backup",
            "--log-url",
            "https://ci.example/log/7",
        ],
        "true",
    ))
    .assert_success();
    let msg = &server.posts()[0].message;
    assert!(msg.contains("nightly backup"), "{msg}");
    assert!(msg.contains("https://ci.example/log/7"), "{msg}");
    server.clear();
    env.run(&mut run_cmd(&env, &[], "true")).assert_success();
    assert!(
        server.posts()[0].message.contains("sh -c true"),
        "{}",
        server.posts()[0].message
    );
}

#[test]
fn on_filters_outcomes() {
    let (env, server) = setup();
    let run = env.run(&mut run_cmd(
        &env,
        &["--on", "failure,timeout", "--output", "json"],
        "true",
    ));
    run.assert_success();
    assert_eq!(run.json()["status"], "filtered");
    assert_eq!(server.requests().len(), 0);
    env.run(&mut run_cmd(&env, &["--on", "failure"], "exit 2"))
        .assert_code(2);
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn a_failed_post_only_warns_unless_strict() {
    let (env, server) = setup();
    server.script([Fault::Status(400)]);
    env.run(&mut run_cmd(&env, &[], "exit 0"))
        .assert_success()
        .assert_stderr_contains("warning")
        .assert_stderr_contains("400");
    server.script([Fault::Status(400)]);
    env.run(&mut run_cmd(&env, &["--strict"], "exit 0"))
        .assert_code(40);

    // No webhook at all: the job still runs.
    let mut c = env.cmd();
    c.args(["run", "--", "sh", "-c", "echo ran; exit 5"]);
    env.run(&mut c)
        .assert_code(5)
        .assert_stdout_contains("ran")
        .assert_stderr_contains("will not be posted");
    let mut c = env.cmd();
    c.args(["run", "--strict", "--", "sh", "-c", "echo ran"]);
    env.run(&mut c).assert_code(3).assert_stdout_contains("ran");
}

#[test]
fn dry_run_prints_the_report() {
    let env = Env::new();
    let mut c = env.cmd();
    c.args(["run", "--dry-run", "--", "sh", "-c", "echo out; exit 4"]);
    let run = env.run(&mut c);
    run.assert_code(4);
    let report: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert!(report["text"].as_str().unwrap().contains("❌ Failed"));
    assert!(run.stdout.starts_with("out\n"));
}

#[test]
fn sigterm_reaches_the_command_and_the_report_goes_out() {
    let (env, server) = setup();
    let mut c = run_cmd(
        &env,
        &[],
        r"trap 'echo got-term; exit 7' TERM; echo ready; sleep 30 & wait",
    );
    c.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.contains(&"got-term".to_string()), "{rest:?}");
    assert_eq!(child.wait().unwrap().code(), Some(7));
    assert!(server.wait_for_requests(1, Duration::from_secs(10)));
    let msg = &server.posts()[0].message;
    assert!(msg.contains("exit 7") && msg.contains("got-term"), "{msg}");
    // The state directory is still checked for leaks.
    env.run(&mut run_cmd(&env, &[], "true")).assert_success();
}
