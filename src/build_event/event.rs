//! The normalized build event of `mmnotify build`: its fields, declared once, and what
//! every source does with them: flags (clap), event files and the JSON output (the
//! `json` codecs), the merge of sources and validation.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error;
#[cfg(test)]
use crate::text::time::parse_duration;
use crate::text::time::{format_duration, parse_timestamp, Timestamp, TIMESTAMP_EXAMPLE};

/// Outcome of a build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    /// Not an outcome: the run has started (issue 18). With a bot it creates or updates
    /// the run's post; without one it is posted only when `--on running` asks for it; it
    /// never enters the job history.
    Running,
}

impl State {
    /// Every state, in the order help texts list them.
    pub(crate) const ALL: [State; 5] = [
        State::Succeeded,
        State::Failed,
        State::Cancelled,
        State::TimedOut,
        State::Running,
    ];

    /// The outcomes: every state but `running`. Only these enter the job history
    /// (`story::history`); the caller leaves `running` out.
    #[cfg_attr(not(test), allow(dead_code, reason = "the story tests draw outcomes"))]
    pub(crate) const OUTCOMES: [State; 4] = [
        State::Succeeded,
        State::Failed,
        State::Cancelled,
        State::TimedOut,
    ];

    /// An outcome (every state but `running`).
    pub(crate) fn is_terminal(self) -> bool {
        self != State::Running
    }

    /// The wire name (`timed_out`), as in JSON and on the command line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::TimedOut => "timed_out",
            State::Running => "running",
        }
    }

    /// The name for people (`timed out`).
    pub(crate) fn words(self) -> &'static str {
        match self {
            State::TimedOut => "timed out",
            other => other.as_str(),
        }
    }

    fn allowed() -> String {
        State::ALL.map(State::as_str).join(", ")
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown state {s:?}: expected one of {}", State::allowed()))
    }
}

/// The build event's fields, declared once. `with_build_event_fields!(m)` calls the
/// macro `m` with the list; each field is its doc, its flag's `#[arg(…)]` contents in
/// brackets, and `pub NAME: Option<T> as CODEC`, the codec reading and writing its JSON
/// form. [`build_event!`] makes [`BuildEvent`] of it here; `cli` makes the flags of it,
/// so that the flags, the JSON names, the merge and the output cannot drift apart.
macro_rules! with_build_event_fields {
    ($m:ident) => {
        $m! {
            /// Workflow or pipeline name
            [long, value_name = "NAME"]
            pub workflow: Option<String> as TEXT,
            /// State
            [long, value_enum]
            pub state: Option<State> as STATE,
            /// Branch or tag
            [long, value_name = "NAME"]
            pub branch: Option<String> as TEXT,
            /// Commit SHA (shortened to 8 characters in the text)
            [long, value_name = "SHA"]
            pub commit: Option<String> as TEXT,
            /// Link to the CI run
            [long, value_name = "URL"]
            pub run_url: Option<String> as TEXT,
            /// Builder node that ran the job [default: this host's name]
            [long = "node", value_name = "ID"]
            pub mesh_node_id: Option<String> as TEXT,
            /// The CI's run id: the deduplication key, with the state
            [long = "run-id", value_name = "ID"]
            pub provider_run_id: Option<String> as RUN_ID,
            /// CI provider name (github, gitlab, jenkins, …)
            [long, value_name = "NAME"]
            pub provider: Option<String> as TEXT,
            /// Repository (owner/name)
            [long, value_name = "NAME"]
            pub repository: Option<String> as TEXT,
            /// Build duration (humantime like 4m 30s, or seconds)
            [long, value_name = "DURATION", value_parser = $crate::text::time::parse_duration]
            pub duration: Option<Duration> as DURATION,
            /// Build start time (RFC 3339)
            [long, value_name = "TIME", value_parser = $crate::text::time::parse_timestamp]
            pub started_at: Option<Timestamp> as TIMESTAMP,
            /// Who started the run (CI login or e-mail), mentioned through the config's people
            [long, value_name = "LOGIN"]
            pub actor: Option<String> as TEXT,
            /// The commit's author (e-mail or login), mentioned through the config's people
            [long, value_name = "WHO"]
            pub author: Option<String> as TEXT,
        }
    };
}
pub(crate) use with_build_event_fields;

