//! The trust rules of the contract under attack: hook ids from a hostile server, URLs
//! pasted into path options, messages that would publish the token, closed output pipes
//! and secrets files that are not what they seem. Every run goes through `Env`, which
//! fails on any watched hook id in output or state files.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{setup, Closed, Env, Fault, HOOK_ID, OTHER_HOOK_ID};

/// No file or directory anywhere under the test root is named after a hook id.
fn assert_no_token_in_names(env: &Env) {
    let mut stack = vec![env.root().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            for id in [HOOK_ID, OTHER_HOOK_ID] {
                assert!(
                    !name.contains(id),
                    "{} names a token",
                    entry.path().display()
                );
            }
            assert!(
                !name.contains("https:"),
                "{} looks like a URL",
                entry.path().display()
            );
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }
}

#[test]
fn a_redirect_to_another_hook_never_shows_its_id() {
    let (env, server) = setup();
    server.script([Fault::Redirect {
        status: 301,
        location: format!("https://elsewhere.example/hooks/{OTHER_HOOK_ID}"),
    }]);
    // The harness watches OTHER_HOOK_ID: its appearance anywhere fails the run.
    let run = env.run(&mut env.send(&["--output", "json", "x"]));
    run.assert_code(7)
        .assert_stderr_contains("redirected the request to https://elsewhere.example/hooks/…tr5a");
    assert_eq!(run.json()["status"], "failed");
}

/// A URL that went through an encoder, or was typed with another case or Windows
/// separators, still opens the hook: it is refused like the plain one, never echoed.
#[test]
fn mangled_webhook_urls_in_paths_are_refused_without_echo() {
    let (env, server) = setup();
    let encoded = format!("http%3A%2F%2F127.0.0.1%2Fhooks%2F{HOOK_ID}");
    let upper = format!("chat.example.com/HOOKS/{HOOK_ID}");
    let windows = format!("chat.example.com\\hooks\\{HOOK_ID}");
    for mangled in [&encoded, &upper, &windows] {
        for args in [
            vec!["send", "--webhook-file", mangled.as_str(), "x"],
            vec!["send", "--webhook", "hook", "--state-dir", mangled, "x"],
            vec!["send", "--webhook", "hook", "--ca-file", mangled, "x"],
        ] {
            env.run(env.cmd().args(&args))
                .assert_code(3)
                .assert_stderr_contains("looks like the webhook URL");
        }
    }
    assert_eq!(server.posts().len(), 0, "nothing may be posted");
    assert_no_token_in_names(&env);
}

