//! Minimal, bounded HTTP/1.1 pieces shared by the mock server and the proxy.
//!
//! Only what a webhook client needs: request heads, Content-Length and chunked
//! bodies, and writing complete responses. Every read is size-bounded so a
//! misbehaving client can only get a 400/413/431 or a closed connection.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufRead, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest request head we accept (request line + headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest request body we read at all; beyond this the connection is closed.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    pub target: String,
    /// true for HTTP/1.1 (keep-alive by default), false for HTTP/1.0.
    pub http11: bool,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the connection may stay open after this request.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let has = |t: &str| conn.split(',').any(|p| p.trim() == t);
        if self.http11 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }
}

/// Case-insensitive header lookup (first match).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection before sending a byte (normal end of keep-alive).
    Eof,
    Io,
    /// Malformed request: answer 400 and close.
    Bad,
    /// Head or body too large: answer 431/413 and close.
    TooLarge,
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Io
    }
}

/// Reads one line ending in `\n`, at most `budget` bytes in total across calls.
fn read_line<R: BufRead>(r: &mut R, budget: &mut usize) -> Result<Vec<u8>, ReadError> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n > *budget {
        return Err(ReadError::TooLarge);
    }
    *budget -= n;
    if n == 0 {
        return Err(ReadError::Eof);
    }
    if line.last() != Some(&b'\n') {
        // EOF in the middle of a line.
        return Err(ReadError::Io);
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

pub fn read_head<R: BufRead>(r: &mut R) -> Result<Head, ReadError> {
    let mut budget = MAX_HEAD;
    // RFC 9112: ignore empty lines before the request line.
    let mut line = read_line(r, &mut budget)?;
    while line.is_empty() {
        line = read_line(r, &mut budget)?;
    }
    let line = String::from_utf8(line).map_err(|_| ReadError::Bad)?;
    let mut parts = line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => return Err(ReadError::Bad),
    };
    if !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ReadError::Bad);
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(ReadError::Bad),
    };
    let mut headers = Vec::new();
    loop {
        let line = match read_line(r, &mut budget) {
            Err(ReadError::Eof) => return Err(ReadError::Io),
            other => other?,
        };
        if line.is_empty() {
            break;
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        let (name, value) = line.split_once(':').ok_or(ReadError::Bad)?;
        if name.is_empty() || name.contains(|c: char| c.is_whitespace()) {
            return Err(ReadError::Bad);
        }
        headers.push((name.to_string(), value.trim().to_string()));
        if headers.len() > 200 {
            return Err(ReadError::TooLarge);
        }
    }
    Ok(Head {
        method: method.to_string(),
        target: target.to_string(),
        http11,
        headers,
    })
}

/// Reads the request body described by the head (Content-Length or chunked).
pub fn read_body<R: BufRead>(r: &mut R, head: &Head) -> Result<Vec<u8>, ReadError> {
    let te = head.header("transfer-encoding").unwrap_or("");
    if !te.is_empty() {
        if !te.to_ascii_lowercase().trim().ends_with("chunked") {
            return Err(ReadError::Bad);
        }
        return read_chunked(r);
    }
    let mut len: Option<usize> = None;
    for (k, v) in &head.headers {
        if k.eq_ignore_ascii_case("content-length") {
            let n: usize = v.trim().parse().map_err(|_| ReadError::Bad)?;
            if len.is_some_and(|l| l != n) {
                return Err(ReadError::Bad);
            }
            len = Some(n);
        }
    }
    let len = len.unwrap_or(0);
    if len > MAX_BODY {
        return Err(ReadError::TooLarge);
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(body)
}

fn read_chunked<R: BufRead>(r: &mut R) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut budget = MAX_HEAD; // for chunk-size lines and trailers
    loop {
        let line = match read_line(r, &mut budget) {
            Err(ReadError::Eof) => return Err(ReadError::Io),
            other => other?,
        };
        let line = String::from_utf8(line).map_err(|_| ReadError::Bad)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| ReadError::Bad)?;
        if size == 0 {
            // Trailers until an empty line.
            loop {
                match read_line(r, &mut budget) {
                    Ok(l) if l.is_empty() => return Ok(body),
                    Ok(_) => {}
                    Err(ReadError::Eof) => return Err(ReadError::Io),
                    Err(e) => return Err(e),
                }
            }
        }
        if size > MAX_BODY - body.len() {
            return Err(ReadError::TooLarge);
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(ReadError::Bad);
        }
    }
}

/// A complete response; `Content-Length` and `Date` are added on write unless present.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

pub fn write_response<W: Write>(w: &mut W, resp: &Response, close: bool) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    let has = |n: &str| header(&resp.headers, n).is_some();
    if !has("date") {
        out.push_str(&format!("Date: {}\r\n", http_date(SystemTime::now())));
    }
    for (k, v) in &resp.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has("content-length") && !has("transfer-encoding") {
        out.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    }
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&resp.body);
    w.write_all(&bytes)?;
    w.flush()
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (usable for `Retry-After`).
pub fn http_date(t: SystemTime) -> String {
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WD[days.rem_euclid(7) as usize],
        day,
        MO[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Random-enough bits without a `rand` dependency (std's `SipHash` keys are random).
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Mattermost id alphabet (z-base-32), as used by `model.NewId()`.
pub const ID_ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// A fresh 26-character Mattermost-style id.
pub fn new_id() -> String {
    (0..26)
        .map(|_| ID_ALPHABET[(random_u64() % 32) as usize] as char)
        .collect()
}

/// Decodes `application/x-www-form-urlencoded` (`+` is a space; bad escapes kept).
pub fn form_decode(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
