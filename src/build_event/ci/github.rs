//! The Actions family: Forgejo, Gitea and GitHub, which share the `GITHUB_*` variables.

use crate::build_event::ci::{attempt, fill};
use crate::build_event::ci::{Ci, Env, Is, Src, Started, Status};

const GITHUB_RUN_ID: Src = Src::Attempt(&Src::Var("GITHUB_RUN_ID"), "GITHUB_RUN_ATTEMPT", 0);
// GITHUB_HEAD_REF is the source branch of a pull request, but only on `pull_request`
// and `pull_request_target`; on the review events the payload has it. GITHUB_REF_NAME
// would be `123/merge` there.
const GITHUB_BRANCH: Src = Src::First(&[
    Src::Var("GITHUB_HEAD_REF"),
    Src::Custom(github_pr_head_ref),
    Src::Var("GITHUB_REF_NAME"),
]);
// For pull requests GITHUB_SHA is the test-merge commit (or the base branch's tip):
// the commit that was pushed is in the event payload.
const GITHUB_COMMIT: Src = Src::First(&[Src::Custom(github_pr_head_sha), Src::Var("GITHUB_SHA")]);

// Who started the run: for a re-run, the one who re-ran it (GITHUB_TRIGGERING_ACTOR),
// else the one whose action started the workflow. The commit author is only in the
// event payload, not in the environment.
const GITHUB_ACTOR_SRC: Src = Src::First(&[
    Src::Var("GITHUB_TRIGGERING_ACTOR"),
    Src::Var("GITHUB_ACTOR"),
]);

// Forgejo Actions reference, "Default environment variables"; before Gitea, as a
// Forgejo runner sets GITEA_ACTIONS as well.
pub(super) const FORGEJO: Ci = Ci {
    provider: "forgejo",
    detect: &[Is::Any(&[
        Is::True("FORGEJO_ACTIONS"),
        Is::Check(forgejo_runner_without_forgejo_marker),
    ])],
    workflow: Src::Var("GITHUB_WORKFLOW"),
    branch: GITHUB_BRANCH,
    commit: GITHUB_COMMIT,
    // Forgejo's web UI addresses runs by their per-repository number, not the id.
    run_url: Src::Fmt("{GITHUB_SERVER_URL}/{GITHUB_REPOSITORY}/actions/runs/{GITHUB_RUN_NUMBER}"),
    run_id: GITHUB_RUN_ID,
    repository: Src::Var("GITHUB_REPOSITORY"),
    started_at: Started::None,
    actor: GITHUB_ACTOR_SRC,
    author: Src::First(&[]),
    state: Status::None,
};

// Gitea docs, "Compared to GitHub Actions" / act_runner (GITEA_ACTIONS=true,
// GITEA_ACTIONS_RUNNER_VERSION).
pub(super) const GITEA: Ci = Ci {
    provider: "gitea",
    detect: &[Is::True("GITEA_ACTIONS")],
    workflow: Src::Var("GITHUB_WORKFLOW"),
    branch: GITHUB_BRANCH,
    commit: GITHUB_COMMIT,
    // Gitea 1.26 addresses runs by id like GitHub; 1.25 and older used the run
    // number there, so on those the link is wrong and --run-url should be passed.
    run_url: Src::Fmt("{GITHUB_SERVER_URL}/{GITHUB_REPOSITORY}/actions/runs/{GITHUB_RUN_ID}"),
    run_id: GITHUB_RUN_ID,
    repository: Src::Var("GITHUB_REPOSITORY"),
    started_at: Started::None,
    actor: GITHUB_ACTOR_SRC,
    author: Src::First(&[]),
    state: Status::None,
};

// GitHub docs, "Variables reference" → "Default environment variables".
pub(super) const GITHUB_ACTIONS: Ci = Ci {
    provider: "github",
    detect: &[Is::True("GITHUB_ACTIONS")],
    workflow: Src::Var("GITHUB_WORKFLOW"),
    branch: GITHUB_BRANCH,
    commit: GITHUB_COMMIT,
    run_url: Src::Custom(github_run_url),
    run_id: GITHUB_RUN_ID,
    repository: Src::Var("GITHUB_REPOSITORY"),
    started_at: Started::None,
    actor: GITHUB_ACTOR_SRC,
    author: Src::First(&[]),
    state: Status::None,
};

