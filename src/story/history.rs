//! A job's history and the transition of each run, as the contract's table says
//! ("Job history and transitions"). Pure: the store reads the record, calls
//! [`transition`] under its lock (or inside its Redis script's caller), and writes back
//! [`Step::record`] when there is one.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::build_event::event::State;
use crate::text::time::Timestamp;

/// What a run changed for its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Transition {
    /// A failure after a success, or the first run known.
    Broken,
    /// A failure after a failure.
    StillFailing,
    /// A success after a failure.
    Fixed,
    /// A success after a success, or the first run known.
    Succeeded,
    Cancelled,
    /// Started before the job's latest recorded run: posted, changes nothing.
    Older,
}

impl Transition {
    pub(crate) const ALL: [Transition; 6] = [
        Transition::Broken,
        Transition::StillFailing,
        Transition::Fixed,
        Transition::Succeeded,
        Transition::Cancelled,
        Transition::Older,
    ];

    /// The wire name, as in `props.mmnotify.transition`, `--on` and `[templates]`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transition::Broken => "broken",
            Transition::StillFailing => "still_failing",
            Transition::Fixed => "fixed",
            Transition::Succeeded => "succeeded",
            Transition::Cancelled => "cancelled",
            Transition::Older => "older",
        }
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Transition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Transition::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown transition {s:?}"))
    }
}

/// `failed` and `timed_out` are failures; `cancelled` is neither.
fn is_failure(state: State) -> bool {
    matches!(state, State::Failed | State::TimedOut)
}

/// A job: `repository` + `workflow` + `branch`, a missing part counting as empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct JobKey {
    pub(crate) repository: String,
    pub(crate) workflow: String,
    pub(crate) branch: String,
}

impl JobKey {
    pub(crate) fn new(repository: Option<&str>, workflow: &str, branch: Option<&str>) -> JobKey {
        JobKey {
            repository: repository.unwrap_or_default().to_string(),
            workflow: workflow.to_string(),
            branch: branch.unwrap_or_default().to_string(),
        }
    }

    /// One unambiguous string for the store (a compact JSON array, so that no choice of
    /// separator lets `a/b` + `c` collide with `a` + `b/c`). Stores hash it into their
    /// key or bucket name; it is never a file name as it is.
    pub(crate) fn id(&self) -> String {
        serde_json::to_string(&[&self.repository, &self.workflow, &self.branch]).unwrap_or_default()
    }
}

/// Whether the current streak is of failures or of successes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StreakKind {
    Failure,
    Success,
}

/// What the store keeps per job. Stored as compact JSON with short names: 100,000 jobs'
/// records are read one at a time, but they all sit in one store. Times are Unix
/// milliseconds (wall clock: records are shared between hosts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobRecord {
    /// The last terminal state recorded (never `cancelled`: it changes nothing).
    #[serde(rename = "st")]
    pub(crate) last_state: State,
    #[serde(rename = "run", default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_run_id: Option<String>,
    /// When the latest recorded run happened (`started_at`, else first sight); the
    /// largest such time seen, so that `older` compares against the newest run.
    #[serde(rename = "at")]
    pub(crate) last_at_ms: u64,
    /// Runs in a row of [`JobRecord::streak_kind`], this one included (at least 1).
    #[serde(rename = "n")]
    pub(crate) streak: u32,
    #[serde(rename = "k")]
    pub(crate) streak_kind: StreakKind,
    /// When the run that began the streak happened.
    #[serde(rename = "since")]
    pub(crate) streak_since_ms: u64,
    #[serde(rename = "ok_run", default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_success_run_id: Option<String>,
    #[serde(rename = "ok_at", default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_success_at_ms: Option<u64>,
    /// When this record was last written, for `--history-ttl`.
    #[serde(rename = "seen")]
    pub(crate) updated_ms: u64,
    /// The last few runs recorded ([`RECENT`] at most), as `state:run_id`: a run seen
    /// again (a repeated event filtered before its dedupe claim, a store write retried
    /// after a lost answer) is recorded once.
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) recent: Vec<Recorded>,
}

