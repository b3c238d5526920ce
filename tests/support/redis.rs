//! A real `redis-server` per test, on a free loopback port, with its append-only file in
//! a temp dir so that a test can stop and restart it without losing the stream. Tests
//! never mock Redis: when `redis-server` is missing they say so and skip, unless
//! `MMNOTIFY_REQUIRE_REDIS=1` (set by `.ci/run`) makes that a failure.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    password: Option<String>,
    tls: Option<Tls>,
}

/// A TLS-only server: its certificate and key, the CA clients trust, and (for mutual
/// TLS) the CA its clients' certificates come from plus the test's own client pair.
struct Tls {
    pki: super::Pki,
    mutual: bool,
}

/// Whether Redis tests can run here; prints why not (or panics when required).
fn available(test: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|p| p.join("redis-server").is_file())
    });
    if found {
        return true;
    }
    assert!(std::env::var("MMNOTIFY_REQUIRE_REDIS").as_deref() != Ok("1"), "{test}: redis-server is not installed and MMNOTIFY_REQUIRE_REDIS=1 requires it (apt-get install redis-server)");
    eprintln!("{test}: SKIPPED: redis-server is not installed (apt-get install redis-server); set MMNOTIFY_REQUIRE_REDIS=1 to make this a failure");
    false
}

impl RedisServer {
    /// A server without a password, or None (skip) when redis-server is missing.
    pub fn start(test: &str) -> Option<RedisServer> {
        Self::start_with(test, None)
    }

    /// A server with `requirepass`.
    pub fn start_with(test: &str, password: Option<&str>) -> Option<RedisServer> {
        Self::start_inner(test, password, None)
    }

    /// A TLS-only server (`rediss://localhost:PORT`) with the test PKI's server
    /// certificate; `mutual` requires a client certificate from the client CA.
    pub fn start_tls(test: &str, pki: super::Pki, mutual: bool) -> Option<RedisServer> {
        Self::start_inner(test, None, Some(Tls { pki, mutual }))
    }

    fn start_inner(test: &str, password: Option<&str>, tls: Option<Tls>) -> Option<RedisServer> {
        if !available(test) {
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = tempfile::Builder::new()
            .prefix("mmnotify-redis")
            .tempdir()
            .expect("tempdir");
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            password: password.map(str::to_string),
            tls,
        };
        server.launch();
        Some(server)
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(pw) = &self.password {
            cmd.args(["--requirepass", pw]);
        }
        if let Some(tls) = &self.tls {
            let p = &tls.pki;
            cmd.args(["--port", "0", "--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(&p.server_cert)
                .arg("--tls-key-file")
                .arg(&p.server_key)
                .arg("--tls-ca-cert-file")
                .arg(if tls.mutual {
                    &p.client_ca_cert
                } else {
                    &p.ca_cert
                })
                .args(["--tls-auth-clients", if tls.mutual { "yes" } else { "no" }]);
        }
        self.child = Some(cmd.spawn().expect("start redis-server"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.ping() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client(&self) -> redis::RedisResult<redis::Client> {
        match &self.tls {
            None => redis::Client::open(self.url()),
            Some(tls) => redis::Client::build_with_tls(
                self.url(),
                redis::TlsCertificates {
                    client_tls: tls.mutual.then(|| redis::ClientTlsConfig {
                        client_cert: tls.pki.client_cert_pem.clone().into_bytes(),
                        client_key: tls.pki.client_key_pem.clone().into_bytes(),
                    }),
                    root_cert: Some(tls.pki.ca_pem.clone().into_bytes()),
                },
            ),
        }
    }

    /// The test PKI of a TLS server.
    pub fn pki(&self) -> &super::Pki {
        &self.tls.as_ref().expect("a TLS server").pki
    }

    fn ping(&self) -> bool {
        let Ok(client) = self.client() else {
            return false;
        };
        let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
            return false;
        };
        redis::cmd("PING").query::<String>(&mut con).is_ok()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The URL with the password, if any (register the password as a secret).
    pub fn url(&self) -> String {
        if self.tls.is_some() {
            return format!("rediss://localhost:{}/0", self.port);
        }
        match &self.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Stops the server (SIGTERM: it writes its append-only file first).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Starts it again on the same port and directory (same data).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// A connection for the test's own checks.
    pub fn con(&self) -> redis::Connection {
        self.client()
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("connect to the test redis")
    }

    /// One command, answer as `T`.
    pub fn query<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut self.con())
            .unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }

    /// XLEN, 0 for a missing stream.
    pub fn xlen(&self, stream: &str) -> usize {
        self.query(&["XLEN", stream])
    }

    /// Entries of the group not yet acknowledged.
    pub fn pending(&self, stream: &str, group: &str) -> usize {
        let v: redis::Value = self.query(&["XPENDING", stream, group]);
        match v {
            redis::Value::Array(items) => match items.first() {
                Some(redis::Value::Int(n)) => *n as usize,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Every entry of a stream as (id, field → value).
    pub fn entries(
        &self,
        stream: &str,
    ) -> Vec<(String, std::collections::HashMap<String, String>)> {
        let reply: redis::streams::StreamRangeReply = self.query(&["XRANGE", stream, "-", "+"]);
        reply
            .ids
            .into_iter()
            .map(|e| {
                let map = e
                    .map
                    .iter()
                    .map(|(k, v)| {
                        let s = match v {
                            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                            other => format!("{other:?}"),
                        };
                        (k.clone(), s)
                    })
                    .collect();
                (e.id, map)
            })
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
