//! `build` end to end: events from flags, files, streams and CI environments; the post
//! it makes; `--on`; deduplication (repeats, TTL, races, crashed holders); the spool.
//! Every run goes through `Env::run*` (redaction checked) except where a test must
//! spawn or kill a process itself, and those are followed by an `Env::run`.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    hooked, mode, setup, Env, Fault, Hook, Run, ServerOptions, HOOK_ID, OTHER_HOOK_ID,
};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const SHORT: &str = "01234567";
const STATES: [&str; 4] = ["succeeded", "failed", "cancelled", "timed_out"];

/// `mmnotify build --webhook hook ARGS…` (the CI environment is empty unless the test
/// sets variables on the command).
fn build(env: &Env, args: &[&str]) -> Command {
    let mut c = env.cmd();
    c.args(["build", "--webhook", "hook"]).args(args);
    c
}

/// A complete event from flags alone: workflow `ci`, this state and run id.
fn build_event(env: &Env, run_id: &str, state: &str, extra: &[&str]) -> Command {
    let mut c = build(
        env,
        &[
            "--no-env",
            "--workflow",
            "ci",
            "--state",
            state,
            "--run-id",
            run_id,
        ],
    );
    c.args(extra);
    c
}

fn status(run: &Run) -> String {
    run.json()["status"].as_str().unwrap_or("").to_string()
}

fn rgb(color: &str) -> Option<(u8, u8, u8)> {
    let hex = color.strip_prefix('#').filter(|h| h.len() == 6)?;
    let c = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some((c(0)?, c(2)?, c(4)?))
}

fn is_64_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The keys recorded as delivered in the state dir's deduplication log (its buckets).
fn delivered_keys(env: &Env) -> Vec<String> {
    let Ok(buckets) = fs::read_dir(env.state().join("dedupe/delivered")) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    for bucket in buckets {
        let text = fs::read_to_string(bucket.unwrap().path()).unwrap_or_default();
        keys.extend(
            text.lines()
                .map(|l| l.split(' ').next().unwrap_or_default().to_string()),
        );
    }
    keys
}

fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

/// The host name as the kernel reports it (what `hostname` prints).
fn host_name() -> Option<String> {
    let from_proc = fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let name = from_proc.or_else(|| {
        let out = Command::new("hostname").output().ok()?;
        String::from_utf8(out.stdout).ok()
    })?;
    let name = name.trim().to_string();
    (!name.is_empty()).then_some(name)
}

// ---------------------------------------------------------------------------------------
// 1. The post
// ---------------------------------------------------------------------------------------

#[test]
fn flags_make_one_post_with_short_commit_node_and_failed_colour() {
    let (env, server) = setup();
    let run = env.run(&mut build(
        &env,
        &[
            "--no-env",
            "--workflow",
            "ci",
            "--state",
            "failed",
            "--branch",
            "main",
            "--commit",
            SHA,
            "--run-url",
            "https://ci.example/r/1",
            "--node",
            "builder-7",
            "--run-id",
            "1",
        ],
    ));
    run.assert_success();
    assert_eq!(run.stdout, "", "nothing on stdout on success");

    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    for needle in ["ci", "main", SHORT, "builder-7", "failed"] {
        assert!(
            post.message.contains(needle),
            "text lacks {needle:?}: {}",
            post.message
        );
    }
    assert!(
        !post.message.contains(SHA),
        "the full commit must not be in the text: {}",
        post.message
    );

    let atts = post.attachments.as_array().expect("attachments array");
    assert_eq!(atts.len(), 1, "{atts:?}");
    let att = &atts[0];
    let fallback = att["fallback"].as_str().expect("attachment fallback");
    assert!(fallback.contains("ci"), "{fallback}");
    let color = att["color"].as_str().expect("attachment colour");
    assert!(
        color == "danger" || rgb(color).is_some_and(|(r, g, b)| r > g && r > b),
        "failed should be red, got {color}"
    );
    // The run link is in the text or the attachment.
    let body = server.requests()[0].json();
    assert!(
        post.message.contains("https://ci.example/r/1")
            || body["attachments"][0]
                .to_string()
                .contains("https://ci.example/r/1")
    );

    let event = &post.props["mmnotify"]["event"];
    assert_eq!(event["workflow"], "ci", "{}", post.props);
    assert_eq!(event["state"], "failed");
    assert_eq!(event["commit"], SHA);
    assert_eq!(event["mesh_node_id"], "builder-7");
    assert_eq!(event["provider_run_id"], "1");
}

