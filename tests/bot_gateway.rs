//! A bot post follows the webhook's rules for server failures (contract: "Bot account",
//! "Answers": "429 and 5xx are retried as webhook posts are … The dedupe, spool and gateway
//! semantics are unchanged"), at every request a bot event makes: the look-ups before the
//! post (the recorded post's check, the breaking post of a broken job, the channel's posts
//! after a failed attempt), the create, the patch, and the replies. In a gateway a network
//! failure or 408/429/502–504 after retries leaves the entry pending, posted once later; a
//! 500 or a 4xx is final (acknowledged, copied to the dead stream once). In `build` the
//! first are spooled (exit 6) and `flush` finishes the same run's posts; a 500 is not
//! spooled. Faults are scripted for one endpoint (`Rest::script_on`), so the other
//! requests of an event answer normally.

use std::time::{Duration, Instant};

use crate::bot::{bot_event, enqueue_on, gateway, roots, GROUP, STREAM};
use crate::support::{Call, Env, Fault, MockServer, RedisServer, Seed};

const DEAD: &str = "mmnotify:events:dead";

/// How many requests went to `call` (the scripted faults included).
fn count(server: &MockServer, call: Call) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| {
            let path = r.path.split('?').next().unwrap_or_default();
            let segs: Vec<&str> = path.trim_start_matches("/api/v4/").split('/').collect();
            matches!(
                (call, r.method.as_str(), segs.as_slice()),
                (Call::CreatePost, "POST", ["posts"])
                    | (Call::GetPost, "GET", ["posts", _])
                    | (Call::PatchPost, "PUT", ["posts", _, "patch"])
                    | (Call::ChannelPosts, "GET", ["channels", _, "posts"])
            )
        })
        .count()
}

