//! What goes to stdout and stderr: the outcome object of `--output json`, `-v` lines and
//! warnings. Diagnostics are redacted where they are made, and once more here: both
//! writers take out every hook id and every token this process holds, so that an echo
//! of untrusted text (an event field, a file name, a library error) cannot leak one.

use std::io::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::pipeline::progress;
use crate::wire::deliver::{Delivery, RestAnswer};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    pub(crate) json: bool,
    pub(crate) verbose: bool,
    pub(crate) quiet: bool,
    pub(crate) names: Names,
}

/// Whose names the messages quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Names {
    /// Names mmnotify made or was given on its command line.
    Ours,
    /// Names that anyone who could write a file chose (`flush`'s spool items): a run of
    /// 26 id characters in them is shortened like a bare token.
    Untrusted,
}

impl Printer {
    /// For messages that quote file names and sources read from the spool: a name made
    /// of a token is no id mmnotify writes (its runs of digits are 13 long at most).
    pub(crate) fn quoting_untrusted_names(self) -> Printer {
        Printer {
            names: Names::Untrusted,
            ..self
        }
    }

    fn shown<'m>(&self, msg: &'m str) -> std::borrow::Cow<'m, str> {
        if self.names == Names::Untrusted {
            // Control characters too: an escape sequence in a name would rewrite what
            // the terminal shows.
            let msg = crate::secret::redact_id_runs(msg);
            if msg.contains(char::is_control) {
                return std::borrow::Cow::Owned(
                    msg.chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .collect(),
                );
            }
            msg
        } else {
            std::borrow::Cow::Borrowed(msg)
        }
    }

    pub(crate) fn warn(&self, msg: &str) {
        if !self.quiet {
            print_stderr_line(&format!("mmnotify: warning: {}", self.shown(msg)));
        }
    }

    pub(crate) fn info(&self, msg: &str) {
        if self.verbose {
            print_stderr_line(&format!("mmnotify: {}", self.shown(msg)));
        }
    }

    /// One outcome of several (a line of `build --events`), only with `--output json`.
    /// A command's single outcome goes back to `main` instead, in its [`Ending`].
    pub(crate) fn outcome(&self, outcome: &Outcome) {
        // Not built at all in text mode: `build --events` calls this once per line.
        if self.json {
            self.json_line(&outcome.to_json());
        }
    }

    /// A JSON row that is not an outcome (`webhooks`' list), only with `--output json`.
    pub(crate) fn json_line(&self, value: &Value) {
        if self.json {
            print_stdout_line(&value.to_string());
        }
    }

    /// A payload that was not sent: printed now as is, or, with `--output json`, carried
    /// inside the outcome so that stdout stays one JSON object.
    pub(crate) fn dry_run(&self, payload: &Value, outcome: Outcome) -> Outcome {
        if self.json {
            outcome.with("payload", payload.clone())
        } else {
            print_stdout_line(&payload.to_string());
            outcome
        }
    }
}

/// What handling one post or event gives back, the one shape for it: the outcome, and
/// the error that decides the exit code when it was not posted.
pub(crate) type Handled = (Outcome, Option<anyhow::Error>);

/// How a command ended, handed to `main`, which prints what is left and exits. Because
/// the value says whether an outcome is still to be printed, `--output json` prints
/// exactly one object per outcome on every path. Not [`Handled`]: a command may have no
/// outcome left to print (it printed its own lines) and may exit with a code no error
/// gives (`run` passes on its job's); a command with one [`Handled`] ends with it
/// (`Ending::from`).
#[derive(Debug)]
#[must_use]
pub struct Ending {
    /// The outcome `main` prints under `--output json` (with the final exit code filled
    /// in); `None` when the command printed its own JSON lines (`build --events`, lists).
    pub outcome: Option<Outcome>,
    /// Why the command failed: `main` prints it on stderr and exits with its code.
    pub error: Option<anyhow::Error>,
    /// The exit code when there is no error (`run` passes on its job's).
    pub code: u8,
}

impl From<Handled> for Ending {
    fn from((outcome, error): Handled) -> Ending {
        Ending::outcome(outcome, error)
    }
}

impl Ending {
    /// One outcome, and the error that goes with it if it failed.
    pub(crate) fn outcome(outcome: Outcome, error: Option<anyhow::Error>) -> Ending {
        Ending {
            outcome: Some(outcome),
            error,
            code: 0,
        }
    }

    /// The command printed everything itself (or has nothing to report).
    pub(crate) fn printed(result: anyhow::Result<u8>) -> Ending {
        match result {
            Ok(code) => Ending {
                outcome: None,
                error: None,
                code,
            },
            Err(e) => Ending {
                outcome: None,
                error: Some(e),
                code: 0,
            },
        }
    }
}