/// Declares [`BuildEvent`] and its JSON codecs and merge from the field list.
macro_rules! build_event {
    (
        $(
            $(#[doc = $doc:literal])*
            [$($flag:tt)*]
            pub $field:ident: Option<$ty:ty> as $codec:ident,
        )*
    ) => {
        /// A build event as given: every field optional until [`BuildEvent::validate`].
        /// As flags (`cli`'s `BuildEventArgs`), these override `--event` and the CI
        /// environment.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub(crate) struct BuildEvent {
            $( $(#[doc = $doc])* pub(crate) $field: Option<$ty>, )*
        }

        impl BuildEvent {
            /// Every field's name, as in JSON and as a `--text-template` placeholder.
            pub(crate) const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            fn from_object(obj: &Map<String, Value>) -> anyhow::Result<BuildEvent> {
                Ok(BuildEvent {
                    $(
                        $field: match obj.get(stringify!($field)) {
                            None => None,
                            Some(v) => (json::$codec.read)(v).map_err(|rest| {
                                error::input(format!("field `{}`{rest}", stringify!($field)))
                            })?,
                        },
                    )*
                })
            }

            fn to_object(&self) -> Map<String, Value> {
                let mut obj = Map::new();
                $(
                    if let Some(v) = &self.$field {
                        obj.insert(stringify!($field).into(), (json::$codec.write)(v));
                    }
                )*
                obj
            }

            /// Fills the fields `self` lacks from `lower` (flags over event file over CI env).
            pub(crate) fn overlay(self, lower: BuildEvent) -> BuildEvent {
                BuildEvent { $( $field: self.$field.or(lower.$field), )* }
            }
        }
    };
}

with_build_event_fields!(build_event);

/// How each kind of field is read from and written to JSON. A read error is the rest
/// of a sentence that starts "field `NAME`"; null and blank strings read as absent.
mod json {
    use std::time::Duration;

    use serde_json::{Number, Value};

    use super::{format_duration, parse_timestamp, State, Timestamp, TIMESTAMP_EXAMPLE};
    use crate::text::time::parse_duration;

    type Read<T> = fn(&Value) -> Result<Option<T>, String>;

    pub(super) struct Codec<T> {
        pub(super) read: Read<T>,
        pub(super) write: fn(&T) -> Value,
    }

    pub(super) const TEXT: Codec<String> = Codec {
        read: text,
        write: |s| Value::from(s.as_str()),
    };

    // CI systems hand out numeric run ids, and people copy them as numbers.
    pub(super) const RUN_ID: Codec<String> = Codec {
        read: |v| match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
            Value::Number(_) => {
                Err(" must be a string or an integer, found a fractional number".into())
            }
            other => text(other),
        },
        write: |s| Value::from(s.as_str()),
    };

    pub(super) const STATE: Codec<State> = Codec {
        read: |v| match v {
            Value::Null => Ok(None),
            Value::String(s) => match non_blank(s) {
                None => Ok(None),
                Some(s) => s.parse::<State>().map(Some).map_err(|_| {
                    format!(
                        " has unknown value {s:?}: expected one of {}",
                        State::allowed()
                    )
                }),
            },
            other => Err(format!(
                " must be a string ({}), found {}",
                State::allowed(),
                kind(other)
            )),
        },
        write: |s| Value::from(s.as_str()),
    };

    pub(super) const DURATION: Codec<Duration> = Codec {
        read: |v| match v {
            Value::Null => Ok(None),
            Value::String(s) => match non_blank(s) {
                None => Ok(None),
                Some(s) => parse_duration(&s)
                    .map(Some)
                    .map_err(|why| format!(": {why}")),
            },
            Value::Number(n) => seconds(n)
                .map(Some)
                .map_err(|why| format!(" must be a number of seconds {why}, found {n}")),
            other => Err(format!(
                " must be a duration string like \"1m 30s\" or a number of seconds, found {}",
                kind(other)
            )),
        },
        write: |d| Value::from(format_duration(*d)),
    };

    pub(super) const TIMESTAMP: Codec<Timestamp> = Codec {
        read: |v| match v {
            Value::Null => Ok(None),
            Value::String(s) => match non_blank(s) {
                None => Ok(None),
                Some(s) => parse_timestamp(&s)
                    .map(Some)
                    .map_err(|why| format!(": {why}")),
            },
            other => Err(format!(
                " must be an RFC 3339 timestamp string like {TIMESTAMP_EXAMPLE}, found {}",
                kind(other)
            )),
        },
        write: |t| Value::from(t.format_rfc3339()),
    };

    fn text(v: &Value) -> Result<Option<String>, String> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(non_blank(s)),
            other => Err(format!(" must be a string, found {}", kind(other))),
        }
    }

    /// A JSON string that is blank counts as absent, like null.
    pub(super) fn non_blank(s: &str) -> Option<String> {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    }

    pub(super) fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// Converts a JSON number of seconds; the error completes "must be a number of seconds".
    fn seconds(n: &Number) -> Result<Duration, &'static str> {
        if let Some(secs) = n.as_u64() {
            return Ok(Duration::from_secs(secs));
        }
        if n.as_i64().is_some() {
            return Err("that is not negative");
        }
        match n.as_f64() {
            Some(f) if f < 0.0 => Err("that is not negative"),
            Some(f) => Duration::try_from_secs_f64(f).map_err(|_| "small enough for a duration"),
            None => Err("that fits a duration"),
        }
    }
}

