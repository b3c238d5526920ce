//! `--on` (and `--mention-on`, a route's `on` and `mention_on`): states, transitions and
//! the shorthands `changes` and `failures`; and `--remind-every N`.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use crate::build_event::event::State;
use crate::story::history::Transition;

/// The transitions `--on` names (`older` is a label, not something to ask for).
const TRANSITIONS: [Transition; 5] = [
    Transition::Broken,
    Transition::StillFailing,
    Transition::Fixed,
    Transition::Succeeded,
    Transition::Cancelled,
];

/// Shorthands and what they stand for.
const SHORTHANDS: [(&str, &[Transition]); 2] = [
    ("changes", &[Transition::Broken, Transition::Fixed]),
    ("failures", &[Transition::Broken, Transition::StillFailing]),
];

/// A parsed `--on` list. An event passes if its state or its transition is listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OnFilter {
    states: Vec<State>,
    transitions: Vec<Transition>,
    /// The names as given (deduplicated, in order), for `config check` and messages.
    names: Vec<String>,
}

impl OnFilter {
    /// Every name `--on` accepts, for help and errors.
    pub(crate) fn known_names() -> Vec<&'static str> {
        let mut names: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
        for t in TRANSITIONS {
            if !names.contains(&t.as_str()) {
                names.push(t.as_str());
            }
        }
        names.extend(SHORTHANDS.iter().map(|(n, _)| *n));
        names
    }

    /// From names already split (a TOML list); each may itself be a comma list.
    pub(crate) fn from_names<S: AsRef<str>>(items: &[S]) -> Result<OnFilter, String> {
        let mut f = OnFilter {
            states: Vec::new(),
            transitions: Vec::new(),
            names: Vec::new(),
        };
        for item in items {
            for name in item.as_ref().split(',').map(str::trim) {
                f.add(name)?;
            }
        }
        if f.names.is_empty() {
            return Err(format!(
                "an empty list lets nothing through: name at least one of {}",
                Self::known_names().join(", ")
            ));
        }
        Ok(f)
    }

    fn add(&mut self, name: &str) -> Result<(), String> {
        let mut known = false;
        if let Ok(s) = State::from_str(name) {
            push_once(&mut self.states, s);
            known = true;
        }
        if let Some(t) = TRANSITIONS.into_iter().find(|t| t.as_str() == name) {
            push_once(&mut self.transitions, t);
            known = true;
        }
        if let Some((_, ts)) = SHORTHANDS.iter().find(|(n, _)| *n == name) {
            for t in *ts {
                push_once(&mut self.transitions, *t);
            }
            known = true;
        }
        if !known {
            // Debug-quoted: a hostile value cannot put control characters on a terminal.
            return Err(format!(
                "unknown state or transition {name:?}: expected {}",
                Self::known_names().join(", ")
            ));
        }
        push_once(&mut self.names, name.to_string());
        Ok(())
    }

    /// Whether an event passes. `transition` is `None` when no history is kept (then
    /// only states count). With `remind_every` N, a `still_failing` event passes only
    /// when its `streak` is a multiple of N (the run that broke the job is failure 1).
    pub(crate) fn passes(
        &self,
        state: State,
        transition: Option<Transition>,
        streak: u32,
        remind_every: Option<NonZeroU32>,
    ) -> bool {
        let listed = self.states.contains(&state)
            || transition.is_some_and(|t| self.transitions.contains(&t));
        let reminder_due = match (transition, remind_every) {
            (Some(Transition::StillFailing), Some(n)) => streak % n.get() == 0,
            _ => true,
        };
        listed && reminder_due
    }

    /// The names as given, in order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The names given that only a transition answers (`broken`, `changes`, …; not
    /// `succeeded` or `cancelled`, which are states too): an event without a history
    /// never matches them.
    pub(crate) fn transition_only_names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .map(String::as_str)
            .filter(|n| State::from_str(n).is_err())
    }
}

/// The default of `--mention-on`.
impl Default for OnFilter {
    fn default() -> OnFilter {
        OnFilter::from_names(&["broken"]).unwrap_or_else(|_| unreachable!("a known name"))
    }
}

fn push_once<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl FromStr for OnFilter {
    type Err = String;

    /// A comma list, as on the command line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OnFilter::from_names(&[s])
    }
}

