//! The run socket: how a job posts mid-run without ever holding the token. `run` listens
//! on a Unix socket in a private directory and names it in the job's environment; a
//! `mmnotify send` or `build` inside the job hands its payload over, and the parent,
//! which alone holds the secret, posts it and answers with the outcome.
//!
//! Protocol: one connection carries one request and one response, each a single line of
//! JSON. The request is bounded in size and time so a stuck or hostile peer cannot hang
//! the parent; peers of another uid are refused (`SO_PEERCRED`).

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The variable that tells a job where the socket is.
pub(crate) const ENV_VAR: &str = "MMNOTIFY_RUN_SOCKET";
/// Far above the largest payload a server takes (300 kB by default).
pub(crate) const MAX_LINE: usize = 1 << 20;
/// Time a peer has to send its whole request.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Requests served at once; more are refused rather than queued without bound.
const MAX_ACTIVE: usize = 8;
/// How often the accept loop looks for the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// The protocol version both sides speak. 2 added the job's budget and dedupe store: a
/// parent that ignored them would post with less than the job asked for.
pub(crate) const VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Request {
    pub v: u32,
    /// `send` or `build`: the spool item's kind.
    pub kind: String,
    /// `--webhook NAME` of the inner command, resolved by the parent.
    pub webhook: Option<String>,
    /// The validated payload.
    pub payload: Value,
    /// False when the inner command had `--no-spool`.
    pub spool: bool,
    /// For `build`: what the parent deduplicates on, and where.
    pub dedupe: Option<DedupeRequest>,
    /// The inner command's own delivery budget, which the parent applies to this post.
    pub budget: Budget,
    /// For `build` and the `story`/`record` requests: the run to tell or record in its
    /// job's history (`story::history::RunNote`, opaque here). An older parent ignores
    /// it: the post then goes out without the story.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Value>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Budget {
    pub timeout_ms: u64,
    pub attempt_timeout_ms: u64,
    pub retries: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DedupeRequest {
    pub run_id: String,
    pub state: String,
    pub ttl_ms: u64,
    /// The shared store the inner command names; without one the parent's own shared
    /// store, else its state directory.
    pub store: Option<StoreRequest>,
}

/// A shared dedupe store named by the inner command. The URL may hold the Redis
/// password: it travels only over this socket, whose peers are the same user (who could
/// read it where the job did), and is never printed (Debug is redacted).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoreRequest {
    pub url: String,
    /// Where the job found it (`file:PATH`, `env`, `flag`), for a spooled post's `flush`.
    pub source: String,
}

impl std::fmt::Debug for StoreRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreRequest(…, {})", self.source)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Response {
    /// The exit code the inner command ends with.
    pub code: u8,
    /// The `--output json` outcome object.
    pub outcome: Value,
    /// The diagnostic line, when `code` is not 0.
    pub error: Option<String>,
}

impl Response {
    pub(crate) fn failure(code: u8, message: impl Into<String>) -> Response {
        let message = message.into();
        Response {
            code,
            outcome: serde_json::json!({"status": "failed", "message": message}),
            error: Some(message),
        }
    }
}

pub(crate) type Handler = dyn Fn(Request) -> Response + Send + Sync;

