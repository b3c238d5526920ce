//! The bot path joined to the job history (issues 16 and 18): bot posts record the job's
//! history as webhook posts do; while a job is broken its next runs reply in the thread
//! of the post that broke it, and the run that fixes it says so in the channel and on
//! the breaking post; mentions go only in replies. Against the REST emulator, with the
//! local store and with a real redis-server.

use std::fs;
use std::time::Duration;

use serde_json::Value;

use crate::bot::{
    bot_event, enqueue_on, forge_records, gateway, roots, run_key_of, setup, wait_until, GROUP,
    STREAM,
};
use crate::stories::pings;
use crate::support::{Env, Fault, MockServer, RedisServer, RestPost, Seed};

/// `props.mmnotify.<key>` of a post.
fn mm(p: &RestPost, key: &str) -> Value {
    p.props
        .get("mmnotify")
        .and_then(|m| m.get(key))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The posts of run `run` (of acme/app) in `posts`.
fn of_run<'a>(posts: &'a [RestPost], run: &str) -> Vec<&'a RestPost> {
    let key = format!("acme/app#{run}");
    posts
        .iter()
        .filter(|p| run_key_of(p).as_deref() == Some(key.as_str()))
        .collect()
}

/// Runs one bot event; returns its JSON outcome.
fn bot_run(env: &Env, run: &str, state: &str, extra: &[&str]) -> Value {
    let r = env.run(&mut bot_event(env, run, state, extra));
    r.assert_success();
    r.json()
}

fn status_transition(v: &Value) -> (String, String) {
    (
        v["status"].as_str().unwrap_or_default().to_string(),
        v["transition"].as_str().unwrap_or("none").to_string(),
    )
}

fn st(status: &str, transition: &str) -> (String, String) {
    (status.to_string(), transition.to_string())
}

#[test]
fn bot_posts_record_the_job_history_broken_still_failing_fixed() {
    let (env, server, _seed) = setup();
    let story = |run: &str, state: &str, extra: &[&str]| {
        status_transition(&bot_run(&env, run, state, extra))
    };
    assert_eq!(story("1", "failed", &[]), st("posted", "broken"));
    // A dry run and a duplicate change nothing; `running` never touches the history.
    assert_eq!(
        story("2", "failed", &["--dry-run"]),
        st("dry-run", "still_failing")
    );
    assert_eq!(story("1", "failed", &[]), st("duplicate", "broken"));
    assert_eq!(story("2", "running", &[]), st("posted", "none"));
    assert_eq!(story("2", "failed", &[]), st("posted", "still_failing"));
    assert_eq!(story("3", "succeeded", &[]), st("posted", "fixed"));
    assert_eq!(story("4", "succeeded", &[]), st("posted", "succeeded"));
    let all = server.rest().all_posts();
    let transition_of = |run: &str| {
        of_run(&all, run)
            .iter()
            .map(|p| mm(p, "transition"))
            .filter(|t| !t.is_null())
            .collect::<Vec<_>>()
    };
    assert!(transition_of("1").iter().all(|t| t == "broken"));
    assert!(transition_of("2").iter().all(|t| t == "still_failing"));
    assert!(!transition_of("2").is_empty());
    assert!(transition_of("3").iter().all(|t| t == "fixed"));
    let fixed = of_run(&all, "3");
    assert!(
        fixed
            .iter()
            .any(|p| p.message.contains("fixed after 2 failures")),
        "{:?}",
        fixed.iter().map(|p| &p.message).collect::<Vec<_>>()
    );
    assert!(fixed.iter().all(|p| mm(p, "streak") == 2));
    // Run 2's words: the 2nd failure in a row.
    let second = of_run(&all, "2");
    assert!(
        second
            .iter()
            .all(|p| p.message.contains("still failing (2nd failure in a row")),
        "{:?}",
        second.iter().map(|p| &p.message).collect::<Vec<_>>()
    );
}

