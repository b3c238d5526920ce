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

mod forges;
mod github;
mod standalone;
mod woodpecker;

/// The CI system found and the event fields taken from its environment.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CiInfo {
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
    /// At least one of these holds.
    Any(&'static [Is]),
    /// A test of its own, for a marker that needs reading.
    Check(fn(&Env) -> bool),
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
    /// Who started the run (a login or an e-mail address), for mentions.
    actor: Src,
    /// The commit's author (an e-mail address where the CI has one, else a login).
    author: Src,
    state: Status,
}

/// Checked in order: Forgejo and Gitea set the `GITHUB_*` variables and
/// `GITHUB_ACTIONS=true` too, so they come before GitHub; Woodpecker comes before
/// Drone in case a setup carries Drone's variables for old plugins.
static CIS: &[Ci] = &[
    github::FORGEJO,
    github::GITEA,
    github::GITHUB_ACTIONS,
    forges::GITLAB,
    standalone::JENKINS,
    standalone::BUILDKITE,
    standalone::CIRCLECI,
    woodpecker::WOODPECKER,
    woodpecker::DRONE,
    forges::AZURE,
    forges::BITBUCKET,
];

/// Recognises the CI system from its environment (`env` returns a variable's value;
/// blank counts as absent) and fills the event fields it documents. `None` outside CI.
pub(crate) fn detect(env: &dyn Fn(&str) -> Option<String>) -> Option<CiInfo> {
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
        actor: ci.actor.eval(&env),
        author: ci.author.eval(&env),
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
        match self {
            Is::True(name) => env
                .get(name)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            Is::Equals(name, want) => env.get(name).is_some_and(|v| v == *want),
            Is::Set(name) => env.get(name).is_some(),
            Is::Any(alternatives) => alternatives.iter().any(|is| is.holds(env)),
            Is::Check(f) => f(env),
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
pub(super) mod test_support {
    use super::*;
    use crate::build_event::event::BuildEvent;
    use std::collections::HashMap;

    pub(crate) fn run(vars: &[(&str, &str)]) -> Option<CiInfo> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect(&|name| map.get(name).cloned())
    }

    pub(crate) fn event(vars: &[(&str, &str)]) -> BuildEvent {
        run(vars).expect("CI not detected").event
    }

    #[expect(
        clippy::unnecessary_wraps,
        reason = "builds the expected optional fields"
    )]
    pub(crate) fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    pub(crate) const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    pub(crate) fn with(
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::*;

    /// Who started the run and who wrote the commit, as each CI documents them.
    #[test]
    fn actor_and_author_per_ci() {
        use super::test_support::{event, s};
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<String>, Option<String>);
        let cases: [Case; 6] = [
            (
                &[
                    ("GITHUB_ACTIONS", "true"),
                    ("GITHUB_ACTOR", "a"),
                    ("GITHUB_TRIGGERING_ACTOR", "b"),
                ],
                s("b"),
                None,
            ),
            (
                &[("GITHUB_ACTIONS", "true"), ("GITHUB_ACTOR", "a")],
                s("a"),
                None,
            ),
            (
                &[
                    ("GITLAB_CI", "true"),
                    ("GITLAB_USER_LOGIN", "octocat"),
                    ("CI_COMMIT_AUTHOR", "Jane Doe <jane@example.com>"),
                ],
                s("octocat"),
                s("jane@example.com"),
            ),
            (
                &[
                    ("BUILDKITE", "true"),
                    ("BUILDKITE_BUILD_CREATOR_EMAIL", "c@example.com"),
                    ("BUILDKITE_BUILD_AUTHOR_EMAIL", "d@example.com"),
                ],
                s("c@example.com"),
                s("d@example.com"),
            ),
            (
                &[
                    ("CI", "woodpecker"),
                    ("CI_COMMIT_AUTHOR", "jane"),
                    ("CI_COMMIT_AUTHOR_EMAIL", "jane@example.com"),
                ],
                None,
                s("jane@example.com"),
            ),
            (
                &[("CIRCLECI", "true"), ("CIRCLE_USERNAME", "octocat")],
                s("octocat"),
                None,
            ),
        ];
        for (vars, actor, author) in cases {
            let ev = event(vars);
            assert_eq!((ev.actor, ev.author), (actor, author), "{vars:?}");
        }
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
