//! Running the command of `mmnotify run`: output passed through as it comes and
//! tailed for the report, signals to mmnotify forwarded, `--max-runtime` enforced.
//!
//! The command runs in its own process group so that a timeout or a forwarded
//! signal reaches everything it started (a shell's children, `make -j` jobs), not
//! only its first process. The price is that the terminal's Ctrl-C no longer reaches
//! it directly: mmnotify catches SIGINT/SIGTERM/SIGHUP/SIGQUIT and forwards them, and
//! when mmnotify owns the terminal it hands the foreground to the command's group
//! (so it can read the terminal, e.g. a `sudo` password prompt).

mod pump;
mod signals;
pub(crate) mod socket;
mod supervisor;
pub(crate) mod tail;
pub(crate) mod task_report;
mod terminal;

use std::ffi::OsString;
use std::time::{Duration, SystemTime};

pub(crate) use supervisor::run;
#[cfg(test)]
use tail::DEFAULT_MAX_BYTES;

/// Exit code of a timed-out command, as `timeout(1)` uses it.
pub(crate) const EXIT_TIMEOUT: i32 = 124;
/// Exit code when the program exists but cannot be executed (shell convention).
pub(crate) const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit code when the program is not found (shell convention).
pub(crate) const EXIT_NOT_FOUND: i32 = 127;

#[derive(Debug, Clone)]
pub(crate) struct TaskSpec {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub max_runtime: Option<Duration>,
    pub kill_grace: Duration,
    pub tail_lines: usize,
    pub tail_bytes: usize,
    /// Variables the command must not inherit (secrets).
    pub env_remove: Vec<OsString>,
    /// Variables set for the command only.
    pub env_set: Vec<(OsString, OsString)>,
    /// Where mmnotify's own lines go (the caller's one writer to stderr): handed in, so
    /// that `task/` does not reach up into the output object.
    pub say: fn(&str),
}

#[cfg(test)]
impl TaskSpec {
    /// A spec with the CLI's defaults: no time limit, 10 s kill grace, 10 lines in
    /// at most [`DEFAULT_MAX_BYTES`].
    pub(crate) fn new<I, A>(program: impl Into<OsString>, args: I) -> TaskSpec
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        TaskSpec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            max_runtime: None,
            kill_grace: Duration::from_secs(10),
            tail_lines: 10,
            tail_bytes: DEFAULT_MAX_BYTES,
            env_remove: Vec::new(),
            env_set: Vec::new(),
            say: |line| eprintln!("{line}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure {
        /// The exit code, when the command exited by itself with a non-zero code.
        code: Option<i32>,
        /// The signal that killed the command.
        signal: Option<i32>,
        /// Why the command could not be started, e.g. "No such file or directory".
        spawn_error: Option<String>,
    },
    Timeout,
}

impl Outcome {
    /// The name used by `--on` and in the post's props.
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure { .. } => "failure",
            Outcome::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TaskResult {
    pub outcome: Outcome,
    /// What mmnotify should exit with: the command's code, 128+N for signal N, 124
    /// for a timeout, 127/126 when it could not be started.
    pub exit_code: i32,
    pub started_at: SystemTime,
    pub duration: Duration,
    /// The last lines of output, cleaned by [`crate::text::sanitize::sanitize`].
    pub tail: Vec<String>,
    /// The first SIGINT/SIGTERM/SIGHUP/SIGQUIT mmnotify received and forwarded to the
    /// command, if any.
    pub signal_received: Option<i32>,
    /// The spec's `max_runtime`, so a report can say "timed out after 5m".
    pub max_runtime: Option<Duration>,
}
