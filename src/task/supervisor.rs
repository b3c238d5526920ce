//! The supervisor of one `mmnotify run` command: spawn it in its own process
//! group, forward signals, enforce `--max-runtime`, wait for its output to drain
//! and say how it went.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::task::pump::Readers;
use crate::task::signals::SignalForwarding;
use crate::task::tail::Tail;
use crate::task::terminal::Terminal;
use crate::task::{
    Outcome, TaskResult, TaskSpec, EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_TIMEOUT,
};

/// How long to wait for the output pipes to close once the command has exited:
/// a background process it left behind (`daemon &`) may hold them open forever.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How often the supervisor looks at the child, the clock and pending signals:
/// the latency of a forwarded signal and the precision of `--max-runtime`.
const POLL: Duration = Duration::from_millis(10);

/// Run the command to its end and describe how it went. Never panics and never
/// fails: a command that cannot be started is a [`Outcome::Failure`] with exit 127
/// (not found) or 126 (anything else), whose error is also printed on stderr, as a
/// shell would, and is the only line of the tail.
///
/// Meant to run one at a time per process (it changes the process's signal
/// dispositions while the command runs); concurrent calls are safe but a signal
/// received meanwhile is forwarded to each of their commands.
pub(crate) fn run(spec: &TaskSpec) -> TaskResult {
    let started_at = SystemTime::now();
    let start = Instant::now();
    // Before the spawn, so that no signal in between kills mmnotify and orphans the
    // command (and loses the report).
    let signals = SignalForwarding::install();
    let child = match command(spec).spawn() {
        Ok(child) => child,
        Err(err) => return spawn_failure(spec, &err, started_at, start),
    };
    let mut supervisor = Supervisor::new(spec, child, signals, start);
    supervisor.supervise();
    supervisor.finish(spec, started_at)
}

/// The command in its own process group, its output piped to the readers.
fn command(spec: &TaskSpec) -> Command {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for name in &spec.env_remove {
        cmd.env_remove(name);
    }
    cmd.envs(spec.env_set.iter().map(|(k, v)| (k, v)));
    // No pre_exec needed: std resets SIGPIPE to its default and clears the signal
    // mask in the child, and exec resets the handlers installed by `run` to their
    // defaults (signals ignored when mmnotify started stay ignored, on purpose: see
    // `SignalForwarding`). The test `child_gets_default_signal_dispositions` checks.
    cmd
}

/// One running command and what is known about it so far.
struct Supervisor {
    child: Child,
    /// The command's process group (its leader's pid).
    pgid: libc::pid_t,
    terminal: Option<Terminal>,
    signals: SignalForwarding,
    readers: Readers,
    start: Instant,
    deadline: Option<Instant>,
    kill_grace: Duration,
    /// `Some` once the child has exited (see [`reap`]).
    status: Option<Option<ExitStatus>>,
    exited_at: Instant,
    timed_out: bool,
    /// When the timed-out group gets SIGKILL.
    kill_at: Option<Instant>,
    signal_received: Option<i32>,
}

impl Supervisor {
    fn new(
        spec: &TaskSpec,
        mut child: Child,
        signals: SignalForwarding,
        start: Instant,
    ) -> Supervisor {
        // The group to signal: a wrong value here could signal every process (-1).
        let pgid = libc::pid_t::try_from(child.id()).expect("std made the child id from a pid_t");
        let terminal = Terminal::hand_to(pgid);
        let readers = Readers::start(&mut child, Tail::new(spec.tail_lines, spec.tail_bytes));
        Supervisor {
            child,
            pgid,
            terminal,
            signals,
            readers,
            start,
            deadline: spec.max_runtime.map(|d| start + d),
            kill_grace: spec.kill_grace,
            status: None,
            exited_at: start,
            timed_out: false,
            kill_at: None,
            signal_received: None,
        }
    }

    /// Poll until the command has exited, its group is dead if it timed out, and
    /// its output is drained or given up on.
    fn supervise(&mut self) {
        loop {
            let now = Instant::now();
            if self.status.is_none() {
                self.watch_child(now);
            }
            self.kill_when_grace_is_over(now);
            if self.status.is_some() && self.may_stop(now) {
                break;
            }
            self.readers.wait(POLL);
        }
    }

    /// Forward new signals, notice the exit, and start the timeout's SIGTERM.
    fn watch_child(&mut self, now: Instant) {
        for sig in self.signals.take_new() {
            self.signal_received.get_or_insert(sig);
            signal_group(self.pgid, sig);
        }
        self.status = reap(&mut self.child);
        if self.status.is_some() {
            self.exited_at = now;
            // Give the terminal back at once (dropping it does): mmnotify may print
            // while it drains.
            self.terminal = None;
        } else if !self.timed_out && self.deadline.is_some_and(|d| now >= d) {
            self.timed_out = true;
            signal_group(self.pgid, libc::SIGTERM);
            self.kill_at = Some(now + self.kill_grace);
        }
    }