#[test]
fn each_state_has_its_own_colour_and_emoji_in_a_dry_run() {
    // No secret at all: a dry run needs none and sends nothing.
    let env = Env::new();
    let mut colors = HashSet::new();
    let mut emojis = HashSet::new();
    for state in STATES {
        let mut cmd = env.cmd();
        cmd.args(["build", "--dry-run", "--no-env", "--workflow", "ci"])
            .args(["--state", state, "--run-id", "5"]);
        let run = env.run(&mut cmd);
        run.assert_success();
        let payload = run.json();
        let text = payload["text"].as_str().expect("text").to_string();
        let emoji = text.split_whitespace().next().unwrap().to_string();
        assert!(!emoji.is_empty() && !emoji.is_ascii(), "{text}");
        emojis.insert(emoji);
        let att = &payload["attachments"][0];
        assert!(att["fallback"].is_string(), "{payload}");
        colors.insert(att["color"].as_str().expect("colour").to_string());
        assert_eq!(payload["props"]["mmnotify"]["event"]["state"], state);
    }
    assert_eq!(colors.len(), 4, "colours: {colors:?}");
    assert_eq!(emojis.len(), 4, "emojis: {emojis:?}");
    // A dry run does not record a delivery.
    assert!(delivered_keys(&env).is_empty());
}

// ---------------------------------------------------------------------------------------
// 2. Validation and merging
// ---------------------------------------------------------------------------------------

#[test]
fn invalid_events_are_refused_naming_the_field_and_nothing_is_sent() {
    let (env, server) = setup();
    env.run(&mut build(&env, &["--no-env", "--state", "failed"]))
        .assert_code(4)
        .assert_stderr_contains("workflow");
    env.run(&mut build(&env, &["--no-env", "--workflow", "ci"]))
        .assert_code(4)
        .assert_stderr_contains("state");

    // Values clap checks itself are usage errors.
    env.run(&mut build(
        &env,
        &["--no-env", "--workflow", "ci", "--state", "queued"],
    ))
    .assert_code(2);
    env.run(&mut build_event(
        &env,
        "1",
        "failed",
        &["--duration", "soon"],
    ))
    .assert_code(2);
    env.run(&mut build_event(&env, "1", "failed", &["--on", "bogus"]))
        .assert_code(2);
    env.run(&mut build_event(
        &env,
        "1",
        "failed",
        &["--started-at", "yesterday"],
    ))
    .assert_code(2);

    let cases = [
        ("bad-json", "{\"workflow\": \"ci\",", "JSON"),
        ("array", r#"[{"workflow":"ci","state":"failed"}]"#, "object"),
        // `running` is a state since issue 18; `queued` is not.
        ("state", r#"{"workflow":"ci","state":"queued"}"#, "state"),
        (
            "duration",
            r#"{"workflow":"ci","state":"failed","duration":"soon"}"#,
            "duration",
        ),
        (
            "started",
            r#"{"workflow":"ci","state":"failed","started_at":"yesterday"}"#,
            "started_at",
        ),
        ("no-workflow", r#"{"state":"failed"}"#, "workflow"),
    ];
    for (name, content, field) in cases {
        let path = env.write_file(&format!("{name}.json"), content, 0o644);
        let run = env.run(&mut build(
            &env,
            &["--no-env", "--event", path.to_str().unwrap()],
        ));
        run.assert_code(4).assert_stderr_contains(field);
    }
    // The same from stdin.
    env.run_with_stdin(
        &mut build(&env, &["--no-env", "--event", "-"]),
        br#"{"workflow":"ci","state":"queued"}"#,
    )
    .assert_code(4)
    .assert_stderr_contains("queued");

    assert!(
        server.requests().is_empty(),
        "invalid input must not be sent: {:?}",
        server.requests()
    );
}

#[test]
fn durations_in_seconds_or_humantime_are_accepted() {
    let (env, server) = setup();
    for d in ["90", "1m 30s"] {
        env.run(
            build(
                &env,
                &["--no-env", "--workflow", "ci", "--state", "succeeded", "-q"],
            )
            .args(["--duration", d]),
        )
        .assert_success();
    }
    let posts = server.posts();
    assert_eq!(posts.len(), 2);
    for post in &posts {
        assert_eq!(post.props["mmnotify"]["event"]["duration"], "1m 30s");
        assert!(
            post.attachments.to_string().contains("1m 30s"),
            "{}",
            post.attachments
        );
    }
}

#[test]
fn flags_override_event_file_fields() {
    let (env, server) = setup();
    let event = format!(
        r#"{{"workflow":"from-file","state":"succeeded","branch":"file-branch",
            "commit":"{SHA}","provider_run_id":"9","mesh_node_id":"node-f","extra":1}}"#
    )
    .replace('\n', "");
    let path = env.write_file("event.json", &event, 0o644);
    let run = env.run(&mut build(
        &env,
        &[
            "--no-env",
            "--event",
            path.to_str().unwrap(),
            "--state",
            "failed",
            "--branch",
            "flag-branch",
            "--output",
            "json",
        ],
    ));
    run.assert_success();
    let ev = &run.json()["event"];
    assert_eq!(ev["workflow"], "from-file");
    assert_eq!(ev["state"], "failed");
    assert_eq!(ev["branch"], "flag-branch");
    assert_eq!(ev["commit"], SHA);
    assert_eq!(ev["provider_run_id"], "9");
    assert_eq!(ev["mesh_node_id"], "node-f");
    let post = &server.posts()[0];
    assert!(post.message.contains("flag-branch"), "{}", post.message);
    assert!(!post.message.contains("file-branch"), "{}", post.message);

    // `--event -` reads the object from stdin.
    let run = env.run_with_stdin(
        &mut build(
            &env,
            &["--no-env", "--event", "-", "--workflow", "stdin-flag"],
        ),
        br#"{"workflow":"from-stdin","state":"cancelled","provider_run_id":"10"}"#,
    );
    run.assert_success();
    let posts = server.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[1].props["mmnotify"]["event"]["workflow"],
        "stdin-flag"
    );
    assert_eq!(posts[1].props["mmnotify"]["event"]["state"], "cancelled");
}