/// Forgejo runners before `FORGEJO_ACTIONS` existed (6.x and older) announce themselves
/// like Gitea's `act_runner`: `GITEA_ACTIONS=true` and the runner's version in
/// `GITEA_ACTIONS_RUNNER_VERSION`. The version tells them apart: Forgejo's runner is
/// numbered 2.x and up (the 6.x series lacks `FORGEJO_ACTIONS`), Gitea's `act_runner`
/// 0.x and 1.x. A Forgejo runner 1.x (2023) is taken for Gitea: its run link may be
/// wrong there, and `--run-url` sets it.
fn forgejo_runner_without_forgejo_marker(env: &Env) -> bool {
    let gitea = env
        .get("GITEA_ACTIONS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let major = env.get("GITEA_ACTIONS_RUNNER_VERSION").and_then(|v| {
        v.trim_start_matches('v')
            .split('.')
            .next()?
            .parse::<u32>()
            .ok()
    });
    gitea && major.is_some_and(|m| m >= 2)
}

fn github_run_url(env: &Env) -> Option<String> {
    let base = fill(
        "{GITHUB_SERVER_URL}/{GITHUB_REPOSITORY}/actions/runs/{GITHUB_RUN_ID}",
        env,
    )?;
    // Without the attempt the page shows the latest attempt, not this one.
    match attempt(env, "GITHUB_RUN_ATTEMPT", 0) {
        Some(n) if n > 1 => Some(format!("{base}/attempts/{n}")),
        _ => Some(base),
    }
}

/// Largest GitHub event payload read; a pull request's is tens of kilobytes.
const MAX_EVENT_PAYLOAD: u64 = 4 << 20;

/// Events whose `GITHUB_SHA` is not the pull request's head: it is the test-merge
/// commit (`pull_request` and the two review events) or the base branch's tip
/// (`pull_request_target`). Their payloads all carry the pull request, head included.
const PULL_REQUEST_EVENTS: [&str; 4] = [
    "pull_request",
    "pull_request_target",
    "pull_request_review",
    "pull_request_review_comment",
];

/// The event payload of a pull request run (one of [`PULL_REQUEST_EVENTS`]). Any
/// problem (no file, too large, not JSON) gives `None`, which leaves the branch and
/// commit to the variables: a notification is not worth failing over it.
fn github_pr_payload(env: &Env) -> Option<serde_json::Value> {
    use std::io::Read;
    let event = env.get("GITHUB_EVENT_NAME")?;
    if !PULL_REQUEST_EVENTS.contains(&event.as_str()) {
        return None;
    }
    let path = env.get("GITHUB_EVENT_PATH")?;
    // A webhook URL pasted here is not opened (an error could echo it): no head commit.
    if crate::secret::refuse_url_as_path(std::ffi::OsStr::new(&path), "GITHUB_EVENT_PATH").is_err()
    {
        return None;
    }
    let mut buf = Vec::new();
    std::fs::File::open(&path)
        .ok()?
        .take(MAX_EVENT_PAYLOAD + 1)
        .read_to_end(&mut buf)
        .ok()?;
    if buf.len() as u64 > MAX_EVENT_PAYLOAD {
        return None;
    }
    serde_json::from_slice(&buf).ok()
}

/// `pull_request.head.sha` from the event payload.
fn github_pr_head_sha(env: &Env) -> Option<String> {
    let payload = github_pr_payload(env)?;
    let sha = payload.pointer("/pull_request/head/sha")?.as_str()?;
    (sha.len() >= 7 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha.to_string())
}

