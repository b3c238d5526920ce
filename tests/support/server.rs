//! `MockServer`: a loopback Mattermost incoming-webhook endpoint that records what it
//! receives and can be scripted to misbehave. Plain std threads; everything bounded
//! and torn down on drop.

use super::http::{self, read_body, read_head, write_response, Head, ReadError, Response};
use super::mattermost;
use super::rest::{self, Rest};
use super::tls::TlsSetup;
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A valid Mattermost id (26 chars of z-base-32) that the default server knows.
pub const HOOK_ID: &str = "pq3wxk8bmjsyr9cn5ue7tdo1ha";
/// A valid-looking id the server does not know (→ 400 invalid webhook).
pub const OTHER_HOOK_ID: &str = "ebq8x1wd7oy3nhfkm4gs9ctr5a";

/// Upper bound for `Fault::Delay` and `Fault::Hang`.
const MAX_FAULT_WAIT: Duration = Duration::from_secs(60);
/// Idle keep-alive connections are closed after this long without a request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// Server generation to emulate (see docs/mattermost-server.md §0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Era {
    /// v9.0 – ~v10.2: specific error ids.
    A,
    /// ~v10.3/10.4 – v11: wrapped `general`/`decode` ids, hook id in the message.
    #[default]
    B,
}

#[derive(Debug, Clone)]
pub struct Hook {
    pub id: String,
    /// Channel name (must exist in `ServerOptions::channels`).
    pub channel: String,
    /// Locked to its channel: other `channel` overrides get 403.
    pub locked: bool,
}

impl Hook {
    pub fn new(id: &str, channel: &str) -> Self {
        Hook {
            id: id.into(),
            channel: channel.into(),
            locked: false,
        }
    }

    pub fn locked(id: &str, channel: &str) -> Self {
        Hook {
            locked: true,
            ..Hook::new(id, channel)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    pub private: bool,
    /// For private channels: whether the hook creator may read it (else 403).
    pub creator_can_read: bool,
}

impl Channel {
    pub fn public(name: &str) -> Self {
        Channel {
            name: name.into(),
            private: false,
            creator_can_read: true,
        }
    }

    pub fn private(name: &str, creator_can_read: bool) -> Self {
        Channel {
            name: name.into(),
            private: true,
            creator_can_read,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_sec: u32,
    pub burst: u32,
}

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub era: Era,
    pub tls: Option<TlsSetup>,
    pub hooks: Vec<Hook>,
    pub channels: Vec<Channel>,
    /// Known user names for `@user` overrides.
    pub users: Vec<String>,
    /// `EnableIncomingWebhooks`; false → 501 (after the body is parsed).
    pub incoming_enabled: bool,
    /// `MaximumPayloadSizeBytes`; the body cap is this + 512.
    pub max_payload_bytes: usize,
    /// `EnableDeveloper`: fills `detailed_error`.
    pub developer_mode: bool,
    pub rate_limit: Option<RateLimit>,
    /// Bind `[::1]` instead of `127.0.0.1`.
    pub listen_v6: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            era: Era::B,
            tls: None,
            hooks: vec![Hook::new(HOOK_ID, "town-square")],
            channels: vec![
                Channel::public("town-square"),
                Channel::public("dev"),
                Channel::private("secret", false),
            ],
            users: vec!["alice".into()],
            incoming_enabled: true,
            max_payload_bytes: 300_000,
            developer_mode: false,
            rate_limit: None,
            listen_v6: false,
        }
    }
}

/// One request as received (recorded before it is answered, faults included).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent (normally `/hooks/<id>`).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: Instant,
    /// Which accepted connection (1-based, in accept order) carried it.
    pub conn_id: usize,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header(&self.headers, name)
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (panics with the body if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("request body is not JSON ({e}): {}", self.body_str()))
    }
}

/// One post the emulated server created (a long text gives several).
#[derive(Debug, Clone)]
pub struct Post {
    pub hook_id: String,
    /// Channel name, or `@user` for a DM override.
    pub channel: String,
    pub message: String,
    /// Post props without `attachments` (server props `from_webhook` etc. included).
    pub props: Value,
    /// Processed attachments (on the last post of a split), `[]` if none.
    pub attachments: Value,
    pub post_type: String,
    pub priority: Option<Value>,
    /// As sent; a real server ignores these unless overrides are enabled.
    pub username: Option<String>,
    pub icon_url: Option<String>,
    pub icon_emoji: Option<String>,
}