/// A run in [`JobRecord::recent`]: its token ([`run_token`]), and the transition and
/// streak it was recorded with, so that the run seen again (a retry after a failed
/// post, another route) is told as it was the first time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Recorded(pub(crate) String, pub(crate) Transition, pub(crate) u32);

/// How many recorded runs a record remembers for [`JobRecord::recent`]: more than the
/// runs of one job that are ever in flight at once.
pub(crate) const RECENT: usize = 16;

/// The token of a run in [`JobRecord::recent`]: its state and [`stored_run_id`].
pub(crate) fn run_token(state: State, run_id: &str) -> String {
    format!("{}:{}", state.as_str(), stored_run_id(run_id))
}

/// A run id as a record keeps it: `#` and 128 bits of a tagged SHA-256, in hex. Never
/// the id as given: it is event data, which may hold a secret (a webhook URL pasted into
/// the wrong CI variable: a filtered event is recorded without any message check) or
/// run to a megabyte (an event line may), and records are written to disk or a shared
/// store, sixteen run ids each, many jobs to a bucket that must stay small.
pub(crate) fn stored_run_id(run_id: &str) -> String {
    use std::fmt::Write as _;
    let mut buf = b"mmnotify-run-v1\0".to_vec();
    buf.extend_from_slice(run_id.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &buf);
    digest.as_ref()[..16]
        .iter()
        .fold(String::from("#"), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

impl JobRecord {
    /// The stored form: compact JSON.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The run `state`/`run_id` if it is among [`JobRecord::recent`], also as a record
    /// written before run ids were hashed (which kept the id as given).
    pub(crate) fn recorded(&self, state: State, run_id: &str) -> Option<&Recorded> {
        let token = run_token(state, run_id);
        let as_given = format!("{}:{run_id}", state.as_str());
        self.recent.iter().find(|r| r.0 == token || r.0 == as_given)
    }

    /// A stored record; `None` for anything unreadable (a record from a future version
    /// or a damaged one is treated as no history, never as an error that blocks a post).
    pub(crate) fn from_json(s: &str) -> Option<JobRecord> {
        serde_json::from_str(s).ok()
    }
}

/// The facts of one run that decide its transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run<'a> {
    pub(crate) state: State,
    pub(crate) run_id: Option<&'a str>,
    /// The event's `started_at`, in Unix milliseconds.
    pub(crate) started_at_ms: Option<u64>,
    /// When a poster first saw the event (a spooled event keeps its first sight).
    pub(crate) first_seen_ms: u64,
}

/// How far past the time it is checked against a time may lie and still be believed:
/// the clocks of builders and posters disagree by seconds, not minutes. Anything later
/// is a wrong clock or a forgery, and trusting it would make every later run `older`.
pub(crate) const MAX_CLOCK_SKEW_MS: u64 = 5 * 60_000;

impl Run<'_> {
    /// The event's `started_at`, unless it lies more than [`MAX_CLOCK_SKEW_MS`] after
    /// the run was first seen: then it counts as absent (the run's time is its first
    /// sight, and it is never `older`).
    pub(crate) fn started_ms(&self) -> Option<u64> {
        self.started_at_ms
            .filter(|s| *s <= self.first_seen_ms.saturating_add(MAX_CLOCK_SKEW_MS))
    }

    /// "When a run happened": its (believable) `started_at`, else the time it was
    /// first seen.
    pub(crate) fn at_ms(&self) -> u64 {
        self.started_ms().unwrap_or(self.first_seen_ms)
    }
}

impl JobRecord {
    /// A record holding a time more than [`MAX_CLOCK_SKEW_MS`] past `now_ms` (planted,
    /// or written by a host whose clock was far ahead): treated as no history, so the
    /// next run starts the job's story again instead of being `older` forever.
    pub(crate) fn is_from_the_future(&self, now_ms: u64) -> bool {
        let limit = now_ms.saturating_add(MAX_CLOCK_SKEW_MS);
        [
            self.last_at_ms,
            self.streak_since_ms,
            self.updated_ms,
            self.last_success_at_ms.unwrap_or(0),
        ]
        .into_iter()
        .any(|t| t > limit)
    }
}