/// Broken run → channel post and terminal reply; the next failing run (running, then
/// failed) → one reply in the breaking thread, patched, no channel post; the fixing run
/// → its reply, a channel post "fixed", and the breaking post patched "fixed by run 3".
fn broken_job_thread(env: &Env, server: &MockServer, seed: &Seed, store: &[&str]) {
    let with = |extra: &[&'static str]| -> Vec<&str> { [store, extra].concat() };
    bot_run(env, "1", "running", &with(&[]));
    bot_run(env, "1", "failed", &with(&[]));
    let first = roots(server, seed);
    assert_eq!(first.len(), 1);
    let breaking = first[0].id.clone();
    assert_eq!(server.rest().replies(&breaking).len(), 1, "run 1's details");

    let out = bot_run(env, "2", "running", &with(&[]));
    assert_eq!(roots(server, seed).len(), 1, "no channel post for run 2");
    let replies = server.rest().replies(&breaking);
    let run2 = of_run(&replies, "2");
    assert_eq!(
        run2.len(),
        1,
        "run 2's post is a reply in the breaking thread"
    );
    let reply = run2[0].id.clone();
    assert_eq!(out["post_id"], reply.as_str());
    assert!(run2[0].message.contains("running"), "{}", run2[0].message);
    let out = bot_run(env, "2", "failed", &with(&[]));
    assert_eq!(out["transition"], "still_failing");
    assert_eq!(roots(server, seed).len(), 1, "still no channel post");
    let replies = server.rest().replies(&breaking);
    let run2 = of_run(&replies, "2");
    assert_eq!(run2.len(), 1, "patched, no further reply: {run2:?}");
    assert_eq!(server.rest().patch_history(&reply).len(), 1);
    assert!(
        run2[0].message.contains("still failing"),
        "{}",
        run2[0].message
    );
    assert!(server.rest().replies(&reply).is_empty());

    bot_run(env, "3", "running", &with(&[]));
    let out = bot_run(env, "3", "succeeded", &with(&[]));
    assert_eq!(out["transition"], "fixed");
    let replies = server.rest().replies(&breaking);
    let run3 = of_run(&replies, "3");
    assert_eq!(run3.len(), 1, "{run3:?}");
    assert!(run3[0].message.contains("fixed after 2 failures"));
    let roots_now = roots(server, seed);
    assert_eq!(roots_now.len(), 2, "the fix is told in the channel");
    let fixed = of_run(&roots_now, "3");
    assert_eq!(fixed.len(), 1);
    assert!(fixed[0].message.contains("fixed after 2 failures"));
    assert_eq!(server.rest().replies(&fixed[0].id).len(), 1, "its details");
    let broke = server.rest().post(&breaking).unwrap();
    assert!(
        broke.message.contains("fixed by run 3"),
        "{}",
        broke.message
    );
    assert_eq!(mm(&broke, "fixed_by"), "acme/app#3");

    // Fixed: the next run posts in the channel again.
    bot_run(env, "4", "running", &with(&[]));
    assert_eq!(of_run(&roots(server, seed), "4").len(), 1);
    assert_eq!(server.rest().replies(&breaking).len(), 3);
}

#[test]
fn a_broken_jobs_next_runs_reply_in_the_breaking_thread_and_the_fix_posts_in_the_channel() {
    let (env, server, seed) = setup();
    broken_job_thread(&env, &server, &seed, &[]);
}

#[test]
fn a_broken_jobs_thread_with_the_redis_store() {
    let Some(redis) = RedisServer::start("a_broken_jobs_thread_with_the_redis_store") else {
        return;
    };
    let (env, server, seed) = setup();
    let url = redis.url();
    broken_job_thread(&env, &server, &seed, &["--dedupe-store", &url]);
    assert!(!env.state().join("dedupe/runs").exists());
}

#[test]
fn a_deleted_or_forged_breaking_post_means_a_channel_post_and_nothing_false() {
    let (env, server, seed) = setup();
    bot_run(&env, "1", "failed", &[]);
    let breaking = roots(&server, &seed)[0].id.clone();
    // The job's record names the breaking post with its run and streak.
    let records = env.state().join("dedupe/runs");
    let job_record = fs::read_dir(&records)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| fs::read_to_string(p).unwrap().contains(" since="))
        .expect("the job's record");
    let line = fs::read_to_string(&job_record).unwrap();
    assert!(line.starts_with(&breaking), "{line}");

    // Forged: alice's post, and the bot's post of another run, under the same record.
    let alice = server
        .rest()
        .insert_post(&seed.alice, &seed.builds, "", "alice's own words");
    fs::write(&job_record, line.replacen(&breaking, &alice, 1)).unwrap();
    let out = env.run(&mut bot_event(&env, "2", "failed", &[]));
    out.assert_success()
        .assert_stderr_contains("names a post that is not it");
    assert_eq!(
        server.rest().post(&alice).unwrap().message,
        "alice's own words"
    );
    let run2 = of_run(&roots(&server, &seed), "2")[0].id.clone();
    assert_eq!(
        server.rest().replies(&run2).len(),
        1,
        "a channel post of its own"
    );
    fs::write(&job_record, line.replacen(&breaking, &run2, 1)).unwrap();
    bot_run(&env, "3", "failed", &[]);
    assert_eq!(server.rest().patch_history(&run2).len(), 0);
    assert_eq!(of_run(&roots(&server, &seed), "3").len(), 1);

    // Deleted: the next run posts in the channel, and the fix claims nothing on it.
    fs::write(&job_record, &line).unwrap();
    server.rest().delete_post(&breaking);
    bot_run(&env, "4", "running", &[]);
    assert_eq!(of_run(&roots(&server, &seed), "4").len(), 1);
    let out = bot_run(&env, "4", "succeeded", &[]);
    assert_eq!(out["transition"], "fixed");
    assert!(server.rest().patch_history(&breaking).is_empty());
    for p in server.rest().all_posts() {
        assert!(!p.message.contains("fixed by"), "{}", p.message);
    }
    let roots_now = roots(&server, &seed);
    assert_eq!(
        of_run(&roots_now, "4").len(),
        1,
        "one channel post for run 4"
    );
}