#[test]
fn path_options_holding_a_webhook_url_are_refused_without_echo() {
    let (env, server) = setup();
    let url = server.hook_url();
    let in_path = format!("state/hooks/{HOOK_ID}");
    let flag_cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["send", "--webhook", "hook", "--secrets-dir", &url, "x"],
            "--secrets-dir",
        ),
        (
            vec!["send", "--webhook", "hook", "--state-dir", &url, "x"],
            "--state-dir",
        ),
        (
            vec!["send", "--webhook", "hook", "--state-dir", &in_path, "x"],
            "--state-dir",
        ),
        (
            vec!["send", "--webhook", "hook", "--ca-file", &url, "x"],
            "--ca-file",
        ),
        (
            vec![
                "send",
                "--webhook",
                "hook",
                "--client-cert",
                &url,
                "--client-key",
                "k.pem",
                "x",
            ],
            "--client-cert",
        ),
        (
            vec![
                "send",
                "--webhook",
                "hook",
                "--client-cert",
                "c.pem",
                "--client-key",
                &url,
                "x",
            ],
            "--client-key",
        ),
        (
            vec!["send", "--webhook", "hook", "--proxy", &url, "x"],
            "--proxy",
        ),
        (
            vec!["send", "--webhook", "hook", "--payload", &url],
            "--payload",
        ),
        (
            vec!["build", "--webhook", "hook", "--no-env", "--event", &url],
            "--event",
        ),
        (
            vec!["build", "--webhook", "hook", "--no-env", "--events", &url],
            "--events",
        ),
        (vec!["flush", "--state-dir", &url], "--state-dir"),
        (
            vec!["probe", "--webhook", "hook", "--ca-file", &url],
            "--ca-file",
        ),
        (
            vec!["doctor", "--webhook", "hook", "--secrets-dir", &url],
            "--secrets-dir",
        ),
        // The gateway's files: refused before anything is read or written (a metrics
        // file named after the URL would write its token to disk; `flush` with an empty
        // spool never resolved its queue).
        (
            vec![
                "build",
                "--consume",
                "--webhook",
                "hook",
                "--queue",
                "redis://127.0.0.1:9",
                "--metrics-file",
                &url,
            ],
            "--metrics-file",
        ),
        (
            vec![
                "build",
                "--consume",
                "--webhook",
                "hook",
                "--queue",
                "redis://127.0.0.1:9",
                "--metrics-file",
                &in_path,
            ],
            "--metrics-file",
        ),
        (vec!["flush", "--queue-file", &url], "--queue-file"),
        (vec!["flush", "--queue-file", &in_path], "--queue-file"),
        (
            vec!["flush", "--dedupe-store-file", &in_path],
            "--dedupe-store-file",
        ),
        (
            vec!["doctor", "--webhook", "hook", "--queue-file", &in_path],
            "--queue-file",
        ),
        (
            vec![
                "build",
                "--enqueue",
                "--no-env",
                "--workflow",
                "ci",
                "--queue-file",
                &in_path,
            ],
            "--queue-file",
        ),
    ];
    for (args, flag) in flag_cases {
        let run = env.run(env.cmd().args(&args));
        run.assert_code(3)
            .assert_stderr_contains(flag)
            .assert_stderr_contains("looks like the webhook URL");
    }
    let env_cases = [
        ("MMNOTIFY_STATE_DIR", "MMNOTIFY_STATE_DIR"),
        ("MMNOTIFY_SECRETS_DIR", "MMNOTIFY_SECRETS_DIR"),
        ("MMNOTIFY_CA_FILE", "MMNOTIFY_CA_FILE"),
        ("MMNOTIFY_PROXY", "MMNOTIFY_PROXY"),
        ("XDG_STATE_HOME", "XDG_STATE_HOME"),
    ];
    for (var, named) in env_cases {
        let mut cmd = env.send(&["x"]);
        cmd.env(var, &url);
        if var == "XDG_STATE_HOME" {
            // Only consulted without an explicit state dir, and only when it is needed:
            // a delivery that fails into the spool.
            cmd.env_remove("MMNOTIFY_STATE_DIR").env(
                "XDG_STATE_HOME",
                env.root().join(format!("x/hooks/{HOOK_ID}")),
            );
            server.script([Fault::Status(503)]);
            cmd.args(["--retries", "0"]);
        }
        let run = env.run(&mut cmd);
        if var == "XDG_STATE_HOME" {
            run.assert_code(6)
                .assert_stderr_contains("could not save the message in the spool");
        } else {
            run.assert_code(3);
        }
        run.assert_stderr_contains(named);
    }
    for var in ["MMNOTIFY_QUEUE_FILE", "MMNOTIFY_DEDUPE_STORE_FILE"] {
        let run = env.run(env.cmd().arg("flush").env(var, &url));
        run.assert_code(3)
            .assert_stderr_contains(var)
            .assert_stderr_contains("looks like the webhook URL");
    }
    assert_eq!(server.posts().len(), 0, "nothing may be posted");
    assert_no_token_in_names(&env);
}

/// A dry run previews the post, refusal included: with a webhook at hand, a message
/// holding its token is exit 4 and is not printed either.
#[test]
fn a_path_option_holding_another_url_is_refused_with_a_fix_that_fits() {
    let (env, _server) = setup();
    // A Redis URL with its password where a file path goes: refused without echo, and
    // the fix is not about the webhook.
    let url = "redis://:s3cretpw@127.0.0.1:9/0";
    for (args, flag) in [
        (
            vec![
                "build",
                "--consume",
                "--webhook",
                "hook",
                "--queue",
                "redis://127.0.0.1:9",
            ],
            "--metrics-file",
        ),
        (vec!["send", "--webhook", "hook", "x"], "--ca-file"),
    ] {
        let run = env.run(env.cmd().args(&args).args([flag, url]));
        run.assert_code(3)
            .assert_stderr_contains(flag)
            .assert_stderr_contains("looks like a URL; it takes the path of a file");
        assert!(!run.stderr.contains("webhook URL"), "{}", run.stderr);
        assert!(!run.stderr.contains("s3cretpw"), "{}", run.stderr);
    }
}