    fn kill_when_grace_is_over(&mut self, now: Instant) {
        if self.kill_at.is_some_and(|at| now >= at) {
            // The whole group, even if its leader has gone: a timeout aborts the
            // task, stragglers included.
            signal_group(self.pgid, libc::SIGKILL);
            self.kill_at = None;
        }
    }

    /// Once the command has exited: whether there is nothing left to wait for.
    fn may_stop(&self, now: Instant) -> bool {
        // Wait for the SIGKILL only if something of the timed-out group survives.
        let kill_pending = self.kill_at.is_some() && group_alive(self.pgid);
        // Never give up on output still being passed on: a slow reader of our
        // stdout (`… | less`) would lose the end of it.
        let given_up = now >= self.exited_at + DRAIN_GRACE && !self.readers.busy();
        !kill_pending && (self.readers.all_done() || given_up)
    }

    fn finish(self, spec: &TaskSpec, started_at: SystemTime) -> TaskResult {
        let Supervisor {
            terminal,
            signals,
            readers,
            start,
            status,
            exited_at,
            timed_out,
            signal_received,
            ..
        } = self;
        let tail = readers.finish();
        let duration = exited_at.duration_since(start);
        drop(terminal);
        drop(signals);
        let (outcome, exit_code) = match status.flatten() {
            _ if timed_out => (Outcome::Timeout, EXIT_TIMEOUT),
            Some(st) => outcome_of(st),
            // The child could not be waited for (not expected on Linux).
            None => (
                Outcome::Failure {
                    code: None,
                    signal: None,
                    spawn_error: None,
                },
                1,
            ),
        };
        TaskResult {
            outcome,
            exit_code,
            started_at,
            duration,
            tail,
            signal_received,
            max_runtime: spec.max_runtime,
        }
    }
}

fn outcome_of(status: ExitStatus) -> (Outcome, i32) {
    match (status.code(), status.signal()) {
        (Some(0), _) => (Outcome::Success, 0),
        (Some(code), _) => (
            Outcome::Failure {
                code: Some(code),
                signal: None,
                spawn_error: None,
            },
            code,
        ),
        (None, Some(sig)) => (
            Outcome::Failure {
                code: None,
                signal: Some(sig),
                spawn_error: None,
            },
            128 + sig,
        ),
        (None, None) => (
            Outcome::Failure {
                code: None,
                signal: None,
                spawn_error: None,
            },
            1,
        ),
    }
}

/// `Some(status)` once the child has exited, `Some(None)` if it cannot be waited for.
fn reap(child: &mut Child) -> Option<Option<ExitStatus>> {
    match child.try_wait() {
        Ok(Some(st)) => Some(Some(st)),
        Ok(None) => None,
        Err(err) if err.kind() == io::ErrorKind::Interrupted => None,
        Err(_) => Some(None),
    }
}

fn spawn_failure(
    spec: &TaskSpec,
    err: &io::Error,
    started_at: SystemTime,
    start: Instant,
) -> TaskResult {
    let exit_code = if err.kind() == io::ErrorKind::NotFound {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_EXECUTE
    };
    let reason = io_error_text(err);
    // The program name is the user's text and may be a pasted webhook URL.
    let program = spec.program.to_string_lossy();
    let line = format!(
        "mmnotify: cannot run `{}`: {reason}",
        crate::secret::scrub_hook_ids(&program)
    );
    (spec.say)(&line);
    TaskResult {
        outcome: Outcome::Failure {
            code: None,
            signal: None,
            spawn_error: Some(reason),
        },
        exit_code,
        started_at,
        duration: start.elapsed(),
        tail: vec![crate::text::sanitize::sanitize(line.as_bytes())],
        signal_received: None,
        max_runtime: spec.max_runtime,
    }
}

