//! The second adversarial review of issue 14's fixes: what a hostile job (on the run
//! socket), a hostile Redis and hostile input could still get out of them.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{
    Env, Fault, MockServer, RedisServer, ServerOptions, Spawned, HOOK_ID, OTHER_HOOK_ID,
};

/// A Redis password the leak watch looks for in every output and in the state dir.
const REDIS_PASSWORD: &str = "Rv9qLmT2xWz7";

/// Ends the waiting job when dropped, also when the test fails before it does.
struct Release(PathBuf);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, "");
    }
}

/// `mmnotify run` whose job only publishes its run socket's path and waits for its
/// [`Release`]: the test itself then speaks on the socket as a hostile job would (same
/// user).
fn waiting_job(env: &Env) -> (Spawned, PathBuf, Release) {
    let path_file = env.root().join("socket.path");
    let release = env.root().join("release");
    let script = format!(
        "printf %s \"$MMNOTIFY_RUN_SOCKET\" > {p}.tmp && mv {p}.tmp {p}; \
         while [ ! -e {r} ]; do sleep 0.05; done",
        p = path_file.display(),
        r = release.display()
    );
    let spawned = env.spawn(env.cmd().args([
        "run",
        "--webhook",
        "hook",
        "--name",
        "waits",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    let socket = loop {
        if let Ok(p) = std::fs::read_to_string(&path_file) {
            break PathBuf::from(p);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (spawned, socket, Release(release))
}

/// One request line on the run socket, and the parent's answer.
fn forge(socket: &Path, request: &Value) -> Value {
    let mut s = UnixStream::connect(socket).expect("connect to the run socket");
    s.write_all(format!("{request}\n").as_bytes())
        .expect("write the request");
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .expect("read the answer");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// A relayed build as an inner `mmnotify build` sends it, with `store` as its dedupe store.
fn relayed_build(store: &Value) -> Value {
    json!({
        "v": 2,
        "kind": "build",
        "webhook": null,
        "payload": {"text": "forged"},
        "spool": true,
        "budget": {"timeout_ms": 2000, "attempt_timeout_ms": 1000, "retries": 0},
        "dedupe": {"run_id": "r1", "state": "failed", "ttl_ms": 60000, "store": store},
    })
}

fn spool_files(env: &Env) -> Vec<String> {
    std::fs::read_dir(env.state().join("spool"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// The `source` of a job's dedupe store is what a spooled build records (and `flush`
/// quotes): a forged one holding the Redis password or another webhook's URL must be
/// refused, not written to disk. Only `file:PATH`, `env` and `flag` are sources.
#[test]
fn a_forged_store_source_is_refused_and_never_spooled() {
    let (mut env, _server): (Env, MockServer) = crate::support::hooked(ServerOptions::default());
    env.secret(REDIS_PASSWORD);
    let (spawned, socket, release) = waiting_job(&env);
    // Nothing listens on port 1: without the fix the build is spooled with its source.
    let url = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:1/0");
    for source in [
        url.clone(),
        format!("file:/srv/x/hooks/{OTHER_HOOK_ID}"),
        "name:ops".to_string(),
        "file:relative/path".to_string(),
    ] {
        let answer = forge(
            &socket,
            &relayed_build(&json!({"url": url, "source": source})),
        );
        assert_eq!(answer["code"], 4, "{answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains("source"), "{answer}");
    }
    assert!(spool_files(&env).is_empty(), "{:?}", spool_files(&env));
    // A true source still spools (the store is away), recording the source only.
    let answer = forge(
        &socket,
        &relayed_build(&json!({"url": url, "source": "env"})),
    );
    assert_eq!(answer["code"], 5, "{answer}");
    assert_eq!(spool_files(&env).len(), 1);
    drop(release);
    env.wait(spawned).assert_success();
}

/// `redis://PASSWORD:@host` is a password with a stray colon, as `redis://PASSWORD@host`
/// is a password without one: taken for a user name with an empty password it was
/// accepted as a flag and printed in clear (and the server still asked for a password).
#[test]
fn a_redis_password_before_an_empty_one_is_a_password() {
    let Some(redis) = RedisServer::start_with("password_colon", Some(REDIS_PASSWORD)) else {
        return;
    };
    let mut env = Env::new();
    env.secret(REDIS_PASSWORD);
    let url = format!("redis://{REDIS_PASSWORD}:@127.0.0.1:{}/0", redis.port());
    let build = |extra: &[&str]| {
        let mut c = env.cmd();
        c.args(["build", "--no-env", "--enqueue", "--workflow", "ci"])
            .args(["--state", "failed", "--run-id", "7"])
            .args(extra);
        c
    };
    env.run(&mut build(&["--queue", &url]))
        .assert_code(2)
        .assert_stderr_contains("password");
    env.run(build(&["-v", "-o", "json"]).env("MMNOTIFY_QUEUE", &url))
        .assert_success()
        .assert_stderr_contains(&format!("redis://…@127.0.0.1:{}/0", redis.port()));
    assert_eq!(redis.xlen("mmnotify:events"), 1);
}

/// A line of stdout is JSON: redaction must leave it JSON. Scrubbed as text, a hook URL
/// folded after its slash (`/hooks/\n<id>` in JSON) lost the `n` of its escape to the id,
/// leaving `\…` (an invalid escape) in `--dry-run`'s payload, in the outcome's echo of an
/// event, and in a gateway's dead-letter copy. The id itself is still redacted (the leak
/// watch checks it).
#[test]
fn redaction_keeps_json_valid_after_an_escape() {
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let texts = [
        format!("see /hooks/\n{OTHER_HOOK_ID}"),
        format!("see /hooks/\r\n\t{OTHER_HOOK_ID}x"),
        format!("see /hooks/\u{1}{OTHER_HOOK_ID}"),
        format!("see /hooks\\\n{OTHER_HOOK_ID}"),
    ];
    for text in &texts {
        for extra in [&[][..], &["-o", "json"][..]] {
            let run = env.run(
                env.cmd()
                    .args(["send", "--webhook", "hook", "--dry-run"])
                    .args(extra)
                    .arg(text),
            );
            run.assert_success();
            let out: Value = serde_json::from_str(run.stdout.trim())
                .unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
            let payload = out.get("payload").unwrap_or(&out);
            assert!(payload["text"].as_str().unwrap().starts_with("see /hooks"));
        }
        let run = env.run(
            env.cmd()
                .args(["build", "--no-env", "--webhook", "hook", "-o", "json"])
                .args(["--workflow", "ci", "--state", "failed", "--run-id", "5"])
                .args(["--branch", text]),
        );
        let out: Value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
        assert!(out["event"]["branch"].is_string(), "{out}");
    }
    drop(server);

    let Some(redis) = RedisServer::start("dead_letter_escape") else {
        return;
    };
    let event = json!({"workflow": "ci", "state": "bogus", "branch": &texts[0]}).to_string();
    let _: String = redis.query(&["XADD", "mmnotify:events", "*", "event", &event]);
    env.run(env.cmd().args([
        "build",
        "--consume",
        "--drain",
        "--webhook",
        "hook",
        "--queue",
        &redis.url(),
    ]));
    let dead = redis.entries("mmnotify:events:dead");
    assert_eq!(dead.len(), 1, "{dead:?}");
    let kept: Value = serde_json::from_str(&dead[0].1["event"])
        .unwrap_or_else(|e| panic!("{e}: {}", dead[0].1["event"]));
    assert_eq!(kept["state"], "bogus");
}

/// The doctor says "not created yet" only of a group that is not there: an error reading
/// the groups (here the ACL denies `XINFO`, which the gateway needs to trim) was taken
/// for a new set-up, with a ✓ and exit 0.
#[test]
fn doctor_does_not_take_a_denied_group_check_for_a_new_setup() {
    let Some(redis) = RedisServer::start("doctor_acl_xinfo") else {
        return;
    };
    let mut env = Env::new();
    env.secret(REDIS_PASSWORD);
    let _: String = redis.query(&["XADD", "mmnotify:events", "*", "event", "{}"]);
    let _: String = redis.query(&["XGROUP", "CREATE", "mmnotify:events", "mmnotify", "0"]);
    let _: String = redis.query(&[
        "ACL",
        "SETUSER",
        "limited",
        "on",
        &format!(">{REDIS_PASSWORD}"),
        "~*",
        "+@all",
        "-xinfo",
    ]);
    let url = format!(
        "redis://limited:{REDIS_PASSWORD}@127.0.0.1:{}/0",
        redis.port()
    );
    let run = env.run(env.cmd().arg("doctor").env("MMNOTIFY_QUEUE", &url));
    assert!(!run.stdout.contains("not created yet"), "{}", run.stdout);
    run.assert_code(3);
    assert!(run.stdout.contains("✗ group"), "{}", run.stdout);
    assert!(run.stdout.contains("ACL"), "{}", run.stdout);
}

/// A claim in the shared store that never expires (written by hand, restored from a
/// dump, or a hostile Redis) blocked `build` for ever, whatever its `--timeout`: a claim
/// without an expiry gets the waiter's budget, after which it is taken over with the
/// "posting anyway" warning.
#[test]
fn a_claim_without_an_expiry_blocks_no_longer_than_the_budget() {
    let Some(redis) = RedisServer::start("claim_no_expiry") else {
        return;
    };
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let build = || {
        let mut c = env.cmd();
        c.args(["build", "--no-env", "--webhook", "hook", "--workflow", "ci"])
            .args([
                "--state",
                "failed",
                "--run-id",
                "claim-1",
                "--timeout",
                "2s",
            ])
            .args(["--dedupe-store", &redis.url()]);
        c
    };
    env.run(&mut build()).assert_success();
    let done: Vec<String> = redis.query(&["KEYS", "mmnotify:dedupe:done:*"]);
    assert_eq!(done.len(), 1, "{done:?}");
    let key = done[0].trim_start_matches("mmnotify:dedupe:done:");
    let _: i64 = redis.query(&["DEL", &done[0]]);
    let _: String = redis.query(&["SET", &format!("mmnotify:dedupe:claim:{key}"), "forged"]);
    env.run(&mut build())
        .assert_success()
        .assert_stderr_contains("posting anyway");
    assert_eq!(server.posts().len(), 2);
}

/// The hint for a secrets file line written as a shell assignment quotes the variable's
/// name: a name made of the token (`<id>=https://…/hooks/<id>`, or `export HOOK_<id>=…`)
/// was printed as it is.
#[test]
fn the_shell_assignment_hint_never_quotes_a_token() {
    let (env, server) = crate::support::hooked(ServerOptions::default());
    for line in [
        format!("{HOOK_ID}={}", server.hook_url()),
        format!("export HOOK_{HOOK_ID}=\"{}\"", server.hook_url()),
    ] {
        env.write_secret("pasted", &format!("{line}\n"));
        env.run(env.cmd().args(["send", "--webhook", "pasted", "hi"]))
            .assert_code(3)
            .assert_stderr_contains("shell assignment");
    }
    assert!(server.posts().is_empty());
}

/// Names that anyone who could write a spool file or a Redis key chose reach the
/// terminal: `flush` quoted a spool item's source, and `doctor` a consumer's name, with
/// their escape sequences (which can rewrite what the terminal shows, or its title).
#[test]
fn names_from_the_spool_and_from_redis_reach_the_terminal_without_escapes() {
    const ESCAPE: &str = "\u{1b}]0;owned\u{7}\u{1b}[31m";
    let (env, _server) = crate::support::hooked(ServerOptions::default());
    env.write_secret(
        "down",
        &format!("http://127.0.0.1:1/hooks/{OTHER_HOOK_ID}\n"),
    );
    env.run(
        env.cmd()
            .args(["send", "--webhook", "down", "--retries", "0", "hi"]),
    )
    .assert_code(5);
    let spool = env.state().join("spool");
    let item = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a spooled item");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&item).unwrap()).unwrap();
    v["source"] = json!(format!("name:x{ESCAPE}"));
    std::fs::write(&item, v.to_string()).unwrap();
    let run = env.run(env.cmd().args(["flush", "-v"]));
    assert!(run.stderr.contains("name:x"), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);

    let Some(redis) = RedisServer::start("doctor_consumer_escape") else {
        return;
    };
    let _: String = redis.query(&["XADD", "mmnotify:events", "*", "event", "{}"]);
    let _: String = redis.query(&["XGROUP", "CREATE", "mmnotify:events", "mmnotify", "0"]);
    let consumer = format!("gw{ESCAPE}");
    let _: i64 = redis.query(&[
        "XGROUP",
        "CREATECONSUMER",
        "mmnotify:events",
        "mmnotify",
        &consumer,
    ]);
    let run = env.run(env.cmd().args(["doctor", "--queue", &redis.url()]));
    assert!(run.stdout.contains("consumers: gw"), "{}", run.stdout);
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
}

/// A report's cut through a hook URL whose separators are longer than the fixed
/// fragment `run` drops at a cut (many slashes, a slash percent-encoded again and again,
/// `&amp;` encoded again and again): the rest of the separators and the whole id, or a
/// piece of it, stayed after the cut marker.
#[test]
fn a_cut_through_long_separators_leaves_no_piece_of_an_id() {
    /// The bytes of a line `run` keeps (as in fuzz.rs).
    const RUN_TAIL_BYTES: usize = 12 * 1024;
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let file = env.root().join("job-output.txt");
    let script = format!("cat {}", file.display());
    let separators = [
        "/".repeat(80),
        format!("%{}2F", "25".repeat(40)),
        format!("&{}#47;", "amp;".repeat(25)),
    ];
    for sep in &separators {
        let secret = format!("https://chat.example/hooks{sep}{OTHER_HOOK_ID}");
        for kept in (30..secret.len() - 20).step_by(9) {
            let glued = "z0".repeat(RUN_TAIL_BYTES / 2);
            let glued = &glued[..RUN_TAIL_BYTES - kept];
            let line = format!("JOB:{}{secret}{glued}\n", "X".repeat(20_000));
            std::fs::write(&file, line).unwrap();
            server.clear();
            let mut c = env.cmd();
            c.args(["run", "--webhook", "hook", "--", "sh", "-c", &script]);
            env.run_job(&mut c, "JOB:").assert_success();
            let posts = server.posts();
            assert_eq!(posts.len(), 1);
            let report = &posts[0].message;
            for piece in OTHER_HOOK_ID.as_bytes().windows(5) {
                let piece = std::str::from_utf8(piece).unwrap();
                assert!(
                    !report.contains(piece),
                    "`{piece}` posted, {kept} bytes of {secret} kept: {}",
                    &report[report.find('…').unwrap_or(0)..][..160.min(report.len())]
                );
            }
        }
    }
}

/// A relative `Location` (`hooks/<id>`, resolved against `/hooks/<token>` it opens a
/// hook of the same server) or one in a query (`?next=hooks/<id>`) has no separator in
/// front of `hooks`: it was printed with its id.
#[test]
fn a_relative_redirect_to_another_hook_is_redacted() {
    let (env, server) = crate::support::hooked(ServerOptions::default());
    for location in [
        format!("hooks/{OTHER_HOOK_ID}"),
        format!("HOOKS%2F{OTHER_HOOK_ID}"),
        format!("?next=hooks/{OTHER_HOOK_ID}"),
        format!("hooks\\/{OTHER_HOOK_ID}"),
    ] {
        server.script([Fault::Redirect {
            status: 302,
            location: location.clone(),
        }]);
        // The harness fails the run if the id shows on stdout or stderr.
        env.run(
            env.cmd()
                .args(["send", "--webhook", "hook", "-o", "json", "x"]),
        )
        .assert_code(7)
        .assert_stderr_contains("redirected the request to")
        .assert_stderr_contains("…tr5a");
    }
}

/// A message that holds the webhook's own token is refused (exit 4) before anything is
/// sent: also when the token is folded over lines or split by a space or an invisible
/// character, as `run` already finds it in a job's output. Such a message was posted,
/// publishing the token to the channel.
#[test]
fn a_message_with_the_token_broken_up_is_refused() {
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let url = server.hook_url();
    let (head, tail) = url.split_at(url.len() - 13);
    for text in [
        format!("see {head}\n{tail}"),
        format!("see {head}\u{200B}{tail}"),
        format!("id {} {}", &HOOK_ID[..10], &HOOK_ID[10..]),
    ] {
        env.run(env.cmd().args(["send", "--webhook", "hook"]).arg(&text))
            .assert_code(4)
            .assert_stderr_contains("token");
        env.run(
            env.cmd()
                .args(["build", "--no-env", "--webhook", "hook", "--workflow", "ci"])
                .args(["--state", "failed", "--run-id", "9", "--branch", &text]),
        )
        .assert_code(4);
    }
    assert!(server.posts().is_empty(), "{:?}", server.posts());
}
