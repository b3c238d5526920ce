//! `Env`: an isolated environment for running the `mmnotify` binary, with a
//! redaction check after every run that cannot be skipped.

use super::server::{MockServer, HOOK_ID, OTHER_HOOK_ID};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The tested binary. Cargo defines its path for integration tests only;
/// `examples/mock_server.rs` compiles this module too (it shares the emulator) but never
/// runs the binary, so a missing path may only fail at run time.
#[allow(
    clippy::option_env_unwrap,
    reason = "env! would stop the example from compiling"
)]
fn mmnotify() -> &'static str {
    option_env!("CARGO_BIN_EXE_mmnotify").expect("Env runs the binary in integration tests only")
}

/// Hard limit for one run of the binary.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Which of the binary's output pipes `Env::run_with_closed` breaks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Closed {
    pub stdout: bool,
    pub stderr: bool,
}

pub struct Env {
    dir: TempDir,
    secrets: Vec<String>,
    /// Files outside the state dir that are also checked after each run (a job's dump
    /// of its environment).
    watched_files: Vec<PathBuf>,
}

/// The outcome of one run (`code` is -1 when the process died from a signal).
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn assert_code(&self, code: i32) -> &Self {
        assert!(
            self.code == code,
            "expected exit code {code}, got {}\n{}",
            self.code,
            self.dump()
        );
        self
    }

    pub fn assert_success(&self) -> &Self {
        self.assert_code(0)
    }

    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr does not contain {needle:?}\n{}",
            self.dump()
        );
        self
    }

    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout does not contain {needle:?}\n{}",
            self.dump()
        );
        self
    }

    /// stdout parsed as one JSON value (`--output json`, `--dry-run`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.dump()))
    }

    /// Every stdout line as JSON (`--output json` of a stream or a list).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| {
                    panic!("stdout line is not JSON ({e}): {l:?}\n{}", self.dump())
                })
            })
            .collect()
    }

    fn dump(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// A run of the binary in the background.
pub struct Spawned {
    child: std::process::Child,
    rx: mpsc::Receiver<(usize, Vec<u8>)>,
    what: String,
}

impl Spawned {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal (SIGTERM to stop a gateway gracefully, SIGKILL to crash it).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.pid(), sig) };
    }
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("mmnotify-test")
            .tempdir()
            .expect("tempdir");
        for sub in ["home", "state", "secrets"] {
            let p = dir.path().join(sub);
            fs::create_dir(&p).expect("create env dir");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).expect("chmod env dir");
        }
        // The mock server's well-known ids are secrets in every test, watched or not.
        let secrets = vec![HOOK_ID.to_string(), OTHER_HOOK_ID.to_string()];
        Env {
            dir,
            secrets,
            watched_files: Vec::new(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    pub fn state(&self) -> PathBuf {
        self.root().join("state")
    }

    pub fn secrets_dir(&self) -> PathBuf {
        self.root().join("secrets")
    }

    /// Writes `secrets/NAME.url` (mode 0600); the content is not auto-registered,
    /// register the token with `secret`/`watch`.
    pub fn write_secret(&self, name: &str, content: &str) -> PathBuf {
        self.write_file(&format!("secrets/{name}.url"), content, 0o600)
    }

    /// Writes a file relative to the env root with exactly this mode.
    pub fn write_file(&self, rel: &str, content: &str, mode: u32) -> PathBuf {
        let path = self.root().join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent dir");
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&path)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        f.write_all(content.as_bytes()).expect("write file");
        // `mode` above is filtered by the umask; set it exactly.
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod file");
        path
    }

    /// Registers a string that must never appear in output or in the state dir.
    pub fn secret(&mut self, token: &str) -> &mut Self {
        assert!(
            token.len() >= 8,
            "secret {token:?} is too short to check reliably"
        );
        if !self.secrets.iter().any(|s| s == token) {
            self.secrets.push(token.to_string());
        }
        self
    }

    /// Registers a file (e.g. a child's environment dump) that must never hold a secret;
    /// checked after every run once it exists.
    pub fn watch_file(&mut self, path: &Path) -> &mut Self {
        self.watched_files.push(path.to_path_buf());
        self
    }

    /// Registers all hook ids of a server as secrets.
    pub fn watch(&mut self, server: &MockServer) -> &mut Self {
        for id in server.hook_ids() {
            self.secret(&id);
        }
        self
    }

    /// The binary with a cleared environment: no proxy, CI or user variables leak in.
    pub fn cmd(&self) -> Command {
        self.cmd_for(mmnotify())
    }

    /// `send --webhook hook <args>`: the emulator's hook that `support::hooked` wrote.
    pub fn send(&self, args: &[&str]) -> Command {
        let mut c = self.cmd();
        c.args(["send", "--webhook", "hook"]).args(args);
        c
    }

    /// `flush --retries 0 <args>`: one attempt per item, so a failing emulator answers
    /// at once.
    pub fn flush(&self, args: &[&str]) -> Command {
        let mut c = self.cmd();
        c.args(["flush", "--retries", "0"]).args(args);
        c
    }

    /// `doctor --webhook <name>`.
    pub fn doctor(&self, name: &str) -> Command {
        let mut c = self.cmd();
        c.args(["doctor", "--webhook", name]);
        c
    }

    /// The spool's items (`*.json` under `state/spool`), sorted by name.
    pub fn spool_items(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.state().join("spool"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        v.retain(|p| p.extension().is_some_and(|e| e == "json"));
        v.sort();
        v
    }

    /// Another program (a shell running a CI recipe) in the same cleared environment, with
    /// the tested binary's directory first on PATH so that `mmnotify` is the one built.
    pub fn cmd_for(&self, program: &str) -> Command {
        let bin_dir = Path::new(mmnotify())
            .parent()
            .expect("binary directory")
            .to_path_buf();
        let system = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(&system)))
                .expect("PATH");
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.home())
            .env("LANG", "C.UTF-8")
            .env("MMNOTIFY_STATE_DIR", self.state())
            .env("MMNOTIFY_SECRETS_DIR", self.secrets_dir())
            .current_dir(self.root())
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, cmd: &mut Command) -> Run {
        self.run_inner(cmd, None, None, Closed::default())
    }

    pub fn run_with_stdin(&self, cmd: &mut Command, stdin: &[u8]) -> Run {
        self.run_inner(cmd, Some(stdin.to_vec()), None, Closed::default())
    }

    /// For `run`: the job's own output passes through unchanged (the contract), so lines
    /// that START with `job_marker` are the job's and exempt from the stream check.
    /// Everything mmnotify prints (reports, JSON, diagnostics) is still checked, as are
    /// the state dir and watched files.
    pub fn run_job(&self, cmd: &mut Command, job_marker: &str) -> Run {
        self.run_inner(cmd, None, Some(job_marker), Closed::default())
    }

    /// Runs with the read end of the chosen output pipes dropped before the binary can
    /// write: its writes fail with EPIPE, as under `mmnotify … 2>&1 | head -0` or a
    /// supervisor that went away. What a closed stream carried reads as empty.
    pub fn run_with_closed(&self, cmd: &mut Command, closed: Closed) -> Run {
        self.run_inner(cmd, None, None, closed)
    }

    fn run_inner(
        &self,
        cmd: &mut Command,
        stdin: Option<Vec<u8>>,
        job_marker: Option<&str>,
        closed: Closed,
    ) -> Run {
        let spawned = self.spawn_inner(cmd, stdin, closed);
        self.wait_inner(spawned, job_marker)
    }

    /// Starts the binary in the background (a gateway); finish it with [`Env::wait`],
    /// which applies the same redaction check as [`Env::run`].
    pub fn spawn(&self, cmd: &mut Command) -> Spawned {
        self.spawn_inner(cmd, None, Closed::default())
    }

    /// Waits (at most a minute) for a spawned run, then checks its output for secrets.
    pub fn wait(&self, spawned: Spawned) -> Run {
        self.wait_inner(spawned, None)
    }

    fn spawn_inner(&self, cmd: &mut Command, stdin: Option<Vec<u8>>, closed: Closed) -> Spawned {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        if closed.stdout {
            drop(child.stdout.take());
        }
        if closed.stderr {
            drop(child.stderr.take());
        }
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A writer thread: a child that does not read stdin must not block us.
            thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let (tx, rx) = mpsc::channel();
        for (i, pipe) in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .enumerate()
        {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                let _ = tx.send((i, buf));
            });
        }
        Spawned {
            child,
            rx,
            what: format!("{cmd:?}"),
        }
    }

    fn wait_inner(&self, spawned: Spawned, job_marker: Option<&str>) -> Run {
        let Spawned {
            mut child,
            rx,
            what: cmd,
        } = spawned;
        let deadline = Instant::now() + RUN_TIMEOUT;
        let status = loop {
            match child.try_wait().expect("wait for child") {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{cmd} did not finish within {RUN_TIMEOUT:?}; killed");
                }
                None => thread::sleep(Duration::from_millis(10)),
            }
        };
        let mut out = [Vec::new(), Vec::new()];
        for _ in 0..2 {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1));
            let (i, buf) = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!("{cmd} exited but its output pipes stayed open (a leftover child?)")
            });
            out[i] = buf;
        }
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out[0]).into_owned(),
            stderr: String::from_utf8_lossy(&out[1]).into_owned(),
        };
        match job_marker {
            None => self.assert_redacted(&run),
            Some(marker) => {
                let ours = |text: &str| {
                    text.lines()
                        .filter(|l| !l.starts_with(marker))
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                self.assert_redacted(&Run {
                    code: run.code,
                    stdout: ours(&run.stdout),
                    stderr: ours(&run.stderr),
                });
            }
        }
        run
    }

    /// The redaction rule of the CLI contract: no secret in stdout, stderr, or any
    /// file name or content under the state dir.
    fn assert_redacted(&self, run: &Run) {
        for secret in &self.secrets {
            for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                assert!(
                    !text.contains(secret.as_str()),
                    "SECRET LEAK: {secret:?} appears in {stream}\n{}",
                    run.dump()
                );
            }
        }
        for path in &self.watched_files {
            let content = String::from_utf8_lossy(&fs::read(path).unwrap_or_default()).into_owned();
            for secret in &self.secrets {
                assert!(
                    !content.contains(secret.as_str()),
                    "SECRET LEAK: {secret:?} appears in the watched file {}:\n{content}",
                    path.display()
                );
            }
        }
        let mut stack = vec![self.state()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                // file_type() does not follow symlinks: no loops, no escaping the dir.
                let kind = entry.file_type().ok();
                let content = if kind.is_some_and(|k| k.is_dir()) {
                    stack.push(path.clone());
                    Vec::new()
                } else if kind.is_some_and(|k| k.is_file()) {
                    fs::read(&path).unwrap_or_default()
                } else {
                    Vec::new()
                };
                let content = String::from_utf8_lossy(&content);
                for secret in &self.secrets {
                    assert!(
                        !name.contains(secret.as_str()),
                        "SECRET LEAK: {secret:?} appears in the state file name {}",
                        path.display()
                    );
                    assert!(
                        !content.contains(secret.as_str()),
                        "SECRET LEAK: {secret:?} appears in the state file {}:\n{content}",
                        path.display()
                    );
                }
            }
        }
    }
}
