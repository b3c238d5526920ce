//! Issue 14, items 2–4: what a job prints reaches the report (posted, spooled or printed
//! by a dry run) without the token, however the job broke it up, and without any other
//! hook's id, however its slashes were escaped.

use serde_json::Value;

use crate::support::{hooked, Env, Fault, MockServer, Run, ServerOptions, HOOK_ID, OTHER_HOOK_ID};

/// Lines the jobs print in the clear; exempt from the harness's stream check (the job's
/// own output passes through unchanged), never in anything mmnotify builds.
const JOB: &str = "JOB:";
/// The bytes of a line `run` keeps for its report (`TAIL_BYTES` in `commands/run.rs`).
const TAIL_BYTES: usize = 12 * 1024;

/// Characters that can break up a token without hiding it from a reader: what a test
/// takes out before looking for pieces of it.
fn is_filler(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}' | '\u{FFFD}'
        )
}

/// Fails when five characters of `id` in a row are in `text`, fillers taken out: more than
/// the four the redacted form shows.
fn assert_no_piece(text: &str, id: &str, what: &str) {
    let compact: String = text.chars().filter(|c| !is_filler(*c)).collect();
    for piece in id.as_bytes().windows(5) {
        let piece = std::str::from_utf8(piece).unwrap();
        assert!(
            !compact.contains(piece),
            "{what}: `{piece}` of {id} in\n{text}"
        );
    }
}

/// Every string in a JSON value (a post, a spool item, a dry run's report), decoded, one
/// per line.
fn strings(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s}\n"),
        Value::Array(items) => items.iter().map(strings).collect(),
        Value::Object(members) => members
            .iter()
            .flat_map(|(k, v)| [format!("{k}\n"), strings(v)])
            .collect(),
        Value::Null | Value::Bool(_) | Value::Number(_) => String::new(),
    }
}

/// What the emulator received, as text.
fn posted(server: &MockServer) -> String {
    let posts = server.posts();
    assert_eq!(posts.len(), 1, "one report: {posts:?}");
    let p = &posts[0];
    format!(
        "{}\n{}{}",
        p.message,
        strings(&p.attachments),
        strings(&p.props)
    )
}

/// The spooled items' decoded strings.
fn spooled(env: &Env) -> String {
    let dir = env.state().join("spool");
    let mut all = String::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let item: Value = serde_json::from_str(&text).unwrap();
            all += &strings(&item);
        }
    }
    all
}

/// mmnotify's own lines on a stream: the job's, which start with `JOB`, left out.
fn own_lines(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with(JOB))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `mmnotify run --webhook hook [opts] -- sh -c 'cat FILE'`, the file holding `output`.
fn run_cat(env: &Env, opts: &[&str], output: &str) -> Run {
    let file = env.write_file("job-output.txt", output, 0o600);
    let mut c = env.cmd();
    c.args(["run", "--webhook", "hook"]).args(opts).args([
        "--",
        "sh",
        "-c",
        &format!("cat {}", file.display()),
    ]);
    env.run_job(&mut c, JOB)
}

/// Item 2: a line over the tail's 12 KiB, cut inside the URL, with letters and digits
/// glued to the id: the configured token and another hook's id lose every piece.
#[test]
fn a_cut_through_an_id_with_characters_glued_to_it_leaves_no_piece() {
    let (env, server) = hooked(ServerOptions::default());
    for id in [HOOK_ID, OTHER_HOOK_ID] {
        let url = server.hook_url_for(id);
        // How much of `hooks/<id>` the kept end of the line starts with: 25 and 14
        // characters of the id, or the id whole after a cut through `hooks`.
        for kept in [25, 14, 4 + id.len()] {
            server.clear();
            let glued = "z0".repeat(TAIL_BYTES / 2);
            let glued = &glued[..TAIL_BYTES - kept];
            let line = format!("{JOB}{}{url}{glued}\n", "X".repeat(20_000));
            run_cat(&env, &[], &line).assert_success();
            assert_no_piece(&posted(&server), id, &format!("{kept} kept"));
        }
    }
}

/// The job's output for item 3: the token broken up in the ways the issue names.
fn broken_up_tokens(url: &str) -> Vec<(&'static str, String)> {
    let every5 = |sep: &str| {
        let pieces: Vec<String> = HOOK_ID
            .as_bytes()
            .chunks(5)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        format!("token {}\n", pieces.join(sep))
    };
    let base = url.strip_suffix(HOOK_ID).unwrap();
    vec![
        ("zero-width space", every5("\u{200B}")),
        ("soft hyphen", every5("\u{00AD}")),
        ("space", every5(" ")),
        ("NUL", every5("\0")),
        (
            "URL with mixed breaks",
            format!(
                "see {base}{}\u{200B}{}\n\u{00AD}{} done\n",
                &HOOK_ID[..3],
                &HOOK_ID[3..17],
                &HOOK_ID[17..]
            ),
        ),
        (
            "carriage return: the line starts again after the token's head",
            format!(
                "before\n{base}{}\r{} done\nafter\n",
                &HOOK_ID[..5],
                &HOOK_ID[5..]
            ),
        ),
    ]
}

