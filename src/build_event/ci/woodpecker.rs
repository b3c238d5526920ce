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
    actor: Src::First(&[]),
    author: Src::First(&[
        Src::Var("CI_COMMIT_AUTHOR_EMAIL"),
        Src::Var("CI_COMMIT_AUTHOR"),
    ]),
    state: Status::Custom(woodpecker_state),
};

// Drone docs, "Pipeline environment reference".
pub(super) const DRONE: Ci = Ci {
    provider: "drone",
    detect: &[Is::True("DRONE")],
    workflow: Src::Var("DRONE_STAGE_NAME"),
    // For pull requests DRONE_BRANCH is the target branch; on tag pushes it is the
    // repository's default branch. DRONE_TAG is set on tag events only.
    branch: Src::First(&[
        Src::Var("DRONE_TAG"),
        Src::Var("DRONE_SOURCE_BRANCH"),
        Src::Var("DRONE_BRANCH"),
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
    actor: Src::First(&[]),
    author: Src::First(&[
        Src::Var("DRONE_COMMIT_AUTHOR_EMAIL"),
        Src::Var("DRONE_COMMIT_AUTHOR"),
    ]),
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

/// Woodpecker's minor version within its major (`3.15.0` → 15); `None` as for
/// [`woodpecker_major`], and for development builds.
fn woodpecker_minor(env: &Env) -> Option<u32> {
    let v = env.get("CI_SYSTEM_VERSION")?;
    v.trim_start_matches('v').split('.').nth(1)?.parse().ok()
}

fn woodpecker_branch(env: &Env) -> Option<String> {
    // CI_COMMIT_TAG is set only when a tag was built (tag and release events); then
    // CI_COMMIT_BRANCH holds the default branch (or the one the tag was pushed from),
    // not what was built. On pull requests CI_COMMIT_BRANCH is the target branch.
    [
        "CI_COMMIT_TAG",
        "CI_COMMIT_SOURCE_BRANCH",
        "CI_COMMIT_BRANCH",
    ]
    .iter()
    .find_map(|v| env.get(v))
}

fn woodpecker_run_url(env: &Env) -> Option<String> {
    // 2.0 and later link the pipeline. Before 2.0 CI_PIPELINE_URL linked the forge's
    // commit, and the pipeline's page (`/repos/{id}/pipeline/{n}`) cannot be built:
    // the repository id is in no variable of any version (CI_REPO_REMOTE_ID is the
    // forge's id). No link then, rather than a wrong one.
    if woodpecker_major(env).is_some_and(|m| m >= 2) {
        return env.get("CI_PIPELINE_URL");
    }
    None
}

fn woodpecker_state(env: &Env) -> Option<State> {
    // 2.x sets CI_PIPELINE_STATUS to `success` in every step, even after a failure, and
    // older servers did no better: a state read from it there could announce a broken
    // build as green. 3.0 to 3.14 do not set it; 3.15 brought it back, set by the agent
    // for each step from the pipeline's state so far. CI_STEP_STATUS is left out: it
    // describes the step running mmnotify, which is still running.
    let reliable = match woodpecker_major(env) {
        Some(u32::MAX) => true,
        Some(3) => woodpecker_minor(env).is_some_and(|m| m >= 15),
        Some(m) => m > 3,
        None => false,
    };
    if !reliable {
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

    /// What a 2.x step sees (`environment.go` of v2.x): no repository id in any
    /// version, `CI_PIPELINE_URL` built by the server, `CI_PIPELINE_STATUS` always `success`.
    const WOODPECKER_2: &[(&str, &str)] = &[
        ("CI", "woodpecker"),
        ("CI_SYSTEM_NAME", "woodpecker"),
        ("CI_SYSTEM_VERSION", "2.7.0"),
        ("CI_SYSTEM_URL", "https://ci.example"),
        ("CI_FORGE_URL", "https://codeberg.org"),
        ("CI_REPO", "acme/app"),
        ("CI_REPO_OWNER", "acme"),
        ("CI_REPO_NAME", "app"),
        ("CI_REPO_REMOTE_ID", "4521"),
        ("CI_PIPELINE_EVENT", "push"),
        ("CI_PIPELINE_NUMBER", "8"),
        ("CI_PIPELINE_URL", "https://ci.example/repos/7/pipeline/8"),
        (
            "CI_PIPELINE_FORGE_URL",
            "https://codeberg.org/acme/app/commit/0123456789",
        ),
        ("CI_PIPELINE_STATUS", "success"),
        ("CI_PIPELINE_STARTED", "1795435200"),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_COMMIT_SHA", SHA),
        ("CI_COMMIT_TAG", ""),
        ("CI_COMMIT_SOURCE_BRANCH", ""),
        ("CI_WORKFLOW_NAME", "build"),
        ("CI_STEP_STATUS", "success"),
    ];

    #[test]
    fn woodpecker() {
        let info = run(WOODPECKER_2).unwrap();
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
            WOODPECKER_2,
            &[
                ("CI_PIPELINE_EVENT", "pull_request"),
                ("CI_COMMIT_SOURCE_BRANCH", "feat"),
                ("CI_COMMIT_TARGET_BRANCH", "main"),
                ("CI_PIPELINE_STARTED", "soon"),
            ],
        ));
        assert_eq!(ev.branch, s("feat"));
        assert_eq!(ev.started_at, None);
    }

    /// 1.x (`environment.go` of v1.0.x): `CI_PIPELINE_URL` is the forge's commit page and
    /// the pipeline's page needs the repository id, which no variable holds: no link.
    #[test]
    fn woodpecker_1_has_no_run_link() {
        let v1 = with(
            WOODPECKER_2,
            &[
                ("CI_SYSTEM_VERSION", "1.0.5"),
                (
                    "CI_PIPELINE_URL",
                    "https://codeberg.org/acme/app/commit/0123456789",
                ),
                ("CI_PIPELINE_FORGE_URL", ""),
            ],
        );
        let ev = event(&v1);
        assert_eq!(ev.run_url, None);
        assert_eq!(ev.provider_run_id, s("acme/app#8"));
        // Nor when the version is unknown: the URL could be either.
        let unknown = with(&v1, &[("CI_SYSTEM_VERSION", "")]);
        assert_eq!(event(&unknown).run_url, None);
    }

    #[test]
    fn woodpecker_status_only_where_it_is_true() {
        // 2.x (and older): always `success`, even after a failed step.
        for v in ["2.7.0", "v2.0.0", "1.0.5", ""] {
            let ev = event(&with(WOODPECKER_2, &[("CI_SYSTEM_VERSION", v)]));
            assert_eq!(ev.state, None, "{v}");
        }
        // 3.0 to 3.14 do not set it; a value there is not Woodpecker's.
        let v3: Vec<_> = with(WOODPECKER_2, &[("CI_SYSTEM_VERSION", "3.1.0")])
            .into_iter()
            .filter(|(k, _)| *k != "CI_PIPELINE_STATUS")
            .collect();
        assert_eq!(event(&v3).state, None);
        let user_set = with(&v3, &[("CI_PIPELINE_STATUS", "success")]);
        assert_eq!(event(&user_set).state, None);
        // 3.15 and later: set per step from the pipeline's state.
        let failed = with(
            &v3,
            &[
                ("CI_SYSTEM_VERSION", "3.15.0"),
                ("CI_PIPELINE_STATUS", "failure"),
            ],
        );
        assert_eq!(event(&failed).state, Some(State::Failed));
        for v in ["v3.17.0", "4.0.0", "next-3a1b2c"] {
            let ok = with(
                &v3,
                &[("CI_SYSTEM_VERSION", v), ("CI_PIPELINE_STATUS", "success")],
            );
            assert_eq!(event(&ok).state, Some(State::Succeeded), "{v}");
        }
    }

    #[test]
    fn woodpecker_tags_and_repository_scoped_ids() {
        // Tag and release events: the tag is what was built, not the branch.
        for kind in ["tag", "release"] {
            let tagged = [
                ("CI_PIPELINE_EVENT", kind),
                ("CI_COMMIT_REF", "refs/tags/v1.4.0"),
                ("CI_COMMIT_TAG", "v1.4.0"),
                ("CI_COMMIT_BRANCH", "main"),
            ];
            assert_eq!(
                event(&with(WOODPECKER_2, &tagged)).branch,
                s("v1.4.0"),
                "{kind}"
            );
        }
        assert_eq!(event(WOODPECKER_2).branch, s("main"));

        // Two repositories' pipeline #8 must not deduplicate each other.
        let other = event(&with(WOODPECKER_2, &[("CI_REPO", "acme/site")]));
        assert_eq!(other.provider_run_id, s("acme/site#8"));
        let split = event(&with(
            WOODPECKER_2,
            &[
                ("CI_REPO", ""),
                ("CI_REPO_OWNER", "acme"),
                ("CI_REPO_NAME", "lib"),
            ],
        ));
        assert_eq!(split.provider_run_id, s("acme/lib#8"));
        let no_repo = event(&with(
            WOODPECKER_2,
            &[("CI_REPO", ""), ("CI_REPO_OWNER", ""), ("CI_REPO_NAME", "")],
        ));
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

    /// A tag push: `DRONE_BRANCH` (and `DRONE_SOURCE_BRANCH`) name the default branch.
    #[test]
    fn drone_tag_push_shows_the_tag() {
        let tag = [
            ("DRONE", "true"),
            ("DRONE_BUILD_EVENT", "tag"),
            ("DRONE_BUILD_NUMBER", "23"),
            ("DRONE_REPO", "acme/app"),
            ("DRONE_BRANCH", "main"),
            ("DRONE_SOURCE_BRANCH", "main"),
            ("DRONE_TARGET_BRANCH", "main"),
            ("DRONE_TAG", "v2.1.0"),
            ("DRONE_COMMIT_REF", "refs/tags/v2.1.0"),
            ("DRONE_COMMIT_SHA", SHA),
        ];
        assert_eq!(event(&tag).branch, s("v2.1.0"));
    }
}