const PEOPLE: &str = "[people]\n\"octocat\" = \"alice\"\n";

#[test]
fn mentions_go_in_replies_never_in_the_post_that_gets_edited() {
    let (env, server, seed) = setup();
    let config = env.write_file("conf/people.toml", PEOPLE, 0o600);
    let cfg = config.to_str().unwrap();
    bot_run(
        &env,
        "1",
        "running",
        &["--config", cfg, "--actor", "octocat"],
    );
    bot_run(
        &env,
        "1",
        "failed",
        &["--config", cfg, "--actor", "octocat"],
    );
    let post = &roots(&server, &seed)[0];
    assert!(pings(&post.message).is_empty(), "{}", post.message);
    for h in server.rest().patch_history(&post.id) {
        assert!(pings(&h.message).is_empty(), "{}", h.message);
    }
    let replies = server.rest().replies(&post.id);
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0].message.ends_with(" · cc @alice"),
        "{}",
        replies[0].message
    );
    assert_eq!(pings(&replies[0].message), ["alice"]);
    // --mention adds users, in the reply only.
    bot_run(
        &env,
        "2",
        "failed",
        &[
            "--config",
            cfg,
            "--mention-on",
            "failed",
            "--mention",
            "ops-lead",
        ],
    );
    let replies = server.rest().all_posts();
    let run2: Vec<_> = of_run(&replies, "2");
    assert!(
        run2.iter().any(|p| pings(&p.message) == ["ops-lead"]),
        "{run2:?}"
    );

    // An actor named like a channel-wide mention pings no one, in any post.
    for (i, actor) in ["channel", "@channel", "all", "@all", "here"]
        .iter()
        .enumerate()
    {
        let run = format!("{}", 10 + i);
        bot_run(
            &env,
            &run,
            "failed",
            &["--config", cfg, "--mention-on", "failed", "--actor", actor],
        );
        let all = server.rest().all_posts();
        let mine = of_run(&all, &run);
        assert!(!mine.is_empty());
        assert!(
            mine.iter().any(|p| p.message.contains(" · cc ")),
            "{mine:?}"
        );
        for p in mine {
            assert!(pings(&p.message).is_empty(), "{}", p.message);
        }
    }
}

#[test]
fn a_reply_whose_answer_was_lost_is_found_in_the_thread_after_the_pending_window() {
    let (env, server, seed) = setup();
    // users/me, the channel and the create answer at once; the reply is slow, and the
    // client gives up waiting for it. The server makes it anyway.
    server.script([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::from_millis(1500)),
    ]);
    let run = env.run(&mut bot_event(
        &env,
        "5",
        "failed",
        &["--timeout", "1s", "--attempt-timeout", "1s", "--no-spool"],
    ));
    run.assert_code(5);
    let post = roots(&server, &seed)[0].id.clone();
    wait_until("the late reply", Duration::from_secs(10), || {
        server.rest().replies(&post).len() == 1
    });
    // Past the 30 s pending_post_id window: only the look-up can find it.
    server.rest().advance_clock(Duration::from_secs(60));
    let again = env.run(&mut bot_event(&env, "5", "failed", &["-v"]));
    again.assert_success();
    assert_eq!(
        server.rest().replies(&post).len(),
        1,
        "the reply made twice"
    );
    assert_eq!(roots(&server, &seed).len(), 1);
    again.assert_stderr_contains("its reply was made by an earlier attempt");
}

