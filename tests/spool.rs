//! Nothing lost: what could not be delivered waits in the spool, and `flush` delivers it
//! once, oldest first.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::{mode, setup, Env, Fault, MockServer};

#[test]
fn exhausted_retries_are_spooled_then_flushed_once() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "first"]))
        .assert_code(6)
        .assert_stderr_contains("mmnotify flush");
    server.script([Fault::Drop]);
    env.run(&mut env.send(&["--retries", "0", "second"]))
        .assert_code(5);
    let spooled = env.spool_items();
    assert_eq!(spooled.len(), 2);
    assert_eq!(mode(&env.state().join("spool")), 0o700);
    for p in &spooled {
        assert_eq!(mode(p), 0o600);
        let item: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        assert_eq!(item["source"], "name:hook");
    }
    assert_eq!(server.posts().len(), 0);

    env.run(&mut env.flush(&[]))
        .assert_success()
        .assert_stderr_contains("2 posted");
    let posts: Vec<String> = server.posts().into_iter().map(|p| p.message).collect();
    assert_eq!(posts, ["first", "second"], "oldest first");
    assert!(env.spool_items().is_empty());
    env.run(&mut env.flush(&[])).assert_success();
    assert_eq!(server.posts().len(), 2, "a second flush posts nothing");
}

#[test]
fn what_is_not_spooled() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "--no-spool", "x"]))
        .assert_code(6);
    server.script([Fault::Status(500)]);
    env.run(&mut env.send(&["--retries", "0", "x"]))
        .assert_code(6);
    server.script([Fault::Status(400)]);
    env.run(&mut env.send(&["--retries", "0", "x"]))
        .assert_code(40);
    assert!(env.spool_items().is_empty());
}

#[test]
fn flush_keeps_items_while_the_server_is_down() {
    let (env, server) = setup();
    server.script([Fault::Status(502)]);
    env.run(&mut env.send(&["--retries", "0", "x"]))
        .assert_code(6);
    server.script([Fault::Status(503)]);
    env.run(&mut env.flush(&[])).assert_code(6);
    let kept = env.spool_items();
    assert_eq!(kept.len(), 1);
    let item: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&kept[0]).unwrap()).unwrap();
    assert_eq!(item["attempts"], 2);
    env.run(&mut env.flush(&[])).assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn rejected_items_move_aside_with_the_reason() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "x"]))
        .assert_code(6);
    server.script([Fault::Status(403)]);
    env.run(&mut env.flush(&[])).assert_success();
    assert!(env.spool_items().is_empty());
    let rejected: Vec<PathBuf> = std::fs::read_dir(env.state().join("spool/rejected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let reason = rejected
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "reason"))
        .expect("a reason file");
    assert!(std::fs::read_to_string(reason).unwrap().contains("403"));
    assert_eq!(server.posts().len(), 0);
}

#[test]
fn half_written_items_are_never_delivered() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "real"]))
        .assert_code(6);
    // What a writer killed before its rename leaves behind.
    std::fs::write(
        env.state().join("spool/.tmp-123-456.json"),
        b"{\"version\":1,\"pay",
    )
    .unwrap();
    env.run(&mut env.flush(&[])).assert_success();
    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].message, "real");
}

#[test]
fn concurrent_flushes_post_each_item_once() {
    let (env, server) = setup();
    for i in 0..5 {
        server.script([Fault::Status(503)]);
        env.run(&mut env.send(&["--retries", "0", &format!("item {i}")]))
            .assert_code(6);
    }
    server.script([Fault::Delay(Duration::from_millis(200))]);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                env.run(&mut env.flush(&[])).assert_success();
            });
        }
    });
    let mut posts: Vec<String> = server.posts().into_iter().map(|p| p.message).collect();
    posts.sort();
    assert_eq!(posts, ["item 0", "item 1", "item 2", "item 3", "item 4"]);
    assert!(env.spool_items().is_empty());
}