// ---------------------------------------------------------------------------------------
// 3. CI environments
// ---------------------------------------------------------------------------------------

fn github_env(cmd: &mut Command) -> &mut Command {
    cmd.env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_RUN_ID", "123")
        .env("GITHUB_RUN_ATTEMPT", "2")
        .env("GITHUB_RUN_NUMBER", "17")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "octo/app")
        .env("GITHUB_REF_NAME", "release-1")
        .env("GITHUB_SHA", SHA)
        .env("GITHUB_WORKFLOW", "Release")
}

#[test]
fn github_actions_environment_fills_the_event() {
    let (env, server) = setup();
    let run_url = "https://github.com/octo/app/actions/runs/123/attempts/2";
    let run = env.run(github_env(&mut build(
        &env,
        &["--state", "succeeded", "--output", "json"],
    )));
    run.assert_success();
    let out = run.json();
    assert_eq!(out["status"], "posted");
    let ev = &out["event"];
    assert_eq!(ev["provider_run_id"], "123-2", "{out}");
    assert_eq!(ev["workflow"], "Release");
    assert_eq!(ev["branch"], "release-1");
    assert_eq!(ev["commit"], SHA);
    assert_eq!(ev["run_url"], run_url);
    assert_eq!(ev["repository"], "octo/app");
    assert_eq!(ev["provider"], "github");
    // mesh_node_id defaults to the host name.
    let node = ev["mesh_node_id"].as_str().expect("mesh_node_id");
    match host_name() {
        Some(h) => assert_eq!(node, h),
        None => assert!(!node.is_empty()),
    }

    let post = &server.posts()[0];
    for needle in ["Release", "release-1", SHORT, run_url] {
        assert!(
            post.message.contains(needle),
            "text lacks {needle:?}: {}",
            post.message
        );
    }
    assert!(!post.message.contains(SHA), "{}", post.message);

    // A second attempt of the same run id deduplicates like any other.
    let run = env.run(github_env(&mut build(
        &env,
        &["--state", "succeeded", "--output", "json"],
    )));
    run.assert_success();
    assert_eq!(status(&run), "duplicate");
    // Flags still win over the environment.
    env.run(github_env(&mut build(
        &env,
        &[
            "--state",
            "failed",
            "--workflow",
            "Override",
            "--node",
            "n1",
        ],
    )))
    .assert_success();
    let posts = server.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].props["mmnotify"]["event"]["workflow"], "Override");
    assert_eq!(
        posts[1].props["mmnotify"]["event"]["provider_run_id"],
        "123-2"
    );

    // --no-env ignores all of it: no workflow.
    env.run(github_env(&mut build(
        &env,
        &["--no-env", "--state", "succeeded"],
    )))
    .assert_code(4)
    .assert_stderr_contains("workflow");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn gitlab_ci_environment_fills_the_event_and_state() {
    let (env, server) = setup();
    let mut cmd = build(&env, &["--output", "json"]);
    cmd.env("CI", "true")
        .env("GITLAB_CI", "true")
        .env("CI_PIPELINE_ID", "1000")
        .env("CI_JOB_ID", "5555")
        .env(
            "CI_PIPELINE_URL",
            "https://gitlab.example/grp/app/-/pipelines/1000",
        )
        .env("CI_COMMIT_REF_NAME", "main")
        .env("CI_COMMIT_SHA", SHA)
        .env("CI_PROJECT_PATH", "grp/app")
        .env("CI_PROJECT_NAME", "app")
        .env("CI_JOB_NAME", "notify")
        .env("CI_JOB_STATUS", "failed");
    let run = env.run(&mut cmd);
    run.assert_success();
    let ev = &run.json()["event"];
    assert_eq!(ev["provider"], "gitlab");
    assert_eq!(ev["workflow"], "notify");
    assert_eq!(ev["state"], "failed");
    assert_eq!(ev["branch"], "main");
    assert_eq!(ev["provider_run_id"], "1000-5555");
    assert_eq!(ev["repository"], "grp/app");
    let post = &server.posts()[0];
    assert!(post.message.contains("notify"), "{}", post.message);
    assert!(post.message.contains(SHORT), "{}", post.message);
    assert!(
        post.message
            .contains("https://gitlab.example/grp/app/-/pipelines/1000"),
        "{}",
        post.message
    );
}

