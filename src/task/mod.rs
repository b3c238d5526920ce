//! Running the command of `mmnotify run`: output passed through as it comes and
//! tailed for the report, signals to mmnotify forwarded, `--max-runtime` enforced.
//!
//! The command runs in its own process group so that a timeout or a forwarded
//! signal reaches everything it started (a shell's children, `make -j` jobs), not
//! only its first process. The price is that the terminal's Ctrl-C no longer reaches
//! it directly: mmnotify catches SIGINT/SIGTERM/SIGHUP/SIGQUIT and forwards them, and
//! when mmnotify owns the terminal it hands the foreground to the command's group
//! (so it can read the terminal, e.g. a `sudo` password prompt).

pub mod socket;
pub mod tail;
pub mod task_report;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::task::tail::{Source, Tail, DEFAULT_MAX_BYTES};

/// How long to wait for the output pipes to close once the command has exited:
/// a background process it left behind (`daemon &`) may hold them open forever.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How often the supervisor looks at the child, the clock and pending signals:
/// the latency of a forwarded signal and the precision of `--max-runtime`.
const POLL: Duration = Duration::from_millis(10);

/// Big enough for few system calls on a fast producer, small enough that mmnotify's
/// memory stays flat.
const READ_BUF: usize = 32 * 1024;

/// Exit code of a timed-out command, as `timeout(1)` uses it.
pub const EXIT_TIMEOUT: i32 = 124;
/// Exit code when the program exists but cannot be executed (shell convention).
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit code when the program is not found (shell convention).
pub const EXIT_NOT_FOUND: i32 = 127;

#[derive(Debug, Clone)]
pub struct TaskSpec {
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
}

impl TaskSpec {
    /// A spec with the CLI's defaults: no time limit, 10 s kill grace, 10 lines in
    /// at most [`DEFAULT_MAX_BYTES`].
    pub fn new<I, A>(program: impl Into<OsString>, args: I) -> TaskSpec
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
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
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
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure { .. } => "failure",
            Outcome::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TaskResult {
    pub outcome: Outcome,
    /// What mmnotify should exit with: the command's code, 128+N for signal N, 124
    /// for a timeout, 127/126 when it could not be started.
    pub exit_code: i32,
    pub started_at: SystemTime,
    pub duration: Duration,
    /// The last lines of output, cleaned by [`crate::task::tail::sanitize`].
    pub tail: Vec<String>,
    /// The first SIGINT/SIGTERM/SIGHUP/SIGQUIT mmnotify received and forwarded to the
    /// command, if any.
    pub signal_received: Option<i32>,
    /// The spec's `max_runtime`, so a report can say "timed out after 5m".
    pub max_runtime: Option<Duration>,
}

/// Run the command to its end and describe how it went. Never panics and never
/// fails: a command that cannot be started is a [`Outcome::Failure`] with exit 127
/// (not found) or 126 (anything else), whose error is also printed on stderr, as a
/// shell would, and is the only line of the tail.
///
/// Meant to run one at a time per process (it changes the process's signal
/// dispositions while the command runs); concurrent calls are safe but a signal
/// received meanwhile is forwarded to each of their commands.
pub fn run(spec: &TaskSpec) -> TaskResult {
    let started_at = SystemTime::now();
    let start = Instant::now();
    // Before the spawn, so that no signal in between kills mmnotify and orphans the
    // command (and loses the report).
    let mut signals = SignalForwarding::install();

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
    // mask in the child, and exec resets the handlers installed above to their
    // defaults (signals ignored when mmnotify started stay ignored, on purpose: see
    // `SignalForwarding`). The test `child_gets_default_signal_dispositions` checks.
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => return spawn_failure(spec, &err, started_at, start),
    };
    let pgid = child.id() as libc::pid_t;
    let mut terminal = Terminal::hand_to(pgid);

    let shared = Arc::new(Shared {
        tail: Mutex::new(Tail::new(spec.tail_lines, spec.tail_bytes)),
        abandoned: AtomicBool::new(false),
        busy: AtomicUsize::new(0),
    });
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut readers = 0;
    if let Some(out) = child.stdout.take() {
        readers += start_reader(out, Source::Stdout, &shared, &done_tx);
    }
    if let Some(err) = child.stderr.take() {
        readers += start_reader(err, Source::Stderr, &shared, &done_tx);
    }
    drop(done_tx);

    let deadline = spec.max_runtime.map(|d| start + d);
    let mut status: Option<Option<ExitStatus>> = None;
    let mut exited_at = start;
    let mut timed_out = false;
    let mut kill_at: Option<Instant> = None;
    let mut signal_received = None;