/// Whether a command line clap refused asked for `--output json` (`-o json`,
/// `--output=json`, `-ojson`): its usage error is then reported as a JSON outcome too.
/// Words after `--` belong to a wrapped command or the text, not to mmnotify.
pub fn json_requested<I, S>(args: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut flag_before = false;
    for arg in args {
        let arg = arg.as_ref().to_string_lossy();
        if arg == "--" {
            return false;
        }
        let wants = matches!(arg.as_ref(), "--output=json" | "-ojson" | "-o=json")
            || (flag_before && arg == "json");
        if wants {
            return true;
        }
        flag_before = matches!(arg.as_ref(), "--output" | "-o");
    }
    false
}

/// Writes a line to stdout, ignoring a closed pipe (`mmnotify … | head`). The line may
/// echo what the user gave (an event, a payload): a token pasted into one of its fields
/// is taken out here (the post itself was refused, exit 4). A JSON line is scrubbed
/// string by string, so that it stays JSON.
pub fn print_stdout_line(line: &str) {
    write_stdout_line(&mut std::io::stdout().lock(), line);
}

fn write_stdout_line(out: &mut impl Write, line: &str) {
    let line = crate::secret::scrub_secrets_json(line);
    write_dropping_errors(out, &[line.as_bytes(), b"\n"]);
}

/// Writes a diagnostic line to stderr, ignoring a closed pipe. A progress bar on screen
/// is hidden meanwhile, so the line gets a line of its own.
pub fn print_stderr_line(line: &str) {
    progress::suspend(|| write_stderr_line(&mut std::io::stderr().lock(), line));
}

/// Diagnostics quote paths, library errors, server text and job output, so every hook id
/// and token left in them is redacted here, the last step before the terminal or log;
/// and they are mmnotify's own words, so their symbols follow the locale.
fn write_stderr_line(out: &mut impl Write, line: &str) {
    let line = crate::secret::scrub_secrets(line);
    let line = super::locale::fit(&line);
    write_dropping_errors(out, &[line.as_bytes(), b"\n"]);
}

/// Writes bytes as they are to stdout (a completion script), ignoring a closed pipe.
pub(crate) fn print_stdout_bytes(bytes: &[u8]) {
    write_dropping_errors(std::io::stdout().lock(), &[bytes]);
}

/// The one place that writes to stdout or stderr. `println!`/`eprintln!` panic on a
/// closed pipe, and with `panic = "abort"` that would kill a delivery halfway; a reader
/// that went away (`| head`, `2>&-`) is its choice, so the output is dropped and the
/// exit code stays the delivery's.
fn write_dropping_errors(mut out: impl Write, parts: &[&[u8]]) {
    for part in parts {
        if out.write_all(part).is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// What became of a post (or of a whole command), as `status` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Posted,
    Duplicate,
    Filtered,
    Spooled,
    Failed,
    DryRun,
    /// `flush` left nothing to retry.
    Flushed,
    /// `doctor` found every check passing.
    Ok,
    /// `build --enqueue`: Redis acknowledged the event.
    Enqueued,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Posted => "posted",
            Status::Duplicate => "duplicate",
            Status::Filtered => "filtered",
            Status::Spooled => "spooled",
            Status::Failed => "failed",
            Status::DryRun => "dry-run",
            Status::Flushed => "flushed",
            Status::Ok => "ok",
            Status::Enqueued => "enqueued",
        }
    }
}

/// The keys every outcome object has, `null` where they do not apply, so that a script
/// can read any of them without first checking which path the command took.
#[cfg(test)]
const OUTCOME_KEYS: [&str; 8] = [
    "status",
    "exit_code",
    "http_status",
    "error_id",
    "attempts",
    "elapsed_ms",
    "target",
    "message",
];

/// The `--output json` object of the contract, written and read by serde. Every key is
/// always written (`null` where it does not apply). Reading is lenient key by key (an
/// outcome another mmnotify printed, the run socket's answer): a key of the wrong type
/// reads as absent, an unknown status as `failed`, and keys not in the schema are kept
/// in `extra`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// First, so that a schema key written after it wins over an extra of the same name:
    /// extras add to the schema, they never replace one of its keys.
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
    #[serde(default = "failed", deserialize_with = "lenient_status")]
    pub(crate) status: Status,
    /// Filled in by whoever knows the final code: `main` for a command's outcome, the
    /// stream for each of its lines.
    #[serde(default, deserialize_with = "lenient")]
    pub exit_code: Option<u8>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) http_status: Option<u16>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) error_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) attempts: Option<u32>,
    #[serde(rename = "elapsed_ms", default, with = "elapsed_ms")]
    pub(crate) elapsed: Option<Duration>,
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) target: Option<String>,
    /// What went wrong, in the words of the diagnostic on stderr.
    #[serde(default, deserialize_with = "lenient")]
    pub message: Option<String>,
}