#[test]
fn two_gateways_racing_on_runs_of_one_broken_job_make_one_reply_per_run() {
    let Some(redis) = RedisServer::start("bot_threads_two_gateways") else {
        return;
    };
    let (env, server, seed) = setup();
    let g1 = env.spawn(&mut gateway(&env, &redis, "gw-1", &[]));
    let g2 = env.spawn(&mut gateway(&env, &redis, "gw-2", &[]));
    let enqueue = |run: &str, state: &str, node: &str| {
        env.run(&mut enqueue_on(&env, &redis, "main", (run, state), node))
            .assert_success();
    };
    enqueue("1", "failed", "node-0");
    wait_until("the breaking post", Duration::from_secs(30), || {
        roots(&server, &seed)
            .first()
            .is_some_and(|p| server.rest().replies(&p.id).len() == 1)
            && redis.pending(STREAM, GROUP) == 0
    });
    let breaking = roots(&server, &seed)[0].id.clone();
    // Runs 2..=11, each event reported by two builders at once.
    std::thread::scope(|s| {
        for b in 0..2 {
            let enqueue = &enqueue;
            s.spawn(move || {
                for run in 2..=11 {
                    for state in ["running", "failed"] {
                        enqueue(&run.to_string(), state, &format!("node-{b}"));
                    }
                }
            });
        }
    });
    wait_until("every run's reply", Duration::from_secs(60), || {
        redis.pending(STREAM, GROUP) == 0
            && redis.xlen(STREAM) > 0
            && (2..=11).all(|r| {
                of_run(&server.rest().replies(&breaking), &r.to_string())
                    .iter()
                    .any(|p| p.message.contains("still failing"))
            })
    });
    std::thread::sleep(Duration::from_millis(300));
    for g in [g1, g2] {
        g.signal(libc::SIGTERM);
        env.wait(g).assert_success();
    }
    assert_eq!(
        roots(&server, &seed).len(),
        1,
        "no channel post for runs 2..=11"
    );
    let replies = server.rest().replies(&breaking);
    for run in 2..=11 {
        let mine = of_run(&replies, &run.to_string());
        assert_eq!(mine.len(), 1, "run {run}: {mine:?}");
    }
    assert_eq!(replies.len(), 11, "run 1's details and one reply per run");
}

/// A run that started in a broken job's thread and ends after another run fixed the job
/// breaks it again: it says so in the channel, and that post's thread holds the next
/// runs. A run that started before the job broke keeps its own channel post.
#[test]
fn a_run_from_an_old_thread_that_breaks_the_job_again_posts_in_the_channel() {
    let (env, server, seed) = setup();
    bot_run(&env, "0", "running", &[]);
    bot_run(&env, "1", "failed", &[]);
    let first = of_run(&roots(&server, &seed), "1")[0].id.clone();
    // Run 0 started before the job broke: its post stays in the channel.
    assert_eq!(
        bot_run(&env, "0", "failed", &[])["transition"],
        "still_failing"
    );
    assert_eq!(of_run(&roots(&server, &seed), "0").len(), 1);
    bot_run(&env, "2", "running", &[]);
    assert_eq!(of_run(&server.rest().replies(&first), "2").len(), 1);
    bot_run(&env, "3", "succeeded", &[]);
    let config = env.write_file("conf/people.toml", PEOPLE, 0o600);
    let cfg = config.to_str().unwrap();
    let out = bot_run(
        &env,
        "2",
        "failed",
        &["--config", cfg, "--actor", "octocat"],
    );
    assert_eq!(out["transition"], "broken");
    let channel = roots(&server, &seed);
    let again = of_run(&channel, "2");
    assert_eq!(again.len(), 1, "the new break is told in the channel");
    assert!(pings(&again[0].message).is_empty(), "{}", again[0].message);
    let again = again[0].id.clone();
    let details = server.rest().replies(&again);
    assert_eq!(details.len(), 1, "its details");
    assert_eq!(
        pings(&details[0].message),
        ["alice"],
        "{}",
        details[0].message
    );
    assert_eq!(of_run(&server.rest().replies(&first), "2").len(), 1);
    bot_run(&env, "4", "running", &[]);
    assert_eq!(of_run(&server.rest().replies(&again), "4").len(), 1);
    assert!(of_run(&roots(&server, &seed), "4").is_empty());
}

