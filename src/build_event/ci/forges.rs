//! The CIs built into code forges other than the Actions family: GitLab, Azure
//! DevOps and Bitbucket.

use crate::build_event::ci::encode_path_segment;
use crate::build_event::ci::{Ci, Env, Is, Src, Started, Status};
use crate::build_event::event::State;

// GitLab docs, "Predefined CI/CD variables reference".
pub(super) const GITLAB: Ci = Ci {
    provider: "gitlab",
    detect: &[Is::True("GITLAB_CI")],
    workflow: Src::First(&[
        Src::Var("CI_PIPELINE_NAME"),
        Src::Var("CI_JOB_NAME"),
        Src::Var("CI_PROJECT_NAME"),
    ]),
    branch: Src::Var("CI_COMMIT_REF_NAME"),
    // In merged-results pipelines CI_COMMIT_SHA is the merge of the source into the
    // target branch, made by GitLab; the source branch's head is only set there (empty
    // in other merge request pipelines, absent elsewhere).
    commit: Src::First(&[
        Src::Var("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"),
        Src::Var("CI_COMMIT_SHA"),
    ]),
    run_url: Src::Var("CI_PIPELINE_URL"),
    // GitLab has no attempt counter: retrying keeps the pipeline id and gives the
    // job a new id. The job id therefore plays the attempt's part, so a retried
    // notification posts again; the pipeline id in front keeps it traceable. The
    // price is that two different jobs of one pipeline do not deduplicate each
    // other, which the usual single notify job never needs.
    run_id: Src::First(&[
        Src::Fmt("{CI_PIPELINE_ID}-{CI_JOB_ID}"),
        Src::Var("CI_PIPELINE_ID"),
    ]),
    repository: Src::Var("CI_PROJECT_PATH"),
    started_at: Started::Rfc3339("CI_PIPELINE_CREATED_AT"),
    // Holds the job's outcome in after_script (`timedout` when the job ran out of
    // time); `running` in script, left unmapped.
    actor: Src::Var("GITLAB_USER_LOGIN"),
    author: Src::Custom(gitlab_author),
    state: Status::Map(
        "CI_JOB_STATUS",
        &[
            ("success", State::Succeeded),
            ("failed", State::Failed),
            ("canceled", State::Cancelled),
            ("timedout", State::TimedOut),
        ],
    ),
};

// Azure DevOps docs, "Use predefined variables" (classic and YAML pipelines).
pub(super) const AZURE: Ci = Ci {
    provider: "azure",
    detect: &[Is::True("TF_BUILD")],
    workflow: Src::Var("BUILD_DEFINITIONNAME"),
    branch: Src::Custom(azure_branch),
    // On pull request builds BUILD_SOURCEVERSION is the merge commit Azure made
    // (refs/pull/N/merge); the pull request's head is set on those builds only.
    commit: Src::First(&[
        Src::Var("SYSTEM_PULLREQUEST_SOURCECOMMITID"),
        Src::Var("BUILD_SOURCEVERSION"),
    ]),
    run_url: Src::Custom(azure_run_url),
    run_id: Src::Attempt(&Src::Var("BUILD_BUILDID"), "SYSTEM_JOBATTEMPT", 0),
    repository: Src::Var("BUILD_REPOSITORY_NAME"),
    started_at: Started::None,
    // SucceededWithIssues: the job passed with warnings (a step with
    // continueOnError failed), which is a success for the build.
    actor: Src::Var("BUILD_REQUESTEDFOREMAIL"),
    author: Src::First(&[]),
    state: Status::Map(
        "AGENT_JOBSTATUS",
        &[
            ("Succeeded", State::Succeeded),
            ("SucceededWithIssues", State::Succeeded),
            ("Failed", State::Failed),
            ("Canceled", State::Cancelled),
        ],
    ),
};

