//! A gateway fleet an operator trusts, against real processes: a master, a replica and
//! three Sentinels per test (`support/sentinel.rs`), builders and gateways run as the
//! real binary, posting to the emulator. Each Sentinel test takes some 30 s (start,
//! failovers, replica restarts), so one test walks through several scenarios.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::sentinel::{Node, SentinelGroup};
use crate::support::{
    Env, Fault, Hook, MockServer, RedisServer, ServerOptions, HOOK_ID, OTHER_HOOK_ID,
};

const STREAM: &str = "mmnotify:events";
const GROUP: &str = "mmnotify";
/// Events enqueued through the failover.
const EVENTS: usize = 100;

/// `build --enqueue` of one event with its own workflow name.
fn enqueue(env: &Env, queue: &str, n: usize) -> Command {
    let mut c = env.cmd();
    c.args(["build", "--enqueue", "--no-env", "--queue", queue])
        .args(["--workflow", &format!("wf-{n}"), "--state", "failed"])
        .args(["--run-id", &n.to_string()]);
    c
}

/// `build --consume` posting to the emulator's hook.
fn consume(env: &Env, queue: &str, name: &str) -> Command {
    let mut c = env.cmd();
    c.args(["build", "--consume", "--webhook", "hook", "--queue", queue])
        .args(["--claim-idle", "1s", "--consumer", name])
        .env(
            "MMNOTIFY_STATE_DIR",
            env.root().join(format!("state-{name}")),
        );
    c
}

/// Posts per workflow name.
fn posts_by_workflow(server: &MockServer) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for p in server.posts() {
        if let Some(wf) = p.message.split_whitespace().find(|w| w.contains("wf-")) {
            let wf = wf.trim_matches(|c: char| !c.is_alphanumeric() && c != '-');
            *m.entry(wf.to_string()).or_insert(0) += 1;
        }
    }
    m
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pending entries of the group on a data node (0 when the group is not there yet).
fn pending(node: &Node) -> u64 {
    let mut con = node.con();
    redis::cmd("XPENDING")
        .arg(STREAM)
        .arg(GROUP)
        .query::<(u64, redis::Value, redis::Value, redis::Value)>(&mut con)
        .map_or(0, |r| r.0)
}

