//! `run` never hands the secret to its job, scrubs what the job printed from the report,
//! and offers the job a socket through which `mmnotify send`/`build` post without the token.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::{
    hooked, Env, Era, Fault, Hook, MockServer, RedisServer, ServerOptions, HOOK_ID, OTHER_HOOK_ID,
};

const MM: &str = env!("CARGO_BIN_EXE_mmnotify");
/// Lines the jobs below print to show what they saw; exempt from the stream leak check
/// (the job's own output passes through unchanged) but never in anything mmnotify builds.
const JOB: &str = "JOB:";
const SECRET_VARS: [&str; 8] = [
    "MATTERMOST_WEBHOOK_URL",
    "MMNOTIFY_WEBHOOK_FILE",
    "MMNOTIFY_QUEUE",
    "MMNOTIFY_QUEUE_FILE",
    "MMNOTIFY_DEDUPE_STORE",
    "MMNOTIFY_DEDUPE_STORE_FILE",
    "MATTERMOST_BOT_TOKEN",
    "MMNOTIFY_BOT_FILE",
];

/// Two hooks: `hook` (town-square) and `ops` (dev).
fn two_hooks(era: Era) -> (Env, MockServer) {
    let (env, server) = hooked(ServerOptions {
        era,
        hooks: vec![
            Hook::new(HOOK_ID, "town-square"),
            Hook::new(OTHER_HOOK_ID, "dev"),
        ],
        ..Default::default()
    });
    env.write_secret("ops", &server.hook_url_for(OTHER_HOOK_ID));
    (env, server)
}

/// The parent's environment carries every kind of secret variable.
fn with_secret_vars(env: &mut Env, server: &MockServer, c: &mut Command) {
    env.secret("queuepassword4711")
        .secret("storepassword0815")
        .secret(BOT_TOKEN);
    let queue_file = env.write_file("q.url", "redis://:queuepassword4711@127.0.0.1:1/0\n", 0o600);
    let store_file = env.write_file("s.url", "redis://:storepassword0815@127.0.0.1:1/0\n", 0o600);
    c.env("MATTERMOST_WEBHOOK_URL", server.hook_url())
        .env("MMNOTIFY_WEBHOOK_FILE", env.secrets_dir().join("hook.url"))
        .env("MMNOTIFY_QUEUE", "redis://:queuepassword4711@127.0.0.1:1/0")
        .env("MMNOTIFY_QUEUE_FILE", queue_file)
        .env(
            "MMNOTIFY_DEDUPE_STORE",
            "redis://:storepassword0815@127.0.0.1:1/0",
        )
        .env("MMNOTIFY_DEDUPE_STORE_FILE", store_file)
        .env("MATTERMOST_BOT_TOKEN", BOT_TOKEN)
        .env("MMNOTIFY_BOT_FILE", env.secrets_dir().join("bot.bot"));
}

/// A bot token in the parent's environment (issue 18): never the job's.
const BOT_TOKEN: &str = "b0ttokenforthejobtest00001";

fn assert_clean_env_dump(dump: &Path) {
    let text = fs::read_to_string(dump).expect("the job dumped its environment");
    for var in SECRET_VARS {
        assert!(
            !text.lines().any(|l| l.starts_with(&format!("{var}="))),
            "{var} reached the job:\n{text}"
        );
    }
}

fn spool_files(env: &Env) -> Vec<String> {
    let Ok(dir) = fs::read_dir(env.state().join("spool")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| fs::read_to_string(e.path()).unwrap())
        .collect()
}

