//! Redundant gateways against a real `redis-server` (one per test, see
//! `support/redis.rs`): builders enqueue, gateways consume, the shared dedupe store, and
//! what happens when Redis, Mattermost or a gateway fails. Every run of the binary goes
//! through `Env` (the redaction check covers the Redis password too).

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    wait_until, Env, Fault, MockServer, Pki, RedisServer, ServerOptions, Spawned,
};

const STREAM: &str = "mmnotify:events";
const DEAD: &str = "mmnotify:events:dead";
const GROUP: &str = "mmnotify";

fn setup(test: &str) -> Option<(Env, MockServer, RedisServer)> {
    let redis = RedisServer::start(test)?;
    let (env, server) = crate::support::hooked(ServerOptions::default());
    Some((env, server, redis))
}

/// `build --enqueue` of one event (no webhook: builders never hold it).
fn enqueue(env: &Env, redis: &RedisServer, workflow: &str, run_id: &str, node: &str) -> Command {
    let mut c = env.cmd();
    c.args(["build", "--enqueue", "--no-env", "--queue", &redis.url()])
        .args([
            "--workflow",
            workflow,
            "--state",
            "failed",
            "--run-id",
            run_id,
        ])
        .args(["--node", node]);
    c
}

/// `build --consume` with short timings, posting to the emulator's hook.
fn consume(env: &Env, redis: &RedisServer, extra: &[&str]) -> Command {
    let mut c = env.cmd();
    c.args([
        "build",
        "--consume",
        "--webhook",
        "hook",
        "--queue",
        &redis.url(),
    ]);
    if !extra.contains(&"--claim-idle") {
        c.args(["--claim-idle", "1s"]);
    }
    c.args(extra);
    c
}

/// Posts per workflow name (each event has its own).
fn posts_by_workflow(server: &MockServer) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for p in server.posts() {
        let wf = p
            .message
            .split_whitespace()
            .find(|w| w.contains("wf-"))
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-')
                    .to_string()
            })
            .unwrap_or_default();
        *m.entry(wf).or_insert(0) += 1;
    }
    m
}

/// SIGTERM, then the run (a gateway stops gracefully with exit 0 when all went well).
fn stop(env: &Env, g: Spawned) -> crate::support::Run {
    g.signal(libc::SIGTERM);
    env.wait(g)
}

/// Gateway A takes an event of `workflow` and `run_id` and holds its claim while its
/// POST is delayed 1.5 s at the server: the set-up of the outage and takeover tests.
fn gateway_a_claims(
    env: &Env,
    server: &MockServer,
    redis: &RedisServer,
    (workflow, run_id): (&str, &str),
    timeout: &str,
) -> Spawned {
    env.run(&mut enqueue(env, redis, workflow, run_id, "node-a"))
        .assert_success();
    server.script([Fault::Delay(Duration::from_millis(1500))]);
    let a = env.spawn(&mut consume(
        env,
        redis,
        &["--consumer", "gw-a", "--timeout", timeout],
    ));
    wait_until("A's claim", Duration::from_secs(10), || {
        !dedupe_keys(redis, "claim").is_empty()
    });
    a
}

/// Redis goes away while A's POST is on its way; returns once the server has the post.
fn stop_redis_once_a_posted(server: &MockServer, redis: &mut RedisServer) {
    redis.stop();
    wait_until("A's post", Duration::from_secs(10), || {
        server.posts().len() == 1
    });
}

#[test]
fn enqueue_then_consume_posts_once_and_acknowledges() {
    let Some((env, server, redis)) = setup("enqueue_then_consume") else {
        return;
    };
    let run = env.run(enqueue(&env, &redis, "wf-1", "101", "node-a").arg("-v"));
    run.assert_success()
        .assert_stderr_contains("enqueued as entry ");
    assert_eq!(redis.xlen(STREAM), 1);
    // A builder needs no webhook, and its entry holds the event as compact JSON.
    let (_, fields) = &redis.entries(STREAM)[0];
    let ev: serde_json::Value = serde_json::from_str(&fields["event"]).unwrap();
    assert_eq!(ev["workflow"], "wf-1");
    assert_eq!(ev["mesh_node_id"], "node-a");

    let run = env.run(&mut consume(&env, &redis, &["--drain", "--output", "json"]));
    run.assert_success()
        .assert_stderr_contains("1 posted, 0 duplicate");
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["status"], "posted");
    assert!(lines[0]["entry_id"].is_string());
    assert_eq!(server.posts().len(), 1);
    assert_eq!(redis.pending(STREAM, GROUP), 0);

    // The same run and state again: a duplicate, acknowledged, not posted.
    env.run(&mut enqueue(&env, &redis, "wf-1", "101", "node-b"))
        .assert_success();
    env.run(&mut consume(&env, &redis, &["--drain"]))
        .assert_success()
        .assert_stderr_contains("0 posted, 1 duplicate");
    assert_eq!(server.posts().len(), 1);
    assert_eq!(redis.pending(STREAM, GROUP), 0);
    assert_eq!(redis.xlen(DEAD), 0);

    // doctor sees the stream, the group and no pending entry.
    let run = env.run(env.cmd().args(["doctor", "--queue", &redis.url()]));
    run.assert_success()
        .assert_stdout_contains("✓ stream")
        .assert_stdout_contains("✓ group")
        .assert_stdout_contains("✓ pending: 0 entries");
}

#[test]
fn four_builders_two_gateways_post_each_run_exactly_once() {
    let Some((env, server, redis)) = setup("four_builders_two_gateways") else {
        return;
    };
    let state_b = env.root().join("state-b");
    let g1 = env.spawn(&mut consume(&env, &redis, &["--consumer", "gw-1"]));
    let g2 = env
        .spawn(consume(&env, &redis, &["--consumer", "gw-2"]).env("MMNOTIFY_STATE_DIR", &state_b));
    // 100 runs, each reported by two nodes: 200 entries from 4 builder processes.
    std::thread::scope(|s| {
        for b in 0..4 {
            let (env, redis) = (&env, &redis);
            s.spawn(move || {
                for i in 0..50 {
                    let n = b * 50 + i;
                    let run = n % 100;
                    let node = if n < 100 { "node-a" } else { "node-b" };
                    env.run(&mut enqueue(
                        env,
                        redis,
                        &format!("wf-{run}"),
                        &run.to_string(),
                        node,
                    ))
                    .assert_success();
                }
            });
        }
    });
    wait_until("100 posts", Duration::from_secs(30), || {
        server.posts().len() >= 100 && redis.pending(STREAM, GROUP) == 0
    });
    // Give a late duplicate post the chance to show up.
    std::thread::sleep(Duration::from_millis(300));
    let r1 = stop(&env, g1);
    let r2 = stop(&env, g2);
    r1.assert_success();
    r2.assert_success();
    let by = posts_by_workflow(&server);
    assert_eq!(by.len(), 100, "{by:?}");
    assert!(by.values().all(|n| *n == 1), "{by:?}");
    assert_eq!(redis.pending(STREAM, GROUP), 0);
    assert_eq!(redis.xlen(DEAD), 0);
}