#[test]
fn a_dry_run_of_a_message_holding_the_own_url_is_refused_too() {
    let (env, server) = setup();
    let url = server.hook_url();
    let build = [
        "build",
        "--webhook",
        "hook",
        "--no-env",
        "--workflow",
        "ci",
        "--state",
        "failed",
        "--run-url",
        &url,
    ];
    for args in [
        vec!["send", "--webhook", "hook", "--dry-run", "look:", &url],
        vec![
            "send",
            "--webhook",
            "hook",
            "--dry-run",
            "--output",
            "json",
            &url,
        ],
        [&build[..], &["--dry-run"]].concat(),
    ] {
        let run = env.run(env.cmd().args(&args));
        run.assert_code(4)
            .assert_stderr_contains("this webhook's own URL");
    }
    // With no webhook at all there is no token to find: the preview is printed.
    env.run(env.cmd().args(["send", "--dry-run", "hello"]))
        .assert_success()
        .assert_stdout_contains("hello");
    assert!(server.requests().is_empty(), "nothing may be sent");
}

/// Errors that quote a value the user gave (a payload `type`, an event `state`, a
/// rejected flag value) come before the token check of sending: a bare token pasted there
/// is not repeated.
#[test]
fn a_bare_token_in_a_rejected_value_is_not_repeated() {
    let (env, server) = setup();
    let payload = env.write_file(
        "type.json",
        &format!(r#"{{"text":"t","type":"system_{HOOK_ID}"}}"#),
        0o600,
    );
    let event = env.write_file(
        "event.json",
        &format!(r#"{{"workflow":"ci","state":"{HOOK_ID}"}}"#),
        0o600,
    );
    // The payload error names only the length of such a value; the others shorten it.
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec![
                "send",
                "--webhook",
                "hook",
                "--payload",
                payload.to_str().unwrap(),
            ],
            4,
            "33-character value",
        ),
        (
            vec![
                "build",
                "--webhook",
                "hook",
                "--no-env",
                "--event",
                event.to_str().unwrap(),
            ],
            4,
            "…o1ha",
        ),
        (
            vec!["send", "--webhook", "hook", "--color", HOOK_ID, "x"],
            2,
            "…o1ha",
        ),
    ];
    for (args, code, shown) in cases {
        env.run(env.cmd().args(&args))
            .assert_code(code)
            .assert_stderr_contains(shown);
    }
    assert!(server.requests().is_empty(), "nothing may be sent");
}