impl BuildEvent {
    /// Reads one event object. Unknown fields are ignored; null and blank strings count
    /// as absent. Errors are input errors (exit 4) naming the field.
    pub(crate) fn from_json(text: &str) -> anyhow::Result<BuildEvent> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| error::input(format!("event is not valid JSON: {e}")))?;
        match value {
            Value::Object(obj) => BuildEvent::from_object(&obj),
            other => Err(error::input(format!(
                "event must be a JSON object, found {}",
                json::kind(&other)
            ))),
        }
    }

    /// Checks the required fields (`workflow`, `state`); an input error (exit 4) names
    /// the missing ones.
    pub(crate) fn validate(mut self) -> anyhow::Result<ValidEvent> {
        // Blank strings can still arrive from code that builds an event directly.
        self.workflow = self.workflow.and_then(|w| json::non_blank(&w));
        match (&self.workflow, self.state) {
            (Some(_), Some(_)) => Ok(ValidEvent(self)),
            (None, Some(_)) => Err(error::input(
                "event has no `workflow`: pass --workflow or set it in the event",
            )),
            (Some(_), None) => Err(error::input(format!(
                "event has no `state`: pass --state or set it in the event (one of {})",
                State::allowed()
            ))),
            (None, None) => Err(error::input(
                "event has no `workflow` and no `state`: pass --workflow and --state or set them in the event",
            )),
        }
    }
}

/// A build event with its required fields present: `workflow` and `state` through their
/// accessors, the optional ones through [`Deref`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ValidEvent(BuildEvent);

impl ValidEvent {
    // `validate` is the only constructor, and it refuses an event without these two.
    const CHECKED: &'static str = "validate() checked workflow and state";

    pub(crate) fn workflow(&self) -> &str {
        self.0.workflow.as_deref().expect(Self::CHECKED)
    }

    pub(crate) fn state(&self) -> State {
        self.0.state.expect(Self::CHECKED)
    }

    /// The normalized JSON form (absent fields left out; duration as humantime,
    /// `started_at` as RFC 3339 UTC); [`BuildEvent::from_json`] reads it back.
    pub(crate) fn to_json(&self) -> Value {
        Value::Object(self.0.to_object())
    }
}

impl Deref for ValidEvent {
    type Target = BuildEvent;

