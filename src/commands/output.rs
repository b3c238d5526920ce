//! What goes to stdout and stderr: the outcome object of `--output json`, `-v` lines and
//! warnings. Diagnostics are already redacted by the time they get here.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::cli::{OutputArgs, OutputFormat};
use crate::commands::progress;
use crate::secret::WebhookUrl;
use crate::wire::deliver::Delivery;

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub json: bool,
    pub verbose: bool,
    pub quiet: bool,
}

impl Printer {
    pub fn new(args: &OutputArgs) -> Printer {
        Printer {
            json: args.output == OutputFormat::Json,
            verbose: args.verbose,
            quiet: args.quiet,
        }
    }

    pub fn warn(&self, msg: &str) {
        if !self.quiet {
            print_stderr_line(&format!("mmnotify: warning: {msg}"));
        }
    }

    pub fn info(&self, msg: &str) {
        if self.verbose {
            print_stderr_line(&format!("mmnotify: {msg}"));
        }
    }

    /// One JSON object per line on stdout, only with `--output json`.
    pub fn outcome(&self, outcome: &Outcome) {
        self.json_line(&outcome.to_json());
    }

    /// Any JSON object for `--output json` (doctor's checks, flush's summary).
    pub fn json_line(&self, value: &Value) {
        if self.json {
            OUTCOME_PRINTED.store(true, Ordering::Relaxed);
            print_stdout_line(&value.to_string());
        }
    }

    /// A payload that was not sent: printed as is, or inside the outcome object with
    /// `--output json` so that stdout stays one JSON object.
    pub fn dry_run(&self, payload: &Value, outcome: Outcome) {
        if self.json {
            self.outcome(&outcome.with("payload", payload.clone()));
        } else {
            print_stdout_line(&payload.to_string());
        }
    }
}

static OUTCOME_PRINTED: AtomicBool = AtomicBool::new(false);

/// Whether an outcome object was printed; `main` prints one for errors that stopped a
/// command before it could.
pub fn outcome_printed() -> bool {
    OUTCOME_PRINTED.load(Ordering::Relaxed)
}

/// The outcome object of a command that failed before delivering anything.
pub fn early_failure(message: &str, exit_code: u8) -> Value {
    let mut o = Outcome::new("failed");
    o.error = Some(message.to_string());
    o.with("exit_code", exit_code).to_json()
}

/// Writes a line to stdout, ignoring a closed pipe (`mmnotify … | head`).
pub fn print_stdout_line(line: &str) {
    write_dropping_errors(std::io::stdout().lock(), &[line.as_bytes(), b"\n"]);
}

/// Writes a diagnostic line to stderr, ignoring a closed pipe. Diagnostics quote paths,
/// library errors and server text, so any hook id left in them is redacted here too; and
/// they are mmnotify's own words, so their symbols follow the locale. A progress bar on
/// screen is hidden meanwhile, so the line gets a line of its own.
pub fn print_stderr_line(line: &str) {
    let line = crate::secret::scrub_hook_ids(line);
    let line = super::locale::fit(&line);
    progress::suspend(|| {
        write_dropping_errors(std::io::stderr().lock(), &[line.as_bytes(), b"\n"]);
    });
}

/// Writes bytes as they are to stdout (a completion script), ignoring a closed pipe.
pub fn print_stdout_bytes(bytes: &[u8]) {
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

/// The `--output json` object of the contract.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status: &'static str,
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub elapsed: Duration,
    pub target: Option<String>,
    pub error_id: Option<String>,
    pub error: Option<String>,
    pub extra: Map<String, Value>,
}

impl Outcome {
    pub fn new(status: &'static str) -> Outcome {
        Outcome {
            status,
            ..Default::default()
        }
    }

    /// `posted` or `failed` from a delivery, with everything the contract lists.
    pub fn from_delivery(d: &Delivery, url: &WebhookUrl) -> Outcome {
        Outcome {
            status: if d.is_success() { "posted" } else { "failed" },
            http_status: d.http_status,
            attempts: d.attempts,
            elapsed: d.elapsed,
            target: Some(url.redacted()),
            error_id: d.error_id().map(str::to_string),
            error: d.result.as_ref().err().map(|e| e.message.clone()),
            extra: Map::new(),
        }
    }

    /// An outcome another mmnotify printed (the run socket's answer), read back.
    pub fn from_json(v: &Value) -> Outcome {
        let status = match v.get("status").and_then(Value::as_str) {
            Some("posted") => "posted",
            Some("duplicate") => "duplicate",
            Some("filtered") => "filtered",
            Some("spooled") => "spooled",
            Some("dry-run") => "dry-run",
            _ => "failed",
        };
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let known = [
            "status",
            "http_status",
            "attempts",
            "elapsed_ms",
            "target",
            "error_id",
            "error",
        ];
        let extra = v
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !known.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Outcome {
            status,
            http_status: v
                .get("http_status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok()),
            attempts: v
                .get("attempts")
                .and_then(Value::as_u64)
                .and_then(|a| u32::try_from(a).ok())
                .unwrap_or(0),
            elapsed: Duration::from_millis(
                v.get("elapsed_ms").and_then(Value::as_u64).unwrap_or(0),
            ),
            target: text("target"),
            error_id: text("error_id"),
            error: text("error"),
            extra,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Outcome {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), json!(self.status));
        m.insert("http_status".into(), json!(self.http_status));
        m.insert("attempts".into(), json!(self.attempts));
        m.insert("elapsed_ms".into(), json!(self.elapsed.as_millis() as u64));
        m.insert("target".into(), json!(self.target));
        m.insert("error_id".into(), json!(self.error_id));
        if let Some(e) = &self.error {
            m.insert("error".into(), json!(e));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// The `-v` line for a delivery.
pub fn describe_delivery(d: &Delivery, url: &WebhookUrl) -> String {
    format!(
        "{} {}: HTTP {} after {} attempt{} in {} ms",
        if d.is_success() {
            "posted to"
        } else {
            "failed to post to"
        },
        url,
        d.http_status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
        d.attempts,
        if d.attempts == 1 { "" } else { "s" },
        d.elapsed.as_millis()
    )
}