/// The OS's message without std's " (os error N)" suffix, which means nothing to a
/// reader of the report.
fn io_error_text(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

fn signal_group(pgid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions; a negative pid addresses the
    // process group, which the command leads (it was spawned with process_group(0)).
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// Whether a process of the group is still running. Zombies do not count: an
/// orphan killed by the timeout's SIGTERM stays a zombie until init reaps it, which
/// some container inits do only every second or so, while `kill(-pgid, 0)` still
/// finds it.
fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: as in `signal_group`; signal 0 only checks that the group exists.
    if unsafe { libc::kill(-pgid, 0) } != 0 {
        return false;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true;
    };
    procs.flatten().any(|entry| {
        let name = entry.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            return false;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // "pid (comm) state ppid pgrp …": comm may contain anything, even ") ".
        let Some((_, after)) = stat.rsplit_once(") ") else {
            return false;
        };
        let mut fields = after.split(' ');
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|f| f.parse::<libc::pid_t>().ok());
        pgrp == Some(pgid) && !matches!(state, Some("Z" | "X"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::fs::PermissionsExt;

    // These commands print nothing: `run` writes the command's output to the real
    // stdout/stderr, which the test harness does not capture. Tests with output are
    // in tests/run.rs, through the `wrap` binary.
    fn sh(script: &str) -> TaskSpec {
        TaskSpec::new("/bin/sh", ["-c", script])
    }

    #[test]
    fn exit_zero_is_success() {
        let r = run(&sh("exit 0"));
        assert_eq!(r.outcome, Outcome::Success);
        assert_eq!(r.exit_code, 0);
        assert!(r.tail.is_empty());
        assert_eq!(r.signal_received, None);
    }

    #[test]
    fn exit_code_is_passed_on() {
        let r = run(&sh("exit 3"));
        assert_eq!(
            r.outcome,
            Outcome::Failure {
                code: Some(3),
                signal: None,
                spawn_error: None
            }
        );
        assert_eq!(r.exit_code, 3);
    }

    #[test]
    fn death_by_signal_is_128_plus_n() {
        let r = run(&sh("kill -TERM $$"));
        assert_eq!(
            r.outcome,
            Outcome::Failure {
                code: None,
                signal: Some(15),
                spawn_error: None
            }
        );
        assert_eq!(r.exit_code, 143);
    }

    #[test]
    fn max_runtime_times_out_quickly() {
        let mut spec = sh("sleep 60");
        spec.max_runtime = Some(Duration::from_millis(200));
        let t = Instant::now();
        let r = run(&spec);
        assert_eq!(r.outcome, Outcome::Timeout);
        assert_eq!(r.exit_code, EXIT_TIMEOUT);
        assert_eq!(r.max_runtime, spec.max_runtime);
        // Far below the command's own 60 s: it was stopped, not waited for.
        assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
        assert!(r.duration >= Duration::from_millis(200));
    }

    #[test]
    fn term_ignoring_command_is_killed_after_grace() {
        let mut spec = sh("trap '' TERM; sleep 60");
        spec.max_runtime = Some(Duration::from_millis(100));
        spec.kill_grace = Duration::from_millis(300);
        let t = Instant::now();
        let r = run(&spec);
        assert_eq!(r.outcome, Outcome::Timeout);
        assert_eq!(r.exit_code, 124);
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(400), "{took:?}");
        assert!(took < Duration::from_secs(30), "{took:?}");
    }

    #[test]
    fn timeout_wins_over_a_clean_exit_on_term() {
        let mut spec = sh("trap 'exit 0' TERM; while :; do sleep 0.05; done");
        spec.max_runtime = Some(Duration::from_millis(150));
        let r = run(&spec);
        assert_eq!(r.outcome, Outcome::Timeout);
        assert_eq!(r.exit_code, 124);
    }

    #[test]
    fn missing_program_is_127() {
        let r = run(&TaskSpec::new("mmnotify-no-such-program", ["x"]));
        assert_eq!(r.exit_code, EXIT_NOT_FOUND);
        assert_eq!(
            r.outcome,
            Outcome::Failure {
                code: None,
                signal: None,
                spawn_error: Some("No such file or directory".into())
            }
        );
        assert_eq!(
            r.tail,
            ["mmnotify: cannot run `mmnotify-no-such-program`: No such file or directory"]
        );
    }

    #[test]
    fn a_hook_url_as_the_program_is_not_repeated() {
        let id = "pq3wxk8bmjsyr9cn5ue7tdo1ha";
        let r = run(&TaskSpec::new(
            format!("/nonexistent/hooks/{id}"),
            Vec::<OsString>::new(),
        ));
        assert_eq!(r.exit_code, EXIT_NOT_FOUND);
        assert!(!r.tail[0].contains(id), "{:?}", r.tail);
        assert!(r.tail[0].contains("/hooks/…o1ha"), "{:?}", r.tail);
    }

    #[test]
    fn non_executable_file_is_126() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("script.sh");
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let r = run(&TaskSpec::new(path.as_os_str(), Vec::<OsString>::new()));
        assert_eq!(r.exit_code, EXIT_CANNOT_EXECUTE);
        assert!(matches!(
            r.outcome,
            Outcome::Failure { spawn_error: Some(ref e), .. } if e == "Permission denied"
        ));
        assert!(r.tail[0].contains("Permission denied"), "{:?}", r.tail);
    }

    #[test]
    fn child_gets_default_signal_dispositions() {
        // Rust ignores SIGPIPE in its own processes; the command must not inherit
        // that (`yes | head` would never end) nor a blocked signal mask.
        let r = run(&sh(r"
            ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)
            blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/$$/status)
            [ $(( 0x$ign & 0x1000 )) -eq 0 ] || exit 10
            [ $(( 0x$blk )) -eq 0 ] || exit 11
        "));
        assert_eq!(r.exit_code, 0, "{r:?}");
    }
}
