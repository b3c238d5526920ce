//! Webhook names that help: a mistyped name lists the real ones and suggests the closest,
//! `mmnotify webhooks` shows every named webhook and whether its file passes the rules,
//! and `Permission denied` says who may read the file against who is asking.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use crate::support::{setup, HOOK_ID, OTHER_HOOK_ID};

fn last4(id: &str) -> &str {
    &id[id.len() - 4..]
}

#[test]
fn a_mistyped_name_lists_the_names_and_suggests_the_closest() {
    let (env, server) = setup();
    env.write_secret("ops", &server.hook_url());
    let mut c = env.cmd();
    c.args(["send", "--webhook", "osp", "hello"]);
    let run = env.run(&mut c);
    run.assert_code(3)
        .assert_stderr_contains("no webhook named `osp`")
        .assert_stderr_contains("did you mean `ops`?")
        .assert_stderr_contains("the names there are: hook, ops");
    assert!(server.posts().is_empty());

    // Nothing close: the names, no guess.
    let mut c = env.cmd();
    c.args(["send", "--webhook", "monitoring", "hello"]);
    let run = env.run(&mut c);
    run.assert_code(3)
        .assert_stderr_contains("the names there are: hook, ops");
    assert!(!run.stderr.contains("did you mean"), "{}", run.stderr);
}

#[test]
fn a_name_given_with_its_url_suffix_is_the_name() {
    let (env, server) = setup();
    let mut c = env.cmd();
    c.args(["send", "--webhook", "hook.url", "hello"]);
    env.run(&mut c).assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn webhooks_lists_names_targets_and_rule_failures_without_reading_them() {
    let (mut env, server) = setup();
    env.secret(OTHER_HOOK_ID);
    // A world-readable file holding another token: reported, never echoed.
    let loose = env.write_secret("loose", &server.hook_url_for(OTHER_HOOK_ID));
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.write_secret(
        "typo",
        &format!("https://chat.example.com/hooks/hooks/{HOOK_ID}"),
    );
    env.write_file("secrets/README.txt", "not a webhook", 0o600);

    let mut c = env.cmd();
    c.arg("webhooks");
    let run = env.run(&mut c);
    run.assert_code(3).assert_stderr_contains("2 of 3 webhooks");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    let want_target = format!(
        "http://127.0.0.1:{}/hooks/…{}",
        server.port(),
        last4(HOOK_ID)
    );
    assert!(lines[0].starts_with("✓ hook "), "{}", lines[0]);
    assert!(lines[0].ends_with(&want_target), "{}", lines[0]);
    assert!(lines[1].starts_with("✗ loose "), "{}", lines[1]);
    assert!(lines[1].contains("mode 0644"), "{}", lines[1]);
    assert!(lines[1].contains("chmod 0640"), "{}", lines[1]);
    assert!(
        !lines[1].contains(last4(OTHER_HOOK_ID)),
        "content was read: {}",
        lines[1]
    );
    assert!(lines[2].starts_with("✗ typo "), "{}", lines[2]);
    assert!(lines[2].contains("appears twice"), "{}", lines[2]);
    assert!(!run.stdout.contains("README"));

    let mut c = env.cmd();
    c.args(["webhooks", "--output", "json"]);
    let run = env.run(&mut c);
    run.assert_code(3);
    let items: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["name"], "hook");
    assert_eq!(items[0]["ok"], true);
    assert_eq!(items[0]["target"], want_target.as_str());
    assert_eq!(items[1]["name"], "loose");
    assert_eq!(items[1]["ok"], false);
    assert!(items[1]["target"].is_null());
    assert!(items[1]["problem"].as_str().unwrap().contains("mode 0644"));
}

#[test]
fn webhooks_exits_0_when_all_pass_and_3_without_a_directory() {
    let (env, server) = setup();
    env.write_secret("ops", &server.hook_url());
    let mut c = env.cmd();
    c.arg("webhooks");
    let run = env.run(&mut c);
    run.assert_success();
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert!(run.stdout.lines().all(|l| l.starts_with("✓ ")));

    let mut c = env.cmd();
    c.args(["webhooks", "--secrets-dir"])
        .arg(env.root().join("nowhere"));
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains("cannot list the secrets directory");
    assert!(
        server.requests().is_empty(),
        "webhooks never touches the network"
    );
}

#[test]
fn permission_denied_says_who_may_read_against_who_asks() {
    if !crate::support::is_root_or_skip(
        "permission_denied_says_who_may_read_against_who_asks",
        "giving the secrets file to root and running as uid 65534",
    ) {
        return;
    }
    let (env, server) = setup();
    env.write_secret("ops", &server.hook_url());
    let path = env.secrets_dir().join("ops.url");
    // Readable by root and group 4242 only; the caller is nobody (uid 65534).
    std::os::unix::fs::chown(&path, Some(0), Some(4242)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    for dir in [env.root().to_path_buf(), env.secrets_dir()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    let mut c = env.cmd();
    c.args(["send", "--webhook", "ops", "hello"])
        .current_dir("/")
        .uid(65534)
        .gid(65534);
    let run = env.run(&mut c);
    run.assert_code(3)
        .assert_stderr_contains("Permission denied")
        .assert_stderr_contains("is owned by root:")
        .assert_stderr_contains("with mode 0640")
        .assert_stderr_contains("(uid 65534)")
        .assert_stderr_contains("usermod -aG 4242 ")
        .assert_stderr_contains("log in again");
    assert!(server.posts().is_empty());
}

/// A secrets file named after its own hook id (`<id>.url`) is listed and suggested
/// without printing the token.
#[test]
fn a_file_named_after_its_hook_id_is_listed_without_the_token() {
    let (env, server) = setup();
    env.write_secret(OTHER_HOOK_ID, &server.hook_url_for(OTHER_HOOK_ID));
    let shown = format!("…{}", last4(OTHER_HOOK_ID));
    let mut c = env.cmd();
    c.args(["webhooks"]);
    env.run(&mut c)
        .assert_success()
        .assert_stdout_contains(&shown);
    let mut c = env.cmd();
    c.args(["webhooks", "--output", "json"]);
    env.run(&mut c)
        .assert_success()
        .assert_stdout_contains(&shown);
    let mut c = env.cmd();
    c.args(["send", "--webhook", "hoko", "hello"]);
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains(&format!("the names there are: {shown}, hook"));
    assert!(server.posts().is_empty());
}
