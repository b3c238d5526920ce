//! Hostile files and settings around the everyday commands: what a spool, a secrets
//! directory or the environment may hold must neither hang, abort, drive the terminal
//! nor print a token.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::support::{setup, Env, Fault, MockServer, Pki, ServerOptions, TlsSetup, HOOK_ID};

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Caps the child's address space, so that a regression that reads without end fails
/// the test instead of exhausting a shared machine.
fn capped(mut c: Command) -> Command {
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &raw const lim);
            Ok(())
        });
    }
    c
}

/// One real spool item's bytes, written by a failed send.
fn spooled_item(env: &Env, server: &MockServer) -> Vec<u8> {
    server.script([Fault::Status(503)]);
    let mut c = env.cmd();
    c.args(["send", "--webhook", "hook", "--retries", "0", "x"]);
    env.run(&mut c).assert_code(6);
    let spool = env.state().join("spool");
    let item = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    std::fs::read(item).unwrap()
}

fn plant(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_huge_sparse_spool_item_is_listed_as_unreadable_not_an_abort() {
    let (env, server) = setup();
    spooled_item(&env, &server);
    let huge = env
        .state()
        .join("spool/0000000000001-0000000001-000001.json");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(1 << 40).unwrap();
    std::fs::set_permissions(&huge, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut c = env.cmd();
    c.args(["spool", "list"]);
    let out = env.run(&mut capped(c));
    out.assert_success();
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    out.assert_stdout_contains("larger than");
    // flush sets it aside rather than dying on it, and still posts the real item.
    let mut c = env.cmd();
    c.args(["flush", "--retries", "0"]);
    env.run(&mut capped(c));
    assert_eq!(server.posts().len(), 1);
    assert!(env
        .state()
        .join("spool/rejected")
        .join(huge.file_name().unwrap())
        .exists());
}

#[test]
fn spool_file_names_neither_drive_the_terminal_nor_show_a_token() {
    let (mut env, server) = setup();
    let token = "zq3wxk8bmjsyr9cn5ue7tdo1hb";
    env.secret(token);
    let item = spooled_item(&env, &server);
    // Another state directory: the harness refuses a token in its own state's names.
    let state = tempfile::tempdir().unwrap();
    let spool = state.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o700)).unwrap();
    plant(&spool.join("1-\x1b[2J\nforged.json"), &item);
    plant(&spool.join(format!("2-{token}.json")), &item);
    symlink(
        "/etc/hostname",
        spool.join(format!("3-\x1b]0;t\x07{token}.json")),
    )
    .unwrap();
    for json in [false, true] {
        let mut c = env.cmd();
        c.args([
            "spool",
            "list",
            "--state-dir",
            state.path().to_str().unwrap(),
        ]);
        if json {
            c.args(["--output", "json"]);
        }
        let out = env.run(&mut c);
        out.assert_success();
        assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
        for text in [&out.stdout, &out.stderr] {
            assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        }
        out.assert_stderr_contains("not trusted");
    }
    let mut c = env.cmd();
    c.args([
        "spool",
        "drop",
        "--all",
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    let out = env.run(&mut c);
    assert!(!out.stderr.contains('\x1b'), "{:?}", out.stderr);
    assert!(spool
        .join(format!("3-\x1b]0;t\x07{token}.json"))
        .is_symlink());
}

/// A secrets file named after its hook id (as `webhooks` expects some to be): a failed
/// post must not write that name, the token, into the spool.
#[test]
fn a_webhook_named_after_its_token_is_not_spooled_under_that_name() {
    let (env, server) = setup();
    let file = env.write_secret(HOOK_ID, &format!("{}\n", server.hook_url()));
    for how in [
        ["--webhook", HOOK_ID],
        ["--webhook-file", file.to_str().unwrap()],
    ] {
        server.script([Fault::Status(503)]);
        let mut c = env.cmd();
        c.arg("send").args(how).args(["--retries", "0", "x"]);
        env.run(&mut c)
            .assert_code(6)
            .assert_stderr_contains("rename");
    }
    assert!(
        std::fs::read_dir(env.state().join("spool")).map_or(true, |d| d
            .flatten()
            .all(|e| e.file_type().unwrap().is_dir()))
    );
    // Under a name of its own, the same webhook is spooled as before.
    env.write_secret("ops", &format!("{}\n", server.hook_url()));
    server.script([Fault::Status(503)]);
    let mut c = env.cmd();
    c.args(["send", "--webhook", "ops", "--retries", "0", "x"]);
    env.run(&mut c)
        .assert_code(6)
        .assert_stderr_contains("saved in the spool");
}

mod system_store {
    use super::*;

    fn tls_env() -> (Env, MockServer, Pki) {
        let dir = tempfile::tempdir().unwrap().keep();
        let pki = Pki::generate(&dir);
        let opts = ServerOptions {
            tls: Some(TlsSetup::server(&pki)),
            ..Default::default()
        };
        let (env, server) = crate::support::hooked(opts);
        (env, server, pki)
    }

    /// `SSL_CERT_FILE` naming a FIFO nobody writes, `/dev/zero` or a directory: the
    /// server's CA is simply not found, quickly, as when the variable names nothing.
    #[test]
    fn an_ssl_cert_file_that_is_no_bundle_is_skipped_not_waited_on() {
        let (env, server, pki) = tls_env();
        let fifo = env.root().join("ca.fifo");
        mkfifo(&fifo);
        let dir = env.root().join("ca-dir");
        std::fs::create_dir(&dir).unwrap();
        for bad in [fifo.as_path(), Path::new("/dev/zero"), dir.as_path()] {
            let mut c = env.cmd();
            c.args([
                "send",
                "--webhook",
                "hook",
                "--retries",
                "0",
                "--no-spool",
                "x",
            ])
            .env("SSL_CERT_FILE", bad);
            let started = std::time::Instant::now();
            env.run(&mut capped(c))
                .assert_code(5)
                .assert_stderr_contains("system store");
            assert!(started.elapsed().as_secs() < 20, "{bad:?}");
        }
        // SSL_CERT_DIR still counts when the file is skipped.
        std::fs::copy(&pki.ca_cert, dir.join("corporate.pem")).unwrap();
        let mut c = env.cmd();
        c.args(["send", "--webhook", "hook", "x"])
            .env("SSL_CERT_FILE", &fifo)
            .env("SSL_CERT_DIR", &dir);
        env.run(&mut c).assert_success();
        assert_eq!(server.posts().len(), 1);
    }
}

/// `scripts/package-test.sh` on a machine where the package is really installed (a
/// gateway): it must stop before purging, which would delete the real spool and
/// settings. dpkg and the other tools are stand-ins that record being called; the
/// real ones are never run.
#[test]
fn the_package_test_leaves_a_real_installation_alone() {
    let env = Env::new();
    let bin = env.root().join("fakebin");
    std::fs::create_dir(&bin).unwrap();
    let calls = env.root().join("calls");
    let tool = |name: &str, body: &str| {
        let p = bin.join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >>'{}'\n{body}\n",
                calls.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    tool("id", "echo 0");
    tool("dpkg-query", "printf 'install ok installed'");
    // `flock` failing ends the script just past the check, before any dpkg.
    for name in [
        "dpkg",
        "dpkg-deb",
        "cargo-deb",
        "cargo",
        "man",
        "systemd-analyze",
        "apt-get",
        "flock",
    ] {
        tool(name, "exit 1");
    }
    let marker = env.root().join("marker");
    let run = |allow: bool| {
        let mut c = env.cmd_for("bash");
        c.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/package-test.sh"
        ))
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("MMNOTIFY_PACKAGE_TEST_MARKER", &marker);
        if allow {
            c.env("MMNOTIFY_PACKAGE_TEST_ALLOW_PURGE", "1");
        }
        env.run(&mut c)
    };
    let out = run(false);
    assert_ne!(out.code, 0);
    out.assert_stderr_contains("not by this test");
    let called = std::fs::read_to_string(&calls).unwrap();
    assert!(!called.lines().any(|l| l.starts_with("dpkg ")), "{called}");
    assert!(!called.contains("flock"), "{called}");
    // Left by an earlier run of the test itself, the installation is its to purge.
    std::fs::write(&marker, "").unwrap();
    for allow in [false, true] {
        std::fs::remove_file(&calls).unwrap();
        let out = run(allow);
        assert!(!out.stderr.contains("not by this test"), "{}", out.stderr);
        assert!(std::fs::read_to_string(&calls).unwrap().contains("flock"));
        std::fs::remove_file(&marker).ok();
    }
}

/// A hand-made item (same owner, mode 0600) is shown, but as plain text: no escape
/// sequence from any field, no bare token from the error, the source or the kind.
#[test]
fn forged_spool_items_are_shown_as_plain_scrubbed_text() {
    let (mut env, server) = setup();
    let token = "zq3wxk8bmjsyr9cn5ue7tdo1hb";
    env.secret(token);
    let item: serde_json::Value = serde_json::from_slice(&spooled_item(&env, &server)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let spool = state.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let forge = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = item.clone();
        edit(&mut v);
        plant(&spool.join(name), &serde_json::to_vec(&v).unwrap());
    };
    forge("1-1-1.json", &|v| {
        v["last_error"] = format!("HTTP 400 \x1b[2J for {token}").into();
        v["source"] = format!("name:{token}").into();
    });
    forge("2-2-2.json", &|v| {
        v["kind"] = format!("\x1b]0;x\x07{token}").into();
    });
    forge("3-3-3.json", &|v| v["version"] = token.into());
    for args in [&["list"][..], &["list", "--output", "json"]] {
        let mut c = env.cmd();
        c.arg("spool")
            .args(args)
            .args(["--state-dir", state.path().to_str().unwrap()]);
        let out = env.run(&mut c);
        out.assert_success();
        assert_eq!(out.stdout.lines().count(), 3, "{}", out.stdout);
        assert!(
            !out.stdout.contains('\x1b') && !out.stdout.contains('\x07'),
            "{:?}",
            out.stdout
        );
    }
}