#[test]
fn items_delivered_meanwhile_are_dropped() {
    let (env, server) = setup();
    let build = |env: &Env| {
        let mut c = env.cmd();
        c.args(["build", "--webhook", "hook", "--no-env", "--retries", "0"])
            .args(["--workflow", "ci", "--state", "failed", "--run-id", "77"]);
        c
    };
    server.script([Fault::Status(503)]);
    env.run(&mut build(&env)).assert_code(6);
    assert_eq!(env.spool_items().len(), 1);
    env.run(&mut build(&env)).assert_success();
    env.run(&mut env.flush(&[]))
        .assert_success()
        .assert_stderr_contains("1 duplicate");
    assert_eq!(server.posts().len(), 1);
    assert!(env.spool_items().is_empty());
}

#[test]
fn unresolvable_sources_stay_with_a_warning() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "x"]))
        .assert_code(6);
    std::fs::rename(
        env.secrets_dir().join("hook.url"),
        env.secrets_dir().join("moved.url"),
    )
    .unwrap();
    env.run(&mut env.flush(&[]))
        .assert_code(3)
        .assert_stderr_contains("cannot be resolved");
    assert_eq!(env.spool_items().len(), 1);
    std::fs::rename(
        env.secrets_dir().join("moved.url"),
        env.secrets_dir().join("hook.url"),
    )
    .unwrap();
    env.run(&mut env.flush(&[])).assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn environment_sources_are_saved_as_env() {
    let (env, server) = setup();
    server.script([Fault::Status(504)]);
    let mut c = env.cmd();
    c.args(["send", "--retries", "0", "x"])
        .env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    env.run(&mut c).assert_code(6);
    let item: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&env.spool_items()[0]).unwrap()).unwrap();
    assert_eq!(item["source"], "env");
    let mut c = env.flush(&[]);
    c.env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    env.run(&mut c).assert_success();
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn relative_secret_files_resolve_from_any_directory() {
    let (env, server) = setup();
    env.write_file("work/hook.url", &server.hook_url(), 0o600);
    server.script([Fault::Status(503)]);
    let mut c = env.cmd();
    c.current_dir(env.root().join("work")).args([
        "send",
        "--webhook-file",
        "hook.url",
        "--retries",
        "0",
        "x",
    ]);
    env.run(&mut c).assert_code(6);
    let item: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&env.spool_items()[0]).unwrap()).unwrap();
    assert!(
        item["source"].as_str().unwrap().starts_with("file:/"),
        "{item}"
    );
    let mut c = env.flush(&[]);
    c.current_dir("/");
    env.run(&mut c).assert_success();
    assert_eq!(server.posts().len(), 1);
}

fn spool_cmd(env: &Env, args: &[&str]) -> Command {
    let mut c = env.cmd();
    c.arg("spool").args(args);
    c
}

fn rejected(env: &Env, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(env.state().join("spool/rejected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn id_of(p: &std::path::Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Rewrites a spool item as mmnotify would (0600), changed by `edit`.
fn edit_item(p: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut item: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    edit(&mut item);
    std::fs::write(p, serde_json::to_vec(&item).unwrap()).unwrap();
    std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// Makes an item look first tried `ago` earlier than it was.
fn backdate(p: &std::path::Path, ago: Duration) {
    edit_item(p, |item| {
        let t = item["created_at_ms"].as_u64().unwrap() - ago.as_millis() as u64;
        item["created_at_ms"] = t.into();
    });
}

fn spool_two(env: &Env, server: &MockServer) {
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "first"]))
        .assert_code(6);
    server.script([Fault::Status(502)]);
    let mut b = env.cmd();
    b.args(["build", "--webhook", "hook", "--no-env", "--retries", "0"])
        .args(["--workflow", "ci", "--state", "failed", "--run-id", "9"]);
    env.run(&mut b).assert_code(6);
}

/// The redacted source is the last column, so a script takes it with `awk '{print $NF}'`
/// (audit 2: the binary printed it before the error).
#[test]
fn spool_list_line_ends_with_the_redacted_source() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "first"]))
        .assert_code(6);
    let out = env.run(&mut spool_cmd(&env, &["list"]));
    out.assert_success();
    let line = out.stdout.lines().next().expect("one line");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert!(line.contains("503"), "last error: {line}");
    assert_eq!(cols.last(), Some(&"name:hook"), "source last: {line}");
}

