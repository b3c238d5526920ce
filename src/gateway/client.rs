//! One Redis connection per process, opened on first use and again after it broke.
//! Every error that leaves here is classified (exit 3 for configuration and passwords,
//! 5 for anything a retry can cure) and scrubbed of the URL and its password.

use std::time::{Duration, Instant};

use anyhow::Result;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Connection, ErrorKind as RedisKind, RedisError};

use crate::error::{self, ExitKind};
use crate::gateway::url::RedisUrl;
use crate::wire::{deliver, tls};

/// Certificate and CA files are small; anything larger is a wrong path.
const MAX_PEM_BYTES: u64 = 1 << 20;
/// Backoff between connection attempts: from the first to the last, doubling.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(2);

pub(crate) struct Redis {
    url: RedisUrl,
    client: redis::Client,
    /// For a Sentinel URL: asked for the current master before every new connection,
    /// so that a reconnect after a failover finds the promoted one (`client` is unused).
    sentinel: Option<Discovery>,
    con: Option<Connection>,
    /// Longest wait for a connection or an answer.
    io_timeout: Duration,
    /// Replicas that must confirm a write that has to survive a failover (`--replicas`;
    /// 1 with Sentinel, else 0).
    replicas: u32,
    /// For a Sentinel URL: the master the Sentinels named for the current connection.
    master: Option<String>,
}

