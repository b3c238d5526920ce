//! Recognising the CI system mmnotify runs in, and the build-event fields its
//! environment documents. Pure but for one file: the environment comes in as a lookup
//! function; GitHub's event payload (`GITHUB_EVENT_PATH`) is read for a pull request's
//! head commit.
//!
//! Fields filled here are the lowest layer (flags over event file over CI env), so a
//! value that is only sometimes right is still worth having; a value that could be
//! wrong in a misleading way (a status read in the middle of a build) is not.

use crate::build_event::event::{BuildEvent, State};
use crate::text::time::{parse_timestamp, Timestamp};

/// The CI system found and the event fields taken from its environment.
#[derive(Clone, Debug, PartialEq)]
pub struct CiInfo {
    pub provider: &'static str,
    pub event: BuildEvent,
}

/// A lookup that treats blank values as absent, as every CI leaves some variables
/// empty rather than unset.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        let v = (self.0)(name)?;
        let v = v.trim();
        (!v.is_empty()).then(|| v.to_string())
    }
}

/// How a CI announces itself: every condition must hold.
enum Is {
    /// Set to `true` (any case: Azure says `True`).
    True(&'static str),
    Equals(&'static str, &'static str),
    Set(&'static str),
}

/// Where one field comes from.
enum Src {
    Var(&'static str),
    /// The first that yields a value.
    First(&'static [Src]),
    /// `{VAR}` placeholders; nothing unless every variable is set.
    Fmt(&'static str),
    /// The inner value with the first matching prefix removed.
    StripPrefix(&'static Src, &'static [&'static str]),
    /// A run id with the attempt appended as `-N` when the attempt (the variable plus
    /// the offset, for CIs that count retries from 0) is above 1.
    Attempt(&'static Src, &'static str, u32),
    /// A URL with any `user:password@` removed: clone URLs may carry a token.
    NoCredentials(&'static Src),
    Custom(fn(&Env) -> Option<String>),
}

/// Where `started_at` comes from.
enum Started {
    None,
    Rfc3339(&'static str),
    UnixSeconds(&'static str),
}

/// Where `state` comes from: only variables that hold the outcome of the build or job
/// when a post-build step runs.
enum Status {
    None,
    Map(&'static str, &'static [(&'static str, State)]),
    /// A process exit status: 0 succeeded, any other integer failed.
    ExitCode(&'static str),
    Custom(fn(&Env) -> Option<State>),
}

struct Ci {
    provider: &'static str,
    detect: &'static [Is],
    workflow: Src,
    branch: Src,
    commit: Src,
    run_url: Src,
    run_id: Src,
    repository: Src,
    started_at: Started,
    state: Status,
}

const GITHUB_RUN_ID: Src = Src::Attempt(&Src::Var("GITHUB_RUN_ID"), "GITHUB_RUN_ATTEMPT", 0);
// GITHUB_HEAD_REF is the source branch of a pull request; GITHUB_REF_NAME would be
// `123/merge` there.
const GITHUB_BRANCH: Src = Src::First(&[Src::Var("GITHUB_HEAD_REF"), Src::Var("GITHUB_REF_NAME")]);
// For pull requests GITHUB_SHA is the test-merge commit (or the base branch's tip):
// the commit that was pushed is in the event payload.
const GITHUB_COMMIT: Src = Src::First(&[Src::Custom(github_pr_head_sha), Src::Var("GITHUB_SHA")]);

/// Checked in order: Forgejo and Gitea set the `GITHUB_*` variables and
/// `GITHUB_ACTIONS=true` too, so they come before GitHub; Woodpecker comes before
/// Drone in case a setup carries Drone's variables for old plugins.
static CIS: &[Ci] = &[
    // Forgejo Actions reference, "Default environment variables"; before Gitea in
    // case a runner sets GITEA_ACTIONS as well.
    Ci {
        provider: "forgejo",
        detect: &[Is::True("FORGEJO_ACTIONS")],
        workflow: Src::Var("GITHUB_WORKFLOW"),
        branch: GITHUB_BRANCH,
        commit: GITHUB_COMMIT,
        // Forgejo's web UI addresses runs by their per-repository number, not the id.
        run_url: Src::Fmt(
            "{GITHUB_SERVER_URL}/{GITHUB_REPOSITORY}/actions/runs/{GITHUB_RUN_NUMBER}",
        ),
        run_id: GITHUB_RUN_ID,
        repository: Src::Var("GITHUB_REPOSITORY"),
        started_at: Started::None,
        state: Status::None,
    },
    // Gitea docs, "Compared to GitHub Actions" / act_runner (GITEA_ACTIONS=true,
    // GITEA_ACTIONS_RUNNER_VERSION).
    Ci {
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
        state: Status::None,
    },
    // GitHub docs, "Variables reference" → "Default environment variables".
    Ci {
        provider: "github",
        detect: &[Is::True("GITHUB_ACTIONS")],
        workflow: Src::Var("GITHUB_WORKFLOW"),
        branch: GITHUB_BRANCH,
        commit: GITHUB_COMMIT,
        run_url: Src::Custom(github_run_url),
        run_id: GITHUB_RUN_ID,
        repository: Src::Var("GITHUB_REPOSITORY"),
        started_at: Started::None,
        state: Status::None,
    },
    // GitLab docs, "Predefined CI/CD variables reference".
    Ci {
        provider: "gitlab",
        detect: &[Is::True("GITLAB_CI")],
        workflow: Src::First(&[
            Src::Var("CI_PIPELINE_NAME"),
            Src::Var("CI_JOB_NAME"),
            Src::Var("CI_PROJECT_NAME"),
        ]),
        branch: Src::Var("CI_COMMIT_REF_NAME"),
        commit: Src::Var("CI_COMMIT_SHA"),
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
        state: Status::Map(
            "CI_JOB_STATUS",
            &[
                ("success", State::Succeeded),
                ("failed", State::Failed),
                ("canceled", State::Cancelled),
                ("timedout", State::TimedOut),
            ],
        ),
    },
    // Jenkins docs, "Pipeline → Using environment variables" (env-vars.html) and the
    // Git plugin's "Environment variables".
    Ci {
        provider: "jenkins",
        // JENKINS_URL alone is also how jenkins-cli finds its server on a laptop.
        detect: &[Is::Set("JENKINS_URL"), Is::Set("BUILD_NUMBER")],
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
        state: Status::None,
    },
    // Buildkite docs, "Environment variables".
    Ci {
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
        // cancelled job also has an exit status (the signal's), so cancellation comes first.
        state: Status::Custom(buildkite_state),
    },
    // CircleCI docs, "Project values and variables" → "Built-in environment variables".
    Ci {
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
        state: Status::None,
    },
    // Woodpecker docs, "Environment variables" → "Built-in environment variables".
    Ci {
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
    },
    // Drone docs, "Pipeline environment reference".
    Ci {
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
    },
    // Azure DevOps docs, "Use predefined variables" (classic and YAML pipelines).
    Ci {
        provider: "azure",
        detect: &[Is::True("TF_BUILD")],
        workflow: Src::Var("BUILD_DEFINITIONNAME"),
        branch: Src::Custom(azure_branch),
        commit: Src::Var("BUILD_SOURCEVERSION"),
        run_url: Src::Custom(azure_run_url),
        run_id: Src::Attempt(&Src::Var("BUILD_BUILDID"), "SYSTEM_JOBATTEMPT", 0),
        repository: Src::Var("BUILD_REPOSITORY_NAME"),
        started_at: Started::None,
        // SucceededWithIssues: the job passed with warnings (a step with
        // continueOnError failed), which is a success for the build.
        state: Status::Map(
            "AGENT_JOBSTATUS",
            &[
                ("Succeeded", State::Succeeded),
                ("SucceededWithIssues", State::Succeeded),
                ("Failed", State::Failed),
                ("Canceled", State::Cancelled),
            ],
        ),
    },
    // Bitbucket Cloud docs, "Variables and secrets" → "Default variables".
    Ci {
        provider: "bitbucket",
        detect: &[Is::Set("BITBUCKET_BUILD_NUMBER")],
        // Bitbucket has no pipeline name variable; the repository is the best name.
        workflow: Src::Var("BITBUCKET_REPO_SLUG"),
        branch: Src::First(&[Src::Var("BITBUCKET_BRANCH"), Src::Var("BITBUCKET_TAG")]),
        commit: Src::Var("BITBUCKET_COMMIT"),
        run_url: Src::Custom(bitbucket_run_url),
        // The build number is counted per repository, so it carries the repository.
        run_id: Src::First(&[
            Src::Var("BITBUCKET_PIPELINE_UUID"),
            Src::Fmt("{BITBUCKET_REPO_FULL_NAME}#{BITBUCKET_BUILD_NUMBER}"),
        ]),
        repository: Src::Var("BITBUCKET_REPO_FULL_NAME"),
        started_at: Started::None,
        // Set in after-script only, to the step's exit status.
        state: Status::ExitCode("BITBUCKET_EXIT_CODE"),
    },
];

/// Recognises the CI system from its environment (`env` returns a variable's value;
/// blank counts as absent) and fills the event fields it documents. `None` outside CI.
pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Option<CiInfo> {
    let env = Env(env);
    let ci = CIS
        .iter()
        .find(|ci| ci.detect.iter().all(|is| is.holds(&env)))?;
    let event = BuildEvent {
        workflow: ci.workflow.eval(&env),
        state: ci.state.eval(&env),
        branch: ci.branch.eval(&env),
        // Buildkite documents a symbolic `HEAD` before the commit is resolved.
        commit: ci.commit.eval(&env).filter(|c| c != "HEAD"),
        run_url: ci.run_url.eval(&env),
        provider_run_id: ci.run_id.eval(&env),
        provider: Some(ci.provider.to_string()),
        repository: ci.repository.eval(&env),
        started_at: ci.started_at.eval(&env),
        // The node and the duration are not in any CI's environment.
        ..BuildEvent::default()
    };
    Some(CiInfo {
        provider: ci.provider,
        event,
    })
}

impl Is {
    fn holds(&self, env: &Env) -> bool {
        match *self {
            Is::True(name) => env
                .get(name)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            Is::Equals(name, want) => env.get(name).is_some_and(|v| v == want),
            Is::Set(name) => env.get(name).is_some(),
        }
    }
}

impl Src {
    fn eval(&self, env: &Env) -> Option<String> {
        match self {
            Src::Var(name) => env.get(name),
            Src::First(srcs) => srcs.iter().find_map(|s| s.eval(env)),
            Src::Fmt(template) => fill(template, env),
            Src::StripPrefix(src, prefixes) => {
                let v = src.eval(env)?;
                let stripped = prefixes
                    .iter()
                    .find_map(|p| v.strip_prefix(p))
                    .unwrap_or(&v);
                (!stripped.is_empty()).then(|| stripped.to_string())
            }
            Src::Attempt(src, var, offset) => {
                let id = src.eval(env)?;
                match attempt(env, var, *offset) {
                    Some(n) if n > 1 => Some(format!("{id}-{n}")),
                    _ => Some(id),
                }
            }
            Src::NoCredentials(src) => src.eval(env).map(|v| strip_credentials(&v)),
            Src::Custom(f) => f(env),
        }
    }
}

impl Started {
    // The environment is a best-effort source: a value that does not parse is skipped
    // rather than failing the notification.
    fn eval(&self, env: &Env) -> Option<Timestamp> {
        match *self {
            Started::None => None,
            Started::Rfc3339(name) => parse_timestamp(&env.get(name)?).ok(),
            Started::UnixSeconds(name) => Timestamp::from_unix(env.get(name)?.parse().ok()?, 0),
        }
    }
}

impl Status {
    fn eval(&self, env: &Env) -> Option<State> {
        match *self {
            Status::None => None,
            Status::Map(name, table) => {
                let v = env.get(name)?;
                table.iter().find(|(k, _)| *k == v).map(|&(_, st)| st)
            }
            Status::ExitCode(name) => exit_code_state(env, name),
            Status::Custom(f) => f(env),
        }
    }
}

fn exit_code_state(env: &Env, name: &str) -> Option<State> {
    match env.get(name)?.parse::<i64>().ok()? {
        0 => Some(State::Succeeded),
        _ => Some(State::Failed),
    }
}

/// The attempt number from a counter variable; `None` when unset or not a number.
fn attempt(env: &Env, var: &str, offset: u32) -> Option<u32> {
    env.get(var)?.parse::<u32>().ok()?.checked_add(offset)
}

/// Expands `{VAR}` placeholders; `None` if any variable is missing.
fn fill(template: &str, env: &Env) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        out.push_str(&env.get(&after[..close])?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
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

/// `pull_request.head.sha` from the event payload of a `pull_request` or
/// `pull_request_target` run. Any problem (no file, too large, not JSON) leaves the
/// commit to `GITHUB_SHA`: a notification is not worth failing over it.
fn github_pr_head_sha(env: &Env) -> Option<String> {
    use std::io::Read;
    let event = env.get("GITHUB_EVENT_NAME")?;
    if event != "pull_request" && event != "pull_request_target" {
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
    let payload: serde_json::Value = serde_json::from_slice(&buf).ok()?;
    let sha = payload.pointer("/pull_request/head/sha")?.as_str()?;
    (sha.len() >= 7 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha.to_string())
}

fn buildkite_state(env: &Env) -> Option<State> {
    if env
        .get("BUILDKITE_JOB_CANCELLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Some(State::Cancelled);
    }
    exit_code_state(env, "BUILDKITE_COMMAND_EXIT_STATUS")
}

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

fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(vars: &[(&str, &str)]) -> Option<CiInfo> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect(&|name| map.get(name).cloned())
    }

    fn event(vars: &[(&str, &str)]) -> BuildEvent {
        run(vars).expect("CI not detected").event
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

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

    fn with(
        base: &[(&'static str, &'static str)],
        extra: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = base
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .copied()
            .collect();
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn no_ci_is_none() {
        assert_eq!(run(&[]), None);
        assert_eq!(run(&[("CI", "true"), ("HOME", "/root")]), None);
        // Blank or false markers do not count.
        assert_eq!(run(&[("GITHUB_ACTIONS", "")]), None);
        assert_eq!(run(&[("GITLAB_CI", "false")]), None);
        // jenkins-cli users have JENKINS_URL set outside any build.
        assert_eq!(run(&[("JENKINS_URL", "https://jenkins.example/")]), None);
    }

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
        big.push_str(&"x".repeat(MAX_EVENT_PAYLOAD as usize));
        big.push_str("\"}");
        std::fs::write(&huge, big).unwrap();
        assert_eq!(pr("pull_request", huge.to_str().unwrap()), s(SHA));
    }

    #[test]
    fn gitea_actions() {
        let info = run(&with(
            GITHUB,
            &[
                ("GITEA_ACTIONS", "true"),
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
        let bare = event(&with(&base, &[("CI_REPO", "")]));
        assert_eq!(bare.provider_run_id, None, "a bare number is not unique");
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

    #[test]
    fn azure_pipelines() {
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
        let ev = event(&with(
            &base,
            &[
                ("SYSTEM_JOBATTEMPT", "3"),
                ("BUILD_SOURCEBRANCH", "refs/pull/4/merge"),
                ("SYSTEM_PULLREQUEST_SOURCEBRANCH", "refs/heads/fix/y"),
                ("AGENT_JOBSTATUS", "Canceled"),
            ],
        ));
        assert_eq!(ev.provider_run_id, s("123-3"));
        assert_eq!(ev.branch, s("fix/y"));
        assert_eq!(ev.state, Some(State::Cancelled));
        let ev = event(&with(
            &base,
            &[
                ("BUILD_SOURCEBRANCH", "refs/pull/4/merge"),
                ("AGENT_JOBSTATUS", "SucceededWithIssues"),
            ],
        ));
        assert_eq!(ev.branch, s("x"));
        // Passed with warnings (a continueOnError step failed): a success.
        assert_eq!(ev.state, Some(State::Succeeded));
        // PR builds of GitHub repositories name the source branch bare.
        let ev = event(&with(
            &base,
            &[
                ("BUILD_SOURCEBRANCH", "refs/pull/4/merge"),
                ("SYSTEM_PULLREQUEST_SOURCEBRANCH", "fix/y"),
            ],
        ));
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

    #[test]
    fn helpers() {
        assert_eq!(strip_credentials("https://u:p@h/x@y"), "https://h/x@y");
        assert_eq!(
            strip_credentials("git@github.com:a/b.git"),
            "git@github.com:a/b.git"
        );
        assert_eq!(encode_path_segment("a b/ü"), "a%20b%2F%C3%BC");
        let env = |_: &str| Some("v".to_string());
        assert_eq!(fill("{A}-{B}", &Env(&env)), s("v-v"));
        assert_eq!(fill("{A", &Env(&env)), None);
    }
}