/// A listening run socket; closed, and its directory removed, on [`RunSocket::close`] or
/// drop.
pub(crate) struct RunSocket {
    dir: PathBuf,
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RunSocket {
    /// Listens in a new 0700 directory under the temp dir and serves requests on a thread
    /// of its own, so the job's output is never held up by a post.
    pub(crate) fn open(handler: Arc<Handler>) -> io::Result<RunSocket> {
        let dir = private_dir()?;
        let path = dir.join("run.sock");
        let listener = match bind(&path) {
            Ok(l) => l,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("mmnotify-run-socket".into())
                .spawn(move || serve(&listener, &stop, &handler))
        };
        match thread {
            Ok(t) => Ok(RunSocket {
                dir,
                path,
                stop,
                thread: Some(t),
            }),
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, waits for requests in hand (their posts finish first, so the
    /// report comes after them), and removes the socket and its directory.
    pub(crate) fn close(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_dir(&self.dir);
    }
}

impl Drop for RunSocket {
    fn drop(&mut self) {
        self.shut();
    }
}

fn private_dir() -> io::Result<PathBuf> {
    let base = std::env::temp_dir();
    let mut last = None;
    for _ in 0..16 {
        let dir = base.join(format!(
            "mmnotify-run-{}-{:08x}",
            std::process::id(),
            crate::wire::retry::random_u64() >> 32
        ));
        // mkdir fails on anything already there (a symlink planted by someone else
        // included), so what we get is ours.
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                // The umask may have taken bits away, never added: set it exactly.
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free directory name")))
}

fn bind(path: &Path) -> io::Result<UnixListener> {
    let listener = UnixListener::bind(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn serve(listener: &UnixListener, stop: &AtomicBool, handler: &Arc<Handler>) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                workers.retain(|w| !w.is_finished());
                if active.load(Ordering::SeqCst) >= MAX_ACTIVE {
                    answer(
                        &stream,
                        &Response::failure(6, "the run socket is busy; try again"),
                    );
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let (handler, active2) = (Arc::clone(handler), Arc::clone(&active));
                let spawned = thread::Builder::new()
                    .name("mmnotify-run-request".into())
                    .spawn(move || {
                        serve_one(stream, &handler);
                        active2.fetch_sub(1, Ordering::SeqCst);
                    });
                match spawned {
                    Ok(w) => workers.push(w),
                    Err(_) => {
                        active.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Out of descriptors and the like: wait instead of spinning.
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

fn serve_one(stream: UnixStream, handler: &Arc<Handler>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(REQUEST_DEADLINE));
    match peer_uid(&stream) {
        Some(uid) if uid == crate::secret::current_uid() => {}
        // Another user's process: nothing is read from it and nothing is posted.
        _ => {
            answer(
                &stream,
                &Response::failure(3, "the run socket serves only its own user"),
            );
            return;
        }
    }
    let response = match read_line(&stream, MAX_LINE, REQUEST_DEADLINE) {
        Err(why) => Response::failure(4, format!("bad run-socket request: {why}")),
        Ok(line) => match serde_json::from_slice::<Request>(&line) {
            Err(e) => Response::failure(4, format!("bad run-socket request: {e}")),
            Ok(req) if req.v != VERSION => Response::failure(
                3,
                format!(
                    "run-socket protocol version {} is not {VERSION}: the inner mmnotify is \
                     not the same version as the `mmnotify run` around it",
                    req.v
                ),
            ),
            Ok(req) => handler(req),
        },
    };
    answer(&stream, &response);
}

fn answer(mut stream: &UnixStream, response: &Response) {
    if let Ok(mut line) = serde_json::to_vec(response) {
        line.push(b'\n');
        // A peer that went away just misses its answer.
        let _ = stream.write_all(&line);
        let _ = stream.flush();
    }
}

/// One `\n`-terminated line of at most `max` bytes, read within `deadline` in total (a
/// peer dripping a byte at a time cannot stretch it).
pub(crate) fn read_line(
    mut stream: &UnixStream,
    max: usize,
    deadline: Duration,
) -> io::Result<Vec<u8>> {
    // An `io::Error` like every other failure of the socket; the texts below are what
    // the run socket's answers quote ("bad run-socket request: timed out").
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "timed out");
    let end = Instant::now() + deadline;
    let mut line = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        stream.set_read_timeout(Some(left))?;
        let n = match stream.read(&mut buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before a whole line",
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out())
            }
            Err(e) => return Err(e),
        };
        if let Some(i) = buf[..n].iter().position(|b| *b == b'\n') {
            line.extend_from_slice(&buf[..i]);
            if line.len() > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("longer than {max} bytes"),
                ));
            }
            return Ok(line);
        }
        line.extend_from_slice(&buf[..n]);
        if line.len() > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("longer than {max} bytes"),
            ));
        }
    }
}

fn peer_uid(stream: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let size = std::mem::size_of::<libc::ucred>();
    let mut len = libc::socklen_t::try_from(size).ok()?;
    // SAFETY: SO_PEERCRED writes at most `len` bytes into `cred`, a valid, aligned ucred;
    // the fd is open while `stream` is borrowed.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &raw mut len,
        )
    };
    (rc == 0 && usize::try_from(len) == Ok(size)).then_some(cred.uid)
}

