//! A Sentinel-watched Redis per test: a master, a replica and three Sentinels
//! (`redis-server --sentinel`, the same Debian package as the server), each on a free
//! loopback port with its files in a temp dir, all killed when the group is dropped.
//! Helpers force a failover and wait for the promotion, and stop or start the replica.
//!
//! This file depends only on std, libc, tempfile, redis and its sibling `wait.rs`: the
//! library's own unit tests include both too (`#[path]`, as `gateway::test_sentinel` and
//! `gateway::wait`), to drive the crate-private Redis plumbing (client, rate limit,
//! lease) against real servers without a second copy of this code.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// The master name the Sentinels watch.
pub const MASTER_NAME: &str = "mmnotify-test";

/// Longest wait for a server to answer, a replica to sync, or a failover to finish. A
/// failover on loopback takes 2–5 s (1 s to agree the master is down, then the election);
/// the bound only stops a broken setup from hanging the suite.
const WAIT: Duration = Duration::from_secs(60);

/// Whether Redis tests can run here; prints why not (or panics when required).
pub fn redis_available(test: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|p| p.join("redis-server").is_file())
    });
    if found {
        return true;
    }
    assert!(
        std::env::var("MMNOTIFY_REQUIRE_REDIS").as_deref() != Ok("1"),
        "{test}: redis-server is not installed and MMNOTIFY_REQUIRE_REDIS=1 requires it \
         (apt-get install redis-server)"
    );
    eprintln!(
        "{test}: SKIPPED: redis-server is not installed (apt-get install redis-server); set \
         MMNOTIFY_REQUIRE_REDIS=1 to make this a failure"
    );
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// [`super::wait::wait_for`] within `WAIT`, the bound of everything a Redis group does.
pub fn wait_for<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    super::wait::wait_for(what, WAIT, check)
}

/// One `redis-server` process (a data node or a Sentinel) on a fixed port and directory,
/// so that it can be stopped and started again as the same node.
pub struct Node {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    sentinel: bool,
}

impl Node {
    /// A plain data node (no persistence: the tests that use it never restart it).
    pub fn start(test: &str) -> Option<Node> {
        if !redis_available(test) {
            return None;
        }
        let mut node = Node::new(false);
        node.launch(None);
        Some(node)
    }

    fn new(sentinel: bool) -> Node {
        Node {
            child: None,
            port: free_port(),
            dir: tempfile::Builder::new()
                .prefix("mmnotify-sentinel")
                .tempdir()
                .expect("tempdir"),
            sentinel,
        }
    }

    /// Starts the process; a data node given `replica_of` replicates that port.
    fn launch(&mut self, replica_of: Option<u16>) {
        assert!(self.child.is_none(), "node {} already running", self.port);
        let mut cmd = Command::new("redis-server");
        if self.sentinel {
            cmd.arg(self.dir.path().join("sentinel.conf"))
                .arg("--sentinel");
        } else {
            cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(self.dir.path());
            if let Some(master) = replica_of {
                cmd.args(["--replicaof", "127.0.0.1", &master.to_string()]);
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(cmd.spawn().expect("start redis-server"));
        wait_for(
            &format!("redis-server on port {} answers PING", self.port),
            || {
                self.try_con()
                    .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).ok())
            },
        );
    }

