//! The config file (contract: "Build stories", "Config file"): where posts go
//! (`[[route]]`, `default_webhook`), who is mentioned (`[people]`, `mention_on`) and how
//! a post reads (`[templates]`). It holds no secrets (webhooks are NAMEs in the secrets
//! directory) but decides where posts go, so it is trusted like a secrets file.
//!
//! `locate::locate` finds it, `load` reads and checks it, `print::routes` is the body of
//! `mmnotify config check`.
// Wired into the commands and the pipeline by issue 16's second half (after the
// pipeline refactor of issue 15); until then only the tests use it.
// The re-exports below are the API the wiring will use.
#![cfg_attr(not(test), allow(dead_code, unused_imports))]

mod glob;
pub(crate) mod load;
pub(crate) mod locate;
pub(crate) mod print;
pub(crate) mod template;

use std::path::PathBuf;

pub(crate) use glob::{Glob, Globs};
pub(crate) use load::{load, parse};

use crate::build_event::event::State;
use crate::story::history::{JobKey, Transition};
use crate::story::mention::People;
use crate::story::on::OnFilter;

/// A loaded, checked config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// Where it was read from (for `doctor` and `config check`).
    pub(crate) path: PathBuf,
    /// `default_webhook`: a webhook NAME, checked like `--webhook`.
    pub(crate) default_webhook: Option<String>,
    /// The top-level `mention_on`; `None` means the default (`broken`).
    pub(crate) mention_on: Option<OnFilter>,
    pub(crate) people: People,
    /// In file order: every matching route posts.
    pub(crate) routes: Vec<Route>,
    pub(crate) templates: Templates,
}

impl Config {
    /// The routes an event of `job` goes to, in file order. Empty: the default webhook
    /// (or "no route matched"). A route's `on` is applied by the caller, with the
    /// event's transition ([`Route::on`]).
    pub(crate) fn matching_routes<'a>(
        &'a self,
        job: &'a JobKey,
    ) -> impl Iterator<Item = &'a Route> {
        self.routes.iter().filter(move |r| r.matches(job))
    }

    /// The mention gate for a route (or for the default webhook with `None`), below
    /// `--mention-on`: the route's, else the config's, else `broken`.
    pub(crate) fn mention_on(&self, route: Option<&Route>) -> OnFilter {
        route
            .and_then(|r| r.mention_on.clone())
            .or_else(|| self.mention_on.clone())
            .unwrap_or_default()
    }
}

/// One `[[route]]`. A filter that is absent matches every event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    /// The webhook NAME (`NAME.url` in the secrets directory), checked like `--webhook`.
    pub(crate) webhook: String,
    pub(crate) repository: Option<Globs>,
    pub(crate) branch: Option<Globs>,
    pub(crate) workflow: Option<Globs>,
    pub(crate) on: Option<OnFilter>,
    pub(crate) channel: Option<String>,
    pub(crate) mention_on: Option<OnFilter>,
    /// The line of its `webhook` key, for messages about this route.
    pub(crate) line: usize,
}

impl Route {
    /// Whether the job's repository, branch and workflow match (a missing event field
    /// is empty, so only a glob that matches "" lets it through, such as `*`).
    pub(crate) fn matches(&self, job: &JobKey) -> bool {
        let ok =
            |globs: &Option<Globs>, value: &str| globs.as_ref().is_none_or(|g| g.matches(value));
        ok(&self.repository, &job.repository)
            && ok(&self.branch, &job.branch)
            && ok(&self.workflow, &job.workflow)
    }
}

/// The keys of `[templates]`: each transition, each state (`running` too), and `default`.
pub(crate) const TEMPLATE_KEYS: [&str; 10] = [
    "broken",
    "still_failing",
    "fixed",
    "succeeded",
    "cancelled",
    "older",
    "failed",
    "timed_out",
    "running",
    "default",
];

/// `[templates]`: checked at load (placeholders known, braces balanced).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Templates {
    /// By key of [`TEMPLATE_KEYS`], in that order.
    entries: Vec<(&'static str, String)>,
}

impl Templates {
    pub(crate) fn insert(&mut self, key: &'static str, template: String) {
        self.entries.retain(|(k, _)| *k != key);
        self.entries.push((key, template));
        self.entries
            .sort_by_key(|(k, _)| TEMPLATE_KEYS.iter().position(|t| t == k));
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, t)| t.as_str())
    }

    /// The template for an event: its transition's, else its state's, else `default`
    /// (`--text-template` beats all three: the caller's choice).
    pub(crate) fn pick(&self, transition: Option<Transition>, state: State) -> Option<&str> {
        transition
            .and_then(|t| self.get(t.as_str()))
            .or_else(|| self.get(state.as_str()))
            .or_else(|| self.get("default"))
    }

    /// The keys present, in [`TEMPLATE_KEYS`] order.
    pub(crate) fn keys(&self) -> Vec<&'static str> {
        self.entries.iter().map(|(k, _)| *k).collect()
    }
}

/// `s` for a terminal: control characters, bidi overrides and invisible characters
/// escaped, so that a value from the file cannot rewrite what `config check` or an error
/// shows.
pub(crate) fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || crate::text::sanitize::reorders_or_hides(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_pick_transition_then_state_then_default() {
        let mut t = Templates::default();
        assert_eq!(t.pick(Some(Transition::Broken), State::Failed), None);
        t.insert("default", "D".into());
        t.insert("failed", "F".into());
        t.insert("broken", "B".into());
        assert_eq!(t.pick(Some(Transition::Broken), State::Failed), Some("B"));
        assert_eq!(
            t.pick(Some(Transition::StillFailing), State::Failed),
            Some("F")
        );
        assert_eq!(t.pick(None, State::Failed), Some("F"));
        assert_eq!(t.pick(Some(Transition::Fixed), State::Succeeded), Some("D"));
        assert_eq!(t.keys(), ["broken", "failed", "default"]);
        // A running event has no transition: its state's template, else `default`.
        assert_eq!(t.pick(None, State::Running), Some("D"));
        t.insert("running", "R".into());
        assert_eq!(t.pick(None, State::Running), Some("R"));
        assert_eq!(t.keys(), ["broken", "failed", "running", "default"]);
    }

    #[test]
    fn shown_escapes_terminal_controls() {
        assert_eq!(shown("main"), "main");
        assert_eq!(shown("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(shown("x\u{202E}y"), "x\\u{202e}y");
    }
}