impl fmt::Display for OnFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn on(s: &str) -> OnFilter {
        s.parse().unwrap()
    }

    const NONE: Option<NonZeroU32> = None;

    #[test]
    fn states_and_transitions_and_shorthands() {
        let f = on("changes");
        assert!(f.passes(State::Failed, Some(Transition::Broken), 1, NONE));
        assert!(f.passes(State::Succeeded, Some(Transition::Fixed), 3, NONE));
        assert!(!f.passes(State::Failed, Some(Transition::StillFailing), 2, NONE));
        assert!(!f.passes(State::Succeeded, Some(Transition::Succeeded), 2, NONE));
        assert!(!f.passes(State::Failed, None, 0, NONE));

        let f = on("failures");
        assert!(f.passes(State::TimedOut, Some(Transition::Broken), 1, NONE));
        assert!(f.passes(State::Failed, Some(Transition::StillFailing), 5, NONE));
        assert!(!f.passes(State::Succeeded, Some(Transition::Fixed), 1, NONE));

        // A state passes whatever its transition: `succeeded` includes `fixed`.
        let f = on("succeeded, cancelled");
        assert!(f.passes(State::Succeeded, Some(Transition::Fixed), 1, NONE));
        assert!(f.passes(State::Cancelled, Some(Transition::Cancelled), 0, NONE));
        assert!(f.passes(State::Succeeded, None, 0, NONE));
        assert!(!f.passes(State::Failed, Some(Transition::Broken), 1, NONE));
        // An older run passes by its state only.
        assert!(!on("broken").passes(State::Failed, Some(Transition::Older), 1, NONE));
        assert!(on("failed").passes(State::Failed, Some(Transition::Older), 1, NONE));
    }

    #[test]
    fn names_only_a_transition_answers() {
        let f = on("failed,changes,succeeded,still_failing,cancelled,fixed");
        let names: Vec<&str> = f.transition_only_names().collect();
        assert_eq!(names, ["changes", "still_failing", "fixed"]);
        assert_eq!(on("failed,running").transition_only_names().count(), 0);
    }

    #[test]
    fn remind_every_gates_only_still_failing() {
        let three = NonZeroU32::new(3);
        let f = on("failures");
        let passed: Vec<u32> = (2..=9)
            .filter(|n| f.passes(State::Failed, Some(Transition::StillFailing), *n, three))
            .collect();
        assert_eq!(passed, [3, 6, 9]);
        assert!(f.passes(State::Failed, Some(Transition::Broken), 1, three));
        // Listed by state: the reminder gate still applies to still_failing.
        assert!(!on("failed").passes(State::Failed, Some(Transition::StillFailing), 4, three));
        assert!(on("fixed").passes(State::Succeeded, Some(Transition::Fixed), 4, three));
    }

    #[test]
    fn bad_lists_are_refused_without_raw_control_characters() {
        let err = "broken,exploded".parse::<OnFilter>().unwrap_err();
        assert!(
            err.contains("\"exploded\"") && err.contains("still_failing"),
            "{err}"
        );
        assert!("broken,,fixed".parse::<OnFilter>().is_err());
        assert!("".parse::<OnFilter>().is_err());
        assert!("older".parse::<OnFilter>().is_err());
        let err = "\u{1b}[31m".parse::<OnFilter>().unwrap_err();
        assert!(!err.contains('\u{1b}'), "{err}");
    }

    #[test]
    fn names_are_kept_in_order_once() {
        let f = OnFilter::from_names(&["changes", "failed,changes"]).unwrap();
        assert_eq!(f.names(), ["changes", "failed"]);
        assert_eq!(f.to_string(), "changes,failed");
        assert_eq!(OnFilter::default().names(), ["broken"]);
    }

    fn transition() -> impl Strategy<Value = Option<Transition>> {
        prop::option::of(prop::sample::select(Transition::ALL.to_vec()))
    }

    proptest! {
        /// Listing every state lets every event through (without reminders).
        #[test]
        fn all_states_pass_everything(
            st in prop::sample::select(State::OUTCOMES.to_vec()), t in transition(), n in 0u32..100
        ) {
            prop_assert!(on("succeeded,failed,cancelled,timed_out").passes(st, t, n, NONE));
        }

        /// A shorthand is exactly its expansion.
        #[test]
        fn shorthands_are_their_expansion(
            st in prop::sample::select(State::OUTCOMES.to_vec()), t in transition(), n in 0u32..20,
            every in prop::option::of(1u32..5)
        ) {
            let every = every.and_then(NonZeroU32::new);
            prop_assert_eq!(on("changes").passes(st, t, n, every), on("broken,fixed").passes(st, t, n, every));
            prop_assert_eq!(
                on("failures").passes(st, t, n, every),
                on("broken,still_failing").passes(st, t, n, every)
            );
        }
    }
}