// Bitbucket Cloud docs, "Variables and secrets" → "Default variables".
pub(super) const BITBUCKET: Ci = Ci {
    provider: "bitbucket",
    detect: &[Is::Set("BITBUCKET_BUILD_NUMBER")],
    // Bitbucket has no pipeline name variable; the repository is the best name.
    workflow: Src::Var("BITBUCKET_REPO_SLUG"),
    branch: Src::First(&[Src::Var("BITBUCKET_BRANCH"), Src::Var("BITBUCKET_TAG")]),
    commit: Src::Var("BITBUCKET_COMMIT"),
    run_url: Src::Custom(bitbucket_run_url),
    // The build number is counted per repository, so it carries the repository.
    // Re-running failed steps keeps the pipeline (UUID and number) and counts the run
    // of the step: that count is the attempt, so a re-run posts again.
    run_id: Src::Attempt(
        &Src::First(&[
            Src::Var("BITBUCKET_PIPELINE_UUID"),
            Src::Fmt("{BITBUCKET_REPO_FULL_NAME}#{BITBUCKET_BUILD_NUMBER}"),
        ]),
        "BITBUCKET_STEP_RUN_NUMBER",
        0,
    ),
    repository: Src::Var("BITBUCKET_REPO_FULL_NAME"),
    started_at: Started::None,
    // Set in after-script only, to the step's exit status.
    actor: Src::First(&[]),
    author: Src::First(&[]),
    state: Status::ExitCode("BITBUCKET_EXIT_CODE"),
};

fn azure_branch(env: &Env) -> Option<String> {
    const PREFIXES: [&str; 2] = ["refs/heads/", "refs/tags/"];
    let strip = |v: String| {
        PREFIXES
            .iter()
            .find_map(|p| v.strip_prefix(p).map(str::to_string))
    };
    // PR builds of GitHub repositories carry the bare branch name; Azure Repos the ref.
    let pr_branch = |v: String| {
        if v.starts_with("refs/") {
            strip(v)
        } else {
            Some(v)
        }
    };
    // BUILD_SOURCEBRANCHNAME keeps only the last path segment (`feature/x` gives `x`),
    // so the full ref is preferred; for a pull request the source ref is the branch.
    env.get("SYSTEM_PULLREQUEST_SOURCEBRANCH")
        .and_then(pr_branch)
        .or_else(|| env.get("BUILD_SOURCEBRANCH").and_then(strip))
        .or_else(|| env.get("BUILD_SOURCEBRANCHNAME"))
}

fn azure_run_url(env: &Env) -> Option<String> {
    let collection = env.get("SYSTEM_COLLECTIONURI")?;
    let project = env.get("SYSTEM_TEAMPROJECT")?;
    let id = env.get("BUILD_BUILDID")?;
    let sep = if collection.ends_with('/') { "" } else { "/" };
    // Project names may contain spaces.
    Some(format!(
        "{collection}{sep}{}/_build/results?buildId={id}",
        encode_path_segment(&project)
    ))
}

fn bitbucket_run_url(env: &Env) -> Option<String> {
    let origin = env.get("BITBUCKET_GIT_HTTP_ORIGIN")?;
    let number = env.get("BITBUCKET_BUILD_NUMBER")?;
    // Bitbucket Cloud gives this origin as plain http; its pages are served over https.
    let origin = match origin.strip_prefix("http://bitbucket.org/") {
        Some(path) => format!("https://bitbucket.org/{path}"),
        None => origin,
    };
    Some(format!(
        "{}/pipelines/results/{number}",
        origin.trim_end_matches('/')
    ))
}

