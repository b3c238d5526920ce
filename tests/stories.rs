//! Build stories (contract: "Build stories: what changed, who should look, where it
//! goes"): the config file through the real binary, `config check`, and `doctor`.

use crate::support::{hooked, Env, MockServer, RedisServer, Run, ServerOptions, HOOK_ID};

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

/// Contract, Config file: "a missing or unreadable file named by the flag or the
/// variable is exit 3" — for every command, not only those that route with it (`send`,
/// `probe`, `run`, `flush`, `webhooks` and `spool` ignored it and posted).
#[test]
fn every_command_refuses_a_missing_or_unreadable_given_config() {
    let (env, server, good) = config_env();
    let unreadable = good.parent().unwrap().to_path_buf();
    let commands: [&[&str]; 6] = [
        &["send", "--webhook", "hook", "hello"],
        &["probe", "--webhook", "hook"],
        &["run", "--webhook", "hook", "--", "true"],
        &["flush"],
        &["webhooks"],
        &["spool", "list"],
    ];
    for args in commands {
        // The global flag goes before the subcommand (after `run`'s `--` it is the job's).
        let mut c = env.cmd();
        c.args(["--config", "nowhere.toml"]).args(args);
        env.run(&mut c)
            .assert_code(3)
            .assert_stderr_contains("nowhere.toml");
        let mut c = env.cmd();
        c.args(args).env("MMNOTIFY_CONFIG", "nowhere.toml");
        env.run(&mut c).assert_code(3);
        // A directory cannot be read as a file (root reads any mode, so not a mode test).
        let mut c = env.cmd();
        c.arg("--config").arg(&unreadable).args(args);
        env.run(&mut c).assert_code(3);
        // A good one is fine.
        let mut c = env.cmd();
        c.arg("--config").arg(&good).args(args);
        env.run(&mut c).assert_success();
    }
    // Only the good config's send, probe and run posted.
    assert_eq!(server.posts().len(), 3);
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
fn a_secret_written_with_toml_escapes_is_refused_without_echo() {
    let (env, server, _) = config_env();
    let escaped_hook = server.hook_url().replace("/hooks/", "/\\u0068ooks\\u002f");
    let password = "hunter2-escaped-pw";
    for (i, text) in [
        // Each value reads differently once TOML has decoded it: the raw text holds no
        // `@` after the password, no `/hooks/`, or the URL spread over two lines.
        format!("[people]\nx = \"redis://:{password}\\u0040127.0.0.1\"\n"),
        format!("[[route]]\nwebhook = \"a\"\nbranch = [\"redis://:{password}\\u0040h\"]\n"),
        format!("route = \"redis://:{password}\\u0040h\"\n"),
        format!("[people]\n\"redis://:{password}\\u0040h\" = \"alice\"\n"),
        format!("x = \"\"\"redis://:{password}\\\n  @h\"\"\"\n"),
        format!("[templates]\nbroken = \"{escaped_hook} {{state}}\"\n"),
    ]
    .iter()
    .enumerate()
    {
        let path = env.write_file(&format!("conf/escaped{i}.toml"), text, 0o600);
        let mut c = env.cmd();
        c.args(["config", "check", "--config"]).arg(&path);
        let run = env.run(&mut c);
        run.assert_code(3)
            .assert_stderr_contains("holds no secrets");
        for out in [&run.stdout, &run.stderr] {
            assert!(
                !out.contains(password) && !out.contains(HOOK_ID),
                "{text}: {out}"
            );
        }
    }
}

#[test]
fn a_config_of_twenty_thousand_routes_loads_in_linear_time() {
    use std::fmt::Write as _;
    use std::os::unix::process::CommandExt;
    let (env, _server, _) = config_env();
    let mut routes = String::new();
    for i in 0..20_000 {
        writeln!(routes, "[[route]]\nwebhook = \"a\"\nbranch = \"b{i}/*\"").unwrap();
    }
    let path = env.write_file("conf/many.toml", &routes, 0o600);
    let mut c = env.cmd();
    c.args(["config", "check", "--config"]).arg(&path);
    // A CPU-seconds cap, not a clock: counting lines from the start of the file for
    // each route took 25 CPU seconds here (SIGXCPU kills it); a line index takes 0.5.
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 10,
                rlim_max: 10,
            };
            libc::setrlimit(libc::RLIMIT_CPU, &raw const lim);
            Ok(())
        });
    }
    env.run(&mut c)
        .assert_code(0)
        .assert_stdout_contains("route 20000 (line 59999): webhook a");
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

/// Contract, Routing: each route posts to its webhook NAME. `config check` warns (exit
/// 0: the file may come later) about a route whose `NAME.url` is missing; `doctor`
/// checks each route's webhook and walks on with the config's `default_webhook` (it
/// used to say "no webhook configured").
#[test]
fn config_check_warns_and_doctor_checks_each_routes_webhook() {
    let (env, _server) = hooked(ServerOptions::default());
    let routes = env.write_file(
        "conf/routes.toml",
        "[[route]]\nwebhook = \"gone\"\n\n[[route]]\nwebhook = \"hook\"\n",
        0o600,
    );
    let mut c = env.cmd();
    c.args(["config", "check", "--config"]).arg(&routes);
    let run = env.run(&mut c);
    run.assert_success()
        .assert_stderr_contains("warning: route 1 (line 2): no webhook named `gone`");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    let mut c = env.cmd();
    c.args(["doctor", "--config"]).arg(&routes);
    let run = env.run(&mut c);
    run.assert_code(3)
        .assert_stdout_contains("✗ route: route 1 (line 2) `gone`: no webhook named `gone`")
        .assert_stdout_contains("create gone.url in the secrets directory or fix the route")
        .assert_stdout_contains("✓ route: route 2 (line 5) `hook`: webhook `hook`")
        // The walk goes on with the route that passed.
        .assert_stdout_contains("✓ secret: webhook `hook`");

    let default = env.write_file("conf/default.toml", "default_webhook = \"hook\"\n", 0o600);
    let mut c = env.cmd();
    c.args(["doctor", "--config"]).arg(&default);
    env.run(&mut c)
        .assert_success()
        .assert_stdout_contains("✓ secret: webhook `hook`");
    // A webhook typed on the command line bypasses the routes, as in `build`.
    let mut c = env.cmd();
    c.args(["doctor", "--webhook", "hook", "--config"])
        .arg(&routes);
    let run = env.run(&mut c);
    run.assert_success();
    assert!(!run.stdout.contains("✓ route"), "{}", run.stdout);
}