/// A hand-edited item with a huge last error (or kind) next to an ordinary one: the error
/// is no longer the last column, so it was padded to, and a width past 65535 characters
/// panicked the formatter (`spool list` crashed). Each cell is cut to a screen's worth;
/// `--output json` keeps the whole text.
#[test]
fn spool_list_survives_a_huge_last_error_and_keeps_lines_short() {
    let (env, server) = setup();
    spool_two(&env, &server);
    let spooled = env.spool_items();
    let huge = "E".repeat(70_000);
    edit_item(&spooled[0], |item| {
        item["last_error"] = huge.clone().into();
        item["kind"] = "K".repeat(70_000).into();
    });
    let out = env.run(&mut spool_cmd(&env, &["list"]));
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    for line in &lines {
        assert!(line.chars().count() < 1000, "{} chars", line.len());
        assert!(line.ends_with("name:hook"), "source last: {line}");
    }
    assert!(
        lines[0].contains("EEEE") && lines[0].contains('…'),
        "{}",
        lines[0]
    );
    let out = env.run(&mut spool_cmd(&env, &["list", "--output", "json"]));
    out.assert_success();
    assert!(out.stdout.contains(&huge), "json keeps the whole error");
}

/// Contract, Spool: "`mmnotify spool list` prints one line per item …: id, kind, age,
/// attempts, last error, redacted source", in that order.
#[test]
fn spool_list_shows_one_line_per_item() {
    let (env, server) = setup();
    spool_two(&env, &server);
    let spooled = env.spool_items();
    let out = env.run(&mut spool_cmd(&env, &["list"]));
    out.assert_success();
    assert_eq!(out.stderr, "");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    for (line, (p, kind, status)) in lines
        .iter()
        .zip([(&spooled[0], "send", "503"), (&spooled[1], "build", "502")])
    {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[0], id_of(p), "{line}");
        assert_eq!(cols[1], kind, "{line}");
        assert!(cols[2].ends_with('s'), "age: {line}");
        assert_eq!(cols[3], "1", "attempts: {line}");
        // The last error (several words) comes before the source, which ends the line.
        let error = cols[4..cols.len() - 1].join(" ");
        assert!(error.contains(status), "last error: {line}");
        assert_eq!(cols.last(), Some(&"name:hook"), "source last: {line}");
    }

    let out = env.run(&mut spool_cmd(&env, &["list", "--output", "json"]));
    out.assert_success();
    let objs: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[0]["id"], id_of(&spooled[0]));
    assert_eq!(objs[0]["kind"], "send");
    assert_eq!(objs[1]["kind"], "build");
    assert_eq!(objs[1]["attempts"], 1);
    assert_eq!(objs[1]["source"], "name:hook");
    assert!(objs[1]["last_error"].as_str().unwrap().contains("502"));
    // The contract's `age` (seconds), and `age_s`, its older name, kept for scripts.
    let age = objs[1]["age"].as_u64().expect("`age` in seconds");
    assert!(age < 600, "{}", objs[1]);
    assert_eq!(objs[1]["age_s"].as_u64(), Some(age));
    assert!(objs[1]["created_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn an_empty_spool_lists_nothing() {
    let (env, _server) = setup();
    let out = env.run(&mut spool_cmd(&env, &["list"]));
    out.assert_success();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    env.run(&mut spool_cmd(&env, &["list", "-v"]))
        .assert_success()
        .assert_stderr_contains("no items");
}

#[test]
fn unknown_kinds_are_listed_and_kept() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "x"]))
        .assert_code(6);
    let p = env.spool_items().remove(0);
    edit_item(&p, |item| item["kind"] = "future-kind".into());
    env.run(&mut spool_cmd(&env, &["list"]))
        .assert_success()
        .assert_stdout_contains("future-kind");
    env.run(&mut env.flush(&[]))
        .assert_code(3)
        .assert_stderr_contains("`future-kind` is not one this mmnotify delivers");
    assert_eq!(env.spool_items(), [p]);
    assert!(server.posts().is_empty());
}