#[test]
fn a_message_holding_the_webhooks_own_url_is_refused() {
    let (env, server) = setup();
    let url = server.hook_url();
    let payload = env.write_file(
        "payload.json",
        &format!(r#"{{"text":"t","attachments":[{{"text":"{url}"}}]}}"#),
        0o600,
    );
    let payload = payload.to_str().unwrap();
    let prop = format!(r#"leak="{HOOK_ID}""#);
    let cases: Vec<Vec<&str>> = vec![
        vec!["send", "--webhook", "hook", "look:", &url],
        vec!["send", "--webhook", "hook", "--payload", payload],
        vec!["send", "--webhook", "hook", "--card", &url, "x"],
        vec!["send", "--webhook", "hook", "--prop", &prop, "x"],
        vec![
            "send",
            "--webhook",
            "hook",
            "--attachment-text",
            HOOK_ID,
            "x",
        ],
        vec!["probe", "--webhook", "hook", "--text", &url],
        vec![
            "build",
            "--webhook",
            "hook",
            "--no-env",
            "--workflow",
            "ci",
            "--state",
            "failed",
            "--run-id",
            "7",
            "--run-url",
            &url,
        ],
    ];
    for args in cases {
        let run = env.run(env.cmd().args(&args));
        run.assert_code(4).assert_stderr_contains(
            "the message contains this webhook's own URL; it would publish the token to the \
             channel",
        );
    }
    assert!(server.requests().is_empty(), "nothing may be sent");
    // Another hook's id is not this webhook's credential: it goes out.
    env.run(&mut env.send(&["other", OTHER_HOOK_ID]))
        .assert_success();
    assert_eq!(server.posts().len(), 1);
}

/// The token broken up by a space in a `--prop` value nested 126 or 127 deep: in the post
/// it sits deeper than `serde_json`'s recursion limit of 128, so the body did not parse
/// and was searched as bytes only, where a broken-up token is not.
#[test]
fn a_broken_up_token_nested_deep_in_a_prop_is_refused() {
    let (env, server) = setup();
    for depth in [1, 126, 127] {
        let value = format!(
            "{}\"{} {}\"{}",
            "[".repeat(depth),
            &HOOK_ID[..13],
            &HOOK_ID[13..],
            "]".repeat(depth)
        );
        let prop = format!("k={value}");
        env.run(&mut env.send(&["--prop", &prop, "hello"]))
            .assert_code(4)
            .assert_stderr_contains("this webhook's own URL");
    }
    assert!(server.requests().is_empty(), "nothing may be sent");
}

fn stderr_closed() -> Closed {
    Closed {
        stdout: false,
        stderr: true,
    }
}

fn both_closed() -> Closed {
    Closed {
        stdout: true,
        stderr: true,
    }
}

#[test]
fn a_closed_stderr_or_stdout_never_stops_a_post() {
    let (env, server) = setup();
    let long = "a".repeat(17_000);
    let runs: Vec<(Vec<&str>, Closed, i32)> = vec![
        (
            vec!["send", "--webhook", "hook", "-v", "hello"],
            stderr_closed(),
            0,
        ),
        // The truncation warning goes to the closed stderr.
        (vec!["send", "--webhook", "hook", &long], stderr_closed(), 0),
        (
            vec![
                "send",
                "--webhook",
                "hook",
                "-v",
                "--output",
                "json",
                "json",
            ],
            both_closed(),
            0,
        ),
        // No --run-id: the "posted without deduplication" warning goes to stderr.
        (
            vec![
                "build",
                "--webhook",
                "hook",
                "-v",
                "--no-env",
                "--workflow",
                "ci",
                "--state",
                "succeeded",
            ],
            both_closed(),
            0,
        ),
        (
            vec![
                "run",
                "--webhook",
                "hook",
                "-v",
                "--",
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ],
            both_closed(),
            3,
        ),
        (vec!["probe", "--webhook", "hook"], both_closed(), 0),
    ];
    for (args, closed, code) in runs {
        server.clear();
        let run = env.run_with_closed(env.cmd().args(&args), closed);
        assert_eq!(run.code, code, "{args:?}: {run:?}");
        assert_eq!(server.posts().len(), 1, "{args:?}: exactly one post");
    }
    // A closed descriptor (`2>&-`) rather than a broken pipe.
    server.clear();
    let mut cmd = env.send(&["-v", "fd closed"]);
    // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe
    // calls are sound; close(2) is one, allocates nothing and touches only the child's own
    // descriptor table (the stderr it closes is the child's, not the test's).
    unsafe {
        cmd.pre_exec(|| {
            libc::close(libc::STDERR_FILENO);
            Ok(())
        });
    }
    env.run(&mut cmd).assert_success();
    assert_eq!(server.posts().len(), 1);
    // A failure keeps its exit code when no one reads the diagnostic.
    server.clear();
    server.script([Fault::Status(404)]);
    let run = env.run_with_closed(&mut env.send(&["x"]), both_closed());
    assert_eq!(run.code, 44, "{run:?}");
}

#[test]
fn completions_into_a_closed_pipe_exit_zero() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = env.run_with_closed(
            env.cmd().args(["completions", shell]),
            Closed {
                stdout: true,
                stderr: false,
            },
        );
        assert_eq!(run.code, 0, "{shell}: {run:?}");
        assert_eq!(run.stderr, "", "{shell}");
    }
}

