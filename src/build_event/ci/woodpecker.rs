//! Woodpecker and Drone, from which Woodpecker was forked.

use crate::build_event::ci::{Ci, Env, Is, Src, Started, Status};
use crate::build_event::event::State;

// Woodpecker docs, "Environment variables" → "Built-in environment variables".
pub(super) const WOODPECKER: Ci = Ci {
    provider: "woodpecker",
    detect: &[Is::Equals("CI", "woodpecker")],
    workflow: Src::Var("CI_WORKFLOW_NAME"),
    branch: Src::Custom(woodpecker_branch),
    commit: Src::Var("CI_COMMIT_SHA"),
    run_url: Src::Custom(woodpecker_run_url),
    // A restart is a new pipeline with a new number: no attempt to add. The number is
    // counted per repository, so it carries the repository.
    run_id: Src::First(&[
        Src::Fmt("{CI_REPO}#{CI_PIPELINE_NUMBER}"),
        Src::Fmt("{CI_REPO_OWNER}/{CI_REPO_NAME}#{CI_PIPELINE_NUMBER}"),
    ]),
    repository: Src::Var("CI_REPO"),
    started_at: Started::UnixSeconds("CI_PIPELINE_STARTED"),
    state: Status::Custom(woodpecker_state),
};

// Drone docs, "Pipeline environment reference".
pub(super) const DRONE: Ci = Ci {
    provider: "drone",
    detect: &[Is::True("DRONE")],
    workflow: Src::Var("DRONE_STAGE_NAME"),
    // For pull requests DRONE_BRANCH is the target branch.
    branch: Src::First(&[
        Src::Var("DRONE_SOURCE_BRANCH"),
        Src::Var("DRONE_BRANCH"),
        Src::Var("DRONE_TAG"),
    ]),
    commit: Src::First(&[Src::Var("DRONE_COMMIT_SHA"), Src::Var("DRONE_COMMIT")]),
    run_url: Src::Var("DRONE_BUILD_LINK"),
    // A restart is a new build with a new number: no attempt to add. The number is
    // counted per repository, so it carries the repository.
    run_id: Src::First(&[
        Src::Fmt("{DRONE_REPO}#{DRONE_BUILD_NUMBER}"),
        Src::Fmt("{DRONE_REPO_OWNER}/{DRONE_REPO_NAME}#{DRONE_BUILD_NUMBER}"),
    ]),
    repository: Src::Var("DRONE_REPO"),
    started_at: Started::UnixSeconds("DRONE_BUILD_STARTED"),
    state: Status::Map(
        "DRONE_BUILD_STATUS",
        &[("success", State::Succeeded), ("failure", State::Failed)],
    ),
};

/// Woodpecker's major version from `CI_SYSTEM_VERSION` (`2.7.0`, `v1.0.2`); development
/// builds (`next-…`) are newer than any release. `None` when absent or unreadable.
fn woodpecker_major(env: &Env) -> Option<u32> {
    let v = env.get("CI_SYSTEM_VERSION")?;
    if v.starts_with("next") {
        return Some(u32::MAX);
    }
    v.trim_start_matches('v').split('.').next()?.parse().ok()
}

fn woodpecker_branch(env: &Env) -> Option<String> {
    // On tag events CI_COMMIT_BRANCH holds the default branch (or the one the tag was
    // pushed from), not what was built; on pull requests it is the target branch.
    let tag = env.get("CI_PIPELINE_EVENT").as_deref() == Some("tag");
    let order: &[&str] = if tag {
        &[
            "CI_COMMIT_TAG",
            "CI_COMMIT_SOURCE_BRANCH",
            "CI_COMMIT_BRANCH",
        ]
    } else {
        &[
            "CI_COMMIT_SOURCE_BRANCH",
            "CI_COMMIT_BRANCH",
            "CI_COMMIT_TAG",
        ]
    };
    order.iter().find_map(|v| env.get(v))
}

fn woodpecker_run_url(env: &Env) -> Option<String> {
    // Before 2.0 CI_PIPELINE_URL linked the forge's commit, not the pipeline.
    if woodpecker_major(env).is_some_and(|m| m >= 2) {
        if let Some(url) = env.get("CI_PIPELINE_URL") {
            return Some(url);
        }
    }
    let base = env.get("CI_SYSTEM_URL")?;
    let repo_id = env.get("CI_REPO_ID")?;
    let number = env.get("CI_PIPELINE_NUMBER")?;
    Some(format!(
        "{}/repos/{repo_id}/pipeline/{number}",
        base.trim_end_matches('/')
    ))
}

