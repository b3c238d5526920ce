//! CI services of their own, not part of a forge: Jenkins, Buildkite and `CircleCI`.

use crate::build_event::ci::exit_code_state;
use crate::build_event::ci::{Ci, Env, Is, Src, Started, Status};
use crate::build_event::event::State;

// Jenkins docs, "Pipeline → Using environment variables" (env-vars.html) and the
// Git plugin's "Environment variables".
pub(super) const JENKINS: Ci = Ci {
    provider: "jenkins",
    // JENKINS_URL alone is also how jenkins-cli finds its server on a laptop, and a
    // Jenkins without a configured root URL sets no JENKINS_URL (nor BUILD_URL) at all;
    // JENKINS_HOME it always sets.
    detect: &[
        Is::Any(&[Is::Set("JENKINS_URL"), Is::Set("JENKINS_HOME")]),
        Is::Set("BUILD_NUMBER"),
    ],
    workflow: Src::Var("JOB_NAME"),
    // CHANGE_BRANCH is a pull request's source branch (BRANCH_NAME is `PR-12`).
    branch: Src::First(&[
        Src::Var("CHANGE_BRANCH"),
        Src::Var("BRANCH_NAME"),
        Src::StripPrefix(&Src::Var("GIT_BRANCH"), &["origin/"]),
    ]),
    commit: Src::Var("GIT_COMMIT"),
    run_url: Src::Var("BUILD_URL"),
    // A rebuild or replay gets a new build number: no attempt to add.
    run_id: Src::First(&[Src::Var("BUILD_TAG"), Src::Fmt("{JOB_NAME}-{BUILD_NUMBER}")]),
    repository: Src::NoCredentials(&Src::Var("GIT_URL")),
    started_at: Started::None,
    actor: Src::First(&[]),
    author: Src::First(&[Src::Var("CHANGE_AUTHOR_EMAIL"), Src::Var("CHANGE_AUTHOR")]),
    state: Status::None,
};

// Buildkite docs, "Environment variables".
pub(super) const BUILDKITE: Ci = Ci {
    provider: "buildkite",
    detect: &[Is::True("BUILDKITE")],
    workflow: Src::First(&[
        Src::Var("BUILDKITE_PIPELINE_NAME"),
        Src::Var("BUILDKITE_PIPELINE_SLUG"),
    ]),
    branch: Src::Var("BUILDKITE_BRANCH"),
    commit: Src::Var("BUILDKITE_COMMIT"),
    run_url: Src::Var("BUILDKITE_BUILD_URL"),
    // The retry count starts at 0 on the first run: attempt = count + 1.
    run_id: Src::Attempt(&Src::Var("BUILDKITE_BUILD_ID"), "BUILDKITE_RETRY_COUNT", 1),
    repository: Src::NoCredentials(&Src::Var("BUILDKITE_REPO")),
    started_at: Started::None,
    // Set only in the post-command and pre-exit hooks, to the command's status; a
    // cancelled job also has an exit status (the signal's), so cancellation comes first,
    // and a timeout (agent 3.127.0 and later) is a cancellation that says so.
    actor: Src::Var("BUILDKITE_BUILD_CREATOR_EMAIL"),
    author: Src::Var("BUILDKITE_BUILD_AUTHOR_EMAIL"),
    state: Status::Custom(buildkite_state),
};

// CircleCI docs, "Project values and variables" → "Built-in environment variables".
pub(super) const CIRCLECI: Ci = Ci {
    provider: "circleci",
    detect: &[Is::True("CIRCLECI")],
    // The workflow's name is a pipeline value, not an environment variable.
    workflow: Src::Var("CIRCLE_JOB"),
    branch: Src::First(&[Src::Var("CIRCLE_BRANCH"), Src::Var("CIRCLE_TAG")]),
    commit: Src::Var("CIRCLE_SHA1"),
    run_url: Src::Var("CIRCLE_BUILD_URL"),
    // A rerun is a new workflow with a new id: no attempt to add. The job number is
    // counted per project, so it carries the project.
    run_id: Src::First(&[
        Src::Var("CIRCLE_WORKFLOW_ID"),
        Src::Fmt("{CIRCLE_PROJECT_USERNAME}/{CIRCLE_PROJECT_REPONAME}#{CIRCLE_BUILD_NUM}"),
    ]),
    repository: Src::Fmt("{CIRCLE_PROJECT_USERNAME}/{CIRCLE_PROJECT_REPONAME}"),
    started_at: Started::None,
    actor: Src::Var("CIRCLE_USERNAME"),
    author: Src::First(&[]),
    state: Status::None,
};