/// Review of issue 18: the post that broke the job is deleted between the read that
/// checks it and the reply in its thread; the server refuses the reply (400
/// `api.post.create_post.root_id.app_error`, as a real server answers a deleted root).
/// The run posts in the channel instead, as for a breaking post found deleted; it does
/// not fail the event (it used to exit 40, posting nothing).
#[test]
fn a_breaking_post_deleted_between_check_and_reply_means_a_channel_post() {
    let (env, server, seed) = setup();
    bot_run(&env, "1", "failed", &[]);
    let breaking = roots(&server, &seed)[0].id.clone();
    // users/me, the channel, the GET of the breaking post answer as usual; the reply
    // finds its root gone.
    server.script([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Response {
            status: 400,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: r#"{"id":"api.post.create_post.root_id.app_error","message":"Invalid RootId parameter.","detailed_error":"","request_id":"mq1wtzrqa3fq9m7gmgb8j8bh3y","status_code":400}"#
                .into(),
        },
    ]);
    let run = env.run(&mut bot_event(&env, "2", "running", &["--no-spool", "-v"]));
    run.assert_success()
        .assert_stderr_contains("posting in the channel");
    let channel = roots(&server, &seed);
    let mine = of_run(&channel, "2");
    assert_eq!(mine.len(), 1, "run 2's post in the channel");
    assert_eq!(run.json()["post_id"], mine[0].id.as_str());
    assert!(of_run(&server.rest().replies(&breaking), "2").is_empty());
    // Its end patches that post, with its details in its own thread.
    bot_run(&env, "2", "failed", &[]);
    assert_eq!(of_run(&roots(&server, &seed), "2").len(), 1);
    assert_eq!(server.rest().replies(&mine[0].id).len(), 1);
}

/// Review of issue 18: a lost reply is looked up among the channel's newest posts. A
/// page of them larger than the client reads (people paste long logs) was cut and read
/// as "no posts", and the reply was made a second time.
#[test]
fn a_lost_reply_is_found_behind_a_page_of_long_posts() {
    let (env, server, seed) = setup();
    server.script([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::from_millis(1500)),
    ]);
    env.run(&mut bot_event(
        &env,
        "5",
        "failed",
        &["--timeout", "1s", "--attempt-timeout", "1s", "--no-spool"],
    ))
    .assert_code(5);
    let post = roots(&server, &seed)[0].id.clone();
    wait_until("the late reply", Duration::from_secs(10), || {
        server.rest().replies(&post).len() == 1
    });
    // 100 posts of 15,000 characters after it: 1.5 MB in one page of 200.
    let long = "x".repeat(15_000);
    for _ in 0..100 {
        server
            .rest()
            .insert_post(&seed.alice, &seed.builds, "", &long);
    }
    server.rest().advance_clock(Duration::from_secs(60));
    let again = env.run(&mut bot_event(&env, "5", "failed", &["-v"]));
    again.assert_success();
    assert_eq!(
        server.rest().replies(&post).len(),
        1,
        "the reply made twice"
    );
    again.assert_stderr_contains("its reply was made by an earlier attempt");

    // A server whose pages stay too large to read, even of 20 posts: 7 with what to do,
    // and no second post (the record says a create's answer was lost).
    env.run(&mut bot_event(&env, "6", "running", &[]))
        .assert_success();
    forge_records(&env, "? 1\n");
    let huge = Fault::Response {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: format!(
            r#"{{"order":[],"posts":{{}},"pad":"{}"}}"#,
            "y".repeat(2 << 20)
        ),
    };
    server.script([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        huge.clone(),
        huge,
    ]);
    let before = server.rest().all_posts().len();
    env.run(&mut bot_event(&env, "6", "failed", &["--no-spool"]))
        .assert_code(7)
        .assert_stderr_contains("larger than this client reads");
    assert_eq!(server.rest().all_posts().len(), before);
}

/// The job's records of breaking posts in the local store: (path, line).
fn job_records(env: &Env) -> Vec<(std::path::PathBuf, String)> {
    fs::read_dir(env.state().join("dedupe/runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter_map(|p| {
            let line = fs::read_to_string(&p).ok()?;
            line.contains(" since=").then_some((p, line))
        })
        .collect()
}