/// What recording a run in its job's history needs once its post's outcome is final,
/// apart from the event: a spooled post carries it to `flush`, a relayed build hands it
/// to `run`. Event data and times only, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunNote {
    pub(crate) repository: String,
    pub(crate) workflow: String,
    pub(crate) branch: String,
    pub(crate) state: State,
    pub(crate) run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) started_at_ms: Option<u64>,
    /// When the first poster saw the event: a flush days later keeps this time.
    pub(crate) first_seen_ms: u64,
    /// `--history-ttl` of the command that saw it.
    pub(crate) ttl_ms: u64,
}

impl RunNote {
    pub(crate) fn job(&self) -> JobKey {
        JobKey::new(Some(&self.repository), &self.workflow, Some(&self.branch))
    }

    pub(crate) fn run(&self) -> Run<'_> {
        Run {
            state: self.state,
            run_id: Some(&self.run_id),
            started_at_ms: self.started_at_ms,
            first_seen_ms: self.first_seen_ms,
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms)
    }
}

/// The outcome of [`transition`]: what the post says, and what to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) transition: Transition,
    /// `broken`: 1; `still_failing`: this is the Nth failure in a row; `fixed`: the
    /// failures it ends; `succeeded`: successes in a row. `cancelled`/`older`: the
    /// job's current streak (0 when it has no history).
    pub(crate) streak: u32,
    /// Unix ms of the run that began the current failure streak (`broken`,
    /// `still_failing`, `fixed`), of the current success streak otherwise. `None` for
    /// `cancelled`/`older` without history.
    pub(crate) since_ms: Option<u64>,
    /// `fixed`: this run's time minus the breaking run's time.
    pub(crate) broken_for: Option<Duration>,
    /// The last terminal state recorded before this run.
    pub(crate) previous_state: Option<State>,
    /// The record to write; `None` when nothing changes (`cancelled`, `older`).
    pub(crate) record: Option<JobRecord>,
}

/// The transition of `run` given the job's record before it (`prev`), and the record
/// after it. `now_ms` stamps the record; a `prev` not written for longer than
/// `history_ttl` counts as no history ("forgotten").
///
/// Call it once per run id and state (under the dedupe claim): a repeat would count
/// the same run twice in the streak.
pub(crate) fn transition(
    prev: Option<&JobRecord>,
    run: &Run<'_>,
    now_ms: u64,
    history_ttl: Duration,
) -> Step {
    let ttl_ms = u64::try_from(history_ttl.as_millis()).unwrap_or(u64::MAX);
    let prev = prev
        .filter(|p| !p.is_from_the_future(now_ms) && now_ms.saturating_sub(p.updated_ms) <= ttl_ms);
    let at = run.at_ms();
    let previous_state = prev.map(|p| p.last_state);
    let unchanged = |transition| Step {
        transition,
        streak: prev.map_or(0, |p| p.streak),
        since_ms: prev.map(|p| p.streak_since_ms),
        broken_for: None,
        previous_state,
        record: None,
    };
    // A cancelled run is labelled as what it is even when it is also older: neither
    // changes anything, and `--on cancelled` should see every cancelled run.
    if run.state == State::Cancelled {
        return unchanged(Transition::Cancelled);
    }
    // Strictly earlier only: a tie is not older, and no `started_at` is never older.
    if let (Some(p), Some(started)) = (prev, run.started_ms()) {
        if started < p.last_at_ms {
            return unchanged(Transition::Older);
        }
    }
    let failure = is_failure(run.state);
    let (transition, streak, since, broken_for, kind_streak) = match (prev, failure) {
        (Some(p), true) if p.streak_kind == StreakKind::Failure => {
            let n = p.streak.saturating_add(1);
            (Transition::StillFailing, n, p.streak_since_ms, None, n)
        }
        (_, true) => (Transition::Broken, 1, at, None, 1),
        (Some(p), false) if p.streak_kind == StreakKind::Failure => {
            let broken_for = Duration::from_millis(at.saturating_sub(p.streak_since_ms));
            (
                Transition::Fixed,
                p.streak,
                p.streak_since_ms,
                Some(broken_for),
                1,
            )
        }
        (Some(p), false) => {
            let n = p.streak.saturating_add(1);
            (Transition::Succeeded, n, p.streak_since_ms, None, n)
        }
        (None, false) => (Transition::Succeeded, 1, at, None, 1),
    };
    // The new streak begins at this run unless it continues the old one.
    let streak_since_ms = match transition {
        Transition::StillFailing | Transition::Succeeded => since,
        _ => at,
    };
    Step {
        transition,
        streak,
        since_ms: Some(since),
        broken_for,
        previous_state,
        record: Some(record_after(
            prev,
            run,
            (kind_streak, streak_since_ms),
            now_ms,
        )),
    }
}