#[test]
fn a_gateway_killed_mid_post_is_taken_over_after_claim_idle() {
    let Some((env, server, redis)) = setup("killed_mid_post") else {
        return;
    };
    server.script([Fault::Hang(Duration::from_secs(30))]);
    env.run(&mut enqueue(&env, &redis, "wf-7", "7", "node-a"))
        .assert_success();
    let a = env.spawn(&mut consume(
        &env,
        &redis,
        &["--consumer", "gw-a", "--timeout", "3s"],
    ));
    assert!(server.wait_for_requests(1, Duration::from_secs(10)));
    a.signal(libc::SIGKILL);
    let ra = env.wait(a);
    assert_eq!(ra.code, -1, "{ra:?}");
    assert_eq!(redis.pending(STREAM, GROUP), 1);

    let b = env.spawn(
        consume(&env, &redis, &["--consumer", "gw-b"])
            .env("MMNOTIFY_STATE_DIR", env.root().join("state-b")),
    );
    wait_until("the takeover's post", Duration::from_secs(20), || {
        server.posts().len() == 1 && redis.pending(STREAM, GROUP) == 0
    });
    std::thread::sleep(Duration::from_millis(300));
    // A cannot say whether its POST went through: B says so.
    stop(&env, b)
        .assert_success()
        .assert_stderr_contains("may appear twice");
    assert_eq!(server.posts().len(), 1);
    assert_eq!(redis.xlen(DEAD), 0);
}

#[test]
fn a_503_leaves_the_entry_pending_until_it_is_posted_once() {
    let Some((env, server, redis)) = setup("pending_through_503") else {
        return;
    };
    server.script([Fault::Status(503), Fault::Status(503), Fault::Status(503)]);
    env.run(&mut enqueue(&env, &redis, "wf-3", "3", "node-a"))
        .assert_success();
    let g = env.spawn(&mut consume(
        &env,
        &redis,
        &["--retries", "0", "--claim-idle", "500ms"],
    ));
    assert!(server.wait_for_requests(1, Duration::from_secs(10)));
    // Failed, not acknowledged, nothing posted.
    assert_eq!(redis.pending(STREAM, GROUP), 1);
    assert!(server.posts().is_empty());
    wait_until("the post after the 503s", Duration::from_secs(20), || {
        server.posts().len() == 1 && redis.pending(STREAM, GROUP) == 0
    });
    let run = stop(&env, g);
    run.assert_success()
        .assert_stderr_contains("left pending")
        .assert_stderr_contains("1 posted");
    assert_eq!(server.requests().len(), 4);
    assert_eq!(redis.xlen(DEAD), 0);
}

#[test]
fn max_deliveries_sends_a_permanently_failing_entry_to_the_dead_stream() {
    let Some((env, server, redis)) = setup("max_deliveries") else {
        return;
    };
    server.script((0..20).map(|_| Fault::Status(503)));
    env.run(&mut enqueue(&env, &redis, "wf-9", "9", "node-a"))
        .assert_success();
    let g = env.spawn(&mut consume(
        &env,
        &redis,
        &[
            "--retries",
            "0",
            "--claim-idle",
            "300ms",
            "--max-deliveries",
            "3",
        ],
    ));
    wait_until("the dead letter", Duration::from_secs(20), || {
        redis.xlen(DEAD) == 1
    });
    // Stopped by SIGTERM: exit 0 whatever the entries did (the dead stream says it).
    let run = stop(&env, g);
    run.assert_success().assert_stderr_contains("1 failed");
    assert!(server.posts().is_empty());
    assert_eq!(server.requests().len(), 3);
    assert_eq!(redis.pending(STREAM, GROUP), 0);
    let (_, dead) = &redis.entries(DEAD)[0];
    assert!(dead["reason"].contains("--max-deliveries"), "{dead:?}");
    assert_eq!(dead["deliveries"], "3");
    let (id, _) = &redis.entries(STREAM)[0];
    assert_eq!(&dead["source_id"], id);
    assert!(dead["event"].contains("wf-9"));
}