fn failed() -> Status {
    Status::Failed
}

fn lenient_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
    Ok(Status::deserialize(Value::deserialize(d)?).unwrap_or(Status::Failed))
}

fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// `elapsed_ms`: whole milliseconds.
mod elapsed_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    // serde's `with` hands the field over by reference, as it is.
    #[allow(clippy::ref_option)]
    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&crate::text::time::millis(*d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Value::deserialize(d)?.as_u64().map(Duration::from_millis))
    }
}

impl Outcome {
    pub fn new(status: Status) -> Outcome {
        Outcome {
            status,
            exit_code: None,
            http_status: None,
            attempts: None,
            elapsed: None,
            target: None,
            error_id: None,
            message: None,
            extra: Map::new(),
        }
    }

    /// A command that failed before it had anything else to report.
    pub fn failure(message: &str, exit_code: u8) -> Outcome {
        let mut o = Outcome::new(Status::Failed);
        o.message = Some(message.to_string());
        o.exit_code = Some(exit_code);
        o
    }

    /// `posted` or `failed` from a delivery, with everything the contract lists.
    /// `target`: the redacted webhook URL, or the bot and its channel.
    pub(crate) fn from_delivery(d: &Delivery, target: &impl std::fmt::Display) -> Outcome {
        Outcome {
            status: if d.is_success() {
                Status::Posted
            } else {
                Status::Failed
            },
            http_status: d.http_status,
            attempts: Some(d.attempts),
            elapsed: Some(d.elapsed),
            target: Some(target.to_string()),
            error_id: d.error_id().map(str::to_string),
            message: d.result.as_ref().err().map(|e| e.message.clone()),
            ..Outcome::new(Status::Failed)
        }
    }

    /// With the server's answer `err` is about, if it says (a bot refused while its
    /// token is checked or its channel found): a command that stopped on it reports it.
    #[must_use]
    pub fn answered_by(mut self, err: &anyhow::Error) -> Outcome {
        if let Some(a) = crate::error::answer_of(err) {
            self.http_status = a.http_status;
            self.error_id.clone_from(&a.error_id);
            self.attempts = Some(a.attempts);
        }
        self
    }