/// The job's record after `run`, which counts `kind_streak` runs of its kind (failure or
/// success) since `streak_since_ms`; stamped `now_ms`.
fn record_after(
    prev: Option<&JobRecord>,
    run: &Run<'_>,
    (kind_streak, streak_since_ms): (u32, u64),
    now_ms: u64,
) -> JobRecord {
    let at = run.at_ms();
    let failure = is_failure(run.state);
    let (last_success_run_id, last_success_at_ms) = if failure {
        (
            prev.and_then(|p| p.last_success_run_id.clone()),
            prev.and_then(|p| p.last_success_at_ms),
        )
    } else {
        (run.run_id.map(stored_run_id), Some(at))
    };
    JobRecord {
        last_state: run.state,
        last_run_id: run.run_id.map(stored_run_id),
        last_at_ms: prev.map_or(at, |p| p.last_at_ms.max(at)),
        streak: kind_streak,
        streak_kind: if failure {
            StreakKind::Failure
        } else {
            StreakKind::Success
        },
        streak_since_ms,
        last_success_run_id,
        last_success_at_ms,
        updated_ms: now_ms,
        recent: Vec::new(),
    }
}

impl Step {
    /// The story's part of `props.mmnotify`: `transition`, `streak`, `since` (RFC 3339,
    /// absent without history) and `previous_state` (absent when unknown).
    pub(crate) fn props(&self) -> serde_json::Value {
        let mut obj = serde_json::Map::new();
        obj.insert("transition".into(), self.transition.as_str().into());
        obj.insert("streak".into(), self.streak.into());
        if let Some(since) = self.since_ms.and_then(rfc3339_ms) {
            obj.insert("since".into(), since.into());
        }
        if let Some(prev) = self.previous_state {
            obj.insert("previous_state".into(), prev.as_str().into());
        }
        serde_json::Value::Object(obj)
    }
}

/// Unix milliseconds as RFC 3339 (UTC, fractional seconds when there are some).
pub(crate) fn rfc3339_ms(ms: u64) -> Option<String> {
    let secs = i64::try_from(ms / 1000).ok()?;
    let nanos = u32::try_from(ms % 1000).ok()? * 1_000_000;
    Timestamp::from_unix(secs, nanos).map(Timestamp::format_rfc3339)
}