/// A scripted misbehaviour; each request pops the next one (FIFO).
#[derive(Debug, Clone)]
pub enum Fault {
    /// That status with the body a real deployment gives for it.
    Status(u16),
    /// Exactly this answer (Content-Length/Date added unless given).
    Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// 429 `limit exceeded\n` with this `Retry-After` (seconds or an HTTP date).
    RateLimited {
        retry_after: String,
    },
    /// Wait (at most 60 s), then handle normally.
    Delay(Duration),
    /// Read the request, then close without answering.
    Drop,
    /// Read the request, then close with `SO_LINGER` 0 so the kernel sends RST
    /// (Linux; elsewhere a plain close).
    Reset,
    /// Read the request and answer nothing for this long (at most 60 s), then close.
    Hang(Duration),
    Redirect {
        status: u16,
        location: String,
    },
    /// On an `/api/v4/` path: the token's session cannot be made for a store failure,
    /// 500 `api.context.invalid_token.error` echoing the token in developer mode
    /// (`rest::session_store_failed`). Elsewhere a plain `Status(500)`.
    SessionStoreFailed,
}

struct State {
    requests: Vec<Request>,
    posts: Vec<Post>,
    faults: VecDeque<Fault>,
    bucket: Option<Bucket>,
}

/// Token bucket standing in for throttled's GCRA (§9).
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn capacity(&self) -> f64 {
        f64::from(self.limit.burst) + 1.0
    }

    fn rate(&self) -> f64 {
        f64::from(self.limit.per_sec.max(1))
    }

    /// Takes a token; returns the `X-RateLimit-*` headers and, when limited, the
    /// `Retry-After` seconds.
    fn take(&mut self) -> (Vec<(String, String)>, Option<u64>) {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate();
        self.tokens = (self.tokens + refill).min(self.capacity());
        self.at = now;
        let limited = self.tokens < 1.0;
        let retry = limited.then(|| ((1.0 - self.tokens) / self.rate()).ceil().max(1.0) as u64);
        if !limited {
            self.tokens -= 1.0;
        }
        let reset = ((self.capacity() - self.tokens) / self.rate()).ceil() as u64;
        let headers = vec![
            (
                "X-RateLimit-Limit".into(),
                (self.limit.burst + 1).to_string(),
            ),
            (
                "X-RateLimit-Remaining".into(),
                (self.tokens.floor() as u64).to_string(),
            ),
            ("X-RateLimit-Reset".into(), reset.to_string()),
        ];
        (headers, retry)
    }
}

