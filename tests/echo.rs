//! What mmnotify echoes of what it was given (an event in the JSON outcome, a dry run's
//! payload, a dead letter, a spool file's name or source) and what it keeps on disk: a
//! webhook URL or token pasted into any of them never comes out whole.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{setup, Env, RedisServer, HOOK_ID, OTHER_HOOK_ID};

/// A Redis port nothing listens on: `--enqueue` then spools (exit 5).
const REDIS_DOWN: &str = "redis://127.0.0.1:1/0";

/// A complete event from flags (workflow `ci` unless `extra` names one).
fn build(env: &Env, extra: &[&str]) -> Command {
    let mut c = env.cmd();
    c.args(["build", "--no-env", "--state", "failed", "--run-id", "7"]);
    if !extra.contains(&"--workflow") {
        c.args(["--workflow", "ci"]);
    }
    c.args(extra);
    c
}

#[test]
fn a_token_pasted_into_an_event_is_refused_and_never_echoed() {
    let (env, server) = setup();
    let url = server.hook_url();
    let other = server.hook_url_for(OTHER_HOOK_ID);
    let one_event = env.write_file(
        "event.json",
        &format!(r#"{{"workflow":"ci","state":"failed","provider_run_id":"8","branch":"{url}"}}"#),
        0o600,
    );
    let ndjson = env.write_file(
        "events.ndjson",
        &format!(
            "{{\"workflow\":\"ci\",\"state\":\"failed\",\"branch\":\"{url}\"}}\n\
             {{\"workflow\":\"ci\",\"state\":\"failed\",\"commit\":\"{HOOK_ID}\"}}\n"
        ),
        0o600,
    );

    // The URL, and the bare token, in a flag: exit 4, and the outcome's echo of the event
    // shows them redacted (the leak watch checks stdout and stderr of every run).
    for value in [url.as_str(), HOOK_ID] {
        let run = env.run(&mut build(
            &env,
            &["--webhook", "hook", "-o", "json", "--branch", value],
        ));
        run.assert_code(4);
        let out = run.json();
        assert_eq!(out["exit_code"], 4, "{out}");
        if let Some(branch) = out["event"]["branch"].as_str() {
            assert!(branch.ends_with(&format!("…{}", &HOOK_ID[22..])), "{out}");
        }
    }
    // From an event file.
    let run = env.run(
        env.cmd()
            .args([
                "build",
                "--no-env",
                "--webhook",
                "hook",
                "-o",
                "json",
                "--event",
            ])
            .arg(&one_event),
    );
    run.assert_code(4);
    // From a stream of events: one outcome per line, each refused.
    let run = env.run(
        env.cmd()
            .args([
                "build",
                "--no-env",
                "--webhook",
                "hook",
                "-o",
                "json",
                "--events",
            ])
            .arg(&ndjson),
    );
    run.assert_code(4);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines.iter().all(|l| l["exit_code"] == 4), "{}", run.stdout);
    assert!(server.posts().is_empty());

    // A dry run shows the payload it would send; another hook's URL in it is a
    // credential all the same, in the JSON outcome and in the plain payload line.
    for json in [true, false] {
        let mut cmd = build(&env, &["--dry-run", "--branch", &other]);
        if json {
            cmd.args(["-o", "json"]);
        }
        let run = env.run(&mut cmd);
        run.assert_success();
        let shown = run.json();
        let payload = if json { &shown["payload"] } else { &shown };
        assert!(
            payload["text"].as_str().unwrap().contains("/hooks/…"),
            "{shown}"
        );
    }
    // With a shared dedupe store that is away, the event is refused all the same, not
    // kept in the spool for later.
    let run = env.run(&mut build(
        &env,
        &[
            "--webhook",
            "hook",
            "--dedupe-store",
            REDIS_DOWN,
            "--timeout",
            "1s",
        ]
        .into_iter()
        .chain(["--branch", url.as_str()])
        .collect::<Vec<_>>(),
    ));
    run.assert_code(4);
    // With this webhook checked, the dry run refuses its own token as the post would.
    let run = env.run(&mut build(
        &env,
        &[
            "--dry-run",
            "--webhook",
            "hook",
            "-o",
            "json",
            "--branch",
            &url,
        ],
    ));
    run.assert_code(4);
}

#[test]
fn enqueue_never_queues_or_spools_a_webhook_url() {
    let (env, server) = setup();
    let url = server.hook_url();
    // The stream name is a flag: a usage error that does not echo the token.
    let run = env.run(&mut build(
        &env,
        &["--enqueue", "--queue", REDIS_DOWN, "--stream", &url],
    ));
    run.assert_code(2);
    // In an event field: the builder holds no webhook, so any hook URL is refused, before
    // Redis (down here) is tried and before the spool could keep it.
    for (flag, value) in [
        ("--workflow", url.as_str()),
        ("--branch", &server.hook_url_for(OTHER_HOOK_ID)),
    ] {
        let run = env.run(&mut build(
            &env,
            &[
                "--enqueue",
                "--queue",
                REDIS_DOWN,
                "-o",
                "json",
                flag,
                value,
            ],
        ));
        run.assert_code(4);
        assert_eq!(run.json()["exit_code"], 4);
    }
    // The leak watch checked the state directory; nothing was spooled at all.
    let spool = env.state().join("spool");
    let items = fs::read_dir(&spool).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count()
    });
    assert_eq!(items, 0);

    // With Redis up, the same event is not queued either.
    let Some(redis) = RedisServer::start("enqueue_hook_url") else {
        return;
    };
    let run = env.run(&mut build(
        &env,
        &["--enqueue", "--queue", &redis.url(), "--workflow", &url],
    ));
    run.assert_code(4);
    assert_eq!(redis.xlen("mmnotify:events"), 0);
}