// ---------------------------------------------------------------------------------------
// 4. --on
// ---------------------------------------------------------------------------------------

#[test]
fn states_outside_on_are_filtered_without_a_request() {
    let (env, server) = setup();
    let run = env.run(&mut build_event(
        &env,
        "1",
        "succeeded",
        &["--on", "failed,timed_out", "--output", "json"],
    ));
    run.assert_success();
    assert_eq!(status(&run), "filtered");
    assert!(server.requests().is_empty());

    // A state in the list posts.
    let run = env.run(&mut build_event(
        &env,
        "1",
        "timed_out",
        &["--on", "failed,timed_out", "--output", "json"],
    ));
    run.assert_success();
    assert_eq!(status(&run), "posted");
    assert_eq!(server.posts().len(), 1);
}

// ---------------------------------------------------------------------------------------
// 5. Deduplication
// ---------------------------------------------------------------------------------------

#[test]
fn same_run_and_state_posts_once_in_private_hashed_files() {
    let mut opts = ServerOptions::default();
    opts.hooks.push(Hook::new(OTHER_HOOK_ID, "dev"));
    let (env, server) = hooked(opts);
    env.write_secret("other", &server.hook_url_for(OTHER_HOOK_ID));
    let json = ["--output", "json"];

    let run = env.run(&mut build_event(&env, "42", "failed", &json));
    run.assert_success();
    assert_eq!(status(&run), "posted");
    let run = env.run(&mut build_event(&env, "42", "failed", &json));
    run.assert_success();
    assert_eq!(status(&run), "duplicate");
    assert_eq!(server.requests().len(), 1);

    // Another state of the same run is another message.
    let run = env.run(&mut build_event(&env, "42", "succeeded", &json));
    assert_eq!(status(&run), "posted");
    // --no-dedupe posts again.
    let run = env.run(&mut build_event(
        &env,
        "42",
        "failed",
        &["--no-dedupe", "--output", "json"],
    ));
    run.assert_success();
    assert_eq!(status(&run), "posted");
    // The webhook is part of the key.
    let mut other = env.cmd();
    other
        .args([
            "build",
            "--webhook",
            "other",
            "--no-env",
            "--workflow",
            "ci",
        ])
        .args(["--state", "failed", "--run-id", "42", "--output", "json"]);
    let run = env.run(&mut other);
    run.assert_success();
    assert_eq!(status(&run), "posted");
    assert_eq!(server.posts().len(), 4);
    assert_eq!(server.posts()[3].channel, "dev");

    let dir = env.state().join("dedupe");
    assert_eq!(mode(&dir), 0o700, "dedupe dir mode");
    let entries: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap()).collect();
    assert!(!entries.is_empty());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if ["claims", "delivered", "history"].contains(&name.as_str()) {
            // The logs' buckets: named by three (delivered) or two (claims) hex digits
            // of the keys' hashes.
            // `history/`: the job histories, bucketed like the delivered log.
            let digits = if name == "claims" { 2 } else { 3 };
            assert_eq!(mode(&path), 0o700, "mode of {name}");
            for bucket in fs::read_dir(&path).unwrap() {
                let bucket = bucket.unwrap().path();
                let file = bucket.file_name().unwrap().to_string_lossy().into_owned();
                assert!(bucket.is_file(), "{file} is not a file");
                let stem = file.strip_suffix(".log").unwrap_or_default();
                assert!(
                    stem.len() == digits && stem.bytes().all(|b| b.is_ascii_hexdigit()),
                    "unexpected file {name}/{file}"
                );
                assert_eq!(mode(&bucket), 0o600, "mode of {name}/{file}");
            }
            continue;
        }
        assert!(path.is_file(), "{name} is not a file");
        assert!(
            ["claims.lock", "compact.lock", "history.lock"].contains(&name.as_str()),
            "unexpected file {name}"
        );
        assert_eq!(mode(&path), 0o600, "mode of {name}");
    }
    // 42/failed and 42/succeeded on `hook`, 42/failed on `other`; --no-dedupe records
    // nothing new. Keys are hashes: the URL never appears (the harness checks that too).
    let keys = delivered_keys(&env);
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| is_64_hex(k)), "{keys:?}");
}