pub(crate) struct Shared {
    opts: ServerOptions,
    /// The REST API's state (issue 18): users, tokens, channels, posts.
    rest: Rest,
    state: Mutex<State>,
    recorded: Condvar,
    connections: AtomicUsize,
    tls_failures: AtomicUsize,
    stop: AtomicBool,
    /// Signalled on stop so sleeping faults end early.
    stop_lock: Mutex<()>,
    stop_cv: Condvar,
    /// Clones of open sockets, to unblock their threads on stop.
    live: Mutex<HashMap<usize, TcpStream>>,
    active: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not poison the recorder for everyone else.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sleeps up to `d` (capped); returns false if the server is stopping.
    fn sleep(&self, d: Duration) -> bool {
        let guard = self
            .stop_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = self
            .stop_cv
            .wait_timeout_while(guard, d.min(MAX_FAULT_WAIT), |()| {
                !self.stop.load(Ordering::SeqCst)
            });
        !self.stop.load(Ordering::SeqCst)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

pub struct MockServer {
    addr: SocketAddr,
    https: bool,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl MockServer {
    pub fn start() -> MockServer {
        MockServer::start_with(ServerOptions::default())
    }

    pub fn start_with(opts: ServerOptions) -> MockServer {
        let bind = if opts.listen_v6 {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        };
        let listener = TcpListener::bind(bind).unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        let addr = listener.local_addr().expect("local_addr");
        let tls = opts.tls.as_ref().map(super::tls::TlsSetup::server_config);
        let shared = Arc::new(Shared {
            rest: Rest::new(&opts),
            state: Mutex::new(State {
                requests: Vec::new(),
                posts: Vec::new(),
                faults: VecDeque::new(),
                bucket: opts.rate_limit.map(|limit| Bucket {
                    limit,
                    tokens: f64::from(limit.burst) + 1.0,
                    at: Instant::now(),
                }),
            }),
            opts,
            recorded: Condvar::new(),
            connections: AtomicUsize::new(0),
            tls_failures: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            stop_lock: Mutex::new(()),
            stop_cv: Condvar::new(),
            live: Mutex::new(HashMap::new()),
            active: AtomicUsize::new(0),
        });
        let s = shared.clone();
        let accept = thread::Builder::new()
            .name("mock-accept".into())
            .spawn(move || accept_loop(listener, s, tls))
            .expect("spawn accept thread");
        MockServer {
            addr,
            https: shared.opts.tls.is_some(),
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT` (or `https://`, or `[::1]`).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn hook_url(&self) -> String {
        self.hook_url_for(HOOK_ID)
    }

    pub fn hook_url_for(&self, id: &str) -> String {
        format!("{}/hooks/{id}", self.url())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn options(&self) -> &ServerOptions {
        &self.shared.opts
    }

    /// The REST API's state and the test-side API to set it up and read it back.
    pub fn rest(&self) -> &Rest {
        &self.shared.rest
    }

    /// Ids of all configured hooks (secrets, for the redaction check).
    pub fn hook_ids(&self) -> Vec<String> {
        self.shared
            .opts
            .hooks
            .iter()
            .map(|h| h.id.clone())
            .collect()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    pub fn posts(&self) -> Vec<Post> {
        self.shared.lock().posts.clone()
    }

    /// Connections accepted so far (not reset by `clear`).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Failed TLS handshakes so far.
    pub fn tls_failures(&self) -> usize {
        self.shared.tls_failures.load(Ordering::SeqCst)
    }

    /// Forgets recorded requests and posts and drops queued faults.
    pub fn clear(&self) {
        let mut st = self.shared.lock();
        st.requests.clear();
        st.posts.clear();
        st.faults.clear();
    }

    /// Queues faults; each request pops one, normal handling once they run out.
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().faults.extend(faults);
    }

    /// Waits until at least `n` requests were recorded; false on timeout.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let guard = self.shared.lock();
        let (guard, _) = self
            .shared
            .recorded
            .wait_timeout_while(guard, timeout, |st| st.requests.len() < n)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.requests.len() >= n
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        stop_all(
            &self.shared.stop,
            &self.shared.stop_lock,
            &self.shared.stop_cv,
            &self.shared.live,
            self.addr,
        );
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        wait_idle(&self.shared.active);
    }
}

/// Common shutdown: flag, wake sleepers, wake `accept`, unblock every socket.
pub(crate) fn stop_all(
    stop: &AtomicBool,
    stop_lock: &Mutex<()>,
    stop_cv: &Condvar,
    live: &Mutex<HashMap<usize, TcpStream>>,
    addr: SocketAddr,
) {
    stop.store(true, Ordering::SeqCst);
    {
        let _g = stop_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        stop_cv.notify_all();
    }
    // accept() has no timeout in std: a throwaway connection wakes it.
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    for s in live
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .values()
    {
        let _ = s.shutdown(Shutdown::Both);
    }
}

/// Waits (bounded) for connection threads to finish.
pub(crate) fn wait_idle(active: &AtomicUsize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tls: Option<Arc<ServerConfig>>) {
    for stream in listener.incoming() {
        if shared.stopping() {
            break;
        }
        let Ok(stream) = stream else {
            thread::sleep(Duration::from_millis(10)); // e.g. EMFILE: don't spin
            continue;
        };
        let conn_id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        shared
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(conn_id, clone);
        shared.active.fetch_add(1, Ordering::SeqCst);
        let (s, tls) = (shared.clone(), tls.clone());
        let spawned = thread::Builder::new()
            .name(format!("mock-conn-{conn_id}"))
            .spawn(move || {
                let _done = ConnGuard(&s, conn_id);
                connection(&s, conn_id, stream, tls);
            });
        if spawned.is_err() {
            shared
                .live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&conn_id);
            shared.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// `SO_LINGER` {on, 0}: closing the socket then sends RST instead of FIN. std has no
/// stable API for it.
#[cfg(unix)]
fn set_linger_zero(tcp: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the fd belongs to `tcp`, which is borrowed (so open) for the whole call, and
    // setsockopt only reads `len` bytes through a pointer to a live `libc::linger` of
    // exactly that size; nothing is retained after it returns.
    let rc = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    // A silent failure would turn an injected reset into a clean close and make the
    // test that scripted it fail for a confusing reason.
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

#[cfg(not(unix))]
fn set_linger_zero(_: &TcpStream) {}

/// Unregisters a connection thread even if it panics.
struct ConnGuard<'a>(&'a Shared, usize);

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.0
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.1);
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn connection(shared: &Shared, conn_id: usize, tcp: TcpStream, tls: Option<Arc<ServerConfig>>) {
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(10)));
    let Some(cfg) = tls else {
        serve(shared, conn_id, tcp);
        return;
    };
    let mut tcp = tcp;
    let Ok(mut conn) = ServerConnection::new(cfg) else {
        return;
    };
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            // Bad client cert, unknown CA alert, plain HTTP on a TLS port, EOF...
            shared.tls_failures.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
    if let Some(mut stream) = serve(shared, conn_id, StreamOwned::new(conn, tcp)) {
        stream.conn.send_close_notify();
        let _ = stream.conn.complete_io(&mut stream.sock);
    }
}

/// Serves requests on one connection until it closes. Returns the stream when the
/// connection ended in an orderly way (so TLS can send `close_notify`).
fn serve<S: Read + Write>(shared: &Shared, conn_id: usize, stream: S) -> Option<S> {
    let mut r = BufReader::new(stream);
    loop {
        if shared.stopping() {
            return None;
        }
        let head = match read_head(&mut r) {
            Ok(h) => h,
            Err(ReadError::Eof | ReadError::Io) => return None,
            Err(ReadError::Bad) => return reject(r, 400),
            Err(ReadError::TooLarge) => return reject(r, 431),
        };
        let received_at = Instant::now();
        let scripted = shared.lock().faults.pop_front();
        let fault = scripted.or_else(|| shared.rest.take_fault(&head));
        let expect = head.header("expect").unwrap_or("");
        if expect.eq_ignore_ascii_case("100-continue") {
            let w = r.get_mut();
            w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
            w.flush().ok()?;
        }
        let body = match read_body(&mut r, &head) {
            Ok(b) => b,
            Err(ReadError::Bad) => return reject(r, 400),
            Err(ReadError::TooLarge) => return reject(r, 413),
            Err(_) => return None,
        };
        let mut close = !head.keep_alive();
        let resp = match fault {
            None => emulate(shared, conn_id, &head, body, received_at, &mut close),
            Some(Fault::Delay(d)) => {
                if !shared.sleep(d) {
                    return None;
                }
                emulate(shared, conn_id, &head, body, received_at, &mut close)
            }
            Some(other) => {
                record(&mut shared.lock(), conn_id, &head, body, received_at);
                shared.recorded.notify_all();
                match other {
                    Fault::Drop => return None,
                    Fault::Reset => {
                        if let Some(tcp) = shared
                            .live
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .get(&conn_id)
                        {
                            set_linger_zero(tcp);
                        }
                        return None;
                    }
                    Fault::Hang(d) => {
                        shared.sleep(d);
                        return None;
                    }
                    Fault::Status(status) if rest::is_api(&head) => {
                        rest::fault_status(&shared.rest, &shared.opts, &head, status)
                    }
                    Fault::Status(status) => mattermost::fault_status(&shared.opts, &head, status),
                    Fault::Response {
                        status,
                        headers,
                        body,
                    } => Response {
                        status,
                        headers,
                        body: body.into_bytes(),
                    },
                    Fault::RateLimited { retry_after } => mattermost::limit_exceeded(&retry_after),
                    Fault::Redirect { status, location } => redirect(status, &location),
                    Fault::SessionStoreFailed if rest::is_api(&head) => {
                        rest::session_store_failed(&shared.rest, &shared.opts, &head)
                    }
                    Fault::SessionStoreFailed => mattermost::fault_status(&shared.opts, &head, 500),
                    Fault::Delay(_) => unreachable!("handled above"),
                }
            }
        };
        write_response(r.get_mut(), &resp, close).ok()?;
        if close {
            return Some(r.into_inner());
        }
    }
}

/// What nginx sends for a redirect.
fn redirect(status: u16, location: &str) -> Response {
    let line = format!("{status} {}", http::reason(status));
    Response::new(status)
        .header("Location", location)
        .header("Content-Type", "text/html")
        .header("Server", "nginx")
        .body(format!(
            "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        ))
}

/// Answer a malformed request the way Go's server does, then close.
fn reject<S: Read + Write>(mut r: BufReader<S>, status: u16) -> Option<S> {
    let resp = Response::new(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(format!("{status} {}", http::reason(status)));
    write_response(r.get_mut(), &resp, true).ok()?;
    Some(r.into_inner())
}

fn record(st: &mut State, conn_id: usize, head: &Head, body: Vec<u8>, received_at: Instant) {
    st.requests.push(Request {
        method: head.method.clone(),
        path: head.target.clone(),
        headers: head.headers.clone(),
        body,
        received_at,
        conn_id,
    });
}

/// Rate limiter (if any) around the emulated Mattermost handler. The request and
/// its posts are recorded under one lock, so a waiter sees both or neither.
fn emulate(
    shared: &Shared,
    conn_id: usize,
    head: &Head,
    body: Vec<u8>,
    received_at: Instant,
    close: &mut bool,
) -> Response {
    let mut st = shared.lock();
    let (limit_headers, limited) = match st.bucket.as_mut() {
        Some(b) => b.take(),
        None => (Vec::new(), None),
    };
    let mut resp = if let Some(secs) = limited {
        mattermost::limit_exceeded(&secs.to_string())
    } else if rest::is_api(head) {
        rest::handle(&shared.rest, &shared.opts, head, &body)
    } else {
        let out = mattermost::handle(&shared.opts, head, &body);
        st.posts.extend(out.posts);
        *close |= out.close;
        out.response
    };
    resp.headers.extend(limit_headers);
    record(&mut st, conn_id, head, body, received_at);
    shared.recorded.notify_all();
    resp
}
