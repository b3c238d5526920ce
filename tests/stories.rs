//! Build stories (contract: "Build stories: what changed, who should look, where it
//! goes"): the config file through the real binary, `config check`, and `doctor`.

use crate::support::{hooked, Env, MockServer, ServerOptions, HOOK_ID};

/// A config with two routes, two people and a template, mode 0644 (readable by others is
/// fine: it holds no secrets).
const CONFIG: &str = r#"
default_webhook = "hook"
mention_on = ["broken", "still_failing"]

[people]
"octocat" = "alice"
"jane@example.com" = "jane"

[[route]]
webhook = "ops"
repository = "acme/*"
branch = ["main", "release/*"]
on = ["changes"]

[[route]]
webhook = "deploys"
workflow = "deploy*"

[templates]
broken = "{emoji} {workflow} broke on {branch} {mention}"
"#;

fn config_env() -> (Env, MockServer, std::path::PathBuf) {
    let (env, server) = hooked(ServerOptions::default());
    let path = env.write_file("conf/config.toml", CONFIG, 0o644);
    (env, server, path)
}

#[test]
fn config_check_prints_the_routes_in_order() {
    let (env, _server, path) = config_env();
    let mut c = env.cmd();
    c.args(["config", "check", "--config"]).arg(&path);
    let run = env.run(&mut c);
    run.assert_success();
    let out = &run.stdout;
    let ops = out.find("route 1 (line 10): webhook ops").expect(out);
    let deploys = out.find("route 2 (line 16): webhook deploys").expect(out);
    assert!(ops < deploys, "{out}");
    assert!(out.contains("people: 2"), "{out}");
    assert!(out.contains("templates: broken"), "{out}");
    assert!(out.contains("no route matched: webhook hook"), "{out}");

    // The variable, and the flag before the subcommand, are the same.
    let mut c = env.cmd();
    c.args(["config", "check"]).env("MMNOTIFY_CONFIG", &path);
    assert_eq!(env.run(&mut c).assert_success().stdout, *out);
    let mut c = env.cmd();
    c.arg("--config").arg(&path).args(["config", "check"]);
    assert_eq!(env.run(&mut c).assert_success().stdout, *out);
}

#[test]
fn config_check_finds_the_user_config_and_says_when_there_is_none() {
    let (env, _server, _) = config_env();
    let mut c = env.cmd();
    c.args(["config", "check"]);
    env.run(&mut c)
        .assert_success()
        .assert_stdout_contains("no config file");
    env.write_file("home/.config/mmnotify/config.toml", CONFIG, 0o600);
    let mut c = env.cmd();
    c.args(["config", "check"]);
    env.run(&mut c)
        .assert_success()
        .assert_stdout_contains("home/.config/mmnotify/config.toml")
        .assert_stdout_contains("route 2");
    // XDG_CONFIG_HOME replaces ~/.config.
    let mut c = env.cmd();
    c.args(["config", "check"])
        .env("XDG_CONFIG_HOME", env.root().join("xdg"));
    env.run(&mut c)
        .assert_success()
        .assert_stdout_contains("no config file");
}

#[test]
fn a_missing_given_config_and_a_bad_key_are_exit_3() {
    let (env, _server, _) = config_env();
    let mut c = env.cmd();
    c.args(["config", "check", "--config", "nowhere.toml"]);
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains("nowhere.toml");
    let bad = env.write_file(
        "conf/typo.toml",
        "[[route]]\nwebhook = \"ops\"\nbrnach = \"main\"\n",
        0o600,
    );
    let mut c = env.cmd();
    c.args(["config", "check", "--config"]).arg(&bad);
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains("line 3")
        .assert_stderr_contains("brnach");
}

#[test]
fn a_world_writable_config_is_refused_with_the_fix() {
    let (env, _server, _) = config_env();
    let path = env.write_file("conf/loose.toml", CONFIG, 0o666);
    let mut c = env.cmd();
    c.args(["config", "check", "--config"]).arg(&path);
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains("chmod");
    // Also for a command that would post: nothing is sent.
    let mut c = env.cmd();
    c.args(["doctor", "--webhook", "hook", "--config"])
        .arg(&path);
    env.run(&mut c)
        .assert_code(3)
        .assert_stdout_contains("✗ config:")
        .assert_stdout_contains("chmod");
}

#[test]
fn a_config_holding_a_webhook_url_is_refused_without_echo() {
    let (env, server, _) = config_env();
    // The Env's leak watch fails the test if the token shows up anywhere.
    let path = env.write_file(
        "conf/secret.toml",
        &format!("default_webhook = \"{}\"\n", server.hook_url()),
        0o600,
    );
    let mut c = env.cmd();
    c.args(["config", "check", "--config"]).arg(&path);
    let run = env.run(&mut c);
    run.assert_code(3)
        .assert_stderr_contains("line 1")
        .assert_stderr_contains("holds no secrets");
    assert!(!run.stderr.contains(HOOK_ID));
}

#[test]
fn doctor_reports_the_config_and_its_counts() {
    let (env, _server, path) = config_env();
    let mut c = env.cmd();
    c.args(["doctor", "--webhook", "hook", "--config"])
        .arg(&path);
    let run = env.run(&mut c);
    run.assert_success()
        .assert_stdout_contains("✓ config:")
        .assert_stdout_contains("config.toml (2 routes, 2 people)");
    let mut c = env.cmd();
    c.args(["doctor", "--webhook", "hook", "--output", "json"]);
    let run = env.run(&mut c);
    run.assert_success();
    let checks = run.json()["checks"].clone();
    assert_eq!(checks[0]["check"], "config", "{checks}");
    assert!(
        checks[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("no config file"),
        "{checks}"
    );
}
