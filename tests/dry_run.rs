//! `--dry-run` checks what it can without the network: the webhook source, the file
//! rules and the URL shape, and says where it would post, or that no webhook was checked.

use std::os::unix::fs::PermissionsExt;

use crate::support::{setup, Env, MockServer, HOOK_ID};

const MM: &str = env!("CARGO_BIN_EXE_mmnotify");

fn target(server: &MockServer) -> String {
    format!(
        "http://127.0.0.1:{}/hooks/…{}",
        server.port(),
        &HOOK_ID[22..]
    )
}

#[test]
fn a_dry_run_checks_the_webhook_and_says_where_it_would_post() {
    let (env, server) = setup();
    for args in [
        vec!["send", "--dry-run", "--webhook", "hook", "hello"],
        vec![
            "build",
            "--dry-run",
            "--webhook",
            "hook",
            "--no-env",
            "--workflow",
            "ci",
            "--state",
            "failed",
        ],
    ] {
        let mut c = env.cmd();
        c.args(&args);
        let run = env.run(&mut c);
        run.assert_success()
            .assert_stderr_contains(&format!("dry run: would post to {}", target(&server)))
            .assert_stderr_contains("nothing was sent");
        // stdout stays the payload alone.
        let payload: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert!(payload.is_object(), "{args:?}: {}", run.stdout);
    }
    let mut c = env.cmd();
    c.args([
        "send",
        "--dry-run",
        "--webhook",
        "hook",
        "--output",
        "json",
        "hi",
    ]);
    let run = env.run(&mut c);
    assert_eq!(run.json()["status"], "dry-run");
    assert_eq!(run.json()["target"], target(&server).as_str());
    assert!(
        server.requests().is_empty(),
        "a dry run never touches the network"
    );
}

#[test]
fn a_dry_run_fails_as_the_real_run_would_on_a_bad_secret() {
    let (env, server) = setup();
    let loose = env.write_secret("loose", &server.hook_url());
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.write_secret(
        "typo",
        &format!("https://chat.example.com/hooks/hooks/{HOOK_ID}"),
    );
    for (name, want) in [
        ("loose", "chmod 0640"),
        ("typo", "appears twice"),
        ("hoook", "did you mean `hook`?"),
    ] {
        let mut c = env.cmd();
        c.args(["send", "--dry-run", "--webhook", name, "hi"]);
        let run = env.run(&mut c);
        run.assert_code(3).assert_stderr_contains(want);
        assert!(run.stdout.is_empty(), "{name}: {}", run.stdout);
    }
    let mut c = env.cmd();
    c.args(["send", "--dry-run", "hi"])
        .env("MATTERMOST_WEBHOOK_URL", "chat.example.com/hooks/x");
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains("MATTERMOST_WEBHOOK_URL: malformed webhook URL");

    let mut c = env.cmd();
    c.args([
        "build",
        "--dry-run",
        "--webhook",
        "loose",
        "--no-env",
        "--workflow",
        "ci",
        "--state",
        "failed",
    ]);
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains("mode 0644");

    // run reports a broken webhook as a real run does: the job's code, unless --strict.
    let mut c = env.cmd();
    c.args(["run", "--dry-run", "--webhook", "loose", "--", "true"]);
    env.run(&mut c)
        .assert_success()
        .assert_stderr_contains("the report would not be posted")
        .assert_stderr_contains("chmod 0640");
    let mut c = env.cmd();
    c.args([
        "run",
        "--dry-run",
        "--strict",
        "--webhook",
        "loose",
        "--",
        "true",
    ]);
    env.run(&mut c).assert_code(3);
    assert!(server.requests().is_empty());
}

#[test]
fn a_dry_run_without_a_source_says_nothing_was_checked() {
    let (env, server) = setup();
    for args in [
        vec!["send", "--dry-run", "hi"],
        vec!["run", "--dry-run", "--", "true"],
    ] {
        let mut c = env.cmd();
        c.args(&args).env_remove("MMNOTIFY_SECRETS_DIR");
        let run = env.run(&mut c);
        run.assert_success()
            .assert_stderr_contains("dry run: no webhook given, so none was checked");
        assert!(!run.stdout.is_empty());
    }
    assert!(server.requests().is_empty());
}

#[test]
fn an_inner_dry_run_in_a_job_does_not_resolve_the_parents_secret() {
    let (env, server) = setup();
    let mut c = env.cmd();
    // The inner secrets dir does not exist: resolving the name there would fail (exit 3).
    // The name belongs to the parent, which resolves it in its own directory.
    let script = format!(
        "{MM} send --dry-run --webhook hook --secrets-dir {}/elsewhere inner; echo \"JOB: inner=$?\"",
        env.root().display()
    );
    c.args(["run", "--webhook", "hook", "--", "sh", "-c", &script]);
    let run = env.run_job(&mut c, "JOB:");
    run.assert_success()
        .assert_stderr_contains("inside `mmnotify run`")
        .assert_stderr_contains("no webhook was checked here");
    assert!(run.stdout.contains("JOB: inner=0"), "{}", run.stdout);
    assert!(run.stdout.contains(r#"{"text":"inner"}"#), "{}", run.stdout);
    // Only the parent's own report was posted.
    assert_eq!(server.posts().len(), 1);
}

/// The exact bytes of a build message with route flags: the typed payload keeps the
/// members, their values and their (sorted) order that the message has always had.
#[test]
fn a_build_message_keeps_its_exact_bytes() {
    let env = Env::new();
    let mut c = env.cmd();
    c.args([
        "build",
        "--dry-run",
        "--no-env",
        "--workflow",
        "ci",
        "--state",
        "failed",
        "--branch",
        "main",
        "--commit",
        "abcdef1234567",
        "--run-url",
        "https://ci.example/x/1",
        "--node",
        "n1",
        "--run-id",
        "42",
        "--started-at",
        "2026-11-23T12:00:00Z",
        "--username",
        "bot",
        "--priority",
        "important",
        "--duration",
        "75",
        "--provider",
        "github",
    ]);
    let run = env.run(&mut c);
    run.assert_success();
    let expected = concat!(
        r##"{"attachments":[{"color":"#D24B4E","fallback":"❌ ci failed · main · abcdef12 · on n1 · "##,
        r##"https://ci.example/x/1","fields":[{"short":true,"title":"Branch","value":"main"},"##,
        r##"{"short":true,"title":"Commit","value":"abcdef1234567"},{"short":true,"title":"Node","##,
        r##""value":"n1"},{"short":true,"title":"Duration","value":"1m 15s"},{"short":true,"##,
        r##""title":"Started","value":"2026-11-23T12:00:00Z"},{"short":true,"##,
        r##""title":"Provider","value":"github"},{"short":true,"title":"Run id","value":"42"}],"##,
        r##""title":"ci failed","title_link":"https://ci.example/x/1"}],"priority":{"priority":"##,
        r##""important"},"props":{"mmnotify":{"event":{"branch":"main","commit":"abcdef1234567","##,
        r##""duration":"1m 15s","mesh_node_id":"n1","provider":"github","provider_run_id":"42","##,
        r##""run_url":"https://ci.example/x/1","started_at":"2026-11-23T12:00:00Z","state":"failed","##,
        r##""workflow":"ci"},"kind":"build","since":"2026-11-23T12:00:00Z","streak":1,"##,
        r##""transition":"broken"}},"##,
        r##""text":"❌ **ci** failed · `main` · `abcdef12` · on n1 · [#42](https://ci.example/x/1) · broken","##,
        r##""username":"bot"}"##
    );
    assert_eq!(run.stdout.trim_end(), expected);
}