#[test]
fn tls_and_input_files_are_read_bounded() {
    let (env, server) = setup();
    // A device is no PEM file (refused on its type, like a FIFO); a regular file over
    // the cap is refused on its size.
    let big = env.write_file("big.pem", &"#".repeat(1024 * 1024 + 1), 0o600);
    let big = big.to_str().unwrap();
    for (flag, file, why) in [
        ("--ca-file", "/dev/zero", "is not a regular file"),
        ("--client-cert", "/dev/zero", "is not a regular file"),
        ("--ca-file", big, "larger than 1 MiB"),
        ("--client-cert", big, "larger than 1 MiB"),
    ] {
        let mut cmd = env.send(&[flag, file, "x"]);
        if flag == "--client-cert" {
            cmd.args(["--client-key", file]);
        }
        let start = Instant::now();
        env.run(&mut cmd).assert_code(3).assert_stderr_contains(why);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{flag}: {:?}",
            start.elapsed()
        );
    }
    let start = Instant::now();
    env.run(&mut env.send(&["--payload", "/dev/zero"]))
        .assert_code(4)
        .assert_stderr_contains("larger than");
    env.run(env.cmd().args([
        "build",
        "--webhook",
        "hook",
        "--no-env",
        "--event",
        "/dev/zero",
    ]))
    .assert_code(4)
    .assert_stderr_contains("larger than");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(server.requests().is_empty());
}

#[test]
fn secrets_files_that_are_not_regular_files_are_refused_at_once() {
    let (env, server) = setup();
    let fifo = env.secrets_dir().join("fifo.url");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a NUL-terminated string that outlives the call; mkfifo only reads it.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let dir = env.secrets_dir().join("dir.url");
    std::fs::create_dir(&dir).unwrap();
    for args in [
        vec!["send", "--webhook", "fifo", "x"],
        vec!["send", "--webhook", "dir", "x"],
        vec!["send", "--webhook-file", "/dev/zero", "x"],
    ] {
        let start = Instant::now();
        env.run(env.cmd().args(&args))
            .assert_code(3)
            .assert_stderr_contains("not a regular file");
        assert!(start.elapsed() < Duration::from_secs(2), "{args:?}");
    }
    let big = format!("{}\n{}", server.hook_url(), "#".repeat(70_000));
    env.write_secret("big", &big);
    env.run(env.cmd().args(["send", "--webhook", "big", "x"]))
        .assert_code(3)
        .assert_stderr_contains("larger than 64 KiB");
    assert!(server.requests().is_empty());
}

#[test]
fn a_secrets_file_with_bom_and_crlf_is_read() {
    let (env, server) = setup();
    env.write_secret(
        "windows",
        &format!(
            "\u{feff}# saved by Notepad\r\n\r\n{}\r\n",
            server.hook_url()
        ),
    );
    env.run(
        env.cmd()
            .args(["send", "--webhook", "windows", "from windows"]),
    )
    .assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn a_webhook_variable_that_is_not_utf8_is_a_config_error() {
    let (env, server) = setup();
    let mut raw = server.hook_url().into_bytes();
    raw.push(0xff);
    let mut cmd = env.cmd();
    cmd.args(["send", "x"])
        .env("MATTERMOST_WEBHOOK_URL", OsStr::from_bytes(&raw));
    env.run(&mut cmd)
        .assert_code(3)
        .assert_stderr_contains("MATTERMOST_WEBHOOK_URL is not valid UTF-8");
    assert!(server.requests().is_empty());
}

#[test]
fn spooled_items_holding_the_token_are_refused_too() {
    // (`run` reports are scrubbed of every hook id before they get this far.)
    let (env, server) = setup();
    // A spool item whose text decodes to the token (JSON escapes keep the file itself
    // free of it, which the harness checks): flush refuses it as the server would not.
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "x"]))
        .assert_code(6);
    let item = std::fs::read_dir(env.state().join("spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a spooled item");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&item).unwrap()).unwrap();
    json["payload"]["text"] = "PLACEHOLDER".into();
    let escaped = HOOK_ID.chars().fold(String::new(), |mut s, c| {
        write!(s, "\\u{:04x}", u32::from(c)).unwrap();
        s
    });
    let text = json.to_string().replace("PLACEHOLDER", &escaped);
    std::fs::write(&item, text).unwrap();
    server.clear();
    let mut flush = env.cmd();
    flush.args(["flush"]);
    env.run(&mut flush)
        .assert_success()
        .assert_stderr_contains("this webhook's own URL");
    assert!(server.requests().is_empty(), "the item must not be sent");
    assert!(!item.exists(), "the item is moved aside, not retried");
}

