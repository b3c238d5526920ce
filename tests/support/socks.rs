//! A real SOCKS server per test: Debian's `dante-server` (`/usr/sbin/danted`) on a free
//! loopback port, with a generated configuration (no authentication, loopback in and
//! out) and its log in a temp dir. Tests never stand in for it: when danted is missing
//! they say so and skip, unless `MMNOTIFY_REQUIRE_SOCKS=1` (set by `.ci/run`) makes that
//! a failure.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct SocksServer {
    child: Child,
    port: u16,
    dir: TempDir,
}

fn danted() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push("/usr/sbin".into());
    dirs.into_iter()
        .map(|d| d.join("danted"))
        .find(|p| p.is_file())
}

impl SocksServer {
    /// A running danted, or None (skip) when it is not installed.
    pub fn start(test: &str) -> Option<SocksServer> {
        let Some(bin) = danted() else {
            assert!(
                std::env::var("MMNOTIFY_REQUIRE_SOCKS").as_deref() != Ok("1"),
                "{test}: danted is not installed and MMNOTIFY_REQUIRE_SOCKS=1 requires it \
                 (apt-get install dante-server)"
            );
            eprintln!(
                "{test}: SKIPPED: danted is not installed (apt-get install dante-server); set \
                 MMNOTIFY_REQUIRE_SOCKS=1 to make this a failure"
            );
            return None;
        };
        // A free port can be taken between our probe and danted's bind: then danted
        // exits, and another port is tried.
        for _ in 0..5 {
            if let Some(server) = Self::launch(&bin) {
                return Some(server);
            }
        }
        panic!("{test}: danted could not listen on a free loopback port in 5 tries");
    }

    /// Starts danted on a free port; None when it exited (its port was taken).
    fn launch(bin: &std::path::Path) -> Option<SocksServer> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = tempfile::Builder::new()
            .prefix("mmnotify-socks")
            .tempdir()
            .expect("tempdir");
        let conf = dir.path().join("danted.conf");
        let log = dir.path().join("danted.log");
        std::fs::write(
            &conf,
            format!(
                "logoutput: {}\n\
                 internal: 127.0.0.1 port = {port}\n\
                 external: 127.0.0.1\n\
                 clientmethod: none\n\
                 socksmethod: none\n\
                 client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}\n\
                 socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect error }}\n",
                log.display()
            ),
        )
        .expect("write danted.conf");
        let child = Command::new(bin)
            .arg("-f")
            .arg(&conf)
            .args(["-N", "1", "-p"])
            .arg(dir.path().join("danted.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start danted");
        let mut server = SocksServer { child, port, dir };
        // danted logs "running" once it listens on its internal address.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.log().contains("running") {
            if let Ok(Some(_)) = server.child.try_wait() {
                eprintln!("danted exited at start: {}", server.log());
                return None;
            }
            assert!(
                Instant::now() < deadline,
                "danted did not start on 127.0.0.1:{port} within 10 s; log: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `SCHEME://[USERINFO@]127.0.0.1:PORT`.
    pub fn url(&self, scheme: &str, userinfo: Option<&str>) -> String {
        let user = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        format!("{scheme}://{user}127.0.0.1:{}", self.port)
    }

    /// What danted logged: one `pass` line per connection it opened for a client.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("danted.log")).unwrap_or_default()
    }

    /// Connections danted opened to `127.0.0.1:port` for a client.
    pub fn connections_to(&self, port: u16) -> usize {
        let needle = format!("127.0.0.1.{port}");
        self.log()
            .lines()
            .filter(|l| l.contains("pass") && l.contains("connect") && l.contains(&needle))
            .count()
    }
}

impl Drop for SocksServer {
    fn drop(&mut self) {
        // SIGTERM lets danted's mother process end its own children first.
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