impl Redis {
    /// Prepares the client (TLS material included) without connecting: a bad CA or key
    /// file is exit 3 before anything goes over the network.
    pub(crate) fn new(url: RedisUrl, delivery: &deliver::Settings) -> Result<Redis> {
        let certs = if url.is_tls() {
            let files = tls::TlsFiles {
                ca_file: delivery.ca_file.as_deref(),
                client_cert: delivery.client_cert.as_deref(),
                client_key: delivery.client_key.as_deref(),
            };
            // The webhook's checks (PEM shape, key matching certificate) apply as is.
            tls::config(&files)?;
            // The same trust as the webhook's: the bundled Mozilla roots, --ca-file, and
            // the system store unless --no-system-roots. The library takes roots only as
            // one PEM that replaces its own choice, so all of them go in. A gateway
            // connects once, so reading the system store up front costs little.
            let mut roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|c| c.as_ref().to_vec())
                .collect::<Vec<_>>();
            if !delivery.no_system_roots {
                roots.extend(tls::system_store_der());
            }
            let mut root_cert = pem_certificates(&roots).into_bytes();
            if let Some(ca) = files.ca_file {
                root_cert.push(b'\n');
                root_cert.extend_from_slice(&read_pem(ca, "CA file")?);
            }
            let root_cert = Some(root_cert);
            let client_tls = match (files.client_cert, files.client_key) {
                (Some(c), Some(k)) => Some(redis::ClientTlsConfig {
                    client_cert: read_pem(c, "client certificate")?,
                    client_key: read_pem(k, "client key")?,
                }),
                _ => None,
            };
            Some(redis::TlsCertificates {
                client_tls,
                root_cert,
            })
        } else {
            None
        };
        let sentinel = match url.sentinel() {
            Some(_) => Some(Discovery::new(&url, certs.clone())?),
            None => None,
        };
        let client = match certs {
            Some(certs) => redis::Client::build_with_tls(connection_info(&url)?, certs),
            None => redis::Client::open(connection_info(&url)?),
        }
        .map_err(|e| classify(&url, "cannot use the Redis URL", &e))?;
        let replicas = u32::from(url.sentinel().is_some());
        Ok(Redis {
            url,
            client,
            sentinel,
            replicas,
            master: None,
            con: None,
            // A server that accepts and never answers must not hold a command past the
            // user's --timeout (the attempt timeout alone defaults to more).
            io_timeout: delivery.attempt_timeout.min(delivery.timeout),
        })
    }

    /// The URL as it may be printed (`redis://user:…@host:port/db`).
    pub(crate) fn redacted_url(&self) -> String {
        self.url.redacted()
    }

    /// `--replicas N` when given; without it the default stays (1 with Sentinel, else 0).
    pub(crate) fn set_replicas(&mut self, replicas: Option<u32>) {
        if let Some(n) = replicas {
            self.replicas = n;
        }
    }

    /// How many replicas must confirm a write that has to survive a failover.
    pub(crate) fn replicas(&self) -> u32 {
        self.replicas
    }

    /// For a Sentinel URL, once connected: the master the Sentinels named (`host:port`).
    pub(crate) fn master(&self) -> Option<&str> {
        self.master.as_deref()
    }

    /// Runs a write that must survive a failover, then waits (up to the I/O timeout) until
    /// `--replicas` replicas have it. Fewer is a network-kind error: the caller keeps the
    /// write to do again (it is idempotent), as when Redis is down.
    pub(crate) fn run_durable<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let v = self.run(what, f)?;
        self.confirm()?;
        Ok(v)
    }

    /// Waits (up to the I/O timeout) until `--replicas` replicas have every write so far.
    pub(crate) fn confirm(&mut self) -> Result<()> {
        self.wait_replicas(self.replicas, self.io_timeout)
    }

    /// Whether the last command found Redis reachable.
    pub(crate) fn is_connected(&self) -> bool {
        self.con.is_some()
    }

    fn connection(&mut self) -> Result<&mut Connection> {
        if self.con.is_none() {
            let con = match &mut self.sentinel {
                // Asked afresh each time: after a failover the Sentinels name the
                // promoted master (the library checks that it says `ROLE` master).
                Some(sentinel) => sentinel.master(self.io_timeout).and_then(|client| {
                    self.master = Some(describe_addr(client.get_connection_info().addr()));
                    client.get_connection_with_timeout(self.io_timeout)
                }),
                None => self.client.get_connection_with_timeout(self.io_timeout),
            }
            .map_err(|e| classify(&self.url, "cannot connect to Redis", &e))?;
            let set = |con: &Connection| {
                con.set_read_timeout(Some(self.io_timeout))?;
                con.set_write_timeout(Some(self.io_timeout))
            };
            set(&con).map_err(|e| classify(&self.url, "cannot connect to Redis", &e))?;
            self.con = Some(con);
        }
        Ok(self.con.as_mut().expect("connected above"))
    }

    /// Runs one command (or script, or pipeline). A broken connection is dropped, so the
    /// next call connects afresh.
    pub(crate) fn run<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let con = self.connection()?;
        match f(con) {
            Ok(v) => Ok(v),
            Err(e) => {
                let err = classify(&self.url, what, &e);
                if error::exit_kind(&err) == ExitKind::Network {
                    self.con = None;
                }
                Err(err)
            }
        }
    }

    /// Runs a command whose answer may legitimately take `extra` longer than usual
    /// (`XREADGROUP … BLOCK`).
    pub(crate) fn run_blocking<T>(
        &mut self,
        what: &str,
        extra: Duration,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let timeout = self.io_timeout + extra;
        let io_timeout = self.io_timeout;
        self.run(what, |con| {
            con.set_read_timeout(Some(timeout))?;
            let r = f(con);
            con.set_read_timeout(Some(io_timeout))?;
            r
        })
    }

    /// `WAIT replicas timeout`: whether at least `replicas` replicas have every write this
    /// connection made so far. Fewer within `timeout` is a network-kind error (exit 5:
    /// the caller spools), as when Redis is down: a write a failover could lose is not
    /// acknowledged. `replicas` 0 asks nothing.
    pub(crate) fn wait_replicas(&mut self, replicas: u32, timeout: Duration) -> Result<()> {
        if replicas == 0 {
            return Ok(());
        }
        let millis = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let acked: u64 =
            self.run_blocking("cannot confirm the write on the replicas", timeout, |con| {
                redis::cmd("WAIT").arg(replicas).arg(millis).query(con)
            })?;
        if acked < u64::from(replicas) {
            // After a planned failover the demoted master still answers (and accepts
            // writes, soon discarded) until the Sentinels reconfigure it; its replicas
            // have left it. Letting the connection go makes the next command ask the
            // Sentinels for the master again.
            if self.sentinel.is_some() {
                self.con = None;
            }
            return Err(error::fail(
                ExitKind::Network,
                format!(
                    "only {acked} of {replicas} Redis replicas confirmed the write within {} \
                     ms at {}; is a replica down? (--replicas sets how many must)",
                    millis, self.url
                ),
            ));
        }
        Ok(())
    }

    /// Connects (and authenticates) within `budget`, retrying with bounded backoff while
    /// Redis is unreachable. Configuration and password errors are final at once.
    pub(crate) fn connect_within(&mut self, budget: Duration) -> Result<()> {
        let deadline = Instant::now() + budget;
        let mut pause = BACKOFF_FIRST;
        loop {
            let Err(err) = self.run("cannot reach Redis", |con| {
                redis::cmd("PING").query::<String>(con)
            }) else {
                return Ok(());
            };
            if error::exit_kind(&err) != ExitKind::Network {
                return Err(err);
            }
            let now = Instant::now();
            if now + pause >= deadline {
                return Err(err);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(BACKOFF_MAX);
        }
    }
}