#[test]
fn a_url_pasted_into_a_flag_clap_checks_is_not_echoed() {
    let (env, server) = setup();
    let url = server.hook_url();
    let bad_value = format!("--webhook-url={url}");
    for args in [
        vec!["send", "--webhook", "hook", "--timeout", &url, "x"],
        vec!["send", "--webhook", "hook", "--color", &url, "x"],
        vec!["build", "--webhook", "hook", "--state", &url],
    ] {
        // The harness fails the run if the id shows up on stderr.
        let run = env.run(env.cmd().args(&args));
        run.assert_code(2).assert_stderr_contains("/hooks/…");
    }
    env.run(env.cmd().args(["send", &bad_value, "x"]))
        .assert_code(2)
        .assert_stderr_contains("unexpected argument");
    // Help still goes to stdout with exit 0.
    env.run(env.cmd().args(["send", "--help"]))
        .assert_success()
        .assert_stdout_contains("--webhook-file");
    assert!(server.requests().is_empty());
}

/// The usual mix-ups between `--webhook NAME` and `--webhook-file PATH` are answered with
/// the other flag, and a URL pasted with its shell syntax (quotes, `NAME=`, `export`) is
/// named as such; none of it echoes the token.
#[test]
fn webhook_flag_mixups_and_shell_syntax_get_hints() {
    let (env, server) = setup();
    let ops = env.write_secret("ops", &server.hook_url());

    // A path given to --webhook.
    let mut c = env.cmd();
    c.args(["send", "--webhook"]).arg(&ops).arg("x");
    env.run(&mut c)
        .assert_code(3)
        .assert_stderr_contains("not a path")
        .assert_stderr_contains("--webhook-file PATH");

    // A name given to --webhook-file, run where no such file is: the directory has it.
    for given in ["ops", "ops.url"] {
        let mut c = env.cmd();
        c.args(["send", "--webhook-file", given, "x"])
            .current_dir(env.root());
        env.run(&mut c)
            .assert_code(3)
            .assert_stderr_contains("pass --webhook ops");
    }
    // doctor gives the same hint on its secret line.
    let mut c = env.cmd();
    c.args(["doctor", "--webhook-file", "ops"])
        .current_dir(env.root());
    env.run(&mut c)
        .assert_code(3)
        .assert_stdout_contains("pass --webhook ops");

    let url = server.hook_url();
    for (line, hint) in [
        (format!("\"{url}\""), "wrapped in quotes"),
        (format!("'{url}'"), "wrapped in quotes"),
        (
            format!("MATTERMOST_WEBHOOK_URL={url}"),
            "starts with `MATTERMOST_WEBHOOK_URL=`, a shell assignment",
        ),
        (
            format!("MATTERMOST_WEBHOOK_URL=\"{url}\""),
            "without `MATTERMOST_WEBHOOK_URL=` and the quotes",
        ),
        (
            format!("export MATTERMOST_WEBHOOK_URL={url}"),
            "starts with `export MATTERMOST_WEBHOOK_URL=`",
        ),
    ] {
        env.write_secret("pasted", &format!("# from deploy.env\n{line}\n"));
        env.run(&mut send_named(&env, "pasted"))
            .assert_code(3)
            .assert_stderr_contains(hint);
    }
    assert!(server.requests().is_empty());
}

fn send_named(env: &Env, name: &str) -> Command {
    let mut c = env.cmd();
    c.args(["send", "--webhook", name, "x"]);
    c
}

/// The token broken up by invisible characters the filler list missed: variation
/// selectors 17 to 256 (U+E0100..), tag characters (U+E0000..), musical symbol and
/// shorthand format controls. They are default-ignorable like the zero-width space and
/// VS1..VS16 already refused: a reader sees the token whole.
#[test]
fn a_token_broken_up_by_other_invisible_characters_is_refused() {
    let (env, server) = setup();
    for filler in [
        '\u{E0100}',
        '\u{E01EF}',
        '\u{E0020}',
        '\u{E0001}',
        '\u{1D173}',
        '\u{1BCA0}',
    ] {
        let text: String = HOOK_ID.chars().flat_map(|c| [c, filler]).collect();
        env.run(&mut env.send(&[&text]))
            .assert_code(4)
            .assert_stderr_contains("this webhook's own URL");
    }
    assert!(server.requests().is_empty(), "nothing may be sent");
}
