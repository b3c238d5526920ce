//! Local validation of `send --payload` the way the server decodes it (keys matched
//! case-insensitively, props measured as Go marshals them, persistent notifications), and
//! the diagnosis of an era-B 400 when the payload itself holds a likely cause.

use std::process::Command;

use crate::support::{Env, Fault, MockServer, Run, ServerOptions, POST_PROPS_MAX_USER_RUNES};

fn setup() -> (Env, MockServer) {
    crate::support::hooked(ServerOptions::default())
}

fn send(env: &Env, args: &[&str]) -> Command {
    let mut c = env.cmd();
    c.args(["send", "--webhook", "hook", "--timeout", "5s"])
        .args(args);
    c
}

/// `send --payload -` with `json` on stdin.
fn payload(env: &Env, json: &str, args: &[&str]) -> Run {
    let mut args = args.to_vec();
    args.extend(["--payload", "-"]);
    env.run_with_stdin(&mut send(env, &args), json.as_bytes())
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
        r#"{"Text":"   "}"#,
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
    env.run(&mut send(&env, &["x"]))
        .assert_code(7)
        .assert_stderr_contains("URL is too long");
    assert_eq!(server.requests().len(), 1);
}
