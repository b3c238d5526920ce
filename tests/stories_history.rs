//! Build stories' job history beyond the direct post (contract: "Job history and
//! transitions"): a spooled event updates it when `flush` finally posts it, a build
//! relayed through `run`'s socket is told and recorded by the parent, and a time far in
//! the future (forged or a wrong clock) never freezes a job's story. Also the config
//! file's last hostile values: bidi characters in a route's channel, a foreign owner.

use std::path::Path;
use std::process::Command;

use crate::support::{hooked, Env, Fault, MockServer, RedisServer, ServerOptions, HOOK_ID};

const MM: &str = env!("CARGO_BIN_EXE_mmnotify");
const JOB: &str = "JOB:";

/// `build` for one run of the `ci` job of acme/app on `branch` (its run id is
/// `BRANCH-RUN_ID`: runs of different branches never share a dedupe key); `extra` adds
/// flags.
fn build(env: &Env, branch: &str, run_id: &str, state: &str, extra: &[&str]) -> Command {
    let run_id = format!("{branch}-{run_id}");
    let extra: Vec<&str> = ["--retries", "0"].iter().chain(extra).copied().collect();
    crate::stories::build_run_on(env, branch, &run_id, state, &extra)
}

/// The `hook` secret pointed at a port nobody listens on (the webhook is down), or back
/// at the emulator.
fn hook_down(env: &Env, server: &MockServer, down: bool) {
    let url = if down {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        server
            .hook_url()
            .replace(&format!(":{}/", server.port()), &format!(":{port}/"))
    } else {
        server.hook_url()
    };
    env.write_secret("hook", &format!("{url}\n"));
}

/// A failed run posted while the webhook is down: exit 5, spooled.
fn spool_a_failure(env: &Env, server: &MockServer, branch: &str, extra: &[&str]) {
    hook_down(env, server, true);
    let run = env.run(&mut build(env, branch, "1", "failed", extra));
    run.assert_code(5);
    assert_eq!(run.json()["status"], "spooled", "{}", run.stdout);
    assert_eq!(run.json()["transition"], "broken", "{}", run.stdout);
    hook_down(env, server, false);
}

fn only_item(env: &Env) -> std::path::PathBuf {
    let items = env.spool_items();
    assert_eq!(items.len(), 1, "{items:?}");
    items[0].clone()
}

