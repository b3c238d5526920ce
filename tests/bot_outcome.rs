//! What a bot event reports (issue 18, audit of the bot path): `-v` shows the redacted
//! bot and the result of each REST write, never the token; the `-o json` outcome carries
//! `http_status`, `error_id` and `attempts` of the request that decided it, as a webhook
//! post's does; a spooled bot event joins its job's history once `flush` posts it or the
//! server refuses it. Against the REST emulator, the token on the leak watch.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use crate::bot::{bot_event, roots, setup};
use crate::support::Fault;

#[test]
fn verbose_shows_the_bot_and_each_write_never_the_token() {
    let (env, server, seed) = setup();
    let last4 = &seed.bot.token[22..];
    let target = format!("bot …{last4} at {} ~builds", server.url());
    let run = env.run(&mut bot_event(&env, "31", "running", &["-v"]));
    run.assert_success()
        .assert_stderr_contains(&format!("{target} from name:bot"))
        .assert_stderr_contains("POST /api/v4/posts: HTTP 201 after 1 attempt in ")
        .assert_stderr_contains(&format!("posted to {target}: HTTP 201 after 1 attempt in "));
    let post = roots(&server, &seed)[0].id.clone();
    // The outcome: the patch, then the reply with the details.
    let run = env.run(&mut bot_event(&env, "31", "failed", &["-v"]));
    run.assert_success()
        .assert_stderr_contains(&format!(
            "PUT /api/v4/posts/{post}/patch: HTTP 200 after 1 attempt in "
        ))
        .assert_stderr_contains("POST /api/v4/posts: HTTP 201 after 1 attempt in ")
        .assert_stderr_contains(&format!("posted to {target}: HTTP 201 after 1 attempt in "));
    assert!(!run.stderr.contains(&seed.bot.token));
    // Without -v, none of it.
    let quiet = env.run(&mut bot_event(&env, "32", "failed", &[]));
    quiet.assert_success();
    assert!(!quiet.stderr.contains("/api/v4"), "{}", quiet.stderr);
}

#[test]
fn a_posted_bot_event_reports_the_answer_to_its_last_write() {
    let (env, _server, _seed) = setup();
    // The reply of a terminal state is the last write.
    let out = env
        .run(&mut bot_event(&env, "41", "failed", &[]))
        .assert_success()
        .json();
    assert_eq!(
        (&out["http_status"], &out["attempts"], &out["error_id"]),
        (&Value::from(201), &Value::from(1), &Value::Null),
        "{out}"
    );
}

/// `status`, `http_status`, `attempts` and `error_id` of a failed run, the error id
/// being the one its message names.
fn refusal(run: &crate::support::Run) -> (String, Value, Value) {
    let out = run.json();
    let id = out["error_id"].as_str().unwrap_or_default();
    assert!(
        !id.is_empty() && out["message"].as_str().unwrap_or_default().contains(id),
        "{out}"
    );
    (
        out["status"].as_str().unwrap_or_default().to_string(),
        out["http_status"].clone(),
        out["attempts"].clone(),
    )
}

#[test]
fn a_refused_bot_post_reports_the_servers_status_and_error_id() {
    let (env, _server, _seed) = setup();
    // An open channel the bot is not a member of answers the create with 403.
    let mut c = crate::bot::event(&env, "42", "failed");
    c.args(["--bot", "bot", "--channel", "dev-team/general"]);
    let run = env.run(&mut c);
    run.assert_code(43);
    assert_eq!(
        refusal(&run),
        ("failed".into(), Value::from(403), Value::from(1))
    );
}

#[test]
fn a_refused_token_or_channel_reports_the_servers_status_and_error_id() {
    let (env, server, seed) = setup();
    let mut c = crate::bot::event(&env, "44", "failed");
    c.args(["--bot", "bot", "--channel", "dev-team/no-such"]);
    let run = env.run(&mut c);
    run.assert_code(44);
    assert_eq!(
        refusal(&run),
        ("failed".into(), Value::from(404), Value::from(1))
    );
    server.rest().revoke_token(&seed.bot.token);
    let run = env.run(&mut bot_event(&env, "45", "failed", &[]));
    run.assert_code(43);
    assert_eq!(
        refusal(&run),
        ("failed".into(), Value::from(401), Value::from(1))
    );
}

#[test]
fn a_spooled_bot_event_reports_the_last_answer_and_its_attempts() {
    let (env, server, _seed) = setup();
    // users/me and the channel answer; the create meets 503 twice.
    server.script([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Status(503),
        Fault::Status(503),
    ]);
    let run = env.run(&mut bot_event(&env, "43", "failed", &["--retries", "1"]));
    run.assert_code(6);
    let out = run.json();
    assert_eq!(out["status"], "spooled", "{out}");
    assert_eq!(
        (&out["http_status"], &out["attempts"]),
        (&Value::from(503), &Value::from(2)),
        "{out}"
    );
}

/// The transition a bot event of run `run` reports.
fn transition(env: &crate::support::Env, run: &str, state: &str) -> String {
    let r = env.run(&mut bot_event(env, run, state, &[]));
    r.assert_success();
    r.json()["transition"]
        .as_str()
        .unwrap_or("none")
        .to_string()
}

/// Run `run` fails, and its post meets a 503 (users/me and the channel answer): spooled.
fn spool_a_failure(env: &crate::support::Env, server: &crate::support::MockServer, run: &str) {
    server.script([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Status(503),
    ]);
    env.run(&mut bot_event(env, run, "failed", &["--retries", "0"]))
        .assert_code(6);
}

