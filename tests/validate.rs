//! Local validation of `send --payload` the way the server decodes it (keys matched
//! case-insensitively, props measured as Go marshals them, persistent notifications), and
//! the diagnosis of an era-B 400 when the payload itself holds a likely cause.

use serde_json::Value;

use crate::support::{setup, Env, Fault, MockServer, Run, POST_PROPS_MAX_USER_RUNES};

/// `send --payload -` with `json` on stdin.
fn payload(env: &Env, json: &str, args: &[&str]) -> Run {
    let mut c = env.send(&["--timeout", "5s"]);
    c.args(args).args(["--payload", "-"]);
    env.run_with_stdin(&mut c, json.as_bytes())
}

#[test]
fn mixed_case_keys_are_refused_like_their_lower_case_forms() {
    let (env, server) = setup();
    for bad in [
        r#"{"text":"x","PRIORITY":{}}"#,
        r#"{"text":"x","Type":"system_x"}"#,
        r#"{"text":"x","Props":"x"}"#,
        r#"{"text":"x","Attachments":{}}"#,
        r#"{"text":"x","attachments":[{"Fields":[{"short":"yes"}]}]}"#,
        r#"{"text":"x","attachments":[{"fields":[{"ſhort":"yes"}]}]}"#,
        r#"{"TEXT":5}"#,
    ] {
        payload(&env, bad, &[]).assert_code(4);
    }
    assert_eq!(server.requests().len(), 0, "nothing invalid may be sent");
}