fn edit_item(p: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut item: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    edit(&mut item);
    std::fs::write(p, serde_json::to_vec(&item).unwrap()).unwrap();
    std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// The success after the spooled failure, and what it says.
fn next_success(env: &Env, server: &MockServer, branch: &str, extra: &[&str]) -> String {
    let run = env.run(&mut build(env, branch, "2", "succeeded", extra));
    run.assert_success();
    let transition = run.json()["transition"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    let last = server.posts().last().unwrap().message.clone();
    if transition == "fixed" {
        assert!(last.contains("fixed after 1 failure"), "{last}");
    }
    transition
}

#[test]
fn a_spooled_failure_joins_the_history_when_flushed() {
    let (env, server) = hooked(ServerOptions::default());
    spool_a_failure(&env, &server, "main", &[]);
    let item: serde_json::Value =
        serde_json::from_slice(&std::fs::read(only_item(&env)).unwrap()).unwrap();
    env.run(&mut env.flush(&[]))
        .assert_success()
        .assert_stderr_contains("1 posted");
    assert_eq!(next_success(&env, &server, "main", &[]), "fixed");
    // What the item carried for it, and never the webhook (the Env's leak watch checks
    // the whole state directory too).
    assert_eq!(item["history"]["run_id"], "main-1", "{item}");
    assert_eq!(item["history"]["state"], "failed", "{item}");
    assert!(!item.to_string().contains(HOOK_ID));

    // Refused by the server at flush (400): final too, so recorded.
    spool_a_failure(&env, &server, "refused", &[]);
    server.script([Fault::Status(400)]);
    env.run(&mut env.flush(&[]))
        .assert_stderr_contains("1 rejected");
    assert_eq!(next_success(&env, &server, "refused", &[]), "fixed");

    // Kept for later (the webhook still down): nothing recorded yet.
    spool_a_failure(&env, &server, "kept", &[]);
    hook_down(&env, &server, true);
    env.run(&mut env.flush(&[])).assert_code(5);
    hook_down(&env, &server, false);
    let run = env.run(&mut build(&env, "kept", "0", "succeeded", &[]));
    assert_eq!(run.json()["transition"], "succeeded", "{}", run.stdout);
    env.run(&mut env.flush(&[])).assert_success();
    assert_eq!(next_success(&env, &server, "kept", &[]), "fixed");

    // An item written before the note existed still flushes; it cannot tell its run.
    spool_a_failure(&env, &server, "old", &[]);
    edit_item(&only_item(&env), |v| {
        v.as_object_mut().unwrap().remove("history");
    });
    env.run(&mut env.flush(&[]))
        .assert_success()
        .assert_stderr_contains("1 posted");
    assert!(env.spool_items().is_empty());
    assert_eq!(next_success(&env, &server, "old", &[]), "succeeded");
}

#[test]
fn a_spooled_failure_joins_the_history_in_the_shared_store_it_names() {
    let Some(mut redis) = RedisServer::start("a_spooled_failure_joins_the_shared_history") else {
        return;
    };
    let (env, server) = hooked(ServerOptions::default());
    let url = redis.url();
    let store = ["--dedupe-store", url.as_str()];
    spool_a_failure(&env, &server, "main", &store);
    let item: serde_json::Value =
        serde_json::from_slice(&std::fs::read(only_item(&env)).unwrap()).unwrap();
    assert_eq!(item["store"], "flag", "{item}");
    env.run(&mut env.flush(&store))
        .assert_success()
        .assert_stderr_contains("1 posted");
    // Recorded in Redis, not in the state directory.
    let keys: Vec<String> = redis.query(&["KEYS", "mmnotify:dedupe:history:*"]);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let local = std::fs::read_dir(env.state().join("dedupe/history")).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.file_name() != "history.lock")
            .count()
    });
    assert_eq!(local, 0);
    assert_eq!(next_success(&env, &server, "main", &store), "fixed");

    // The store away: kept unposted for `flush`, and recorded once flush posts it.
    redis.stop();
    let run = env.run(&mut build(&env, "away", "1", "failed", &store));
    run.assert_code(5);
    assert_eq!(run.json()["status"], "spooled", "{}", run.stdout);
    redis.restart();
    env.run(&mut env.flush(&store))
        .assert_success()
        .assert_stderr_contains("1 posted");
    assert_eq!(next_success(&env, &server, "away", &store), "fixed");
}

/// `run` around a job whose `build`s post through the run socket.
fn relayed(env: &Env, builds: &[&str]) -> crate::support::Run {
    let script: Vec<String> = builds
        .iter()
        .enumerate()
        .map(|(i, flags)| {
            format!(
                "{MM} build --no-env --workflow ci --repository acme/app --branch main \
                 --output json {flags}; echo \"{JOB} b{i}=$?\""
            )
        })
        .collect();
    let mut c = env.cmd();
    c.args([
        "run",
        "--webhook",
        "hook",
        "--",
        "sh",
        "-c",
        &script.join("; "),
    ]);
    env.run_job(&mut c, JOB)
}