    fn deref(&self) -> &BuildEvent {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{exit_kind, ExitKind};

    fn ts(s: &str) -> Timestamp {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn state_names_round_trip() {
        for st in State::ALL {
            assert_eq!(st.as_str().parse::<State>().unwrap(), st);
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
        }
        assert!("timed-out".parse::<State>().is_err());
        assert!("Succeeded".parse::<State>().is_err());
        assert_eq!(State::TimedOut.words(), "timed out");
    }

    /// Every prefix and many byte mutations of valid inputs: errors, never panics.
    #[test]
    fn parsers_never_panic() {
        let seeds = [
            "2026-11-23T14:00:00.123+02:00",
            "1m 30s",
            r#"{"workflow":"a","state":"failed","duration":1.5,"started_at":"2026-11-23T12:00:00Z"}"#,
        ];
        let subst = [
            '0', '9', '-', ':', '.', 'T', 'Z', '+', 'é', '"', '{', ' ', 'e',
        ];
        for seed in seeds {
            let chars: Vec<char> = seed.chars().collect();
            for i in 0..=chars.len() {
                let prefix: String = chars[..i].iter().collect();
                let _ = parse_timestamp(&prefix);
                let _ = parse_duration(&prefix);
                let _ = BuildEvent::from_json(&prefix);
                for c in subst {
                    let mut m = chars.clone();
                    if i < m.len() {
                        m[i] = c;
                    } else {
                        m.push(c);
                    }
                    let m: String = m.into_iter().collect();
                    let _ = parse_timestamp(&m);
                    let _ = parse_duration(&m);
                    let _ = BuildEvent::from_json(&m);
                }
            }
        }
    }

    #[test]
    fn from_json_reads_all_fields() {
        let ev = BuildEvent::from_json(
            r#"{"workflow":"CI","state":"timed_out","branch":"main","commit":"0123456789abcdef",
                "run_url":"https://ci.example/1","mesh_node_id":"node-1","provider_run_id":"77-2",
                "provider":"github","repository":"acme/app","duration":"1m 30s",
                "started_at":"2026-11-23T14:00:00+02:00","extra":{"ignored":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(
            ev,
            BuildEvent {
                workflow: Some("CI".into()),
                state: Some(State::TimedOut),
                branch: Some("main".into()),
                commit: Some("0123456789abcdef".into()),
                run_url: Some("https://ci.example/1".into()),
                mesh_node_id: Some("node-1".into()),
                provider_run_id: Some("77-2".into()),
                provider: Some("github".into()),
                repository: Some("acme/app".into()),
                duration: Some(Duration::from_secs(90)),
                started_at: Some(ts("2026-11-23T12:00:00Z")),
                actor: None,
                author: None,
            }
        );
    }

    #[test]
    fn from_json_lenient_forms() {
        let ev = BuildEvent::from_json(
            r#"{"workflow":"","state":null,"branch":"  ","duration":12.5,"provider_run_id":42}"#,
        )
        .unwrap();
        assert_eq!(ev.workflow, None);
        assert_eq!(ev.state, None);
        assert_eq!(ev.branch, None);
        assert_eq!(ev.duration, Some(Duration::from_millis(12_500)));
        assert_eq!(ev.provider_run_id.as_deref(), Some("42"));
        let ev = BuildEvent::from_json(r#"{"duration":90}"#).unwrap();
        assert_eq!(ev.duration, Some(Duration::from_secs(90)));
        assert_eq!(BuildEvent::from_json("{}").unwrap(), BuildEvent::default());
    }

    fn input_err(text: &str) -> String {
        let err = BuildEvent::from_json(text).unwrap_err();
        assert_eq!(exit_kind(&err), ExitKind::Input, "{err}");
        let msg = err.to_string();
        assert!(!msg.ends_with('.'), "{msg}");
        msg
    }

    #[test]
    fn from_json_errors_name_the_field() {
        assert_eq!(
            input_err("[1]"),
            "event must be a JSON object, found an array"
        );
        assert!(input_err("{").starts_with("event is not valid JSON"));
        assert!(input_err(r#""x""#).contains("found a string"));
        let msg = input_err(r#"{"state":"done"}"#);
        assert!(msg.contains("`state`") && msg.contains("\"done\""), "{msg}");
        assert!(
            msg.contains("succeeded, failed, cancelled, timed_out"),
            "{msg}"
        );
        let msg = input_err(r#"{"state":1}"#);
        assert!(msg.contains("`state`") && msg.contains("a number"), "{msg}");
        let msg = input_err(r#"{"workflow":["a"]}"#);
        assert_eq!(msg, "field `workflow` must be a string, found an array");
        let msg = input_err(r#"{"duration":-1}"#);
        assert!(
            msg.contains("`duration`") && msg.contains("not negative"),
            "{msg}"
        );
        let msg = input_err(r#"{"duration":-0.5}"#);
        assert!(
            msg.contains("`duration`") && msg.contains("not negative"),
            "{msg}"
        );
        let msg = input_err(r#"{"duration":1e300}"#);
        assert!(msg.contains("`duration`"), "{msg}");
        let msg = input_err(r#"{"duration":"soon"}"#);
        assert!(
            msg.contains("`duration`") && msg.contains("1m 30s"),
            "{msg}"
        );
        let msg = input_err(r#"{"duration":true}"#);
        assert!(
            msg.contains("`duration`") && msg.contains("a boolean"),
            "{msg}"
        );
        let msg = input_err(r#"{"started_at":"yesterday"}"#);
        assert!(
            msg.contains("`started_at`") && msg.contains("RFC 3339"),
            "{msg}"
        );
        let msg = input_err(r#"{"started_at":1700000000}"#);
        assert!(
            msg.contains("`started_at`") && msg.contains("RFC 3339"),
            "{msg}"
        );
        let msg = input_err(r#"{"provider_run_id":1.5}"#);
        assert!(msg.contains("`provider_run_id`"), "{msg}");
        let msg = input_err(r#"{"provider_run_id":false}"#);
        assert!(msg.contains("`provider_run_id`"), "{msg}");
    }

    #[test]
    fn overlay_prefers_self() {
        let flags = BuildEvent {
            state: Some(State::Failed),
            branch: Some("flag-branch".into()),
            ..Default::default()
        };
        let file = BuildEvent {
            workflow: Some("file-wf".into()),
            state: Some(State::Succeeded),
            branch: Some("file-branch".into()),
            ..Default::default()
        };
        let env = BuildEvent {
            workflow: Some("env-wf".into()),
            commit: Some("abc".into()),
            duration: Some(Duration::from_secs(3)),
            ..Default::default()
        };
        let ev = flags.overlay(file.overlay(env));
        assert_eq!(ev.workflow.as_deref(), Some("file-wf"));
        assert_eq!(ev.state, Some(State::Failed));
        assert_eq!(ev.branch.as_deref(), Some("flag-branch"));
        assert_eq!(ev.commit.as_deref(), Some("abc"));
        assert_eq!(ev.duration, Some(Duration::from_secs(3)));
    }

    #[test]
    fn validate_names_missing_fields() {
        let err = BuildEvent {
            state: Some(State::Failed),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(exit_kind(&err), ExitKind::Input);
        assert_eq!(
            err.to_string(),
            "event has no `workflow`: pass --workflow or set it in the event"
        );
        let err = BuildEvent {
            workflow: Some("CI".into()),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().starts_with("event has no `state`"), "{err}");
        let err = BuildEvent::default().validate().unwrap_err();
        assert!(
            err.to_string().contains("`workflow` and no `state`"),
            "{err}"
        );
        let err = BuildEvent {
            workflow: Some(" ".into()),
            state: Some(State::Failed),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("`workflow`"), "{err}");
    }

    /// The one declaration feeds JSON and the merge (and, in `cli`, the flags): a field
    /// added there shows up in each of them.
    #[test]
    fn every_field_is_a_json_name_and_merged() {
        let full = BuildEvent::from_json(
            r#"{"workflow":"CI","state":"failed","branch":"main","commit":"abc",
                "run_url":"https://ci.example/1","mesh_node_id":"n","provider_run_id":"7",
                "provider":"github","repository":"acme/app","duration":"5s",
                "started_at":"2026-11-23T12:00:00Z","actor":"octocat","author":"a@example.com"}"#,
        )
        .unwrap();
        let json = full.clone().validate().unwrap().to_json();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut names = BuildEvent::FIELDS.to_vec();
        names.sort_unstable();
        assert_eq!(keys, names, "every field is read and written");
        assert_eq!(BuildEvent::default().overlay(full.clone()), full);
        assert_eq!(full.clone().overlay(BuildEvent::default()), full);
    }

    #[test]
    fn to_json_round_trips() {
        let ev = BuildEvent {
            workflow: Some("CI".into()),
            state: Some(State::Cancelled),
            commit: Some("abc".into()),
            duration: Some(Duration::from_millis(90_500)),
            started_at: Some(ts("2026-11-23T14:00:00+02:00")),
            ..Default::default()
        };
        let valid = ev.clone().validate().unwrap();
        let json = valid.to_json();
        assert_eq!(
            json,
            serde_json::json!({
                "workflow": "CI", "state": "cancelled", "commit": "abc",
                "duration": "1m 30s 500ms", "started_at": "2026-11-23T12:00:00Z"
            })
        );
        assert_eq!(BuildEvent::from_json(&json.to_string()).unwrap(), ev);
    }
}
