//! The Sentinel test support itself (tests/support/sentinel.rs): the group starts, a
//! failover forced either way happens, and the tests observe the promotion. The fleet's
//! own failover tests rely on these helpers, so they are checked on their own first.

use crate::support::sentinel::{SentinelGroup, MASTER_NAME};

#[test]
fn sentinel_group_fails_over_on_request_and_on_a_dead_master() {
    let Some(mut group) = SentinelGroup::start("sentinel_group_fails_over") else {
        return;
    };
    let first = group.master().port();
    assert_eq!(group.master().role().as_deref(), Some("master"));
    assert_eq!(group.replica().role().as_deref(), Some("slave"));
    let _: () = group.master().query(&["SET", "before", "1"]);
    // Written on the master, visible on the replica once it has it.
    let _: i64 = group.master().query(&["WAIT", "1", "5000"]);
    let got: Option<String> = group.replica().query(&["GET", "before"]);
    assert_eq!(got.as_deref(), Some("1"));

    // A planned failover: the replica is promoted, the old master follows it.
    let second = group.failover();
    assert_ne!(second, first);
    assert_eq!(group.master().port(), second);
    assert_eq!(group.master().role().as_deref(), Some("master"));
    let got: Option<String> = group.master().query(&["GET", "before"]);
    assert_eq!(
        got.as_deref(),
        Some("1"),
        "the promoted replica has the data"
    );
    group.wait_ready();
    assert_eq!(
        group.replica().port(),
        first,
        "the old master is now the replica"
    );
    // Every Sentinel names the new master.
    for port in group.sentinel_ports() {
        let addr: (String, String) = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
            .and_then(|mut c| {
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(MASTER_NAME)
                    .query(&mut c)
            })
            .unwrap();
        assert_eq!(addr.1, second.to_string(), "sentinel on {port}");
    }

    // A crash: the master is killed, the Sentinels agree it is down and promote.
    let _: () = group.master().query(&["SET", "after", "2"]);
    let _: i64 = group.master().query(&["WAIT", "1", "5000"]);
    let third = group.kill_master();
    assert_eq!(third, first);
    let got: Option<String> = group.master().query(&["GET", "after"]);
    assert_eq!(got.as_deref(), Some("2"));

    // The killed node comes back as a replica of the new master.
    group.restart_old_master();
    assert_eq!(group.replica().port(), second);
    assert_eq!(group.replica().role().as_deref(), Some("slave"));

    // Stopping and starting the replica.
    group.stop_replica();
    let n: i64 = group.master().query(&["WAIT", "1", "200"]);
    assert_eq!(n, 0, "no replica acknowledges while it is down");
    group.start_replica();
    let _: () = group.master().query(&["SET", "late", "3"]);
    let n: i64 = group.master().query(&["WAIT", "1", "5000"]);
    assert_eq!(n, 1);
}
