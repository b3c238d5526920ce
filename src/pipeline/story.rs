//! The build story of one event (contract: "Job history and transitions"): its job's
//! record read from the dedupe store before the post (for the words, props, `--on` and
//! the outcome), and recorded once the event's outcome is final (posted, filtered,
//! rejected) in one atomic read-modify-write of the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::build_event::event::{State, ValidEvent};
use crate::pipeline::build::Settings;
use crate::pipeline::output::{Outcome, Printer};
use crate::state::dedupe::{DedupeStore, NotCompacted};
use crate::story::history::{self, JobKey, JobRecord, Recorded, Run, RunNote, Step, Transition};
use crate::story::mention::{Mentions, People};
use crate::story::on::OnFilter;
use crate::text::time::{now_ms, Timestamp};
use crate::wire::payload::{Member, Payload};

/// What the history says of one event.
#[derive(Clone, Debug)]
pub(crate) struct Story {
    pub(crate) step: Step,
    /// This run's time ("when a run happened").
    pub(crate) at_ms: u64,
    /// When this poster first saw the event.
    first_seen_ms: u64,
}

/// The job of an event: repository + workflow + branch.
pub(crate) fn job_of(ev: &ValidEvent) -> JobKey {
    JobKey::new(
        ev.repository.as_deref(),
        ev.workflow(),
        ev.branch.as_deref(),
    )
}

fn run_of(ev: &ValidEvent, first_seen_ms: u64) -> Run<'_> {
    Run {
        state: ev.state(),
        run_id: ev.provider_run_id.as_deref(),
        started_at_ms: ev.started_at.and_then(Timestamp::unix_ms),
        first_seen_ms,
    }
}

/// The transition of `ev` given the job's stored record (`None`: unreadable), without
/// changing anything.
pub(crate) fn peek(record: Option<&str>, ev: &ValidEvent, ttl: Duration) -> Story {
    let first_seen_ms = now_ms();
    let prev = record.and_then(JobRecord::from_json);
    let run = run_of(ev, first_seen_ms);
    let mut step = history::transition(prev.as_ref(), &run, first_seen_ms, ttl);
    // Recorded already (a retry, a duplicate): told as it was then.
    if let (Some(p), Some(id)) = (&prev, ev.provider_run_id.as_deref()) {
        if let Some(Recorded(_, t, n)) = p.recorded(ev.state(), id) {
            step.transition = *t;
            step.streak = *n;
            step.since_ms = Some(p.streak_since_ms);
            step.previous_state = None;
            step.broken_for = None;
            step.record = None;
        }
    }
    Story {
        step,
        at_ms: run.at_ms(),
        first_seen_ms,
    }
}

/// What recording `ev` needs later (a spooled post, a relayed build): `None` without a
/// run id, since a history records each run once.
pub(crate) fn note(ev: &ValidEvent, story: &Story, ttl: Duration) -> Option<RunNote> {
    note_seen(ev, story.first_seen_ms, ttl)
}

/// [`note`] for an event whose story could not be read (its shared store is away): the
/// run is still recorded once `flush` posts it. `running` never touches the history.
pub(crate) fn note_unread(ev: &ValidEvent, ttl: Duration) -> Option<RunNote> {
    if ev.state() == crate::build_event::event::State::Running {
        return None;
    }
    note_seen(ev, now_ms(), ttl)
}

fn note_seen(ev: &ValidEvent, first_seen_ms: u64, ttl: Duration) -> Option<RunNote> {
    let job = job_of(ev);
    Some(RunNote {
        repository: job.repository,
        workflow: job.workflow,
        branch: job.branch,
        state: ev.state(),
        run_id: ev.provider_run_id.clone()?,
        started_at_ms: ev.started_at.and_then(Timestamp::unix_ms),
        first_seen_ms,
        ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
    })
}

