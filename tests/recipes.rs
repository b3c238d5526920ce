//! The CI recipes shipped with mmnotify, run the way each CI runs them: the GitHub
//! Action's script, the GitLab template's `after_script` lines and the README's Jenkins
//! `sh` step, with the variables those systems set, against the emulator. The recipes
//! are read from the files users include, so the tested lines are the shipped ones.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{watched, Env, MockServer, Post, Run, ServerOptions};

const SHA: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";
const SHORT: &str = "9fceb02d";

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read_repo_file(rel: &str) -> String {
    let path = repo_file(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `sh -c SCRIPT` in the Env's cleared environment with the webhook and these variables.
fn shell(env: &Env, server: &MockServer, script: &str, vars: &[(&str, &str)]) -> Run {
    let mut cmd = env.cmd_for("sh");
    cmd.arg("-c")
        .arg(script)
        .env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    env.run(&mut cmd)
}

/// The normalized event mmnotify put in the post's props.
fn event(post: &Post) -> &Value {
    &post.props["mmnotify"]["event"]
}

fn only_post(server: &MockServer, run: &Run) -> Post {
    let posts = server.posts();
    assert_eq!(posts.len(), 1, "expected one post: {posts:?}\n{run:?}");
    posts.into_iter().next().unwrap()
}

// ---------------------------------------------------------------------------------------
// GitHub Actions
// ---------------------------------------------------------------------------------------

const GITHUB_SCRIPT: &str = "ci/github/mmnotify-build.sh";

/// The default variables of a GitHub-hosted runner for a push to `main`.
fn github_vars(run_id: &str) -> Vec<(&'static str, String)> {
    [
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_RUN_ID", run_id),
        ("GITHUB_RUN_NUMBER", "42"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "octo/app"),
        ("GITHUB_WORKFLOW", "CI"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_HEAD_REF", ""),
        ("GITHUB_SHA", SHA),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_JOB", "test"),
        ("RUNNER_NAME", "GitHub Actions 7"),
        ("RUNNER_OS", "Linux"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// Runs the action's script as the composite step does: `sh FILE` with the inputs in
/// `INPUT_*` (mapped by action.yml) and the webhook in `MATTERMOST_WEBHOOK_URL`.
fn run_action(
    env: &Env,
    server: &MockServer,
    run_id: &str,
    inputs: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> Run {
    let mut cmd = env.cmd_for("sh");
    cmd.arg(repo_file(GITHUB_SCRIPT))
        .env("MATTERMOST_WEBHOOK_URL", server.hook_url())
        .env("GITHUB_ACTION_PATH", repo_file(""));
    for (k, v) in github_vars(run_id) {
        cmd.env(k, v);
    }
    for (k, v) in inputs.iter().chain(extra) {
        cmd.env(k, v);
    }
    env.run(&mut cmd)
}

#[test]
fn github_action_posts_the_job_status_from_the_runner_variables() {
    let (env, server) = watched(ServerOptions::default());
    let run = run_action(
        &env,
        &server,
        "1658821493",
        &[("INPUT_STATE", "failure")],
        &[],
    );
    run.assert_success();
    let post = only_post(&server, &run);
    let ev = event(&post);
    assert_eq!(ev["provider"], "github");
    assert_eq!(ev["state"], "failed");
    assert_eq!(ev["workflow"], "CI");
    assert_eq!(ev["branch"], "main");
    assert_eq!(ev["commit"], SHA);
    assert_eq!(ev["provider_run_id"], "1658821493");
    assert_eq!(ev["repository"], "octo/app");
    assert_eq!(ev["mesh_node_id"], "GitHub Actions 7");
    assert_eq!(
        ev["run_url"],
        "https://github.com/octo/app/actions/runs/1658821493"
    );
    assert!(post.message.contains(SHORT), "{}", post.message);
    assert!(!post.message.contains(SHA), "{}", post.message);
}

#[test]
fn github_action_maps_job_status_and_accepts_mmnotify_states() {
    let (env, server) = watched(ServerOptions::default());
    let cases = [
        ("success", "succeeded"),
        ("failure", "failed"),
        ("cancelled", "cancelled"),
        ("succeeded", "succeeded"),
        ("timed_out", "timed_out"),
    ];
    for (i, (input, state)) in cases.iter().enumerate() {
        server.clear();
        // A run id per case: one run posts each state once.
        let run_id = format!("77{i}");
        let run = run_action(&env, &server, &run_id, &[("INPUT_STATE", input)], &[]);
        run.assert_success();
        let post = only_post(&server, &run);
        assert_eq!(event(&post)["state"], *state, "input {input}");
    }
}

#[test]
fn github_action_rerun_posts_again_and_a_repeat_does_not() {
    let (env, server) = watched(ServerOptions::default());
    let inputs = [("INPUT_STATE", "failure")];
    run_action(&env, &server, "900", &inputs, &[]).assert_success();
    run_action(&env, &server, "900", &inputs, &[]).assert_success();
    assert_eq!(server.posts().len(), 1, "a repeated step posts once");
    run_action(
        &env,
        &server,
        "900",
        &inputs,
        &[("GITHUB_RUN_ATTEMPT", "2")],
    )
    .assert_success();
    let posts = server.posts();
    assert_eq!(posts.len(), 2, "a re-run attempt posts again");
    assert_eq!(event(&posts[1])["provider_run_id"], "900-2");
}

#[test]
fn github_action_inputs_on_template_and_channel_reach_mmnotify() {
    let (env, server) = watched(ServerOptions::default());
    let inputs = [
        ("INPUT_STATE", "success"),
        ("INPUT_ON", "failed,timed_out"),
        ("INPUT_TEXT_TEMPLATE", "{workflow} {state}"),
        ("INPUT_CHANNEL", "town-square"),
    ];
    let run = run_action(&env, &server, "501", &inputs, &[]);
    run.assert_success();
    assert!(
        server.posts().is_empty(),
        "success is filtered by on: {run:?}"
    );

    let failed = [("INPUT_STATE", "failure"), ("INPUT_ON", "failed,timed_out")];
    let templ = [
        ("INPUT_TEXT_TEMPLATE", "build {workflow} says {state}"),
        ("INPUT_CHANNEL", "town-square"),
    ];
    let inputs: Vec<_> = failed.iter().chain(&templ).copied().collect();
    let run = run_action(&env, &server, "502", &inputs, &[]);
    run.assert_success();
    let post = only_post(&server, &run);
    assert_eq!(post.channel, "town-square");
    assert!(
        post.message.starts_with("build CI says failed"),
        "{}",
        post.message
    );
}

#[test]
fn github_action_refuses_a_missing_state_or_webhook_without_posting() {
    let (env, server) = watched(ServerOptions::default());
    let run = run_action(&env, &server, "600", &[("INPUT_STATE", "")], &[]);
    run.assert_code(2).assert_stderr_contains("job.status");
    let run = run_action(
        &env,
        &server,
        "600",
        &[("INPUT_STATE", "success")],
        &[("MATTERMOST_WEBHOOK_URL", "")],
    );
    run.assert_code(3).assert_stderr_contains("webhook-url");
    assert!(server.posts().is_empty());
}

#[test]
fn github_action_install_step_keeps_an_mmnotify_on_path() {
    let (env, _server) = watched(ServerOptions::default());
    let github_path = env.root().join("github_path");
    let mut cmd = env.cmd_for("sh");
    cmd.arg(repo_file("ci/github/install.sh"))
        .env("GITHUB_PATH", &github_path)
        .env("GITHUB_ACTION_PATH", repo_file(""));
    let run = env.run(&mut cmd);
    run.assert_success()
        .assert_stdout_contains(env!("CARGO_BIN_EXE_mmnotify"))
        .assert_stdout_contains(env!("CARGO_PKG_VERSION"));
    assert!(!github_path.exists(), "nothing installed, PATH unchanged");
}

/// action.yml runs exactly the scripts tested above and hands the inputs over as the
/// variables they read.
#[test]
fn action_yml_runs_the_tested_scripts_with_the_inputs_as_env() {
    let action = read_repo_file("action.yml");
    assert!(action.contains("using: composite"), "{action}");
    // Inputs are the keys indented once under `inputs:`.
    for input in ["state", "webhook-url", "on", "text-template", "channel"] {
        let key = format!("  {input}:");
        assert!(
            action.lines().any(|l| l == key),
            "action.yml has no input {input}"
        );
    }
    let run_lines: Vec<&str> = action
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("run:"))
        .collect();
    assert_eq!(
        run_lines,
        [
            r#"run: sh "$GITHUB_ACTION_PATH/ci/github/install.sh""#,
            r#"run: sh "$GITHUB_ACTION_PATH/ci/github/mmnotify-build.sh""#,
        ]
    );
    for mapping in [
        "MATTERMOST_WEBHOOK_URL: ${{ inputs.webhook-url }}",
        "INPUT_STATE: ${{ inputs.state }}",
        "INPUT_ON: ${{ inputs.on }}",
        "INPUT_TEXT_TEMPLATE: ${{ inputs.text-template }}",
        "INPUT_CHANNEL: ${{ inputs.channel }}",
    ] {
        assert!(
            action.lines().any(|l| l.trim() == mapping),
            "action.yml lacks {mapping}"
        );
    }
    // The secret reaches the step only through env, never through a command line.
    assert!(!action
        .lines()
        .any(|l| l.contains("run:") && l.contains("webhook-url")));
}

// ---------------------------------------------------------------------------------------
// GitLab CI
// ---------------------------------------------------------------------------------------

const GITLAB_TEMPLATE: &str = "ci/gitlab/mmnotify.gitlab-ci.yml";

/// The `after_script` of the hidden job `.mmnotify`, as GitLab joins a list of lines:
/// each item runs in order in one shell. Items are `- line` or a `- |` block.
fn gitlab_after_script(yaml: &str) -> String {
    let mut lines = yaml.lines().skip_while(|l| *l != ".mmnotify:");
    assert!(lines.next().is_some(), "no hidden job .mmnotify");
    let mut lines = lines
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .skip_while(|l| l.trim() != "after_script:")
        .skip(1)
        .peekable();
    let mut script = String::new();
    while let Some(line) = lines.next() {
        let Some(item) = line.strip_prefix("    - ") else {
            break;
        };
        if item == "|" {
            while let Some(body) = lines.next_if(|l| l.starts_with("      ") || l.is_empty()) {
                script.push_str(body.strip_prefix("      ").unwrap_or(body));
                script.push('\n');
            }
        } else {
            script.push_str(item);
            script.push('\n');
        }
    }
    assert!(!script.is_empty(), "no after_script in .mmnotify");
    script
}

/// What a runner sets in `after_script` of job `test` in pipeline 1000 of `grp/app`.
fn gitlab_vars<'a>(job_id: &'a str, status: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_SERVER_URL", "https://gitlab.example"),
        ("CI_PROJECT_PATH", "grp/app"),
        ("CI_PROJECT_NAME", "app"),
        ("CI_PIPELINE_ID", "1000"),
        (
            "CI_PIPELINE_URL",
            "https://gitlab.example/grp/app/-/pipelines/1000",
        ),
        ("CI_PIPELINE_CREATED_AT", "2026-11-29T10:00:00Z"),
        ("CI_JOB_ID", job_id),
        ("CI_JOB_NAME", "test"),
        ("CI_JOB_STATUS", status),
        ("CI_COMMIT_REF_NAME", "main"),
        ("CI_COMMIT_SHA", SHA),
        ("CI_RUNNER_DESCRIPTION", "shared-runner-3"),
        // The template's defaults, as `extends:` merges them in.
        ("MMNOTIFY_ON", ""),
        ("MMNOTIFY_TEXT_TEMPLATE", ""),
        ("MMNOTIFY_CHANNEL", ""),
    ]
}

fn with<'a>(base: Vec<(&'a str, &'a str)>, over: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<_> = base
        .into_iter()
        .filter(|(k, _)| !over.iter().any(|(o, _)| o == k))
        .collect();
    v.extend_from_slice(over);
    v
}

#[test]
fn gitlab_template_after_script_posts_the_job_status() {
    let (env, server) = watched(ServerOptions::default());
    let script = gitlab_after_script(&read_repo_file(GITLAB_TEMPLATE));
    let run = shell(&env, &server, &script, &gitlab_vars("5555", "failed"));
    run.assert_success();
    let post = only_post(&server, &run);
    let ev = event(&post);
    assert_eq!(ev["provider"], "gitlab");
    assert_eq!(ev["state"], "failed");
    assert_eq!(ev["workflow"], "test");
    assert_eq!(ev["branch"], "main");
    assert_eq!(ev["commit"], SHA);
    assert_eq!(ev["provider_run_id"], "1000-5555");
    assert_eq!(ev["repository"], "grp/app");
    assert_eq!(ev["mesh_node_id"], "shared-runner-3");
    assert_eq!(
        ev["run_url"],
        "https://gitlab.example/grp/app/-/pipelines/1000"
    );
    assert!(post.message.contains(SHORT), "{}", post.message);
}

#[test]
fn gitlab_template_maps_every_job_status() {
    let (env, server) = watched(ServerOptions::default());
    let script = gitlab_after_script(&read_repo_file(GITLAB_TEMPLATE));
    for (job, status, state) in [
        ("1", "success", "succeeded"),
        ("2", "failed", "failed"),
        ("3", "canceled", "cancelled"),
    ] {
        server.clear();
        let run = shell(&env, &server, &script, &gitlab_vars(job, status));
        run.assert_success();
        assert_eq!(event(&only_post(&server, &run))["state"], state, "{status}");
    }
}

#[test]
fn gitlab_template_variables_reach_mmnotify() {
    let (env, server) = watched(ServerOptions::default());
    let script = gitlab_after_script(&read_repo_file(GITLAB_TEMPLATE));
    let only_failed = [("MMNOTIFY_ON", "failed")];
    let run = shell(
        &env,
        &server,
        &script,
        &with(gitlab_vars("10", "success"), &only_failed),
    );
    run.assert_success();
    assert!(server.posts().is_empty(), "success filtered: {run:?}");

    let vars = with(
        gitlab_vars("11", "failed"),
        &[
            ("MMNOTIFY_ON", "failed"),
            ("MMNOTIFY_TEXT_TEMPLATE", "{workflow}: {state}"),
            ("MMNOTIFY_CHANNEL", "town-square"),
        ],
    );
    let run = shell(&env, &server, &script, &vars);
    run.assert_success();
    let post = only_post(&server, &run);
    assert_eq!(post.channel, "town-square");
    assert!(post.message.starts_with("test: failed"), "{}", post.message);
}

#[test]
fn gitlab_template_reports_a_failed_post_without_failing_the_job() {
    let (env, server) = watched(ServerOptions::default());
    let script = gitlab_after_script(&read_repo_file(GITLAB_TEMPLATE));
    // An unknown channel: the server answers 404, the line says so and the shell ends 0.
    let vars = with(
        gitlab_vars("12", "failed"),
        &[("MMNOTIFY_CHANNEL", "no-such-channel")],
    );
    let run = shell(&env, &server, &script, &vars);
    run.assert_success()
        .assert_stderr_contains("the build status was not posted (exit 44)");
}

#[test]
fn gitlab_template_is_a_hidden_job_using_after_script_and_ci_job_status() {
    let yaml = read_repo_file(GITLAB_TEMPLATE);
    assert!(yaml.lines().any(|l| l == ".mmnotify:"), "{yaml}");
    assert!(yaml.contains("extends: .mmnotify"), "usage example");
    assert!(yaml.contains("CI_JOB_STATUS"));
    let script = gitlab_after_script(&yaml);
    assert!(script.contains("mmnotify \"$@\""), "{script}");
    // The state must come from CI_JOB_STATUS, read by mmnotify itself: no --state.
    assert!(!script.contains("--state"), "{script}");
}

// ---------------------------------------------------------------------------------------
// Jenkins
// ---------------------------------------------------------------------------------------

/// The body of the `sh '''…'''` step in the README's Jenkinsfile snippet.
fn jenkins_sh_step() -> String {
    let readme = read_repo_file("README.md");
    let start = readme
        .find("post {\n  always {")
        .expect("README has a Jenkinsfile post { always { … } } snippet");
    let rest = &readme[start..];
    let body = &rest[rest.find("sh '''").expect("sh ''' step") + "sh '''".len()..];
    body[..body.find("'''").expect("end of sh step")].to_string()
}

/// What Jenkins sets for build 42 of `app/main` on agent `linux-agent-2`, with the Git
/// plugin's variables and `BUILD_RESULT` from currentBuild.currentResult (withEnv).
fn jenkins_vars<'a>(number: &'a str, url: &'a str, result: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("JENKINS_URL", "https://jenkins.example/"),
        ("JENKINS_HOME", "/var/lib/jenkins"),
        ("JOB_NAME", "app/main"),
        ("JOB_BASE_NAME", "main"),
        ("BUILD_NUMBER", number),
        ("BUILD_ID", number),
        ("BUILD_URL", url),
        ("NODE_NAME", "linux-agent-2"),
        ("EXECUTOR_NUMBER", "0"),
        ("WORKSPACE", "/var/lib/jenkins/workspace/app_main"),
        ("GIT_BRANCH", "origin/main"),
        ("GIT_COMMIT", SHA),
        ("GIT_URL", "https://git.example/app.git"),
        ("BUILD_RESULT", result),
    ]
}

#[test]
fn jenkins_post_always_step_posts_the_build_result() {
    let (env, server) = watched(ServerOptions::default());
    let step = jenkins_sh_step();
    let url = "https://jenkins.example/job/app/job/main/42/";
    let run = shell(&env, &server, &step, &jenkins_vars("42", url, "FAILURE"));
    run.assert_success();
    let post = only_post(&server, &run);
    let ev = event(&post);
    assert_eq!(ev["provider"], "jenkins");
    assert_eq!(ev["state"], "failed");
    assert_eq!(ev["workflow"], "app/main");
    assert_eq!(ev["branch"], "main");
    assert_eq!(ev["commit"], SHA);
    assert_eq!(ev["provider_run_id"], "app/main-42");
    assert_eq!(ev["mesh_node_id"], "linux-agent-2");
    assert_eq!(ev["run_url"], url);
    assert!(post.message.contains(SHORT), "{}", post.message);
}

#[test]
fn jenkins_step_maps_every_current_result() {
    let (env, server) = watched(ServerOptions::default());
    let step = jenkins_sh_step();
    for (number, result, state) in [
        ("1", "SUCCESS", "succeeded"),
        ("2", "UNSTABLE", "failed"),
        ("3", "FAILURE", "failed"),
        ("4", "ABORTED", "cancelled"),
        ("5", "NOT_BUILT", "cancelled"),
    ] {
        server.clear();
        let url = format!("https://jenkins.example/job/app/job/main/{number}/");
        let run = shell(&env, &server, &step, &jenkins_vars(number, &url, result));
        run.assert_success();
        assert_eq!(event(&only_post(&server, &run))["state"], state, "{result}");
    }
}

#[test]
fn jenkins_step_does_not_fail_the_build_when_the_post_fails() {
    let (mut env, server) = watched(ServerOptions::default());
    let step = jenkins_sh_step();
    let unknown_id = "z".repeat(26);
    env.secret(&unknown_id);
    let other = server.hook_url_for(&unknown_id);
    let mut vars = jenkins_vars(
        "7",
        "https://jenkins.example/job/app/job/main/7/",
        "SUCCESS",
    );
    vars.push(("MATTERMOST_WEBHOOK_URL", &other));
    let run = shell(&env, &server, &step, &vars);
    // An unknown hook id: 400 from the server, reported, and the step still ends 0.
    run.assert_success()
        .assert_stderr_contains("not posted (exit 40)");
    assert!(server.posts().is_empty());
}

// ---------------------------------------------------------------------------------------
// The README's set-up blocks, against the files they describe
// ---------------------------------------------------------------------------------------

/// The fenced blocks of the README in one language, in order.
fn readme_blocks(lang: &str) -> Vec<String> {
    let readme = read_repo_file("README.md");
    let fence = format!("```{lang}\n");
    readme
        .split(&fence)
        .skip(1)
        .map(|rest| rest.split("```\n").next().unwrap().to_string())
        .collect()
}

/// The README shows the packaged units byte for byte, and no other unit: a hand-written
/// copy drifts (`User=`, `/usr/local/bin`, `Restart=`) while the package changes.
#[test]
fn readme_shows_the_packaged_systemd_units_verbatim() {
    let units = [
        "pkg/debian/systemd/mmnotify-gateway.service",
        "pkg/debian/systemd/mmnotify-flush.service",
        "pkg/debian/systemd/mmnotify-flush.timer",
    ]
    .map(read_repo_file);
    let blocks = readme_blocks("ini");
    for unit in &units {
        assert!(
            blocks.contains(unit),
            "README has no ```ini block equal to the packaged unit:\n{unit}"
        );
    }
    for block in blocks
        .iter()
        .filter(|b| b.contains("[Service]") || b.contains("[Timer]"))
    {
        assert!(
            units.contains(block),
            "README shows a unit that is not a packaged one:\n{block}"
        );
    }
}

/// Every group the README's commands give files to (`-g GROUP`, `chgrp GROUP`,
/// `usermod -aG GROUP`) exists after those commands: the README creates it, or the Debian
/// package does.
#[test]
fn readme_uses_only_groups_that_exist() {
    let postinst = read_repo_file("pkg/debian/postinst");
    let account = postinst
        .lines()
        .find_map(|l| l.strip_prefix("USER_NAME="))
        .expect("postinst names its account");
    assert!(
        postinst.contains("addgroup --system --quiet \"$USER_NAME\""),
        "postinst creates the group {account}"
    );
    let readme = read_repo_file("README.md");
    let mut created = vec![account.to_string()];
    let mut used = Vec::new();
    for block in readme_blocks("sh") {
        let words: Vec<&str> = block.split_whitespace().collect();
        for pair in words.windows(2) {
            match pair[0] {
                "-g" | "chgrp" | "-aG" => used.push(pair[1].to_string()),
                _ => {}
            }
        }
        for line in block.lines().filter(|l| l.contains("groupadd")) {
            created.push(line.split_whitespace().last().unwrap().to_string());
        }
    }
    // Backquoted commands in the prose count too (`install -m 0440 -g GROUP …`).
    for quoted in readme.split('`').skip(1).step_by(2) {
        let words: Vec<&str> = quoted.split_whitespace().collect();
        for pair in words.windows(2) {
            if matches!(pair[0], "-g" | "chgrp" | "-aG") {
                used.push(pair[1].to_string());
            }
        }
    }
    // `usermod -aG GROUP USER` in the prose is a placeholder, not a group.
    used.retain(|g| g.chars().any(|c| c.is_ascii_lowercase()));
    assert!(
        !used.is_empty(),
        "the README's set-up names no group any more?"
    );
    for group in &used {
        assert!(
            created.contains(group),
            "the README uses group `{group}`, which neither it nor the package creates"
        );
    }
}

/// "`ldd` lists …": the libraries the README names are the ones the binary links.
#[test]
fn readme_names_the_libraries_the_binary_links() {
    let out = match std::process::Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_mmnotify"))
        .output()
    {
        Ok(out) if out.status.success() => out,
        other => {
            eprintln!(
                "readme_names_the_libraries_the_binary_links: SKIP: ldd did not run: {other:?}"
            );
            return;
        }
    };
    let mut linked: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|lib| !lib.starts_with("linux-vdso") && !lib.contains("/ld-linux"))
        .map(str::to_string)
        .collect();
    linked.sort();
    let readme = read_repo_file("README.md").replace('\n', " ");
    let sentence = readme
        .split("`ldd $(command -v mmnotify)` lists ")
        .nth(1)
        .and_then(|s| s.split(" and the loader").next())
        .expect("the README's ldd sentence");
    let mut named: Vec<String> = sentence
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    named.sort();
    assert_eq!(named, linked, "README: {sentence}");
}