    loop {
        let now = Instant::now();
        if status.is_none() {
            for sig in signals.take_new() {
                signal_received.get_or_insert(sig);
                signal_group(pgid, sig);
            }
            status = reap(&mut child);
            if status.is_some() {
                exited_at = now;
                // Give the terminal back at once (dropping it does): mmnotify may print
                // while it drains.
                terminal = None;
            } else if !timed_out && deadline.is_some_and(|d| now >= d) {
                timed_out = true;
                signal_group(pgid, libc::SIGTERM);
                kill_at = Some(now + spec.kill_grace);
            }
        }
        if let Some(at) = kill_at {
            if now >= at {
                // The whole group, even if its leader has gone: a timeout aborts the
                // task, stragglers included.
                signal_group(pgid, libc::SIGKILL);
                kill_at = None;
            }
        }
        if status.is_some() {
            // Wait for the SIGKILL only if something of the timed-out group survives.
            let kill_pending = kill_at.is_some() && group_alive(pgid);
            // Never give up on output still being passed on: a slow reader of our
            // stdout (`… | less`) would lose the end of it.
            let given_up =
                now >= exited_at + DRAIN_GRACE && shared.busy.load(Ordering::SeqCst) == 0;
            if !kill_pending && (readers == 0 || given_up) {
                break;
            }
        }
        match done_rx.recv_timeout(POLL) {
            Ok(()) => readers -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                readers = 0;
                // Nothing left to wake us: sleep instead of spinning.
                thread::sleep(POLL);
            }
        }
    }
    if readers > 0 {
        // Something the command left running still holds the pipes. Its reader
        // threads keep draining them (so it never blocks on a full pipe) but stop
        // forwarding and tailing, so the tail below is final.
        shared.abandoned.store(true, Ordering::SeqCst);
    }
    let duration = exited_at.duration_since(start);
    drop(terminal);
    drop(signals);

    let tail = shared
        .tail
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .lines();
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
    crate::commands::output::print_stderr_line(&line);
    TaskResult {
        outcome: Outcome::Failure {
            code: None,
            signal: None,
            spawn_error: Some(reason),
        },
        exit_code,
        started_at,
        duration: start.elapsed(),
        tail: vec![crate::task::tail::sanitize(line.as_bytes())],
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

/// What the supervisor and the two reader threads share.
struct Shared {
    tail: Mutex<Tail>,
    /// Set when the supervisor stops waiting for the pipes to close.
    abandoned: AtomicBool,
    /// Readers that hold data not yet passed on: read but not written, or more
    /// waiting in their pipe. A reader idle on an empty pipe that something the
    /// command left behind keeps open is not busy, and may be abandoned.
    busy: AtomicUsize,
}

fn start_reader<R>(from: R, source: Source, shared: &Arc<Shared>, done: &mpsc::Sender<()>) -> usize
where
    R: Read + AsRawFd + Send + 'static,
{
    let (shared, done) = (Arc::clone(shared), done.clone());
    let spawned = thread::Builder::new()
        .name(format!("mmnotify-{source:?}").to_lowercase())
        .stack_size(64 * 1024 + READ_BUF)
        .spawn(move || {
            pump(from, source, &shared);
            let _ = done.send(());
        });
    // Without a thread (resource exhaustion) the pipe is dropped here: the command
    // gets SIGPIPE on that stream, which is better than blocking it forever.
    usize::from(spawned.is_ok())
}

fn pump(mut from: impl Read + AsRawFd, source: Source, shared: &Shared) {
    let mut buf = vec![0u8; READ_BUF];
    let mut forward = true;
    let mut busy = false;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if !busy {
            shared.busy.fetch_add(1, Ordering::SeqCst);
            busy = true;
        }
        if shared.abandoned.load(Ordering::SeqCst) {
            continue;
        }
        let chunk = &buf[..n];
        // Tail first: the order of the two streams' lines in the tail is the order
        // in which their readers get here, so keep the way here short.
        shared
            .tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_from(source, chunk);
        // Once our own output is gone (EPIPE: the reader of `mmnotify run … | head`
        // quit) keep draining the command's pipe so it is never blocked by us, and
        // keep the tail: the report still goes out.
        if forward {
            forward = write_through(source, chunk).is_ok();
        }
        if pipe_is_empty(&from) {
            shared.busy.fetch_sub(1, Ordering::SeqCst);
            busy = false;
        }
    }
    if busy {
        shared.busy.fetch_sub(1, Ordering::SeqCst);
    }
    shared
        .tail
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .finish(source);
}

fn pipe_is_empty(pipe: &impl AsRawFd) -> bool {
    let mut pending: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid and
    // aligned; the fd is open while `pipe` is borrowed.
    let ok = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut pending) } == 0;
    ok && pending == 0
}