/// The socket named in the environment, for a command running inside a job.
pub(crate) fn from_env() -> Option<PathBuf> {
    std::env::var_os(ENV_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Sends one request and waits up to `wait` for the answer.
pub(crate) fn call(path: &Path, request: &Request, wait: Duration) -> io::Result<Response> {
    let stream = UnixStream::connect(path)?;
    // The request may carry a shared store's URL with its password: only a `run` of our
    // own user gets it. A path left in the environment after its `run` ended (a job's
    // background process) may since be served by someone else.
    match peer_uid(&stream) {
        Some(uid) if uid == crate::secret::current_uid() => {}
        other => {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "it is served by {}, not by this user: nothing was sent to it",
                    other.map_or_else(|| "an unknown user".to_string(), |u| format!("uid {u}"))
                ),
            ));
        }
    }
    stream.set_write_timeout(Some(REQUEST_DEADLINE))?;
    let mut line = serde_json::to_vec(request).map_err(io::Error::other)?;
    line.push(b'\n');
    (&stream).write_all(&line)?;
    let answer = read_line(&stream, MAX_LINE, wait)?;
    serde_json::from_slice(&answer).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn echo_server() -> RunSocket {
        RunSocket::open(Arc::new(|req: Request| Response {
            code: 0,
            outcome: serde_json::json!({"status": "posted", "kind": req.kind}),
            error: None,
        }))
        .unwrap()
    }

    fn request() -> Request {
        Request {
            v: VERSION,
            kind: "send".into(),
            webhook: None,
            payload: serde_json::json!({"text": "hi"}),
            spool: true,
            dedupe: None,
            budget: Budget {
                timeout_ms: 5000,
                attempt_timeout_ms: 5000,
                retries: 0,
            },
            history: None,
        }
    }

    #[test]
    fn private_modes_and_cleanup() {
        let sock = echo_server();
        let path = sock.path().to_path_buf();
        let dir = path.parent().unwrap().to_path_buf();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let r = call(&path, &request(), Duration::from_secs(5)).unwrap();
        assert_eq!(r.outcome["kind"], "send");
        sock.close();
        assert!(!path.exists() && !dir.exists());
        assert!(call(&path, &request(), Duration::from_secs(1)).is_err());
    }

    #[test]
    fn oversized_garbage_and_silent_peers_are_answered_not_hung() {
        let sock = echo_server();
        let stream = UnixStream::connect(sock.path()).unwrap();
        (&stream).write_all(&vec![b'x'; MAX_LINE + 10]).ok();
        let answer = read_line(&stream, MAX_LINE, Duration::from_secs(5)).unwrap();
        let r: Response = serde_json::from_slice(&answer).unwrap();
        assert_eq!(r.code, 4);
        assert!(r.error.unwrap().contains("longer than"));

        let stream = UnixStream::connect(sock.path()).unwrap();
        (&stream).write_all(b"{not json}\n").unwrap();
        let r: Response =
            serde_json::from_slice(&read_line(&stream, MAX_LINE, Duration::from_secs(5)).unwrap())
                .unwrap();
        assert_eq!(r.code, 4);

        // A peer that says nothing is dropped after the deadline; others meanwhile are served.
        let silent = UnixStream::connect(sock.path()).unwrap();
        let t = Instant::now();
        let r = call(sock.path(), &request(), Duration::from_secs(5)).unwrap();
        assert_eq!(r.code, 0);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        let r: Response = serde_json::from_slice(
            &read_line(&silent, MAX_LINE, REQUEST_DEADLINE + Duration::from_secs(5)).unwrap(),
        )
        .unwrap();
        assert!(r.error.unwrap().contains("timed out"));
    }

    #[test]
    fn other_versions_are_refused() {
        let sock = echo_server();
        let mut req = request();
        req.v = 99;
        let r = call(sock.path(), &req, Duration::from_secs(5)).unwrap();
        assert_eq!(r.code, 3);
    }
}