#[test]
fn spool_list_rejected_shows_the_reason() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "x"]))
        .assert_code(6);
    let id = id_of(&env.spool_items()[0]);
    server.script([Fault::Status(403)]);
    env.run(&mut env.flush(&[])).assert_success();
    assert_eq!(env.run(&mut spool_cmd(&env, &["list"])).stdout, "");
    let out = env.run(&mut spool_cmd(&env, &["list", "--rejected"]));
    out.assert_success();
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(out.stdout.starts_with(&id), "{}", out.stdout);
    assert!(out.stdout.contains("403"), "{}", out.stdout);
    let out = env.run(&mut spool_cmd(
        &env,
        &["list", "--rejected", "--output", "json"],
    ));
    assert!(out.json()["reason"].as_str().unwrap().contains("403"));
}

#[test]
fn spool_drop_removes_named_items_and_refuses_unknown_ids() {
    let (env, server) = setup();
    for t in ["a", "b", "c"] {
        server.script([Fault::Status(503)]);
        env.run(&mut env.send(&["--retries", "0", t]))
            .assert_code(6);
    }
    let ids: Vec<String> = env.spool_items().iter().map(|p| id_of(p)).collect();
    env.run(&mut spool_cmd(&env, &["drop", &ids[0], "1234-no-such"]))
        .assert_code(2)
        .assert_stderr_contains("`1234-no-such`")
        .assert_stderr_contains("nothing was removed");
    assert_eq!(env.spool_items().len(), 3, "a typo drops nothing");
    env.run(&mut spool_cmd(&env, &["drop", "../x"]))
        .assert_code(2);

    let dropped = format!("{}.json", ids[1]);
    env.run(&mut spool_cmd(&env, &["drop", &ids[0], &dropped]))
        .assert_success();
    assert_eq!(
        env.spool_items()
            .iter()
            .map(|p| id_of(p))
            .collect::<Vec<_>>(),
        [ids[2].clone()]
    );
    env.run(&mut spool_cmd(&env, &["drop", "--all"]))
        .assert_success();
    assert!(env.spool_items().is_empty());
    env.run(&mut spool_cmd(&env, &["drop"])).assert_code(2);
    env.run(&mut env.flush(&[])).assert_success();
    assert!(server.posts().is_empty());
}

#[test]
fn spool_drop_rejected_removes_item_and_reason() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "x"]))
        .assert_code(6);
    let id = id_of(&env.spool_items()[0]);
    server.script([Fault::Status(400)]);
    env.run(&mut env.flush(&[])).assert_success();
    env.run(&mut spool_cmd(&env, &["drop", &id]))
        .assert_code(2)
        .assert_stderr_contains("--rejected");
    env.run(&mut spool_cmd(&env, &["drop", "--rejected", &id]))
        .assert_success();
    assert!(rejected(&env, "json").is_empty());
    assert!(rejected(&env, "reason").is_empty());
}

#[test]
fn spool_drop_never_follows_a_symlink_or_removes_a_file_not_ours() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "ours"]))
        .assert_code(6);
    let victim = env.write_file("victim.json", "{}", 0o600);
    let link = env.state().join("spool/0000000000001-1-1.json");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let loose = env.write_file("state/spool/0000000000002-1-1.json", "{}", 0o644);

    env.run(&mut spool_cmd(&env, &["drop", "0000000000001-1-1"]))
        .assert_code(3)
        .assert_stderr_contains("symlink");
    env.run(&mut spool_cmd(&env, &["drop", "0000000000002-1-1"]))
        .assert_code(3)
        .assert_stderr_contains("0644");
    let out = env.run(&mut spool_cmd(&env, &["drop", "--all"]));
    out.assert_success().assert_stderr_contains("not trusted");
    assert!(link.symlink_metadata().is_ok() && victim.exists() && loose.exists());
    assert_eq!(
        env.spool_items(),
        [link.clone(), loose.clone()],
        "only ours went"
    );
}

#[test]
fn spool_drop_waits_for_a_running_flush() {
    let (env, server) = setup();
    for t in ["a", "b"] {
        server.script([Fault::Status(503)]);
        env.run(&mut env.send(&["--retries", "0", t]))
            .assert_code(6);
    }
    server.script([
        Fault::Delay(Duration::from_millis(600)),
        Fault::Delay(Duration::from_millis(600)),
    ]);
    let (flush_end, drop_end) = std::thread::scope(|s| {
        let flusher = s.spawn(|| {
            env.run(&mut env.flush(&[])).assert_success();
            std::time::Instant::now()
        });
        // Once the server has flush's first request (after the two that failed),
        // flush holds the lock.
        while server.requests().len() < 3 {
            std::thread::sleep(Duration::from_millis(10));
        }
        env.run(&mut spool_cmd(&env, &["drop", "--all"]))
            .assert_success();
        (flusher.join().unwrap(), std::time::Instant::now())
    });
    assert!(drop_end >= flush_end, "drop ran while flush held the spool");
    assert_eq!(server.posts().len(), 2);
}