/// Forward bytes unchanged and at once. std's stdout is line-buffered, hence the
/// flush; its stderr is unbuffered.
fn write_through(source: Source, chunk: &[u8]) -> io::Result<()> {
    match source {
        Source::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(chunk)?;
            out.flush()
        }
        Source::Stderr => io::stderr().lock().write_all(chunk),
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

/// Signals that mmnotify catches and forwards to the command's process group.
const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// How many times each signal arrived since mmnotify started. The handler only
/// increments a counter (async-signal-safe); every supervisor compares against its
/// own snapshot, so concurrent runs each see each signal.
static RECEIVED: [AtomicU32; 32] = [const { AtomicU32::new(0) }; 32];

extern "C" fn note_signal(sig: libc::c_int) {
    if let Some(count) = usize::try_from(sig).ok().and_then(|i| RECEIVED.get(i)) {
        count.fetch_add(1, Ordering::SeqCst);
    }
}

/// The dispositions mmnotify had before the first active run, restored by the last.
static INSTALLED: Mutex<(usize, Vec<(libc::c_int, libc::sigaction)>)> = Mutex::new((0, Vec::new()));

/// Handlers for [`FORWARDED`] while a command runs. A signal that was ignored when
/// mmnotify started (`nohup` ignores SIGHUP, a shell's `cmd &` ignores SIGINT and
/// SIGQUIT) stays ignored and so is inherited ignored by the command, exactly as if
/// it were run without mmnotify.
struct SignalForwarding {
    seen: [u32; 32],
}

impl SignalForwarding {
    fn install() -> SignalForwarding {
        let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
        if installed.0 == 0 {
            installed.1.clear();
            for sig in FORWARDED {
                if let Some(old) = replace_handler(sig) {
                    installed.1.push((sig, old));
                }
            }
        }
        installed.0 += 1;
        SignalForwarding {
            seen: std::array::from_fn(|i| RECEIVED[i].load(Ordering::SeqCst)),
        }
    }

    /// Signals received since the last call, in FORWARDED order.
    fn take_new(&mut self) -> Vec<libc::c_int> {
        let mut new = Vec::new();
        for sig in FORWARDED {
            let i = sig as usize;
            let count = RECEIVED[i].load(Ordering::SeqCst);
            if count != self.seen[i] {
                self.seen[i] = count;
                new.push(sig);
            }
        }
        new
    }
}

impl Drop for SignalForwarding {
    fn drop(&mut self) {
        let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
        installed.0 -= 1;
        if installed.0 == 0 {
            for (sig, old) in installed.1.drain(..) {
                // SAFETY: `old` was filled in by sigaction for this very signal.
                unsafe {
                    libc::sigaction(sig, &old, std::ptr::null_mut());
                }
            }
        }
    }
}

/// Install `note_signal` for `sig` unless the signal is ignored; the previous action.
fn replace_handler(sig: libc::c_int) -> Option<libc::sigaction> {
    // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, empty mask, no flags)
    // and sigaction only reads `new` and writes `old`, both valid for the call.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
            || old.sa_sigaction == libc::SIG_IGN
        {
            return None;
        }
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = note_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SA_RESTART: the reader threads' reads and writes are not interrupted.
        new.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut new.sa_mask);
        if libc::sigaction(sig, &new, &mut old) != 0 {
            return None;
        }
        Some(old)
    }
}

/// The controlling terminal, handed to the command's process group while it runs.
/// Without this the command, outside the terminal's foreground group, would be
/// stopped by SIGTTIN as soon as it read the terminal (an interactive prompt,
/// `sudo`'s password).
struct Terminal {
    tty: File,
    our_pgrp: libc::pid_t,
}

impl Terminal {
    /// Only when mmnotify itself is in the foreground: a background mmnotify must
    /// not steal the terminal from the shell.
    fn hand_to(pgid: libc::pid_t) -> Option<Terminal> {
        use std::os::unix::fs::OpenOptionsExt;
        let tty = File::options()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/tty")
            .ok()?;
        let fd = tty.as_raw_fd();
        // SAFETY: getpgrp, tcgetpgrp, tcsetpgrp and kill take plain integers; `fd`
        // is open for the duration of the calls.
        unsafe {
            let our_pgrp = libc::getpgrp();
            if libc::tcgetpgrp(fd) != our_pgrp || libc::tcsetpgrp(fd, pgid) != 0 {
                return None;
            }
            // The command may have read the terminal before it was handed over and
            // been stopped for it: let it go on.
            libc::kill(-pgid, libc::SIGCONT);
            Some(Terminal { tty, our_pgrp })
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // SAFETY: plain-integer calls on an open fd, and sigset_t values initialised
        // by sigemptyset before use. SIGTTOU is blocked for this thread because a
        // process outside the foreground group that changes the foreground group is
        // otherwise stopped by it.
        unsafe {
            let mut block: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut block);
            libc::sigaddset(&mut block, libc::SIGTTOU);
            libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
            libc::tcsetpgrp(self.tty.as_raw_fd(), self.our_pgrp);
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let r = run(&sh(r#"
            ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)
            blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/$$/status)
            [ $(( 0x$ign & 0x1000 )) -eq 0 ] || exit 10
            [ $(( 0x$blk )) -eq 0 ] || exit 11
        "#));
        assert_eq!(r.exit_code, 0, "{r:?}");
    }
}
