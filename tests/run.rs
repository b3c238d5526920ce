//! `mmnotify run -- CMD`: exit codes pass through, output passes through untouched, and
//! the report shows what happened.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{setup, Env, Fault, HOOK_ID};

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

/// Contract, Task reports: "Every send option (`--webhook`, `--channel`, `--timeout`,
/// `--dry-run`, …) works here." `--max-payload-bytes` (the body limit of "Validated
/// before sending") is one; audit 2: `run` refused it as unknown (exit 2). It is the
/// report's limit too: under a limit the report cannot fit, nothing is posted and the
/// job's exit code stands.
#[test]
fn run_takes_the_payload_size_limit_of_send() {
    let (env, server) = setup();
    env.run(&mut run_cmd(
        &env,
        &["--dry-run", "--max-payload-bytes", "300000"],
        "true",
    ))
    .assert_success();
    env.run(&mut run_cmd(
        &env,
        &["--max-payload-bytes", "200"],
        "exit 7",
    ))
    .assert_code(7)
    .assert_stderr_contains("the report was not posted")
    .assert_stderr_contains("over the limit of 200");
    assert!(server.posts().is_empty());
    env.run(&mut run_cmd(
        &env,
        &["--max-payload-bytes", "300000"],
        "true",
    ))
    .assert_success();
    assert_eq!(server.posts().len(), 1);
}

/// Contract, Task reports: "Every send option … works here"; Message content: "`--card
/// TEXT` sets `props.card`; `--prop KEY=JSON` sets any other prop." A runbook card on a
/// nightly job's report is the obvious use; audit 2: `run` refused both (exit 2).
#[test]
fn run_takes_card_and_prop_of_send() {
    let (env, server) = setup();
    let opts = ["--card", "runbook", "--prop", "team=\"ops\""];
    let out = env.run(&mut run_cmd(
        &env,
        &[&opts[..], &["--dry-run"]].concat(),
        "true",
    ));
    out.assert_success();
    let payload: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(payload["props"]["card"], "runbook");
    assert_eq!(payload["props"]["team"], "ops");

    env.run(&mut run_cmd(&env, &opts, "true")).assert_success();
    let post = &server.posts()[0];
    assert_eq!(post.props["card"], "runbook", "{}", post.props);
    assert_eq!(post.props["team"], "ops");
    // Beside the report's own props, which machines read.
    assert_eq!(post.props["mmnotify"]["kind"], "run", "{}", post.props);

    // props.mmnotify is the report's: a --prop may not replace it (exit 2, job not run).
    let marker = env.root().join("ran");
    env.run(&mut run_cmd(
        &env,
        &["--prop", "mmnotify={}"],
        &format!("touch {}", marker.display()),
    ))
    .assert_code(2)
    .assert_stderr_contains("--prop mmnotify");
    assert!(!marker.exists(), "the job must not run");
}

/// The attachment flags of send add to the report's own attachment: title, footer and
/// fields after the exit code and duration; `--color` replaces the outcome's colour;
/// `--priority` marks the post. The plain headline stays the fallback.
#[test]
fn run_adds_the_attachment_flags_to_its_report() {
    let (env, server) = setup();
    env.run(&mut run_cmd(
        &env,
        &[
            "--title",
            "Nightly backup",
            "--title-link",
            "https://ci.example.com/job/7",
            "--footer",
            "db1",
            "--field",
            "Host=db1",
            "--field-short",
            "Shard=3",
            "--color",
            "#123456",
            "--priority",
            "urgent",
        ],
        "exit 3",
    ))
    .assert_code(3);
    let post = &server.posts()[0];
    let atts = post.attachments.as_array().expect("attachments");
    assert_eq!(atts.len(), 1, "one attachment: {}", post.attachments);
    let att = &atts[0];
    assert_eq!(att["color"], "#123456", "{att}");
    assert_eq!(att["title"], "Nightly backup");
    assert_eq!(att["title_link"], "https://ci.example.com/job/7");
    assert_eq!(att["footer"], "db1");
    assert!(
        att["fallback"].as_str().unwrap().contains("❌ Failed"),
        "{att}"
    );
    let titles: Vec<&str> = att["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Exit code", "Duration", "Host", "Shard"], "{att}");
    assert_eq!(att["fields"][2]["short"], false);
    assert_eq!(att["fields"][3]["short"], true);
    assert_eq!(
        post.priority.as_ref().map(|p| p["priority"].clone()),
        Some("urgent".into())
    );
    assert!(post.message.contains("❌ Failed"), "{}", post.message);
}

/// The send options that cannot apply to a report (it is built from the job, is always
/// one post, and shows its tail in a code block already) are not `run`'s: a usage error
/// (exit 2) naming the option, before the job runs, and `run --help` says which and why.
#[test]
fn run_help_names_the_send_options_a_report_cannot_use() {
    let (env, server) = setup();
    let marker = env.root().join("ran");
    let script = format!("touch {}", marker.display());
    for opts in [
        &["--payload", "p.json"][..],
        &["--text-file", "t.txt"][..],
        &["--code"][..],
        &["--split"][..],
    ] {
        env.run(&mut run_cmd(&env, opts, &script))
            .assert_code(2)
            .assert_stderr_contains(&format!("'{}'", opts[0]));
        assert!(!marker.exists(), "{opts:?}: the job must not run");
    }
    assert!(server.posts().is_empty());
    let mut c = env.cmd();
    c.args(["run", "--help"]);
    let help = env.run(&mut c);
    help.assert_success();
    let text = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "not --payload, --text-file, --code or --split",
        "built from the job, is one post",
        "--color replaces the outcome's colour",
    ] {
        assert!(text.contains(needle), "{needle}: {}", help.stdout);
    }
}

/// What send's options add to the report is the user's own message: holding the webhook's
/// own token (bare, in a URL, with escaped slashes or a `\u` escape in a prop) it is
/// refused with exit 4 as `send` refuses it, before the job runs and with nothing sent,
/// not quietly redacted into the report.
#[test]
fn run_refuses_the_webhook_token_in_the_send_options_before_the_job() {
    let (env, server) = setup();
    let marker = env.root().join("ran");
    let script = format!("touch {}", marker.display());
    let url = server.url();
    let title = format!("see {HOOK_ID}");
    let link = format!("{url}/hooks/{HOOK_ID}");
    let escaped = format!(r#"a="http:\/\/x\/hooks\/{HOOK_ID}""#);
    let unicode = format!(r#"a="\u0070{}""#, &HOOK_ID[1..]);
    let field = format!("Hook={HOOK_ID}");
    for opts in [
        vec!["--title", &title],
        vec!["--title-link", &link],
        vec!["--field", &field],
        vec!["--prop", &escaped],
        vec!["--prop", &unicode],
        vec!["--dry-run", "--footer", &title],
    ] {
        env.run(&mut run_cmd(&env, &opts, &script))
            .assert_code(4)
            .assert_stderr_contains("this webhook's own URL");
        assert!(!marker.exists(), "{opts:?}: the job must not run");
    }
    assert!(server.requests().is_empty(), "nothing may be sent");
}