/// A client for the unit tests of the plumbing (rate limit, lease) against a real
/// server, with the delivery defaults and `--timeout 5s`.
#[cfg(test)]
pub(crate) fn test_client(url: &str) -> Redis {
    let delivery = deliver::Settings {
        timeout: Duration::from_secs(5),
        attempt_timeout: Duration::from_secs(10),
        retries: 3,
        proxy: None,
        ca_file: None,
        no_system_roots: false,
        client_cert: None,
        client_key: None,
    };
    Redis::new(RedisUrl::parse(url).unwrap(), &delivery).unwrap()
}

/// The connection settings from our own parse of the URL. The library could parse it
/// too, but through the `url` crate and its Unicode host tables, which would add about
/// 200 KB to every mmnotify binary for a URL that holds no Unicode.
fn connection_info(url: &RedisUrl) -> Result<redis::ConnectionInfo> {
    use redis::IntoConnectionInfo;
    let host = url
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addr = if url.is_tls() {
        redis::ConnectionAddr::TcpTls {
            host,
            port: url.port(),
            insecure: false,
            tls_params: None,
        }
    } else {
        redis::ConnectionAddr::Tcp(host, url.port())
    };
    let mut settings = redis::RedisConnectionInfo::default().set_db(i64::from(url.db()));
    if let Some(user) = url.user() {
        settings = settings.set_username(user);
    }
    if let Some(password) = url.expose_password() {
        settings = settings.set_password(password);
    }
    Ok(addr
        .into_connection_info()
        .map_err(|e| classify(url, "cannot use the Redis URL", &e))?
        .set_redis_settings(settings))
}

/// `host:port` of a data node the Sentinels named (IPv6 in brackets).
fn describe_addr(addr: &redis::ConnectionAddr) -> String {
    let (host, port) = match addr {
        redis::ConnectionAddr::Tcp(h, p)
        | redis::ConnectionAddr::TcpTls {
            host: h, port: p, ..
        } => (h.as_str(), *p),
        _ => return "a local socket".into(),
    };
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Discovery threads that may still hang on a Sentinel or a named master that never
/// answered; past this many, no new one starts until one ends.
const MAX_STUCK_DISCOVERIES: usize = 4;

/// Asks the Sentinels for the master within a deadline. The library's synchronous
/// Sentinel client connects to the Sentinels and to the master they name without any
/// timeout, so a Sentinel (or a master it names) that accepts and never answers would
/// hold a command forever, past `--timeout`: the question runs in a helper thread, and
/// a thread that misses the deadline is left behind (its client with it; a fresh one
/// asks next time), at most [`MAX_STUCK_DISCOVERIES`] at once.
struct Discovery {
    url: RedisUrl,
    certs: Option<redis::TlsCertificates>,
    client: Option<SentinelClient>,
    stuck: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Discovery {
    fn new(url: &RedisUrl, certs: Option<redis::TlsCertificates>) -> Result<Discovery> {
        let client = sentinel_client(url, certs.clone())?;
        Ok(Discovery {
            url: url.clone(),
            certs,
            client: Some(client),
            stuck: std::sync::Arc::default(),
        })
    }

    /// A client for the master the Sentinels name now, within `timeout`.
    fn master(&mut self, timeout: Duration) -> redis::RedisResult<redis::Client> {
        use std::sync::atomic::Ordering;
        let timed_out = |what: &str| {
            RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{what} within {} ms", timeout.as_millis()),
            ))
        };
        if self.stuck.load(Ordering::SeqCst) >= MAX_STUCK_DISCOVERIES {
            return Err(timed_out(
                "earlier questions to the Sentinels are still unanswered; no Sentinel answered",
            ));
        }
        let mut client = match self.client.take() {
            Some(c) => c,
            None => sentinel_client(&self.url, self.certs.clone())
                .map_err(|_| timed_out("cannot prepare the Sentinel client"))?,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let stuck = std::sync::Arc::clone(&self.stuck);
        stuck.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            let answer = client.get_client();
            stuck.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send((client, answer));
        });
        match rx.recv_timeout(timeout) {
            Ok((client, answer)) => {
                self.client = Some(client);
                answer
            }
            Err(_) => Err(timed_out("no Sentinel (or the master it named) answered")),
        }
    }
}