/// Review of issue 18: a planted job record naming the breaking post of another job (the
/// bot's own root post in the channel, with that run's digest copied from the other
/// job's record, and this job's streak) made this job's runs reply in the other job's
/// thread, and this job's fix patch "fixed by run N" onto the other job's post.
#[test]
fn a_record_naming_another_jobs_breaking_post_is_not_its_thread() {
    let (env, server, seed) = setup();
    bot_run(&env, "1", "failed", &[]);
    let (path_a, line_a) = job_records(&env).remove(0);
    // Job B: same repository and branch, another workflow.
    let mut other = env.cmd();
    other.args([
        "build",
        "--no-env",
        "--workflow",
        "test",
        "--branch",
        "main",
        "--repository",
        "acme/app",
        "--run-id",
        "100",
        "--state",
        "failed",
        "-o",
        "json",
        "--bot",
        "bot",
        "--channel",
        crate::bot::CHANNEL,
    ]);
    env.run(&mut other).assert_success();
    let post_b = of_run(&roots(&server, &seed), "100")[0].id.clone();
    let line_b = job_records(&env)
        .into_iter()
        .find(|(p, _)| *p != path_a)
        .unwrap()
        .1;
    assert!(line_b.starts_with(&post_b), "{line_b}");
    let since = |l: &str| {
        l.split_whitespace()
            .find(|f| f.starts_with("since="))
            .unwrap()
            .to_string()
    };
    fs::write(&path_a, line_b.replace(&since(&line_b), &since(&line_a))).unwrap();

    env.run(&mut bot_event(&env, "2", "failed", &[]))
        .assert_success()
        .assert_stderr_contains("names a post that is not it");
    assert!(of_run(&server.rest().replies(&post_b), "2").is_empty());
    assert_eq!(of_run(&roots(&server, &seed), "2").len(), 1);
    // The fix of job A says nothing on job B's post.
    fs::write(&path_a, line_b.replace(&since(&line_b), &since(&line_a))).unwrap();
    assert_eq!(bot_run(&env, "3", "succeeded", &[])["transition"], "fixed");
    assert!(server.rest().patch_history(&post_b).is_empty());
    let b = server.rest().post(&post_b).unwrap();
    assert!(!b.message.contains("fixed by"), "{}", b.message);
}

/// Review of issue 18: in Redis, a planted key of another type (or a huge value) where
/// the job's record of its breaking post is kept. The record is read for the thread
/// only: it costs the thread (the run posts in the channel), not the post.
#[test]
fn a_job_record_of_another_type_in_redis_costs_the_thread_not_the_post() {
    let Some(redis) = RedisServer::start("bot_threads_forged_job_record") else {
        return;
    };
    let (env, server, seed) = setup();
    let url = redis.url();
    let store = ["--dedupe-store", url.as_str()];
    bot_run(&env, "1", "failed", &store);
    let keys: Vec<String> = redis.query(&["KEYS", "mmnotify:dedupe:runpost:*"]);
    let job_key = keys
        .iter()
        .find(|k| redis.query::<String>(&["GET", k]).contains(" since="))
        .expect("the job's record")
        .clone();
    let _: () = redis.query(&["DEL", &job_key]);
    let _: () = redis.query(&["HSET", &job_key, "f", "v"]);
    let run = env.run(&mut bot_event(&env, "2", "failed", &store));
    run.assert_success();
    assert_eq!(run.json()["transition"], "still_failing");
    assert_eq!(of_run(&roots(&server, &seed), "2").len(), 1);
}

/// Review of issue 18: the run key (repository and run id, fields of the event a builder
/// sends) went as it was into the bot's warnings and `-v` lines: an escape sequence or a
/// bidi override in a run id reached the terminal or the gateway's log.
#[test]
fn a_run_id_with_escapes_never_reaches_the_terminal_in_bot_messages() {
    let (env, server, seed) = setup();
    let run_id = "7\u{1b}]0;owned\u{7}\u{202e}txt";
    env.run(&mut bot_event(&env, run_id, "running", &[]))
        .assert_success();
    server.rest().delete_post(&roots(&server, &seed)[0].id);
    let out = env.run(&mut bot_event(&env, run_id, "failed", &["-v"]));
    out.assert_success()
        .assert_stderr_contains("was deleted: posting it again");
    let dup = env.run(&mut bot_event(&env, run_id, "failed", &["-v"]));
    dup.assert_success()
        .assert_stderr_contains("was already posted");
    for bad in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!out.stderr.contains(bad), "{bad:?} reached stderr");
        assert!(!dup.stderr.contains(bad), "{bad:?} reached stderr");
    }
}

