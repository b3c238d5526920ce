//! `send` and `probe` end to end: payloads, validation, every exit code, retries, secrets,
//! TLS and proxies, against the Mattermost emulator. Every run goes through `Env::run`,
//! which fails the test if the webhook token shows up in any output or state file.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::support::{
    hooked, setup, ConnectProxy, Env, Era, Fault, Hook, MockServer, Pki, ServerOptions, TlsSetup,
    HOOK_ID, OTHER_HOOK_ID,
};

#[test]
fn posts_compact_json_and_prints_nothing() {
    let (env, server) = setup();
    let run = env.run(&mut env.send(&["deploy", "done"]));
    run.assert_success();
    assert_eq!(run.stdout, "");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("user-agent").unwrap().starts_with("mmnotify/"));
    assert_eq!(req.body_str(), r#"{"text":"deploy done"}"#);
    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].message, "deploy done");
    assert_eq!(posts[0].channel, "town-square");
}

#[test]
fn text_from_stdin_and_its_limits() {
    let (env, server) = setup();
    env.run_with_stdin(&mut env.send(&[]), b"from a pipe\n")
        .assert_success();
    assert_eq!(server.posts()[0].message, "from a pipe");

    let run = env.run_with_stdin(&mut env.send(&[]), b"caf\xe9 latin-1");
    run.assert_code(4).assert_stderr_contains("UTF-8");
    let huge = vec![b'a'; 5 << 20];
    env.run_with_stdin(&mut env.send(&[]), &huge)
        .assert_code(4)
        .assert_stderr_contains("larger than");
    env.run_with_stdin(&mut env.send(&[]), b"")
        .assert_code(4)
        .assert_stderr_contains("nothing to post");
    assert_eq!(server.requests().len(), 1, "invalid input must not be sent");
}

#[test]
fn code_blocks_keep_columns_and_neutralise_fences() {
    let (env, server) = setup();
    let table = "Filesystem  Size  Used\n/dev/sda1   20G   5G\n";
    env.run_with_stdin(&mut env.send(&["--code"]), table.as_bytes())
        .assert_success();
    env.run(&mut env.send(&["--code", "sh", "echo ```", "done"]))
        .assert_success();
    env.run(&mut env.send(&["--code", "--", "two words"]))
        .assert_success();
    let posts = server.posts();
    assert_eq!(
        posts[0].message,
        "```\nFilesystem  Size  Used\n/dev/sda1   20G   5G\n```"
    );
    assert_eq!(
        posts[1].message,
        "```sh\necho `\u{200B}`\u{200B}` done\n```"
    );
    assert_eq!(posts[2].message, "```\ntwo words\n```");

    // Text after a bare --code would be taken as the language: refused, with the fix.
    env.run(&mut env.send(&["--code", "two words"]))
        .assert_code(2)
        .assert_stderr_contains("--code -- TEXT");

    // Blank input makes no empty block.
    env.run_with_stdin(&mut env.send(&["--code"]), b"  \n\n")
        .assert_code(4)
        .assert_stderr_contains("nothing to post");

    // Too long for one post: cut inside the block, the closing fence kept.
    server.clear();
    let long = "é".repeat(20_000);
    env.run(&mut env.send(&["--code", "text", &long]))
        .assert_success()
        .assert_stderr_contains("--split");
    let msg = &server.posts()[0].message;
    assert_eq!(msg.chars().count(), 16383);
    assert!(
        msg.ends_with("é\n```\n… (truncated)"),
        "{}",
        &msg[msg.len() - 40..]
    );
}

#[test]
fn text_from_a_file() {
    let (env, server) = setup();
    let f = env.write_file("report.txt", "disk report\nall fine\n", 0o644);
    let path = f.to_str().unwrap();
    env.run(&mut env.send(&["--text-file", path]))
        .assert_success();
    env.run(&mut env.send(&["--text-file", path, "--code=text"]))
        .assert_success();
    let posts = server.posts();
    assert_eq!(posts[0].message, "disk report\nall fine");
    assert_eq!(posts[1].message, "```text\ndisk report\nall fine\n```");

    let latin1 = env.root().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9\n").unwrap();
    env.run(&mut env.send(&["--text-file", latin1.to_str().unwrap()]))
        .assert_code(4)
        .assert_stderr_contains("UTF-8");
    let huge = env.root().join("huge.txt");
    std::fs::write(&huge, vec![b'a'; 5 << 20]).unwrap();
    env.run(&mut env.send(&["--text-file", huge.to_str().unwrap()]))
        .assert_code(4)
        .assert_stderr_contains("larger than");
    env.run(&mut env.send(&["--text-file", "/nonexistent/report.txt"]))
        .assert_code(4);
    env.run(&mut env.send(&["--text-file", path, "and words"]))
        .assert_code(2);
    // A webhook URL pasted as the path is refused without echo (Env fails any run that
    // prints the hook id).
    let url = format!("https://chat.example.com/hooks/{HOOK_ID}");
    env.run(&mut env.send(&["--text-file", &url]))
        .assert_code(3)
        .assert_stderr_contains("--text-file holds what looks like the webhook URL");
    assert_eq!(server.requests().len(), 2, "refused input must not be sent");
}