#[test]
fn a_gateway_refuses_an_entry_holding_its_token_and_dead_letters_it_redacted() {
    let Some(redis) = RedisServer::start("dead_letter_token") else {
        return;
    };
    let (env, server) = setup();
    let event = format!(
        r#"{{"workflow":"ci","state":"failed","provider_run_id":"9","branch":"{}","commit":"{HOOK_ID}"}}"#,
        server.hook_url()
    );
    let _: String = redis.query(&["XADD", "mmnotify:events", "*", "event", &event]);
    let run = env.run(env.cmd().args([
        "build",
        "--consume",
        "--drain",
        "--webhook",
        "hook",
        "-o",
        "json",
        "--queue",
        &redis.url(),
    ]));
    run.assert_code(4);
    assert!(server.posts().is_empty());
    let dead = redis.entries("mmnotify:events:dead");
    assert_eq!(dead.len(), 1, "{dead:?}");
    let kept = &dead[0].1["event"];
    assert!(
        !kept.contains(HOOK_ID),
        "the dead letter keeps the token: {kept}"
    );
    // Still the event, readable as JSON, with the token shortened.
    let kept: Value = serde_json::from_str(kept).unwrap();
    assert_eq!(kept["commit"], format!("…{}", &HOOK_ID[22..]));
}

#[test]
fn a_redis_url_with_a_bare_password_is_a_password() {
    const PW: &str = "bare-redis-password-77";
    let Some(redis) = RedisServer::start_with("bare_password", Some(PW)) else {
        return;
    };
    let mut env = Env::new();
    env.secret(PW);
    let bare = format!("redis://{PW}@127.0.0.1:{}/0", redis.port());
    // As a flag it would show in `ps`: refused like any URL with a password.
    let run = env.run(&mut build(&env, &["--enqueue", "--queue", &bare]));
    run.assert_code(2).assert_stderr_contains("password");
    // From the variable it authenticates (redis-cli reads it the same way) and is shown
    // redacted.
    env.run(build(&env, &["--enqueue", "-v"]).env("MMNOTIFY_QUEUE", &bare))
        .assert_success()
        .assert_stderr_contains(&format!("redis://…@127.0.0.1:{}/0", redis.port()));
    assert_eq!(redis.xlen("mmnotify:events"), 1);
}

/// A state directory outside the watched one, for spool files planted by an attacker:
/// such a file holds the token in its name or content (that is the attack), which the
/// leak watch of the state directory would blame on mmnotify. Its stdout and stderr
/// are still watched.
fn planted_state(env: &Env) -> PathBuf {
    let state = env.root().join("planted-state");
    let spool = state.join("spool");
    fs::create_dir_all(spool.join("rejected")).unwrap();
    for dir in [&state, &spool, &spool.join("rejected")] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
    }
    state
}

fn plant(path: &Path, content: &str, mode: u32) {
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `flush -v` of the spool under `state`.
fn flush_state(env: &Env, state: &Path) -> Command {
    let mut c = env.flush(&["-v"]);
    c.env("MMNOTIFY_STATE_DIR", state);
    c
}

#[test]
fn flush_never_prints_a_spool_file_name_made_of_a_token() {
    let (env, _server) = setup();
    let state = planted_state(&env);
    let spool = state.join("spool");
    // Not ours to trust (mode 0644): skipped with a warning naming it.
    plant(&spool.join(format!("2-{HOOK_ID}.json")), "{}", 0o644);
    // Trusted but unreadable: moved to rejected/, which the warning names.
    plant(
        &spool.join(format!("3-{OTHER_HOOK_ID}.json")),
        "{not json",
        0o600,
    );
    let run = env.run(&mut flush_state(&env, &state));
    run.assert_stderr_contains(&format!("2-…{}.json", &HOOK_ID[22..]))
        .assert_stderr_contains(&format!("3-…{}.json", &OTHER_HOOK_ID[22..]));
}

#[test]
fn flush_never_prints_a_forged_source_holding_a_token() {
    let (env, _server) = setup();
    let state = planted_state(&env);
    let item = serde_json::json!({
        "version": 1,
        "created_at_ms": 1_700_000_000_000_u64,
        "source": format!("name:{HOOK_ID}"),
        "dedupe_key": null,
        "payload": {"text": "x"},
        "last_error": "",
        "attempts": 1,
        "kind": "send",
    });
    plant(
        &state.join("spool/1700000000000-0000000001-000000.json"),
        &item.to_string(),
        0o600,
    );
    let run = env.run(&mut flush_state(&env, &state));
    run.assert_code(3)
        .assert_stderr_contains(&format!("name:…{}", &HOOK_ID[22..]));
}