/// `1st`, `2nd`, `3rd`, `4th`, `11th`, `12th`, `13th`, `21st`, `112th`.
pub(crate) fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A duration for people, in its two largest units: `45s`, `5m`, `2h 5m`, `3d 4h`.
/// Seconds are dropped once there are minutes: a streak is read at a glance.
pub(crate) fn rough_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// The transition in words for the post's `text`: `broken`, `still failing (3rd failure
/// in a row, since 2h 5m)`, `fixed after 3 failures (broken for 2h 5m)`. `at_ms` is this
/// run's time (for "since").
pub(crate) fn words(step: &Step, at_ms: u64) -> String {
    match step.transition {
        Transition::Broken => "broken".to_string(),
        Transition::StillFailing => {
            let since = step.since_ms.map_or(String::new(), |s| {
                format!(
                    ", since {}",
                    rough_duration(Duration::from_millis(at_ms.saturating_sub(s)))
                )
            });
            format!(
                "still failing ({} failure in a row{since})",
                ordinal(step.streak)
            )
        }
        Transition::Fixed => {
            let plural = if step.streak == 1 { "" } else { "s" };
            let broken_for = step.broken_for.map_or(String::new(), |d| {
                format!(" (broken for {})", rough_duration(d))
            });
            format!("fixed after {} failure{plural}{broken_for}", step.streak)
        }
        Transition::Succeeded => "succeeded".to_string(),
        Transition::Cancelled => "cancelled".to_string(),
        Transition::Older => "older run (a newer one is already recorded)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TTL: Duration = Duration::from_secs(90 * 86_400);
    const MIN: u64 = 60_000;

    /// A run first seen at `seen`, or when it started if that is later: a poster sees a
    /// run after it started (a `started_at` far past its first sight is not believed).
    fn run(state: State, id: &str, started: Option<u64>, seen: u64) -> Run<'_> {
        Run {
            state,
            run_id: Some(id),
            started_at_ms: started,
            first_seen_ms: seen.max(started.unwrap_or(0)),
        }
    }

    /// Feeds runs in order, returning each step.
    fn play(runs: &[Run<'_>]) -> Vec<Step> {
        let mut rec: Option<JobRecord> = None;
        runs.iter()
            .map(|r| {
                let step = transition(rec.as_ref(), r, r.at_ms(), TTL);
                if let Some(new) = &step.record {
                    rec = Some(new.clone());
                }
                step
            })
            .collect()
    }

    fn names(steps: &[Step]) -> Vec<(&'static str, u32)> {
        steps
            .iter()
            .map(|s| (s.transition.as_str(), s.streak))
            .collect()
    }

    #[test]
    fn the_contract_table() {
        let steps = play(&[
            run(State::Succeeded, "1", Some(0), 0),
            run(State::Succeeded, "2", Some(10 * MIN), 0),
            run(State::Failed, "3", Some(20 * MIN), 0),
            run(State::TimedOut, "4", Some(30 * MIN), 0),
            run(State::Failed, "5", Some(145 * MIN), 0),
            run(State::Succeeded, "6", Some(145 * MIN), 0),
            run(State::Succeeded, "7", Some(150 * MIN), 0),
        ]);
        assert_eq!(
            names(&steps),
            [
                ("succeeded", 1),
                ("succeeded", 2),
                ("broken", 1),
                ("still_failing", 2),
                ("still_failing", 3),
                ("fixed", 3),
                ("succeeded", 2),
            ]
        );
        assert_eq!(steps[0].previous_state, None);
        assert_eq!(steps[2].previous_state, Some(State::Succeeded));
        assert_eq!(steps[3].since_ms, Some(20 * MIN));
        assert_eq!(steps[5].since_ms, Some(20 * MIN));
        assert_eq!(steps[5].broken_for, Some(Duration::from_millis(125 * MIN)));
        // A success streak begins at the fixing run.
        assert_eq!(steps[6].since_ms, Some(145 * MIN));
        assert_eq!(
            words(&steps[4], 145 * MIN),
            "still failing (3rd failure in a row, since 2h 5m)"
        );
        assert_eq!(
            words(&steps[5], 145 * MIN),
            "fixed after 3 failures (broken for 2h 5m)"
        );
        assert_eq!(words(&steps[2], 20 * MIN), "broken");
        let rec = steps[6].record.as_ref().unwrap();
        assert_eq!(
            rec.last_success_run_id.as_deref(),
            Some(stored_run_id("7").as_str())
        );
        assert_eq!(rec.last_success_at_ms, Some(150 * MIN));
    }

    #[test]
    fn props_carry_transition_streak_since_and_previous_state() {
        let steps = play(&[
            run(State::Failed, "1", Some(1_764_000_000_000), 0),
            run(State::Failed, "2", Some(1_764_000_060_500), 0),
        ]);
        assert_eq!(
            steps[1].props(),
            serde_json::json!({
                "transition": "still_failing",
                "streak": 2,
                "since": "2025-11-24T16:00:00Z",
                "previous_state": "failed",
            })
        );
        let first = steps[0].props();
        assert!(first.get("previous_state").is_none(), "{first}");
        assert_eq!(
            rfc3339_ms(1_764_000_060_500).as_deref(),
            Some("2025-11-24T16:01:00.5Z")
        );
    }

    #[test]
    fn first_failure_is_broken_and_fixed_after_one_is_singular() {
        let steps = play(&[
            run(State::Failed, "1", None, MIN),
            run(State::Succeeded, "2", None, 2 * MIN),
        ]);
        assert_eq!(names(&steps), [("broken", 1), ("fixed", 1)]);
        assert_eq!(
            words(&steps[1], 2 * MIN),
            "fixed after 1 failure (broken for 1m)"
        );
    }

    #[test]
    fn cancelled_in_a_failure_streak_changes_nothing() {
        let steps = play(&[
            run(State::Failed, "1", Some(MIN), 0),
            run(State::Cancelled, "2", Some(2 * MIN), 0),
            run(State::Failed, "3", Some(3 * MIN), 0),
        ]);
        assert_eq!(
            names(&steps),
            [("broken", 1), ("cancelled", 1), ("still_failing", 2)]
        );
        assert!(steps[1].record.is_none());
        assert_eq!(steps[1].previous_state, Some(State::Failed));
    }

    #[test]
    fn older_runs_change_nothing_ties_and_unknown_start_are_not_older() {
        let steps = play(&[
            run(State::Succeeded, "2", Some(10 * MIN), 0),
            // Started earlier, arrives late: older, the record stays.
            run(State::Failed, "1", Some(5 * MIN), 0),
            // A tie is not older.
            run(State::Failed, "3", Some(10 * MIN), 0),
            // No started_at: never older, even when first seen "before" (a clock a
            // minute behind: within the skew, so the record is still believed).
            run(State::Failed, "4", None, 9 * MIN),
        ]);
        assert_eq!(
            names(&steps),
            [
                ("succeeded", 1),
                ("older", 1),
                ("broken", 1),
                ("still_failing", 2)
            ]
        );
        assert!(steps[1].record.is_none());
        // The latest time recorded never goes back.
        assert_eq!(steps[3].record.as_ref().unwrap().last_at_ms, 10 * MIN);
    }

    #[test]
    fn a_started_at_far_in_the_future_counts_as_first_sight() {
        let now = 1_800_000_000_000;
        let year = 365 * 86_400_000;
        let seen_now = |started| Run {
            state: State::Failed,
            run_id: Some("1"),
            started_at_ms: Some(started),
            first_seen_ms: now,
        };
        let forged = seen_now(now + year);
        assert_eq!(forged.started_ms(), None);
        assert_eq!(forged.at_ms(), now);
        // Within the skew a builder's clock is believed.
        let ahead = seen_now(now + MAX_CLOCK_SKEW_MS);
        assert_eq!(ahead.at_ms(), now + MAX_CLOCK_SKEW_MS);
        // The forged run cannot freeze the job: the next runs are not older.
        let steps = play(&[
            forged,
            run(State::Failed, "2", Some(now + MIN), now + MIN),
            run(State::Succeeded, "3", Some(now + 2 * MIN), now + 2 * MIN),
        ]);
        assert_eq!(
            names(&steps),
            [("broken", 1), ("still_failing", 2), ("fixed", 2)]
        );
        assert_eq!(steps[0].record.as_ref().unwrap().last_at_ms, now);
    }

    #[test]
    fn a_record_from_the_future_is_no_history_and_is_replaced() {
        let now = 1_800_000_000_000;
        let far = now + 10 * 365 * 86_400_000;
        let planted = transition(None, &run(State::Failed, "x", Some(far), far), far, TTL)
            .record
            .unwrap();
        assert!(planted.is_from_the_future(now));
        assert!(!planted.is_from_the_future(far));
        let step = transition(
            Some(&planted),
            &run(State::Failed, "1", Some(now), now),
            now,
            TTL,
        );
        assert_eq!(
            (step.transition, step.previous_state),
            (Transition::Broken, None)
        );
        let rec = step.record.unwrap();
        assert_eq!(rec.last_at_ms, now);
        assert!(!rec.is_from_the_future(now));
        // Each time of the record counts: a future `seen` would never expire.
        for field in 0..4 {
            let mut r = transition(None, &run(State::Succeeded, "1", Some(now), now), now, TTL)
                .record
                .unwrap();
            match field {
                0 => r.last_at_ms = far,
                1 => r.streak_since_ms = far,
                2 => r.updated_ms = far,
                _ => r.last_success_at_ms = Some(far),
            }
            assert!(r.is_from_the_future(now), "field {field}");
            let later = run(State::Succeeded, "2", Some(now + MIN), now + MIN);
            assert_eq!(
                transition(Some(&r), &later, now + MIN, TTL).previous_state,
                None
            );
        }
        // Within the skew it is trusted.
        let mut r = rec.clone();
        r.updated_ms = now + MAX_CLOCK_SKEW_MS;
        assert!(!r.is_from_the_future(now));
    }

    #[test]
    fn a_run_note_round_trips_and_decides_as_the_run_would() {
        let note = RunNote {
            repository: "acme/app".into(),
            workflow: "ci".into(),
            branch: "main".into(),
            state: State::TimedOut,
            run_id: "7".into(),
            started_at_ms: None,
            first_seen_ms: 5 * MIN,
            ttl_ms: 1000,
        };
        let json = serde_json::to_value(&note).unwrap();
        assert!(json.get("started_at_ms").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<RunNote>(json).unwrap(), note);
        assert_eq!(
            note.job(),
            JobKey::new(Some("acme/app"), "ci", Some("main"))
        );
        assert_eq!(note.run().at_ms(), 5 * MIN);
        assert_eq!(note.ttl(), Duration::from_secs(1));
    }

    #[test]
    fn run_ids_are_kept_hashed_and_short_and_old_records_still_match() {
        let long = "x".repeat(1 << 20);
        for id in ["run-7", "https://chat.example/hooks/abc", long.as_str()] {
            let stored = stored_run_id(id);
            assert_eq!(stored.len(), 33, "{stored}");
            assert!(!stored.contains(id), "{stored}");
            assert_eq!(stored, stored_run_id(id));
        }
        assert_ne!(stored_run_id("1"), stored_run_id("2"));
        let mut rec = JobRecord::from_json(
            r#"{"st":"failed","at":1,"n":1,"k":"failure","since":1,"seen":1,"r":[["failed:9","broken",1]]}"#,
        )
        .unwrap();
        // Written by a version that kept the id as given.
        assert!(rec.recorded(State::Failed, "9").is_some());
        assert!(rec.recorded(State::Succeeded, "9").is_none());
        rec.recent = vec![Recorded(
            run_token(State::Failed, "10"),
            Transition::StillFailing,
            2,
        )];
        assert_eq!(rec.recorded(State::Failed, "10").map(|r| r.2), Some(2));
        assert!(rec.recorded(State::Failed, "1").is_none());
    }

    #[test]
    fn history_is_forgotten_after_the_ttl() {
        let first = run(State::Failed, "1", None, 0);
        let rec = transition(None, &first, 0, TTL).record.unwrap();
        let ttl_ms = u64::try_from(TTL.as_millis()).unwrap();
        let again = run(State::Failed, "2", None, ttl_ms);
        assert_eq!(
            transition(Some(&rec), &again, ttl_ms, TTL).transition,
            Transition::StillFailing
        );
        let late = run(State::Failed, "3", None, ttl_ms + 1);
        let step = transition(Some(&rec), &late, ttl_ms + 1, TTL);
        assert_eq!(
            (step.transition, step.previous_state),
            (Transition::Broken, None)
        );
    }

    #[test]
    fn record_round_trips_as_compact_json() {
        let rec = transition(None, &run(State::TimedOut, "r-1", Some(5), 9), 9, TTL)
            .record
            .unwrap();
        let json = rec.to_json();
        assert!(!json.contains(' '), "{json}");
        assert_eq!(JobRecord::from_json(&json), Some(rec));
        assert_eq!(JobRecord::from_json("{\"st\":\"exploded\"}"), None);
    }

    #[test]
    fn job_ids_do_not_collide() {
        let a = JobKey::new(Some("a/b"), "c", None);
        let b = JobKey::new(Some("a"), "b/c", None);
        assert_ne!(a.id(), b.id());
        assert_eq!(JobKey::new(None, "w", None).id(), r#"["","w",""]"#);
    }

    #[test]
    fn ordinals_and_durations() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112, 1000]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd",
                "101st", "111th", "112th", "1000th"
            ]
        );
        let d = |s| rough_duration(Duration::from_secs(s));
        assert_eq!(
            [
                d(0),
                d(45),
                d(60),
                d(3600),
                d(7500),
                d(86_400),
                d(97_200 + 59)
            ],
            ["0s", "45s", "1m", "1h", "2h 5m", "1d", "1d 3h"]
        );
    }

    fn state() -> impl Strategy<Value = State> {
        prop::sample::select(State::OUTCOMES.to_vec())
    }

    proptest! {
        /// Whatever the order of runs: a failure's transition is broken or still_failing
        /// with the count of failures since the last success; a success after failures
        /// is fixed with that count; cancelled and older never write.
        #[test]
        fn streaks_count_what_they_say(runs in prop::collection::vec((state(), prop::option::of(0u64..50)), 1..40)) {
            let mut rec: Option<JobRecord> = None;
            let mut failures = 0u32;
            let mut successes = 0u32;
            let mut latest: Option<u64> = None;
            for (i, (st, started)) in runs.iter().enumerate() {
                let id = i.to_string();
                let seen = 1000 + i as u64;
                let r = Run { state: *st, run_id: Some(&id), started_at_ms: *started, first_seen_ms: seen };
                let step = transition(rec.as_ref(), &r, seen, TTL);
                let older = matches!((latest, started), (Some(l), Some(s)) if s < &l);
                match (step.transition, st) {
                    (Transition::Cancelled, State::Cancelled) => prop_assert!(step.record.is_none()),
                    (Transition::Older, _) => { prop_assert!(older); prop_assert!(step.record.is_none()); }
                    (Transition::Broken, State::Failed | State::TimedOut) => {
                        prop_assert!(!older); prop_assert_eq!(failures, 0); prop_assert_eq!(step.streak, 1);
                    }
                    (Transition::StillFailing, State::Failed | State::TimedOut) => {
                        prop_assert!(failures >= 1); prop_assert_eq!(step.streak, failures + 1);
                    }
                    (Transition::Fixed, State::Succeeded) => {
                        prop_assert!(failures >= 1); prop_assert_eq!(step.streak, failures);
                    }
                    (Transition::Succeeded, State::Succeeded) => {
                        prop_assert_eq!(failures, 0); prop_assert_eq!(step.streak, successes + 1);
                    }
                    (t, s) => prop_assert!(false, "{t} for {s}"),
                }
                if let Some(new) = step.record {
                    if is_failure(*st) { failures += 1; successes = 0 } else { failures = 0; successes += 1 }
                    let at = r.at_ms();
                    latest = Some(latest.map_or(at, |l| l.max(at)));
                    prop_assert_eq!(new.last_at_ms, latest.unwrap());
                    rec = Some(new);
                }
            }
        }
    }
}