/// The update handed to the store's read-modify-write: the record after this run, or
/// `None` when nothing changes (a run already recorded, `cancelled`, `older`). The
/// transition is computed again from the record as it is now: another builder may have
/// recorded a run of the job since [`peek`].
pub(crate) fn update_note(current: Option<&str>, note: &RunNote) -> Option<String> {
    let prev = current.and_then(JobRecord::from_json);
    if prev
        .as_ref()
        .is_some_and(|p| p.recorded(note.state, &note.run_id).is_some())
    {
        return None;
    }
    let token = history::run_token(note.state, &note.run_id);
    let now = now_ms();
    // A run is never first seen after it is recorded: a later first sight (an edited
    // spool item, a forged run-socket request) would stamp the record from the future,
    // which the next reader then takes for no history at all.
    let mut run = note.run();
    run.first_seen_ms = run.first_seen_ms.min(now);
    let step = history::transition(prev.as_ref(), &run, now, note.ttl());
    let mut record = step.record?;
    let mut recent = prev.map(|p| p.recent).unwrap_or_default();
    recent.push(Recorded(token, step.transition, step.streak));
    let excess = recent.len().saturating_sub(history::RECENT);
    recent.drain(..excess);
    record.recent = recent;
    Some(record.to_json())
}

/// Records a noted run in its job's history in `store`, once its outcome is final; a
/// store that cannot be written costs the next post's story, with a warning.
pub(crate) fn record(store: &dyn DedupeStore, note: &RunNote, printer: &Printer, prefix: &str) {
    let result = store.update_history(&note.job().id(), note.ttl(), &mut |current| {
        update_note(current, note)
    });
    if let Err(e) = result {
        // Appended, but not compacted: the message says so itself.
        let failed = if e.downcast_ref::<NotCompacted>().is_some() {
            ""
        } else {
            "cannot record the run in the job's history (the next post may misjudge what \
             changed): "
        };
        printer.warn(&format!("{prefix}{failed}{e:#}"));
    }
}

/// Adds the story to the post: the transition in words at the end of the default text
/// (not for `succeeded` and `cancelled`, which the state already says), and
/// `props.mmnotify.{transition, streak, since, previous_state}`.
pub(crate) fn apply(post: &mut Payload, story: &Story, words_in_text: bool) {
    let t = story.step.transition;
    if words_in_text && !matches!(t, Transition::Succeeded | Transition::Cancelled) {
        if let Some(text) = post.text.typed() {
            let text = format!("{text} · {}", history::words(&story.step, story.at_ms));
            post.text = Member::Typed(text);
        }
    }
    if let Some(mut props) = post.props.typed().cloned() {
        if let Some(Value::Object(m)) = props.get_mut(crate::wire::payload::MACHINE_PROPS_KEY) {
            if let Value::Object(story_props) = story.step.props() {
                m.extend(story_props);
            }
        }
        post.props = Member::Typed(props);
    }
}

/// `--on` or `--mention-on` naming a transition while the event has no run id: it has no
/// transition (the history records runs), so those names never match it. Said once per
/// process, on stderr: a stream of such events needs the hint only once.
pub(crate) fn warn_without_run_id(printer: &Printer, args: &Settings, ev: &ValidEvent) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    // `running` never has a transition, run id or not.
    if ev.provider_run_id.is_some() || ev.state() == State::Running {
        return;
    }
    let named: Vec<String> = [("--on", &args.on), ("--mention-on", &args.mention_on)]
        .into_iter()
        .filter_map(|(flag, f)| {
            let names: Vec<&str> = f.as_ref()?.transition_only_names().collect();
            (!names.is_empty()).then(|| format!("{flag} {}", names.join(",")))
        })
        .collect();
    if named.is_empty() || WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    printer.warn(&format!(
        "{} names a transition, but the event has no run id, so it has no transition and \
         only its state counts: pass --run-id (or provider_run_id in the event) for \
         transitions",
        named.join(" and ")
    ));
}

