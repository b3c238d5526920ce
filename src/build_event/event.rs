//! The normalized build event of `mmnotify build`: parsing from JSON, merging the
//! sources (flags, event file, CI environment) and validation.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error;
use crate::text::time::{
    format_duration, parse_duration, parse_timestamp, Timestamp, TIMESTAMP_EXAMPLE,
};

/// Outcome of a build.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum State {
    #[value(name = "succeeded")]
    Succeeded,
    #[value(name = "failed")]
    Failed,
    #[value(name = "cancelled")]
    Cancelled,
    #[value(name = "timed_out")]
    TimedOut,
}

impl State {
    /// Every state, in the order help texts list them.
    pub const ALL: [State; 4] = [
        State::Succeeded,
        State::Failed,
        State::Cancelled,
        State::TimedOut,
    ];

    /// The wire name (`timed_out`), as in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::TimedOut => "timed_out",
        }
    }

    /// The name for people (`timed out`).
    pub fn words(self) -> &'static str {
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

/// A build event as given: every field optional until [`BuildEvent::validate`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuildEvent {
    pub workflow: Option<String>,
    pub state: Option<State>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub run_url: Option<String>,
    pub mesh_node_id: Option<String>,
    pub provider_run_id: Option<String>,
    pub provider: Option<String>,
    pub repository: Option<String>,
    pub duration: Option<Duration>,
    pub started_at: Option<Timestamp>,
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON string that is blank counts as absent, like null.
fn non_blank(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn string_field(obj: &Map<String, Value>, name: &str) -> anyhow::Result<Option<String>> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(non_blank(s)),
        Some(other) => Err(error::input(format!(
            "field `{name}` must be a string, found {}",
            json_kind(other)
        ))),
    }
}

impl BuildEvent {
    /// Reads one event object. Unknown fields are ignored; null and blank strings count
    /// as absent. Errors are input errors (exit 4) naming the field.
    pub fn from_json(text: &str) -> anyhow::Result<BuildEvent> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| error::input(format!("event is not valid JSON: {e}")))?;
        let obj = match value {
            Value::Object(obj) => obj,
            other => {
                return Err(error::input(format!(
                    "event must be a JSON object, found {}",
                    json_kind(&other)
                )))
            }
        };

        let state = match obj.get("state") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match non_blank(s) {
                None => None,
                Some(s) => Some(s.parse::<State>().map_err(|_| {
                    error::input(format!(
                        "field `state` has unknown value {s:?}: expected one of {}",
                        State::allowed()
                    ))
                })?),
            },
            Some(other) => {
                return Err(error::input(format!(
                    "field `state` must be a string ({}), found {}",
                    State::allowed(),
                    json_kind(other)
                )))
            }
        };

        // CI systems hand out numeric run ids, and people copy them as numbers.
        let provider_run_id = match obj.get("provider_run_id") {
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            Some(Value::Number(_)) => return Err(error::input(
                "field `provider_run_id` must be a string or an integer, found a fractional number",
            )),
            _ => string_field(&obj, "provider_run_id")?,
        };

        let duration = match obj.get("duration") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match non_blank(s) {
                None => None,
                Some(s) => Some(
                    parse_duration(&s)
                        .map_err(|why| error::input(format!("field `duration`: {why}")))?,
                ),
            },
            Some(Value::Number(n)) => Some(json_seconds(n).map_err(|why| {
                error::input(format!("field `duration` must be a number of seconds {why}, found {n}"))
            })?),
            Some(other) => {
                return Err(error::input(format!(
                    "field `duration` must be a duration string like \"1m 30s\" or a number of seconds, found {}",
                    json_kind(other)
                )))
            }
        };

        let started_at = match obj.get("started_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match non_blank(s) {
                None => None,
                Some(s) => Some(
                    parse_timestamp(&s)
                        .map_err(|why| error::input(format!("field `started_at`: {why}")))?,
                ),
            },
            Some(other) => {
                return Err(error::input(format!(
                    "field `started_at` must be an RFC 3339 timestamp string like {TIMESTAMP_EXAMPLE}, found {}",
                    json_kind(other)
                )))
            }
        };

        Ok(BuildEvent {
            workflow: string_field(&obj, "workflow")?,
            state,
            branch: string_field(&obj, "branch")?,
            commit: string_field(&obj, "commit")?,
            run_url: string_field(&obj, "run_url")?,
            mesh_node_id: string_field(&obj, "mesh_node_id")?,
            provider_run_id,
            provider: string_field(&obj, "provider")?,
            repository: string_field(&obj, "repository")?,
            duration,
            started_at,
        })
    }

    /// Fills the fields `self` lacks from `lower` (flags over event file over CI env).
    pub fn overlay(self, lower: BuildEvent) -> BuildEvent {
        BuildEvent {
            workflow: self.workflow.or(lower.workflow),
            state: self.state.or(lower.state),
            branch: self.branch.or(lower.branch),
            commit: self.commit.or(lower.commit),
            run_url: self.run_url.or(lower.run_url),
            mesh_node_id: self.mesh_node_id.or(lower.mesh_node_id),
            provider_run_id: self.provider_run_id.or(lower.provider_run_id),
            provider: self.provider.or(lower.provider),
            repository: self.repository.or(lower.repository),
            duration: self.duration.or(lower.duration),
            started_at: self.started_at.or(lower.started_at),
        }
    }

    /// Checks the required fields (`workflow`, `state`); an input error (exit 4) names
    /// the missing ones.
    pub fn validate(self) -> anyhow::Result<ValidEvent> {
        let BuildEvent {
            workflow,
            state,
            branch,
            commit,
            run_url,
            mesh_node_id,
            provider_run_id,
            provider,
            repository,
            duration,
            started_at,
        } = self;
        // Blank strings can still arrive from code that builds an event directly.
        let workflow = workflow.and_then(|w| non_blank(&w));
        let (workflow, state) = match (workflow, state) {
            (Some(w), Some(s)) => (w, s),
            (None, Some(_)) => {
                return Err(error::input(
                    "event has no `workflow`: pass --workflow or set it in the event",
                ))
            }
            (Some(_), None) => {
                return Err(error::input(format!(
                    "event has no `state`: pass --state or set it in the event (one of {})",
                    State::allowed()
                )))
            }
            (None, None) => {
                return Err(error::input(
                    "event has no `workflow` and no `state`: pass --workflow and --state or set them in the event",
                ))
            }
        };
        Ok(ValidEvent {
            workflow,
            state,
            branch,
            commit,
            run_url,
            mesh_node_id,
            provider_run_id,
            provider,
            repository,
            duration,
            started_at,
        })
    }
}