fn buildkite_state(env: &Env) -> Option<State> {
    let is_true = |name| {
        env.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    if is_true("BUILDKITE_JOB_TIMED_OUT") {
        return Some(State::TimedOut);
    }
    if is_true("BUILDKITE_JOB_CANCELLED") {
        return Some(State::Cancelled);
    }
    exit_code_state(env, "BUILDKITE_COMMAND_EXIT_STATUS")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_event::ci::test_support::*;
    use crate::build_event::event::BuildEvent;

    #[test]
    fn jenkins() {
        let base = [
            ("JENKINS_URL", "https://jenkins.example/"),
            ("BUILD_NUMBER", "17"),
            ("BUILD_TAG", "jenkins-app-main-17"),
            ("JOB_NAME", "app/main"),
            ("BUILD_URL", "https://jenkins.example/job/app/job/main/17/"),
            ("GIT_BRANCH", "origin/main"),
            ("GIT_COMMIT", SHA),
            ("GIT_URL", "https://bot:s3cret@git.example/acme/app.git"),
        ];
        let info = run(&base).unwrap();
        assert_eq!(info.provider, "jenkins");
        assert_eq!(
            info.event,
            BuildEvent {
                workflow: s("app/main"),
                branch: s("main"),
                commit: s(SHA),
                run_url: s("https://jenkins.example/job/app/job/main/17/"),
                provider_run_id: s("jenkins-app-main-17"),
                provider: s("jenkins"),
                repository: s("https://git.example/acme/app.git"),
                ..Default::default()
            }
        );
        let ev = event(&with(
            &base,
            &[
                ("BRANCH_NAME", "PR-3"),
                ("CHANGE_BRANCH", "fix/x"),
                ("BUILD_TAG", ""),
            ],
        ));
        assert_eq!(ev.branch, s("fix/x"));
        assert_eq!(ev.provider_run_id, s("app/main-17"));
    }

    /// Without a root URL configured (Manage Jenkins → System), Jenkins sets neither
    /// `JENKINS_URL` nor `BUILD_URL`; `JENKINS_HOME` it always sets.
    #[test]
    fn jenkins_without_root_url() {
        let base = [
            ("JENKINS_HOME", "/var/lib/jenkins"),
            ("BUILD_NUMBER", "17"),
            ("BUILD_ID", "17"),
            ("BUILD_TAG", "jenkins-app-main-17"),
            ("JOB_NAME", "app/main"),
            ("GIT_BRANCH", "origin/main"),
            ("GIT_COMMIT", SHA),
        ];
        let info = run(&base).expect("Jenkins without JENKINS_URL is still Jenkins");
        assert_eq!(info.provider, "jenkins");
        assert_eq!(info.event.run_url, None);
        assert_eq!(info.event.provider_run_id, s("jenkins-app-main-17"));
        // Outside a build (no BUILD_NUMBER) it is no CI.
        assert_eq!(run(&[("JENKINS_HOME", "/var/lib/jenkins")]), None);
    }

    #[test]
    fn buildkite() {
        let base = [
            ("CI", "true"),
            ("BUILDKITE", "true"),
            ("BUILDKITE_BUILD_ID", "f62a1b4d-10f9-4790-bc1c-e2c3a0c80983"),
            (
                "BUILDKITE_BUILD_URL",
                "https://buildkite.com/acme/app/builds/1514",
            ),
            ("BUILDKITE_BRANCH", "main"),
            ("BUILDKITE_COMMIT", SHA),
            ("BUILDKITE_PIPELINE_SLUG", "app"),
            ("BUILDKITE_PIPELINE_NAME", "App"),
            ("BUILDKITE_REPO", "git@github.com:acme/app.git"),
            ("BUILDKITE_RETRY_COUNT", "0"),
        ];
        let info = run(&base).unwrap();
        assert_eq!(info.provider, "buildkite");
        assert_eq!(
            info.event,
            BuildEvent {
                workflow: s("App"),
                branch: s("main"),
                commit: s(SHA),
                run_url: s("https://buildkite.com/acme/app/builds/1514"),
                provider_run_id: s("f62a1b4d-10f9-4790-bc1c-e2c3a0c80983"),
                provider: s("buildkite"),
                repository: s("git@github.com:acme/app.git"),
                ..Default::default()
            }
        );
        let ev = event(&with(
            &base,
            &[
                ("BUILDKITE_RETRY_COUNT", "1"),
                ("BUILDKITE_COMMIT", "HEAD"),
                ("BUILDKITE_COMMAND_EXIT_STATUS", "2"),
            ],
        ));
        assert_eq!(
            ev.provider_run_id,
            s("f62a1b4d-10f9-4790-bc1c-e2c3a0c80983-2")
        );
        assert_eq!(ev.commit, None);
        assert_eq!(ev.state, Some(State::Failed));
        // A cancelled job exits with the signal's status: cancellation wins.
        let ev = event(&with(
            &base,
            &[
                ("BUILDKITE_COMMAND_EXIT_STATUS", "-1"),
                ("BUILDKITE_JOB_CANCELLED", "true"),
            ],
        ));
        assert_eq!(ev.state, Some(State::Cancelled));
        let ev = event(&with(&base, &[("BUILDKITE_JOB_CANCELLED", "true")]));
        assert_eq!(ev.state, Some(State::Cancelled));
        let ev = event(&with(
            &base,
            &[
                ("BUILDKITE_COMMAND_EXIT_STATUS", "0"),
                ("BUILDKITE_JOB_CANCELLED", "false"),
            ],
        ));
        assert_eq!(ev.state, Some(State::Succeeded));
    }

    /// Agent 3.127.0 and later: a job stopped by its timeout is cancelled and says why.
    #[test]
    fn buildkite_timeout_is_timed_out() {
        let base = [
            ("BUILDKITE", "true"),
            ("BUILDKITE_BUILD_ID", "f62a1b4d-10f9-4790-bc1c-e2c3a0c80983"),
            ("BUILDKITE_AGENT_VERSION", "3.127.0"),
            ("BUILDKITE_COMMAND_EXIT_STATUS", "-1"),
            ("BUILDKITE_JOB_CANCELLED", "true"),
            ("BUILDKITE_JOB_TIMED_OUT", "true"),
        ];
        assert_eq!(event(&base).state, Some(State::TimedOut));
        let by_hand = with(&base, &[("BUILDKITE_JOB_TIMED_OUT", "false")]);
        assert_eq!(event(&by_hand).state, Some(State::Cancelled));
    }

    #[test]
    fn circleci() {
        let base = [
            ("CI", "true"),
            ("CIRCLECI", "true"),
            ("CIRCLE_WORKFLOW_ID", "6f8ed0e4-5b2a-4b8c-9bd1-2a1d5f3e4c7a"),
            ("CIRCLE_BUILD_NUM", "88"),
            ("CIRCLE_BUILD_URL", "https://circleci.com/gh/acme/app/88"),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_SHA1", SHA),
            ("CIRCLE_JOB", "build"),
            ("CIRCLE_PROJECT_USERNAME", "acme"),
            ("CIRCLE_PROJECT_REPONAME", "app"),
        ];
        let info = run(&base).unwrap();
        assert_eq!(info.provider, "circleci");
        assert_eq!(
            info.event,
            BuildEvent {
                workflow: s("build"),
                branch: s("main"),
                commit: s(SHA),
                run_url: s("https://circleci.com/gh/acme/app/88"),
                provider_run_id: s("6f8ed0e4-5b2a-4b8c-9bd1-2a1d5f3e4c7a"),
                provider: s("circleci"),
                repository: s("acme/app"),
                ..Default::default()
            }
        );
        let ev = event(&with(
            &base,
            &[
                ("CIRCLE_BRANCH", ""),
                ("CIRCLE_TAG", "v1.2.0"),
                ("CIRCLE_WORKFLOW_ID", ""),
            ],
        ));
        assert_eq!(ev.branch, s("v1.2.0"));
        // The job number is per project: the project makes it unique on a shared webhook.
        assert_eq!(ev.provider_run_id, s("acme/app#88"));
    }
}