    /// Stops it with SIGKILL: a crash, nothing written on the way out.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn try_con(&self) -> Option<redis::Connection> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).ok()?;
        let con = client
            .get_connection_with_timeout(Duration::from_millis(500))
            .ok()?;
        con.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        Some(con)
    }

    /// A connection for the test's own checks.
    pub fn con(&self) -> redis::Connection {
        self.try_con()
            .unwrap_or_else(|| panic!("connect to the test redis on port {}", self.port))
    }

    /// One command, answer as `T`.
    pub fn query<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut self.con())
            .unwrap_or_else(|e| panic!("redis {args:?} on port {}: {e}", self.port))
    }

    /// `master` or `slave`, from `ROLE`; None when the node does not answer.
    pub fn role(&self) -> Option<String> {
        let mut con = self.try_con()?;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut con).ok()?;
        match role.first() {
            Some(redis::Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(redis::Value::SimpleString(s)) => Some(s.clone()),
            _ => None,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two data nodes (one master, one replica) and three Sentinels watching them with a
/// quorum of two.
pub struct SentinelGroup {
    /// The data nodes; which one is the master changes with each failover.
    nodes: [Node; 2],
    sentinels: Vec<Node>,
}

impl SentinelGroup {
    /// Starts the group and waits until every Sentinel knows the replica, so that a
    /// failover can be forced at once. None (skip) when redis-server is missing.
    pub fn start(test: &str) -> Option<SentinelGroup> {
        if !redis_available(test) {
            return None;
        }
        let mut master = Node::new(false);
        master.launch(None);
        let mut replica = Node::new(false);
        replica.launch(Some(master.port));
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let mut s = Node::new(true);
            // Sentinel rewrites its config file, so it lives in the node's own dir.
            let conf = format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {mport} 2\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                 sentinel failover-timeout {MASTER_NAME} 10000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n",
                port = s.port,
                dir = s.dir.path().display(),
                mport = master.port,
            );
            std::fs::write(s.dir.path().join("sentinel.conf"), conf).expect("sentinel.conf");
            s.launch(None);
            sentinels.push(s);
        }
        let group = SentinelGroup {
            nodes: [master, replica],
            sentinels,
        };
        group.wait_ready();
        Some(group)
    }

    /// The Sentinels' addresses, `127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    pub fn sentinel_hosts(&self) -> String {
        self.sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `redis+sentinel://HOSTS/MASTER/0`.
    pub fn url(&self) -> String {
        format!("redis+sentinel://{}/{MASTER_NAME}/0", self.sentinel_hosts())
    }

    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port).collect()
    }

    /// The master's port as the first answering Sentinel reports it.
    pub fn master_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let mut con = s.try_con()?;
            let addr: Option<(String, String)> = redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(MASTER_NAME)
                .query(&mut con)
                .ok()?;
            addr?.1.parse().ok()
        })
    }

    fn index_of(&self, port: u16) -> usize {
        self.nodes
            .iter()
            .position(|n| n.port == port)
            .unwrap_or_else(|| panic!("port {port} is none of the group's data nodes"))
    }

    /// The data node the Sentinels call master.
    pub fn master(&self) -> &Node {
        let port = self.master_port().expect("a Sentinel names the master");
        &self.nodes[self.index_of(port)]
    }

    /// The other data node.
    pub fn replica(&self) -> &Node {
        let port = self.master_port().expect("a Sentinel names the master");
        &self.nodes[1 - self.index_of(port)]
    }

    /// Waits until every Sentinel names the same master, sees it up, and lists the
    /// replica as up and synced; and the replica's link to the master is up.
    pub fn wait_ready(&self) {
        wait_for(
            "the Sentinels agree on a master with a synced replica",
            || {
                let master = self.master_port()?;
                let replica = &self.nodes[1 - self.index_of(master)];
                if !replica.is_running() {
                    return None;
                }
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut replica.try_con()?)
                    .ok()?;
                let synced = info.contains("role:slave")
                    && info.contains(&format!("master_port:{master}"))
                    && info.contains("master_link_status:up");
                if !synced {
                    return None;
                }
                for s in &self.sentinels {
                    let mut con = s.try_con()?;
                    let addr: (String, String) = redis::cmd("SENTINEL")
                        .arg("get-master-addr-by-name")
                        .arg(MASTER_NAME)
                        .query(&mut con)
                        .ok()?;
                    if addr.1 != master.to_string() {
                        return None;
                    }
                    let replicas: Vec<std::collections::HashMap<String, String>> =
                        redis::cmd("SENTINEL")
                            .arg("replicas")
                            .arg(MASTER_NAME)
                            .query(&mut con)
                            .ok()?;
                    let up = replicas.iter().any(|r| {
                        r.get("port") == Some(&replica.port.to_string())
                            && r.get("flags").is_some_and(|f| f == "slave")
                            && r.get("master-link-status").is_some_and(|l| l == "ok")
                    });
                    if !up {
                        return None;
                    }
                }
                Some(())
            },
        );
    }

    /// `SENTINEL FAILOVER` (a planned switch: the replica is promoted, the old master
    /// becomes its replica) and waits for the promotion. Returns the new master's port.
    pub fn failover(&self) -> u16 {
        let old = self.master_port().expect("a master before the failover");
        let _: String = self.sentinels[0].query(&["SENTINEL", "FAILOVER", MASTER_NAME]);
        self.wait_promoted(old)
    }

    /// Kills the master with SIGKILL and waits until the Sentinels have promoted the
    /// replica. The old master stays down (see [`Self::restart_old_master`]). Returns the
    /// new master's port.
    pub fn kill_master(&mut self) -> u16 {
        let old = self.master_port().expect("a master before the failover");
        let i = self.index_of(old);
        self.nodes[i].kill();
        self.wait_promoted(old)
    }

    /// Waits until the Sentinels name a master other than `old` and it says it is one.
    pub fn wait_promoted(&self, old: u16) -> u16 {
        wait_for(&format!("a master other than port {old}"), || {
            let port = self.master_port().filter(|p| *p != old)?;
            let node = &self.nodes[self.index_of(port)];
            (node.role()? == "master").then_some(port)
        })
    }

    /// Starts a killed data node again as a replica of the current master, and waits
    /// until it is synced and known to every Sentinel.
    pub fn restart_old_master(&mut self) {
        let master = self.master_port().expect("a master");
        let i = 1 - self.index_of(master);
        self.nodes[i].launch(Some(master));
        self.wait_ready();
    }

    /// Stops the replica (SIGKILL).
    pub fn stop_replica(&mut self) {
        let master = self.master_port().expect("a master");
        let i = 1 - self.index_of(master);
        self.nodes[i].kill();
    }

    /// Starts the replica again and waits until it is synced.
    pub fn start_replica(&mut self) {
        self.restart_old_master();
    }

    /// The Sentinels' data directories (each holds its rewritten `sentinel.conf`).
    pub fn sentinel_dirs(&self) -> Vec<PathBuf> {
        self.sentinels
            .iter()
            .map(|s| s.dir().to_path_buf())
            .collect()
    }
}