fn woodpecker_state(env: &Env) -> Option<State> {
    // 2.x sets CI_PIPELINE_STATUS to `success` in every step, even after a failure (3.0
    // removed it for that reason), and older servers did no better: a state read from it
    // below 3.0 could announce a broken build as green. CI_STEP_STATUS is left out too:
    // it describes the step running mmnotify, which is still running.
    if woodpecker_major(env).is_none_or(|m| m < 3) {
        return None;
    }
    match env.get("CI_PIPELINE_STATUS")?.as_str() {
        "success" => Some(State::Succeeded),
        "failure" => Some(State::Failed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_event::ci::test_support::*;
    use crate::build_event::event::BuildEvent;
    use crate::text::time::parse_timestamp;

    #[test]
    fn woodpecker() {
        let base = [
            ("CI", "woodpecker"),
            ("CI_SYSTEM_VERSION", "2.7.0"),
            ("CI_SYSTEM_URL", "https://ci.example"),
            ("CI_REPO_ID", "7"),
            ("CI_PIPELINE_EVENT", "push"),
            ("CI_PIPELINE_NUMBER", "8"),
            ("CI_PIPELINE_URL", "https://ci.example/repos/7/pipeline/8"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_SHA", SHA),
            ("CI_REPO", "acme/app"),
            ("CI_WORKFLOW_NAME", "build"),
            ("CI_PIPELINE_STARTED", "1795435200"),
            ("CI_PIPELINE_STATUS", "failure"),
            ("CI_STEP_STATUS", "success"),
        ];
        let info = run(&base).unwrap();
        assert_eq!(info.provider, "woodpecker");
        assert_eq!(
            info.event,
            BuildEvent {
                workflow: s("build"),
                // 2.x: CI_PIPELINE_STATUS is not to be believed.
                state: None,
                branch: s("main"),
                commit: s(SHA),
                run_url: s("https://ci.example/repos/7/pipeline/8"),
                provider_run_id: s("acme/app#8"),
                provider: s("woodpecker"),
                repository: s("acme/app"),
                started_at: parse_timestamp("2026-11-23T12:00:00Z").ok(),
                ..Default::default()
            }
        );
        let ev = event(&with(
            &base,
            &[
                ("CI_COMMIT_SOURCE_BRANCH", "feat"),
                ("CI_PIPELINE_STARTED", "soon"),
            ],
        ));
        assert_eq!(ev.branch, s("feat"));
        assert_eq!(ev.started_at, None);
    }

    #[test]
    fn woodpecker_versions_tags_and_repository_scoped_ids() {
        let base = [
            ("CI", "woodpecker"),
            ("CI_SYSTEM_URL", "https://ci.example/"),
            ("CI_REPO_ID", "7"),
            ("CI_PIPELINE_NUMBER", "8"),
            ("CI_COMMIT_SHA", SHA),
            ("CI_REPO", "acme/app"),
            ("CI_PIPELINE_STATUS", "success"),
        ];
        // 2.x (and older): always `success`, even after a failed step.
        for v in ["2.7.0", "v2.0.0", "1.0.5", ""] {
            let ev = event(&with(&base, &[("CI_SYSTEM_VERSION", v)]));
            assert_eq!(ev.state, None, "{v}");
        }
        let ev = event(&with(
            &base,
            &[
                ("CI_SYSTEM_VERSION", "3.1.0"),
                ("CI_PIPELINE_STATUS", "failure"),
            ],
        ));
        assert_eq!(ev.state, Some(State::Failed));
        let ev = event(&with(&base, &[("CI_SYSTEM_VERSION", "next-3a1b2c")]));
        assert_eq!(ev.state, Some(State::Succeeded));

        // 1.x: CI_PIPELINE_URL is the forge's commit page; the pipeline's is built.
        let ev = event(&with(
            &base,
            &[
                ("CI_SYSTEM_VERSION", "1.0.2"),
                (
                    "CI_PIPELINE_URL",
                    "https://codeberg.org/acme/app/commit/0123456789",
                ),
            ],
        ));
        assert_eq!(ev.run_url, s("https://ci.example/repos/7/pipeline/8"));

        // Tag events: the tag is what was built, not the branch it was pushed from.
        let tagged = [
            ("CI_PIPELINE_EVENT", "tag"),
            ("CI_COMMIT_TAG", "v1.4.0"),
            ("CI_COMMIT_BRANCH", "main"),
        ];
        assert_eq!(event(&with(&base, &tagged)).branch, s("v1.4.0"));
        let pushed = [("CI_PIPELINE_EVENT", "push"), ("CI_COMMIT_BRANCH", "main")];
        assert_eq!(event(&with(&base, &pushed)).branch, s("main"));

        // Two repositories' pipeline #8 must not deduplicate each other.
        let other = event(&with(&base, &[("CI_REPO", "acme/site")]));
        assert_eq!(other.provider_run_id, s("acme/site#8"));
        let split = event(&with(
            &base,
            &[
                ("CI_REPO", ""),
                ("CI_REPO_OWNER", "acme"),
                ("CI_REPO_NAME", "lib"),
            ],
        ));
        assert_eq!(split.provider_run_id, s("acme/lib#8"));
        let no_repo = event(&with(&base, &[("CI_REPO", "")]));
        assert_eq!(no_repo.provider_run_id, None, "a bare number is not unique");
    }

    #[test]
    fn drone() {
        let base = [
            ("CI", "true"),
            ("DRONE", "true"),
            ("DRONE_BUILD_NUMBER", "22"),
            ("DRONE_BUILD_LINK", "https://drone.example/acme/app/22"),
            ("DRONE_BRANCH", "main"),
            ("DRONE_COMMIT_SHA", SHA),
            ("DRONE_REPO", "acme/app"),
            ("DRONE_STAGE_NAME", "default"),
            ("DRONE_BUILD_STARTED", "1795435200"),
            ("DRONE_BUILD_STATUS", "success"),
        ];
        let info = run(&base).unwrap();
        assert_eq!(info.provider, "drone");
        assert_eq!(
            info.event,
            BuildEvent {
                workflow: s("default"),
                state: Some(State::Succeeded),
                branch: s("main"),
                commit: s(SHA),
                run_url: s("https://drone.example/acme/app/22"),
                provider_run_id: s("acme/app#22"),
                provider: s("drone"),
                repository: s("acme/app"),
                started_at: parse_timestamp("2026-11-23T12:00:00Z").ok(),
                ..Default::default()
            }
        );
        let ev = event(&with(&base, &[("DRONE_BUILD_STATUS", "running")]));
        assert_eq!(ev.state, None);
        let ev = event(&with(
            &base,
            &[
                ("DRONE_REPO", ""),
                ("DRONE_REPO_OWNER", "acme"),
                ("DRONE_REPO_NAME", "site"),
            ],
        ));
        assert_eq!(ev.provider_run_id, s("acme/site#22"));
    }
}
