//! The README's "What changed, who should look" as a newcomer reads it: its example posts,
//! its table of where each CI's `actor` and `author` come from, and which commands read
//! the config file, each through the real binary.

use crate::support::{hooked, Env, MockServer, ServerOptions};

/// The README's `text` block that follows `marker`, line by line.
fn readme_text_block(marker: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let after = &readme[readme.find(marker).expect("README marker")..];
    let block = after
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```\n").next())
        .expect("a text block after the marker");
    block.lines().map(str::to_string).collect()
}

/// The UTC time `minutes` minutes ago, in RFC 3339 (whole seconds).
fn minutes_ago(minutes: u32) -> String {
    let out = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("-{minutes} minutes"),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// One row of the table: the CI's variables, then the actor, author and end of text.
type Row<'a> = (
    &'a [(&'a str, &'a str)],
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
);

fn people_env() -> (Env, MockServer, std::path::PathBuf) {
    let (env, server) = hooked(ServerOptions::default());
    let config = env.write_file(
        "conf/people.toml",
        "[people]\n\"octocat\" = \"alice\"\n\"jane@example.com\" = \"jane\"\n\"jl\" = \"jl\"\n",
        0o600,
    );
    (env, server, config)
}

/// "The posts of one job failing three times and then passing": the four lines the
/// README shows are, byte for byte, what the four runs post; a dry run before each run
/// shows the same text and records nothing, and dry runs alone all read `broken`.
#[test]
fn the_readmes_story_of_three_failures_and_a_fix() {
    let want = readme_text_block("The posts of one job failing three times");
    assert_eq!(want.len(), 4, "{want:?}");
    let (env, server, config) = people_env();
    // Run 2 starts 1h 10m after run 1, runs 3 and 4 2h 5m after it.
    let runs = [
        ("901", "failed", minutes_ago(125)),
        ("902", "failed", minutes_ago(55)),
        ("903", "failed", minutes_ago(0)),
        ("904", "succeeded", minutes_ago(0)),
    ];
    let build = |workflow: &str, id: &str, state: &str, at: &str, extra: &[&str]| {
        let mut c = env.cmd();
        c.args(["build", "--webhook", "hook", "--no-env", "--config"])
            .arg(&config)
            .args([
                "--workflow",
                workflow,
                "--branch",
                "main",
                "--node",
                "builder-07",
            ])
            .args(["--repository", "acme/app", "--actor", "octocat"])
            .args(["--run-id", id, "--state", state, "--started-at", at])
            .args(extra);
        c
    };
    let mut dry = Vec::new();
    for (id, state, at) in &runs {
        let run = env.run(&mut build("deploy", id, state, at, &["--dry-run"]));
        run.assert_success();
        dry.push(run.json()["text"].as_str().unwrap().to_string());
        env.run(&mut build("deploy", id, state, at, &[]))
            .assert_success();
    }
    let posted: Vec<String> = server.posts().iter().map(|p| p.message.clone()).collect();
    assert_eq!(posted, want);
    assert_eq!(dry, want);
    // A second job, dry runs only: nothing recorded, so every failure is the break.
    for id in ["1", "2"] {
        let run = env.run(&mut build(
            "other",
            id,
            "failed",
            &runs[0].2,
            &["--dry-run"],
        ));
        let text = run.json()["text"].as_str().unwrap().to_string();
        assert!(text.ends_with(" · broken · cc @alice"), "{text}");
    }
}

/// The README's table "CI | actor | author", row by row: the variables it names fill
/// the event's fields (the first one named wins) and the `cc` line through `[people]`.
#[test]
fn every_row_of_the_readmes_mentions_table() {
    let (env, _server, config) = people_env();
    let rows: [Row; 13] = [
        (
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_ACTOR", "x"),
                ("GITHUB_TRIGGERING_ACTOR", "octocat"),
            ],
            Some("octocat"),
            None,
            "cc @alice",
        ),
        (
            &[("GITEA_ACTIONS", "true"), ("GITHUB_ACTOR", "octocat")],
            Some("octocat"),
            None,
            "cc @alice",
        ),
        (
            &[
                ("FORGEJO_ACTIONS", "true"),
                ("GITHUB_ACTOR", "x"),
                ("GITHUB_TRIGGERING_ACTOR", "octocat"),
            ],
            Some("octocat"),
            None,
            "cc @alice",
        ),
        (
            &[
                ("GITLAB_CI", "true"),
                ("GITLAB_USER_LOGIN", "octocat"),
                ("CI_COMMIT_AUTHOR", "Jane <jane@example.com>"),
            ],
            Some("octocat"),
            Some("jane@example.com"),
            "cc @alice @jane",
        ),
        (
            &[
                ("BUILDKITE", "true"),
                ("BUILDKITE_BUILD_CREATOR_EMAIL", "Jane@Example.com"),
                ("BUILDKITE_BUILD_AUTHOR_EMAIL", "jl"),
            ],
            Some("Jane@Example.com"),
            Some("jl"),
            "cc @jane @jl",
        ),
        (
            &[
                ("CI", "woodpecker"),
                ("CI_COMMIT_AUTHOR", "jl"),
                ("CI_COMMIT_AUTHOR_EMAIL", "jane@example.com"),
            ],
            None,
            Some("jane@example.com"),
            "cc @jane",
        ),
        (
            &[("CI", "woodpecker"), ("CI_COMMIT_AUTHOR", "jl")],
            None,
            Some("jl"),
            "cc @jl",
        ),
        (
            &[
                ("DRONE", "true"),
                ("DRONE_COMMIT_AUTHOR", "jl"),
                ("DRONE_COMMIT_AUTHOR_EMAIL", "jane@example.com"),
            ],
            None,
            Some("jane@example.com"),
            "cc @jane",
        ),
        (
            &[("DRONE", "true"), ("DRONE_COMMIT_AUTHOR", "jl")],
            None,
            Some("jl"),
            "cc @jl",
        ),
        (
            &[
                ("JENKINS_URL", "https://jenkins.example/"),
                ("BUILD_NUMBER", "3"),
                ("CHANGE_AUTHOR", "jl"),
                ("CHANGE_AUTHOR_EMAIL", "jane@example.com"),
            ],
            None,
            Some("jane@example.com"),
            "cc @jane",
        ),
        (
            &[("CIRCLECI", "true"), ("CIRCLE_USERNAME", "octocat")],
            Some("octocat"),
            None,
            "cc @alice",
        ),
        (
            &[
                ("TF_BUILD", "True"),
                ("BUILD_REQUESTEDFOREMAIL", "jane@example.com"),
            ],
            Some("jane@example.com"),
            None,
            "cc @jane",
        ),
        (&[("BITBUCKET_BUILD_NUMBER", "4")], None, None, " · broken"),
    ];
    for (vars, actor, author, tail) in rows {
        let mut c = env.cmd();
        c.args(["build", "--webhook", "hook", "--dry-run", "--config"])
            .arg(&config)
            .args([
                "--workflow",
                "ci",
                "--repository",
                "acme/app",
                "--branch",
                "main",
            ])
            .args(["--run-id", "7", "--state", "failed"])
            .envs(vars.iter().copied());
        let run = env.run(&mut c);
        run.assert_success();
        let payload = run.json();
        let event = &payload["props"]["mmnotify"]["event"];
        assert_eq!(event["actor"].as_str(), actor, "{vars:?}");
        assert_eq!(event["author"].as_str(), author, "{vars:?}");
        let text = payload["text"].as_str().unwrap();
        assert!(text.ends_with(tail), "{vars:?}: {text}");
    }
}

/// "the default paths are looked at only by `build`, `doctor` and `config check`", and a
/// file named by `--config` or `MMNOTIFY_CONFIG` must load "for every command (but
/// `completions`)".
#[test]
fn only_build_doctor_and_config_check_read_the_default_config() {
    let (env, _server, _) = people_env();
    // `$XDG_CONFIG_HOME` unset: `~/.config/mmnotify/config.toml`, with an unknown key.
    env.write_file(
        "home/.config/mmnotify/config.toml",
        "bogus_key = 1\n",
        0o600,
    );
    let refused: [&[&str]; 3] = [
        &[
            "build",
            "--webhook",
            "hook",
            "--no-env",
            "--dry-run",
            "--workflow",
            "w",
            "--state",
            "failed",
        ],
        &["doctor", "--webhook", "hook"],
        &["config", "check"],
    ];
    for args in refused {
        let mut c = env.cmd();
        c.args(args);
        env.run(&mut c).assert_code(3);
    }
    let ignored: [&[&str]; 3] = [
        &["send", "--webhook", "hook", "--dry-run", "hello"],
        &["run", "--webhook", "hook", "--dry-run", "--", "true"],
        &["spool", "list"],
    ];
    for args in ignored {
        let mut c = env.cmd();
        c.args(args);
        env.run(&mut c).assert_success();
    }
    let mut c = env.cmd();
    c.args(["--config", "nowhere.toml", "completions", "bash"]);
    env.run(&mut c).assert_success();
    let mut c = env.cmd();
    c.args(["completions", "bash"])
        .env("MMNOTIFY_CONFIG", "nowhere.toml");
    env.run(&mut c).assert_success();
}

/// "When marking a broken job's post 'fixed by run N' fails, `build` warns (the run's own
/// posts are made …)": the fix's only patch is that mark; a 503 there (no retry) costs
/// the mark, never the fix's posts or its exit code.
#[test]
fn a_build_that_cannot_mark_the_breaking_post_fixed_warns_and_makes_its_posts() {
    use crate::bot::{bot_event, roots, run_key_of, setup};
    let (env, server, seed) = setup();
    env.run(&mut bot_event(&env, "1", "failed", &[]))
        .assert_success();
    let breaking = roots(&server, &seed)[0].id.clone();
    server.rest().script_on(
        crate::support::Call::PatchPost,
        [crate::support::Fault::Status(503)],
    );
    let run = env.run(&mut bot_event(&env, "2", "succeeded", &["--retries", "0"]));
    run.assert_success()
        .assert_stderr_contains("cannot mark the post that broke the job as fixed")
        .assert_stderr_contains("503");
    assert_eq!(run.json()["transition"], "fixed");
    let fix: Vec<_> = server
        .rest()
        .posts_in(&seed.builds)
        .into_iter()
        .filter(|p| run_key_of(p).as_deref() == Some("acme/app#2"))
        .collect();
    // Its post in the breaking thread, its channel post ("fixed") and the reply under it.
    assert_eq!(fix.len(), 3, "{fix:?}");
    assert!(fix
        .iter()
        .any(|p| p.root_id.is_empty() && p.message.contains("fixed after")));
    let broke = server.rest().post(&breaking).unwrap();
    assert!(!broke.message.contains("fixed by run"), "{}", broke.message);
}

/// `build` of run `id` of the `deploy` job with the JSON outcome.
fn deploy(env: &Env, id: &str, state: &str) -> std::process::Command {
    let mut c = env.cmd();
    c.args([
        "build",
        "--webhook",
        "hook",
        "--no-env",
        "--workflow",
        "deploy",
    ])
    .args(["--repository", "acme/app", "--branch", "main"])
    .args([
        "--run-id",
        id,
        "--state",
        state,
        "-o",
        "json",
        "--retries",
        "0",
    ]);
    c
}

/// "A run is recorded once … when its outcome is final: … refused by the server with an
/// answer a retry would not change (a 4xx but 408 and 429, … 505–599 …)": the 4xx and
/// 505 beside the 500, 501 and redirect of `a_run_the_server_rejected_with_…`.
#[test]
fn a_run_refused_with_a_4xx_or_505_is_in_the_jobs_history() {
    use crate::support::Fault;
    for (status, code) in [(400, 40), (404, 44), (410, 7), (505, 6)] {
        let (env, server) = hooked(ServerOptions::default());
        env.run(&mut deploy(&env, "1", "failed")).assert_success();
        server.script([Fault::Status(status)]);
        let run = env.run(&mut deploy(&env, "2", "succeeded"));
        run.assert_code(code);
        assert_eq!(run.json()["transition"], "fixed", "{}", run.stdout);
        // The fix was final: the next failure breaks the job again.
        let run = env.run(&mut deploy(&env, "3", "failed"));
        assert_eq!(run.json()["transition"], "broken", "after {status}");
    }
}

/// "A history bucket file past 16 MiB (no history grows to that) is named in a warning:
/// remove it." The post is made all the same, without its story.
#[test]
fn a_history_bucket_past_16_mib_is_named_in_a_warning() {
    let (env, server) = hooked(ServerOptions::default());
    env.run(&mut deploy(&env, "1", "failed")).assert_success();
    let dir = env.state().join("dedupe/history");
    // The job's bucket, the one file run 1 wrote, grown (sparse) past the cap.
    let buckets: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(buckets.len(), 1, "{buckets:?}");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&buckets[0])
        .unwrap();
    f.set_len((16 << 20) + 1).unwrap();
    let run = env.run(&mut deploy(&env, "2", "failed"));
    run.assert_success()
        .assert_stderr_contains("larger than 16 MiB")
        .assert_stderr_contains("remove it")
        .assert_stderr_contains(&buckets[0].to_string_lossy());
    assert_eq!(server.posts().len(), 2);
}

/// "Exception: in a broken job's thread the run's post is itself a reply, and it carries
/// the `cc` line; made by the outcome it notifies, but made by `running` and then edited
/// to the outcome it does not. A run that breaks or fixes the job from such a thread also
/// posts in the channel, and that post's reply carries the mentions."
#[test]
fn in_a_broken_jobs_thread_the_runs_post_carries_the_cc_line() {
    use crate::bot::{bot_event, roots, run_key_of, setup};
    let (env, server, seed) = setup();
    let config = env.write_file(
        "conf/people.toml",
        "[people]\n\"octocat\" = \"alice\"\n",
        0o600,
    );
    let cfg = config.to_str().unwrap();
    let step = |id: &str, state: &str| {
        let extra = [
            "--config",
            cfg,
            "--actor",
            "octocat",
            "--mention-on",
            "failed,fixed",
        ];
        env.run(&mut bot_event(&env, id, state, &extra))
            .assert_success();
    };
    step("1", "failed");
    let breaking = roots(&server, &seed)[0].id.clone();
    for (id, state) in [("2", "running"), ("2", "failed"), ("3", "failed")] {
        step(id, state);
    }
    step("4", "running");
    step("4", "succeeded");
    let all = server.rest().all_posts();
    let of = |run: &str| -> Vec<_> {
        all.iter()
            .filter(|p| run_key_of(p).as_deref() == Some(&*format!("acme/app#{run}")))
            .cloned()
            .collect()
    };
    // Run 2: a reply made by `running` (no cc: nothing to mention yet), edited to the
    // failure with the cc line, which the edit does not notify.
    let run2 = of("2");
    assert_eq!(run2.len(), 1, "{run2:?}");
    assert_eq!(run2[0].root_id, breaking);
    assert!(
        run2[0].message.ends_with(" · cc @alice"),
        "{}",
        run2[0].message
    );
    assert!(run2[0].edit_at > 0 && !run2[0].history.is_empty());
    // Run 3: the reply made by the outcome, cc line and all: that one notifies.
    let run3 = of("3");
    assert_eq!(run3.len(), 1, "{run3:?}");
    assert_eq!(
        (run3[0].root_id.as_str(), run3[0].edit_at),
        (breaking.as_str(), 0)
    );
    assert!(
        run3[0].message.ends_with(" · cc @alice"),
        "{}",
        run3[0].message
    );
    // Run 4 fixes the job from the thread: its channel post names no one, the reply
    // under that post carries the mentions.
    let run4 = of("4");
    let channel: Vec<_> = run4.iter().filter(|p| p.root_id.is_empty()).collect();
    assert_eq!(channel.len(), 1, "{run4:?}");
    assert!(!channel[0].message.contains('@'), "{}", channel[0].message);
    let reply = run4
        .iter()
        .find(|p| p.root_id == channel[0].id)
        .expect("its reply");
    assert!(reply.message.ends_with(" · cc @alice"), "{}", reply.message);
}

/// "ends with `cc @alice @jane`: the mapped actor and author, each once, then the users
/// of `--mention USER`. An actor with no mapping is shown by name, without `@`."
#[test]
fn the_cc_line_is_actor_then_author_each_once_then_mention_users() {
    let (env, _server, config) = people_env();
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "--actor",
                "octocat",
                "--author",
                "jane@example.com",
                "--mention",
                "ops",
            ],
            " · cc @alice @jane @ops",
        ),
        (
            &[
                "--actor",
                "octocat",
                "--author",
                "octocat",
                "--mention",
                "alice",
            ],
            " · cc @alice",
        ),
        (
            &["--actor", "bob", "--author", "Jane@Example.com"],
            " · cc bob @jane",
        ),
    ];
    for (people, tail) in cases {
        let mut c = env.cmd();
        c.args([
            "build",
            "--webhook",
            "hook",
            "--dry-run",
            "--no-env",
            "--config",
        ])
        .arg(&config)
        .args(["--workflow", "ci", "--run-id", "1", "--state", "failed"])
        .args(people);
        let run = env.run(&mut c);
        run.assert_success();
        let text = run.json()["text"].as_str().unwrap().to_string();
        assert!(text.ends_with(tail), "{people:?}: {text}");
    }
}

/// "An unknown key, a wrong type or a value it refuses … is exit 3 naming the key and the
/// line" (README and `config check --help`), for the values the other tests do not show.
#[test]
fn config_check_names_the_key_and_line_of_a_value_it_refuses() {
    let (env, _server, _) = people_env();
    let cases = [
        ("[people]\n\"x\" = \"Bad User\"\n", "people.x", "line 2"),
        ("\nmention_on = [\"nope\"]\n", "mention_on", "line 2"),
        (
            "default_webhook = \"a\"\n[[route]]\nwebhook = \"a\"\non = [\"brokn\"]\n",
            "on",
            "line 4",
        ),
    ];
    for (text, key, line) in cases {
        let path = env.write_file("conf/bad.toml", text, 0o600);
        let mut c = env.cmd();
        c.args(["config", "check", "--config"]).arg(&path);
        env.run(&mut c)
            .assert_code(3)
            .assert_stderr_contains(key)
            .assert_stderr_contains(line);
    }
}