#[test]
fn a_sentinel_failover_under_load_loses_nothing_and_a_lost_replica_spools() {
    let Some(mut group) = SentinelGroup::start("sentinel_failover_under_load") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = group.url();

    // doctor shows the Sentinel URL and the master the Sentinels named.
    let run = env.run(env.cmd().args(["doctor", "--queue", &queue]));
    run.assert_stdout_contains(&queue)
        .assert_stdout_contains(&format!(
            "the Sentinels name 127.0.0.1:{} as master of",
            group.master().port()
        ));

    let g1 = env.spawn(&mut consume(&env, &queue, "gw-1"));
    let g2 = env.spawn(&mut consume(&env, &queue, "gw-2"));

    // 4 builders, 25 events each; a planned failover once a fifth of them are in.
    let done = AtomicUsize::new(0);
    let codes: Vec<(usize, i32)> = std::thread::scope(|s| {
        let builders: Vec<_> = (0..4)
            .map(|b| {
                let (env, queue, done) = (&env, &queue, &done);
                s.spawn(move || {
                    (0..EVENTS / 4)
                        .map(|i| {
                            let n = b * (EVENTS / 4) + i;
                            let run = env.run(enqueue(env, queue, n).args(["--timeout", "20s"]));
                            done.fetch_add(1, Ordering::SeqCst);
                            (n, run.code)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        wait_until("a fifth of the events", Duration::from_secs(60), || {
            done.load(Ordering::SeqCst) >= EVENTS / 5
        });
        let old = group.master().port();
        assert_ne!(group.failover(), old);
        builders
            .into_iter()
            .flat_map(|b| b.join().unwrap())
            .collect()
    });
    // Every enqueue was acknowledged or spooled; the spooled ones go in with flush.
    for (n, code) in &codes {
        assert!(*code == 0 || *code == 5, "event {n}: exit {code}");
    }
    if codes.iter().any(|(_, code)| *code == 5) {
        env.run(env.cmd().args(["flush", "--queue", &queue]))
            .assert_success();
    }
    wait_until("every event posted", Duration::from_secs(60), || {
        posts_by_workflow(&server).len() >= EVENTS && pending(group.master()) == 0
    });
    std::thread::sleep(Duration::from_millis(500));
    let by = posts_by_workflow(&server);
    assert_eq!(by.len(), EVENTS, "{by:?}");
    assert!(by.values().all(|n| *n == 1), "posted twice: {by:?}");
    assert_eq!(pending(group.master()), 0);

    // The replica down: an enqueue is not confirmed within --timeout, so it is spooled
    // (exit 5), and flush enqueues it once the replica is back.
    group.wait_ready();
    group.stop_replica();
    let run = env.run(enqueue(&env, &queue, 500).args(["--timeout", "1s", "--output", "json"]));
    run.assert_code(5)
        .assert_stderr_contains("only 0 of 1 Redis replicas confirmed the write");
    assert_eq!(run.json()["status"], "spooled");
    group.start_replica();
    env.run(env.cmd().args(["flush", "--queue", &queue]))
        .assert_success();
    wait_until("the spooled event posted", Duration::from_secs(30), || {
        posts_by_workflow(&server).contains_key("wf-500") && pending(group.master()) == 0
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(posts_by_workflow(&server)["wf-500"], 1);

    for g in [g1, g2] {
        g.signal(libc::SIGTERM);
        env.wait(g).assert_success();
    }
}

/// Receipt times of the requests, in order.
fn request_times(server: &MockServer) -> Vec<Instant> {
    let mut at: Vec<Instant> = server.requests().iter().map(|r| r.received_at).collect();
    at.sort();
    at
}

#[test]
fn two_gateways_share_one_rate_limit_and_one_429_pauses_both() {
    let Some(redis) = RedisServer::start("two_gateways_share_one_rate_limit") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    // 15 events waiting, then two gateways at 5/s with no burst: together they post one
    // every 200 ms, so the 15 take at least 14 × 200 ms, and no second of the emulator's
    // clock sees more than 6 (5, plus one at each edge of the window and one for jitter
    // between the script's clock and the emulator's).
    for n in 0..15 {
        env.run(&mut enqueue(&env, &queue, n)).assert_success();
    }
    let rate = ["--rate-limit", "5/s", "--rate-burst", "1"];
    let g1 = env.spawn(consume(&env, &queue, "gw-1").args(rate));
    let g2 = env.spawn(consume(&env, &queue, "gw-2").args(rate));
    wait_until("15 posts", Duration::from_secs(30), || {
        server.posts().len() >= 15
    });
    let at = request_times(&server);
    assert_eq!(at.len(), 15, "one request per event");
    let span = at[14] - at[0];
    assert!(span >= Duration::from_millis(2500), "15 posts in {span:?}");
    for (i, t) in at.iter().enumerate() {
        let within = at[i..]
            .iter()
            .take_while(|u| **u - *t < Duration::from_secs(1))
            .count();
        assert!(
            within <= 7,
            "{within} posts within one second from post {i}"
        );
    }
    for g in [g1, g2] {
        g.signal(libc::SIGTERM);
        env.wait(g).assert_success();
    }

    // Without --rate-limit: a 429 asking for 2 s pauses every gateway of the store for
    // that webhook. The first gateway's post gets the 429; the other gateway, free, takes
    // the next event at once but posts it only once the pause is over.
    server.clear();
    let g1 = env.spawn(&mut consume(&env, &queue, "gw-1"));
    let g2 = env.spawn(&mut consume(&env, &queue, "gw-2"));
    server.script([Fault::RateLimited {
        retry_after: "2".into(),
    }]);
    env.run(&mut enqueue(&env, &queue, 100)).assert_success();
    assert!(server.wait_for_requests(1, Duration::from_secs(20)));
    let limited_at = request_times(&server)[0];
    env.run(&mut enqueue(&env, &queue, 101)).assert_success();
    wait_until("both posted", Duration::from_secs(30), || {
        let by = posts_by_workflow(&server);
        by.contains_key("wf-100") && by.contains_key("wf-101")
    });
    let at = request_times(&server);
    assert_eq!(at.len(), 3, "the 429, the retry, the second event");
    for t in &at[1..] {
        assert!(
            *t - limited_at >= Duration::from_millis(1900),
            "posted {:?} after the 429 asked for 2 s",
            *t - limited_at
        );
    }
    for g in [g1, g2] {
        g.signal(libc::SIGTERM);
        env.wait(g).assert_success();
    }
}

#[test]
fn without_a_store_the_rate_limit_applies_per_process() {
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let mut events = String::new();
    for n in 0..4 {
        events.push_str(&format!(
            "{{\"workflow\":\"wf-{n}\",\"state\":\"failed\",\"provider_run_id\":\"{n}\"}}\n"
        ));
    }
    // 2/s with a burst of 2: two at once, then one every 500 ms.
    let run = env.run_with_stdin(
        env.cmd()
            .args(["build", "--webhook", "hook", "--no-env", "--events", "-"])
            .args(["--rate-limit", "2/s"]),
        events.as_bytes(),
    );
    run.assert_success();
    let at = request_times(&server);
    assert_eq!(at.len(), 4);
    assert!(
        at[1] - at[0] < Duration::from_millis(400),
        "the burst goes at once"
    );
    assert!(
        at[3] - at[0] >= Duration::from_millis(900),
        "{:?}",
        at[3] - at[0]
    );
    // A rate that is not one is a usage error.
    env.run(
        env.cmd()
            .args(["send", "--webhook", "hook", "--rate-limit", "5/h", "x"]),
    )
    .assert_code(2)
    .assert_stderr_contains("the unit must be /s or /min");
}

/// The samples of a Prometheus text file, `name{labels}` → value.
fn parse_metrics(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("name value");
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn the_metrics_file_counts_each_outcome_and_the_queue() {
    let Some(redis) = RedisServer::start("the_metrics_file_counts") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    let file = env.root().join("textfile").join("mmnotify.prom");
    std::fs::create_dir(file.parent().unwrap()).unwrap();
    // Two events, one of them twice (a duplicate), one invalid entry, and a 503 that
    // leaves the first post pending once (failed) before it is posted.
    for n in [1, 2, 2] {
        env.run(&mut enqueue(&env, &queue, n)).assert_success();
    }
    let _: String = redis.query(&["XADD", STREAM, "*", "event", "{not json"]);
    server.script([Fault::Status(503)]);
    let g = env.spawn(consume(&env, &queue, "gw-1").args([
        "--retries",
        "0",
        "--metrics-file",
        file.to_str().unwrap(),
    ]));
    wait_until("2 posts", Duration::from_secs(30), || {
        server.posts().len() >= 2 && redis.pending(STREAM, GROUP) == 0
    });
    // Written at start, then at most every 10 s: it is there while the gateway runs.
    let running = parse_metrics(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(running["mmnotify_redis_up"], "1");
    g.signal(libc::SIGTERM);
    env.wait(g).assert_success();
    // At exit: every count final.
    let m = parse_metrics(&std::fs::read_to_string(&file).unwrap());
    let events = |o: &str| m[&format!("mmnotify_events_total{{outcome=\"{o}\"}}")].clone();
    assert_eq!(events("posted"), "2", "{m:?}");
    assert_eq!(events("duplicate"), "1");
    assert_eq!(events("invalid"), "1");
    assert_eq!(events("failed"), "1");
    assert_eq!(events("rejected"), "0");
    assert_eq!(events("dead"), "0");
    assert_eq!(m["mmnotify_queue_pending"], "0");
    assert_eq!(m["mmnotify_queue_oldest_pending_seconds"], "0");
    assert!(
        m["mmnotify_last_post_timestamp_seconds"]
            .parse::<f64>()
            .unwrap()
            > 1.7e9
    );
    assert_eq!(m["mmnotify_redis_up"], "1");
    assert_eq!(m["mmnotify_owner"], "0");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    // Only the file: no temp file is left next to it for the collector to trip on.
    assert_eq!(
        std::fs::read_dir(file.parent().unwrap()).unwrap().count(),
        1
    );

    // A symbolic link as the path is refused at start (exit 3), not followed.
    let link = env.root().join("textfile").join("link.prom");
    std::os::unix::fs::symlink(env.root().join("elsewhere"), &link).unwrap();
    env.run(consume(&env, &queue, "gw-2").args([
        "--drain",
        "--metrics-file",
        link.to_str().unwrap(),
    ]))
    .assert_code(3)
    .assert_stderr_contains("symbolic link");
    assert!(!env.root().join("elsewhere").exists());
}

#[test]
fn sighup_reloads_a_rotated_webhook_and_a_bad_file_keeps_the_old_one() {
    let Some(redis) = RedisServer::start("sighup_reloads_a_rotated_webhook") else {
        return;
    };
    let mut opts = ServerOptions::default();
    opts.hooks.push(Hook::new(OTHER_HOOK_ID, "town-square"));
    let (mut env, server) = crate::support::hooked(opts);
    env.secret(OTHER_HOOK_ID);
    let queue = redis.url();
    let file = env.write_file(
        "gateway/webhook.url",
        &format!("{}\n", server.hook_url()),
        0o600,
    );
    let mut gateway = env.cmd();
    gateway
        .args([
            "build",
            "--consume",
            "--queue",
            &queue,
            "--claim-idle",
            "1s",
        ])
        .arg("--webhook-file")
        .arg(&file);
    let g = env.spawn(&mut gateway);
    env.run(&mut enqueue(&env, &queue, 1)).assert_success();
    wait_until("the first post", Duration::from_secs(20), || {
        !server.posts().is_empty()
    });

    // The rotation: the new hook's URL swapped in (write, then rename over), SIGHUP.
    let new = env.write_file(
        "gateway/webhook.url.new",
        &format!("{}\n", server.hook_url_for(OTHER_HOOK_ID)),
        0o600,
    );
    std::fs::rename(&new, &file).unwrap();
    g.signal(libc::SIGHUP);
    // A storm of them is one reload at a time, never a stop.
    for _ in 0..20 {
        g.signal(libc::SIGHUP);
    }
    std::thread::sleep(Duration::from_millis(1500));
    env.run(&mut enqueue(&env, &queue, 2)).assert_success();
    wait_until("the second post", Duration::from_secs(20), || {
        server.posts().len() >= 2
    });

    // A file that fails the secrets-file rules (world-readable): one error line, and the
    // gateway goes on posting to the hook it had.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    g.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(1500));
    env.run(&mut enqueue(&env, &queue, 3)).assert_success();
    wait_until("the third post", Duration::from_secs(20), || {
        server.posts().len() >= 3
    });
    g.signal(libc::SIGTERM);
    let run = env.wait(g);
    run.assert_success();
    let hooks: Vec<String> = server.posts().iter().map(|p| p.hook_id.clone()).collect();
    assert_eq!(
        hooks,
        [HOOK_ID, OTHER_HOOK_ID, OTHER_HOOK_ID],
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("reloaded on SIGHUP: posting to"),
        "{}",
        run.stderr
    );
    let failed: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("reload on SIGHUP failed, keeping the old settings"))
        .collect();
    assert_eq!(failed.len(), 1, "{}", run.stderr);
}

/// The consumers the group knows (a standby never reads, so it is not among them).
fn consumers(redis: &RedisServer) -> Vec<String> {
    let mut con = redis.con();
    let reply: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(STREAM)
        .arg(GROUP)
        .query(&mut con)
        .unwrap_or_default();
    let mut names: Vec<String> = reply.consumers.into_iter().map(|c| c.name).collect();
    names.sort();
    names
}

/// What `doctor` says about the lease.
fn lease_line(env: &Env, queue: &str) -> String {
    let run = env.run(env.cmd().args(["doctor", "--queue", queue]));
    run.stdout
        .lines()
        .find(|l| l.contains("webhook owner"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn exclusive_gateways_have_one_owner_and_a_standby_takes_over_after_sigterm_and_sigkill() {
    let Some(redis) = RedisServer::start("exclusive_gateways_have_one_owner") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    let exclusive = ["--exclusive", "--lease", "3s"];
    assert!(lease_line(&env, &queue).contains("no --exclusive lease is held"));
    let g1 = env.spawn(consume(&env, &queue, "gw-1").args(exclusive));
    wait_until("gw-1 holds the lease", Duration::from_secs(20), || {
        lease_line(&env, &queue).contains("gw-1 holds the --exclusive lease for")
    });
    let g2 = env.spawn(consume(&env, &queue, "gw-2").args(exclusive));
    for n in 0..5 {
        env.run(&mut enqueue(&env, &queue, n)).assert_success();
    }
    wait_until("5 posts", Duration::from_secs(20), || {
        server.posts().len() >= 5
    });
    // Only the holder consumed: the standby never read from the group.
    assert_eq!(consumers(&redis), ["gw-1"]);

    // SIGTERM: the lease is released at once and the standby takes it well within the
    // lease (it asks every 300 ms).
    g1.signal(libc::SIGTERM);
    env.wait(g1).assert_success();
    let released = Instant::now();
    wait_until("gw-2 holds the lease", Duration::from_secs(20), || {
        lease_line(&env, &queue).contains("gw-2 holds the --exclusive lease")
    });
    assert!(
        released.elapsed() < Duration::from_secs(3),
        "{:?}",
        released.elapsed()
    );
    env.run(&mut enqueue(&env, &queue, 10)).assert_success();
    wait_until(
        "the post after the hand-over",
        Duration::from_secs(20),
        || server.posts().len() >= 6,
    );
    assert_eq!(consumers(&redis), ["gw-1", "gw-2"]);

    // SIGKILL: nothing is released; a standby takes over once the lease runs out.
    let g3 = env.spawn(consume(&env, &queue, "gw-3").args(exclusive));
    std::thread::sleep(Duration::from_millis(500));
    g2.signal(libc::SIGKILL);
    let _ = env.wait(g2);
    env.run(&mut enqueue(&env, &queue, 11)).assert_success();
    wait_until("gw-3 holds the lease", Duration::from_secs(20), || {
        lease_line(&env, &queue).contains("gw-3 holds the --exclusive lease")
    });
    wait_until(
        "the post after the takeover",
        Duration::from_secs(20),
        || server.posts().len() >= 7,
    );
    g3.signal(libc::SIGTERM);
    env.wait(g3).assert_success();
    let by = posts_by_workflow(&server);
    assert_eq!(by.len(), 7, "{by:?}");
    assert!(by.values().all(|n| *n == 1), "{by:?}");
    assert!(lease_line(&env, &queue).contains("no --exclusive lease is held"));
}

#[test]
fn flush_paces_what_the_spool_holds() {
    let (env, server) = crate::support::hooked(ServerOptions::default());
    server.script([Fault::Status(503), Fault::Status(503), Fault::Status(503)]);
    for n in 0..3 {
        env.run(
            env.cmd()
                .args(["send", "--webhook", "hook", "--retries", "0"])
                .arg(format!("wf-{n}")),
        )
        .assert_code(6);
    }
    server.clear();
    // Spooled (exit 6: a 503). 2/s without a burst: one post now, then one every 500 ms.
    env.run(
        env.cmd()
            .args(["flush", "--rate-limit", "2/s", "--rate-burst", "1"]),
    )
    .assert_success();
    let at = request_times(&server);
    assert_eq!(at.len(), 3);
    assert!(
        at[2] - at[0] >= Duration::from_millis(900),
        "{:?}",
        at[2] - at[0]
    );
}

/// A hostile or broken Sentinel on 127.0.0.1: answers `ROLE` as a Sentinel and
/// `SENTINEL MASTERS` naming `master_port` as the master (or, with `None`, accepts and
/// never answers anything). Returns its port.
fn fake_sentinel(master_port: Option<u16>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut held = Vec::new();
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let Some(master) = master_port else {
                        held.push(buf[..n].to_vec());
                        continue;
                    };
                    let text = String::from_utf8_lossy(&buf[..n]).to_uppercase();
                    for cmd in text.split('*').filter(|c| !c.is_empty()) {
                        let reply = if cmd.contains("ROLE") {
                            "*2\r\n$8\r\nsentinel\r\n*1\r\n$1\r\nm\r\n".to_string()
                        } else if cmd.contains("MASTERS") {
                            let fields = [
                                "name".to_string(),
                                "m".into(),
                                "ip".into(),
                                "127.0.0.1".into(),
                                "port".into(),
                                master.to_string(),
                                "flags".into(),
                                "master".into(),
                            ];
                            let mut r = format!("*1\r\n*{}\r\n", fields.len());
                            for f in fields {
                                r.push_str(&format!("${}\r\n{f}\r\n", f.len()));
                            }
                            r
                        } else {
                            "+OK\r\n".to_string()
                        };
                        let _ = stream.write_all(reply.as_bytes());
                    }
                }
            });
        }
    });
    port
}

/// A master that accepts, records what it is sent, and never answers.
fn silent_master() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let record = std::sync::Arc::clone(&record);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (port, seen)
}

/// The library asks Sentinels (and the master they name) without any timeout: a
/// Sentinel that never answers, or one naming a master that never answers, must not
/// hold an enqueue or `doctor` past `--timeout` (`Env::wait` gives up after a minute).
/// The master the Sentinels name is sent the data nodes' password (the README says so).
#[test]
fn a_silent_sentinel_or_a_silent_master_it_names_does_not_hang_past_timeout() {
    let env = Env::new();
    let (master, seen) = silent_master();
    let hostile = fake_sentinel(Some(master));
    let silent = fake_sentinel(None);
    for sentinels in [
        format!("127.0.0.1:{silent}"),
        format!("127.0.0.1:{hostile}"),
    ] {
        let queue = format!("redis+sentinel://:s3cr%23t-pw@{sentinels}/m");
        let mut c = env.cmd();
        c.env("MMNOTIFY_QUEUE", &queue)
            .args(["build", "--enqueue", "--no-env", "--workflow", "wf"])
            .args(["--state", "failed", "--timeout", "1s", "--output", "json"]);
        let run = env.wait(env.spawn(&mut c));
        run.assert_code(5).assert_stderr_contains("answered within");
        assert_eq!(run.json()["status"], "spooled");
        assert!(!run.stderr.contains("s3cr"), "{}", run.stderr);
        let mut c = env.cmd();
        c.env("MMNOTIFY_QUEUE", &queue)
            .args(["doctor", "--timeout", "1s"]);
        let run = env.wait(env.spawn(&mut c));
        run.assert_code(5);
        assert!(run.stdout.contains("answered within"), "{}", run.stdout);
        assert!(!format!("{}{}", run.stdout, run.stderr).contains("s3cr"));
    }
    let seen = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert!(
        seen.contains("AUTH") && seen.contains("s3cr#t-pw"),
        "{seen:?}"
    );
}

/// With `rediss+sentinel://` the master the Sentinels name must present a certificate
/// valid under the trusted roots: a Sentinel naming a server whose CA is not trusted
/// gets nothing enqueued there.
#[test]
fn rediss_sentinel_checks_the_certificate_of_the_master_the_sentinels_name() {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = crate::support::Pki::generate(pki_dir.path());
    let Some(redis) = RedisServer::start_tls("rediss_sentinel_checks", pki, false) else {
        return;
    };
    let env = Env::new();
    let sentinel = fake_sentinel(Some(redis.port()));
    let queue = format!("rediss+sentinel://127.0.0.1:{sentinel}/m");
    let p = redis.pki();
    let run = env.run(
        env.cmd()
            .args(["build", "--enqueue", "--no-env", "--queue", &queue])
            .args(["--workflow", "wf", "--state", "failed", "--replicas", "0"])
            .args(["--timeout", "1s", "--no-spool", "--no-system-roots"])
            .arg("--ca-file")
            .arg(&p.other_ca_cert),
    );
    run.assert_code(5)
        .assert_stderr_contains("cannot connect to Redis");
    assert_eq!(redis.xlen(STREAM), 0);
    // With the CA that signed it, the same master is trusted.
    env.run(
        env.cmd()
            .args(["build", "--enqueue", "--no-env", "--queue", &queue])
            .args(["--workflow", "wf", "--state", "failed", "--replicas", "0"])
            .args(["--timeout", "5s", "--no-system-roots"])
            .arg("--ca-file")
            .arg(&p.ca_cert),
    )
    .assert_success();
    assert_eq!(redis.xlen(STREAM), 1);
}

/// The rate and pause keys are in the shared store, where anyone with write access (or
/// a corrupt restore) may leave values no mmnotify writes: a pause of years without an
/// expiry, an arrival time far ahead, keys of another type, garbage. None of them may
/// hold a gateway for good (`Env::wait` gives up after a minute) or fail its posts.
#[test]
fn forged_rate_and_pause_keys_neither_stop_the_fleet_nor_fail_its_posts() {
    let Some(redis) = RedisServer::start("forged_rate_and_pause_keys") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    let drain = |n: usize| {
        env.run(&mut enqueue(&env, &queue, n)).assert_success();
        let mut c = consume(&env, &queue, "gw-1");
        c.args(["--rate-limit", "100/s", "--drain"]);
        let run = env.wait(env.spawn(&mut c));
        run.assert_success();
        assert_eq!(
            posts_by_workflow(&server).get(&format!("wf-{n}")),
            Some(&1),
            "{}",
            run.stderr
        );
    };
    drain(0);
    let keys: Vec<String> = redis.query(&["KEYS", "mmnotify:rate:*"]);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let rate = keys[0].clone();
    let pause = rate.replace("mmnotify:rate:", "mmnotify:pause:");
    let set = |key: &str, value: &str| {
        let _: i64 = redis.query(&["DEL", key]);
        let _: () = redis.query(&["SET", key, value]);
    };
    // A pause until the year 5138 and an arrival time as far ahead, without expiry.
    set(&pause, "99999999999999999");
    set(&rate, "99999999999999999");
    drain(1);
    set(&pause, "1e999");
    set(&rate, "-5");
    drain(2);
    set(&pause, "not a number");
    set(&rate, "nan");
    drain(3);
    // Keys of another type.
    let _: i64 = redis.query(&["DEL", &pause, &rate]);
    let _: i64 = redis.query(&["HSET", &pause, "a", "b"]);
    let _: i64 = redis.query(&["RPUSH", &rate, "x"]);
    drain(4);
    assert_eq!(posts_by_workflow(&server).len(), 5);
}

/// A holder frozen (SIGSTOP) past its lease is replaced like a dead one; when it wakes,
/// its renewal fails and it stands by instead of consuming next to the new holder.
#[test]
fn an_exclusive_holder_frozen_past_its_lease_is_replaced_and_stands_by_when_it_wakes() {
    let Some(redis) = RedisServer::start("an_exclusive_holder_frozen") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    let exclusive = ["--exclusive", "--lease", "3s"];
    let g1 = env.spawn(consume(&env, &queue, "gw-1").args(exclusive));
    wait_until("gw-1 holds the lease", Duration::from_secs(20), || {
        lease_line(&env, &queue).contains("gw-1 holds the --exclusive lease for")
    });
    let g2 = env.spawn(consume(&env, &queue, "gw-2").args(exclusive));
    env.run(&mut enqueue(&env, &queue, 0)).assert_success();
    wait_until("the first post", Duration::from_secs(20), || {
        !server.posts().is_empty()
    });
    g1.signal(libc::SIGSTOP);
    wait_until("gw-2 takes the lease", Duration::from_secs(20), || {
        lease_line(&env, &queue).contains("gw-2 holds the --exclusive lease")
    });
    env.run(&mut enqueue(&env, &queue, 1)).assert_success();
    wait_until(
        "the post after the takeover",
        Duration::from_secs(20),
        || server.posts().len() >= 2,
    );
    g1.signal(libc::SIGCONT);
    for n in 2..6 {
        env.run(&mut enqueue(&env, &queue, n)).assert_success();
    }
    wait_until("6 posts", Duration::from_secs(20), || {
        server.posts().len() >= 6
    });
    assert!(lease_line(&env, &queue).contains("gw-2 holds the --exclusive lease"));
    g1.signal(libc::SIGTERM);
    let run = env.wait(g1);
    run.assert_success()
        .assert_stderr_contains("lost the --exclusive lease")
        .assert_stderr_contains("events: 1 posted");
    g2.signal(libc::SIGTERM);
    env.wait(g2)
        .assert_success()
        .assert_stderr_contains("events: 5 posted");
    let by = posts_by_workflow(&server);
    assert_eq!(by.len(), 6, "{by:?}");
    assert!(by.values().all(|n| *n == 1), "{by:?}");
}

/// A holder busy with one entry for longer than its lease (here waiting a minute for
/// the rate budget) keeps its lease: a keeper thread renews it, so the standby does not
/// start consuming next to a live holder.
#[test]
fn an_exclusive_holder_waiting_for_the_rate_budget_keeps_its_lease() {
    let Some(redis) = RedisServer::start("an_exclusive_holder_waiting") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    let args = [
        "--exclusive",
        "--lease",
        "3s",
        "--rate-limit",
        "1/min",
        "--rate-burst",
        "1",
    ];
    let g1 = env.spawn(consume(&env, &queue, "gw-1").args(args));
    wait_until("gw-1 holds the lease", Duration::from_secs(20), || {
        lease_line(&env, &queue).contains("gw-1 holds the --exclusive lease for")
    });
    let g2 = env.spawn(consume(&env, &queue, "gw-2").args(args));
    for n in 0..2 {
        env.run(&mut enqueue(&env, &queue, n)).assert_success();
    }
    wait_until("the first post", Duration::from_secs(20), || {
        !server.posts().is_empty()
    });
    // The second entry waits for the budget; three leases pass meanwhile.
    let until = Instant::now() + Duration::from_secs(9);
    while Instant::now() < until {
        let line = lease_line(&env, &queue);
        assert!(line.contains("gw-1 holds the --exclusive lease"), "{line}");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(consumers(&redis), ["gw-1"]);
    assert_eq!(server.posts().len(), 1);
    for g in [g1, g2] {
        g.signal(libc::SIGTERM);
        env.wait(g).assert_success();
    }
}

/// A lease key no mmnotify writes, without an expiry or of another type, would keep
/// every `--exclusive` gateway on standby for good: it is replaced.
#[test]
fn a_forged_lease_without_expiry_or_of_another_type_does_not_hold_the_fleet_on_standby() {
    let Some(redis) = RedisServer::start("a_forged_lease_without_expiry") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    let key = format!("mmnotify:lease:{STREAM}:{GROUP}");
    for (n, forge) in [
        vec![
            "SET",
            key.as_str(),
            "ffffffffffffffffffffffffffffffff 1 \x1b]8;;https://evil\x07x",
        ],
        vec!["HSET", key.as_str(), "holder", "mallory"],
    ]
    .into_iter()
    .enumerate()
    {
        let _: i64 = redis.query(&["DEL", &key]);
        let _: redis::Value = redis.query(&forge);
        let g = env.spawn(consume(&env, &queue, "gw-1").args(["--exclusive", "--lease", "3s"]));
        env.run(&mut enqueue(&env, &queue, n)).assert_success();
        wait_until("the post", Duration::from_secs(20), || {
            server.posts().len() > n
        });
        g.signal(libc::SIGTERM);
        let run = env.wait(g);
        run.assert_success();
        assert!(!run.stderr.contains('\x1b'), "{}", run.stderr);
    }
}

/// A lease key of another type (a hash, a list) or without an expiry was not written by a
/// gateway: `doctor` says so, names the key and how to delete it, and fails with exit 3
/// (a setup problem), instead of a raw `WRONGTYPE` or a holder "expiring in 0 s".
#[test]
fn doctor_names_a_forged_lease_key_and_how_to_delete_it() {
    let Some(redis) = RedisServer::start("doctor_names_a_forged_lease_key") else {
        return;
    };
    let env = Env::new();
    let queue = redis.url();
    let key = format!("mmnotify:lease:{STREAM}:{GROUP}");
    for (forge, what) in [
        (vec!["HSET", key.as_str(), "holder", "mallory"], "a hash"),
        (vec!["RPUSH", key.as_str(), "mallory"], "a list"),
        (vec!["SET", key.as_str(), "mallory"], "no expiry"),
    ] {
        let _: i64 = redis.query(&["DEL", &key]);
        let _: redis::Value = redis.query(&forge);
        let run = env.run(env.cmd().args(["doctor", "--queue", &queue]));
        run.assert_code(3);
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains("webhook owner"))
            .unwrap_or_default();
        assert!(
            line.contains("not a lease") && line.contains(what) && line.contains("forged"),
            "{forge:?}: {}",
            run.stdout
        );
        assert!(
            line.contains(&format!("redis-cli DEL {key}")),
            "{}",
            run.stdout
        );
        assert!(!line.contains("mallory") || what == "no expiry", "{line}");
    }
}

/// The messages posted, in order, with the hook each went to.
fn posted(server: &MockServer) -> Vec<(String, String)> {
    server
        .posts()
        .iter()
        .map(|p| (p.hook_id.clone(), p.message.clone()))
        .collect()
}

/// SIGHUP reads the config again (contract: "Reload"): a new route and a new template
/// show in the next posts; a config that fails to load keeps the old one, with one error
/// line, and the gateway goes on posting.
#[test]
fn sighup_reloads_the_config_and_a_broken_config_keeps_the_old_one() {
    let Some(redis) = RedisServer::start("sighup_reloads_the_config") else {
        return;
    };
    let mut opts = ServerOptions::default();
    opts.hooks.push(Hook::new(OTHER_HOOK_ID, "town-square"));
    let (mut env, server) = crate::support::hooked(opts);
    env.secret(OTHER_HOOK_ID);
    env.write_secret(
        "other",
        &format!("{}\n", server.hook_url_for(OTHER_HOOK_ID)),
    );
    let queue = redis.url();
    let config = env.write_file(
        "conf/config.toml",
        "default_webhook = \"hook\"\n[templates]\ndefault = \"v1 {workflow}\"\n",
        0o644,
    );
    let mut gateway = env.cmd();
    gateway
        .args([
            "build",
            "--consume",
            "--queue",
            &queue,
            "--claim-idle",
            "1s",
        ])
        .arg("--config")
        .arg(&config);
    let g = env.spawn(&mut gateway);
    env.run(&mut enqueue(&env, &queue, 1)).assert_success();
    wait_until("the first post", Duration::from_secs(20), || {
        !server.posts().is_empty()
    });

    // A new route for wf-2… and a new template, swapped in (write, then rename over).
    let new = env.write_file(
        "conf/config.toml.new",
        "default_webhook = \"hook\"\n[[route]]\nwebhook = \"other\"\nworkflow = \"wf-2*\"\n\
         [templates]\ndefault = \"v2 {workflow}\"\n",
        0o644,
    );
    std::fs::rename(&new, &config).unwrap();
    g.signal(libc::SIGHUP);
    // Reloads happen between entries: the gateway's blocking read (500 ms) ends first.
    std::thread::sleep(Duration::from_millis(1500));
    env.run(&mut enqueue(&env, &queue, 2)).assert_success();
    env.run(&mut enqueue(&env, &queue, 3)).assert_success();
    wait_until(
        "the posts after the reload",
        Duration::from_secs(20),
        || server.posts().len() >= 3,
    );

    // A config that fails its rules (an unknown key), then one naming a webhook that has
    // no secrets file: the old one stays, with one error line each.
    for bad in [
        "default_webhook = \"hook\"\n[[route]]\nwebhok = \"other\"\n",
        "default_webhook = \"nowhere\"\n",
    ] {
        let bad = env.write_file("conf/config.toml.new", bad, 0o644);
        std::fs::rename(&bad, &config).unwrap();
        g.signal(libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(1500));
    }
    env.run(&mut enqueue(&env, &queue, 20)).assert_success();
    env.run(&mut enqueue(&env, &queue, 4)).assert_success();
    wait_until(
        "the posts after the failed reload",
        Duration::from_secs(20),
        || server.posts().len() >= 5,
    );
    g.signal(libc::SIGTERM);
    let run = env.wait(g);
    run.assert_success();
    let mut posts = posted(&server);
    // wf-2 and wf-3 (and wf-20 and wf-4) may be posted in either order.
    posts[1..3].sort();
    posts[3..5].sort();
    let hook = |id: &str, text: &str| (id.to_string(), text.to_string());
    let expected = [
        hook(HOOK_ID, "v1 wf-1"),
        hook(OTHER_HOOK_ID, "v2 wf-2"),
        hook(HOOK_ID, "v2 wf-3"),
        hook(OTHER_HOOK_ID, "v2 wf-20"),
        hook(HOOK_ID, "v2 wf-4"),
    ];
    let mut expected_sorted = expected.to_vec();
    expected_sorted[1..3].sort();
    expected_sorted[3..5].sort();
    assert_eq!(posts, expected_sorted, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("reloaded on SIGHUP: posting through the config's routes"),
        "{}",
        run.stderr
    );
    let failed: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("reload on SIGHUP failed, keeping the old settings"))
        .collect();
    assert_eq!(failed.len(), 2, "{}", run.stderr);
    assert!(failed[0].contains("webhok"), "{}", failed[0]);
    assert!(failed[1].contains("nowhere.url"), "{}", failed[1]);
}

/// A SIGHUP storm while the webhook file and the config are swapped for a symlink to a
/// FIFO, to `/dev/zero`, for a directory or a huge file: each reload refuses both with
/// an error line, never hangs nor grows the gateway's memory, and the gateway goes on
/// posting to the hook it had. (Bounded in time by the waits' own limits.)
#[test]
fn a_sighup_storm_with_fifos_and_dev_zero_at_the_paths_keeps_the_old_settings() {
    let Some(redis) = RedisServer::start("a_sighup_storm_with_fifos") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    let file = env.write_file(
        "gateway/webhook.url",
        &format!("{}\n", server.hook_url()),
        0o600,
    );
    let config = env.write_file(
        "conf/config.toml",
        "[templates]\ndefault = \"v1 {workflow}\"\n",
        0o644,
    );
    let mut gateway = env.cmd();
    gateway
        .args([
            "build",
            "--consume",
            "--queue",
            &queue,
            "--claim-idle",
            "1s",
        ])
        .arg("--webhook-file")
        .arg(&file)
        .arg("--config")
        .arg(&config);
    let g = env.spawn(&mut gateway);
    env.run(&mut enqueue(&env, &queue, 0)).assert_success();
    wait_until("the first post", Duration::from_secs(20), || {
        !server.posts().is_empty()
    });
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", g.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let before = rss();
    let fifo = env.root().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let huge = env.root().join("huge");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    std::fs::set_permissions(&huge, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dir = env.root().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let targets = [fifo.clone(), "/dev/zero".into(), dir.clone(), huge.clone()];
    for (n, target) in targets.iter().enumerate() {
        for path in [&file, &config] {
            let _ = std::fs::remove_file(path);
            std::os::unix::fs::symlink(target, path).unwrap();
        }
        for _ in 0..50 {
            g.signal(libc::SIGHUP);
        }
        std::thread::sleep(Duration::from_millis(1500));
        env.run(&mut enqueue(&env, &queue, n + 1)).assert_success();
        wait_until("a post after the storm", Duration::from_secs(20), || {
            server.posts().len() > n + 1
        });
    }
    let after = rss();
    g.signal(libc::SIGTERM);
    let run = env.wait(g);
    run.assert_success();
    assert!(
        after < before + 20 * 1024,
        "the gateway grew from {before} KiB to {after} KiB"
    );
    let posts = posted(&server);
    assert_eq!(posts.len(), targets.len() + 1, "{}", run.stderr);
    for (i, (hook, text)) in posts.iter().enumerate() {
        assert_eq!(hook, HOOK_ID);
        assert!(text.starts_with("v1 wf-"), "post {i}: {text}");
    }
    let failed: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("reload on SIGHUP failed, keeping the old settings"))
        .collect();
    for what in ["secrets file", "config file"] {
        for why in ["is not a regular file", "larger than"] {
            assert!(
                failed.iter().any(|l| l.contains(what) && l.contains(why)),
                "{what} {why}: {}",
                run.stderr
            );
        }
    }
    assert!(!run.stderr.contains("reloaded on SIGHUP"), "{}", run.stderr);
}

/// A hostile server on 127.0.0.1 that answers the first command of each connection with
/// a reply that never ends: a bulk string announced as 1 TB, or (`array`) an array
/// announced with a billion elements, streamed until the client hangs up. Paced (16 KiB
/// every 5 ms, far inside any read timeout) so that the test does not eat the machine's
/// memory: the client buffers all of it. Returns its port.
fn endless_replies(array: bool) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                if !matches!(stream.read(&mut buf), Ok(n) if n > 0) {
                    return;
                }
                let (head, chunk) = if array {
                    ("*1000000000\r\n", ":1\r\n".repeat(4096))
                } else {
                    ("$1000000000000\r\n", "x".repeat(16384))
                };
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                while stream.write_all(chunk.as_bytes()).is_ok() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
    });
    port
}

/// A Sentinel streaming an endless answer to its first question, or one naming a master
/// that does: `--enqueue` spools and `doctor` fails within `--timeout` (exit 5), since the
/// Sentinels are asked in a helper thread with a deadline. (The library bounds neither
/// the size of a reply nor, for a server that keeps sending, its time; `--timeout` is a
/// per-read timeout: for a master given directly see the next test. `Env::wait` is the
/// watchdog: it gives up after a minute.)
#[test]
fn a_sentinel_streaming_an_endless_reply_does_not_hold_a_command_past_timeout() {
    let env = Env::new();
    let sentinels = [
        endless_replies(false),
        endless_replies(true),
        fake_sentinel(Some(endless_replies(false))),
        fake_sentinel(Some(endless_replies(true))),
    ];
    for sentinel in sentinels {
        let queue = format!("redis+sentinel://127.0.0.1:{sentinel}/m");
        let mut c = env.cmd();
        c.env("MMNOTIFY_QUEUE", &queue)
            .args(["build", "--enqueue", "--no-env", "--workflow", "wf"])
            .args(["--state", "failed", "--timeout", "1s", "--output", "json"]);
        let run = env.wait(env.spawn(&mut c));
        run.assert_code(5).assert_stderr_contains("answered within");
        assert_eq!(run.json()["status"], "spooled");
        let mut c = env.cmd();
        c.env("MMNOTIFY_QUEUE", &queue)
            .args(["doctor", "--timeout", "1s"]);
        let run = env.wait(env.spawn(&mut c));
        run.assert_code(5);
        assert!(run.stdout.contains("answered within"), "{}", run.stdout);
    }
}

/// A master given directly (`redis://`) that streams an endless answer: `--enqueue` gives
/// up after twice `--timeout` and spools the event (exit 5), where it used to hang for
/// good (each read answers in time, so no read times out). `Env::wait` is the watchdog.
#[test]
fn a_master_streaming_an_endless_reply_does_not_hold_an_enqueue() {
    let env = Env::new();
    for array in [false, true] {
        let queue = format!("redis://127.0.0.1:{}/0", endless_replies(array));
        let mut c = env.cmd();
        c.env("MMNOTIFY_QUEUE", &queue)
            .args(["build", "--enqueue", "--no-env", "--workflow", "wf"])
            .args(["--state", "failed", "--timeout", "1s", "--output", "json"]);
        let run = env.wait(env.spawn(&mut c));
        run.assert_code(5)
            .assert_stderr_contains("a reply without end")
            .assert_stderr_contains("saved in the spool");
        assert_eq!(run.json()["status"], "spooled");
    }
}

/// A gateway that posts through the config's routes (no webhook on its command line)
/// paces its posts as any gateway does: through the fleet's budget in the queue's Redis,
/// waiting as long as it takes with the entry pending. It used to pace each route in its
/// own process only, give up after --timeout and save the entry in the spool, while the
/// entry also stayed pending in the stream.
#[test]
fn a_routed_gateway_shares_the_fleet_budget_and_never_spools() {
    let Some(redis) = RedisServer::start("a_routed_gateway_shares_the_fleet_budget") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    let config = env.write_file(
        "conf/config.toml",
        "[[route]]\nwebhook = \"hook\"\nworkflow = \"wf-*\"\n",
        0o644,
    );
    let state = env.root().join("state-routed");
    let mut gateway = env.cmd();
    gateway
        .args([
            "build",
            "--consume",
            "--queue",
            &queue,
            "--claim-idle",
            "1s",
        ])
        .args([
            "--rate-limit",
            "1/min",
            "--rate-burst",
            "1",
            "--timeout",
            "2s",
        ])
        .arg("--config")
        .arg(&config)
        .env("MMNOTIFY_STATE_DIR", &state);
    let g = env.spawn(&mut gateway);
    for n in 0..2 {
        env.run(&mut enqueue(&env, &queue, n)).assert_success();
    }
    wait_until("the first post", Duration::from_secs(20), || {
        !server.posts().is_empty()
    });
    // The budget lives in the queue's Redis, where every gateway of the fleet reads it.
    wait_until("the fleet's rate key", Duration::from_secs(20), || {
        let keys: Vec<String> = redis.query(&["KEYS", "mmnotify:rate:*"]);
        !keys.is_empty()
    });
    // The second entry waits, pending here: past --timeout it is neither spooled nor
    // given up (the wait ends with the stop).
    wait_until("the second entry pending", Duration::from_secs(20), || {
        let reply: redis::Value = redis.query(&["XPENDING", STREAM, GROUP]);
        matches!(reply, redis::Value::Array(ref v) if matches!(v.first(), Some(redis::Value::Int(1))))
    });
    g.signal(libc::SIGTERM);
    let run = env.wait(g);
    run.assert_success();
    assert_eq!(server.posts().len(), 1, "{}", run.stderr);
    assert!(!run.stderr.contains("spool"), "{}", run.stderr);
    assert!(!state.join("spool").exists(), "{}", run.stderr);
}

/// A gateway reads every webhook it posts to at start (its routes' too) and not again
/// before a SIGHUP: a route naming a webhook with no secrets file is exit 3 at start,
/// not at that route's first event (which stopped the gateway, exit 3, leaving the entry
/// pending for the next gateway of the fleet to stop on), and a file removed while the
/// gateway runs does not stop it.
#[test]
fn a_gateway_reads_its_routes_webhooks_at_start_and_not_at_a_later_event() {
    let Some(redis) = RedisServer::start("a_gateway_reads_its_routes_webhooks") else {
        return;
    };
    let mut opts = ServerOptions::default();
    opts.hooks.push(Hook::new(OTHER_HOOK_ID, "town-square"));
    let (mut env, server) = crate::support::hooked(opts);
    env.secret(OTHER_HOOK_ID);
    let queue = redis.url();
    let config = env.write_file(
        "conf/config.toml",
        "default_webhook = \"hook\"\n[[route]]\nwebhook = \"other\"\nworkflow = \"wf-2*\"\n",
        0o644,
    );
    let gateway = |drain: bool| {
        let mut c = env.cmd();
        c.args([
            "build",
            "--consume",
            "--queue",
            &queue,
            "--claim-idle",
            "1s",
        ])
        .arg("--config")
        .arg(&config);
        if drain {
            c.arg("--drain");
        }
        c
    };
    env.run(&mut gateway(true))
        .assert_code(3)
        .assert_stderr_contains("no webhook named `other`");

    let other = env.write_secret(
        "other",
        &format!("{}\n", server.hook_url_for(OTHER_HOOK_ID)),
    );
    let g = env.spawn(&mut gateway(false));
    env.run(&mut enqueue(&env, &queue, 1)).assert_success();
    wait_until("the first post", Duration::from_secs(20), || {
        !server.posts().is_empty()
    });
    std::fs::remove_file(&other).unwrap();
    env.run(&mut enqueue(&env, &queue, 2)).assert_success();
    // (A gateway that exited is a zombie until waited for.)
    let stat = format!("/proc/{}/stat", g.pid());
    wait_until("the routed post", Duration::from_secs(20), || {
        server.posts().len() >= 2
            || std::fs::read_to_string(&stat).map_or(true, |s| s.contains(") Z "))
    });
    g.signal(libc::SIGTERM);
    let run = env.wait(g);
    run.assert_success();
    let hooks: Vec<String> = server.posts().iter().map(|p| p.hook_id.clone()).collect();
    assert_eq!(hooks, [HOOK_ID, OTHER_HOOK_ID], "{}", run.stderr);
}

/// A lease key that expires later than any `--lease` can (at most a day) was not written
/// by a gateway: it used to hold every `--exclusive` gateway on standby until it expired
/// (a year here); it is replaced, and `doctor` names it as forged. A lease value that is
/// not UTF-8 is shown cleaned by `doctor`, not a raw "Cannot convert from UTF-8" error.
#[test]
fn a_forged_lease_expiring_in_a_year_or_not_text_neither_holds_the_fleet_nor_breaks_doctor() {
    let Some(redis) = RedisServer::start("a_forged_lease_expiring_in_a_year") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    let key = format!("mmnotify:lease:{STREAM}:{GROUP}");
    let set = |value: &[u8], px: u64| {
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("PX")
            .arg(px)
            .query(&mut redis.con())
            .unwrap();
    };
    set(b"\xff\xfe\x1b[31mmallory", 60_000);
    let run = env.run(env.cmd().args(["doctor", "--queue", &queue]));
    let line = lease_line(&env, &queue);
    assert!(
        line.contains("?[31mmallory holds the --exclusive lease"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(!run.stdout.contains('\x1b'), "{}", run.stdout);

    let year = 365 * 86_400_000;
    set(b"ffffffffffffffffffffffffffffffff 1 mallory", year);
    let run = env.run(env.cmd().args(["doctor", "--queue", &queue]));
    run.assert_code(3);
    let line = lease_line(&env, &queue);
    assert!(
        line.contains("later than any lease") && line.contains("forged"),
        "{line}"
    );
    let g = env.spawn(consume(&env, &queue, "gw-1").args(["--exclusive", "--lease", "3s"]));
    env.run(&mut enqueue(&env, &queue, 1)).assert_success();
    wait_until("the post", Duration::from_secs(20), || {
        !server.posts().is_empty()
    });
    g.signal(libc::SIGTERM);
    env.wait(g).assert_success();
}

/// A stream entry larger than any event a builder enqueues (1 MiB) was planted: the
/// gateway refuses it unread, and its dead-letter copy keeps only its size. Each copy the
/// gateway made of it (as text, as the event, as the dead-letter copy) cost its size
/// again: a planted 50 MB entry took the gateway to 320 MB, past the unit's
/// `MemoryMax=256M`, and every gateway that took it over in turn.
#[test]
fn a_planted_entry_larger_than_any_event_is_dead_lettered_unread() {
    let Some(redis) = RedisServer::start("a_planted_entry_larger_than_any_event") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    let huge = format!(
        "{{\"workflow\":\"wf-huge\",\"state\":\"failed\",\"pad\":\"{}\"}}",
        "x".repeat(2 << 20)
    );
    let _: String = redis::cmd("XADD")
        .arg(STREAM)
        .arg("*")
        .arg("event")
        .arg(&huge)
        .query(&mut redis.con())
        .unwrap();
    env.run(&mut enqueue(&env, &queue, 1)).assert_success();
    let run = env.run(consume(&env, &queue, "gw-1").arg("--drain"));
    run.assert_code(4);
    run.assert_stderr_contains("more than any event a builder enqueues");
    assert_eq!(server.posts().len(), 1, "the event after it is posted");
    let dead: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(format!("{STREAM}:dead"))
        .arg("-")
        .arg("+")
        .query(&mut redis.con())
        .unwrap();
    assert_eq!(dead.ids.len(), 1);
    let kept: String = dead.ids[0].get("event").unwrap();
    assert!(
        kept.len() < 100,
        "the dead-letter copy kept {} bytes",
        kept.len()
    );
    assert!(kept.contains(&huge.len().to_string()), "{kept}");
}

/// `systemctl reload` while a gateway is still starting (here: waiting for a Redis that
/// accepts and does not answer yet): SIGHUP's default action ended the process, which
/// systemd counts as a clean exit, so `Restart=on-failure` left the gateway stopped.
/// It is caught from the start and acted on at the first step.
#[test]
fn a_sighup_while_the_gateway_starts_does_not_end_it() {
    use std::io::Read;
    let (env, _server) = crate::support::hooked(ServerOptions::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            count.fetch_add(1, Ordering::SeqCst);
            // Silent: reads what it is sent until the client hangs up.
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    let queue = format!("redis://127.0.0.1:{port}");
    let g = env.spawn(consume(&env, &queue, "gw-1").args(["--timeout", "3s"]));
    // Its first connection: the gateway is starting, waiting for the answer.
    wait_until(
        "the gateway's first connection",
        Duration::from_secs(20),
        || accepted.load(Ordering::SeqCst) >= 1,
    );
    g.signal(libc::SIGHUP);
    // Started, and retrying Redis from its loop: a stop now is a clean one.
    wait_until("the gateway's loop", Duration::from_secs(40), || {
        accepted.load(Ordering::SeqCst) >= 3
    });
    g.signal(libc::SIGTERM);
    let run = env.wait(g);
    run.assert_success();
    assert!(run.stderr.contains("reloaded on SIGHUP"), "{}", run.stderr);
}

/// A forged lease of 64 MB (a string that expires, so it is not replaced before it does)
/// was read whole by every standby gateway at every turn (twice a second), and by
/// `doctor`: far past the unit's `MemoryMax=256M` once parsed. A holder name is at most
/// 128 characters, so only the value's first KiB is read, once per standby spell.
#[test]
fn a_huge_forged_lease_is_not_read_whole_by_the_standbys() {
    let Some(redis) = RedisServer::start("a_huge_forged_lease_is_not_read_whole") else {
        return;
    };
    let (env, _server) = crate::support::hooked(ServerOptions::default());
    let queue = redis.url();
    let key = format!("mmnotify:lease:{STREAM}:{GROUP}");
    let value = format!("mallory {}", "x".repeat(64 << 20));
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&value)
        .arg("PX")
        .arg(600_000)
        .query(&mut redis.con())
        .unwrap();
    drop(value);
    let scripts = || -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut redis.con())
            .unwrap();
        info.lines()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .filter_map(|l| {
                l.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    let before = scripts();
    let g = env.spawn(consume(&env, &queue, "gw-1").args(["--exclusive", "--lease", "3s"]));
    // Ten turns of standing by (each tries to take the lease, by script).
    wait_until("ten turns on standby", Duration::from_secs(40), || {
        scripts() >= before + 10
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", g.pid())).unwrap();
    let peak: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap();
    g.signal(libc::SIGTERM);
    let run = env.wait(g);
    run.assert_success();
    assert!(
        peak < 48 * 1024,
        "the standby's memory peaked at {peak} KiB: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("standing by: mallory xxx"),
        "{}",
        run.stderr
    );
    let run = env.run(env.cmd().args(["doctor", "--queue", &queue]));
    assert!(
        lease_line(&env, &queue).contains("mallory xxx"),
        "{}",
        run.stdout
    );
}