    /// An outcome another mmnotify printed (the run socket's answer), read back.
    pub(crate) fn from_json(v: &Value) -> Outcome {
        Outcome::deserialize(v).unwrap_or_else(|_| Outcome::new(Status::Failed))
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> Outcome {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// Final for the job's history (contract, "Job history"): posted, filtered, or
    /// rejected by the server ([`crate::wire::retry::rejected`]). Not a duplicate or a dry
    /// run (they change nothing), nor a spooled or retryable failure (recorded once it is
    /// finally posted).
    pub(crate) fn is_final(&self) -> bool {
        match self.status {
            Status::Posted | Status::Filtered => true,
            Status::Failed => crate::wire::retry::rejected(self.http_status),
            _ => false,
        }
    }

    pub fn to_json(&self) -> Value {
        // Cannot fail: strings, numbers and a string-keyed map.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The `-v` line for a delivery (`target`: the redacted webhook URL, or the bot and its
/// channel).
pub(crate) fn describe_delivery(d: &Delivery, url: &impl std::fmt::Display) -> String {
    format!(
        "{} {}: HTTP {} after {} attempt{} in {} ms",
        if d.is_success() {
            "posted to"
        } else {
            "failed to post to"
        },
        url,
        d.http_status.map_or_else(|| "-".into(), |s| s.to_string()),
        d.attempts,
        if d.attempts == 1 { "" } else { "s" },
        d.elapsed.as_millis()
    )
}

/// The `-v` line for one REST write of a bot event (the token is never in a path).
pub(crate) fn describe_rest_write(a: &RestAnswer) -> String {
    format!(
        "{} /api/v4{}: HTTP {} after {} attempt{} in {} ms",
        a.method.as_str(),
        a.path,
        a.status.map_or_else(|| "-".into(), |s| s.to_string()),
        a.attempts,
        if a.attempts == 1 { "" } else { "s" },
        a.elapsed.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each kind of text mmnotify did not write, as it reaches the writers. The scrub in
    /// the writers is the last line: this test is what fails if it is taken out.
    #[test]
    fn the_writers_take_every_token_out_of_untrusted_text() {
        // Held by this process, as after resolving the webhook (a token of this test's
        // own: unit tests share the process).
        const OWN: &str = "m2c8xq4wz7bk1nd5vh9rt3jf6y";
        const FOREIGN: &str = "pq3wxk8bmjsyr9cn5ue7tdo1ha";
        crate::secret::WebhookUrl::parse(&format!("https://chat.example.com/hooks/{OWN}")).unwrap();
        let untrusted = [
            (
                "spool file name",
                format!("/state/spool/2-{OWN}.json is not trusted"),
            ),
            (
                "source ref",
                format!("its webhook (name:{OWN}) cannot be resolved now"),
            ),
            (
                "server error id",
                format!("HTTP 400: web.incoming_webhook.invalid.app_error /hooks/{FOREIGN}"),
            ),
            (
                "library error",
                format!("http://127.0.0.1:9/hooks/{OWN}: Connection refused (os error 111)"),
            ),
            (
                "job output",
                format!("curl -d @m https://x.example/HOOKS/{FOREIGN}"),
            ),
            ("event echo", format!(r#"{{"event":{{"branch":"{OWN}"}}}}"#)),
        ];
        for (kind, text) in untrusted {
            for (writer, write) in [
                ("stderr", write_stderr_line as fn(&mut Vec<u8>, &str)),
                ("stdout", write_stdout_line),
            ] {
                let mut out = Vec::new();
                write(&mut out, &text);
                let out = String::from_utf8(out).unwrap();
                assert!(
                    !out.contains(OWN) && !out.contains(FOREIGN),
                    "{kind} leaks through the {writer} writer: {out}"
                );
                assert!(out.contains("…"), "{kind}: {out}");
            }
        }
        let mut out = Vec::new();
        write_stdout_line(&mut out, &format!(r#"{{"branch":"{OWN}"}}"#));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["branch"], "…jf6y", "JSON stays JSON");
    }

    #[test]
    fn every_outcome_has_every_key() {
        let v = Outcome::new(Status::Filtered)
            .with("event", json!({}))
            .to_json();
        for key in OUTCOME_KEYS {
            assert!(v.get(key).is_some(), "{key} missing from {v}");
        }
        assert_eq!(v["status"], "filtered");
        assert!(v["attempts"].is_null() && v["message"].is_null());
    }

    #[test]
    fn statuses_serialize_to_the_contract_strings() {
        for status in [
            Status::Posted,
            Status::Duplicate,
            Status::Filtered,
            Status::Spooled,
            Status::Failed,
            Status::DryRun,
            Status::Flushed,
            Status::Ok,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn json_is_found_in_a_refused_command_line() {
        let yes: [&[&str]; 4] = [
            &["send", "--output", "json", "--bogus"],
            &["send", "--output=json"],
            &["build", "-o", "json", "--state", "nope"],
            &["probe", "-ojson"],
        ];
        for args in yes {
            assert!(json_requested(args), "{args:?}");
        }
        let no: [&[&str]; 3] = [
            &["send", "--output", "text", "json"],
            &["run", "--", "tool", "--output", "json"],
            &["send", "json"],
        ];
        for args in no {
            assert!(!json_requested(args), "{args:?}");
        }
    }

    #[test]
    fn outcomes_survive_the_run_socket() {
        let mut o = Outcome::new(Status::Spooled).with("spool_file", "x.json");
        o.http_status = Some(503);
        o.attempts = Some(4);
        o.elapsed = Some(Duration::from_millis(12));
        o.message = Some("retries ran out".into());
        let back = Outcome::from_json(&o.to_json());
        assert_eq!(back.to_json(), o.to_json());
        assert_eq!(
            Outcome::from_json(&json!({"status": "odd"})).status,
            Status::Failed
        );
    }

    #[test]
    fn extras_never_replace_a_schema_key_and_bad_keys_read_as_absent() {
        let o = Outcome::new(Status::Posted)
            .with("status", "forged")
            .with("line", 3);
        let v = o.to_json();
        assert_eq!(v["status"], "posted");
        assert_eq!(v["line"], 3);
        let back = Outcome::from_json(&json!({
            "status": "duplicate", "exit_code": 300, "http_status": "503",
            "elapsed_ms": -1, "target": 7, "entry_id": "1-0"
        }));
        assert_eq!(back.status, Status::Duplicate);
        assert_eq!(
            (back.exit_code, back.http_status, back.elapsed, back.target),
            (None, None, None, None)
        );
        assert_eq!(back.extra.get("entry_id"), Some(&json!("1-0")));
        assert!(!back.extra.contains_key("status"));
    }
}