#[test]
fn dedupe_ttl_expires() {
    let (env, server) = setup();
    let ttl = ["--dedupe-ttl", "1s", "--output", "json"];
    let run = env.run(&mut build_event(&env, "43", "failed", &ttl));
    assert_eq!(status(&run), "posted");
    let run = env.run(&mut build_event(&env, "43", "failed", &ttl));
    assert_eq!(status(&run), "duplicate");
    std::thread::sleep(Duration::from_millis(1200));
    let run = env.run(&mut build_event(&env, "43", "failed", &ttl));
    run.assert_success();
    assert_eq!(status(&run), "posted");
    assert_eq!(server.posts().len(), 2);
}

/// The TTL is a property of each invocation: a run with a short `--dedupe-ttl` must not
/// make another invocation (default 7d) forget a key it still considers delivered.
#[test]
fn a_short_ttl_run_does_not_expire_other_keys() {
    let (env, server) = setup();
    let json = ["--output", "json"];
    let run = env.run(&mut build_event(&env, "50", "failed", &json));
    assert_eq!(status(&run), "posted");
    std::thread::sleep(Duration::from_millis(1200));
    // An unrelated key, with a 1 s TTL.
    let run = env.run(&mut build_event(
        &env,
        "51",
        "failed",
        &["--dedupe-ttl", "1s", "--output", "json"],
    ));
    assert_eq!(status(&run), "posted");
    // Key 50 was delivered 1.2 s ago: well within the default 7d.
    let run = env.run(&mut build_event(&env, "50", "failed", &json));
    run.assert_success();
    assert_eq!(status(&run), "duplicate", "key 50 was posted again");
    assert_eq!(server.posts().len(), 2);
}