/// GitLab's `CI_COMMIT_AUTHOR` is `Name <email>`: the e-mail is the author (what the
/// people map matches); anything else is taken as it is.
fn gitlab_author(env: &Env) -> Option<String> {
    let v = env.get("CI_COMMIT_AUTHOR")?;
    let t = v.trim();
    let address = match (t.rfind('<'), t.strip_suffix('>')) {
        (Some(open), Some(inner)) => inner[open + 1..].trim(),
        _ => t,
    };
    (!address.is_empty()).then(|| address.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_event::ci::test_support::*;
    use crate::build_event::event::BuildEvent;
    use crate::text::time::parse_timestamp;

    #[test]
    fn gitlab_ci() {
        let base = [
            ("CI", "true"),
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_ID", "1000"),
            ("CI_JOB_ID", "5555"),
            (
                "CI_PIPELINE_URL",
                "https://gitlab.com/grp/app/-/pipelines/1000",
            ),
            ("CI_COMMIT_REF_NAME", "main"),
            ("CI_COMMIT_SHA", SHA),
            ("CI_PROJECT_PATH", "grp/app"),
            ("CI_PROJECT_NAME", "app"),
            ("CI_JOB_NAME", "notify"),
            ("CI_PIPELINE_CREATED_AT", "2026-11-23T12:00:00Z"),
            ("CI_JOB_STATUS", "running"),
        ];
        let info = run(&base).unwrap();
        assert_eq!(info.provider, "gitlab");
        assert_eq!(
            info.event,
            BuildEvent {
                workflow: s("notify"),
                branch: s("main"),
                commit: s(SHA),
                run_url: s("https://gitlab.com/grp/app/-/pipelines/1000"),
                provider_run_id: s("1000-5555"),
                provider: s("gitlab"),
                repository: s("grp/app"),
                started_at: parse_timestamp("2026-11-23T12:00:00Z").ok(),
                ..Default::default()
            }
        );
        let ev = event(&with(
            &base,
            &[("CI_PIPELINE_NAME", "Nightly"), ("CI_JOB_STATUS", "failed")],
        ));
        assert_eq!(ev.workflow, s("Nightly"));
        assert_eq!(ev.state, Some(State::Failed));
        // The runner's after_script status for a job that hit its timeout.
        let ev = event(&with(&base, &[("CI_JOB_STATUS", "timedout")]));
        assert_eq!(ev.state, Some(State::TimedOut));
        let ev = event(&with(&base, &[("CI_JOB_NAME", ""), ("CI_JOB_ID", "")]));
        assert_eq!(ev.workflow, s("app"));
        assert_eq!(ev.provider_run_id, s("1000"));
    }

    /// Merged-results pipelines build GitLab's merge commit; the head is the source
    /// branch's. Plain merge request pipelines set the variable empty.
    #[test]
    fn gitlab_merged_results_pipeline_reports_the_source_head() {
        const HEAD: &str = "fedcba9876543210fedcba9876543210fedcba98";
        let base = [
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_ID", "1000"),
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_REF_NAME", "feature/x"),
            ("CI_COMMIT_SHA", SHA),
            ("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/x"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", HEAD),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ];
        assert_eq!(event(&base).commit, s(HEAD));
        let detached = [
            ("CI_MERGE_REQUEST_EVENT_TYPE", "detached"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", ""),
        ];
        assert_eq!(event(&with(&base, &detached)).commit, s(SHA));
    }

    #[test]
    fn azure_pipelines() {
        const HEAD: &str = "fedcba9876543210fedcba9876543210fedcba98";
        const MERGE: &str = "1111111111111111111111111111111111111111";
        let base = [
            ("TF_BUILD", "True"),
            ("BUILD_BUILDID", "123"),
            ("SYSTEM_JOBATTEMPT", "1"),
            ("SYSTEM_COLLECTIONURI", "https://dev.azure.com/acme/"),
            ("SYSTEM_TEAMPROJECT", "My Project"),
            ("BUILD_SOURCEBRANCH", "refs/heads/feature/x"),
            ("BUILD_SOURCEBRANCHNAME", "x"),
            ("BUILD_SOURCEVERSION", SHA),
            ("BUILD_DEFINITIONNAME", "app-ci"),
            ("BUILD_REPOSITORY_NAME", "acme/app"),
        ];
        let info = run(&base).unwrap();
        assert_eq!(info.provider, "azure");
        assert_eq!(
            info.event,
            BuildEvent {
                workflow: s("app-ci"),
                branch: s("feature/x"),
                commit: s(SHA),
                run_url: s("https://dev.azure.com/acme/My%20Project/_build/results?buildId=123"),
                provider_run_id: s("123"),
                provider: s("azure"),
                repository: s("acme/app"),
                ..Default::default()
            }
        );
        // A pull request build, as Azure sets it: the merge ref, `merge` as the branch
        // name, Azure's merge commit as the source version, the head separately.
        let pr = [
            ("BUILD_REASON", "PullRequest"),
            ("BUILD_SOURCEBRANCH", "refs/pull/4/merge"),
            ("BUILD_SOURCEBRANCHNAME", "merge"),
            ("BUILD_SOURCEVERSION", MERGE),
            ("SYSTEM_PULLREQUEST_PULLREQUESTID", "4"),
            ("SYSTEM_PULLREQUEST_SOURCEBRANCH", "refs/heads/fix/y"),
            ("SYSTEM_PULLREQUEST_SOURCECOMMITID", HEAD),
            ("SYSTEM_PULLREQUEST_TARGETBRANCH", "refs/heads/main"),
        ];
        let pr = with(&base, &pr);
        let ev = event(&pr);
        assert_eq!((ev.branch, ev.commit), (s("fix/y"), s(HEAD)));
        let ev = event(&with(
            &pr,
            &[("SYSTEM_JOBATTEMPT", "3"), ("AGENT_JOBSTATUS", "Canceled")],
        ));
        assert_eq!(ev.provider_run_id, s("123-3"));
        assert_eq!(ev.branch, s("fix/y"));
        assert_eq!(ev.state, Some(State::Cancelled));
        let ev = event(&with(
            &base,
            &[
                ("BUILD_SOURCEBRANCH", "refs/unknown/4"),
                ("AGENT_JOBSTATUS", "SucceededWithIssues"),
            ],
        ));
        assert_eq!(ev.branch, s("x"));
        // Passed with warnings (a continueOnError step failed): a success.
        assert_eq!(ev.state, Some(State::Succeeded));
        // PR builds of GitHub repositories name the source branch bare.
        let ev = event(&with(&pr, &[("SYSTEM_PULLREQUEST_SOURCEBRANCH", "fix/y")]));
        assert_eq!(ev.branch, s("fix/y"));
    }

    #[test]
    fn bitbucket_pipelines() {
        let base = [
            ("CI", "true"),
            ("BITBUCKET_BUILD_NUMBER", "31"),
            (
                "BITBUCKET_PIPELINE_UUID",
                "{5c4b0a4e-7a1e-4b6e-8f0a-1b2c3d4e5f60}",
            ),
            ("BITBUCKET_GIT_HTTP_ORIGIN", "http://bitbucket.org/acme/app"),
            ("BITBUCKET_BRANCH", "main"),
            ("BITBUCKET_COMMIT", SHA),
            ("BITBUCKET_REPO_FULL_NAME", "acme/app"),
            ("BITBUCKET_REPO_SLUG", "app"),
        ];
        let info = run(&base).unwrap();
        assert_eq!(info.provider, "bitbucket");
        assert_eq!(
            info.event,
            BuildEvent {
                workflow: s("app"),
                branch: s("main"),
                commit: s(SHA),
                run_url: s("https://bitbucket.org/acme/app/pipelines/results/31"),
                provider_run_id: s("{5c4b0a4e-7a1e-4b6e-8f0a-1b2c3d4e5f60}"),
                provider: s("bitbucket"),
                repository: s("acme/app"),
                ..Default::default()
            }
        );
        let ev = event(&with(
            &base,
            &[
                ("BITBUCKET_BRANCH", ""),
                ("BITBUCKET_TAG", "v2"),
                ("BITBUCKET_EXIT_CODE", "0"),
            ],
        ));
        assert_eq!(ev.branch, s("v2"));
        assert_eq!(ev.state, Some(State::Succeeded));
        let ev = event(&with(&base, &[("BITBUCKET_EXIT_CODE", "1")]));
        assert_eq!(ev.state, Some(State::Failed));
        let ev = event(&with(&base, &[("BITBUCKET_PIPELINE_UUID", "")]));
        assert_eq!(ev.provider_run_id, s("acme/app#31"));
    }

    /// "Rerun failed steps" keeps the pipeline's UUID and number and counts the step's
    /// run: the re-run must not be taken for a duplicate of the first.
    #[test]
    fn bitbucket_rerun_of_failed_steps_is_a_new_attempt() {
        let base = [
            ("CI", "true"),
            ("BITBUCKET_BUILD_NUMBER", "31"),
            (
                "BITBUCKET_PIPELINE_UUID",
                "{5c4b0a4e-7a1e-4b6e-8f0a-1b2c3d4e5f60}",
            ),
            (
                "BITBUCKET_STEP_UUID",
                "{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}",
            ),
            ("BITBUCKET_STEP_RUN_NUMBER", "1"),
            ("BITBUCKET_REPO_FULL_NAME", "acme/app"),
        ];
        assert_eq!(
            event(&base).provider_run_id,
            s("{5c4b0a4e-7a1e-4b6e-8f0a-1b2c3d4e5f60}")
        );
        let rerun = with(&base, &[("BITBUCKET_STEP_RUN_NUMBER", "2")]);
        assert_eq!(
            event(&rerun).provider_run_id,
            s("{5c4b0a4e-7a1e-4b6e-8f0a-1b2c3d4e5f60}-2")
        );
        let fallback = with(&rerun, &[("BITBUCKET_PIPELINE_UUID", "")]);
        assert_eq!(event(&fallback).provider_run_id, s("acme/app#31-2"));
    }
}