#[test]
fn invalid_and_rejected_entries_go_to_the_dead_stream_with_their_reason() {
    let Some((env, server, redis)) = setup("dead_letters") else {
        return;
    };
    let _: String = redis.query(&["XADD", STREAM, "*", "event", "{not json"]);
    let _: String = redis.query(&["XADD", STREAM, "*", "other", "x"]);
    let _: String = redis.query(&[
        "XADD",
        STREAM,
        "*",
        "event",
        r#"{"workflow":"wf-400","state":"failed","provider_run_id":"40"}"#,
    ]);
    let _: String = redis.query(&[
        "XADD",
        STREAM,
        "*",
        "event",
        r#"{"workflow":"wf-ok","state":"succeeded","provider_run_id":"41"}"#,
    ]);
    server.script([Fault::Status(400)]);
    let sources: Vec<String> = redis
        .entries(STREAM)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let run = env.run(&mut consume(&env, &redis, &["--drain"]));
    run.assert_code(40)
        .assert_stderr_contains("1 posted, 0 duplicate, 0 filtered, 3 failed (2 invalid)");
    assert_eq!(server.posts().len(), 1);
    assert_eq!(redis.pending(STREAM, GROUP), 0);
    let dead = redis.entries(DEAD);
    assert_eq!(dead.len(), 3, "{dead:?}");
    // Every entry is finished: the drain trimmed them from the stream.
    assert_eq!(redis.xlen(STREAM), 0);
    assert!(
        dead[0].1["reason"].contains("JSON") || dead[0].1["reason"].contains("json"),
        "{dead:?}"
    );
    assert_eq!(dead[0].1["event"], "{not json");
    assert!(dead[1].1["reason"].contains("no `event` field"), "{dead:?}");
    assert_eq!(dead[1].1["event"], r#"{"other":"x"}"#);
    assert!(dead[2].1["reason"].contains("400"), "{dead:?}");
    for (i, (_, d)) in dead.iter().enumerate() {
        assert_eq!(d["source_id"], sources[i]);
        assert_eq!(d["deliveries"], "1");
        assert!(!d["reason"].contains('\n'));
    }
}

#[test]
fn a_redis_restart_mid_stream_loses_nothing_and_posts_nothing_twice() {
    let Some((env, server, mut redis)) = setup("redis_restart") else {
        return;
    };
    for i in 0..30 {
        env.run(&mut enqueue(
            &env,
            &redis,
            &format!("wf-{i}"),
            &i.to_string(),
            "node-a",
        ))
        .assert_success();
    }
    // Slow posts, so that the restart falls in the middle of the stream.
    server.script((0..30).map(|_| Fault::Delay(Duration::from_millis(40))));
    // A claim whose SET reached Redis just before it stopped is nobody's until it
    // expires with the budget (--timeout + 2 s): keep that within the wait below.
    let g = env.spawn(&mut consume(&env, &redis, &["--timeout", "5s"]));
    wait_until("some posts", Duration::from_secs(20), || {
        server.posts().len() >= 5
    });
    // Down long enough for the gateway to notice, then back with its append-only file.
    redis.stop();
    std::thread::sleep(Duration::from_millis(700));
    redis.restart();
    for i in 30..60 {
        env.run(&mut enqueue(
            &env,
            &redis,
            &format!("wf-{i}"),
            &i.to_string(),
            "node-a",
        ))
        .assert_success();
    }
    wait_until("60 posts", Duration::from_secs(30), || {
        server.posts().len() >= 60 && redis.pending(STREAM, GROUP) == 0
    });
    std::thread::sleep(Duration::from_millis(300));
    let run = stop(&env, g);
    run.assert_success();
    let by = posts_by_workflow(&server);
    assert_eq!(by.len(), 60, "{by:?}");
    assert!(by.values().all(|n| *n == 1), "{by:?}");
    // One warning per outage, not one per retry.
    assert_eq!(
        run.stderr.matches("reconnecting with backoff").count(),
        1,
        "{run:?}"
    );
    run.assert_stderr_contains("answers again after");
}

#[test]
fn sixteen_concurrent_builds_with_a_shared_store_post_once() {
    let Some((env, server, redis)) = setup("sixteen_concurrent") else {
        return;
    };
    server.script([Fault::Delay(Duration::from_millis(300))]);
    let url = redis.url();
    let runs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (env, url) = (&env, &url);
                s.spawn(move || {
                    env.run(
                        env.cmd()
                            .args(["build", "--webhook", "hook", "--no-env"])
                            .args(["--workflow", "wf-16", "--state", "failed", "--run-id", "16"])
                            .args(["--dedupe-store", url, "--output", "json"])
                            .env("MMNOTIFY_STATE_DIR", env.root().join(format!("node-{i}"))),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut statuses = HashMap::new();
    for r in &runs {
        r.assert_success();
        *statuses
            .entry(r.json()["status"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(statuses.get("posted"), Some(&1), "{statuses:?}");
    assert_eq!(statuses.get("duplicate"), Some(&15), "{statuses:?}");
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn an_unreachable_store_spools_and_flush_posts_once_later() {
    let Some((mut env, server, mut redis)) = setup("store_down") else {
        return;
    };
    let file = env.write_file("store.url", &format!("{}\n", redis.url()), 0o600);
    let _ = &mut env;
    redis.stop();
    let build = |env: &Env| {
        let mut c = env.cmd();
        c.args(["build", "--webhook", "hook", "--no-env"])
            .args(["--workflow", "wf-5", "--state", "failed", "--run-id", "5"])
            .arg("--dedupe-store-file")
            .arg(&file)
            .args(["--timeout", "2s", "--attempt-timeout", "1s"]);
        c
    };
    let run = env.run(build(&env).args(["--output", "json"]));
    run.assert_code(5).assert_stderr_contains("not posted");
    assert_eq!(run.json()["status"], "spooled");
    assert!(server.requests().is_empty(), "posted blind");
    let items: Vec<_> = std::fs::read_dir(env.state().join("spool"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(items.len(), 1);
    let item: serde_json::Value =
        serde_json::from_slice(&std::fs::read(items[0].path()).unwrap()).unwrap();
    let abs = std::path::absolute(&file).unwrap();
    assert_eq!(item["store"], format!("file:{}", abs.display()));

    // Still down: flush keeps it.
    env.run(
        env.cmd()
            .args(["flush", "--timeout", "1s", "--attempt-timeout", "500ms"]),
    )
    .assert_code(5);
    assert!(server.posts().is_empty());

    redis.restart();
    env.run(env.cmd().args(["flush"])).assert_success();
    assert_eq!(server.posts().len(), 1);
    env.run(env.cmd().args(["flush"])).assert_success();
    // The key is in the shared store: another node's build is a duplicate.
    let run = env.run(
        build(&env)
            .args(["--output", "json"])
            .env("MMNOTIFY_STATE_DIR", env.root().join("other-node")),
    );
    run.assert_success();
    assert_eq!(run.json()["status"], "duplicate");
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn an_unreachable_queue_spools_the_event_and_flush_enqueues_it() {
    let Some((env, server, mut redis)) = setup("queue_down") else {
        return;
    };
    redis.stop();
    // A bad event is refused before Redis is even tried (exit 4, not 5).
    let run = env.run(
        env.cmd()
            .args(["build", "--enqueue", "--no-env", "--workflow", "ci"])
            .args(["--queue", &redis.url(), "--timeout", "5s"]),
    );
    run.assert_code(4).assert_stderr_contains("state");
    let run = env.run(enqueue(&env, &redis, "wf-8", "8", "node-a").args([
        "--timeout",
        "1s",
        "--output",
        "json",
    ]));
    run.assert_code(5).assert_stderr_contains("mmnotify flush");
    assert_eq!(run.json()["status"], "spooled");
    redis.restart();
    // Saved from --queue (no password): flush takes the URL from its own --queue.
    env.run(env.cmd().args(["flush", "--queue", &redis.url()]))
        .assert_success();
    assert_eq!(redis.xlen(STREAM), 1);
    env.run(&mut consume(&env, &redis, &["--drain"]))
        .assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn a_password_protected_redis_never_shows_its_password() {
    const PW: &str = "s3cret-redis-pass-4711";
    const WRONG: &str = "wrong-redis-pass-0815";
    let Some(mut redis) = RedisServer::start_with("requirepass", Some(PW)) else {
        return;
    };
    let (mut env, server) = crate::support::hooked(ServerOptions::default());
    env.secret(PW).secret(WRONG);
    let wrong = redis.url().replace(PW, WRONG);
    let wrong_file = env.write_file("wrong.url", &format!("{wrong}\n"), 0o600);
    let good_file = env.write_file("queue.url", &format!("# queue\n{}\n", redis.url()), 0o600);

    // On the command line a password is refused outright.
    env.run(enqueue(&env, &redis, "wf-p", "1", "n").args(["--queue", &redis.url()]))
        .assert_code(2);
    let event = [
        "--no-env",
        "--workflow",
        "wf-p",
        "--state",
        "failed",
        "--run-id",
        "1",
    ];
    let run = env.run(
        env.cmd()
            .args(["build", "--enqueue"])
            .args(event)
            .arg("--queue-file")
            .arg(&wrong_file),
    );
    run.assert_code(3)
        .assert_stderr_contains("authentication failed");
    env.run(
        env.cmd()
            .args(["build", "--consume", "--drain", "--webhook", "hook"])
            .arg("--queue-file")
            .arg(&wrong_file),
    )
    .assert_code(3);
    env.run(env.cmd().arg("doctor").env("MMNOTIFY_QUEUE", &wrong))
        .assert_code(3)
        .assert_stdout_contains("✗ redis auth");

    // The right password from the file and from the variable.
    env.run(
        env.cmd()
            .args(["build", "--enqueue", "-v"])
            .args(event)
            .arg("--queue-file")
            .arg(&good_file),
    )
    .assert_success()
    .assert_stderr_contains("redis://:…@127.0.0.1");
    env.run(
        env.cmd()
            .args(["build", "--consume", "--drain", "-v", "--webhook", "hook"])
            .env("MMNOTIFY_QUEUE", redis.url()),
    )
    .assert_success();
    assert_eq!(server.posts().len(), 1);

    // Spooled while Redis is down: the item records `env`, never the URL (the leak
    // check reads every state file).
    redis.stop();
    let run = env.run(
        env.cmd()
            .args(["build", "--enqueue", "--timeout", "1s"])
            .args([
                "--no-env",
                "--workflow",
                "wf-q",
                "--state",
                "failed",
                "--run-id",
                "2",
            ])
            .env("MMNOTIFY_QUEUE", redis.url()),
    );
    run.assert_code(5);
    redis.restart();
    let before = redis.xlen(STREAM);
    env.run(env.cmd().arg("flush").env("MMNOTIFY_QUEUE", redis.url()))
        .assert_success();
    assert_eq!(redis.xlen(STREAM), before + 1);

    // A job under `run` does not inherit the URL (nor where its file is).
    let run = env.run(
        env.cmd()
            .args([
                "run",
                "--dry-run",
                "--",
                "sh",
                "-c",
                "env | grep MMNOTIFY_ || true",
            ])
            .env("MMNOTIFY_QUEUE", redis.url())
            .env("MMNOTIFY_DEDUPE_STORE", redis.url())
            .env("MMNOTIFY_QUEUE_FILE", &good_file),
    );
    run.assert_success();
    assert!(!run.stdout.contains("MMNOTIFY_QUEUE"), "{run:?}");
    assert!(!run.stdout.contains("MMNOTIFY_DEDUPE_STORE"), "{run:?}");
}

#[test]
fn a_post_made_while_redis_was_away_is_recorded_and_acknowledged_when_it_is_back() {
    let Some((env, server, mut redis)) = setup("post_during_outage") else {
        return;
    };
    env.run(&mut enqueue(&env, &redis, "wf-o", "77", "node-a"))
        .assert_success();
    // The post takes long enough for Redis to go away in the middle of it.
    server.script([Fault::Delay(Duration::from_millis(1500))]);
    let g = env.spawn(&mut consume(&env, &redis, &[]));
    assert!(server.wait_for_requests(1, Duration::from_secs(10)));
    redis.stop();
    wait_until("the delayed post", Duration::from_secs(10), || {
        server.posts().len() == 1
    });
    std::thread::sleep(Duration::from_millis(300));
    redis.restart();
    wait_until("the acknowledgement", Duration::from_secs(10), || {
        redis.pending(STREAM, GROUP) == 0
    });
    let done: Vec<String> = redis.query(&["KEYS", "mmnotify:dedupe:done:*"]);
    assert_eq!(done.len(), 1, "the delivered record was not written");
    // The same run reported again is a duplicate.
    env.run(&mut enqueue(&env, &redis, "wf-o", "77", "node-b"))
        .assert_success();
    wait_until(
        "the duplicate's acknowledgement",
        Duration::from_secs(10),
        || redis.pending(STREAM, GROUP) == 0 && redis.xlen(STREAM) >= 1,
    );
    std::thread::sleep(Duration::from_millis(500));
    let run = stop(&env, g);
    run.assert_success()
        .assert_stderr_contains("1 posted, 1 duplicate");
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn enqueue_fills_the_event_from_the_ci_environment() {
    let Some((env, _server, redis)) = setup("enqueue_ci") else {
        return;
    };
    let run = env.run(
        env.cmd()
            .args([
                "build",
                "--enqueue",
                "--state",
                "succeeded",
                "--queue",
                &redis.url(),
            ])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_RUN_ID", "123")
            .env("GITHUB_RUN_ATTEMPT", "2")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "octo/app")
            .env("GITHUB_REF_NAME", "main")
            .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
            .env("GITHUB_WORKFLOW", "Release"),
    );
    run.assert_success();
    let (_, fields) = &redis.entries(STREAM)[0];
    let ev: serde_json::Value = serde_json::from_str(&fields["event"]).unwrap();
    assert_eq!(ev["workflow"], "Release");
    assert_eq!(ev["provider_run_id"], "123-2");
    assert_eq!(ev["branch"], "main");
}

#[test]
fn rediss_uses_the_ca_file_and_client_certificate_of_the_webhook_flags() {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(pki_dir.path());
    let Some(redis) = RedisServer::start_tls("rediss", pki, true) else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let p = redis.pki();
    let tls_args = |c: &mut Command| {
        c.arg("--ca-file")
            .arg(&p.ca_cert)
            .arg("--client-cert")
            .arg(&p.client_cert)
            .arg("--client-key")
            .arg(&p.client_key);
    };
    let mut c = enqueue(&env, &redis, "wf-tls", "1", "node-a");
    tls_args(&mut c);
    env.run(&mut c).assert_success();
    let mut c = consume(&env, &redis, &["--drain"]);
    tls_args(&mut c);
    env.run(&mut c).assert_success();
    assert_eq!(server.posts().len(), 1);
    // Without the CA the server's certificate is not trusted: nothing is enqueued.
    let run = env.run(enqueue(&env, &redis, "wf-tls", "2", "node-a").args([
        "--timeout",
        "1s",
        "--no-spool",
    ]));
    run.assert_code(5)
        .assert_stderr_contains("cannot connect to Redis");
    assert_eq!(redis.xlen(STREAM), 0);
}

#[test]
fn sigterm_finishes_the_entry_in_hand_acknowledges_it_and_exits_0() {
    let Some((env, server, redis)) = setup("sigterm_mid_post") else {
        return;
    };
    env.run(&mut enqueue(&env, &redis, "wf-t", "5", "node-a"))
        .assert_success();
    server.script([Fault::Delay(Duration::from_millis(800))]);
    let g = env.spawn(&mut consume(&env, &redis, &[]));
    assert!(server.wait_for_requests(1, Duration::from_secs(10)));
    // The POST is in flight.
    let run = stop(&env, g);
    run.assert_success().assert_stderr_contains("1 posted");
    assert_eq!(server.posts().len(), 1);
    assert_eq!(redis.pending(STREAM, GROUP), 0);
}

#[test]
fn a_percent_sign_before_a_non_ascii_password_character_is_exit_3_without_echo() {
    // `%a` followed by a two-byte character once made the URL decoder panic (exit 101)
    // with a message that quoted the password.
    const PW: &str = "right-redis-pass-4711";
    const WRONG: &str = "%aésecret-redis-pass";
    let Some(redis) = RedisServer::start_with("percent_non_ascii", Some(PW)) else {
        return;
    };
    let (mut env, _server) = crate::support::hooked(ServerOptions::default());
    env.secret(PW).secret("ésecret-redis-pass");
    let wrong = redis.url().replace(PW, WRONG);
    let file = env.write_file("queue.url", &format!("{wrong}\n"), 0o600);
    env.run(
        env.cmd()
            .args(["build", "--enqueue", "--no-env", "--workflow", "w"])
            .args(["--state", "failed", "--run-id", "1", "--queue-file"])
            .arg(&file),
    )
    .assert_code(3)
    .assert_stderr_contains("authentication failed");
}

#[test]
fn an_event_that_is_not_utf8_goes_to_the_dead_stream_unposted() {
    let Some((env, server, redis)) = setup("non_utf8_entry") else {
        return;
    };
    let _: String = redis::cmd("XADD")
        .arg(STREAM)
        .arg("*")
        .arg("event")
        .arg(&b"{\"workflow\":\"w\xff\xfe\",\"state\":\"failed\",\"provider_run_id\":\"u1\"}"[..])
        .query(&mut redis.con())
        .unwrap();
    env.run(&mut consume(&env, &redis, &["--drain"]))
        .assert_code(4)
        .assert_stderr_contains("not valid UTF-8");
    assert_eq!(server.posts().len(), 0);
    assert_eq!(redis.pending(STREAM, GROUP), 0);
    let dead = redis.entries(DEAD);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].1["reason"].contains("UTF-8"), "{dead:?}");
}

#[test]
fn a_dead_letter_key_that_is_not_a_stream_is_exit_3_before_any_entry_is_taken() {
    let Some((env, _server, redis)) = setup("dead_key_wrong_type") else {
        return;
    };
    let _: String = redis.query(&["SET", DEAD, "not a stream"]);
    let _: String = redis.query(&["XADD", STREAM, "*", "other", "x"]);
    env.run(&mut consume(&env, &redis, &["--drain"]))
        .assert_code(3)
        .assert_stderr_contains("not a stream");
    // The entry was neither acknowledged nor lost: once the key is fixed it goes dead.
    let _: i64 = redis.query(&["DEL", DEAD]);
    env.run(&mut consume(&env, &redis, &["--drain"]))
        .assert_code(4);
    let dead = redis.entries(DEAD);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].1["reason"].contains("no `event` field"), "{dead:?}");
}

#[test]
fn a_group_deleted_mid_run_is_created_again_and_nothing_posts_twice() {
    let Some((env, server, redis)) = setup("group_deleted") else {
        return;
    };
    env.run(&mut enqueue(&env, &redis, "wf-before", "1", "node-a"))
        .assert_success();
    let g = env.spawn(&mut consume(&env, &redis, &[]));
    wait_until("the first post", Duration::from_secs(10), || {
        server.posts().len() == 1
    });
    let _: i64 = redis.query(&["XGROUP", "DESTROY", STREAM, GROUP]);
    env.run(&mut enqueue(&env, &redis, "wf-after", "2", "node-a"))
        .assert_success();
    wait_until(
        "the post after the group came back",
        Duration::from_secs(10),
        || posts_by_workflow(&server).contains_key("wf-after"),
    );
    let run = stop(&env, g);
    run.assert_success()
        .assert_stderr_contains("creating the group again");
    let by = posts_by_workflow(&server);
    assert_eq!(by.get("wf-before"), Some(&1), "{by:?}");
    assert_eq!(by.get("wf-after"), Some(&1), "{by:?}");
    assert_eq!(redis.pending(STREAM, GROUP), 0);
}

/// A listener that accepts connections and never answers: a Redis behind a stalled
/// network path.
fn stalled_listener() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn a_redis_that_never_answers_does_not_hold_enqueue_or_doctor_past_timeout() {
    // The attempt timeout (10 s by default) once applied to each Redis read, so one
    // `--timeout 2s` enqueue took 20 s.
    let (_listener, port) = stalled_listener();
    let (env, _server) = crate::support::hooked(ServerOptions::default());
    let url = format!("redis://127.0.0.1:{port}/0");
    let started = Instant::now();
    env.run(
        env.cmd()
            .args(["build", "--enqueue", "--no-env", "--workflow", "w"])
            .args(["--state", "failed", "--run-id", "1", "--timeout", "2s"])
            .args(["--queue", &url]),
    )
    .assert_code(5)
    .assert_stderr_contains("spool");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "enqueue took {took:?}");
    let started = Instant::now();
    env.run(
        env.cmd()
            .args(["doctor", "--timeout", "2s", "--queue", &url]),
    )
    .assert_code(5);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "doctor took {took:?}");
}

#[test]
fn drain_gives_up_with_exit_5_when_redis_stays_away_longer_than_timeout() {
    let (_listener, port) = stalled_listener();
    let (env, _server) = crate::support::hooked(ServerOptions::default());
    let url = format!("redis://127.0.0.1:{port}/0");
    let started = Instant::now();
    env.run(env.cmd().args([
        "build",
        "--consume",
        "--drain",
        "--webhook",
        "hook",
        "--timeout",
        "1s",
        "--queue",
        &url,
    ]))
    .assert_code(5)
    .assert_stderr_contains("--drain stopped");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "drain took {took:?}");
}

#[test]
fn a_claim_that_fails_while_redis_is_away_leaves_the_entry_pending_not_posted_blind() {
    // With the queue's own Redis as the dedupe store, a failed claim once posted the
    // entry without deduplication, which another gateway may be posting too.
    let Some((env, server, mut redis)) = setup("claim_during_outage") else {
        return;
    };
    env.run(&mut enqueue(&env, &redis, "wf-first", "1", "node-a"))
        .assert_success();
    env.run(&mut enqueue(&env, &redis, "wf-second", "2", "node-a"))
        .assert_success();
    // Redis goes away during the first post; the second entry is read when it is back.
    // (The emulator records a delayed request only when it answers, so the claim is
    // what tells that the first post is on its way.)
    server.script([Fault::Delay(Duration::from_secs(2))]);
    let g = env.spawn(&mut consume(&env, &redis, &[]));
    wait_until("the first claim", Duration::from_secs(10), || {
        !dedupe_keys(&redis, "claim").is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    redis.stop();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        server.posts().len(),
        1,
        "an entry was posted while its claim could not be made: {:?}",
        posts_by_workflow(&server)
    );
    redis.restart();
    wait_until("the second post", Duration::from_secs(15), || {
        posts_by_workflow(&server).contains_key("wf-second")
    });
    wait_until("the acknowledgements", Duration::from_secs(10), || {
        redis.pending(STREAM, GROUP) == 0
    });
    let run = stop(&env, g);
    run.assert_success();
    assert!(
        !run.stderr.contains("posting without deduplication"),
        "{}",
        run.stderr
    );
    let by = posts_by_workflow(&server);
    assert_eq!(by.get("wf-first"), Some(&1), "{by:?}");
    assert_eq!(by.get("wf-second"), Some(&1), "{by:?}");
}

/// `flush` of an event `build --enqueue` spooled while Redis was away: its messages speak
/// of the queue and of enqueueing, not of a webhook and posting, and agree with the count.
#[test]
fn flush_of_a_spooled_enqueue_says_enqueued_not_posted() {
    let Some((env, server, mut redis)) = setup("flush_enqueue_wording") else {
        return;
    };
    redis.stop();
    let run = env.run(enqueue(&env, &redis, "wf-q", "77", "node-a").args([
        "--timeout",
        "1s",
        "--attempt-timeout",
        "500ms",
        "--output",
        "json",
    ]));
    run.assert_code(5);
    assert_eq!(run.json()["status"], "spooled");

    // Still down: one message, one verb that agrees with it.
    let run = env.run(env.cmd().args([
        "flush",
        "--queue",
        &redis.url(),
        "--timeout",
        "1s",
        "--attempt-timeout",
        "500ms",
    ]));
    run.assert_code(5)
        .assert_stderr_contains("1 spooled message could not be delivered and stays in");

    // Without the queue it was spooled for, what it needs is named, not "their webhook".
    let run = env.run(env.cmd().arg("flush"));
    run.assert_code(3)
        .assert_stderr_contains("1 spooled message stays in");
    assert!(!run.stderr.contains("their webhook"), "{}", run.stderr);

    redis.restart();
    let run = env.run(
        env.cmd()
            .args(["flush", "--queue", &redis.url(), "--output", "json"]),
    );
    run.assert_success()
        .assert_stderr_contains("flush: 0 posted, 1 enqueued, 0 duplicate");
    assert_eq!(run.json()["posted"], 0);
    assert_eq!(run.json()["enqueued"], 1);
    assert_eq!(redis.xlen(STREAM), 1);
    assert!(server.requests().is_empty(), "an enqueue posts nothing");
}

/// Keys of the shared dedupe store of one kind (`claim`, `done`, `sending`).
fn dedupe_keys(redis: &RedisServer, kind: &str) -> Vec<String> {
    redis.query(&["KEYS", &format!("mmnotify:dedupe:{kind}:*")])
}

/// The consumers that hold the group's pending entries, one per entry.
fn pending_owners(redis: &RedisServer) -> Vec<String> {
    let reply: redis::streams::StreamPendingCountReply =
        redis.query(&["XPENDING", STREAM, GROUP, "-", "+", "100"]);
    reply.ids.into_iter().map(|p| p.consumer).collect()
}

/// The JSON outcomes a run printed, one per line.
fn outcomes(run: &crate::support::Run) -> Vec<serde_json::Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_second_group_keeps_every_entry_the_first_group_finished() {
    // The trim once looked at its own group only: team B lost every entry team A had
    // posted, before reading it.
    let Some((mut env, server, redis)) = setup("two_groups") else {
        return;
    };
    // Team B posts to its own webhook from its own group.
    let server_b = crate::support::MockServer::start();
    env.watch(&server_b);
    env.write_secret("teamb", &format!("{}\n", server_b.hook_url()));
    let _: String = redis.query(&["XGROUP", "CREATE", STREAM, "teamb", "0", "MKSTREAM"]);
    for i in 0..5 {
        env.run(&mut enqueue(
            &env,
            &redis,
            &format!("wf-{i}"),
            &i.to_string(),
            "node-a",
        ))
        .assert_success();
    }
    // A gateway of team B read two entries and went away: they stay pending there.
    let _: redis::Value = redis.query(&[
        "XREADGROUP",
        "GROUP",
        "teamb",
        "gone",
        "COUNT",
        "2",
        "STREAMS",
        STREAM,
        ">",
    ]);
    env.run(&mut consume(&env, &redis, &["--drain"]))
        .assert_success()
        .assert_stderr_contains("5 posted");
    assert_eq!(
        redis.xlen(STREAM),
        5,
        "team A's trim removed team B's entries"
    );
    // Team B's gateway takes over the two and reads the other three.
    std::thread::sleep(Duration::from_millis(1100));
    let run = env.run(
        env.cmd()
            .args(["build", "--consume", "--drain", "--webhook", "teamb"])
            .args([
                "--group",
                "teamb",
                "--claim-idle",
                "1s",
                "--queue",
                &redis.url(),
            ])
            .env("MMNOTIFY_STATE_DIR", env.root().join("state-b")),
    );
    run.assert_success().assert_stderr_contains("5 posted");
    assert_eq!(server.posts().len(), 5);
    assert_eq!(server_b.posts().len(), 5);
    // Both groups have finished everything: now it goes.
    assert_eq!(redis.xlen(STREAM), 0);
}

#[test]
fn a_post_recorded_late_after_a_long_outage_wins_over_a_takeover() {
    // Redis away for longer than --claim-idle and the claim's life: another gateway took
    // the entry over and posted it before the first wrote its record.
    let Some((env, server, mut redis)) = setup("long_outage_takeover") else {
        return;
    };
    // --timeout 2s: A's claim lives 4 s, shorter than the outage.
    let a = gateway_a_claims(&env, &server, &redis, ("wf-l", "88"), "2s");
    stop_redis_once_a_posted(&server, &mut redis);
    std::thread::sleep(Duration::from_secs(5));
    // A reaches Redis again later than B does: it is frozen while B takes the entry.
    a.signal(libc::SIGSTOP);
    redis.restart();
    let b = env.spawn(
        consume(&env, &redis, &["--consumer", "gw-b", "--output", "json"])
            .env("MMNOTIFY_STATE_DIR", env.root().join("state-b")),
    );
    // (Or B already acknowledged it: posted a second time, or found A's record.)
    wait_until("B's takeover", Duration::from_secs(10), || {
        pending_owners(&redis) == ["gw-b"] || redis.pending(STREAM, GROUP) == 0
    });
    std::thread::sleep(Duration::from_millis(500));
    a.signal(libc::SIGCONT);
    wait_until("the acknowledgement", Duration::from_secs(15), || {
        redis.pending(STREAM, GROUP) == 0
    });
    std::thread::sleep(Duration::from_millis(300));
    let rb = stop(&env, b);
    let ra = stop(&env, a);
    assert_eq!(server.posts().len(), 1, "{rb:?}");
    ra.assert_success().assert_stderr_contains("1 posted");
    rb.assert_success()
        .assert_stderr_contains("0 posted, 1 duplicate");
    assert_eq!(outcomes(&rb)[0]["status"], "duplicate");
}

#[test]
fn sigterm_during_an_outage_waits_for_redis_to_record_the_post() {
    // It once exited at once with "may be posted again", and another gateway did.
    let Some((env, server, mut redis)) = setup("sigterm_in_outage") else {
        return;
    };
    let a = gateway_a_claims(&env, &server, &redis, ("wf-s", "55"), "10s");
    stop_redis_once_a_posted(&server, &mut redis);
    std::thread::sleep(Duration::from_millis(300));
    a.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_secs(1));
    redis.restart();
    let ra = env.wait(a);
    ra.assert_success().assert_stderr_contains("1 posted");
    assert!(!ra.stderr.contains("posted again"), "{ra:?}");
    assert_eq!(redis.pending(STREAM, GROUP), 0);
    assert_eq!(dedupe_keys(&redis, "done").len(), 1);
    env.run(
        consume(&env, &redis, &["--drain", "--consumer", "gw-b"])
            .env("MMNOTIFY_STATE_DIR", env.root().join("state-b")),
    )
    .assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn a_takeover_from_a_gateway_killed_mid_post_says_the_post_may_be_a_duplicate() {
    // The killed gateway's POST reached the server; the one that took over posted again
    // without a word.
    let Some((env, server, redis)) = setup("killed_after_send") else {
        return;
    };
    let a = gateway_a_claims(&env, &server, &redis, ("wf-k", "9"), "3s");
    std::thread::sleep(Duration::from_millis(300));
    a.signal(libc::SIGKILL);
    assert_eq!(env.wait(a).code, -1);
    // The server answers nobody, but it posted.
    wait_until("A's post", Duration::from_secs(10), || {
        server.posts().len() == 1
    });
    let b = env.spawn(
        consume(&env, &redis, &["--consumer", "gw-b", "--output", "json"])
            .env("MMNOTIFY_STATE_DIR", env.root().join("state-b")),
    );
    wait_until("B's post", Duration::from_secs(30), || {
        server.posts().len() == 2 && redis.pending(STREAM, GROUP) == 0
    });
    let rb = stop(&env, b);
    rb.assert_success()
        .assert_stderr_contains("may appear twice");
    let out = outcomes(&rb);
    assert_eq!(out[0]["status"], "posted", "{out:?}");
    assert_eq!(out[0]["possible_duplicate"], true, "{out:?}");
    assert!(dedupe_keys(&redis, "sending").is_empty());
}

#[test]
fn sigterm_leaves_no_unstarted_entry_pending_under_the_stopped_gateway() {
    // It once held the rest of its batch (up to 15 entries) for --claim-idle while its
    // summary said "0 left pending here".
    let Some((env, server, redis)) = setup("sigterm_unstarted") else {
        return;
    };
    for i in 0..9 {
        env.run(&mut enqueue(
            &env,
            &redis,
            &format!("wf-{i}"),
            &i.to_string(),
            "node-a",
        ))
        .assert_success();
    }
    server.script([Fault::Delay(Duration::from_millis(800))]);
    let a = env.spawn(&mut consume(&env, &redis, &["--consumer", "gw-a"]));
    wait_until("the first claim", Duration::from_secs(10), || {
        !dedupe_keys(&redis, "claim").is_empty()
    });
    let ra = stop(&env, a);
    ra.assert_success()
        .assert_stderr_contains("1 posted")
        .assert_stderr_contains("0 left pending here");
    assert_eq!(
        redis.pending(STREAM, GROUP),
        0,
        "{:?}",
        pending_owners(&redis)
    );
    // Another gateway with the default --claim-idle takes the rest at once.
    env.run(
        consume(
            &env,
            &redis,
            &["--drain", "--claim-idle", "60s", "--consumer", "gw-b"],
        )
        .env("MMNOTIFY_STATE_DIR", env.root().join("state-b")),
    )
    .assert_success()
    .assert_stderr_contains("8 posted");
    assert_eq!(server.posts().len(), 9);
}

#[test]
fn sigterm_hands_an_entry_left_pending_back_to_the_group_at_once() {
    let Some((env, server, redis)) = setup("sigterm_hands_back") else {
        return;
    };
    env.run(&mut enqueue(&env, &redis, "wf-h", "12", "node-a"))
        .assert_success();
    server.script([Fault::Status(503)]);
    let a = env.spawn(&mut consume(
        &env,
        &redis,
        &[
            "--consumer",
            "gw-a",
            "--retries",
            "0",
            "--claim-idle",
            "60s",
        ],
    ));
    assert!(server.wait_for_requests(1, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    let ra = stop(&env, a);
    ra.assert_success()
        .assert_stderr_contains("1 left pending here (handed back");
    assert!(server.posts().is_empty());
    env.run(
        consume(
            &env,
            &redis,
            &["--drain", "--claim-idle", "60s", "--consumer", "gw-b"],
        )
        .env("MMNOTIFY_STATE_DIR", env.root().join("state-b")),
    )
    .assert_success()
    .assert_stderr_contains("1 posted");
    assert_eq!(server.posts().len(), 1);
    assert_eq!(redis.pending(STREAM, GROUP), 0);
}

#[test]
fn sigterm_or_sigint_after_a_dead_letter_exits_0() {
    // Both once exited with the dead letter's code (40), and systemd marked the unit failed.
    let Some((env, server, redis)) = setup("stop_after_dead_letter") else {
        return;
    };
    for (i, sig) in [libc::SIGTERM, libc::SIGINT].into_iter().enumerate() {
        server.script([Fault::Status(400)]);
        env.run(&mut enqueue(
            &env,
            &redis,
            &format!("wf-d{i}"),
            &i.to_string(),
            "node-a",
        ))
        .assert_success();
        let g = env.spawn(&mut consume(&env, &redis, &[]));
        wait_until("the dead letter", Duration::from_secs(10), || {
            redis.xlen(DEAD) == i + 1
        });
        g.signal(sig);
        env.wait(g)
            .assert_success()
            .assert_stderr_contains("0 posted, 0 duplicate, 0 filtered, 1 failed");
    }
    assert!(server.posts().is_empty());
}

#[test]
fn a_gateway_stopped_while_redis_stays_away_leaves_a_post_the_taker_flags() {
    // What is left of item 8's window: the record never reaches Redis. The gateway that
    // takes the entry over must not post it again silently.
    let Some((env, server, mut redis)) = setup("stopped_in_long_outage") else {
        return;
    };
    let a = gateway_a_claims(&env, &server, &redis, ("wf-g", "66"), "2s");
    stop_redis_once_a_posted(&server, &mut redis);
    std::thread::sleep(Duration::from_millis(300));
    a.signal(libc::SIGTERM);
    // Redis stays away for longer than A's wait (--timeout 2s).
    let ra = env.wait(a);
    ra.assert_success()
        .assert_stderr_contains("1 delivery record(s)")
        .assert_stderr_contains("may appear twice");
    redis.restart();
    let run = env.run(
        consume(
            &env,
            &redis,
            &["--drain", "--consumer", "gw-b", "--output", "json"],
        )
        .env("MMNOTIFY_STATE_DIR", env.root().join("state-b")),
    );
    run.assert_success()
        .assert_stderr_contains("may appear twice");
    let out = outcomes(&run);
    assert_eq!(out[0]["possible_duplicate"], true, "{out:?}");
    assert_eq!(server.posts().len(), 2);
    assert_eq!(redis.pending(STREAM, GROUP), 0);
}

#[test]
fn a_second_signal_ends_the_wait_for_redis_at_once() {
    let Some((env, server, mut redis)) = setup("second_signal") else {
        return;
    };
    // A wait of --timeout (120 s) would outlast the harness's minute.
    let a = gateway_a_claims(&env, &server, &redis, ("wf-2s", "67"), "120s");
    stop_redis_once_a_posted(&server, &mut redis);
    std::thread::sleep(Duration::from_millis(300));
    a.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    a.signal(libc::SIGINT);
    env.wait(a)
        .assert_success()
        .assert_stderr_contains("a second signal stops at once")
        .assert_stderr_contains("1 delivery record(s)");
}

/// The doctor's lines about the queue, by check name.
fn doctor_lines(env: &Env, redis: &RedisServer) -> (crate::support::Run, HashMap<String, String>) {
    let run = env.run(env.cmd().args(["doctor", "--queue", &redis.url()]));
    let lines = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("✓ "))
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (run, lines)
}

#[test]
fn doctor_before_the_first_gateway_passes_and_lists_every_gateway_and_the_oldest_pending_age() {
    let Some((env, _server, redis)) = setup("doctor_queue_values") else {
        return;
    };
    // A queue no gateway has read yet is a correct new set-up, not a fault.
    let (run, lines) = doctor_lines(&env, &redis);
    run.assert_success();
    assert!(!run.stdout.contains('✗'), "{}", run.stdout);
    assert!(
        lines["group"].contains("not created yet") && lines["group"].contains("build --consume"),
        "{lines:?}"
    );

    // Two gateways connected, neither has been given an entry yet: both are listed.
    let g1 = env.spawn(&mut consume(&env, &redis, &["--consumer", "gw-1"]));
    let g2 = env.spawn(
        consume(&env, &redis, &["--consumer", "gw-2"])
            .env("MMNOTIFY_STATE_DIR", env.root().join("state-b")),
    );
    wait_until(
        "both gateways in doctor's list",
        Duration::from_secs(15),
        || {
            let (_, lines) = doctor_lines(&env, &redis);
            lines
                .get("consumers")
                .is_some_and(|c| c.contains("gw-1 (") && c.contains("gw-2 ("))
        },
    );
    stop(&env, g1).assert_success();
    stop(&env, g2).assert_success();

    // The values: an entry enqueued an hour ago and a newer one, both held by a gateway
    // that died after reading them, and a third not read yet.
    let hour_ago = redis_time_ms(&redis) - 3_600_000;
    let old_id: String = redis.query(&["XADD", STREAM, &format!("{hour_ago}-0"), "event", "{}"]);
    let _: String = redis.query(&["XADD", STREAM, "*", "event", "{}"]);
    let _: redis::Value = redis.query(&[
        "XREADGROUP",
        "GROUP",
        GROUP,
        "gw-dead",
        "COUNT",
        "2",
        "STREAMS",
        STREAM,
        ">",
    ]);
    let _: String = redis.query(&["XADD", STREAM, "*", "event", "{}"]);
    let (run, lines) = doctor_lines(&env, &redis);
    run.assert_success();
    assert_eq!(
        lines["stream"],
        format!("{STREAM} holds 3 entries"),
        "{lines:?}"
    );
    assert!(lines["group"].contains("1 not yet read"), "{lines:?}");
    let consumers = &lines["consumers"];
    for name in ["gw-1", "gw-2"] {
        assert!(consumers.contains(&format!("{name} (")), "{consumers}");
    }
    let dead = &consumers[consumers
        .find("gw-dead (idle ")
        .unwrap_or_else(|| panic!("gw-dead not listed: {consumers}"))..];
    assert!(dead.contains(" s, 2 pending)"), "{consumers}");
    assert_eq!(
        lines["pending"], "2 entries not yet acknowledged",
        "{lines:?}"
    );
    let oldest = &lines["oldest pending"];
    let prefix = format!("{old_id}, enqueued ");
    assert!(oldest.starts_with(&prefix), "{oldest}");
    let age: u64 = oldest[prefix.len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no age in {oldest}"));
    // An hour, plus however long this test took to get here.
    assert!((3600..3900).contains(&age), "{oldest}");
    assert!(
        oldest.contains("held by gw-dead for ") && oldest.ends_with("delivered 1 time(s)"),
        "{oldest}"
    );
}

/// The server's clock, in milliseconds (stream ids are made from it).
fn redis_time_ms(redis: &RedisServer) -> u64 {
    let (s, us): (u64, u64) = redis.query(&["TIME"]);
    s * 1000 + us / 1000
}

#[test]
fn a_gateway_logs_start_takeovers_dead_letters_and_summaries_without_v() {
    const PW: &str = "gateway-log-pass-4711";
    let Some(redis) = RedisServer::start_with("gateway_log", Some(PW)) else {
        return;
    };
    let (mut env, server) = crate::support::hooked(ServerOptions::default());
    env.secret(PW);
    let queue = env.write_file("queue.url", &format!("{}\n", redis.url()), 0o600);
    // An entry a gateway read and then died with; an invalid entry; a good one.
    let _: String = redis.query(&["XGROUP", "CREATE", STREAM, GROUP, "0", "MKSTREAM"]);
    let _: String = redis.query(&[
        "XADD",
        STREAM,
        "*",
        "event",
        r#"{"workflow":"wf-held","state":"failed","provider_run_id":"1"}"#,
    ]);
    let held: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg(&[
            "GROUP", GROUP, "gw-dead", "COUNT", "1", "STREAMS", STREAM, ">",
        ])
        .query(&mut redis.con())
        .unwrap();
    let held_id = held.keys[0].ids[0].id.clone();
    let _: String = redis.query(&["XADD", STREAM, "*", "event", "{not json"]);
    let _: String = redis.query(&[
        "XADD",
        STREAM,
        "*",
        "event",
        r#"{"workflow":"wf-new","state":"failed","provider_run_id":"2"}"#,
    ]);
    let gateway = |extra: &[&str]| {
        let mut c = env.cmd();
        c.args(["build", "--consume", "--webhook", "hook", "--queue-file"])
            .arg(&queue)
            .args(["--consumer", "gw-live", "--claim-idle", "300ms"])
            .args(extra);
        c
    };
    let g = env.spawn(&mut gateway(&["--summary-every", "200ms"]));
    wait_until(
        "both posts and the dead letter",
        Duration::from_secs(20),
        || server.posts().len() == 2 && redis.xlen(DEAD) == 1 && redis.pending(STREAM, GROUP) == 0,
    );
    // Long enough for a summary after the last entry (the loop looks at least every 0.5 s).
    std::thread::sleep(Duration::from_millis(1500));
    let run = stop(&env, g);
    let port = redis.port();
    run.assert_stderr_contains(&format!(
        "mmnotify: gateway started: stream {STREAM} at redis://:…@127.0.0.1:{port}/0, group \
         {GROUP}, consumer gw-live, dedupe store redis://:…@127.0.0.1:{port}/0, posting to \
         http://127.0.0.1:{}/hooks/…",
        server.port()
    ))
    .assert_stderr_contains(&format!(
        "mmnotify: entry {held_id}: taken over after it was left unacknowledged for \
         --claim-idle (300ms) by another gateway"
    ))
    .assert_stderr_contains(&format!("invalid event, moved to {DEAD}"))
    .assert_stderr_contains(&format!(
        "mmnotify: gateway so far: 2 posted, 0 duplicate, 0 filtered, 0 failed (left pending \
         for a retry), 1 dead (moved to {DEAD}); 0 pending here"
    ))
    .assert_stderr_contains(&format!(
        "2 posted, 0 duplicate, 0 filtered, 1 failed (1 invalid); 1 dead (moved to {DEAD})"
    ));
    // Only the takeover names an entry it posted: a line per post needs -v.
    assert!(!run.stderr.contains("posted to http"), "{}", run.stderr);

    // -q: no notices, no summaries; the dead letter is still reported.
    let _: String = redis.query(&["XADD", STREAM, "*", "event", "{not json either"]);
    let run = env.run(&mut gateway(&["--drain", "-q", "--summary-every", "1ms"]));
    assert!(!run.stderr.contains("gateway started"), "{}", run.stderr);
    assert!(!run.stderr.contains("so far"), "{}", run.stderr);
    run.assert_stderr_contains(&format!("invalid event, moved to {DEAD}"));
}

/// An enqueue given up at its deadline may still land on the master (the contract: "its
/// entry may also survive on the master; flush enqueues it again and deduplication keeps
/// the post single"). The event both in the stream and in the spool, flushed while the
/// first entry is still unread: the gateway posts it once and acknowledges both entries.
#[test]
fn an_event_both_in_the_stream_and_the_spool_posts_once() {
    let Some((env, server, mut redis)) = setup("stream_and_spool") else {
        return;
    };
    env.run(&mut enqueue(&env, &redis, "wf-9", "9", "node-a"))
        .assert_success();
    redis.stop();
    env.run(enqueue(&env, &redis, "wf-9", "9", "node-a").args(["--timeout", "1s"]))
        .assert_code(5)
        .assert_stderr_contains("saved in the spool");
    redis.restart();
    env.run(env.cmd().args(["flush", "--queue", &redis.url()]))
        .assert_success();
    assert_eq!(redis.xlen(STREAM), 2, "the event twice in the stream");
    env.run(&mut consume(&env, &redis, &["--drain"]))
        .assert_success()
        .assert_stderr_contains("1 posted, 1 duplicate");
    assert_eq!(server.posts().len(), 1);
    assert_eq!(redis.pending(STREAM, GROUP), 0);
}