#[test]
fn a_token_pasted_as_a_routes_webhook_name_is_never_echoed_by_doctor_or_config_check() {
    let (env, _server) = hooked(ServerOptions::default());
    // A bot token or a webhook's id, pasted where the NAME goes: a valid name.
    let token = "k7q2mz9xw4bn8vr3ty6hc1dfpe";
    let routes = env.write_file(
        "conf/routes.toml",
        &format!("[[route]]\nwebhook = \"{token}\"\n\n[[route]]\nwebhook = \"hook\"\n"),
        0o600,
    );
    let mut c = env.cmd();
    c.args(["config", "check", "--config"]).arg(&routes);
    let run = env.run(&mut c);
    run.assert_success();
    assert!(
        !run.stdout.contains(token) && !run.stderr.contains(token),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let mut c = env.cmd();
    c.args(["doctor", "--config"]).arg(&routes);
    let run = env.run(&mut c);
    run.assert_code(3)
        .assert_stdout_contains("✗ route: route 1 (line 2) `…dfpe`");
    assert!(
        !run.stdout.contains(token) && !run.stderr.contains(token),
        "{}{}",
        run.stdout,
        run.stderr
    );
}

// ---- Job history and transitions -------------------------------------------------

/// `build` for one run of the `ci` job of acme/app on main; `extra` adds flags.
fn build_run(env: &Env, run_id: &str, state: &str, extra: &[&str]) -> std::process::Command {
    build_run_on(env, "main", run_id, state, extra)
}

/// [`build_run`] on `branch`.
pub(crate) fn build_run_on(
    env: &Env,
    branch: &str,
    run_id: &str,
    state: &str,
    extra: &[&str],
) -> std::process::Command {
    let mut c = env.cmd();
    c.args([
        "build",
        "--webhook",
        "hook",
        "--no-env",
        "--workflow",
        "ci",
        "--repository",
        "acme/app",
        "--branch",
        branch,
        "--run-id",
        run_id,
        "--state",
        state,
        "--output",
        "json",
    ])
    .args(extra);
    c
}

/// Runs one build and returns its JSON outcome's `status` and `transition`.
fn story_of(env: &Env, run_id: &str, state: &str, extra: &[&str]) -> (String, String) {
    let run = env.run(&mut build_run(env, run_id, state, extra));
    let v = run.json();
    (
        v["status"].as_str().unwrap_or_default().to_string(),
        v["transition"].as_str().unwrap_or("none").to_string(),
    )
}

fn posted(t: &str) -> (String, String) {
    ("posted".to_string(), t.to_string())
}

#[test]
fn every_transition_in_text_props_and_outcome() {
    let (env, server) = hooked(ServerOptions::default());
    let runs = [
        ("1", "succeeded", "succeeded"),
        ("2", "succeeded", "succeeded"),
        ("3", "failed", "broken"),
        ("4", "timed_out", "still_failing"),
        ("5", "failed", "still_failing"),
        ("6", "succeeded", "fixed"),
        ("7", "cancelled", "cancelled"),
    ];
    for (id, state, transition) in runs {
        assert_eq!(
            story_of(&env, id, state, &[]),
            posted(transition),
            "run {id}"
        );
    }
    let posts = server.posts();
    assert_eq!(posts.len(), runs.len());
    let m = |i: usize| posts[i].props["mmnotify"].clone();
    assert_eq!(m(0)["transition"], "succeeded");
    assert_eq!(m(0)["streak"], 1);
    assert!(m(0).get("previous_state").is_none(), "{}", m(0));
    assert_eq!(m(1)["streak"], 2);
    assert_eq!(m(1)["previous_state"], "succeeded");
    assert_eq!(m(2)["transition"], "broken");
    assert_eq!(m(2)["streak"], 1);
    assert!(
        posts[2].message.ends_with(" · broken"),
        "{}",
        posts[2].message
    );
    assert_eq!(m(4)["streak"], 3);
    assert_eq!(m(4)["previous_state"], "timed_out");
    assert!(
        posts[4]
            .message
            .contains("still failing (3rd failure in a row, since "),
        "{}",
        posts[4].message
    );
    // `since` is the breaking run's time, in RFC 3339.
    assert_eq!(m(4)["since"], m(2)["since"]);
    assert!(m(4)["since"].as_str().unwrap().contains('T'));
    assert_eq!(m(5)["transition"], "fixed");
    assert_eq!(m(5)["streak"], 3);
    assert!(
        posts[5]
            .message
            .contains("fixed after 3 failures (broken for "),
        "{}",
        posts[5].message
    );
    // The state already says `succeeded` and `cancelled`: no words added.
    assert!(
        !posts[0].message.contains(" · succeeded"),
        "{}",
        posts[0].message
    );
    assert_eq!(m(6)["transition"], "cancelled");
    // Cancelled changed nothing: the next success still continues the streak of 1.
    assert_eq!(story_of(&env, "8", "succeeded", &[]), posted("succeeded"));
    assert_eq!(server.posts()[7].props["mmnotify"]["streak"], 2);
}

#[test]
fn a_cancelled_run_mid_streak_changes_nothing() {
    let (env, server) = hooked(ServerOptions::default());
    assert_eq!(story_of(&env, "1", "failed", &[]), posted("broken"));
    assert_eq!(story_of(&env, "2", "cancelled", &[]), posted("cancelled"));
    assert_eq!(story_of(&env, "3", "failed", &[]), posted("still_failing"));
    assert_eq!(server.posts()[2].props["mmnotify"]["streak"], 2);
    assert_eq!(story_of(&env, "4", "succeeded", &[]), posted("fixed"));
    assert_eq!(server.posts()[3].props["mmnotify"]["streak"], 2);
}

/// Contract, Job history: the record is updated when the outcome is final, "rejected by
/// the server" included; the gateway section counts a 500 among those, and a 501 or a
/// redirect is answered again on a retry too (not retried, not spooled).
#[test]
fn a_run_the_server_rejected_with_500_501_or_a_redirect_is_in_the_jobs_history() {
    use crate::support::Fault;
    let faults = [
        (Fault::Status(500), 6),
        (Fault::Status(501), 7),
        (
            Fault::Redirect {
                status: 302,
                location: "https://elsewhere.example/".into(),
            },
            7,
        ),
    ];
    for (fault, code) in faults {
        let (env, server) = hooked(ServerOptions::default());
        assert_eq!(story_of(&env, "1", "failed", &[]), posted("broken"));
        server.script([fault]);
        let run = env.run(&mut build_run(&env, "2", "succeeded", &[]));
        run.assert_code(code);
        assert_eq!(run.json()["transition"], "fixed", "{}", run.stdout);
        // Run 2's success was final: the next failure breaks the job again.
        assert_eq!(
            story_of(&env, "3", "failed", &[]),
            posted("broken"),
            "after exit {code}"
        );
    }
}

#[test]
fn an_older_run_arriving_late_is_labelled_and_changes_nothing() {
    let (env, server) = hooked(ServerOptions::default());
    let at = |t: &str| ["--started-at".to_string(), t.to_string()];
    let t1 = at("2026-12-01T10:00:00Z");
    let t2 = at("2026-12-01T11:00:00Z");
    let t0 = at("2026-12-01T09:00:00Z");
    let s = |v: &[String; 2]| [v[0].clone(), v[1].clone()];
    let args = |v: &[String; 2]| s(v).to_vec();
    let run = |id: &str, state: &str, t: &[String; 2]| {
        let a = args(t);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        story_of(&env, id, state, &refs)
    };
    assert_eq!(run("10", "succeeded", &t1), posted("succeeded"));
    assert_eq!(run("11", "failed", &t2), posted("broken"));
    // Run 9 started before both: posted, labelled, and the job stays broken.
    assert_eq!(run("9", "succeeded", &t0), posted("older"));
    assert!(
        server.posts()[2].message.contains("older run"),
        "{}",
        server.posts()[2].message
    );
    assert_eq!(server.posts()[2].props["mmnotify"]["transition"], "older");
    // A tie is not older.
    assert_eq!(run("12", "failed", &t2), posted("still_failing"));
    assert_eq!(
        story_of(&env, "13", "succeeded", &[]),
        posted("fixed"),
        "no started_at is never older"
    );
    assert_eq!(server.posts()[4].props["mmnotify"]["streak"], 2);
}

#[test]
fn duplicates_and_dry_runs_change_nothing_and_filtered_events_count() {
    let (env, server) = hooked(ServerOptions::default());
    assert_eq!(story_of(&env, "1", "failed", &[]), posted("broken"));
    // The same run again: a duplicate, told as the first time, and not counted twice.
    assert_eq!(
        story_of(&env, "1", "failed", &[]),
        ("duplicate".to_string(), "broken".to_string())
    );
    assert_eq!(
        story_of(&env, "2", "failed", &["--dry-run"]),
        ("dry-run".to_string(), "still_failing".to_string())
    );
    // Filtered by --on changes: not posted, but counted.
    assert_eq!(
        story_of(&env, "2", "failed", &["--on", "changes"]),
        ("filtered".to_string(), "still_failing".to_string())
    );
    assert_eq!(
        story_of(&env, "3", "failed", &["--on", "changes"]),
        ("filtered".to_string(), "still_failing".to_string())
    );
    // The same filtered run again is not counted twice either (`still_failing`, the
    // 3rd, as the first time).
    let run = env.run(&mut build_run(&env, "3", "failed", &["--on", "changes"]));
    assert_eq!(run.json()["transition"], "still_failing");
    assert_eq!(
        story_of(&env, "4", "succeeded", &["--on", "changes"]),
        posted("fixed")
    );
    let posts = server.posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(
        posts[1].props["mmnotify"]["streak"], 3,
        "runs 1, 2 and 3 failed"
    );
}

/// Contract, Job history: transitions need a run id (the history records runs). `--on`
/// or `--mention-on` naming a transition for an event without one used to filter it (or
/// leave the mention out) silently; now one warning says what is missing.
#[test]
fn a_transition_filter_on_an_event_without_a_run_id_warns_once() {
    let (env, server) = hooked(ServerOptions::default());
    let hint = "pass --run-id (or provider_run_id in the event) for transitions";
    let build = |extra: &[&str]| {
        let mut c = env.cmd();
        c.args([
            "build",
            "--webhook",
            "hook",
            "--no-env",
            "--workflow",
            "ci",
            "--state",
            "failed",
        ])
        .args(extra);
        env.run(&mut c)
    };
    let run = build(&["--on", "failed,changes"]);
    run.assert_success()
        .assert_stderr_contains("--on changes names a transition, but the event has no run id")
        .assert_stderr_contains(hint);
    let run = build(&["--mention-on", "broken", "--mention", "alice"]);
    run.assert_success()
        .assert_stderr_contains("--mention-on broken names a transition")
        .assert_stderr_contains(hint);
    // States alone, or a run id: no warning.
    for extra in [
        &["--on", "failed,succeeded"][..],
        &["--on", "changes", "--run-id", "7"],
    ] {
        let run = build(extra);
        assert!(!run.stderr.contains(hint), "{extra:?}: {}", run.stderr);
    }
    // A stream of such events is told once.
    let events = env.write_file(
        "events.jsonl",
        "{\"workflow\":\"ci\",\"state\":\"failed\"}\n{\"workflow\":\"ci\",\"state\":\"failed\"}\n",
        0o600,
    );
    let mut c = env.cmd();
    c.args([
        "build",
        "--webhook",
        "hook",
        "--no-env",
        "--on",
        "failures",
        "--events",
    ])
    .arg(&events);
    let run = env.run(&mut c);
    run.assert_success();
    assert_eq!(run.stderr.matches(hint).count(), 1, "{}", run.stderr);
    // Both filtered: without a transition, `failures` lets nothing through.
    run.assert_stderr_contains("0 posted, 0 duplicate, 2 filtered");
    assert_eq!(server.posts().len(), 4);
}

#[test]
fn remind_every_passes_every_nth_failure() {
    let (env, server) = hooked(ServerOptions::default());
    let on = ["--on", "failures", "--remind-every", "2"];
    let mut got = Vec::new();
    for id in 1..=5 {
        got.push(story_of(&env, &id.to_string(), "failed", &on).0);
    }
    // Failure 1 broke it; 2 and 4 are reminders.
    assert_eq!(got, ["posted", "posted", "filtered", "posted", "filtered"]);
    let streaks: Vec<_> = server
        .posts()
        .iter()
        .map(|p| p.props["mmnotify"]["streak"].clone())
        .collect();
    assert_eq!(streaks, [1, 2, 4]);
    // An unknown name is a usage error.
    let mut c = build_run(&env, "6", "failed", &["--on", "brokn"]);
    env.run(&mut c).assert_code(2);
}

/// 8 builders report runs of one job at once: 5 failures each (40), then one success.
/// No update is lost: the `fixed` says it ends 40 failures.
/// `build --help` says `--remind-every` works with or without `--on`: without it, every
/// other event passes and a still-failing run only every Nth failure.
#[test]
fn remind_every_without_on_gates_only_still_failing_runs() {
    let (env, _server) = hooked(ServerOptions::default());
    let every = ["--remind-every", "3"];
    let got: Vec<String> = ["failed", "failed", "failed", "failed", "succeeded"]
        .iter()
        .enumerate()
        .map(|(i, state)| story_of(&env, &(i + 1).to_string(), state, &every).0)
        .collect();
    // Failure 1 broke it, 3 is a reminder, the fix always passes.
    assert_eq!(got, ["posted", "filtered", "posted", "filtered", "posted"]);
}

fn concurrent_builders(env: &Env, server: &MockServer, store: &[&str]) {
    let threads: Vec<_> = (0..8)
        .map(|b| {
            let cmds: Vec<_> = (0..5)
                .map(|i| {
                    let mut c = build_run(env, &format!("{b}-{i}"), "failed", store);
                    c.stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null());
                    c
                })
                .collect();
            std::thread::spawn(move || {
                for mut c in cmds {
                    assert!(c.status().unwrap().success());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (status, transition) = story_of(env, "final", "succeeded", store);
    assert_eq!((status.as_str(), transition.as_str()), ("posted", "fixed"));
    let posts = server.posts();
    assert_eq!(posts.len(), 41);
    let last = posts.last().unwrap();
    assert_eq!(last.props["mmnotify"]["streak"], 40, "{}", last.props);
    assert!(
        last.message.contains("fixed after 40 failures"),
        "{}",
        last.message
    );
    let broken = posts
        .iter()
        .filter(|p| p.props["mmnotify"]["transition"] == "broken")
        .count();
    assert!(broken >= 1, "one of the first runs broke the job");
}

#[test]
fn eight_concurrent_builders_lose_no_update_in_the_local_store() {
    let (env, server) = hooked(ServerOptions::default());
    concurrent_builders(&env, &server, &[]);
}

#[test]
fn eight_concurrent_builders_lose_no_update_in_redis() {
    let Some(redis) = RedisServer::start("eight_concurrent_builders_lose_no_update_in_redis")
    else {
        return;
    };
    let (env, server) = hooked(ServerOptions::default());
    let url = redis.url();
    concurrent_builders(&env, &server, &["--dedupe-store", &url]);
    // The record lives in Redis, not in the state directory.
    assert!(!env.state().join("dedupe/history").exists());
    let keys: Vec<String> = redis.query(&["KEYS", "mmnotify:dedupe:history:*"]);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl: i64 = redis.query(&["PTTL", &keys[0]]);
    assert!(
        ttl > 80 * 86_400_000,
        "--history-ttl defaults to 90d: {ttl}"
    );
}

// ---- Mentions ----------------------------------------------------------------------

/// What Mattermost would mention in a message: `@` followed directly by a username
/// character (a zero-width space after `@` mentions no one).
pub(crate) fn pings(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = message;
    while let Some(at) = rest.find('@') {
        let name: String = rest[at + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        if !name.is_empty() {
            out.push(name.to_lowercase());
        }
        rest = &rest[at + 1..];
    }
    out
}

const PEOPLE: &str = r#"
[people]
"octocat" = "alice"
"Jane@Example.com" = "jane"
"#;

fn mention_env() -> (Env, MockServer, std::path::PathBuf) {
    let (env, server) = hooked(ServerOptions::default());
    let path = env.write_file("conf/people.toml", PEOPLE, 0o600);
    (env, server, path)
}

#[test]
fn mentions_from_github_variables() {
    let (env, server, config) = mention_env();
    let github = |c: &mut std::process::Command, run: &str, state: &str| {
        c.args(["build", "--webhook", "hook", "--state", state, "--config"])
            .arg(&config)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKFLOW", "ci")
            .env("GITHUB_REPOSITORY", "acme/app")
            .env("GITHUB_REF_NAME", "main")
            .env("GITHUB_RUN_ID", run)
            .env("GITHUB_ACTOR", "someone")
            .env("GITHUB_TRIGGERING_ACTOR", "octocat");
    };
    let mut c = env.cmd();
    github(&mut c, "1", "failed");
    env.run(&mut c).assert_success();
    // Still failing: not in the default --mention-on (broken).
    let mut c = env.cmd();
    github(&mut c, "2", "failed");
    env.run(&mut c).assert_success();
    // --mention-on and --mention.
    let mut c = env.cmd();
    github(&mut c, "3", "succeeded");
    c.args(["--mention-on", "fixed", "--mention", "ops-lead"]);
    env.run(&mut c).assert_success();
    let posts = server.posts();
    assert!(
        posts[0].message.ends_with(" · cc @alice"),
        "{}",
        posts[0].message
    );
    assert_eq!(pings(&posts[0].message), ["alice"]);
    assert!(pings(&posts[1].message).is_empty(), "{}", posts[1].message);
    assert_eq!(pings(&posts[2].message), ["alice", "ops-lead"]);
    assert_eq!(posts[0].props["mmnotify"]["event"]["actor"], "octocat");
    // A bad --mention is a usage error.
    let mut c = env.cmd();
    github(&mut c, "4", "failed");
    c.args(["--mention", "@channel"]);
    env.run(&mut c).assert_code(2);
}

#[test]
fn mentions_from_gitlab_variables() {
    let (env, server, config) = mention_env();
    let mut c = env.cmd();
    c.args(["build", "--webhook", "hook", "--config"])
        .arg(&config)
        .env("GITLAB_CI", "true")
        .env("CI_PROJECT_PATH", "acme/app")
        .env("CI_PIPELINE_NAME", "ci")
        .env("CI_COMMIT_REF_NAME", "main")
        .env("CI_PIPELINE_ID", "77")
        .env("CI_JOB_ID", "5")
        .env("CI_JOB_STATUS", "failed")
        .env("GITLAB_USER_LOGIN", "octocat")
        .env("CI_COMMIT_AUTHOR", "Jane Doe <jane@example.com>");
    env.run(&mut c).assert_success();
    let post = &server.posts()[0];
    assert_eq!(pings(&post.message), ["alice", "jane"], "{}", post.message);
    assert_eq!(
        post.props["mmnotify"]["event"]["author"],
        "jane@example.com"
    );
}

#[test]
fn templates_cannot_make_event_data_ping() {
    let (env, server) = hooked(ServerOptions::default());
    let config = env.write_file(
        "conf/t.toml",
        "[templates]\nfailed = \"{workflow} {branch} {actor} {author} {mention}\"\n",
        0o600,
    );
    let hostile = [
        ("--workflow", "<!here>"),
        ("--branch", "@all"),
        ("--actor", "@channel"),
        ("--author", "<!channel> <x@y.z>"),
    ];
    for (i, template) in [None, Some("{workflow} {branch} {actor} {author}")]
        .iter()
        .enumerate()
    {
        let mut c = env.cmd();
        c.args([
            "build",
            "--webhook",
            "hook",
            "--no-env",
            "--state",
            "failed",
        ])
        .args(["--repository", "acme/app", "--mention-on", "failed"])
        .args(["--run-id", &i.to_string(), "--config"])
        .arg(&config);
        for (flag, value) in hostile {
            c.args([flag, value]);
        }
        if let Some(t) = template {
            c.args(["--text-template", t]);
        }
        env.run(&mut c).assert_success();
    }
    let posts = server.posts();
    assert_eq!(posts.len(), 2);
    for p in &posts {
        // The values are there, each broken by a zero-width space.
        assert!(p.message.contains("@\u{200b}all"), "{}", p.message);
        assert!(pings(&p.message).is_empty(), "{}", p.message);
        assert!(!p.message.contains("<!"), "{}", p.message);
    }
}

#[test]
fn a_planted_history_bucket_costs_the_story_not_the_post() {
    use std::os::unix::process::CommandExt;
    let (env, server) = hooked(ServerOptions::default());
    env.run(&mut build_run(&env, "1", "failed", &[]))
        .assert_success();
    let dir = env.state().join("dedupe/history");
    let plant = |how: &dyn Fn(&std::path::Path)| {
        for b in 0..4096 {
            let path = dir.join(format!("{b:03x}.log"));
            let _ = std::fs::remove_file(&path);
            how(&path);
        }
    };
    // /dev/zero behind a symlink: read to the end, it takes all the memory there is.
    plant(&|p| std::os::unix::fs::symlink("/dev/zero", p).unwrap());
    let mut c = build_run(&env, "2", "failed", &[]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &raw const lim);
            Ok(())
        });
    }
    env.run(&mut c)
        .assert_success()
        .assert_stderr_contains("cannot read the job's history");
    // A FIFO: opened for reading, it waits for a writer that never comes.
    plant(&|p| {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    });
    env.run(&mut build_run(&env, "3", "failed", &[]))
        .assert_success()
        .assert_stderr_contains("not a regular file");
    assert_eq!(server.posts().len(), 3);
}

#[test]
fn an_actor_named_channel_or_all_never_pings() {
    let (env, server, config) = mention_env();
    for (i, actor) in ["channel", "@channel", "all", "@all", "here"]
        .iter()
        .enumerate()
    {
        let mut c = build_run(&env, &format!("{i}"), "failed", &["--actor", actor]);
        c.arg("--config").arg(&config);
        // Every failure passes the mention gate.
        c.args(["--mention-on", "failed"]);
        env.run(&mut c).assert_success();
    }
    let posts = server.posts();
    assert_eq!(posts.len(), 5);
    for p in &posts {
        assert!(p.message.contains(" · cc "), "{}", p.message);
        assert!(pings(&p.message).is_empty(), "{}", p.message);
    }
    // Nor can the people map make it ping: `channel` is not a username.
    let bad = env.write_file(
        "conf/bad.toml",
        "[people]\n\"octocat\" = \"channel\"\n",
        0o600,
    );
    let mut c = env.cmd();
    c.args(["config", "check", "--config"]).arg(&bad);
    env.run(&mut c).assert_code(3);
}

#[test]
fn a_mention_mattermost_reads_as_all_is_refused() {
    let (env, server, _config) = mention_env();
    // Mattermost drops a mention's trailing `.`, `-`, `_` until a name matches: `@all.`
    // notifies the whole channel as `@all` does.
    for name in ["all.", "here-", "channel_", "all._"] {
        let mut c = build_run(&env, name, "failed", &["--mention", name]);
        env.run(&mut c)
            .assert_code(2)
            .assert_stderr_contains("would notify a whole channel");
        let bad = env.write_file(
            &format!("conf/people-{name}.toml"),
            &format!("[people]\n\"octocat\" = \"{name}\"\n"),
            0o600,
        );
        let mut c = env.cmd();
        c.args(["config", "check", "--config"]).arg(&bad);
        env.run(&mut c)
            .assert_code(3)
            .assert_stderr_contains("would notify a whole channel");
    }
    assert!(server.posts().is_empty());
    // A person's name that merely ends like a sentence is still a person.
    let mut c = build_run(&env, "ok", "failed", &["--mention", "alice."]);
    env.run(&mut c).assert_success();
    assert_eq!(pings(&server.posts()[0].message), ["alice."]);
}

// ---- Routing -----------------------------------------------------------------------

const ROUTES: &str = r#"
default_webhook = "hook"

[[route]]
webhook = "ops"
repository = "acme/*"
branch = ["main", "release/*"]
channel = "dev"

[[route]]
webhook = "dev"
repository = "acme/app"
on = ["changes"]
"#;

/// Secrets `hook` (the default), `ops` and `dev`, all on the emulator (ops and dev on
/// the second hook id), and the routes config.
fn routes_env() -> (Env, MockServer, std::path::PathBuf) {
    let mut opts = ServerOptions::default();
    opts.hooks.push(crate::support::Hook::new(
        crate::support::OTHER_HOOK_ID,
        "town-square",
    ));
    let (env, server) = hooked(opts);
    env.write_secret("ops", &server.hook_url_for(crate::support::OTHER_HOOK_ID));
    env.write_secret("dev", &server.hook_url());
    let path = env.write_file("conf/routes.toml", ROUTES, 0o600);
    (env, server, path)
}

fn routed(env: &Env, config: &std::path::Path, repo: &str, run: &str, state: &str) -> Run {
    let mut c = env.cmd();
    c.args([
        "build",
        "--no-env",
        "--workflow",
        "ci",
        "--branch",
        "main",
        "--repository",
        repo,
        "--run-id",
        run,
        "--state",
        state,
        "--output",
        "json",
        "--config",
    ])
    .arg(config);
    env.run(&mut c)
}

fn json_lines(run: &Run) -> Vec<serde_json::Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_matching_route_posts_and_the_rest_goes_to_the_default() {
    let (env, server, config) = routes_env();
    let run = routed(&env, &config, "acme/app", "1", "failed");
    run.assert_success();
    let outcomes = json_lines(&run);
    let routes: Vec<_> = outcomes.iter().map(|o| o["route"].clone()).collect();
    assert_eq!(routes, ["ops", "dev"], "{}", run.stdout);
    assert!(outcomes.iter().all(|o| o["status"] == "posted"));
    let posts = server.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].hook_id, crate::support::OTHER_HOOK_ID);
    assert_eq!(posts[0].channel, "dev");
    assert_eq!(posts[1].channel, "town-square");
    assert_eq!(posts[1].hook_id, HOOK_ID);
    // Still failing: `dev` wants changes only, `ops` posts; each deduplicated on its own.
    let run = routed(&env, &config, "acme/app", "2", "failed");
    let outcomes = json_lines(&run);
    let st: Vec<_> = outcomes
        .iter()
        .map(|o| (o["route"].clone(), o["status"].clone()))
        .collect();
    assert_eq!(
        st,
        [
            ("ops".into(), "posted".into()),
            ("dev".into(), "filtered".into())
        ]
    );
    let run = routed(&env, &config, "acme/app", "2", "failed");
    assert!(
        json_lines(&run).iter().any(|o| o["status"] == "duplicate"),
        "{}",
        run.stdout
    );
    // Fixed: both, and the streak counts the run `dev` filtered.
    let run = routed(&env, &config, "acme/app", "3", "succeeded");
    let outcomes = json_lines(&run);
    assert!(outcomes
        .iter()
        .all(|o| o["status"] == "posted" && o["transition"] == "fixed"));
    assert_eq!(
        server.posts().last().unwrap().props["mmnotify"]["streak"],
        2
    );
    // No route matches another organisation's repository: the default webhook.
    server.clear();
    let run = routed(&env, &config, "other/lib", "9", "failed");
    run.assert_success();
    assert_eq!(run.json()["route"], "hook");
    assert_eq!(server.posts().len(), 1);
    // A webhook on the command line bypasses the routes.
    let mut c = env.cmd();
    c.args([
        "build",
        "--webhook",
        "dev",
        "--no-env",
        "--workflow",
        "ci",
        "--repository",
        "acme/app",
        "--branch",
        "main",
        "--run-id",
        "10",
        "--state",
        "failed",
        "--output",
        "json",
        "--config",
    ])
    .arg(&config);
    let run = env.run(&mut c);
    run.assert_success();
    assert_eq!(json_lines(&run).len(), 1);
    assert!(run.json().get("route").is_none(), "{}", run.stdout);
}

#[test]
fn two_routes_one_answering_400_exit_40_and_the_other_posted_once() {
    let (env, server, config) = routes_env();
    server.script([
        crate::support::Fault::Delay(std::time::Duration::ZERO),
        crate::support::Fault::Status(400),
    ]);
    let run = routed(&env, &config, "acme/app", "1", "failed");
    run.assert_code(40);
    let outcomes = json_lines(&run);
    assert_eq!(outcomes.len(), 2, "{}", run.stdout);
    // The most severe comes last, as the command's outcome.
    assert_eq!(outcomes[0]["route"], "ops");
    assert_eq!(outcomes[0]["status"], "posted");
    assert_eq!(outcomes[1]["route"], "dev");
    assert_eq!(outcomes[1]["http_status"], 400);
    assert_eq!(outcomes[1]["exit_code"], 40);
    assert_eq!(server.posts().len(), 1);
    assert_eq!(server.posts()[0].hook_id, crate::support::OTHER_HOOK_ID);
    // Again: ops is a duplicate, dev is tried again and posts.
    let run = routed(&env, &config, "acme/app", "1", "failed");
    run.assert_success();
    assert_eq!(server.posts().len(), 2);
}

#[test]
fn no_route_and_no_default_is_filtered_and_dry_run_shows_each_route() {
    let (env, server, _) = routes_env();
    let config = env.write_file(
        "conf/only.toml",
        "[[route]]\nwebhook = \"ops\"\nrepository = \"acme/*\"\n[[route]]\nwebhook = \"dev\"\n\
         branch = \"main\"\n",
        0o600,
    );
    let run = routed(&env, &config, "other/lib", "1", "failed");
    // `main` matches the second route.
    assert_eq!(run.json()["route"], "dev");
    let mut c = env.cmd();
    c.args([
        "build",
        "--no-env",
        "--workflow",
        "ci",
        "--branch",
        "dev",
        "--repository",
        "x/y",
        "--run-id",
        "2",
        "--state",
        "failed",
        "--output",
        "json",
        "--config",
    ])
    .arg(&config);
    let run = env.run(&mut c);
    run.assert_success();
    assert_eq!(run.json()["status"], "filtered");
    assert_eq!(run.json()["reason"], "no route matched");
    let mut c = env.cmd();
    c.args([
        "build",
        "--no-env",
        "--workflow",
        "ci",
        "--branch",
        "main",
        "--repository",
        "acme/a",
        "--run-id",
        "3",
        "--state",
        "failed",
        "--output",
        "json",
        "--dry-run",
        "--config",
    ])
    .arg(&config);
    let run = env.run(&mut c);
    run.assert_success();
    let outcomes = json_lines(&run);
    assert_eq!(outcomes.len(), 2);
    for (o, name) in outcomes.iter().zip(["ops", "dev"]) {
        assert_eq!(o["route"], name);
        assert_eq!(o["status"], "dry-run");
        assert!(o["target"].as_str().unwrap().contains("/hooks/…"), "{o}");
        assert!(o["payload"]["text"].as_str().unwrap().contains("broken"));
    }
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn events_are_routed_one_by_one() {
    let (env, server, config) = routes_env();
    let events = [
        r#"{"workflow":"ci","state":"failed","repository":"acme/app","branch":"main","provider_run_id":"1"}"#,
        r#"{"workflow":"ci","state":"failed","repository":"other/x","branch":"main","provider_run_id":"2"}"#,
    ]
    .join("\n");
    let mut c = env.cmd();
    c.args([
        "build", "--events", "-", "--no-env", "--output", "json", "--config",
    ])
    .arg(&config);
    let run = env.run_with_stdin(&mut c, events.as_bytes());
    run.assert_success();
    let routes: Vec<_> = json_lines(&run)
        .iter()
        .filter(|o| o.get("route").is_some())
        .map(|o| o["route"].clone())
        .collect();
    assert_eq!(routes, ["ops", "dev", "hook"], "{}", run.stdout);
    assert_eq!(server.posts().len(), 3);
}

// ---- Templates ---------------------------------------------------------------------

#[test]
fn templates_per_transition_then_state_then_default_with_the_story_placeholders() {
    let (env, server) = hooked(ServerOptions::default());
    let config = env.write_file(
        "conf/templates.toml",
        r#"
[people]
"octocat" = "alice"

[templates]
broken = "{emoji} {workflow} broke on {branch} {mention}"
failed = "{workflow} failed again: {transition}, {streak} in a row since {since} (was {previous_state})"
fixed = "{workflow} fixed after {streak}, broken for {broken_for}, by {actor}"
default = "{workflow}: {state} {{literal}}"
"#,
        0o600,
    );
    let run = |id: &str, state: &str, extra: &[&str]| {
        let mut c = build_run(&env, id, state, &["--actor", "octocat"]);
        c.arg("--config").arg(&config).args(extra);
        env.run(&mut c).assert_success();
        server.posts().last().unwrap().message.clone()
    };
    assert_eq!(run("1", "failed", &[]), "❌ ci broke on main cc @alice");
    let again = run("2", "failed", &[]);
    assert!(
        again.starts_with("ci failed again: still_failing, 2 in a row since 20")
            && again.ends_with("(was failed)"),
        "{again}"
    );
    assert_eq!(
        run("3", "succeeded", &[]),
        "ci fixed after 2, broken for 0s, by octocat"
    );
    assert_eq!(run("4", "succeeded", &[]), "ci: succeeded {literal}");
    // --text-template beats the config, with the same placeholders; the mention, not
    // placed, ends the text.
    assert_eq!(
        run("5", "failed", &["--text-template", "{transition}!"]),
        "broken! · cc @alice"
    );
    // An unknown placeholder: exit 3 from the config, exit 4 from the flag.
    let bad = env.write_file("conf/bad.toml", "[templates]\nbroken = \"{nope}\"\n", 0o600);
    let mut c = env.cmd();
    c.args(["config", "check", "--config"]).arg(&bad);
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains("nope");
    let mut c = build_run(&env, "6", "failed", &["--text-template", "{nope}"]);
    let run = env.run(&mut c);
    run.assert_code(4).assert_stderr_contains("`{nope}`");
    // The error lists every placeholder the flag accepts, the story's included.
    for p in [
        "{workflow}",
        "{transition}",
        "{streak}",
        "{since}",
        "{broken_for}",
        "{previous_state}",
        "{actor}",
        "{author}",
        "{mention}",
        "{duration}",
    ] {
        run.assert_stderr_contains(p);
    }
}

/// Contract, Templates: "The config's `[templates]` table holds a text template per
/// transition or state, plus `default`"; Build events: "`state` may also be
/// `running`". A `running` template is accepted and used for running posts (it was
/// refused as an unknown key, exit 3, although `default` applied to them).
#[test]
fn a_template_for_the_running_state_is_accepted_and_used() {
    let (env, _server) = hooked(ServerOptions::default());
    let config = env.write_file(
        "conf/templates.toml",
        "[templates]\nrunning = \"RUN {workflow} on {branch}\"\ndefault = \"DEF {workflow}\"\n",
        0o600,
    );
    let mut c = env.cmd();
    c.args(["config", "check", "--config"]).arg(&config);
    env.run(&mut c).assert_success();
    let mut c = env.cmd();
    c.args([
        "build",
        "--webhook",
        "hook",
        "--no-env",
        "--workflow",
        "deploy",
        "--branch",
        "main",
        "--run-id",
        "7",
        "--state",
        "running",
        "--on",
        "running",
        "--dry-run",
        "--config",
    ])
    .arg(&config);
    let run = env.run(&mut c);
    run.assert_success();
    assert_eq!(run.json()["text"], "RUN deploy on main", "{}", run.stdout);
}

/// Contract, Routing: "An event goes to every route that matches" and "The exit code is
/// the most severe over the routes"; Job history: the record is updated when the event's
/// outcome is final (posted). A matching route whose webhook cannot be resolved (a
/// missing `NAME.url`, exit 3) must not stop the other matching routes, must not hide
/// their outcomes from `--output json`, and must not keep a posted event out of the
/// job's history. Before, the whole command stopped at that route with exit 3.
#[test]
fn a_route_whose_webhook_is_missing_fails_alone_and_the_story_is_kept() {
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
    // The failed route says what to do, in its outcome and on stderr.
    let gone = &json_lines(&run)[1];
    assert_eq!(gone["exit_code"], 3, "{gone}");
    let fix = "create gone.url in the secrets directory or fix the route";
    assert!(
        gone["message"].as_str().is_some_and(|m| m.contains(fix)),
        "{gone}"
    );
    run.assert_stderr_contains(fix);
    // `--events` goes on past such a line: each is posted to `hook`, exit 3 at the end.
    let events = env.write_file(
        "events.jsonl",
        "{\"workflow\":\"ci\",\"branch\":\"main\",\"repository\":\"acme/app\",\"provider_run_id\":\"3\",\"state\":\"failed\"}\n\
         {\"workflow\":\"ci\",\"branch\":\"main\",\"repository\":\"acme/app\",\"provider_run_id\":\"4\",\"state\":\"succeeded\"}\n",
        0o600,
    );
    let mut c = env.cmd();
    c.args(["build", "--no-env", "--events"])
        .arg(&events)
        .arg("--config")
        .arg(&config);
    let run = env.run(&mut c);
    run.assert_code(3);
    let posts = server.posts();
    assert_eq!(posts.len(), 4, "{}", run.stderr);
    assert_eq!(posts[3].props["mmnotify"]["transition"], "fixed");
}

/// Contract, Routing ("An event goes to every route that matches") and Redundant
/// gateways (an entry is handled like one line of `--events`; a gateway keeps running).
/// A route whose `NAME.url` is missing (a typo, or a rotation half done) used to end the
/// gateway with exit 3 mid-run, at that route's first entry, with the entry pending for
/// the next gateway to stop on. Now it is a configuration error at start (contract:
/// "a bad password or configuration is exit 3 at start"), naming the fix, before any
/// entry is taken; once the file exists every entry is posted to every route it matches.
#[test]
fn a_gateway_whose_route_names_a_missing_webhook_stops_at_start_then_posts_every_route() {
    let Some(redis) = RedisServer::start("route_webhook_missing_at_start") else {
        return;
    };
    let mut opts = ServerOptions::default();
    opts.hooks.push(crate::support::Hook::new(
        crate::support::OTHER_HOOK_ID,
        "town-square",
    ));
    let (env, server) = hooked(opts);
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
    let gateway = |extra: &[&str]| {
        let mut c = env.cmd();
        c.args(["build", "--consume", "--queue", &redis.url(), "--config"])
            .arg(&config)
            .args(extra);
        c
    };
    let run = env.run(&mut gateway(&["--drain"]));
    run.assert_code(3)
        .assert_stderr_contains("no webhook named `gone`")
        .assert_stderr_contains("has no gone.url");
    // Nothing taken: the group is not even created, both entries wait in the stream.
    assert!(server.posts().is_empty());
    assert_eq!(redis.xlen("mmnotify:events"), 2);
    assert_eq!(redis.xlen("mmnotify:events:dead"), 0);
    env.write_secret("gone", &server.hook_url_for(crate::support::OTHER_HOOK_ID));
    let run = env.run(&mut gateway(&["--drain"]));
    run.assert_success();
    let mut posts: Vec<_> = server
        .posts()
        .iter()
        .map(|p| {
            (
                p.hook_id.clone(),
                p.props["mmnotify"]["event"]["repository"].clone(),
            )
        })
        .collect();
    posts.sort_by_key(|(hook, repo)| (hook.clone(), repo.to_string()));
    let mut want = vec![
        (
            crate::support::OTHER_HOOK_ID.to_string(),
            serde_json::json!("acme/app"),
        ),
        (
            crate::support::HOOK_ID.to_string(),
            serde_json::json!("acme/app"),
        ),
        (
            crate::support::HOOK_ID.to_string(),
            serde_json::json!("other/lib"),
        ),
    ];
    want.sort_by_key(|(hook, repo)| (hook.clone(), repo.to_string()));
    assert_eq!(posts, want, "{}", run.stderr);
    for p in server.posts() {
        assert_eq!(p.props["mmnotify"]["transition"], "broken");
    }
    assert_eq!(redis.pending("mmnotify:events", "mmnotify"), 0);
}

#[test]
fn the_gateway_routes_each_entry_it_consumes() {
    let Some(redis) = RedisServer::start("the_gateway_routes_each_entry_it_consumes") else {
        return;
    };
    let (env, server, config) = routes_env();
    for (repo, run) in [("acme/app", "1"), ("other/x", "2")] {
        let mut c = env.cmd();
        c.args([
            "build",
            "--enqueue",
            "--no-env",
            "--queue",
            &redis.url(),
            "--workflow",
            "ci",
            "--branch",
            "main",
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
    run.assert_success();
    let routes: Vec<_> = json_lines(&run)
        .iter()
        .filter(|o| o.get("route").is_some())
        .map(|o| o["route"].clone())
        .collect();
    assert_eq!(routes, ["ops", "dev", "hook"], "{}", run.stdout);
    assert_eq!(server.posts().len(), 3);
    // Every route deduplicated and recorded in the queue's Redis, none in the state dir.
    assert!(!env.state().join("dedupe").exists());
    let done: Vec<String> = redis.query(&["KEYS", "mmnotify:dedupe:done:*"]);
    assert_eq!(done.len(), 3, "{done:?}");
}

#[test]
fn two_gateways_consuming_one_jobs_runs_lose_no_update() {
    let Some(redis) = RedisServer::start("two_gateways_consuming_one_jobs_runs_lose_no_update")
    else {
        return;
    };
    let (env, server) = hooked(ServerOptions::default());
    let enqueue = |run: &str, state: &str| {
        let mut c = env.cmd();
        c.args([
            "build",
            "--enqueue",
            "--no-env",
            "--queue",
            &redis.url(),
            "--workflow",
            "ci",
            "--branch",
            "main",
            "--repository",
            "acme/app",
            "--run-id",
            run,
            "--state",
            state,
        ]);
        env.run(&mut c).assert_success();
    };
    for i in 0..20 {
        enqueue(&format!("r{i}"), "failed");
    }
    let gateway = |name: &str| {
        let mut c = env.cmd();
        c.args([
            "build",
            "--consume",
            "--drain",
            "--webhook",
            "hook",
            "--queue",
            &redis.url(),
            "--consumer",
            name,
        ]);
        env.spawn(&mut c)
    };
    let (a, b) = (gateway("gw-a"), gateway("gw-b"));
    env.wait(a).assert_success();
    env.wait(b).assert_success();
    enqueue("fix", "succeeded");
    env.wait(gateway("gw-a")).assert_success();
    let posts = server.posts();
    assert_eq!(posts.len(), 21);
    let last = posts.last().unwrap();
    assert_eq!(last.props["mmnotify"]["transition"], "fixed");
    assert_eq!(last.props["mmnotify"]["streak"], 20, "{}", last.props);
}

#[test]
fn a_templates_at_before_an_event_value_never_pings() {
    let (env, server) = hooked(ServerOptions::default());
    // A natural template writes `@{actor}`; the actor comes from the CI (whoever
    // triggered the run), and one named `channel` would ping everyone.
    let config = env.write_file(
        "conf/at.toml",
        "[templates]\nbroken = \"@{actor} broke {workflow} <!{provider}>\"\n",
        0o600,
    );
    for (i, actor) in ["channel", "all", "here"].iter().enumerate() {
        let mut c = build_run(&env, &format!("c{i}"), "failed", &["--actor", actor]);
        c.args(["--provider", "here", "--config"]).arg(&config);
        env.run(&mut c).assert_success();
        let mut c = build_run(
            &env,
            &format!("t{i}"),
            "failed",
            &[
                "--actor",
                actor,
                "--provider",
                "!here>",
                "--text-template",
                "@{actor} <{provider}",
            ],
        );
        env.run(&mut c).assert_success();
    }
    let posts = server.posts();
    assert_eq!(posts.len(), 6);
    for p in &posts {
        assert!(pings(&p.message).is_empty(), "{}", p.message);
        assert!(!p.message.contains("<!here"), "{}", p.message);
    }
}

/// A forged job record of 300 MB in the shared store (`SETRANGE` on the history key): it
/// was read whole, by the read before the post and again in the compare-and-set's answer,
/// and parsed (1.5 GB resident, far past a gateway unit's `MemoryMax`). A real record
/// holds 16 runs (about 1 KB): one past 64 KiB reads as damaged (no history, as a key of
/// another type does) and the next record replaces it.
#[test]
fn a_huge_forged_history_record_in_redis_is_not_read_whole() {
    use std::os::unix::process::CommandExt;
    let Some(redis) = RedisServer::start("a_huge_forged_history_record_in_redis") else {
        return;
    };
    let (env, server) = hooked(ServerOptions::default());
    let url = redis.url();
    env.run(&mut build_run(
        &env,
        "1",
        "failed",
        &["--dedupe-store", &url],
    ))
    .assert_success();
    let keys: Vec<String> = redis.query(&["KEYS", "mmnotify:dedupe:history:*"]);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let _: i64 = redis.query(&["SETRANGE", &keys[0], "300000000", "x"]);
    let mut c = build_run(&env, "2", "failed", &["--dedupe-store", &url]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &raw const lim);
            Ok(())
        });
    }
    env.run(&mut c).assert_success();
    assert_eq!(server.posts().len(), 2);
    let len: i64 = redis.query(&["STRLEN", &keys[0]]);
    assert!(
        len < 64 * 1024,
        "the forged record is replaced: {len} bytes"
    );
}