/// Each answer a retry may cure, as a proxy or the server gives it.
fn retryable_faults() -> [(&'static str, Fault); 5] {
    [
        ("408", Fault::Status(408)),
        ("502", Fault::Status(502)),
        ("503", Fault::Status(503)),
        ("504", Fault::Status(504)),
        (
            "429",
            Fault::RateLimited {
                retry_after: "1".into(),
            },
        ),
    ]
}

/// One enqueued event of run `run` of the job on `branch`.
fn enqueue(env: &Env, redis: &RedisServer, branch: &str, run: &str, state: &str) {
    env.run(&mut enqueue_on(env, redis, branch, (run, state), "node-a"))
        .assert_success();
}

/// A gateway that tries each entry once (`--retries 0`) and takes a pending one again
/// after 500 ms; stopped with SIGTERM once `done` holds and nothing is pending.
fn through_gateway(
    env: &Env,
    redis: &RedisServer,
    what: &str,
    done: impl Fn() -> bool,
) -> crate::support::Run {
    let g = env.spawn(&mut gateway(env, redis, "gw-1", &["--retries", "0"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(done() && redis.pending(STREAM, GROUP) == 0) {
        if Instant::now() > deadline {
            g.signal(libc::SIGTERM);
            let run = env.wait(g);
            panic!(
                "timed out waiting for {what}; the gateway said:\n{}",
                run.stderr
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    // Anything more it would do (a second post) has time to show.
    std::thread::sleep(Duration::from_millis(700));
    g.signal(libc::SIGTERM);
    env.wait(g)
}

/// The posts of the run `acme/app#run`: its own post and every reply in its thread.
fn run_posts(server: &MockServer, seed: &Seed, run: &str) -> Vec<crate::support::RestPost> {
    let key = format!("acme/app#{run}");
    server
        .rest()
        .posts_in(&seed.builds)
        .into_iter()
        .filter(|p| !p.is_deleted() && crate::bot::run_key_of(p).as_deref() == Some(key.as_str()))
        .collect()
}

#[test]
fn bot_gateway_leaves_an_entry_pending_on_a_503_and_posts_it_once_later() {
    let Some(redis) = RedisServer::start("bot_gw_503_create") else {
        return;
    };
    let (env, server, seed) = crate::bot::setup();
    server
        .rest()
        .script_on(Call::CreatePost, [Fault::Status(503)]);
    enqueue(&env, &redis, "main", "1", "failed");
    let run = through_gateway(&env, &redis, "the run's post and reply", || {
        server.rest().all_posts().len() >= 2
    });
    run.assert_success()
        .assert_stderr_contains("left pending")
        .assert_stderr_contains("HTTP 503");
    assert_eq!(redis.xlen(DEAD), 0, "{:?}", redis.entries(DEAD));
    let roots = roots(&server, &seed);
    assert_eq!(roots.len(), 1, "one post for the run");
    assert_eq!(server.rest().replies(&roots[0].id).len(), 1, "one reply");
    assert_eq!(server.rest().all_posts().len(), 2);
    // The 503, then the post and its reply.
    assert_eq!(count(&server, Call::CreatePost), 3);
}

/// A run whose `running` event a gateway posted; then its `failed` event meets the
/// scripted `faults` (per endpoint): left pending as often as they fail it, then posted
/// once (the run's one post patched to `failed`, one reply), nothing dead-lettered.
fn a_later_event_meets(case: &str, faults: Vec<(Call, Fault)>) {
    let Some(redis) = RedisServer::start(&format!("bot_gw_{case}")) else {
        return;
    };
    let (env, server, seed) = crate::bot::setup();
    enqueue(&env, &redis, "main", "2", "running");
    through_gateway(&env, &redis, "the running post", || {
        run_posts(&server, &seed, "2").len() == 1
    })
    .assert_success();
    let status = match &faults[faults.len() - 1].1 {
        Fault::Status(s) => s.to_string(),
        _ => "429".to_string(),
    };
    for (call, fault) in faults {
        server.rest().script_on(call, [fault]);
    }
    enqueue(&env, &redis, "main", "2", "failed");
    let run = through_gateway(&env, &redis, "the failed run's reply", || {
        run_posts(&server, &seed, "2").len() >= 2
    });
    run.assert_success()
        .assert_stderr_contains("left pending")
        .assert_stderr_contains(&format!("HTTP {status}"));
    assert_eq!(redis.xlen(DEAD), 0, "{case}: {:?}", redis.entries(DEAD));
    let posts = run_posts(&server, &seed, "2");
    assert_eq!(posts.len(), 2, "{case}: one post and one reply");
    let roots = roots(&server, &seed);
    assert_eq!(roots.len(), 1, "{case}");
    assert!(roots[0].message.contains("failed"), "{}", roots[0].message);
    assert_eq!(server.rest().replies(&roots[0].id).len(), 1, "{case}");
}

#[test]
fn bot_gateway_leaves_an_entry_pending_when_the_check_of_the_recorded_post_answers_502_to_504_or_429(
) {
    for (name, f) in retryable_faults() {
        a_later_event_meets(&format!("get_{name}"), vec![(Call::GetPost, f)]);
    }
}

#[test]
fn bot_gateway_leaves_an_entry_pending_when_the_patch_answers_502_to_504_or_429() {
    for (name, f) in retryable_faults() {
        a_later_event_meets(&format!("patch_{name}"), vec![(Call::PatchPost, f)]);
    }
}

#[test]
fn bot_gateway_leaves_an_entry_pending_when_the_reply_answers_502_to_504_or_429() {
    for (name, f) in retryable_faults() {
        a_later_event_meets(&format!("reply_{name}"), vec![(Call::CreatePost, f)]);
    }
}

/// The reply failed once; the next delivery looks for it among the channel's posts
/// before making it (an earlier attempt may have), and that look-up fails too.
#[test]
fn bot_gateway_leaves_an_entry_pending_when_the_look_up_of_the_reply_answers_502_to_504_or_429() {
    for (name, f) in retryable_faults() {
        a_later_event_meets(
            &format!("lookup_{name}"),
            vec![
                (Call::CreatePost, Fault::Status(503)),
                (Call::ChannelPosts, f),
            ],
        );
    }
}

/// Both events through the gateway: the `failed` one reads the recorded post first.
#[test]
fn bot_gateway_leaves_an_entry_pending_when_the_check_of_the_recorded_post_answers_503() {
    let Some(redis) = RedisServer::start("bot_gw_get_post_503") else {
        return;
    };
    let (env, server, seed) = crate::bot::setup();
    enqueue(&env, &redis, "main", "3", "running");
    let run = through_gateway(&env, &redis, "the running post", || {
        run_posts(&server, &seed, "3").len() == 1
    });
    run.assert_success();
    server.rest().script_on(Call::GetPost, [Fault::Status(503)]);
    enqueue(&env, &redis, "main", "3", "failed");
    let run = through_gateway(&env, &redis, "the failed run's reply", || {
        run_posts(&server, &seed, "3").len() >= 2
    });
    run.assert_success()
        .assert_stderr_contains("left pending")
        .assert_stderr_contains("HTTP 503");
    assert_eq!(redis.xlen(DEAD), 0, "{:?}", redis.entries(DEAD));
    let roots = roots(&server, &seed);
    assert_eq!(roots.len(), 1);
    assert!(roots[0].message.contains("failed"), "{}", roots[0].message);
    assert_eq!(server.rest().replies(&roots[0].id).len(), 1);
    assert_eq!(count(&server, Call::GetPost), 2, "the 503, then the check");
}

/// A network failure: the reply's connection is reset after the request was sent.
#[test]
fn bot_gateway_leaves_an_entry_pending_on_a_connection_reset_and_replies_once() {
    let Some(redis) = RedisServer::start("bot_gw_reset") else {
        return;
    };
    let (env, server, seed) = crate::bot::setup();
    server.rest().script_on(
        Call::CreatePost,
        [Fault::Delay(Duration::ZERO), Fault::Reset],
    );
    enqueue(&env, &redis, "main", "5", "failed");
    let run = through_gateway(&env, &redis, "the run's post and reply", || {
        run_posts(&server, &seed, "5").len() >= 2
    });
    run.assert_success().assert_stderr_contains("left pending");
    assert_eq!(redis.xlen(DEAD), 0, "{:?}", redis.entries(DEAD));
    let roots = roots(&server, &seed);
    assert_eq!(roots.len(), 1);
    assert_eq!(server.rest().replies(&roots[0].id).len(), 1, "one reply");
}

/// The patch answers 403 and the read that tells a deleted post from a refusal answers
/// 503: whether the post is gone is not known, so the entry stays pending (not a final
/// 403), and the next delivery brings the run's post up to date.
#[test]
fn bot_gateway_leaves_an_entry_pending_when_the_read_after_a_403_answers_503() {
    a_later_event_meets(
        "patch_403_get_503",
        vec![
            (Call::PatchPost, Fault::Status(403)),
            (Call::GetPost, Fault::Delay(Duration::ZERO)),
            (Call::GetPost, Fault::Status(503)),
        ],
    );
}

/// A broken job: run 10 broke it, so run 11's post is a reply in run 10's thread. The
/// breaking post's check (`GET /posts/{id}`) and the reply in its thread each meet a 503
/// once: the entry stays pending (it does not post in the channel instead), then the
/// reply is made once in the thread.
#[test]
fn bot_gateway_leaves_a_broken_jobs_run_pending_on_a_503_and_replies_once_in_the_thread() {
    for (call, nth) in [(Call::GetPost, 1), (Call::CreatePost, 1)] {
        let Some(redis) = RedisServer::start(&format!("bot_gw_thread_{call:?}")) else {
            return;
        };
        let (env, server, seed) = crate::bot::setup();
        enqueue(&env, &redis, "main", "10", "failed");
        through_gateway(&env, &redis, "the breaking post", || {
            run_posts(&server, &seed, "10").len() == 2
        })
        .assert_success();
        let breaking = roots(&server, &seed)[0].id.clone();
        let faults: Vec<Fault> = (1..nth)
            .map(|_| Fault::Delay(Duration::ZERO))
            .chain([Fault::Status(503)])
            .collect();
        server.rest().script_on(call, faults);
        enqueue(&env, &redis, "main", "11", "failed");
        let run = through_gateway(&env, &redis, "run 11's reply", || {
            !run_posts(&server, &seed, "11").is_empty()
        });
        run.assert_success()
            .assert_stderr_contains("left pending")
            .assert_stderr_contains("HTTP 503");
        assert_eq!(redis.xlen(DEAD), 0, "{call:?}: {:?}", redis.entries(DEAD));
        let posts = run_posts(&server, &seed, "11");
        assert_eq!(posts.len(), 1, "{call:?}: one post for run 11: {posts:?}");
        assert_eq!(
            posts[0].root_id, breaking,
            "{call:?}: in the breaking thread"
        );
        assert_eq!(roots(&server, &seed).len(), 1, "{call:?}: no channel post");
    }
}

/// The run that fixes a broken job: the breaking post's patch ("fixed by run N") meets a
/// 503 once. The entry stays pending and the retry marks it, without a second post.
#[test]
fn bot_gateway_marks_the_breaking_post_fixed_after_a_503() {
    let Some(redis) = RedisServer::start("bot_gw_mark_fixed_503") else {
        return;
    };
    let (env, server, seed) = crate::bot::setup();
    enqueue(&env, &redis, "main", "20", "failed");
    through_gateway(&env, &redis, "the breaking post", || {
        run_posts(&server, &seed, "20").len() == 2
    })
    .assert_success();
    let breaking = roots(&server, &seed)[0].id.clone();
    // The fix: its post in the thread, its channel post, its reply; then the patch of the
    // breaking post (the only patch of this event).
    server
        .rest()
        .script_on(Call::PatchPost, [Fault::Status(503)]);
    enqueue(&env, &redis, "main", "21", "succeeded");
    let run = through_gateway(&env, &redis, "the breaking post marked fixed", || {
        server
            .rest()
            .post(&breaking)
            .is_some_and(|p| p.message.contains("fixed by run 21"))
    });
    run.assert_success()
        .assert_stderr_contains("left pending")
        .assert_stderr_contains("HTTP 503");
    assert_eq!(redis.xlen(DEAD), 0, "{:?}", redis.entries(DEAD));
    let posts = run_posts(&server, &seed, "21");
    // Its post in the thread, its channel post ("fixed") and the reply under it.
    assert_eq!(posts.len(), 3, "{posts:?}");
    assert_eq!(server.rest().patch_history(&breaking).len(), 1);
}

/// A gateway checks the bot's token and channel once, at start (and at SIGHUP): a 503
/// there ends it before it takes any entry (exit 6; the unit restarts it), so no entry
/// is left pending or dead-lettered for it.
#[test]
fn a_bot_gateway_whose_server_answers_503_at_start_exits_6_and_takes_no_entry() {
    let Some(redis) = RedisServer::start("bot_gw_start_503") else {
        return;
    };
    let (env, server, seed) = crate::bot::setup();
    enqueue(&env, &redis, "main", "80", "failed");
    server
        .rest()
        .script_on(Call::ChannelByName, [Fault::Status(503)]);
    let run = env.run(&mut gateway(&env, &redis, "gw-1", &["--retries", "0"]));
    run.assert_code(6).assert_stderr_contains("HTTP 503");
    // Stopped before it made its group: the entry waits in the stream, untaken.
    assert_eq!(redis.xlen(STREAM), 1);
    assert_eq!(redis.xlen(DEAD), 0);
    assert!(roots(&server, &seed).is_empty());
    through_gateway(&env, &redis, "the post", || {
        run_posts(&server, &seed, "80").len() == 2
    })
    .assert_success();
}

/// A 500 (the server was reached and may have saved part of it) and a 4xx are final: the
/// entry is acknowledged and dead-lettered once, never tried again.
#[test]
fn bot_gateway_dead_letters_an_entry_answered_500_once() {
    for (call, fault) in [
        (Call::CreatePost, Fault::Status(500)),
        (Call::GetPost, Fault::Status(500)),
        (Call::CreatePost, Fault::Status(400)),
    ] {
        let Some(redis) = RedisServer::start(&format!("bot_gw_final_{call:?}_{fault:?}")) else {
            return;
        };
        let (env, server, seed) = crate::bot::setup();
        if call == Call::GetPost {
            enqueue(&env, &redis, "main", "30", "running");
            through_gateway(&env, &redis, "the running post", || {
                run_posts(&server, &seed, "30").len() == 1
            })
            .assert_success();
        }
        let before = count(&server, call);
        server.rest().script_on(call, [fault.clone()]);
        enqueue(&env, &redis, "main", "30", "failed");
        let run = through_gateway(&env, &redis, "the dead letter", || redis.xlen(DEAD) == 1);
        run.assert_success();
        assert!(
            !run.stderr.contains("left pending,"),
            "{call:?} {fault:?}: {}",
            run.stderr
        );
        let dead = redis.entries(DEAD);
        assert_eq!(dead.len(), 1, "{call:?} {fault:?}: {dead:?}");
        assert_eq!(dead[0].1["deliveries"], "1", "{call:?} {fault:?}");
        assert_eq!(
            count(&server, call),
            before + 1,
            "{call:?} {fault:?}: tried once"
        );
        assert!(
            run_posts(&server, &seed, "30").len() <= 1,
            "{call:?} {fault:?}: no reply"
        );
    }
}

/// A server in developer mode whose session store fails answers 500 echoing the bot
/// token in `detailed_error`: final, and the token shows nowhere (output, spool, the
/// dead stream). The leak watch checks every run's output and state directory.
#[test]
fn a_5xx_echoing_the_bot_token_never_shows_it() {
    let (env, server, seed) = crate::bot::setup();
    server.rest().set_developer_mode(true);
    server
        .rest()
        .script_on(Call::CreatePost, [Fault::SessionStoreFailed]);
    let run = env.run(&mut bot_event(&env, "40", "failed", &[]));
    run.assert_code(6);
    assert_eq!(run.json()["status"], "failed");
    assert_eq!(run.json()["http_status"], 500);
    assert!(env.spool_items().is_empty(), "a 500 is not spooled");
    assert_eq!(count(&server, Call::CreatePost), 1, "a 500 is not retried");

    let Some(redis) = RedisServer::start("bot_gw_token_echo") else {
        return;
    };
    server
        .rest()
        .script_on(Call::CreatePost, [Fault::SessionStoreFailed]);
    enqueue(&env, &redis, "main", "41", "failed");
    through_gateway(&env, &redis, "the dead letter", || redis.xlen(DEAD) == 1).assert_success();
    for (_, fields) in redis.entries(DEAD) {
        for v in fields.values() {
            assert!(
                !v.contains(&seed.bot.token),
                "the dead stream holds the token"
            );
        }
    }
}

// ---- build --bot, single shot -----------------------------------------------------------

/// `build --bot` whose `nth` request to `call` meets a retryable answer on every attempt:
/// exit 6, spooled with the run; `flush` then finishes the same run's posts once.
fn spooled_then_flushed(call: Call, nth: usize, status: u16) {
    let (env, server, seed) = crate::bot::setup();
    env.run(&mut bot_event(&env, "50", "running", &[]))
        .assert_success();
    let faults: Vec<Fault> = (1..nth)
        .map(|_| Fault::Delay(Duration::ZERO))
        .chain([Fault::Status(status), Fault::Status(status)])
        .collect();
    server.rest().script_on(call, faults);
    let run = env.run(&mut bot_event(&env, "50", "failed", &["--retries", "1"]));
    run.assert_code(6)
        .assert_stderr_contains(&format!("HTTP {status}"))
        .assert_stderr_contains("spool");
    assert_eq!(run.json()["status"], "spooled", "{call:?} {status}");
    assert_eq!(run.json()["http_status"], status, "{call:?} {status}");
    assert_eq!(env.spool_items().len(), 1);
    env.run(&mut env.flush(&[])).assert_success();
    assert!(env.spool_items().is_empty());
    let roots = roots(&server, &seed);
    assert_eq!(roots.len(), 1, "{call:?} {status}: the same post");
    assert!(roots[0].message.contains("failed"), "{}", roots[0].message);
    assert_eq!(
        server.rest().replies(&roots[0].id).len(),
        1,
        "{call:?} {status}: one reply"
    );
    // Delivered: the event is a duplicate now.
    let again = env.run(&mut bot_event(&env, "50", "failed", &[]));
    assert_eq!(again.json()["status"], "duplicate");
}

#[test]
fn build_bot_spools_a_post_answered_502_to_504_after_retries_and_flush_posts_it_once() {
    for status in [502, 503, 504] {
        spooled_then_flushed(Call::GetPost, 1, status);
        spooled_then_flushed(Call::PatchPost, 1, status);
        spooled_then_flushed(Call::CreatePost, 1, status);
    }
}

/// A spooled event that meets a 500 at `flush` is final, as a webhook item is: moved to
/// `spool/rejected/`, not kept to be tried again.
#[test]
fn flush_moves_a_bot_item_answered_500_to_rejected() {
    let (env, server, seed) = crate::bot::setup();
    server
        .rest()
        .script_on(Call::CreatePost, [Fault::Status(503), Fault::Status(500)]);
    env.run(&mut bot_event(&env, "70", "failed", &["--retries", "0"]))
        .assert_code(6);
    assert_eq!(env.spool_items().len(), 1);
    let run = env.run(&mut env.flush(&[]));
    run.assert_stderr_contains("HTTP 500");
    assert!(env.spool_items().is_empty(), "{}", run.stderr);
    let rejected = std::fs::read_dir(env.state().join("spool/rejected")).map_or(0, Iterator::count);
    assert!(rejected >= 1, "{}", run.stderr);
    assert!(roots(&server, &seed).is_empty());
}

/// The one 500 tried again: `api.post.deduplicate_create_post.pending` (mattermost-rest.md
/// §4.5: an earlier create with this `pending_post_id` is still being saved; a repeat
/// returns that post). Any other 500 is not (`build_bot_does_not_spool_a_500`).
#[test]
fn build_bot_retries_a_create_the_server_is_still_saving() {
    let (env, server, seed) = crate::bot::setup();
    let body = r#"{"id":"api.post.deduplicate_create_post.pending","message":"Post rejected by server. Please try again later.","detailed_error":"","request_id":"b1xkq3y8ytgyfm9ptyc5tc7jkw","status_code":500}"#;
    server.rest().script_on(
        Call::CreatePost,
        [Fault::Response {
            status: 500,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
        }],
    );
    let run = env.run(&mut bot_event(&env, "90", "running", &[]));
    run.assert_success();
    assert_eq!(run.json()["status"], "posted");
    assert_eq!(
        count(&server, Call::CreatePost),
        2,
        "the 500, then the post"
    );
    assert_eq!(roots(&server, &seed).len(), 1);
}

/// A 500 is not spooled (contract, "Spool": it may have posted part of the message):
/// exit 6, `failed`, nothing for `flush`.
#[test]
fn build_bot_does_not_spool_a_500() {
    for call in [Call::GetPost, Call::PatchPost, Call::CreatePost] {
        let (env, server, _) = crate::bot::setup();
        env.run(&mut bot_event(&env, "60", "running", &[]))
            .assert_success();
        server.rest().script_on(call, [Fault::Status(500)]);
        let run = env.run(&mut bot_event(&env, "60", "failed", &[]));
        run.assert_code(6).assert_stderr_contains("HTTP 500");
        assert_eq!(run.json()["status"], "failed", "{call:?}");
        assert!(
            env.spool_items().is_empty(),
            "{call:?}: a 500 is not spooled"
        );
    }
}

/// A 501 is exit 7 as for a webhook (the exit-code table), final: not spooled.
#[test]
fn build_bot_answered_501_is_exit_7_and_not_spooled() {
    let (env, server, _) = crate::bot::setup();
    server
        .rest()
        .script_on(Call::CreatePost, [Fault::Status(501)]);
    let run = env.run(&mut bot_event(&env, "61", "failed", &[]));
    run.assert_code(7).assert_stderr_contains("HTTP 501");
    assert_eq!(run.json()["exit_code"], 7, "{}", run.stdout);
    assert!(env.spool_items().is_empty(), "a 501 is not spooled");
}

/// The fixing run's mark of the breaking post meets a 503 at every delivery: its entry is
/// delivered --max-deliveries times, its posts made once. The last delivery, which no
/// other follows, warns about the mark rather than failing the posted event: it is
/// acknowledged (not dead-lettered as "not posted") and its run joins the job's history,
/// so the job's next success is no second "fixed".
#[test]
fn bot_gateway_whose_mark_fixed_meets_503_at_every_delivery_posts_once_and_records_the_run() {
    let Some(redis) = RedisServer::start("bot_gw_mark_fixed_503_always") else {
        return;
    };
    let (env, server, seed) = crate::bot::setup();
    enqueue(&env, &redis, "main", "20", "failed");
    through_gateway(&env, &redis, "the breaking post", || {
        run_posts(&server, &seed, "20").len() == 2
    })
    .assert_success();
    // Delivery 1: the mark (its only patch) meets 503. Delivery 2: its own post's patch
    // goes through, the mark meets 503 again.
    server.rest().script_on(
        Call::PatchPost,
        [
            Fault::Status(503),
            Fault::Delay(Duration::ZERO),
            Fault::Status(503),
        ],
    );
    enqueue(&env, &redis, "main", "21", "succeeded");
    let g = env.spawn(&mut gateway(
        &env,
        &redis,
        "gw-1",
        &["--retries", "0", "--max-deliveries", "2"],
    ));
    crate::bot::wait_until("the second delivery", Duration::from_secs(30), || {
        count(&server, Call::PatchPost) == 3 && redis.pending(STREAM, GROUP) == 0
    });
    std::thread::sleep(Duration::from_millis(700));
    g.signal(libc::SIGTERM);
    let run = env.wait(g);
    run.assert_success()
        .assert_stderr_contains("left pending")
        .assert_stderr_contains("cannot mark the post that broke the job as fixed");
    assert_eq!(redis.xlen(DEAD), 0, "{:?}", redis.entries(DEAD));
    assert_eq!(run_posts(&server, &seed, "21").len(), 3, "posted once");
    // Run 21 is in the job's history: run 22 is a plain success, with no "fixed" post.
    enqueue(&env, &redis, "main", "22", "succeeded");
    through_gateway(&env, &redis, "run 22", || {
        !run_posts(&server, &seed, "22").is_empty()
    })
    .assert_success();
    let posts: Vec<_> = run_posts(&server, &seed, "22")
        .into_iter()
        .map(|p| p.message)
        .collect();
    assert!(
        posts.iter().all(|m| !m.contains("fixed")),
        "run 22 is no fix: {posts:#?}"
    );
}