#[test]
fn the_job_never_sees_the_token_and_the_report_never_shows_it() {
    let (mut env, server) = hooked(ServerOptions::default());
    // The URL somewhere the job can read it, and on its command line.
    let elsewhere = env.write_file("elsewhere/url.txt", &server.hook_url(), 0o644);
    let dump = env.root().join("job-env.txt");
    env.watch_file(&dump);
    let script = format!(
        "env > {dump}; echo \"{JOB} $(cat {f})\"; echo \"{JOB} bare $(sed 's|.*/hooks/||' {f})\"; \
         echo \"{JOB} other $1\"; exit 3",
        dump = dump.display(),
        f = elsewhere.display()
    );
    let other_url = server.hook_url_for(OTHER_HOOK_ID);
    let job = |env: &mut Env, extra: &[&str]| {
        let mut c = env.cmd();
        c.args(["run", "--retries", "0", "--timeout", "5s"])
            .args(extra);
        c.args(["--", "sh", "-c", &script, "sh", &other_url]);
        with_secret_vars(env, &server, &mut c);
        c
    };

    // A 503: the report is spooled, token-free.
    server.script([Fault::Status(503)]);
    let mut c = job(&mut env, &[]);
    let run = env.run_job(&mut c, JOB);
    run.assert_code(3).assert_stderr_contains("spool");
    assert!(run.stdout.contains(HOOK_ID), "the job did print the URL");
    assert_clean_env_dump(&dump);
    assert!(fs::read_to_string(&dump)
        .unwrap()
        .contains("MMNOTIFY_RUN_SOCKET="));
    let spooled = spool_files(&env);
    assert_eq!(spooled.len(), 1, "{spooled:?}");
    for needle in ["/hooks/…o1ha", "bare …o1ha", "other", "/hooks/…tr5a"] {
        assert!(
            spooled[0].contains(needle),
            "{needle} not in {}",
            spooled[0]
        );
    }

    // --output json: the outcome and its error hold no token either.
    server.script([Fault::Status(503)]);
    let mut c = job(&mut env, &["--output", "json"]);
    let run = env.run_job(&mut c, JOB);
    run.assert_code(3);
    let outcome: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(outcome["status"], "spooled", "{outcome}");

    // --dry-run, text and JSON: the printed payload is scrubbed.
    for extra in [&["--dry-run"][..], &["--dry-run", "--output", "json"]] {
        let mut c = job(&mut env, extra);
        let run = env.run_job(&mut c, JOB);
        run.assert_code(3);
        let last = run.stdout.lines().last().unwrap();
        assert!(
            last.contains("/hooks/…o1ha") && last.contains("/hooks/…tr5a"),
            "{last}"
        );
    }
    assert_clean_env_dump(&dump);
}