#[test]
fn payload_file_is_merged_with_flags_and_unknown_fields_pass_through() {
    let (env, server) = setup();
    let file = env.write_file(
        "payload.json",
        r#"{"text":"from file","channel":"dev","x_custom":{"keep":[1,2]},"props":{"a":1}}"#,
        0o644,
    );
    let run = env.run(&mut env.send(&[
        "--payload",
        file.to_str().unwrap(),
        "--channel",
        "town-square",
        "--title",
        "Report",
        "--field-short",
        "Host=db1",
        "--card",
        "**card**",
        "--prop",
        "build={\"n\":7}",
    ]));
    run.assert_success();
    let body = server.requests()[0].json();
    assert_eq!(body["text"], "from file");
    assert_eq!(body["channel"], "town-square");
    assert_eq!(body["x_custom"]["keep"][1], 2);
    assert_eq!(body["props"]["a"], 1);
    assert_eq!(body["props"]["card"], "**card**");
    assert_eq!(body["props"]["build"]["n"], 7);
    let att = &body["attachments"][0];
    assert_eq!(att["title"], "Report");
    assert_eq!(att["fallback"], "Report");
    assert_eq!(att["fields"][0]["short"], true);
    assert_eq!(server.posts()[0].channel, "town-square");
}

/// `send --dry-run --payload -` with `payload` on stdin and `args` on top.
fn dry_payload(env: &Env, payload: &str, args: &[&str]) -> crate::support::Run {
    let mut c = env.cmd();
    c.args(["send", "--dry-run", "--payload", "-"]).args(args);
    env.run_with_stdin(&mut c, payload.as_bytes())
}