/// `pull_request.head.ref` (the source branch) from the event payload.
fn github_pr_head_ref(env: &Env) -> Option<String> {
    let payload = github_pr_payload(env)?;
    let head_ref = payload.pointer("/pull_request/head/ref")?.as_str()?.trim();
    (!head_ref.is_empty()).then(|| head_ref.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_event::ci::test_support::*;
    use crate::build_event::event::BuildEvent;

    const GITHUB: &[(&str, &str)] = &[
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_WORKFLOW", "CI"),
        ("GITHUB_RUN_ID", "1658821493"),
        ("GITHUB_RUN_NUMBER", "42"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "octo/app"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_HEAD_REF", ""),
        ("GITHUB_SHA", SHA),
    ];

    #[test]
    fn github_actions() {
        let info = run(GITHUB).unwrap();
        assert_eq!(info.provider, "github");
        assert_eq!(
            info.event,
            BuildEvent {
                workflow: s("CI"),
                branch: s("main"),
                commit: s(SHA),
                run_url: s("https://github.com/octo/app/actions/runs/1658821493"),
                provider_run_id: s("1658821493"),
                provider: s("github"),
                repository: s("octo/app"),
                ..Default::default()
            }
        );
    }

    #[test]
    fn github_attempt_two_is_suffixed() {
        let ev = event(&with(GITHUB, &[("GITHUB_RUN_ATTEMPT", "2")]));
        assert_eq!(ev.provider_run_id, s("1658821493-2"));
        assert_eq!(
            ev.run_url,
            s("https://github.com/octo/app/actions/runs/1658821493/attempts/2")
        );
    }

    #[test]
    fn github_attempt_one_or_garbage_is_not_suffixed() {
        for attempt in ["1", "0", "x", ""] {
            let ev = event(&with(GITHUB, &[("GITHUB_RUN_ATTEMPT", attempt)]));
            assert_eq!(ev.provider_run_id, s("1658821493"), "attempt {attempt:?}");
        }
    }

    #[test]
    fn github_pull_request_uses_head_ref() {
        let ev = event(&with(
            GITHUB,
            &[
                ("GITHUB_HEAD_REF", "feature/x"),
                ("GITHUB_REF_NAME", "7/merge"),
            ],
        ));
        assert_eq!(ev.branch, s("feature/x"));
    }

    #[test]
    fn github_pull_request_takes_the_head_commit_from_the_event_payload() {
        const HEAD: &str = "fedcba9876543210fedcba9876543210fedcba98";
        let dir = tempfile::tempdir().unwrap();
        let payload = dir.path().join("event.json");
        std::fs::write(
            &payload,
            format!(
                r#"{{"action":"synchronize","number":7,"pull_request":{{"head":{{"ref":"feature/x","sha":"{HEAD}"}},"base":{{"sha":"{SHA}"}}}}}}"#
            ),
        )
        .unwrap();
        let path = payload.to_str().unwrap();
        let pr = |name: &str, path: &str| {
            let mut vars: Vec<(&str, &str)> = GITHUB
                .iter()
                .filter(|(k, _)| *k != "GITHUB_HEAD_REF")
                .copied()
                .collect();
            vars.extend([
                ("GITHUB_EVENT_NAME", name),
                ("GITHUB_EVENT_PATH", path),
                ("GITHUB_HEAD_REF", "feature/x"),
            ]);
            event(&vars).commit
        };
        assert_eq!(pr("pull_request", path), s(HEAD));
        assert_eq!(pr("pull_request_target", path), s(HEAD));
        assert_eq!(pr("pull_request_review", path), s(HEAD));
        assert_eq!(pr("pull_request_review_comment", path), s(HEAD));
        // Other events: GITHUB_SHA is the pushed commit.
        assert_eq!(pr("push", path), s(SHA));
        // A payload that is missing, not JSON or without the field leaves GITHUB_SHA.
        assert_eq!(pr("pull_request", "/nonexistent/event.json"), s(SHA));
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        assert_eq!(pr("pull_request", bad.to_str().unwrap()), s(SHA));
        let other = dir.path().join("other.json");
        std::fs::write(&other, r#"{"pull_request":{"head":{"sha":"not a sha"}}}"#).unwrap();
        assert_eq!(pr("pull_request", other.to_str().unwrap()), s(SHA));
        // Bounded: an oversized payload is not read at all.
        let huge = dir.path().join("huge.json");
        let mut big = format!(r#"{{"pull_request":{{"head":{{"sha":"{HEAD}"}}}},"pad":""#);
        big.push_str(&"x".repeat(usize::try_from(MAX_EVENT_PAYLOAD).unwrap()));
        big.push_str("\"}");
        std::fs::write(&huge, big).unwrap();
        assert_eq!(pr("pull_request", huge.to_str().unwrap()), s(SHA));
    }

    /// Review events: GitHub sets `GITHUB_HEAD_REF` only on `pull_request(_target)`, and
    /// `GITHUB_SHA` and `GITHUB_REF_NAME` name the test merge; the payload has the head.
    #[test]
    fn github_pull_request_review_events_take_the_head_from_the_event_payload() {
        const HEAD: &str = "fedcba9876543210fedcba9876543210fedcba98";
        const MERGE: &str = "1111111111111111111111111111111111111111";
        let dir = tempfile::tempdir().unwrap();
        let payload = dir.path().join("event.json");
        std::fs::write(
            &payload,
            format!(
                r#"{{"action":"submitted","review":{{"state":"approved"}},"pull_request":{{"number":7,"head":{{"ref":"feature/x","sha":"{HEAD}"}},"base":{{"ref":"main","sha":"{SHA}"}}}}}}"#
            ),
        )
        .unwrap();
        let path = payload.to_str().unwrap();
        let review = |name: &'static str, path: &str| {
            let set = [
                ("GITHUB_EVENT_NAME", name),
                ("GITHUB_EVENT_PATH", path),
                ("GITHUB_REF", "refs/pull/7/merge"),
                ("GITHUB_REF_NAME", "7/merge"),
                ("GITHUB_SHA", MERGE),
            ];
            let mut vars: Vec<(&str, &str)> = GITHUB
                .iter()
                .filter(|(k, _)| !set.iter().any(|(e, _)| e == k))
                .copied()
                .collect();
            vars.extend(set);
            let ev = event(&vars);
            (ev.commit, ev.branch)
        };
        for name in ["pull_request_review", "pull_request_review_comment"] {
            assert_eq!(review(name, path), (s(HEAD), s("feature/x")), "{name}");
        }
        // Without a readable payload the variables are all there is.
        assert_eq!(
            review("pull_request_review", "/nonexistent/event.json"),
            (s(MERGE), s("7/merge"))
        );
    }

    #[test]
    fn gitea_actions() {
        let info = run(&with(
            GITHUB,
            &[
                ("GITEA_ACTIONS", "true"),
                ("GITEA_ACTIONS_RUNNER_VERSION", "v0.2.11"),
                ("GITHUB_SERVER_URL", "https://gitea.example"),
                ("GITHUB_RUN_ID", "812"),
                ("GITHUB_RUN_ATTEMPT", "2"),
            ],
        ))
        .unwrap();
        assert_eq!(info.provider, "gitea");
        assert_eq!(info.event.provider, s("gitea"));
        assert_eq!(
            info.event.run_url,
            s("https://gitea.example/octo/app/actions/runs/812")
        );
        assert_eq!(info.event.provider_run_id, s("812-2"));
        assert_eq!(info.event.commit, s(SHA));
        assert_eq!(info.event.workflow, s("CI"));
    }

    #[test]
    fn forgejo_actions() {
        let info = run(&with(
            GITHUB,
            &[
                ("FORGEJO_ACTIONS", "true"),
                ("GITEA_ACTIONS", "true"),
                ("GITHUB_SERVER_URL", "https://codeberg.org"),
                ("GITHUB_RUN_ID", "812"),
                ("GITHUB_RUN_NUMBER", "36"),
            ],
        ))
        .unwrap();
        assert_eq!(info.provider, "forgejo");
        assert_eq!(
            info.event.run_url,
            s("https://codeberg.org/octo/app/actions/runs/36")
        );
        assert_eq!(info.event.provider_run_id, s("812"));
        assert_eq!(info.event.branch, s("main"));
        assert_eq!(info.event.repository, s("octo/app"));
    }

    /// Forgejo runner 6.x sets `GITEA_ACTIONS` and its own version, no FORGEJO_* yet.
    #[test]
    fn forgejo_runner_6_without_forgejo_variables() {
        let forgejo6 = with(
            GITHUB,
            &[
                ("GITEA_ACTIONS", "true"),
                ("GITEA_ACTIONS_RUNNER_VERSION", "v6.3.1"),
                ("GITHUB_SERVER_URL", "https://codeberg.org"),
                ("GITHUB_RUN_ID", "812"),
                ("GITHUB_RUN_NUMBER", "36"),
            ],
        );
        let info = run(&forgejo6).unwrap();
        assert_eq!(info.provider, "forgejo");
        assert_eq!(
            info.event.run_url,
            s("https://codeberg.org/octo/app/actions/runs/36")
        );
        // Gitea's act_runner (0.x, 1.x) stays Gitea.
        for v in ["v0.2.11", "1.0.8", "", "dev"] {
            let gitea = with(&forgejo6, &[("GITEA_ACTIONS_RUNNER_VERSION", v)]);
            assert_eq!(run(&gitea).unwrap().provider, "gitea", "{v:?}");
        }
    }
}