/// Converts a JSON number of seconds; the error completes "must be a number of seconds".
fn json_seconds(n: &serde_json::Number) -> Result<Duration, &'static str> {
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

/// A build event with its required fields present.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidEvent {
    pub workflow: String,
    pub state: State,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub run_url: Option<String>,
    pub mesh_node_id: Option<String>,
    pub provider_run_id: Option<String>,
    pub provider: Option<String>,
    pub repository: Option<String>,
    pub duration: Option<Duration>,
    pub started_at: Option<Timestamp>,
}

impl ValidEvent {
    /// The normalized JSON form (absent fields left out; duration as humantime,
    /// `started_at` as RFC 3339 UTC); [`BuildEvent::from_json`] reads it back.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("workflow".into(), Value::from(self.workflow.as_str()));
        obj.insert("state".into(), Value::from(self.state.as_str()));
        let optional = [
            ("branch", &self.branch),
            ("commit", &self.commit),
            ("run_url", &self.run_url),
            ("mesh_node_id", &self.mesh_node_id),
            ("provider_run_id", &self.provider_run_id),
            ("provider", &self.provider),
            ("repository", &self.repository),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                obj.insert(name.into(), Value::from(v.as_str()));
            }
        }
        if let Some(d) = self.duration {
            obj.insert("duration".into(), Value::from(format_duration(d)));
        }
        if let Some(t) = self.started_at {
            obj.insert("started_at".into(), Value::from(t.format_rfc3339()));
        }
        Value::Object(obj)
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
            let v = <State as clap::ValueEnum>::to_possible_value(&st).unwrap();
            assert_eq!(v.get_name(), st.as_str());
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
    fn clap_parsers() {
        use clap::Parser;
        #[derive(Parser)]
        struct Args {
            #[arg(long)]
            state: State,
            #[arg(long, value_parser = parse_duration)]
            duration: Duration,
            #[arg(long, value_parser = parse_timestamp)]
            started_at: Timestamp,
        }
        let args = Args::try_parse_from([
            "x",
            "--state",
            "timed_out",
            "--duration",
            "90",
            "--started-at",
            "2026-11-23T14:00:00+02:00",
        ])
        .unwrap();
        assert_eq!(args.state, State::TimedOut);
        assert_eq!(args.duration, Duration::from_secs(90));
        assert_eq!(args.started_at, ts("2026-11-23T12:00:00Z"));
        let bad = [
            "x",
            "--state",
            "done",
            "--duration",
            "1s",
            "--started-at",
            "2026-11-23T12:00:00Z",
        ];
        let err = Args::try_parse_from(bad).err().unwrap();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        let bad = [
            "x",
            "--state",
            "failed",
            "--duration",
            "-1",
            "--started-at",
            "2026-11-23T12:00:00Z",
        ];
        assert!(Args::try_parse_from(bad).is_err());
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