/// The exact bytes a payload with nulls, mistyped members, null attachments and unknown
/// members at every level becomes once flags are merged in: nothing the flags do not set
/// is dropped, retyped or reordered (keys come out sorted, as they always have).
#[test]
fn payload_pass_through_keeps_nulls_mistyped_and_unknown_members_exactly() {
    let env = Env::new();
    let given = r#"{"text":null,"Channel":"dev","x_z":{"b":1,"a":[1,2.5,null,-3,1e300]},"attachments":[null,{"title":null,"text":"att","fields":[{"title":"T","value":null,"short":"TRUE"},null,{"value":{"v":1}}],"x_att":true}],"props":{"k":"v"},"priority":{"priority":"urgent","x_p":1},"silent":false,"type":""}"#;
    let run = dry_payload(
        &env,
        given,
        &[
            "hi",
            "there",
            "--title",
            "Rep",
            "--field",
            "A=b",
            "--prop",
            "n=3",
            "--card",
            "c",
            "--username",
            "bot",
        ],
    );
    run.assert_success();
    assert_eq!(run.stdout.trim_end(), GOLDEN_MERGED);

    // A mistyped member that a flag sets is replaced; one it does not set is refused.
    let run = dry_payload(
        &env,
        r#"{"text":5,"attachments":{}}"#,
        &["ok", "--title", "T"],
    );
    run.assert_success();
    assert_eq!(
        run.stdout.trim_end(),
        r#"{"attachments":[{"fallback":"T","title":"T"}],"text":"ok"}"#
    );
    dry_payload(&env, r#"{"text":"x","props":null}"#, &["--prop", "n=1"])
        .assert_code(4)
        .assert_stderr_contains("`props` in the payload must be an object");
    dry_payload(&env, r#"{"attachments":[5]}"#, &["--title", "T"])
        .assert_code(4)
        .assert_stderr_contains("attachment 1 must be an object");
    dry_payload(
        &env,
        r#"{"text":"x","priority":5}"#,
        &["--priority", "urgent"],
    )
    .assert_success()
    .assert_stdout_contains(r#""priority":{"priority":"urgent"}"#);
}

const GOLDEN_MERGED: &str = concat!(
    r#"{"attachments":[null,{"fallback":"att","fields":[{"short":"TRUE","title":"T","value":null},"#,
    r#"null,{"value":{"v":1}}],"text":"att","title":null,"x_att":true},{"fallback":"Rep","fields":"#,
    r#"[{"short":false,"title":"A","value":"b"}],"title":"Rep"}],"channel":"dev","priority":"#,
    r#"{"priority":"urgent","x_p":1},"props":{"card":"c","k":"v","n":3},"silent":false,"#,
    r#""text":"hi there","type":"","username":"bot","x_z":{"a":[1,2.5,null,-3,1e+300],"b":1}}"#
);

#[test]
fn attachment_only_posts_carry_a_fallback() {
    let (env, server) = setup();
    env.run(&mut env.send(&["--color", "danger", "--field", "Disk=98%"]))
        .assert_success();
    let body = server.requests()[0].json();
    assert!(body.get("text").is_none());
    assert_eq!(body["attachments"][0]["fallback"], "Disk: 98%");
    assert_eq!(body["attachments"][0]["color"], "danger");
}

#[test]
fn invalid_input_is_refused_before_sending() {
    let (env, server) = setup();
    let bad_json = env.write_file("bad.json", "{not json", 0o644);
    let array = env.write_file("array.json", "[1]", 0o644);
    let system = env.write_file("sys.json", r#"{"text":"x","type":"system_join"}"#, 0o644);
    let short = env.write_file(
        "short.json",
        r#"{"text":"x","attachments":[{"fields":[{"title":"a","value":"b","short":null}]}]}"#,
        0o644,
    );
    let prio = env.write_file(
        "prio.json",
        r#"{"text":"x","priority":{"requested_ack":true}}"#,
        0o644,
    );
    for (args, needle) in [
        (
            vec!["--payload", bad_json.to_str().unwrap()],
            "not valid JSON",
        ),
        (vec!["--payload", array.to_str().unwrap()], "JSON object"),
        (vec!["--payload", system.to_str().unwrap()], "custom_"),
        (vec!["--payload", short.to_str().unwrap()], "short"),
        (
            vec!["--payload", prio.to_str().unwrap()],
            "priority.priority",
        ),
        (vec!["--prop", "k=not-json", "x"], "--prop k"),
        (
            vec!["--max-payload-bytes", "100", &"y".repeat(200)],
            "over the limit",
        ),
        (vec!["   "], "nothing to post"),
    ] {
        env.run(&mut env.send(&args))
            .assert_code(4)
            .assert_stderr_contains(needle);
    }
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn usage_errors_exit_2() {
    let (env, server) = setup();
    for args in [
        vec!["--color", "red", "x"],
        vec!["--priority", "high", "x"],
        vec!["--timeout", "soon", "x"],
        vec!["--field", "novalue", "x"],
        vec!["--no-such-flag", "x"],
    ] {
        env.run(&mut env.send(&args)).assert_code(2);
    }
    // The URL is never an argument.
    let mut c = env.cmd();
    c.args(["send", "--webhook-url", &server.hook_url(), "x"]);
    env.run(&mut c).assert_code(2);
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn long_text_is_truncated_or_split() {
    let (env, server) = setup();
    let text = "é".repeat(20_000);
    let run = env.run(&mut env.send(&[&text]));
    run.assert_success().assert_stderr_contains("--split");
    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].message.chars().count(), 16383);
    assert!(posts[0].message.ends_with("… (truncated)"));

    server.clear();
    env.run(&mut env.send(&["--split", &text])).assert_success();
    let posts = server.posts();
    assert_eq!(posts.len(), 2, "the server splits at 16383 characters");
    assert_eq!(
        posts[0].message.chars().count() + posts[1].message.chars().count(),
        20_000
    );
}

#[test]
fn dry_run_needs_no_secret_and_sends_nothing() {
    let env = Env::new();
    let mut c = env.cmd();
    c.args(["send", "--dry-run", "--priority", "important", "hello"]);
    let run = env.run(&mut c);
    run.assert_success();
    let v = run.json();
    assert_eq!(v["text"], "hello");
    assert_eq!(v["priority"]["priority"], "important");

    let mut c = env.cmd();
    c.args(["send", "--dry-run", "--requested-ack", "hi"]);
    let v = env.run(&mut c).json();
    assert_eq!(
        v["priority"],
        serde_json::json!({"priority": "", "requested_ack": true})
    );
}

#[test]
fn json_output_and_verbose_line() {
    let (env, server) = setup();
    let run = env.run(&mut env.send(&["--output", "json", "-v", "hi"]));
    run.assert_success();
    let v = run.json();
    assert_eq!(v["status"], "posted");
    assert_eq!(v["http_status"], 200);
    assert_eq!(v["attempts"], 1);
    assert!(v["elapsed_ms"].is_u64());
    let target = v["target"].as_str().unwrap();
    assert_eq!(
        target,
        format!("{}/hooks/…{}", server.url(), &HOOK_ID[22..])
    );
    assert!(run.stderr.contains(target), "{}", run.stderr);
    assert!(v["error_id"].is_null());
}

/// Each answer of the contract's table, with the server's real body for it.
#[test]
fn every_http_answer_maps_to_its_exit_code() {
    let (env, server) = setup();
    let cases: &[(Fault, i32, &str)] = &[
        (Fault::Status(400), 40, "deleted"),
        (Fault::Status(403), 43, "locked"),
        (Fault::Status(404), 44, "URL path"),
        (Fault::Status(405), 7, "/hooks/ twice"),
        (Fault::Status(413), 7, "too large"),
        (Fault::Status(501), 7, "Enable Incoming Webhooks"),
        (Fault::Status(500), 6, "not retried"),
        (Fault::Status(401), 7, "401"),
        (Fault::Status(418), 7, "418"),
        (
            Fault::Redirect {
                status: 301,
                location: format!("https://elsewhere.example/hooks/{HOOK_ID}"),
            },
            7,
            "redirect",
        ),
    ];
    for (fault, code, needle) in cases {
        server.clear();
        server.script([fault.clone()]);
        let run = env.run(&mut env.send(&["--output", "json", "x"]));
        run.assert_code(*code).assert_stderr_contains(needle);
        assert_eq!(server.requests().len(), 1, "{fault:?} must not be retried");
        assert_eq!(run.json()["status"], "failed");
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "one diagnostic line: {}",
            run.stderr
        );
    }
}

#[test]
fn era_b_errors_show_the_id_and_hide_the_token() {
    let (env, server) = setup();
    // A hook the server does not know: a real era-B answer embeds the id in `message`.
    env.write_secret("gone", &server.hook_url_for(OTHER_HOOK_ID));
    let mut c = env.cmd();
    c.args(["send", "--webhook", "gone", "--output", "json", "x"]);
    let run = env.run(&mut c);
    run.assert_code(40)
        .assert_stderr_contains("web.incoming_webhook.general.app_error")
        .assert_stderr_contains("deleted");
    assert_eq!(
        run.json()["error_id"],
        "web.incoming_webhook.general.app_error"
    );
}

#[test]
fn era_a_errors_name_the_cause() {
    let opts = ServerOptions {
        era: Era::A,
        hooks: vec![Hook::locked(HOOK_ID, "town-square")],
        ..Default::default()
    };
    let (env, _server) = hooked(opts);
    env.run(&mut env.send(&["--channel", "dev", "x"]))
        .assert_code(43)
        .assert_stderr_contains("web.incoming_webhook.channel_locked.app_error")
        .assert_stderr_contains("may not post to `dev`");
    env.run(&mut env.send(&["--channel", "nope", "x"]))
        .assert_code(44)
        .assert_stderr_contains("`nope` does not exist");
}

#[test]
fn disabled_webhooks_are_501() {
    let opts = ServerOptions {
        incoming_enabled: false,
        ..Default::default()
    };
    let (env, server) = hooked(opts);
    env.run(&mut env.send(&["x"]))
        .assert_code(7)
        .assert_stderr_contains("System Console");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn retries_transient_answers_then_succeeds() {
    let (env, server) = setup();
    server.script([Fault::Status(502), Fault::Status(503), Fault::Status(504)]);
    let run = env.run(&mut env.send(&["--output", "json", "x"]));
    run.assert_success();
    assert_eq!(run.json()["attempts"], 4);
    assert_eq!(server.requests().len(), 4);
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn gives_up_after_retries_with_exit_6_and_spools() {
    let (env, server) = setup();
    server.script(vec![Fault::Status(503); 3]);
    let run = env.run(&mut env.send(&["--retries", "2", "x"]));
    run.assert_code(6).assert_stderr_contains("spool");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn honours_retry_after() {
    let (env, server) = setup();
    server.script([Fault::RateLimited {
        retry_after: "1".into(),
    }]);
    env.run(&mut env.send(&["x"])).assert_success();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let waited = reqs[1].received_at - reqs[0].received_at;
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");

    // An HTTP date is honoured as well.
    server.clear();
    let at = std::time::SystemTime::now() + Duration::from_secs(2);
    server.script([Fault::RateLimited {
        retry_after: crate::support::http_date(at),
    }]);
    env.run(&mut env.send(&["x"])).assert_success();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].received_at - reqs[0].received_at >= Duration::from_millis(900));
}

#[test]
fn never_waits_past_the_budget() {
    let (env, server) = setup();
    server.script([Fault::RateLimited {
        retry_after: "30".into(),
    }]);
    let start = Instant::now();
    let run = env.run(&mut env.send(&["--timeout", "2s", "--no-spool", "x"]));
    run.assert_code(6)
        .assert_stderr_contains("429")
        .assert_stderr_contains("budget");
    assert_eq!(server.requests().len(), 1);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "waited past the budget"
    );
}

#[test]
fn dropped_connections_and_timeouts_are_network_failures() {
    let (env, server) = setup();
    server.script([Fault::Drop, Fault::Drop]);
    env.run(&mut env.send(&["--retries", "1", "--no-spool", "x"]))
        .assert_code(5)
        .assert_stderr_contains("closed");
    assert_eq!(server.requests().len(), 2);

    server.clear();
    server.script([Fault::Hang(Duration::from_secs(10))]);
    env.run(&mut env.send(&[
        "--retries",
        "0",
        "--attempt-timeout",
        "500ms",
        "--no-spool",
        "x",
    ]))
    .assert_code(5)
    .assert_stderr_contains("may still have been delivered");

    // A retry after a dropped connection gets through.
    server.clear();
    server.script([Fault::Drop]);
    env.run(&mut env.send(&["x"])).assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn refused_connection_is_exit_5() {
    let env = Env::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hooks/{HOOK_ID}");
    let mut env = env;
    env.secret(HOOK_ID);
    env.write_secret("hook", &url);
    env.run(&mut env.send(&["--retries", "1", "--no-spool", "x"]))
        .assert_code(5)
        .assert_stderr_contains("refused");
}

#[test]
fn short_flags_mean_webhook_dry_run_and_output() {
    let (env, server) = setup();
    let mut c = env.cmd();
    c.args(["send", "-w", "hook", "-o", "json", "short", "flags"]);
    let run = env.run(&mut c);
    run.assert_success();
    assert_eq!(run.json()["status"], "posted");
    assert_eq!(server.posts()[0].message, "short flags");

    for cmd in [
        vec!["send", "-n", "-w", "hook", "hi"],
        vec![
            "build",
            "-n",
            "-w",
            "hook",
            "--no-env",
            "--workflow",
            "ci",
            "--state",
            "failed",
        ],
        vec!["run", "-n", "-w", "hook", "--", "true"],
    ] {
        let mut c = env.cmd();
        // Before the arguments: `run` takes everything after `--` as the command.
        c.arg(cmd[0]).args(["-o", "json"]).args(&cmd[1..]);
        let run = env.run(&mut c);
        run.assert_success();
        assert_eq!(run.json()["status"], "dry-run", "{cmd:?}");
    }
    assert_eq!(server.requests().len(), 1, "a dry run sends nothing");
}

#[test]
fn probe_offers_no_retries_flag() {
    let (env, server) = setup();
    let mut c = env.cmd();
    c.args(["probe", "--webhook", "hook", "--retries", "2"]);
    env.run(&mut c)
        .assert_code(2)
        .assert_stderr_contains("--retries");
    assert!(server.requests().is_empty());
    let mut c = env.cmd();
    c.args(["probe", "--help"]);
    let run = env.run(&mut c);
    run.assert_success();
    assert!(!run.stdout.contains("--retries"), "{}", run.stdout);
}

#[test]
fn probe_prints_one_line_and_never_retries() {
    let (env, server) = setup();
    let mut c = env.cmd();
    c.args(["probe", "--webhook", "hook"]);
    let run = env.run(&mut c);
    run.assert_success().assert_stdout_contains("HTTP 200");
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(server.posts()[0]
        .message
        .starts_with("mmnotify probe from "));

    server.clear();
    server.script([Fault::Status(503)]);
    let mut c = env.cmd();
    c.args(["probe", "--webhook", "hook"]);
    env.run(&mut c)
        .assert_code(6)
        .assert_stdout_contains("HTTP 503");
    assert_eq!(server.requests().len(), 1);
}

mod secrets {
    use super::*;

    #[test]
    fn no_source_names_the_three_ways() {
        let env = Env::new();
        let mut c = env.cmd();
        c.args(["send", "x"]);
        env.run(&mut c)
            .assert_code(3)
            .assert_stderr_contains("--webhook-file")
            .assert_stderr_contains("--webhook NAME")
            .assert_stderr_contains("MATTERMOST_WEBHOOK_URL");
    }

    #[test]
    fn insecure_modes_are_refused_with_the_fix() {
        let (env, server) = setup();
        let path = env.secrets_dir().join("hook.url");
        for mode in [0o400, 0o440, 0o600, 0o640] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            env.run(&mut env.send(&["x"])).assert_success();
        }
        for (mode, fix) in [
            (0o644, "chmod 0640"),
            (0o660, "chmod 0640"),
            (0o604, "chmod 0600"),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            env.run(&mut env.send(&["x"]))
                .assert_code(3)
                .assert_stderr_contains(&format!("{mode:04o}"))
                .assert_stderr_contains(fix)
                .assert_stderr_contains(path.to_str().unwrap());
        }
        assert_eq!(server.posts().len(), 4);
    }

    #[test]
    fn foreign_owner_directory_and_symlink() {
        let (env, server) = setup();
        let path = env.secrets_dir().join("hook.url");
        // Symlinks are followed.
        let link = env.secrets_dir().join("link.url");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let mut c = env.cmd();
        c.args(["send", "--webhook", "link", "x"]);
        env.run(&mut c).assert_success();
        // A directory is not a secrets file.
        std::fs::create_dir(env.secrets_dir().join("dir.url")).unwrap();
        let mut c = env.cmd();
        c.args(["send", "--webhook", "dir", "x"]);
        env.run(&mut c)
            .assert_code(3)
            .assert_stderr_contains("regular file");
        // Owned by someone else (only root can arrange that in a test).
        if crate::support::is_root_or_skip(
            "foreign_owner_directory_and_symlink (a file owned by uid 4242)",
            "giving a secrets file to uid 4242",
        ) {
            std::os::unix::fs::chown(&path, Some(4242), None).unwrap();
            env.run(&mut env.send(&["x"]))
                .assert_code(3)
                .assert_stderr_contains("owned by uid 4242");
        }
        assert_eq!(server.posts().len(), 1);
    }

    #[test]
    fn malformed_urls_get_hints_and_never_echo_the_token() {
        let (mut env, server) = setup();
        env.secret("abcdefghijkmnopqrstuwxyz13");
        let cases = [
            (
                "chat.example.com/hooks/abcdefghijkmnopqrstuwxyz13",
                "no scheme",
            ),
            (
                "https://chat.example.com/hooks/hooks/abcdefghijkmnopqrstuwxyz13",
                "twice",
            ),
            (
                "https://hooks.slack.com/services/T0/B0/abcdefghijkmnopqrstuwxyz13",
                "Slack",
            ),
            (
                "https://chat.example.com/hooks/abcdefghijkmnopqrstuwxyz13?x=1",
                "query",
            ),
            (
                "ftp://chat.example.com/hooks/abcdefghijkmnopqrstuwxyz13",
                "http or https",
            ),
        ];
        for (url, hint) in cases {
            env.write_secret("bad", url);
            let mut c = env.cmd();
            c.args(["send", "--webhook", "bad", "x"]);
            env.run(&mut c).assert_code(3).assert_stderr_contains(hint);
            let mut c = env.cmd();
            c.args(["send", "x"]).env("MATTERMOST_WEBHOOK_URL", url);
            env.run(&mut c)
                .assert_code(3)
                .assert_stderr_contains("MATTERMOST_WEBHOOK_URL")
                .assert_stderr_contains(hint);
        }
        for name in [".hidden", "a b"] {
            let mut c = env.cmd();
            c.args(["send", "--webhook", name, "x"]);
            env.run(&mut c)
                .assert_code(3)
                .assert_stderr_contains("invalid webhook name");
        }
        // A path is a file for --webhook-file.
        for name in ["../x", "a/b"] {
            let mut c = env.cmd();
            c.args(["send", "--webhook", name, "x"]);
            env.run(&mut c)
                .assert_code(3)
                .assert_stderr_contains("not a path")
                .assert_stderr_contains("--webhook-file PATH");
        }
        let mut c = env.cmd();
        c.args([
            "send",
            "--webhook",
            "hook",
            "--secrets-dir",
            "/nonexistent",
            "x",
        ]);
        env.run(&mut c)
            .assert_code(3)
            .assert_stderr_contains("/nonexistent");
        assert_eq!(server.requests().len(), 0);
    }

    #[test]
    fn precedence_file_then_name_then_env() {
        let good = MockServer::start();
        let other = MockServer::start();
        let mut env = Env::new();
        env.watch(&good).watch(&other);
        let file = env.write_file("direct.url", &good.hook_url(), 0o600);
        env.write_secret("named", &other.hook_url());

        let mut c = env.cmd();
        c.args([
            "send",
            "--webhook-file",
            file.to_str().unwrap(),
            "--webhook",
            "named",
            "x",
        ])
        .env("MATTERMOST_WEBHOOK_URL", other.hook_url());
        env.run(&mut c).assert_success();
        assert_eq!((good.posts().len(), other.posts().len()), (1, 0));

        let mut c = env.cmd();
        c.args(["send", "x"])
            .env("MMNOTIFY_WEBHOOK", "named")
            .env("MATTERMOST_WEBHOOK_URL", good.hook_url());
        env.run(&mut c).assert_success();
        assert_eq!((good.posts().len(), other.posts().len()), (1, 1));

        let mut c = env.cmd();
        c.args(["send", "x"])
            .env("MATTERMOST_WEBHOOK_URL", good.hook_url());
        env.run(&mut c).assert_success();
        assert_eq!((good.posts().len(), other.posts().len()), (2, 1));
    }

    #[test]
    fn plain_http_elsewhere_warns() {
        let mut env = Env::new();
        env.secret(HOOK_ID);
        env.write_secret("remote", &format!("http://mm.invalid/hooks/{HOOK_ID}"));
        let mut c = env.cmd();
        c.args([
            "send",
            "--webhook",
            "remote",
            "--retries",
            "0",
            "--no-spool",
            "x",
        ]);
        env.run(&mut c)
            .assert_code(5)
            .assert_stderr_contains("unencrypted");
    }
}

mod tls {
    use super::*;

    fn tls_env(setup: fn(&Pki) -> TlsSetup) -> (Env, MockServer, Pki) {
        let dir = tempfile::tempdir().unwrap().keep();
        let pki = Pki::generate(&dir);
        let opts = ServerOptions {
            tls: Some(setup(&pki)),
            ..Default::default()
        };
        let (env, server) = hooked(opts);
        (env, server, pki)
    }

    #[test]
    fn ca_file_adds_a_root() {
        let (env, server, pki) = tls_env(TlsSetup::server);
        assert!(server.hook_url().starts_with("https://"));
        env.run(&mut env.send(&["--retries", "0", "--no-spool", "x"]))
            .assert_code(5)
            .assert_stderr_contains("--ca-file");
        env.run(&mut env.send(&["--ca-file", pki.ca_cert.to_str().unwrap(), "x"]))
            .assert_success();
        assert_eq!(server.posts().len(), 1);
        let mut c = env.send(&["x"]);
        c.env("MMNOTIFY_CA_FILE", &pki.other_ca_cert);
        env.run(&mut c).assert_code(5);
    }

    #[test]
    fn a_ca_in_the_system_store_is_trusted_unless_opted_out() {
        let (env, server, pki) = tls_env(TlsSetup::server);
        let quick = ["--retries", "0", "--no-spool", "x"];
        // The machine's own store does not hold the test CA.
        env.run(&mut env.send(&quick))
            .assert_code(5)
            .assert_stderr_contains("nor in the system store");
        let mut c = env.send(&["x"]);
        c.env("SSL_CERT_FILE", &pki.ca_cert);
        env.run(&mut c).assert_success();
        assert_eq!(server.posts().len(), 1);

        let dir = env.root().join("certs");
        std::fs::create_dir(&dir).unwrap();
        std::fs::copy(&pki.ca_cert, dir.join("corporate.pem")).unwrap();
        let mut c = env.send(&["x"]);
        c.env("SSL_CERT_DIR", &dir);
        env.run(&mut c).assert_success();
        assert_eq!(server.posts().len(), 2);

        let mut c = env.send(&["--no-system-roots", "--retries", "0", "--no-spool", "x"]);
        c.env("SSL_CERT_FILE", &pki.ca_cert);
        env.run(&mut c)
            .assert_code(5)
            .assert_stderr_contains("--no-system-roots");
        let mut c = env.send(&quick);
        c.env("SSL_CERT_FILE", &pki.other_ca_cert);
        env.run(&mut c).assert_code(5);
        assert_eq!(server.posts().len(), 2);
    }

    #[test]
    fn bad_ca_and_key_files_are_configuration_errors() {
        let (env, server, pki) = tls_env(TlsSetup::mtls);
        let empty = env.write_file("empty.pem", "no certificate here\n", 0o644);
        env.run(&mut env.send(&["--ca-file", empty.to_str().unwrap(), "x"]))
            .assert_code(3)
            .assert_stderr_contains("no PEM certificate");
        env.run(&mut env.send(&["--ca-file", "/nonexistent.pem", "x"]))
            .assert_code(3);
        env.run(&mut env.send(&[
            "--ca-file",
            pki.ca_cert.to_str().unwrap(),
            "--client-cert",
            pki.client_cert.to_str().unwrap(),
            "--client-key",
            pki.other_key.to_str().unwrap(),
            "x",
        ]))
        .assert_code(3)
        .assert_stderr_contains("does not match");
        assert_eq!(
            server.connections(),
            0,
            "nothing may connect with a bad key"
        );
    }

    #[test]
    fn mutual_tls_accepted_and_refused() {
        let (env, server, pki) = tls_env(TlsSetup::mtls);
        let ca = pki.ca_cert.to_str().unwrap();
        env.run(&mut env.send(&["--ca-file", ca, "--retries", "0", "--no-spool", "x"]))
            .assert_code(5)
            .assert_stderr_contains("client certificate");
        assert_eq!(server.posts().len(), 0);
        env.run(&mut env.send(&[
            "--ca-file",
            ca,
            "--client-cert",
            pki.client_cert.to_str().unwrap(),
            "--client-key",
            pki.client_key.to_str().unwrap(),
            "x",
        ]))
        .assert_success();
        assert_eq!(server.posts().len(), 1);
    }

    #[test]
    fn expired_certificate() {
        let (env, _server, pki) = tls_env(TlsSetup::expired);
        env.run(&mut env.send(&[
            "--ca-file",
            pki.ca_cert.to_str().unwrap(),
            "--retries",
            "0",
            "--no-spool",
            "x",
        ]))
        .assert_code(5)
        .assert_stderr_contains("expired");
    }
}

mod proxy {
    use super::*;

    #[test]
    fn environment_proxy_is_used_and_no_proxy_bypasses_it() {
        let (env, server) = setup();
        let proxy = ConnectProxy::start();
        let mut c = env.send(&["via proxy"]);
        c.env("HTTPS_PROXY", proxy.url())
            .env("http_proxy", proxy.url());
        env.run(&mut c).assert_success();
        assert_eq!(
            proxy.tunnels(),
            vec![format!("127.0.0.1:{}", server.port())]
        );
        assert_eq!(server.posts().len(), 1);

        let mut c = env.send(&["direct"]);
        c.env("HTTP_PROXY", proxy.url())
            .env("NO_PROXY", "127.0.0.1");
        env.run(&mut c).assert_success();
        assert_eq!(proxy.tunnels().len(), 1, "NO_PROXY must bypass the proxy");

        let mut c = env.send(&["--proxy", "none", "direct"]);
        c.env("ALL_PROXY", proxy.url());
        env.run(&mut c).assert_success();
        assert_eq!(
            proxy.tunnels().len(),
            1,
            "--proxy none must ignore ALL_PROXY"
        );
        assert_eq!(server.posts().len(), 3);
    }

    #[test]
    fn explicit_proxy_flag() {
        let (env, server) = setup();
        let proxy = ConnectProxy::start();
        env.run(&mut env.send(&["--proxy", &proxy.url(), "x"]))
            .assert_success();
        assert_eq!(proxy.tunnels().len(), 1);
        assert_eq!(server.posts().len(), 1);
        // A bad --proxy value is a usage error (2), as every flag value clap could check;
        // its password is not shown.
        let run = env.run(&mut env.send(&["--proxy", "http://u:secretpw@[bad", "x"]));
        run.assert_code(2).assert_stderr_contains("--proxy");
        assert!(!run.stderr.contains("secretpw"), "{}", run.stderr);
    }
}

/// Findings of a review, kept as regressions.
mod review {
    use super::*;

    #[test]
    fn a_url_given_as_name_or_path_is_refused_without_echo() {
        let (env, server) = setup();
        let url = server.hook_url();
        let mut c = env.cmd();
        c.args(["send", "--webhook", &url, "x"]);
        env.run(&mut c)
            .assert_code(3)
            .assert_stderr_contains("looks like the webhook URL");
        let mut c = env.cmd();
        c.args(["doctor", "--output", "json"])
            .env("MMNOTIFY_WEBHOOK_FILE", &url);
        env.run(&mut c).assert_code(3);
        assert_eq!(server.requests().len(), 0);
    }

    #[test]
    fn malformed_hosts_are_configuration_errors() {
        let (env, server) = setup();
        for host in ["ex{ample.com", "host:8065:99", "ünï.example"] {
            env.write_secret("odd", &format!("https://{host}/hooks/{HOOK_ID}"));
            let mut c = env.cmd();
            c.args(["send", "--webhook", "odd", "x"]);
            env.run(&mut c).assert_code(3);
        }
        assert!(!env.state().join("spool").exists());
        assert_eq!(server.requests().len(), 0);
    }

    #[test]
    fn zero_and_huge_durations_are_usage_errors() {
        let (env, server) = setup();
        for args in [
            vec!["--timeout", "0s", "x"],
            vec!["--attempt-timeout", "0s", "x"],
            vec!["--timeout", "300000000000years", "x"],
        ] {
            env.run(&mut env.send(&args)).assert_code(2);
        }
        let mut c = env.cmd();
        c.args(["run", "--max-runtime", "300000000000years", "--", "true"]);
        env.run(&mut c).assert_code(2);
        assert_eq!(server.requests().len(), 0);
    }

    #[test]
    fn json_output_is_one_object_on_every_path() {
        let (env, server) = setup();
        let mut c = env.cmd();
        c.args([
            "send",
            "--output",
            "json",
            "--webhook-file",
            "/nonexistent",
            "x",
        ]);
        let run = env.run(&mut c);
        run.assert_code(3);
        let v = run.json();
        assert_eq!(v["status"], "failed");
        assert_eq!(v["exit_code"], 3);

        let run = env.run(&mut env.send(&["--output", "json", "--dry-run", "hi"]));
        run.assert_success();
        let v = run.json();
        assert_eq!(v["status"], "dry-run");
        assert_eq!(v["payload"]["text"], "hi");

        let mut c = env.cmd();
        c.args(["build", "--dry-run", "--output", "json", "--no-env"])
            .args(["--workflow", "ci", "--state", "failed"]);
        let v = env.run(&mut c).json();
        assert_eq!(v["status"], "dry-run");
        assert_eq!(v["payload"]["attachments"][0]["color"], "#D24B4E");
        assert_eq!(server.requests().len(), 0);
    }

    #[test]
    fn server_error_ids_are_redacted_too() {
        let (env, server) = setup();
        server.script([Fault::Response {
            status: 403,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: format!(
                r#"{{"id":"x.{HOOK_ID}","message":"{}"}}"#,
                "m".repeat(290) + HOOK_ID
            ),
        }]);
        // The harness fails the test if the id shows anywhere.
        env.run(&mut env.send(&["--output", "json", "x"]))
            .assert_code(43);
    }

    #[test]
    fn unreadable_input_files_are_input_errors() {
        let (env, _server) = setup();
        let dir = env.root().to_str().unwrap().to_string();
        env.run(&mut env.send(&["--dry-run", "--payload", &dir]))
            .assert_code(4);
        let mut c = env.cmd();
        c.args(["build", "--dry-run", "--no-env", "--event", &dir]);
        env.run(&mut c).assert_code(4);
        let mut c = env.cmd();
        c.args(["probe", "--webhook", "hook", "--text", " "]);
        env.run(&mut c).assert_code(4);
    }

    #[test]
    fn a_report_that_cannot_be_built_keeps_the_jobs_exit_code() {
        let (env, server) = setup();
        let huge = "a".repeat(110_000);
        let mut c = env.cmd();
        c.args([
            "run",
            "--webhook",
            "hook",
            "-q",
            "--channel",
            &huge,
            "--username",
            &huge,
        ])
        .args(["--icon-url", &huge, "--", "sh", "-c", "exit 3"]);
        env.run(&mut c)
            .assert_code(3)
            .assert_stderr_contains("not posted");
        // -q silences warnings, not the diagnostic of a lost report.
        server.script([Fault::Status(400)]);
        let mut c = env.cmd();
        c.args(["run", "--webhook", "hook", "-q", "--", "true"]);
        env.run(&mut c)
            .assert_success()
            .assert_stderr_contains("400");
    }
}

#[test]
fn the_color_flag_says_it_colours_the_attachment_not_the_terminal() {
    let env = Env::new();
    let mut c = env.cmd();
    c.args(["send", "--help"]);
    let run = env.run(&mut c);
    run.assert_success();
    let help = run.stdout.replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("it colours the attachment, not the terminal"),
        "{help}"
    );
}

/// A malformed `--field` is explained in the form its help shows (TITLE=VALUE), and a
/// malformed `--prop` in its own (KEY=JSON).
#[test]
fn malformed_pairs_are_explained_in_the_flags_own_form() {
    let (env, server) = setup();
    for (flag, form, other) in [
        ("--field", "TITLE=VALUE", "KEY=VALUE"),
        ("--field-short", "TITLE=VALUE", "KEY=VALUE"),
        ("--prop", "KEY=JSON", "KEY=VALUE"),
    ] {
        let run = env.run(&mut env.send(&[flag, "novalue", "x"]));
        run.assert_code(2)
            .assert_stderr_contains(&format!("expected {form}"));
        assert!(!run.stderr.contains(other), "{flag}: {}", run.stderr);
    }
    assert!(server.requests().is_empty());
}