/// Review of issue 18: a planted record naming a post in a channel the bot cannot read
/// (the server answers its GET with 403). That post is not the run's nor the job's: the
/// run posts in the channel. It used to fail every event of the job (exit 43, telling
/// the operator to add the bot to ~builds, where it is).
#[test]
fn a_record_naming_a_post_the_bot_cannot_read_is_not_trusted() {
    let (env, server, seed) = setup();
    bot_run(&env, "1", "failed", &[]);
    let hidden = server
        .rest()
        .insert_post(&seed.alice, &seed.secret, "", "not for bots");
    let (path, line) = job_records(&env).remove(0);
    let breaking = line.split_whitespace().next().unwrap().to_string();
    fs::write(&path, line.replacen(&breaking, &hidden, 1)).unwrap();
    env.run(&mut bot_event(&env, "2", "running", &[]))
        .assert_success()
        .assert_stderr_contains("names a post that is not it");
    let channel = roots(&server, &seed);
    let run2 = of_run(&channel, "2");
    assert_eq!(run2.len(), 1, "run 2 in the channel");
    // The run's own record naming it: the run's post is looked for, and patched.
    let run_record = fs::read_dir(env.state().join("dedupe/runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| fs::read_to_string(p).unwrap().starts_with(&run2[0].id))
        .expect("run 2's record");
    fs::write(&run_record, format!("{hidden} 1\n")).unwrap();
    env.run(&mut bot_event(&env, "2", "failed", &[]))
        .assert_success()
        .assert_stderr_contains("names a post that is not the run's");
    assert_eq!(of_run(&roots(&server, &seed), "2").len(), 1);
    assert_eq!(server.rest().patch_history(&run2[0].id).len(), 1);
    assert_eq!(server.rest().post(&hidden).unwrap().message, "not for bots");
}

/// Review of issue 18: the run's post is deleted between its update and the reply with
/// the outcome's details (the server refuses the reply's `root_id`). The run's post is made
/// again, with its reply; the event used to exit 40 with the outcome nowhere in the
/// channel.
#[test]
fn a_runs_post_deleted_before_its_reply_is_made_again_with_the_reply() {
    let (env, server, seed) = setup();
    bot_run(&env, "7", "running", &[]);
    let first = roots(&server, &seed)[0].id.clone();
    // users/me, the channel, the GET and the patch of the run's post answer as usual.
    server.script([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Response {
            status: 400,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: r#"{"id":"api.post.create_post.root_id.app_error","message":"Invalid RootId parameter.","detailed_error":"","request_id":"mq1wtzrqa3fq9m7gmgb8j8bh3y","status_code":400}"#
                .into(),
        },
    ]);
    let out = env.run(&mut bot_event(&env, "7", "failed", &["--no-spool"]));
    out.assert_success();
    // The user's delete that the refused reply told of (the emulator kept the post).
    server.rest().delete_post(&first);
    let mine = of_run(&roots(&server, &seed), "7")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_ne!(mine[0].id, first);
    assert_eq!(out.json()["post_id"], mine[0].id.as_str());
    assert!(mine[0].message.contains("failed"), "{}", mine[0].message);
    assert_eq!(server.rest().replies(&mine[0].id).len(), 1, "its details");
}

/// Review of issue 18 (held): a job record naming the breaking run's own reply (the
/// bot's post, of that run and job, but a reply) is not a thread to reply in: a reply
/// of a reply would be refused, and the run posts in the channel.
#[test]
fn a_record_naming_the_breaking_runs_reply_is_not_the_thread() {
    let (env, server, seed) = setup();
    bot_run(&env, "1", "failed", &[]);
    let breaking = roots(&server, &seed)[0].id.clone();
    let reply = server.rest().replies(&breaking)[0].id.clone();
    let (path, line) = job_records(&env).remove(0);
    fs::write(&path, line.replacen(&breaking, &reply, 1)).unwrap();
    env.run(&mut bot_event(&env, "2", "running", &[]))
        .assert_success()
        .assert_stderr_contains("names a post that is not it");
    assert_eq!(of_run(&roots(&server, &seed), "2").len(), 1);
    assert!(server.rest().replies(&reply).is_empty());
}