/// Ends the text with `cc @alice @jane` when the event passes the mention gate
/// (`--mention-on`, else the config's `mention_on`, else `broken`): the mapped actor and
/// author, then `--mention` users; an unmapped actor by name, without `@`.
pub(crate) fn cc_line(ev: &ValidEvent, story: Option<&Story>, args: &Settings) -> Option<String> {
    let gate = args.mention_on.clone().unwrap_or_else(|| {
        args.config
            .as_ref()
            .map_or_else(OnFilter::default, |c| c.mention_on(None))
    });
    let transition = story.map(|s| s.step.transition);
    let streak = story.map_or(0, |s| s.step.streak);
    if !gate.passes(ev.state(), transition, streak, None) {
        return None;
    }
    let people = args.config.as_ref().map(|c| &c.people);
    let empty = People::default();
    let mentions = Mentions::new(
        people.unwrap_or(&empty),
        ev.actor.as_deref(),
        ev.author.as_deref(),
        &args.mention,
    );
    mentions.cc_line()
}

/// Drops the white space a rendered template ends with (an empty `{mention}` or value
/// at its end).
pub(crate) fn trim_text_end(post: &mut Payload) {
    if let Some(text) = post.text.typed() {
        if text.trim_end().len() != text.len() {
            post.text = Member::Typed(text.trim_end().to_string());
        }
    }
}

/// Ends the text with the `cc` line.
pub(crate) fn append_cc(post: &mut Payload, cc: &str) {
    if let Some(text) = post.text.typed() {
        post.text = Member::Typed(format!("{text} · {cc}"));
    }
}

/// The template for an event: `--text-template`, else the config's `[templates]` entry
/// for its transition, else for its state, else `default`; with the story's
/// placeholders filled in (`{transition}`, `{streak}`, `{since}`, `{broken_for}`,
/// `{previous_state}`, `{mention}`), so that what is left is `--text-template`'s
/// syntax. `None`: the default text.
pub(crate) fn template(
    args: &Settings,
    ev: &ValidEvent,
    story: Option<&Story>,
    mention: Option<&str>,
) -> Option<String> {
    let transition = story.map(|s| s.step.transition);
    let t = args.text_template.as_deref().or_else(|| {
        args.config
            .as_ref()
            .and_then(|c| c.templates.pick(transition, ev.state()))
    })?;
    Some(fill(t, &|name| story_value(name, story, mention)))
}

fn story_value(name: &str, story: Option<&Story>, mention: Option<&str>) -> Option<String> {
    let step = story.map(|s| &s.step);
    Some(match name {
        "transition" => step.map_or("", |s| s.transition.as_str()).to_string(),
        "streak" => step.map_or(String::new(), |s| s.streak.to_string()),
        "since" => step
            .and_then(|s| s.since_ms)
            .and_then(history::rfc3339_ms)
            .unwrap_or_default(),
        "broken_for" => step
            .and_then(|s| s.broken_for)
            .map(history::rough_duration)
            .unwrap_or_default(),
        "previous_state" => step
            .and_then(|s| s.previous_state)
            .map_or("", |p| p.as_str())
            .to_string(),
        "mention" => mention.unwrap_or_default().to_string(),
        _ => return None,
    })
}

/// `t` with each `{name}` that `value` knows replaced by its value (its braces doubled,
/// so that the result parses as the value); `{{`, `}}` and other placeholders are kept.
pub(crate) fn fill(t: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(t.len());
    let mut rest = t;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..2]);
            rest = &tail[2..];
            continue;
        }
        if let Some(end) = tail.strip_prefix('{').and_then(|b| b.find('}')) {
            let name = &tail[1..=end];
            if let Some(v) = value(name) {
                out.push_str(&v.replace('{', "{{").replace('}', "}}"));
                rest = &tail[end + 2..];
                continue;
            }
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// The outcome's `transition`.
pub(crate) fn mark(outcome: Outcome, story: Option<&Story>) -> Outcome {
    match story {
        Some(s) => outcome.with("transition", s.step.transition.as_str()),
        None => outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn fill_replaces_known_names_and_keeps_the_rest() {
        let v = |n: &str| match n {
            "transition" => Some("broken".to_string()),
            "mention" => Some("cc {x}".to_string()),
            _ => None,
        };
        assert_eq!(
            fill(
                "{emoji} {transition} {{transition}} {mention} {workflow}",
                &v
            ),
            "{emoji} broken {{transition}} cc {{x}} {workflow}"
        );
        assert_eq!(fill("a } { b", &v), "a } { b");
    }
}