#[test]
fn progress_posts_go_through_the_parent_in_order() {
    let (mut env, server) = two_hooks(Era::B);
    let dump = env.root().join("job-env.txt");
    env.watch_file(&dump);
    // The second send even points its own secrets dir nowhere: the parent resolves the name.
    let script = format!(
        "env > {dump}; {MM} send 'Sync in progress: 500/1000'; echo \"{JOB} first=$?\"; \
         MMNOTIFY_SECRETS_DIR=/nonexistent {MM} send --webhook ops 'Sync in progress: 1000/1000'; \
         echo \"{JOB} second=$?\"; exit 5",
        dump = dump.display()
    );
    let mut c = env.cmd();
    c.args([
        "run",
        "--webhook",
        "hook",
        "--name",
        "sync",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    with_secret_vars(&mut env, &server, &mut c);
    let run = env.run_job(&mut c, JOB);
    run.assert_code(5)
        .assert_stdout_contains("first=0")
        .assert_stdout_contains("second=0");
    assert_clean_env_dump(&dump);
    let posts = server.posts();
    assert_eq!(posts.len(), 3, "{posts:?}");
    assert_eq!(
        (posts[0].hook_id.as_str(), posts[0].message.as_str()),
        (HOOK_ID, "Sync in progress: 500/1000")
    );
    assert_eq!(
        (posts[1].hook_id.as_str(), posts[1].channel.as_str()),
        (OTHER_HOOK_ID, "dev")
    );
    assert_eq!(posts[1].message, "Sync in progress: 1000/1000");
    assert_eq!(posts[2].hook_id, HOOK_ID);
    assert!(
        posts[2].message.contains("❌ Failed"),
        "{}",
        posts[2].message
    );
    assert!(posts[2].message.contains("sync"), "{}", posts[2].message);
}

#[test]
fn inner_build_is_deduplicated_by_the_parent() {
    let (env, server) = hooked(ServerOptions::default());
    let build =
        format!("{MM} build --no-env --workflow ci --state failed --run-id 42 --output json");
    let script = format!("{build}; echo \"{JOB} a=$?\"; {build}; echo \"{JOB} b=$?\"");
    let mut c = env.cmd();
    c.args(["run", "--webhook", "hook", "--", "sh", "-c", &script]);
    let run = env.run_job(&mut c, JOB);
    run.assert_success()
        .assert_stdout_contains("a=0")
        .assert_stdout_contains("b=0")
        .assert_stdout_contains(r#""status":"duplicate""#);
    let posts = server.posts();
    assert_eq!(posts.len(), 2, "one build post, then the report: {posts:?}");
    assert!(
        posts[0].message.contains("**ci** failed"),
        "{}",
        posts[0].message
    );
    assert!(
        posts[1].message.contains("✅ Succeeded"),
        "{}",
        posts[1].message
    );
    // The store is the parent's state dir.
    assert!(env.state().join("dedupe").is_dir());
}

#[test]
fn an_inner_send_the_server_rejects_exits_with_that_code() {
    let (env, server) = two_hooks(Era::A);
    let script = format!("{MM} send -v --channel nope x; echo \"{JOB} inner=$?\"");
    let mut c = env.cmd();
    c.args(["run", "--webhook", "hook", "--", "sh", "-c", &script]);
    let run = env.run_job(&mut c, JOB);
    run.assert_success()
        .assert_stdout_contains("inner=44")
        .assert_stderr_contains("handed to the `mmnotify run` around this job")
        .assert_stderr_contains("`nope` does not exist");
    // Only the report was posted.
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn no_run_socket_and_a_socket_that_is_gone() {
    let (env, server) = hooked(ServerOptions::default());
    // --no-run-socket: no socket, not even an outer one, and no secret to fall back on.
    let script = format!(
        "echo \"{JOB} sock=[$MMNOTIFY_RUN_SOCKET]\"; {MM} send hi; echo \"{JOB} inner=$?\""
    );
    let mut c = env.cmd();
    c.args([
        "run",
        "--webhook",
        "hook",
        "--no-run-socket",
        "--",
        "sh",
        "-c",
        &script,
    ])
    .env("MMNOTIFY_RUN_SOCKET", env.root().join("outer.sock"))
    .env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    let run = env.run_job(&mut c, JOB);
    run.assert_success()
        .assert_stdout_contains("sock=[]")
        .assert_stdout_contains("inner=3");
    assert_eq!(server.posts().len(), 1, "only the report");

    // After the job, the socket and its directory are gone, and a late request fails
    // cleanly (exit 3, saying why) instead of hanging or posting.
    let saved = env.root().join("sockpath");
    let script = format!("echo \"$MMNOTIFY_RUN_SOCKET\" > {}", saved.display());
    let mut c = env.cmd();
    c.args(["run", "--webhook", "hook", "--", "sh", "-c", &script]);
    env.run(&mut c).assert_success();
    let sock = fs::read_to_string(&saved).unwrap().trim().to_string();
    assert!(!sock.is_empty());
    assert!(!Path::new(&sock).exists(), "{sock} left behind");
    assert!(!Path::new(&sock).parent().unwrap().exists());
    let mut c = env.cmd();
    c.args(["send", "late"]).env("MMNOTIFY_RUN_SOCKET", &sock);
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains("run socket");
    assert_eq!(server.posts().len(), 2, "the two reports only");
}

#[test]
fn a_dry_run_job_posts_nothing_through_the_socket() {
    let (env, server) = hooked(ServerOptions::default());
    let script = format!("{MM} send 'would post'; echo \"{JOB} inner=$?\"");
    let mut c = env.cmd();
    c.args([
        "run",
        "--webhook",
        "hook",
        "--dry-run",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let run = env.run_job(&mut c, JOB);
    run.assert_success()
        .assert_stdout_contains("inner=0")
        .assert_stdout_contains(r#"{"text":"would post"}"#);
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn another_users_process_is_refused_even_if_the_socket_is_opened_up() {
    use std::os::unix::process::CommandExt;
    // Needs root to act as a second user; elsewhere the 0700 directory alone stops them.
    if !crate::support::is_root_or_skip(
        "another_users_process_is_refused_even_if_the_socket_is_opened_up",
        "running a process as uid 65534",
    ) {
        return;
    }
    let (env, server) = hooked(ServerOptions::default());
    let saved = env.root().join("sockpath");
    let done = env.root().join("done");
    // Someone opened the directory and socket to everyone: the peer check still holds.
    let script = format!(
        "chmod 711 \"$(dirname \"$MMNOTIFY_RUN_SOCKET\")\"; chmod 666 \"$MMNOTIFY_RUN_SOCKET\"; \
         echo \"$MMNOTIFY_RUN_SOCKET\" > {saved}.tmp; mv {saved}.tmp {saved}; \
         i=0; while [ ! -e {done} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done",
        saved = saved.display(),
        done = done.display()
    );
    std::thread::scope(|s| {
        let parent = s.spawn(|| {
            let mut c = env.cmd();
            c.args(["run", "--webhook", "hook", "--", "sh", "-c", &script]);
            env.run(&mut c)
        });
        let start = std::time::Instant::now();
        while !saved.exists() && start.elapsed() < std::time::Duration::from_secs(20) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let sock = fs::read_to_string(&saved).unwrap().trim().to_string();
        let out = Command::new(MM)
            .args(["send", "intruder"])
            .env_clear()
            .env("MMNOTIFY_RUN_SOCKET", &sock)
            .current_dir("/")
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        // The intruder's mmnotify sends nothing to a socket another user serves; a raw
        // client of another uid (this thread's own credentials changed: Linux keeps them
        // per thread) is answered by the socket's own check.
        let raw = std::thread::spawn({
            let sock = sock.clone();
            move || {
                use std::io::{BufRead, Write};
                // SAFETY: a raw setresuid changes this thread's credentials only; it ends
                // right after.
                let rc = unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) };
                assert_eq!(rc, 0);
                let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
                let _ = s.write_all(b"{\"v\":2,\"kind\":\"send\"}\n");
                let mut line = String::new();
                std::io::BufReader::new(s).read_line(&mut line).unwrap();
                line
            }
        })
        .join()
        .unwrap();
        fs::write(&done, "").unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("served by uid 0"), "{stderr}");
        assert!(raw.contains("serves only its own user"), "{raw}");
        parent.join().unwrap().assert_success();
    });
    let posts = server.posts();
    assert_eq!(posts.len(), 1, "only the report: {posts:?}");
    assert!(!posts[0].message.contains("intruder"));
}

#[test]
fn a_socket_another_user_serves_is_never_sent_anything() {
    use std::os::unix::process::CommandExt;
    // Needs root to serve a socket as a second user.
    if !crate::support::is_root_or_skip(
        "a_socket_another_user_serves_is_never_sent_anything",
        "running a process as uid 65534",
    ) {
        return;
    }
    let (mut env, server) = hooked(ServerOptions::default());
    env.secret("storepassword0815");
    let store = env.write_file("s.url", "redis://:storepassword0815@127.0.0.1:1/0\n", 0o600);
    // Someone else's `run`, whose socket path a process of ours still has in its
    // environment (its own `run` ended, and the path was served again since).
    let shared = env.root().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let saved = shared.join("sockpath");
    let done = shared.join("done");
    let script = format!(
        "chmod 711 \"$(dirname \"$MMNOTIFY_RUN_SOCKET\")\"; chmod 666 \"$MMNOTIFY_RUN_SOCKET\"; \
         echo \"$MMNOTIFY_RUN_SOCKET\" > {saved}.tmp; mv {saved}.tmp {saved}; \
         i=0; while [ ! -e {done} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done",
        saved = saved.display(),
        done = done.display()
    );
    let mut foreign = Command::new(MM)
        .args([
            "run",
            "--no-spool",
            "--on",
            "timeout",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &shared)
        .env("MMNOTIFY_STATE_DIR", shared.join("state"))
        .current_dir("/")
        .uid(65534)
        .gid(65534)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !saved.exists() && start.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sock = fs::read_to_string(&saved).unwrap().trim().to_string();
    // A build that names a password-protected store hands its URL to the socket.
    let mut c = env.cmd();
    c.args([
        "build",
        "--no-env",
        "--workflow",
        "ci",
        "--run-id",
        "1",
        "--state",
        "failed",
        "--dedupe-store-file",
    ])
    .arg(&store)
    .env("MMNOTIFY_RUN_SOCKET", &sock);
    let run = env.run(&mut c);
    fs::write(&done, "").unwrap();
    let _ = foreign.wait();
    run.assert_code(3)
        .assert_stderr_contains("served by uid 65534")
        .assert_stderr_contains("nothing was sent");
    assert!(server.posts().is_empty());
}

#[test]
fn an_own_webhook_file_skips_the_socket() {
    let (env, server) = two_hooks(Era::B);
    let script = format!(
        "{MM} send --webhook-file {} own; echo \"{JOB} inner=$?\"",
        env.secrets_dir().join("ops.url").display()
    );
    let mut c = env.cmd();
    c.args(["run", "--webhook", "hook", "--", "sh", "-c", &script]);
    env.run_job(&mut c, JOB)
        .assert_success()
        .assert_stdout_contains("inner=0");
    let posts = server.posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(
        (posts[0].hook_id.as_str(), posts[0].message.as_str()),
        (OTHER_HOOK_ID, "own")
    );
}

#[test]
fn relayed_posts_spool_like_the_parents_and_need_a_parent_webhook() {
    let (env, server) = hooked(ServerOptions::default());
    // Every attempt answers 503: the inner send exits 6 and the parent spools the item.
    server.script(std::iter::repeat_n(Fault::Status(503), 4));
    let script = format!("{MM} send 'later please'; echo \"{JOB} inner=$?\"");
    let mut c = env.cmd();
    c.args([
        "run",
        "--webhook",
        "hook",
        "--retries",
        "0",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    env.run_job(&mut c, JOB)
        .assert_success()
        .assert_stdout_contains("inner=6")
        .assert_stderr_contains("saved in the spool");
    let spooled = spool_files(&env);
    assert!(
        spooled
            .iter()
            .any(|s| s.contains("later please") && s.contains("name:hook")),
        "{spooled:?}"
    );

    // A parent without a webhook cannot post for the job: exit 3, saying why.
    let mut c = env.cmd();
    c.args(["run", "--", "sh", "-c", &script]);
    env.run_job(&mut c, JOB)
        .assert_success()
        .assert_stdout_contains("inner=3")
        .assert_stderr_contains("has no webhook");
}

/// Reports cut long lines and cap long names; a cut through a URL must not leave a piece
/// of the token that no scrubbing recognises any more.
#[test]
fn a_cut_through_the_url_leaves_no_piece_of_the_token() {
    let (env, server) = hooked(ServerOptions::default());
    let url = server.hook_url();
    // One output line whose kept end (the report keeps 12 KiB of it) starts 10
    // characters into the token.
    let line = format!(
        "{JOB} {}{url} {}\n",
        "X".repeat(20_000),
        "Z".repeat(12 * 1024 - (HOOK_ID.len() - 10) - 2)
    );
    let out = env.write_file("out.txt", &line, 0o644);
    // A command line longer than the report's 1000-character cap, cut inside the token.
    let head = format!("sh -c 'cat {} #", out.display());
    let token_at = 1000 - 10;
    let pad = "Y".repeat(token_at - head.len() - (url.len() - HOOK_ID.len()));
    let cut_script = format!("cat {} #{pad}{url}", out.display());
    let mut c = env.cmd();
    c.args(["run", "--webhook", "hook", "--", "sh", "-c", &cut_script]);
    env.run_job(&mut c, JOB).assert_success();
    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    let report = format!(
        "{} {} {}",
        posts[0].message, posts[0].attachments, posts[0].props
    );
    for piece in HOOK_ID.as_bytes().windows(8) {
        let piece = std::str::from_utf8(piece).unwrap();
        assert!(!report.contains(piece), "{piece} of the token in {report}");
    }
}

/// A dedupe store the parent cannot read never makes an inner `build` exit 1: the post
/// goes out undeduplicated, with a warning, as a plain `build` does.
#[test]
fn an_inner_build_posts_through_an_unusable_dedupe_store() {
    let (env, server) = hooked(ServerOptions::default());
    let build = |run_id: &str| {
        let mut c = env.cmd();
        c.args(["run", "--webhook", "hook", "--", MM, "build", "--no-env"])
            .args(["--workflow", "ci", "--state", "failed", "--run-id", run_id]);
        c
    };
    env.run_job(&mut build("1"), JOB).assert_success();
    // A directory where the store expects a log of the older format: unreadable.
    let log = env.state().join("dedupe/delivered.log");
    let _ = fs::remove_file(&log);
    fs::create_dir(&log).unwrap();
    env.run_job(&mut build("2"), JOB)
        .assert_success()
        .assert_stderr_contains("without deduplication");
    assert_eq!(server.posts().len(), 4, "two builds and two reports");
}

/// The job runs as the same user as `run`, which may hold the token in its environment:
/// `/proc/<parent>/environ` must not be readable by the job.
#[test]
fn the_job_cannot_read_the_parents_environment() {
    use std::os::unix::process::CommandExt;
    // Root reads every /proc file: this needs a second, unprivileged uid.
    if !crate::support::is_root_or_skip(
        "the_job_cannot_read_the_parents_environment",
        "running a process as uid 65534",
    ) {
        return;
    }
    let (env, server) = hooked(ServerOptions::default());
    let script = format!(
        "n=$(tr '\\0' '\\n' < /proc/$PPID/environ 2>/dev/null | grep -c MATTERMOST_WEBHOOK_URL); \
         echo \"{JOB} seen=$n\""
    );
    let mut c = env.cmd();
    c.args(["run", "--dry-run", "--", "sh", "-c", &script])
        .env("MATTERMOST_WEBHOOK_URL", server.hook_url())
        .env("TMPDIR", "/tmp")
        .current_dir("/")
        .uid(65534)
        .gid(65534);
    let run = env.run_job(&mut c, JOB);
    run.assert_success().assert_stdout_contains("seen=0");
}

/// Two hosts, each with its own state directory and its own `run` around a job that
/// reports the same run: a shared store named by the job's `build` (or given to the `run`)
/// makes it one post, as it does without `run`.
#[test]
fn relayed_builds_deduplicate_in_the_shared_store_the_job_or_the_run_names() {
    const PW: &str = "relay-store-pass-4711";
    let Some(mut redis) = RedisServer::start_with("relay_shared_store", Some(PW)) else {
        return;
    };
    let (mut env, server) = hooked(ServerOptions::default());
    env.secret(PW);
    let store = env.write_file("store.url", &format!("{}\n", redis.url()), 0o600);
    let build = |run_id: &str, flags: &str| {
        format!(
            "{MM} build --no-env --workflow ci --state failed --run-id {run_id} --timeout 2s \
             --output json {flags}; echo \"{JOB} inner=$?\""
        )
    };
    let on_host = |host: &str, script: &str| {
        let mut c = env.cmd();
        c.args(["run", "--webhook", "hook", "--", "sh", "-c", script])
            .env("MMNOTIFY_STATE_DIR", env.root().join(host));
        c
    };
    // Host A: the job's build names the store (a secrets file it may read).
    let script = build("77", &format!("--dedupe-store-file {}", store.display()));
    let run = env.run_job(&mut on_host("host-a", &script), JOB);
    run.assert_success()
        .assert_stdout_contains("inner=0")
        .assert_stdout_contains(r#""status":"posted""#);
    // Hosts B and C: the `run` has the store, as a file or as the URL (its variables
    // never reach the job). Host D: the job sets the store's variable for its `build`.
    let from_env = format!(
        "MMNOTIFY_DEDUPE_STORE=$(cat {}) {}",
        store.display(),
        build("77", "")
    );
    for (host, var, value, script) in [
        (
            "host-b",
            "MMNOTIFY_DEDUPE_STORE_FILE",
            store.display().to_string(),
            build("77", ""),
        ),
        (
            "host-c",
            "MMNOTIFY_DEDUPE_STORE",
            redis.url(),
            build("77", ""),
        ),
        ("host-d", "UNRELATED", String::new(), from_env),
    ] {
        let run = env.run_job(on_host(host, &script).env(var, value), JOB);
        run.assert_success()
            .assert_stdout_contains("inner=0")
            .assert_stdout_contains(r#""status":"duplicate""#);
    }
    let builds = |server: &MockServer| {
        server
            .posts()
            .iter()
            .filter(|p| p.message.contains("**ci** failed"))
            .count()
    };
    assert_eq!(builds(&server), 1, "{:?}", server.posts());

    // The store away: not posted blind, but spooled for `flush` with where the store is.
    redis.stop();
    let script = build("78", &format!("--dedupe-store-file {}", store.display()));
    let run = env.run_job(&mut on_host("host-e", &script), JOB);
    run.assert_success().assert_stdout_contains("inner=5");
    assert_eq!(builds(&server), 1, "posted without its store");
    let spooled: Vec<serde_json::Value> = fs::read_dir(env.root().join("host-e/spool"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap())
        .collect();
    assert_eq!(spooled.len(), 1, "{spooled:?}");
    let abs = std::path::absolute(&store).unwrap();
    assert_eq!(spooled[0]["store"], format!("file:{}", abs.display()));
}

/// The job's `send` keeps its own --retries, --timeout and --attempt-timeout, whatever
/// the `run` around it was given.
#[test]
fn an_inner_send_keeps_its_own_budget() {
    let (env, server) = hooked(ServerOptions::default());
    let run_with = |script: &str| {
        let mut c = env.cmd();
        c.args(["run", "--webhook", "hook", "--retries", "3"])
            .args(["--timeout", "30s", "--attempt-timeout", "20s"])
            .args(["--", "sh", "-c", script]);
        c
    };
    // --retries 0: one request, the 503 is its answer (the parent would have retried).
    server.script([Fault::Status(503)]);
    let script = format!("{MM} send --retries 0 --no-spool once; echo \"{JOB} inner=$?\"");
    env.run_job(&mut run_with(&script), JOB)
        .assert_success()
        .assert_stdout_contains("inner=6");
    let once: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.json()["text"] == "once")
        .collect();
    assert_eq!(once.len(), 1, "the parent retried the job's post");

    // A server that holds the request: the job's 1 s per attempt, not the parent's 20 s.
    server.script([Fault::Hang(std::time::Duration::from_secs(30))]);
    let script = format!(
        "{MM} send --timeout 2s --attempt-timeout 1s --retries 0 --no-spool -o json held; \
         echo \"{JOB} inner=$?\""
    );
    let run = env.run_job(&mut run_with(&script), JOB);
    run.assert_success()
        .assert_stdout_contains("inner=5")
        .assert_stdout_contains(&format!(
            "no answer from 127.0.0.1:{} within 1s",
            server.port()
        ));
}

/// A job may ask for less than `run`'s own budget, never more: a held request ends with
/// the parent's `--attempt-timeout`, not the hour the job asked for (which would keep
/// `run` alive past `--max-runtime`).
#[test]
fn an_inner_send_never_gets_more_than_the_parents_budget() {
    let (env, server) = hooked(ServerOptions::default());
    server.script([Fault::Hang(std::time::Duration::from_secs(30))]);
    let script = format!(
        "{MM} send --timeout 1h --attempt-timeout 1h --retries 50 --no-spool held; \
         echo \"{JOB} inner=$?\""
    );
    let started = std::time::Instant::now();
    let mut c = env.cmd();
    c.args(["run", "--webhook", "hook", "--retries", "0"])
        .args(["--timeout", "2s", "--attempt-timeout", "1s", "--no-spool"])
        .args(["--", "sh", "-c", &script]);
    let run = env.run_job(&mut c, JOB);
    run.assert_stdout_contains("inner=5")
        .assert_stderr_contains(&format!(
            "no answer from 127.0.0.1:{} within 1s",
            server.port()
        ));
    // The hang is 30 s: anything near it means the job's hour was used.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
}