/// The Sentinel client of a `redis+sentinel://` URL. The Sentinels are asked without
/// credentials and in plain TCP (the contract: the URL's credentials and TLS are the data
/// nodes'); the data nodes get the user, password, database and TLS of the URL.
fn sentinel_client(
    url: &RedisUrl,
    certs: Option<redis::TlsCertificates>,
) -> Result<SentinelClient> {
    let addrs = url.sentinel().expect("a Sentinel URL");
    let sentinels = addrs
        .hosts
        .iter()
        .map(|(h, p)| redis::ConnectionAddr::Tcp(h.clone(), *p));
    let mut b = SentinelClientBuilder::new(sentinels, &addrs.master, SentinelServerType::Master)
        .map_err(|e| classify(url, "cannot use the Redis URL", &e))?
        .set_client_to_redis_db(i64::from(url.db()));
    if let Some(user) = url.user() {
        b = b.set_client_to_redis_username(user);
    }
    if let Some(password) = url.expose_password() {
        b = b.set_client_to_redis_password(password);
    }
    if let Some(certs) = certs {
        b = b
            .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
            .set_client_to_redis_certificates(certs);
    }
    b.build()
        .map_err(|e| classify(url, "cannot use the Redis URL", &e))
}

/// The exit kind and a one-line, scrubbed message for a Redis error.
pub(crate) fn classify(url: &RedisUrl, what: &str, e: &RedisError) -> anyhow::Error {
    let text = url.scrub(&e.to_string());
    let code = e.code().unwrap_or("");
    // The password was accepted but an ACL forbids the command or key: "check the
    // password" would send the user after the wrong thing.
    if code == "NOPERM" {
        return error::config(format!(
            "{what} at {url}: the Redis ACL denies it ({text}); allow this user the stream, \
             its `:dead` stream and the `mmnotify:dedupe:*` keys"
        ));
    }
    let auth =
        e.kind() == RedisKind::AuthenticationFailed || matches!(code, "WRONGPASS" | "NOAUTH");
    if auth {
        return error::config(format!(
            "{what} at {url}: authentication failed ({text}); check the password (and user) \
             in the Redis URL's secrets file or variable"
        ));
    }
    // During a failover the Sentinels flag the old master down and name none (or a
    // node that is not yet a master): the usual outage handling retries. A wrong master
    // name looks the same, so the message names both.
    if matches!(
        e.kind(),
        RedisKind::MasterNameNotFoundBySentinel | RedisKind::NoValidReplicasFoundBySentinel
    ) {
        return error::fail(
            ExitKind::Network,
            format!(
                "{what} at {url}: no Sentinel names a master that is up ({text}); a failover \
                 may be under way, or the master name in the URL is wrong"
            ),
        );
    }
    let transient = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || matches!(
            code,
            "LOADING"
                | "TRYAGAIN"
                | "MASTERDOWN"
                | "READONLY"
                | "BUSY"
                | "CLUSTERDOWN"
                // A blocked read on a master being demoted by a failover.
                | "UNBLOCKED"
        );
    if transient {
        return error::fail(
            ExitKind::Network,
            format!("{what} at {url}: {text}; is Redis running and reachable from here?"),
        );
    }
    if e.kind() == RedisKind::InvalidClientConfig {
        return error::config(format!("{what} at {url}: {text}"));
    }
    error::config(format!(
        "{what} at {url}: Redis answered with an error: {text}"
    ))
}

fn read_pem(path: &std::path::Path, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)
        .map_err(|e| error::config(format!("cannot read {what} {}: {e}", path.display())))?;
    let mut buf = Vec::new();
    f.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| error::config(format!("cannot read {what} {}: {e}", path.display())))?;
    if buf.len() as u64 > MAX_PEM_BYTES {
        return Err(error::config(format!(
            "{what} {} is larger than 1 MiB; is it the right file?",
            path.display()
        )));
    }
    Ok(buf)
}