#[test]
fn keys_differing_only_by_case_are_ambiguous() {
    let (env, server) = setup();
    for bad in [
        r#"{"text":"a","TEXT":"b"}"#,
        r#"{"text":"a","attachments":[{"title":"t","Title":"u"}]}"#,
        r#"{"text":"a","priority":{"priority":"","Priority":"urgent"}}"#,
    ] {
        payload(&env, bad, &[])
            .assert_code(4)
            .assert_stderr_contains("ambiguous key");
    }
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn mixed_case_payload_is_cut_and_overridden_like_lower_case() {
    let (env, server) = setup();
    let json = format!(
        r#"{{"TEXT":"{}","Channel":"dev","Attachments":[{{"Title":"T"}}],"X_Keep":1}}"#,
        "a".repeat(20_000)
    );
    payload(&env, &json, &["--channel", "town-square"])
        .assert_success()
        .assert_stderr_contains("was cut");
    let body = server.requests()[0].json();
    let obj = body.as_object().unwrap();
    assert_eq!(body["channel"], "town-square");
    assert_eq!(body["text"].as_str().unwrap().chars().count(), 16383);
    assert_eq!(body["attachments"][0]["fallback"], "T");
    assert!(!obj.contains_key("TEXT") && !obj.contains_key("Channel"));
    assert_eq!(body["X_Keep"], 1, "unknown keys keep their spelling");
    assert_eq!(server.posts()[0].channel, "town-square");
}

#[test]
fn props_are_measured_with_html_escapes() {
    let (env, server) = setup();
    // 126700 `<` are 126712 bytes of JSON but 760208 runes once Go escapes them.
    let json = format!(
        r#"{{"text":"x","props":{{"k":"{}"}}}}"#,
        "<".repeat(126_700)
    );
    payload(&env, &json, &[])
        .assert_code(4)
        .assert_stderr_contains("6 each");
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn empty_or_null_attachments_without_text_are_refused() {
    let (env, server) = setup();
    for bad in [
        r#"{"attachments":[]}"#,
        r#"{"attachments":[null]}"#,
        r#"{"text":"","attachments":[null,null]}"#,
    ] {
        payload(&env, bad, &[])
            .assert_code(4)
            .assert_stderr_contains("nothing to post");
    }
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn persistent_notifications_need_urgent_and_someone_to_notify() {
    let (env, server) = setup();
    let p = |prio: &str, text: &str| {
        format!(
            r#"{{"text":"{text}","priority":{{"priority":"{prio}","persistent_notifications":true}}}}"#
        )
    };
    for bad in [
        p("important", "db down @alice"),
        p("urgent", "db down"),
        p("urgent", "@channel @here"),
        p("urgent", "mail ops@example.com"),
    ] {
        payload(&env, &bad, &[])
            .assert_code(4)
            .assert_stderr_contains("persistent_notifications");
    }
    assert_eq!(server.requests().len(), 0);
    payload(&env, &p("urgent", "db down @alice"), &[]).assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn era_b_400_names_the_payload_cause_instead_of_a_deleted_webhook() {
    let (env, server) = setup();
    // 759998 runes as Go marshals the user's props: under the limit locally, over it once
    // the server adds its own props (from_webhook, webhook_display_name).
    let n = (POST_PROPS_MAX_USER_RUNES - 8) / 6;
    let json = format!(r#"{{"text":"x","props":{{"k":"{}"}}}}"#, "&".repeat(n));
    let run = payload(&env, &json, &[]);
    run.assert_code(40)
        .assert_stderr_contains("web.incoming_webhook.general.app_error")
        .assert_stderr_contains("close to its limit");
    assert!(
        !run.stderr.contains("most likely deleted"),
        "{}",
        run.stderr
    );

    let run = payload(
        &env,
        r#"{"text":"x","channel":"@ghost","x_future":true}"#,
        &[],
    );
    run.assert_code(40)
        .assert_stderr_contains("`@ghost`")
        .assert_stderr_contains("`x_future`");
    assert!(
        !run.stderr.contains("most likely deleted"),
        "{}",
        run.stderr
    );
    assert_eq!(server.posts().len(), 0);
}

#[test]
fn too_long_url_answer_is_diagnosed() {
    let (env, server) = setup();
    server.script([Fault::Status(414)]);
    env.run(&mut env.send(&["--timeout", "5s", "x"]))
        .assert_code(7)
        .assert_stderr_contains("URL is too long");
    assert_eq!(server.requests().len(), 1);
}

// What the server's own incoming-webhook tests accept, mmnotify must not refuse (issue
// 14, items 34–36). Each payload is named after the Mattermost test it stands for; the
// data is ours. Every case is posted twice: raw to the emulator (the oracle, which
// answers as the server does) and through `send --payload`, and both posts must match.

/// Posts `body` to the emulator as a client would, without mmnotify: the status.
fn server_accepts(server: &MockServer, body: &str) -> u16 {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .build(),
    );
    agent
        .post(&server.hook_url())
        .header("Content-Type", "application/json")
        .send(body)
        .expect("POST to the emulator")
        .status()
        .as_u16()
}

/// The posts `body` makes when sent raw, then those `send --payload` makes of it (run
/// with `args`), after checking that both were accepted.
fn posted_both_ways(
    env: &Env,
    server: &MockServer,
    body: &str,
    args: &[&str],
) -> (Vec<crate::support::Post>, Vec<crate::support::Post>, Run) {
    server.clear();
    assert_eq!(
        server_accepts(server, body),
        200,
        "the server accepts {body:?}"
    );
    let direct = server.posts();
    server.clear();
    let run = payload(env, body, args);
    run.assert_success();
    let sent = server.posts();
    assert_eq!(sent.len(), direct.len(), "{body:?}");
    for (a, b) in direct.iter().zip(&sent) {
        assert_eq!(a.message, b.message, "{body:?}");
        assert_eq!(a.attachments, b.attachments, "{body:?}");
        assert_eq!(a.post_type, b.post_type, "{body:?}");
        assert_eq!(a.priority, b.priority, "{body:?}");
    }
    (direct, sent, run)
}

/// `TestIncomingWebhook` "WebhookBasics": a raw newline and tab inside `text` (JSON, and
/// no Content-Type) are answered 200. mmnotify repairs them the server's way, says so
/// with `-v`, and sends valid JSON.
#[test]
fn incoming_webhook_basics_raw_newline_and_tab_in_text() {
    let (env, server) = setup();
    let body = "{\"text\":\"deploy of \\\"api\\\" failed\n\tat step 3\"}";
    let (_, sent, run) = posted_both_ways(&env, &server, body, &["-v"]);
    assert_eq!(sent[0].message, "deploy of \"api\" failed\n\tat step 3");
    run.assert_stderr_contains("raw newlines or tabs inside JSON strings were escaped");
    let request = &server.requests()[0];
    let strict: Value = serde_json::from_slice(&request.body).expect("valid JSON was sent");
    assert_eq!(strict["text"], "deploy of \"api\" failed\n\tat step 3");
    // Without -v the repair is silent.
    let quiet = payload(&env, body, &[]);
    quiet.assert_success();
    assert!(!quiet.stderr.contains("raw newlines"), "{}", quiet.stderr);
}

/// `TestIncomingWebhookRequestFromJSON`: a pretty-printed request whose `text`,
/// `fallback`, `pretext`, `author_name`, `title` and field `title`/`value` hold raw
/// newlines and tabs, with escaped quotes around and between them.
#[test]
fn incoming_webhook_request_from_json_raw_control_characters_in_six_keys() {
    let (env, server) = setup();
    let texts = [
        "release notes",
        "first line\n\t\tsecond line",
        "a \\\"quoted\n\t\tword",
        "a \\\"quoted\\\" word\n\t\tand more",
        "a \\\"quoted\\\" word\n\t\t\\\"\t\t\tin tabs",
        "a \\\"quoted\\\" word\n\n\t\t\\\"\t\t\tends in tabs\n\t\t",
    ];
    for text in texts {
        let body = format!(
            "{{\n    \"text\": \"{text}\",\n    \"attachments\": [\n        {{\n            \
             \"fallback\": \"{text}\",\n\n            \"color\": \"#36a64f\",\n\n            \
             \"pretext\": \"{text}\",\n            \"author_name\": \"{text}\",\n            \
             \"author_link\": \"https://ci.example/people/ops\",\n\n            \
             \"title\": \"{text}\",\n            \"title_link\": \"https://ci.example/runs/9\",\n\n            \
             \"text\": \"{text}\",\n            \"fields\": [\n                {{\n                    \
             \"title\": \"{text}\",\n                    \"value\": \"{text}\",\n                    \
             \"short\": false\n                }}\n            ]\n        }}\n    ]\n}}"
        );
        let (_, sent, _) = posted_both_ways(&env, &server, &body, &[]);
        let decoded = text.replace("\\\"", "\"");
        assert_eq!(sent[0].message, decoded);
        let att = &sent[0].attachments[0];
        for key in ["fallback", "pretext", "author_name", "title", "text"] {
            assert_eq!(att[key], decoded.as_str(), "{key} of {text:?}");
        }
        assert_eq!(att["fields"][0]["value"], decoded.as_str());
    }
}

/// What the server does not repair, mmnotify refuses (exit 4) as before: a carriage
/// return, a raw newline under another key or another spelling of a rescued key.
#[test]
fn raw_control_characters_the_server_does_not_repair_are_refused() {
    let (env, server) = setup();
    for body in [
        "{\"text\":\"a\r\nb\"}",
        "{\"text\":\"x\",\"username\":\"a\nb\"}",
        "{\"Text\":\"a\nb\"}",
    ] {
        server.clear();
        assert_eq!(server_accepts(&server, body), 400, "{body:?}");
        server.clear();
        payload(&env, body, &[])
            .assert_code(4)
            .assert_stderr_contains("not valid JSON")
            .assert_stderr_contains("repairs only raw newlines and tabs");
        assert_eq!(server.requests().len(), 0, "{body:?}");
    }
}

/// `TestCreateWebhookPost`: a post whose `type` is given as `slack_attachment`, with
/// and without attachments, and the other non-system types the server accepts.
#[test]
fn create_webhook_post_explicit_slack_attachment_type() {
    let (env, server) = setup();
    for body in [
        r#"{"text":"build 41 passed","type":"slack_attachment","attachments":[{"fallback":"all green","text":"all green"}]}"#,
        r#"{"text":"build 41 passed","type":"slack_attachment"}"#,
        r#"{"text":"build 41 passed","type":"slack_attachment","props":{"card":"details"}}"#,
        r#"{"text":"is deploying","type":"me"}"#,
        r#"{"text":"stand-up in 5","type":"reminder"}"#,
        r#"{"text":"bots added","type":"add_bot_teams_channels"}"#,
    ] {
        let (_, sent, _) = posted_both_ways(&env, &server, body, &[]);
        let given: Value = serde_json::from_str(body).unwrap();
        assert_eq!(sent[0].post_type, given["type"].as_str().unwrap(), "{body}");
    }
    // System types stay refused (400 on the server), and so do types the server does
    // not know (it fails the post with a 500).
    for body in [
        r#"{"text":"x","type":"system_generic"}"#,
        r#"{"text":"x","type":"slack"}"#,
    ] {
        server.clear();
        assert_ne!(server_accepts(&server, body), 200, "{body}");
        server.clear();
        payload(&env, body, &[])
            .assert_code(4)
            .assert_stderr_contains("`type`");
        assert_eq!(server.requests().len(), 0);
    }
}

/// `TestCreateWebhookPostWithPriority`: an explicit `slack_attachment` type together
/// with a priority.
#[test]
fn create_webhook_post_with_priority_and_slack_attachment_type() {
    let (env, server) = setup();
    let body = r#"{"text":"db down","type":"slack_attachment","priority":{"priority":"urgent","requested_ack":true}}"#;
    let (_, sent, _) = posted_both_ways(&env, &server, body, &[]);
    assert_eq!(sent[0].post_type, "slack_attachment");
    let prio = sent[0].priority.as_ref().expect("priority posted");
    assert_eq!(prio["priority"], "urgent");
    assert_eq!(prio["requested_ack"], true);
}

/// `HandleIncomingWebhook` refuses only `text == ""` without attachments: white space
/// alone is a text. A post with nothing at all stays refused.
#[test]
fn whitespace_only_text_is_posted_as_the_server_does() {
    let (env, server) = setup();
    for body in [
        r#"{"text":"   "}"#,
        r#"{"text":" \n\t "}"#,
        r#"{"Text":"   "}"#,
    ] {
        let (_, sent, _) = posted_both_ways(&env, &server, body, &[]);
        let given: Value = serde_json::from_str(body).unwrap();
        let text = given.as_object().unwrap().values().next().unwrap();
        assert_eq!(sent[0].message, text.as_str().unwrap(), "{body}");
    }
    // A blank text mmnotify reads itself is an empty variable far more often than a
    // message: refused, unless an attachment carries the post.
    server.clear();
    let blank = env.write_file("blank.txt", "  \n", 0o644);
    for args in [vec!["   "], vec!["--text-file", blank.to_str().unwrap()]] {
        env.run(env.send(&["--timeout", "5s"]).args(&args))
            .assert_code(4)
            .assert_stderr_contains("blank");
    }
    assert_eq!(server.requests().len(), 0);
    env.run(&mut env.send(&["--timeout", "5s", "--title", "Nightly", "   "]))
        .assert_success();
    assert_eq!(server.posts()[0].message, "   ");
    for body in [r#"{"text":""}"#, "{}", r#"{"text":null,"attachments":[]}"#] {
        server.clear();
        assert_eq!(server_accepts(&server, body), 400, "{body}");
        server.clear();
        payload(&env, body, &[])
            .assert_code(4)
            .assert_stderr_contains("nothing to post");
        assert_eq!(server.requests().len(), 0, "{body}");
    }
}