#[test]
fn relayed_builds_are_told_and_recorded_by_the_parent() {
    let (env, server) = hooked(ServerOptions::default());
    let run = relayed(
        &env,
        &[
            "--run-id 1 --state failed",
            // Filtered in the job: final, so the parent records it all the same.
            "--run-id 2 --state failed --on fixed",
            "--run-id 3 --state succeeded",
            // Posted without a claim: recorded all the same.
            "--run-id 4 --state failed --no-dedupe",
            "--run-id 5 --state succeeded",
        ],
    );
    run.assert_success();
    for i in 0..5 {
        run.assert_stdout_contains(&format!("b{i}=0"));
    }
    run.assert_stdout_contains(r#""transition":"broken""#)
        .assert_stdout_contains(r#""status":"filtered""#)
        .assert_stdout_contains(r#""transition":"fixed""#);
    let builds: Vec<_> = server
        .posts()
        .into_iter()
        .filter(|p| p.message.contains("**ci**"))
        .collect();
    assert_eq!(builds.len(), 4, "{builds:?}");
    assert_eq!(builds[0].props["mmnotify"]["transition"], "broken");
    assert!(
        builds[1].message.contains("fixed after 2 failures"),
        "{}",
        builds[1].message
    );
    assert_eq!(builds[2].props["mmnotify"]["transition"], "broken");
    assert!(
        builds[3].message.contains("fixed after 1 failure"),
        "{}",
        builds[3].message
    );
    // The history is in the parent's store.
    assert!(env.state().join("dedupe/history").is_dir());
}

/// A minute from now, as RFC 3339 (the test's clock is the binary's): whole seconds,
/// and never before the first sight of an earlier run (which would make it `older`),
/// yet well within the clock skew a builder's `started_at` is believed.
fn rfc3339_now() -> String {
    let out = Command::new("date")
        .args(["-u", "-d", "+1 minute", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_started_at_far_in_the_future_does_not_freeze_the_job() {
    let (env, server) = hooked(ServerOptions::default());
    let run = env.run(&mut build(
        &env,
        "main",
        "1",
        "failed",
        &["--started-at", "2999-01-01T00:00:00Z"],
    ));
    assert_eq!(run.json()["transition"], "broken");
    let now = rfc3339_now();
    for (id, state, want) in [
        ("2", "failed", "still_failing"),
        ("3", "succeeded", "fixed"),
    ] {
        let run = env.run(&mut build(&env, "main", id, state, &["--started-at", &now]));
        assert_eq!(run.json()["transition"], want, "run {id}: {}", run.stdout);
    }
    let last = server.posts().last().unwrap().message.clone();
    assert!(last.contains("fixed after 2 failures"), "{last}");
}

#[test]
fn a_planted_bucket_line_from_the_future_does_not_freeze_the_job() {
    let (env, _server) = hooked(ServerOptions::default());
    let now = rfc3339_now();
    let with_now = ["--started-at", now.as_str()];
    env.run(&mut build(&env, "main", "1", "failed", &with_now))
        .assert_success();
    // The job's bucket in the state directory: lines `<job hash> <expires_ms> <record>`,
    // the last line of a job wins. Plant a later line whose times are in year 2999.
    let bucket = std::fs::read_dir(env.state().join("dedupe/history"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "log")
                && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
        })
        .expect("the job's bucket");
    let text = std::fs::read_to_string(&bucket).unwrap();
    let line = text.lines().last().unwrap();
    let mut parts = line.splitn(3, ' ');
    let (hash, expires, record) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let mut v: serde_json::Value = serde_json::from_str(record).unwrap();
    let far = 32_503_680_000_000_u64;
    for field in ["at", "since", "seen"] {
        v[field] = far.into();
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&bucket)
        .unwrap();
    std::io::Write::write_all(&mut f, format!("{hash} {expires} {v}\n").as_bytes()).unwrap();
    for (id, state, want) in [
        ("2", "failed", "broken"),
        ("3", "failed", "still_failing"),
        ("4", "succeeded", "fixed"),
    ] {
        let run = env.run(&mut build(&env, "main", id, state, &with_now));
        run.assert_success();
        assert_eq!(run.json()["transition"], want, "run {id}: {}", run.stdout);
    }
}

#[test]
fn a_planted_record_from_the_future_does_not_freeze_the_job() {
    let Some(redis) = RedisServer::start("a_planted_record_from_the_future") else {
        return;
    };
    let (env, _server) = hooked(ServerOptions::default());
    let url = redis.url();
    let store = ["--dedupe-store", url.as_str()];
    let now = rfc3339_now();
    let with_now = [store[0], store[1], "--started-at", now.as_str()];
    env.run(&mut build(&env, "main", "1", "failed", &with_now))
        .assert_success();
    let keys: Vec<String> = redis.query(&["KEYS", "mmnotify:dedupe:history:*"]);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let record: String = redis.query(&["GET", &keys[0]]);
    let mut v: serde_json::Value = serde_json::from_str(&record).unwrap();
    // Year 2999: every later run would be `older` for ever.
    let far = 32_503_680_000_000_u64;
    for field in ["at", "since", "seen"] {
        v[field] = far.into();
    }
    let () = redis.query(&["SET", &keys[0], &v.to_string()]);
    for (id, state, want) in [
        ("2", "failed", "broken"),
        ("3", "failed", "still_failing"),
        ("4", "succeeded", "fixed"),
    ] {
        let run = env.run(&mut build(&env, "main", id, state, &with_now));
        run.assert_success();
        assert_eq!(run.json()["transition"], want, "run {id}: {}", run.stdout);
    }
}

#[test]
fn bidi_and_invisible_characters_in_a_routes_channel_are_refused() {
    let (env, _server) = hooked(ServerOptions::default());
    for (i, channel) in [
        "ops\u{202E}ved",
        "\u{2066}ops",
        "o\u{200B}ps",
        "ops\u{200F}",
        // A soft hyphen, a Hangul filler, and tag characters (invisible ASCII).
        "ops\u{00AD}",
        "o\u{3164}ps",
        "ops\u{E0061}\u{E006C}\u{E006C}",
    ]
    .iter()
    .enumerate()
    {
        let path = env.write_file(
            &format!("conf/bidi{i}.toml"),
            &format!("[[route]]\nwebhook = \"hook\"\nchannel = \"{channel}\"\n"),
            0o600,
        );
        let mut c = env.cmd();
        c.args(["config", "check", "--config"]).arg(&path);
        let run = env.run(&mut c);
        run.assert_code(3)
            .assert_stderr_contains("line 3")
            .assert_stderr_contains("`channel`");
        // Shown escaped, never as the characters that reorder the line.
        assert!(!run.stderr.contains(channel), "{}", run.stderr);
    }
}

#[test]
fn a_config_owned_by_another_user_is_refused_with_the_chown_and_no_echo() {
    if !crate::support::is_root_or_skip(
        "a_config_owned_by_another_user_is_refused_with_the_chown_and_no_echo",
        "chown to another uid",
    ) {
        return;
    }
    let (env, _server) = hooked(ServerOptions::default());
    let marker = "route-marker-7f3a";
    let path = env.write_file(
        "conf/foreign.toml",
        &format!("[[route]]\nwebhook = \"hook\"\nbranch = \"{marker}\"\n"),
        0o644,
    );
    std::os::unix::fs::chown(&path, Some(54321), Some(54321)).unwrap();
    let mut config_check = env.cmd();
    config_check
        .args(["config", "check", "--config"])
        .arg(&path);
    let mut a_build = build(&env, "main", "1", "failed", &["--config"]);
    a_build.arg(&path);
    for mut c in [config_check, a_build] {
        let run = env.run(&mut c);
        run.assert_code(3)
            .assert_stderr_contains("uid 54321")
            .assert_stderr_contains("chown root");
        assert!(
            !run.stderr.contains(marker) && !run.stdout.contains(marker),
            "{}",
            run.stderr
        );
    }
}

/// Runs of the `ci` job of acme/app on main as `build --events` lines (one invocation):
/// no flag overrides their run ids.
fn build_events(env: &Env, lines: &[String], extra: &[&str]) -> crate::support::Run {
    let mut c = env.cmd();
    c.args([
        "build",
        "--events",
        "-",
        "--webhook",
        "hook",
        "--no-env",
        "--retries",
        "0",
        "--output",
        "json",
    ])
    .args(extra);
    env.run_with_stdin(&mut c, (lines.join("\n") + "\n").as_bytes())
}

fn failed_run(run_id: &str) -> String {
    serde_json::json!({
        "workflow": "ci", "repository": "acme/app", "branch": "main",
        "state": "failed", "provider_run_id": run_id,
    })
    .to_string()
}

#[test]
fn a_run_id_joins_the_history_hashed_never_as_given() {
    let (env, server) = hooked(ServerOptions::default());
    // A run id holding the webhook's URL (pasted into the wrong CI variable, or a hostile
    // event), filtered by --on: no message is checked for the token, yet the run is
    // recorded. The leak watch reads every file of the state directory.
    let leaky = format!("x-{}", server.hook_url());
    env.run(&mut build(
        &env,
        "main",
        &leaky,
        "failed",
        &["--on", "fixed"],
    ))
    .assert_success();
    let run = env.run(&mut build(&env, "main", "2", "failed", &[]));
    assert_eq!(run.json()["transition"], "still_failing", "{}", run.stdout);
}

#[test]
fn huge_run_ids_never_break_a_history_bucket() {
    let (env, server) = hooked(ServerOptions::default());
    // Run ids of most of a megabyte (an event line may hold one), filtered too: as given,
    // each record kept up to sixteen of them and its bucket passed 16 MiB within a few
    // runs, which cost every job in that bucket its story for good.
    let huge: Vec<String> = (0..6)
        .map(|i| failed_run(&format!("{i}{}", "r".repeat(900_000))))
        .collect();
    let run = build_events(&env, &huge, &["--on", "fixed"]);
    run.assert_success();
    assert!(!run.stderr.contains("cannot"), "{}", run.stderr);
    let run = build_events(&env, &[failed_run("7")], &[]);
    run.assert_success();
    assert_eq!(run.json()["transition"], "still_failing", "{}", run.stdout);
    let last = server.posts().last().unwrap().message.clone();
    assert!(last.contains("7th failure in a row"), "{last}");
    let bytes: u64 = std::fs::read_dir(env.state().join("dedupe/history"))
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(bytes < 64 * 1024, "the histories take {bytes} bytes");
}

/// A hostile job talks to its `run`'s socket itself: one request, one answer.
fn socket_call(socket: &Path, request: &serde_json::Value) -> serde_json::Value {
    use std::io::{BufRead, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream.write_all(format!("{request}\n").as_bytes()).unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut line)
        .unwrap();
    serde_json::from_str(&line).unwrap()
}

/// A `record` request for a run of the job, as an inner `build` sends it; `claimed` is
/// the run and state the request deduplicates, `first_seen_ms` the note's first sight.
fn record_request(
    note: (&str, &str),
    claimed: (&str, &str),
    first_seen_ms: u64,
) -> serde_json::Value {
    serde_json::json!({
        "v": 2, "kind": "record", "webhook": null, "payload": null, "spool": false,
        "dedupe": {"run_id": claimed.0, "state": claimed.1, "ttl_ms": 86_400_000, "store": null},
        "budget": {"timeout_ms": 5000, "attempt_timeout_ms": 5000, "retries": 0},
        "history": {
            "repository": "acme/app", "workflow": "ci", "branch": "main",
            "state": note.1, "run_id": note.0, "first_seen_ms": first_seen_ms,
            "ttl_ms": 86_400_000_u64,
        },
    })
}

#[test]
fn a_job_cannot_forge_history_through_the_run_socket() {
    let (env, server) = hooked(ServerOptions::default());
    let saved = env.root().join("sockpath");
    let done = env.root().join("done");
    // The job names its socket, waits while the test (as the job) sends forged requests,
    // then reports a failed run as a real inner build would.
    let script = format!(
        "echo \"$MMNOTIFY_RUN_SOCKET\" > {saved}.tmp; mv {saved}.tmp {saved}; \
         i=0; while [ ! -e {done} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; \
         {MM} build --no-env --workflow ci --repository acme/app --branch main \
         --run-id 5 --state failed --output json; echo \"{JOB} b=$?\"",
        saved = saved.display(),
        done = done.display()
    );
    let now_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let answers = std::thread::scope(|s| {
        let parent = s.spawn(|| {
            let mut c = env.cmd();
            c.args(["run", "--webhook", "hook", "--", "sh", "-c", &script]);
            env.run_job(&mut c, JOB)
        });
        let start = std::time::Instant::now();
        while !saved.exists() && start.elapsed() < std::time::Duration::from_secs(20) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let socket = std::path::PathBuf::from(std::fs::read_to_string(&saved).unwrap().trim());
        let answers: Vec<i64> = [
            // The job broke: a run as a real inner build records it.
            record_request(("1", "failed"), ("1", "failed"), now_ms),
            // A `running` event recorded as the job's latest run: a success, "fixed".
            record_request(("2", "running"), ("2", "running"), now_ms),
            // A note for another run (and state) than the one the request claims.
            record_request(("3", "succeeded"), ("other", "failed"), now_ms),
            // First seen in year 2999: the record would be from the future, which the
            // next run takes for no history at all.
            record_request(("4", "failed"), ("4", "failed"), 32_503_680_000_000),
        ]
        .iter()
        .map(|r| socket_call(&socket, r)["code"].as_i64().unwrap())
        .collect();
        std::fs::write(&done, "").unwrap();
        let run = parent.join().unwrap();
        run.assert_success().assert_stdout_contains("b=0");
        answers
    });
    assert_eq!(answers, [0, 4, 4, 0]);
    let post = server
        .posts()
        .into_iter()
        .find(|p| p.message.contains("**ci**"))
        .expect("the inner build's post");
    assert_eq!(post.props["mmnotify"]["transition"], "still_failing");
    assert!(
        post.message.contains("3rd failure in a row"),
        "{}",
        post.message
    );
}

#[test]
fn a_planted_history_key_of_another_type_reads_as_no_history_and_is_replaced() {
    let Some(redis) = RedisServer::start("a_planted_history_key_of_another_type") else {
        return;
    };
    let (env, _server) = hooked(ServerOptions::default());
    let url = redis.url();
    let store = ["--dedupe-store", url.as_str()];
    env.run(&mut build(&env, "main", "1", "failed", &store))
        .assert_success();
    let keys: Vec<String> = redis.query(&["KEYS", "mmnotify:dedupe:history:*"]);
    assert_eq!(keys.len(), 1, "{keys:?}");
    // A hash where the job's record was: a raw WRONGTYPE cost the job its story on every
    // post, for good.
    let _: i64 = redis.query(&["DEL", &keys[0]]);
    let _: i64 = redis.query(&["HSET", &keys[0], "planted", "1"]);
    for (id, want) in [("2", "broken"), ("3", "still_failing")] {
        let run = env.run(&mut build(&env, "main", id, "failed", &store));
        run.assert_success();
        assert!(!run.stderr.contains("WRONGTYPE"), "{}", run.stderr);
        assert_eq!(run.json()["transition"], want, "run {id}: {}", run.stdout);
    }
    let kind: String = redis.query(&["TYPE", &keys[0]]);
    assert_eq!(kind, "string");
}

// ---- The file store's buckets under other writers --------------------------------

/// The one bucket of job histories in the state directory (these tests build one job).
fn job_bucket(env: &Env) -> std::path::PathBuf {
    std::fs::read_dir(env.state().join("dedupe/history"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("the job's bucket")
}

/// The story a post told: `fixed after N failures` in the last post's text.
fn fixed_after(server: &MockServer) -> String {
    let post = server.posts().pop().expect("a post");
    let at = post.message.find("fixed after").expect(&post.message);
    post.message[at..]
        .split(" failure")
        .next()
        .unwrap()
        .to_string()
}

/// A build reads its job's bucket for the story without the lock while another build
/// appends its run there, then records its own run under the lock: the other run is not
/// lost. strace stops the reader just after its read of the bucket reached the end (no
/// timing: the test waits for the stop, runs the other build, then lets it go on).
#[test]
fn a_run_recorded_while_another_build_reads_the_bucket_is_not_lost() {
    let traced = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !traced {
        // CI installs strace (.ci/run): there a missing one is a failure, not a skip. A
        // sandbox that forbids ptrace is the machine's choice, said on stderr.
        let installed = Command::new("strace")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            installed || std::env::var_os("MMNOTIFY_REQUIRE_STRACE").is_none(),
            "MMNOTIFY_REQUIRE_STRACE is set but strace is not installed"
        );
        eprintln!("a_run_recorded_while_another_build_reads: SKIPPED: needs strace (ptrace)");
        return;
    }
    let (env, server) = hooked(ServerOptions::default());
    env.run(&mut build(&env, "main", "1", "failed", &[]))
        .assert_success();
    let bucket = job_bucket(&env);
    let trace = env.root().join("reader.trace");
    let reader = build(&env, "main", "2", "failed", &[]);
    let mut c = env.cmd_for("strace");
    c.arg("-f")
        .arg("-o")
        .arg(&trace)
        .arg("-P")
        .arg(&bucket)
        .args([
            "-e",
            "trace=read",
            "-e",
            "inject=read:signal=SIGSTOP:when=2",
        ])
        .arg(MM)
        .args(reader.get_args());
    let spawned = env.spawn(&mut c);
    let pid: i32 = crate::support::wait_for(
        "the reader stopped after reading its bucket",
        std::time::Duration::from_secs(60),
        || {
            let t = std::fs::read_to_string(&trace).ok()?;
            t.contains("stopped by SIGSTOP")
                .then(|| t.split_whitespace().next()?.parse().ok())?
        },
    );
    env.run(&mut build(&env, "main", "3", "failed", &[]))
        .assert_success();
    // SAFETY: kill(2) with a pid of our own traced child; no memory is touched.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    env.wait(spawned).assert_success();
    env.run(&mut build(&env, "main", "4", "succeeded", &[]))
        .assert_success();
    assert_eq!(fixed_after(&server), "fixed after 3");
}

/// A bucket whose last line was cut short (a crash or a full disk in the middle of an
/// append, or a reader that caught an append half done): the cut line is no record, and
/// the next run's line starts on a line of its own instead of being glued to it (which
/// lost that run, or the job's whole record when the cut line was another job's).
#[test]
fn a_cut_last_line_in_a_bucket_costs_no_run() {
    let (env, server) = hooked(ServerOptions::default());
    env.run(&mut build(&env, "main", "1", "failed", &[]))
        .assert_success();
    let bucket = job_bucket(&env);
    let cut = |other_job: bool| {
        let text = std::fs::read_to_string(&bucket).unwrap();
        let mut line = text.lines().last().unwrap().to_string();
        if other_job {
            // The same bucket (first hex digits), another job.
            let last = if line.as_bytes()[63] == b'0' {
                "1"
            } else {
                "0"
            };
            line.replace_range(63..64, last);
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&bucket)
            .unwrap();
        std::io::Write::write_all(&mut f, &line.as_bytes()[..line.len() - 20]).unwrap();
    };
    cut(true);
    for (id, want) in [("2", "still_failing"), ("3", "still_failing")] {
        let run = env.run(&mut build(&env, "main", id, "failed", &[]));
        assert_eq!(run.json()["transition"], want, "run {id}: {}", run.stdout);
    }
    cut(false);
    for (id, want) in [("4", "still_failing"), ("5", "still_failing")] {
        let run = env.run(&mut build(&env, "main", id, "failed", &[]));
        assert_eq!(run.json()["transition"], want, "run {id}: {}", run.stdout);
    }
    env.run(&mut build(&env, "main", "6", "succeeded", &[]))
        .assert_success();
    assert_eq!(fixed_after(&server), "fixed after 5");
}

/// A bucket this process may read but not write (here immutable, as a file restored
/// with mode 0400 or left by another user would be): the post still tells the job's
/// story, and only the record fails, with the reason.
#[test]
fn a_bucket_that_cannot_be_written_still_tells_the_story() {
    if !crate::support::is_root_or_skip(
        "a_bucket_that_cannot_be_written_still_tells_the_story",
        "chattr +i, which root alone may set",
    ) {
        return;
    }
    let (env, server) = hooked(ServerOptions::default());
    env.run(&mut build(&env, "main", "1", "failed", &[]))
        .assert_success();
    let bucket = job_bucket(&env);
    let chattr = |flag: &str| {
        let ok = Command::new("chattr")
            .arg(flag)
            .arg(&bucket)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chattr {flag} {}", bucket.display());
    };
    chattr("+i");
    let run = env.run(&mut build(&env, "main", "2", "failed", &[]));
    chattr("-i");
    run.assert_success()
        .assert_stderr_contains("cannot record the run in the job's history")
        .assert_stderr_contains("Operation not permitted");
    assert_eq!(run.json()["transition"], "still_failing", "{}", run.stdout);
    // Run 2 was not recorded: run 3 is the second failure.
    env.run(&mut build(&env, "main", "3", "succeeded", &[]))
        .assert_success();
    assert_eq!(fixed_after(&server), "fixed after 1");
}

/// A history directory that stops taking new files (here immutable; a directory made
/// read-only or a full disk alike) while `build --events` runs: every run is still
/// appended and counted, and the warning of the failed compaction says the run is
/// recorded, instead of denying it on every event.
#[test]
fn a_bucket_that_cannot_be_compacted_still_records_every_run() {
    if !crate::support::is_root_or_skip(
        "a_bucket_that_cannot_be_compacted_still_records_every_run",
        "chattr +i, which root alone may set",
    ) {
        return;
    }
    let (env, server) = hooked(ServerOptions::default());
    env.run(&mut build(&env, "main", "0", "failed", &[]))
        .assert_success();
    let dir = env.state().join("dedupe/history");
    let chattr = |flag: &str| {
        let ok = Command::new("chattr")
            .arg(flag)
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chattr {flag} {}", dir.display());
    };
    // More runs than a bucket of one job holds before it is compacted.
    let lines: Vec<String> = (1..=200).map(|i| failed_run(&format!("e-{i}"))).collect();
    chattr("+i");
    let run = build_events(&env, &lines, &[]);
    chattr("-i");
    run.assert_success()
        .assert_stderr_contains("the run is recorded in the job's history, but its bucket");
    assert!(
        !run.stderr.contains("cannot record the run"),
        "{}",
        run.stderr
    );
    env.run(&mut build(&env, "main", "z", "succeeded", &[]))
        .assert_success();
    assert_eq!(fixed_after(&server), "fixed after 201");
}
