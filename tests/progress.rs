//! Progress bars on long work: shown to a person at a terminal (a pty made by util-linux
//! `script`), never in a pipe, with `-q` or with `--output json`.

use std::process::Command;

use crate::support::{Env, Fault, MockServer, ServerOptions};

/// What the bar prints: `[====>   ] 3/6 items, …`.
fn has_bar(text: &str, unit: &str) -> bool {
    text.contains(&format!(" {unit}, ")) && text.contains("mmnotify: ")
}

/// The terminal's lines as a person sees them: a carriage return and "clear line"
/// (`ESC [2K`) replace what the bar had drawn.
fn screen_lines(raw: &str) -> Vec<String> {
    raw.lines()
        .map(|l| {
            let last = l.rsplit('\r').next().unwrap_or("");
            last.trim_start_matches("\x1b[2K").to_string()
        })
        .collect()
}

/// `inner` run inside a pseudo-terminal: its stdout and stderr are the terminal, whose
/// output `script` copies to its own stdout.
fn in_pty(inner: &Command) -> Command {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let mut line = quote(inner.get_program());
    for a in inner.get_args() {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let mut c = Command::new("script");
    c.env_clear();
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.env("TERM", "xterm");
    if let Some(dir) = inner.get_current_dir() {
        c.current_dir(dir);
    }
    c.args(["-qefc", &line, "/dev/null"]);
    c
}

fn spool_items(env: &Env, server: &MockServer, n: usize) {
    for i in 0..n {
        server.script([Fault::Status(503)]);
        let mut c = env.cmd();
        c.args([
            "send",
            "--webhook",
            "hook",
            "--retries",
            "0",
            &format!("m{i}"),
        ]);
        env.run(&mut c).assert_code(6);
    }
}

#[test]
fn flush_shows_a_bar_on_a_terminal_only() {
    let (env, server) = crate::support::hooked(ServerOptions::default());
    spool_items(&env, &server, 6);
    // Piped stderr: no bar, no cursor movement.
    let out = env.run(&mut env.flush(&[]));
    out.assert_success().assert_stderr_contains("6 posted");
    assert!(!has_bar(&out.stderr, "items"), "{}", out.stderr);
    assert!(!out.stderr.contains('\r') && !out.stderr.contains('\x1b'));

    for quiet in [&["-q"][..], &["--output", "json"]] {
        spool_items(&env, &server, 6);
        let out = env.run(&mut in_pty(&env.flush(quiet)));
        out.assert_success();
        assert!(!has_bar(&out.stdout, "items"), "{quiet:?}: {}", out.stdout);
    }

    spool_items(&env, &server, 6);
    server.script([Fault::Status(503)]);
    let out = env.run(&mut in_pty(&env.flush(&[])));
    out.assert_code(6);
    assert!(has_bar(&out.stdout, "items"), "{}", out.stdout);
    assert!(out.stdout.contains("/6 items"), "{}", out.stdout);
    // The warning about the failed item has a line of its own, not glued to the bar.
    let warning = screen_lines(&out.stdout)
        .into_iter()
        .find(|l| l.contains("kept in the spool"))
        .expect("a warning");
    assert!(warning.starts_with("mmnotify: warning: "), "{warning:?}");
}

#[test]
fn build_events_file_shows_count_rate_and_total_on_a_terminal() {
    let (env, server) = crate::support::hooked(ServerOptions::default());
    let events = ["r0", "r1", "r2"].map(|id| {
        format!("{{\"workflow\":\"ci\",\"state\":\"succeeded\",\"provider_run_id\":\"{id}\"}}\n\n")
    });
    let events = events.concat();
    let file = env.write_file("events.ndjson", &format!("{events}not json\n"), 0o600);
    let build = |extra: &[&str]| {
        let mut c = env.cmd();
        c.args(["build", "--webhook", "hook", "--no-env", "--events"])
            .arg(&file)
            .args(extra);
        c
    };
    let out = env.run(&mut build(&[]));
    out.assert_code(4).assert_stderr_contains("3 posted");
    assert!(!has_bar(&out.stderr, "events"), "{}", out.stderr);

    let out = env.run(&mut in_pty(&build(&["--no-dedupe"])));
    out.assert_code(4);
    assert!(out.stdout.contains("/4 events"), "{}", out.stdout);
    let invalid = screen_lines(&out.stdout)
        .into_iter()
        .find(|l| l.contains("invalid event"))
        .expect("the invalid line is reported");
    assert!(invalid.starts_with("mmnotify: line 7: "), "{invalid:?}");

    let out = env.run(&mut in_pty(&build(&["--no-dedupe", "-q"])));
    assert!(!has_bar(&out.stdout, "events"), "{}", out.stdout);
    assert_eq!(server.posts().len(), 9);
}

#[test]
fn build_events_from_stdin_shows_count_and_rate() {
    let (env, server) = crate::support::hooked(ServerOptions::default());
    env.write_file(
        "events.ndjson",
        "{\"workflow\":\"ci\",\"state\":\"failed\",\"provider_run_id\":\"s1\"}\n",
        0o600,
    );
    // stdin from a pipe inside the terminal, as `producer | mmnotify build --events -`.
    let mut inner = env.cmd();
    inner.args(["build", "--webhook", "hook", "--no-env", "--events", "-"]);
    let mut shell = Command::new("sh");
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            shell.env(k, v);
        }
    }
    shell.current_dir(env.root()).args([
        "-c",
        &format!(
            "cat events.ndjson | '{}' build --webhook hook --no-env --events -",
            env!("CARGO_BIN_EXE_mmnotify")
        ),
    ]);
    let out = env.run(&mut in_pty(&shell));
    out.assert_success();
    assert!(has_bar(&out.stdout, "events"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("/1 events"),
        "no total for a stream: {}",
        out.stdout
    );
    assert_eq!(server.posts().len(), 1);
}
