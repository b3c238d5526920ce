//! `ConnectProxy`: a loopback-only HTTP proxy (CONNECT tunnels, plus one-shot
//! forwarding of absolute-form `http://` requests) that records what it was asked.

use super::http::{read_body, read_head, write_response, Head, ReadError, Response};
use super::server::{stop_all, wait_idle};
use std::collections::HashMap;
use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Longer than the server's longest `Hang`, so the proxy is never the first to give up.
const TUNNEL_IDLE: Duration = Duration::from_secs(70);

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    stop_lock: Mutex<()>,
    stop_cv: Condvar,
    tunnels: Mutex<Vec<String>>,
    forwarded: Mutex<Vec<String>>,
    live: Mutex<HashMap<usize, TcpStream>>,
    next_id: AtomicUsize,
    active: AtomicUsize,
}

impl Shared {
    /// Tracks a socket so that stopping the proxy can unblock its readers.
    fn track(&self, s: &TcpStream) -> usize {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = s.try_clone() {
            self.live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id, clone);
        }
        id
    }

    fn untrack(&self, id: usize) {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }
}

pub struct ConnectProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let accept = thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if s.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else {
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let id = s.track(&stream);
                    s.active.fetch_add(1, Ordering::SeqCst);
                    let s2 = s.clone();
                    let spawned =
                        thread::Builder::new()
                            .name("proxy-conn".into())
                            .spawn(move || {
                                client(&s2, stream);
                                s2.untrack(id);
                                s2.active.fetch_sub(1, Ordering::SeqCst);
                            });
                    if spawned.is_err() {
                        s.untrack(id);
                        s.active.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            })
            .expect("spawn proxy thread");
        ConnectProxy {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// CONNECT targets seen, in order (refused ones included), e.g. `127.0.0.1:4567`.
    pub fn tunnels(&self) -> Vec<String> {
        self.shared
            .tunnels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Absolute-form requests forwarded, as `METHOD URL`.
    pub fn forwarded(&self) -> Vec<String> {
        self.shared
            .forwarded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        let s = &self.shared;
        stop_all(&s.stop, &s.stop_lock, &s.stop_cv, &s.live, self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        wait_idle(&s.active);
    }
}

fn reply(mut w: &TcpStream, status: u16) {
    let _ = write_response(&mut w, &Response::new(status), true);
}

/// `host:port` → a loopback socket address, or the status to refuse with.
fn loopback_target(authority: &str) -> Result<SocketAddr, u16> {
    let (host, port) = authority.rsplit_once(':').ok_or(400u16)?;
    let port: u16 = port.parse().map_err(|_| 400u16)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    // Never resolve arbitrary names: only literal loopback IPs and `localhost`.
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(403);
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|_| 502u16)?
        .find(|a| a.ip().is_loopback())
        .ok_or(502)
}

fn client(sh: &Shared, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut r = BufReader::new(read_half);
    let head = match read_head(&mut r) {
        Ok(h) => h,
        Err(ReadError::Bad | ReadError::TooLarge) => return reply(&stream, 400),
        Err(_) => return,
    };
    if head.method.eq_ignore_ascii_case("CONNECT") {
        sh.tunnels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(head.target.clone());
        tunnel(sh, stream, r, &head);
    } else if head.target.starts_with("http://") {
        forward(sh, stream, r, &head);
    } else {
        reply(&stream, 400);
    }
}

fn connect_upstream(
    sh: &Shared,
    client: &TcpStream,
    authority: &str,
) -> Option<(TcpStream, usize)> {
    let addr = match loopback_target(authority) {
        Ok(a) => a,
        Err(status) => {
            reply(client, status);
            return None;
        }
    };
    if let Ok(up) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
        let id = sh.track(&up);
        if sh.stop.load(Ordering::SeqCst) {
            sh.untrack(id);
            return None;
        }
        Some((up, id))
    } else {
        reply(client, 502);
        None
    }
}

fn tunnel(sh: &Shared, client: TcpStream, r: BufReader<TcpStream>, head: &Head) {
    let Some((upstream, id)) = connect_upstream(sh, &client, &head.target) else {
        return;
    };
    let mut client_w = &client;
    if client_w
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return sh.untrack(id);
    }
    let _ = client.set_read_timeout(Some(TUNNEL_IDLE));
    let _ = upstream.set_read_timeout(Some(TUNNEL_IDLE));
    // Bytes the client sent right after the CONNECT head (e.g. a ClientHello).
    let early = r.buffer().to_vec();
    let mut client_r = r.into_inner();
    let (Ok(mut up_r), Ok(client_w)) = (upstream.try_clone(), client.try_clone()) else {
        return sh.untrack(id);
    };
    let down = thread::Builder::new()
        .name("proxy-pump".into())
        .spawn(move || pump(&mut up_r, &client_w));
    let mut up_w = &upstream;
    if up_w.write_all(&early).is_ok() {
        pump(&mut client_r, &upstream);
    }
    if let Ok(h) = down {
        let _ = h.join();
    }
    sh.untrack(id);
}

/// Copies until EOF or error, then half-closes the destination.
fn pump(from: &mut impl Read, to: &TcpStream) {
    let mut w = to;
    let _ = io::copy(from, &mut w);
    let _ = to.shutdown(Shutdown::Write);
}

/// One absolute-form request: rewritten to origin-form, sent with `Connection: close`,
/// the answer copied back verbatim.
fn forward(sh: &Shared, client: TcpStream, mut r: BufReader<TcpStream>, head: &Head) {
    let rest = &head.target["http://".len()..];
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let Ok(body) = read_body(&mut r, head) else {
        return reply(&client, 400);
    };
    sh.forwarded
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(format!("{} {}", head.method, head.target));
    let Some((upstream, id)) = connect_upstream(sh, &client, &authority) else {
        return;
    };
    let _ = upstream.set_read_timeout(Some(TUNNEL_IDLE));
    let mut out = format!("{} {path} HTTP/1.1\r\n", head.method);
    for (k, v) in &head.headers {
        let k_l = k.to_ascii_lowercase();
        if !k_l.starts_with("proxy-")
            && !matches!(
                k_l.as_str(),
                "connection" | "keep-alive" | "transfer-encoding" | "content-length"
            )
        {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut up_w = &upstream;
    if up_w
        .write_all(out.as_bytes())
        .and_then(|()| up_w.write_all(&body))
        .is_ok()
    {
        let mut up_r = &upstream;
        pump(&mut up_r, &client);
    }
    sh.untrack(id);
}