#[test]
fn flush_max_age_sets_old_items_aside_as_expired() {
    let (env, server) = setup();
    for t in ["old", "new"] {
        server.script([Fault::Status(503)]);
        env.run(&mut env.send(&["--retries", "0", t]))
            .assert_code(6);
    }
    let old = env.spool_items().remove(0);
    backdate(&old, Duration::from_secs(3 * 3600));
    let mut c = env.flush(&[]);
    c.args(["--max-age", "2h"]);
    env.run(&mut c)
        .assert_success()
        .assert_stderr_contains("1 posted")
        .assert_stderr_contains("1 expired");
    let posts: Vec<String> = server.posts().into_iter().map(|p| p.message).collect();
    assert_eq!(posts, ["new"]);
    assert_eq!(
        rejected(&env, "json"),
        [env.state()
            .join("spool/rejected")
            .join(old.file_name().unwrap())]
    );
    let reason = std::fs::read_to_string(&rejected(&env, "reason")[0]).unwrap();
    assert!(reason.starts_with("expired"), "{reason}");
    env.run(env.flush(&[]).args(["--max-age", "soon"]))
        .assert_code(2);
}

#[test]
fn late_posts_say_when_they_were_first_tried() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "late news"]))
        .assert_code(6);
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&[
        "--retries",
        "0",
        "--title",
        "Backup",
        "--attachment-text",
        "failed",
    ]))
    .assert_code(6);
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "fresh news"]))
        .assert_code(6);
    let spooled = env.spool_items();
    let first_tried: Vec<String> = spooled[..2]
        .iter()
        .map(|p| {
            backdate(p, Duration::from_secs(300));
            let item: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            let ms = item["created_at_ms"].as_u64().unwrap();
            let t = std::time::UNIX_EPOCH + Duration::from_millis(ms);
            humantime::format_rfc3339_seconds(t).to_string()
        })
        .collect();
    env.run(&mut env.flush(&[])).assert_success();
    let posts = server.posts();
    assert_eq!(posts.len(), 3);
    assert_eq!(
        posts[0].message,
        format!("late news\n\n_(delayed: first tried {})_", first_tried[0])
    );
    assert_eq!(
        posts[1].message,
        format!("_(delayed: first tried {})_", first_tried[1])
    );
    assert_eq!(posts[1].attachments[0]["title"], "Backup");
    assert_eq!(
        posts[2].message, "fresh news",
        "a prompt retry says nothing"
    );
}

#[test]
fn flush_is_quiet_when_there_was_nothing_to_do() {
    let (env, server) = setup();
    let out = env.run(&mut env.flush(&[]));
    out.assert_success();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    let mut c = env.flush(&[]);
    c.arg("-v");
    env.run(&mut c)
        .assert_success()
        .assert_stderr_contains("0 posted");
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "x"]))
        .assert_code(6);
    env.run(&mut env.flush(&[]))
        .assert_success()
        .assert_stderr_contains("1 posted");
}

/// A spool whose lock cannot be opened is the operator's to fix (exit 3), not an internal
/// error; the items stay.
#[test]
fn a_spool_lock_that_cannot_be_opened_is_a_configuration_error() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    env.run(&mut env.send(&["--retries", "0", "kept"]))
        .assert_code(6);
    // Root ignores modes; a directory in the lock's place fails for everyone.
    std::fs::create_dir(env.state().join("spool/.lock")).unwrap();
    env.run(&mut env.flush(&[]))
        .assert_code(3)
        .assert_stderr_contains("spool must be writable");
    assert_eq!(env.spool_items().len(), 1);
    assert_eq!(server.posts().len(), 0);
}

