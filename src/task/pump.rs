//! The reader threads: the command's stdout and stderr passed through as they come
//! and tailed for the report.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use crate::task::tail::{Source, Tail};

/// Big enough for few system calls on a fast producer, small enough that mmnotify's
/// memory stays flat.
const READ_BUF: usize = 32 * 1024;

/// The reader threads of one command, as the supervisor sees them.
pub(super) struct Readers {
    shared: Arc<Shared>,
    done: mpsc::Receiver<()>,
    /// Readers still running.
    running: usize,
}

impl Readers {
    /// A reader for each of the child's piped streams.
    pub(super) fn start(child: &mut Child, tail: Tail) -> Readers {
        let shared = Arc::new(Shared {
            tail: Mutex::new(tail),
            abandoned: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
        });
        let (done_tx, done) = mpsc::channel::<()>();
        let mut running = 0;
        if let Some(out) = child.stdout.take() {
            running += start_reader(out, Source::Stdout, &shared, &done_tx);
        }
        if let Some(err) = child.stderr.take() {
            running += start_reader(err, Source::Stderr, &shared, &done_tx);
        }
        Readers {
            shared,
            done,
            running,
        }
    }

    pub(super) fn all_done(&self) -> bool {
        self.running == 0
    }

    /// Whether a reader holds output not yet passed on.
    pub(super) fn busy(&self) -> bool {
        self.shared.busy.load(Ordering::SeqCst) != 0
    }

    /// Wait up to `timeout` for a reader to finish.
    pub(super) fn wait(&mut self, timeout: Duration) {
        match self.done.recv_timeout(timeout) {
            Ok(()) => self.running -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.running = 0;
                // Nothing left to wake us: sleep instead of spinning.
                thread::sleep(timeout);
            }
        }
    }

    /// The final tail. Readers still running (something the command left running
    /// holds the pipes) keep draining them, so it never blocks on a full pipe, but
    /// stop forwarding and tailing, so the tail returned is final.
    pub(super) fn finish(self) -> Vec<String> {
        if self.running > 0 {
            self.shared.abandoned.store(true, Ordering::SeqCst);
        }
        self.shared
            .tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lines()
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