/// Item 3: the token folded over lines (`fold -w 40` of the secrets file, as in the
/// issue) or broken up by invisible characters, spaces or NULs is not posted, nor is a
/// piece of it at the start of the tail (the lines before it were left out) or of a line
/// a carriage return started again.
#[test]
fn a_folded_or_broken_up_token_is_not_posted() {
    let (env, server) = hooked(ServerOptions::default());
    let secret = env.secrets_dir().join("hook.url");
    for (what, opts, script) in [
        (
            "fold -w 40",
            vec![],
            format!("fold -w 40 {}", secret.display()),
        ),
        (
            "fold -w 7",
            vec![],
            format!("fold -w 7 {}", secret.display()),
        ),
        (
            "the tail keeps the token's last lines",
            vec!["--tail", "3"],
            format!("grep -o '[a-z0-9]*$' {} | fold -w 5", secret.display()),
        ),
    ] {
        server.clear();
        let mut c = env.cmd();
        c.args(["run", "--webhook", "hook"])
            .args(&opts)
            .args(["--", "sh", "-c", &script]);
        env.run(&mut c).assert_success();
        let report = posted(&server);
        assert_no_piece(&report, HOOK_ID, what);
        assert!(
            report.contains("…o1ha"),
            "{what}: redacted in place\n{report}"
        );
    }
    for (what, output) in broken_up_tokens(&server.hook_url()) {
        server.clear();
        let run = run_cat(&env, &[], &output);
        run.assert_success();
        let report = posted(&server);
        assert_no_piece(&report, HOOK_ID, what);
        assert!(
            report.contains("…o1ha"),
            "{what}: redacted in place\n{report}"
        );
        assert_no_piece(&own_lines(&run.stderr), HOOK_ID, what);
    }
}

/// Item 3 once more for the report's other ways out: the spool (the post failed) and a
/// dry run's stdout.
#[test]
fn a_broken_up_token_is_neither_spooled_nor_printed() {
    let (env, server) = hooked(ServerOptions::default());
    let output = &broken_up_tokens(&server.hook_url())[4].1;
    server.script([Fault::Status(503)]);
    run_cat(&env, &["--retries", "0"], output)
        .assert_success()
        .assert_stderr_contains("saved in the spool");
    let items = spooled(&env);
    assert!(items.contains("…o1ha"), "{items}");
    assert_no_piece(&items, HOOK_ID, "spool");

    let run = run_cat(&env, &["--dry-run"], output);
    run.assert_success();
    let report: Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    let printed = strings(&report);
    assert!(printed.contains("…o1ha"), "{printed}");
    assert_no_piece(&printed, HOOK_ID, "dry run");
}

/// Another hook's URL with its slashes escaped, doubled or encoded (any case, and in
/// combination), as JSON, HTML and URL encoders write them.
fn escaped_urls(id: &str) -> Vec<String> {
    vec![
        format!(r"https:\/\/chat.example.com\/hooks\/{id}"),
        format!(r#"{{"url":"https:\/\/x\/HOOKS\/{id}"}}"#),
        format!("https://chat.example.com/hooks//{id}"),
        format!("https%3A%2F%2Fx%2Fhooks%2F{id}"),
        format!("https%253A%252F%252Fx%252Fhooks%252F{id}"),
        format!("https:&#47;&#47;x&#47;hooks&#47;{id}"),
        format!("https:&#x2F;&#x2F;x&#x2f;Hooks&#X2F;{id}"),
        format!("&lt;a href=&quot;https:&amp;#47;&amp;#47;x&amp;#47;hooks&amp;#47;{id}"),
        format!(r"https:\u002f\u002fx\u002fhooks\u002F{id}"),
        format!(r"https:\\u002f\\u002fx\\u002fhooks\\u002f{id}"),
        format!(r"https:\/\/x\/hooks\/\/{id}"),
        format!(r"x%2F/hooks\/%252F&#47;{id}"),
    ]
}

/// Item 4, job output: another hook's id is redacted whatever the spelling of the slashes.
#[test]
fn escaped_slashes_never_reveal_another_hooks_id_in_a_report() {
    let (env, server) = hooked(ServerOptions::default());
    let output = escaped_urls(OTHER_HOOK_ID)
        .iter()
        .map(|u| format!("{JOB} {u}"))
        .collect::<Vec<_>>()
        .join("\n");
    run_cat(&env, &["--tail", "20"], &output).assert_success();
    let report = posted(&server);
    assert_no_piece(&report, OTHER_HOOK_ID, "report");
    assert_eq!(
        report.matches("…tr5a").count(),
        escaped_urls("").len(),
        "{report}"
    );
}

/// Item 4, a `Location` header: the redirect's target is shown without the id.
#[test]
fn escaped_slashes_never_reveal_another_hooks_id_in_a_redirect() {
    let (env, server) = hooked(ServerOptions::default());
    for location in escaped_urls(OTHER_HOOK_ID) {
        server.script([Fault::Redirect {
            status: 302,
            location: location.clone(),
        }]);
        let mut c = env.cmd();
        c.args(["send", "--webhook", "hook", "--output", "json", "x"]);
        // The harness fails the run if the id shows on stdout or stderr.
        let run = env.run(&mut c);
        run.assert_code(7)
            .assert_stderr_contains("redirected the request to")
            .assert_stderr_contains("…tr5a");
        assert_no_piece(&run.stderr, OTHER_HOOK_ID, &location);
        assert_no_piece(&run.stdout, OTHER_HOOK_ID, &location);
    }
}