/// A state directory written by an older mmnotify (one `delivered.log` and one
/// `claims.log`) keeps deduplicating: the first run splits it into buckets.
#[test]
fn a_store_in_the_old_single_log_format_still_deduplicates() {
    let (env, server) = setup();
    let json = ["--output", "json"];
    let run = env.run(&mut build_event(&env, "60", "failed", &json));
    assert_eq!(status(&run), "posted");
    // Rewrite the store as the old format had it: every line in one log per kind.
    let dir = env.state().join("dedupe");
    for (sub, old) in [("delivered", "delivered.log"), ("claims", "claims.log")] {
        let mut text = String::new();
        for bucket in fs::read_dir(dir.join(sub)).unwrap() {
            text.push_str(&fs::read_to_string(bucket.unwrap().path()).unwrap());
        }
        fs::remove_dir_all(dir.join(sub)).unwrap();
        fs::write(dir.join(old), text).unwrap();
        fs::set_permissions(dir.join(old), fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert_eq!(
        fs::read_to_string(dir.join("delivered.log"))
            .unwrap()
            .lines()
            .count(),
        1
    );

    let run = env.run(&mut build_event(&env, "60", "failed", &json));
    run.assert_success();
    assert_eq!(status(&run), "duplicate", "the old log was not read");
    assert!(!dir.join("delivered.log").exists() && !dir.join("claims.log").exists());
    assert_eq!(delivered_keys(&env).len(), 1);
    // Stays a duplicate once migrated, and other keys still post.
    let run = env.run(&mut build_event(&env, "60", "failed", &json));
    assert_eq!(status(&run), "duplicate");
    let run = env.run(&mut build_event(&env, "61", "failed", &json));
    assert_eq!(status(&run), "posted");
    assert_eq!(server.posts().len(), 2);
}

#[test]
fn events_without_run_id_warn_and_post_each_time() {
    let (env, server) = setup();
    for _ in 0..2 {
        let run = env.run(&mut build(
            &env,
            &["--no-env", "--workflow", "ci", "--state", "failed"],
        ));
        run.assert_success();
        assert!(
            run.stderr.contains("provider_run_id") || run.stderr.contains("run-id"),
            "no warning about the missing run id: {}",
            run.stderr
        );
    }
    assert_eq!(server.posts().len(), 2);
    // -q silences the warning.
    let run = env.run(&mut build(
        &env,
        &["--no-env", "--workflow", "ci", "--state", "failed", "-q"],
    ));
    run.assert_success();
    assert_eq!(run.stderr, "");
    assert_eq!(server.posts().len(), 3);
}

// ---------------------------------------------------------------------------------------
// 6. and 11. Failed deliveries and the spool
// ---------------------------------------------------------------------------------------

#[test]
fn failed_delivery_does_not_consume_the_key() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    let run = env.run(&mut build_event(&env, "7", "failed", &["--retries", "0"]));
    run.assert_code(6).assert_stderr_contains("spool");
    assert!(server.posts().is_empty());

    let run = env.run(&mut build_event(&env, "7", "failed", &["--output", "json"]));
    run.assert_success();
    assert_eq!(status(&run), "posted");
    let run = env.run(&mut build_event(&env, "7", "failed", &["--output", "json"]));
    assert_eq!(status(&run), "duplicate");
    assert_eq!(server.posts().len(), 1);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn retryable_failure_is_spooled_with_its_dedupe_key_and_source() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    let run = env.run(&mut build_event(
        &env,
        "8",
        "failed",
        &["--retries", "0", "--output", "json"],
    ));
    run.assert_code(6).assert_stderr_contains("spool");
    assert_eq!(status(&run), "spooled");

    let spool = env.state().join("spool");
    let items = files_in(&spool, "json");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(mode(&items[0]), 0o600);
    let text = fs::read_to_string(&items[0]).unwrap();
    assert!(
        !text.contains(HOOK_ID),
        "the hook id is in the spool: {text}"
    );
    assert!(!text.contains("/hooks/"), "a URL is in the spool: {text}");
    let item: Value = serde_json::from_str(&text).unwrap();
    let key = item["dedupe_key"].as_str().expect("dedupe_key").to_string();
    assert!(is_64_hex(&key), "{key}");
    assert_eq!(item["source"], "name:hook");
    assert_eq!(
        item["payload"]["props"]["mmnotify"]["event"]["provider_run_id"],
        "8"
    );

    // The spooled key is the key deduplication records once it is delivered.
    env.run(&mut build_event(&env, "8", "failed", &[]))
        .assert_success();
    assert_eq!(delivered_keys(&env), vec![key]);

    // A 500 is not spooled (it may have posted part of the message).
    server.script([Fault::Status(500)]);
    env.run(&mut build_event(&env, "9", "failed", &[]))
        .assert_code(6);
    assert_eq!(files_in(&spool, "json").len(), 1);
}

// ---------------------------------------------------------------------------------------
// 7. and 8. Concurrency and crashes
// ---------------------------------------------------------------------------------------

#[test]
fn sixteen_concurrent_invocations_post_once() {
    let (env, server) = setup();
    // The first request is slow, so the others really find the key held.
    server.script([Fault::Delay(Duration::from_millis(300))]);
    let runs: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let env = &env;
                s.spawn(move || {
                    env.run(&mut build_event(env, "77", "failed", &["--output", "json"]))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut statuses = Vec::new();
    for run in &runs {
        run.assert_success();
        statuses.push(status(run));
    }
    let posted = statuses.iter().filter(|s| *s == "posted").count();
    let duplicate = statuses.iter().filter(|s| *s == "duplicate").count();
    assert_eq!((posted, duplicate), (1, 15), "{statuses:?}");
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn a_killed_holder_does_not_block_the_key() {
    let (env, server) = setup();
    server.script([Fault::Hang(Duration::from_secs(30))]);
    let mut holder = build_event(&env, "88", "failed", &["--timeout", "60s"]);
    let mut child = holder
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mmnotify");
    if !server.wait_for_requests(1, Duration::from_secs(10)) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the holder never sent its request");
    }
    child.kill().expect("kill -9 the holder");
    child.wait().unwrap();

    let started = Instant::now();
    let run = env.run(&mut build_event(
        &env,
        "88",
        "failed",
        &["--timeout", "60s", "--output", "json"],
    ));
    let took = started.elapsed();
    run.assert_success();
    assert_eq!(status(&run), "posted");
    assert!(
        took < Duration::from_secs(30),
        "waited {took:?} for a dead holder"
    );
    assert_eq!(server.posts().len(), 1);
    assert_eq!(server.requests().len(), 2);
}

/// A holder that is alive but stuck (stopped mid-post) is waited for until its own
/// `--timeout` plus the grace has passed; then one waiter takes over and says so.
#[test]
fn a_stuck_holder_is_taken_over_after_its_budget_with_a_warning() {
    let (env, server) = setup();
    server.script([Fault::Hang(Duration::from_secs(30))]);
    let mut holder = build_event(&env, "89", "failed", &["--timeout", "3s"]);
    let mut child = holder
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mmnotify");
    let pid = i32::try_from(child.id()).unwrap();
    let sent = server.wait_for_requests(1, Duration::from_secs(10));
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    if !sent {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the holder never sent its request");
    }
    let run = env.run(&mut build_event(
        &env,
        "89",
        "failed",
        &["--timeout", "3s", "--output", "json"],
    ));
    child.kill().expect("kill the stopped holder");
    child.wait().unwrap();
    run.assert_success().assert_stderr_contains(
        "another process has held this run's claim past its budget; posting anyway",
    );
    assert_eq!(status(&run), "posted");
    assert_eq!(server.posts().len(), 1);
    assert_eq!(server.requests().len(), 2);
}

// ---------------------------------------------------------------------------------------
// 9. --events
// ---------------------------------------------------------------------------------------

const MIXED_STREAM: &str = concat!(
    r#"{"workflow":"ci","state":"succeeded","provider_run_id":"1"}"#,
    "\n",
    "\n",
    "{not json\n",
    r#"{"state":"failed","provider_run_id":"3"}"#,
    "\n",
    r#"{"workflow":"ci","state":"succeeded","provider_run_id":"1"}"#,
    "\n",
    r#"{"workflow":"ci","state":"cancelled","provider_run_id":"4"}"#,
    "\n",
    r#"{"workflow":"ci","state":"failed","provider_run_id":"2"}"#,
    "\n",
);

#[test]
fn events_stream_skips_bad_lines_and_summarises() {
    let (env, server) = setup();
    let run = env.run_with_stdin(
        &mut build(
            &env,
            &["--no-env", "--events", "-", "--on", "succeeded,failed"],
        ),
        MIXED_STREAM.as_bytes(),
    );
    run.assert_code(4)
        .assert_stderr_contains("line 3")
        .assert_stderr_contains("line 4")
        .assert_stderr_contains("2 posted, 1 duplicate, 1 filtered");
    assert!(!run.stderr.contains("line 2"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    let posts = server.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].props["mmnotify"]["event"]["provider_run_id"], "1");
    assert_eq!(posts[1].props["mmnotify"]["event"]["provider_run_id"], "2");
    assert_eq!(
        server.connections(),
        1,
        "one keep-alive connection for all posts"
    );
}

#[test]
fn events_stream_json_output_has_one_object_per_event_line() {
    let (env, server) = setup();
    let run = env.run_with_stdin(
        &mut build(
            &env,
            &[
                "--no-env",
                "--events",
                "-",
                "--on",
                "succeeded,failed",
                "--output",
                "json",
            ],
        ),
        MIXED_STREAM.as_bytes(),
    );
    run.assert_code(4);
    let lines = run.json_lines();
    let got: Vec<(u64, String)> = lines
        .iter()
        .map(|o| {
            (
                o["line"].as_u64().unwrap_or(0),
                o["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = [
        (1, "posted"),
        (3, "failed"),
        (4, "failed"),
        (5, "duplicate"),
        (6, "filtered"),
        (7, "posted"),
    ]
    .into_iter()
    .map(|(l, s)| (l, s.to_string()))
    .collect();
    assert_eq!(got, want, "{}", run.stdout);
    assert_eq!(server.posts().len(), 2);

    // A stream of only valid, new events exits 0.
    let run = env.run_with_stdin(
        &mut build(&env, &["--no-env", "--events", "-", "--output", "json"]),
        concat!(
            r#"{"workflow":"ci","state":"failed","provider_run_id":"10"}"#,
            "\n",
            r#"{"workflow":"ci","state":"timed_out","provider_run_id":"11"}"#,
            "\n",
        )
        .as_bytes(),
    );
    run.assert_success()
        .assert_stderr_contains("2 posted, 0 duplicate, 0 filtered");
    let lines = run.json_lines();
    assert_eq!(lines.len(), 2);
    assert!(
        lines.iter().all(|o| o["status"] == "posted"),
        "{}",
        run.stdout
    );
    assert_eq!(server.posts().len(), 4);
}

#[test]
fn events_are_posted_as_they_arrive() {
    let (env, server) = setup();
    let mut cmd = build(&env, &["--no-env", "--events", "-"]);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mmnotify");
    let mut stdin = child.stdin.take().unwrap();
    let mut expect = |line: &str, n: usize| {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
        if !server.wait_for_requests(n, Duration::from_secs(10)) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("event {n} was not posted while the stream stayed open");
        }
    };
    expect(
        "{\"workflow\":\"ci\",\"state\":\"failed\",\"provider_run_id\":\"1\"}\n",
        1,
    );
    expect(
        "{\"workflow\":\"ci\",\"state\":\"failed\",\"provider_run_id\":\"2\"}\n",
        2,
    );
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(server.posts().len(), 2);
    // One more run through the harness, so the state dir is checked for secrets.
    env.run(&mut build_event(&env, "1", "failed", &["--output", "json"]))
        .assert_success();
}

// ---------------------------------------------------------------------------------------
// 10. --text-template
// ---------------------------------------------------------------------------------------

#[test]
fn text_template_shapes_the_text_and_unknown_placeholders_are_refused() {
    let (env, server) = setup();
    let template = "{emoji} {workflow} on {branch} ({short_commit})";
    env.run(&mut build_event(
        &env,
        "1",
        "failed",
        &[
            "--branch",
            "main",
            "--commit",
            SHA,
            "--text-template",
            template,
        ],
    ))
    .assert_success();
    let msg = &server.posts()[0].message;
    let (emoji, rest) = msg.split_once(' ').expect("emoji then text");
    assert_eq!(rest, format!("ci on main ({SHORT})"));
    assert!(!emoji.is_empty() && !emoji.contains('{'), "{msg}");

    // Same emoji as the default text for that state.
    let dry = env.run(&mut build_event(&env, "1", "failed", &["--dry-run"]));
    let default_text = dry.json()["text"].as_str().unwrap().to_string();
    assert!(default_text.starts_with(emoji), "{default_text} vs {msg}");

    let run = env.run(&mut build_event(
        &env,
        "2",
        "failed",
        &["--text-template", "{emoji} {nope}"],
    ));
    run.assert_code(4).assert_stderr_contains("nope");
    assert_eq!(server.requests().len(), 1);
}