#[test]
fn a_spooled_bot_event_joins_the_job_history_when_flush_posts_it() {
    let (env, server, _seed) = setup();
    spool_a_failure(&env, &server, "51");
    let mut flush = env.cmd();
    flush.args(["flush", "-v"]);
    env.run(&mut flush)
        .assert_success()
        .assert_stderr_contains("POST /api/v4/posts: HTTP 201 after 1 attempt in ");
    // Run 51 is in the job's history now: run 52's failure is the second in a row.
    assert_eq!(transition(&env, "52", "failed"), "still_failing");
    assert_eq!(transition(&env, "53", "succeeded"), "fixed");
}

#[test]
fn a_spooled_bot_event_the_server_refuses_at_flush_joins_the_job_history() {
    let (env, server, seed) = setup();
    spool_a_failure(&env, &server, "61");
    // The bot left the channel: the flushed post is refused, which is final too.
    server.rest().remove_member(&seed.builds, &seed.bot.user_id);
    let mut flush = env.cmd();
    flush.args(["flush"]);
    env.run(&mut flush)
        .assert_stderr_contains("add the bot to ~builds");
    server.rest().add_member(&seed.builds, &seed.bot.user_id);
    assert_eq!(transition(&env, "62", "failed"), "still_failing");
}

#[test]
fn a_bot_post_answered_408_after_its_retries_is_spooled_as_a_webhook_post_is() {
    let (env, server, _seed) = setup();
    // users/me and the channel answer; the create meets 408 (a proxy's request timeout).
    server.script([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Status(408),
    ]);
    let run = env.run(&mut bot_event(&env, "71", "failed", &["--retries", "0"]));
    run.assert_code(6);
    let out = run.json();
    assert_eq!(
        (&out["status"], &out["http_status"]),
        (&Value::from("spooled"), &Value::from(408)),
        "{out}"
    );
}

#[test]
fn a_bot_post_refused_with_an_answer_a_retry_would_not_change_joins_the_job_history() {
    let (env, server, _seed) = setup();
    // The create meets 405 (a proxy in front of the API): final, exit 7, as for a webhook.
    server.script([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Status(405),
    ]);
    env.run(&mut bot_event(&env, "81", "failed", &[]))
        .assert_code(7);
    assert_eq!(transition(&env, "82", "failed"), "still_failing");
}

#[test]
fn a_spooled_bot_event_refused_at_flush_with_any_final_answer_joins_the_job_history() {
    let (env, server, _seed) = setup();
    spool_a_failure(&env, &server, "91");
    // users/me and the channel answer; the create meets 405 (a proxy in front of the
    // API): final, the item moves to spool/rejected/, as a 400, 403 or 404 would.
    server.script([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Status(405),
    ]);
    let mut flush = env.cmd();
    flush.args(["flush"]);
    env.run(&mut flush).assert_stderr_contains("moved to");
    assert_eq!(transition(&env, "92", "failed"), "still_failing");
}

/// `text` without the characters a reader's eye skips (what `scrub_token` calls fillers
/// that a JSON string can carry: zero-width and format characters, spaces).
fn compacted(text: &str) -> String {
    text.chars()
        .filter(|c| {
            !c.is_whitespace()
                && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
        })
        .collect()
}

#[test]
fn a_servers_error_id_holding_the_bot_token_escaped_or_broken_up_is_never_shown() {
    let (env, server, seed) = setup();
    let token = &seed.bot.token;
    // The id JSON-escaped (no run of the token in the raw body) and broken by a
    // zero-width space: the raw body's scrub cannot see it, the decoded id carries it.
    let escaped = token.chars().fold(String::new(), |mut s, c| {
        let _ = write!(s, "\\u{:04x}", u32::from(c));
        s
    });
    let (head, tail) = token.split_at(13);
    let ids = [
        format!("x.{escaped}"),
        format!("x.{head}\\u200b{tail}"),
        format!("x.{head}\\u2060{tail}"),
    ];
    // The create refused (the outcome's error_id), and the channel not found (the
    // message names the id).
    let calls = [
        (crate::support::Call::CreatePost, 403, 43),
        (crate::support::Call::ChannelByName, 404, 44),
    ];
    for ((call, status, code), id) in calls.iter().flat_map(|c| ids.iter().map(move |i| (c, i))) {
        server.rest().script_on(
            *call,
            [Fault::Response {
                status: *status,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: format!(
                    r#"{{"id":"{id}","message":"m","detailed_error":"","request_id":"r","status_code":{status}}}"#
                ),
            }],
        );
        let run = env.run(&mut bot_event(&env, "95", "failed", &["-v"]));
        run.assert_code(*code);
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !compacted(text).contains(token.as_str()),
                "the token in {stream}: {text}"
            );
        }
    }
}

/// A hostile server answers the create with the bot's token as the post id, JSON-escaped
/// so that the body's text shows no run of it: the decoded id passed as a post id, and
/// the dedupe store (a file in the state directory) kept the token in clear. The leak
/// watch checks every run's output and the state directory.
#[test]
fn a_forged_post_id_that_is_the_escaped_bot_token_is_never_saved_or_shown() {
    let (env, server, seed) = setup();
    let escaped = seed.bot.token.chars().fold(String::new(), |mut s, c| {
        let _ = write!(s, "\\u{:04x}", u32::from(c));
        s
    });
    server.rest().script_on(
        crate::support::Call::CreatePost,
        [Fault::Response {
            status: 201,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: format!(
                r#"{{"id":"{escaped}","channel_id":"{}","message":"m"}}"#,
                seed.builds
            ),
        }],
    );
    // Not an id once scrubbed: the create is reported as answered without one.
    env.run(&mut bot_event(&env, "96", "running", &["-v"]))
        .assert_code(7)
        .assert_stderr_contains("without a post id");
}