/// DER certificates as PEM, the only form the library takes roots in.
fn pem_certificates(ders: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for cert in ders {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64(cert);
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn connection_settings_come_from_our_parse_decoded() {
        let url = RedisUrl::parse("rediss://app%2Done:p%40ss%3Aword@[::1]:6380/3").unwrap();
        let info = connection_info(&url).unwrap();
        let r = info.redis_settings();
        assert_eq!(r.db(), 3);
        assert_eq!(r.username(), Some("app-one"));
        assert_eq!(r.password(), Some("p@ss:word"));
        match info.addr() {
            redis::ConnectionAddr::TcpTls {
                host,
                port,
                insecure,
                ..
            } => {
                assert_eq!((host.as_str(), *port, *insecure), ("::1", 6380, false));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_sentinel_client_follows_the_failover_and_waits_for_the_replica() {
        use crate::gateway::test_sentinel::SentinelGroup;
        let Some(mut group) = SentinelGroup::start("a_sentinel_client_follows_the_failover") else {
            return;
        };
        let mut redis = test_client(&group.url());
        let incr = |redis: &mut Redis| {
            redis
                .run("INCR", |con| redis::cmd("INCR").arg("n").query::<i64>(con))
                .unwrap()
        };
        assert_eq!(incr(&mut redis), 1);
        redis.wait_replicas(1, Duration::from_secs(5)).unwrap();
        let first = group.master().port();

        // A crash of the master: the connection breaks (one network error), the next
        // command asks the Sentinels and lands on the promoted replica, which has the
        // replicated write.
        let second = group.kill_master();
        assert_ne!(first, second);
        let err = redis
            .run("INCR", |con| redis::cmd("INCR").arg("n").query::<i64>(con))
            .unwrap_err();
        assert_eq!(error::exit_kind(&err), ExitKind::Network, "{err:#}");
        redis.connect_within(Duration::from_secs(30)).unwrap();
        assert_eq!(incr(&mut redis), 2);
        let on_new: String = group.master().query(&["GET", "n"]);
        assert_eq!(on_new, "2");
        assert_eq!(group.master().port(), second);

        // No replica now: WAIT 1 is not met, which is a network-kind error (spool).
        let err = redis
            .wait_replicas(1, Duration::from_millis(100))
            .unwrap_err();
        assert_eq!(error::exit_kind(&err), ExitKind::Network);
        assert!(format!("{err:#}").contains("only 0 of 1"), "{err:#}");
        // The old master back as a replica: the next write is confirmed.
        group.restart_old_master();
        assert_eq!(incr(&mut redis), 3);
        redis.wait_replicas(1, Duration::from_secs(5)).unwrap();

        // A planned failover. The old master keeps accepting writes until the Sentinels
        // demote it, and those writes are lost: only writes confirmed by `WAIT` count.
        // On the old master `WAIT` fails (its replica left it), which lets the connection
        // go; the next connection asks the Sentinels and lands on the new master.
        let third = group.failover();
        assert_eq!(third, first);
        let mut acked = Vec::new();
        for i in 0..200 {
            let key = format!("k{i}");
            let set = redis.run("SET", |con| {
                redis::cmd("SET").arg(&key).arg(i).query::<()>(con)
            });
            if set.is_ok() && redis.wait_replicas(1, Duration::from_millis(200)).is_ok() {
                acked.push(key);
                if acked.len() == 3 {
                    break;
                }
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        assert_eq!(acked.len(), 3, "writes confirmed on the new master");
        // Once the old master has been turned into a replica, every confirmed write is on
        // the master the Sentinels name, and on its replica.
        group.wait_ready();
        assert_eq!(group.master().port(), third);
        for key in &acked {
            let on_master: Option<String> = group.master().query(&["GET", key]);
            assert!(on_master.is_some(), "{key} confirmed but not on the master");
            let on_replica: Option<String> = group.replica().query(&["GET", key]);
            assert_eq!(on_replica, on_master, "{key}");
        }
    }

    #[test]
    fn auth_errors_are_config_and_io_errors_network() {
        let url = RedisUrl::parse("redis://:hunter22@h:1/0").unwrap();
        let e = RedisError::from((
            RedisKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        assert_eq!(error::exit_kind(&classify(&url, "x", &e)), ExitKind::Config);
        let e = RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        let err = classify(&url, "x", &e);
        assert_eq!(error::exit_kind(&err), ExitKind::Network);
        assert!(!format!("{err:#}").contains("hunter22"));
    }

    #[test]
    fn an_acl_denial_is_config_and_does_not_blame_the_password() {
        let url = RedisUrl::parse("redis://bob:hunter22@h:1/0").unwrap();
        let e = RedisError::from((
            RedisKind::Server(redis::ServerErrorKind::NoPerm),
            "NOPERM",
            "this user has no permissions to access one of the keys".to_string(),
        ));
        let err = classify(&url, "x", &e);
        assert_eq!(error::exit_kind(&err), ExitKind::Config);
        let msg = format!("{err:#}");
        assert!(msg.contains("ACL"), "{msg}");
        assert!(!msg.contains("check the password"), "{msg}");
    }
}