/// A timer running flush every minute leaves no line when there was nothing to do.
#[test]
fn an_empty_flush_is_silent_unless_verbose() {
    let (env, _server) = setup();
    let run = env.run(&mut env.flush(&[]));
    run.assert_success();
    assert_eq!(run.stderr, "", "{run:?}");
    env.run(env.flush(&[]).arg("-v"))
        .assert_success()
        .assert_stderr_contains("0 posted");
}

/// An unusable dedupe store (a broken file in it) never keeps the spool from draining,
/// and never ends in exit 1: the item goes out undeduplicated, with a warning.
#[test]
fn flush_posts_through_an_unusable_dedupe_store() {
    let (env, server) = setup();
    server.script([Fault::Status(503)]);
    let mut c = env.cmd();
    c.args(["build", "--webhook", "hook", "--retries", "0", "--no-env"])
        .args(["--workflow", "ci", "--state", "failed", "--run-id", "77"]);
    env.run(&mut c).assert_code(6);
    let lock = env.state().join("dedupe/claims.lock");
    let _ = std::fs::remove_file(&lock);
    std::fs::create_dir_all(&lock).unwrap();
    env.run(&mut env.flush(&[]))
        .assert_success()
        .assert_stderr_contains("without deduplication");
    assert_eq!(server.posts().len(), 1);
    assert!(env.spool_items().is_empty());
}

/// Contract, Spool: flush "prints its summary only when it did something (or with `-v`)".
/// A run that could only skip an untrusted item, or leave an item whose webhook is not
/// set now, changed nothing: its warnings stay, the summary line does not come (a timer
/// runs flush every few minutes). Audit 2: it printed `0 posted, …, 1 skipped`.
#[test]
fn flush_prints_no_summary_when_it_did_nothing() {
    const SUMMARY: &str = "mmnotify: flush:";
    let (env, server) = setup();

    // Only an untrusted item (mode 0644): skipped with a warning, exit 0.
    let loose = env.write_file("state/spool/0000000000002-1-1.json", "{}", 0o644);
    let out = env.run(&mut env.flush(&[]));
    out.assert_success().assert_stderr_contains("not trusted");
    assert!(!out.stderr.contains(SUMMARY), "{}", out.stderr);
    env.run(&mut env.flush(&["-v"]))
        .assert_success()
        .assert_stderr_contains(SUMMARY)
        .assert_stderr_contains("1 skipped");
    std::fs::remove_file(loose).unwrap();

    // Only an `env` item, and no MATTERMOST_WEBHOOK_URL now: kept with a warning, exit 3.
    server.script([Fault::Status(504)]);
    let mut c = env.cmd();
    c.args(["send", "--retries", "0", "x"])
        .env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    env.run(&mut c).assert_code(6);
    let out = env.run(&mut env.flush(&[]));
    out.assert_code(3)
        .assert_stderr_contains("1 spooled message stays");
    assert!(!out.stderr.contains(SUMMARY), "{}", out.stderr);
    env.run(&mut env.flush(&["--verbose"]))
        .assert_code(3)
        .assert_stderr_contains("1 unresolved");
    assert_eq!(env.spool_items().len(), 1);
    assert!(server.posts().is_empty());

    // Once it posts, the summary is back without -v.
    let mut c = env.flush(&[]);
    c.env("MATTERMOST_WEBHOOK_URL", server.hook_url());
    env.run(&mut c)
        .assert_success()
        .assert_stderr_contains("mmnotify: flush: 1 posted");
}

/// Two items whose webhook (`env`) cannot be resolved now: the error says what they need
/// in plain English (it said "what they needs").
#[test]
fn flush_names_what_unresolved_items_need_in_plain_words() {
    let (env, server) = setup();
    for text in ["x", "y"] {
        server.script([Fault::Status(504)]);
        let mut c = env.cmd();
        c.args(["send", "--retries", "0", text])
            .env("MATTERMOST_WEBHOOK_URL", server.hook_url());
        env.run(&mut c).assert_code(6);
    }
    let out = env.run(&mut env.flush(&[]));
    out.assert_code(3)
        .assert_stderr_contains("2 spooled messages stay")
        .assert_stderr_contains("because what they need cannot be used now");
    assert_eq!(env.spool_items().len(), 2);
}
