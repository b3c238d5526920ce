//! `mmnotify doctor`: one line per check, nothing posted, the first failure's exit code.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Env, MockServer, Pki, ServerOptions, TlsSetup, HOOK_ID};

#[test]
fn a_healthy_setup_passes_every_check_and_posts_nothing() {
    let server = MockServer::start();
    let mut env = Env::new();
    env.watch(&server);
    env.write_secret("hook", &server.hook_url());
    let run = env.run(&mut env.doctor("hook"));
    run.assert_success();
    for check in ["secret", "file", "url", "proxy", "dns", "tcp", "tls"] {
        assert!(
            run.stdout.contains(&format!("✓ {check}:")),
            "{check}: {}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains('✗'));
    assert!(run.stdout.contains("mode 0600"), "{}", run.stdout);
    assert_eq!(server.posts().len(), 0, "doctor never posts");
    assert!(server.requests().iter().all(|r| r.method == "GET"));
}

#[test]
fn each_failure_class_has_its_code_and_hint() {
    let mut env = Env::new();
    env.secret(HOOK_ID);
    // No source at all.
    let mut c = env.cmd();
    c.arg("doctor");
    env.run(&mut c)
        .assert_code(3)
        .assert_stdout_contains("✗ secret");

    // Insecure mode.
    let server = MockServer::start();
    let path = env.write_secret("loose", &server.hook_url());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.run(&mut env.doctor("loose"))
        .assert_code(3)
        .assert_stdout_contains("✗ file")
        .assert_stdout_contains("chmod 0640");

    // Malformed URL.
    env.write_secret(
        "bad",
        &format!("https://chat.example.com/hooks/hooks/{HOOK_ID}"),
    );
    env.run(&mut env.doctor("bad"))
        .assert_code(3)
        .assert_stdout_contains("✗ url")
        .assert_stdout_contains("twice");

    // DNS.
    env.write_secret(
        "nodns",
        &format!("https://mm.does-not-exist.invalid/hooks/{HOOK_ID}"),
    );
    env.run(&mut env.doctor("nodns"))
        .assert_code(5)
        .assert_stdout_contains("✗ dns");

    // Nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.write_secret(
        "closed",
        &format!("http://127.0.0.1:{port}/hooks/{HOOK_ID}"),
    );
    env.run(&mut env.doctor("closed"))
        .assert_code(5)
        .assert_stdout_contains("✓ dns")
        .assert_stdout_contains("✗ tcp");
}

#[test]
fn tls_with_an_unknown_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let server = MockServer::start_with(ServerOptions {
        tls: Some(TlsSetup::server(&pki)),
        ..Default::default()
    });
    let mut env = Env::new();
    env.watch(&server);
    env.write_secret("hook", &server.hook_url());
    env.run(&mut env.doctor("hook"))
        .assert_code(5)
        .assert_stdout_contains("✓ tcp")
        .assert_stdout_contains("✗ tls")
        .assert_stdout_contains("--ca-file");
    let mut c = env.doctor("hook");
    c.args(["--ca-file", pki.ca_cert.to_str().unwrap()]);
    env.run(&mut c)
        .assert_success()
        .assert_stdout_contains("✓ tls");
    // A CA only in the system store passes the same check.
    let mut c = env.doctor("hook");
    c.env("SSL_CERT_FILE", &pki.ca_cert);
    env.run(&mut c)
        .assert_success()
        .assert_stdout_contains("✓ tls");
    assert_eq!(server.posts().len(), 0);
}

#[test]
fn a_c_locale_gets_ascii_marks() {
    let server = MockServer::start();
    let mut env = Env::new();
    env.watch(&server);
    env.write_secret("hook", &server.hook_url());
    let mut c = env.doctor("hook");
    c.env("LC_ALL", "C");
    let run = env.run(&mut c);
    run.assert_success();
    assert!(run.stdout.contains("ok secret:"), "{}", run.stdout);
    assert!(
        run.stdout.contains("ok dns: 127.0.0.1 -> 127.0.0.1"),
        "{}",
        run.stdout
    );
    // The redacted target keeps its contract form (`/hooks/…LAST4`); the marks do not.
    assert!(!run.stdout.contains(['✓', '✗', '→']), "{}", run.stdout);

    // A failure, and a diagnostic on stderr, in ASCII too.
    let loose = env.write_secret("loose", &server.hook_url());
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = env.doctor("loose");
    c.env("LC_ALL", "C");
    let run = env.run(&mut c);
    run.assert_code(3).assert_stdout_contains("FAIL file:");
    assert!(
        run.stdout.is_ascii() && run.stderr.is_ascii(),
        "{}{}",
        run.stdout,
        run.stderr
    );

    // LC_ALL wins over a UTF-8 LANG, and a UTF-8 LC_ALL over a C LANG.
    let mut c = env.doctor("hook");
    c.env("LANG", "C").env("LC_ALL", "en_US.utf8");
    env.run(&mut c)
        .assert_success()
        .assert_stdout_contains("✓ secret:");
}

#[test]
fn a_mistyped_name_is_answered_with_the_closest() {
    let mut env = Env::new();
    env.secret(HOOK_ID);
    env.write_secret(
        "build-status",
        &format!("https://chat.example.com/hooks/{HOOK_ID}"),
    );
    env.run(&mut env.doctor("build-stats"))
        .assert_code(3)
        .assert_stdout_contains("✗ secret: no webhook named `build-stats`")
        .assert_stdout_contains("did you mean `build-status`?");
}

/// A failed check is said once: on its ✗ line. The closing error line names the check
/// without repeating the problem; under `--output json` the message carries it whole.
#[test]
fn a_failed_check_prints_its_problem_once() {
    let server = MockServer::start();
    let mut env = Env::new();
    env.watch(&server);
    let path = env.write_secret("loose", &server.hook_url());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = env.run(&mut env.doctor("loose"));
    run.assert_code(3).assert_stdout_contains("✗ file");
    let said = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(said.matches("chmod 0640").count(), 1, "{said}");
    run.assert_stderr_contains("the file check failed (see above)");

    let run = env.run(env.doctor("loose").args(["--output", "json"]));
    run.assert_code(3);
    let outcome: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    let message = outcome["message"].as_str().unwrap();
    assert!(message.contains("chmod 0640"), "{message}");
}

/// doctor posts nothing, so it says what it cannot see, and where to look.
#[test]
fn doctor_says_a_deleted_webhook_shows_only_when_posting() {
    let server = MockServer::start();
    let mut env = Env::new();
    env.watch(&server);
    env.write_secret("hook", &server.hook_url());
    env.run(&mut env.doctor("hook"))
        .assert_success()
        .assert_stdout_contains("a deleted webhook (or archived channel) shows only when posting")
        .assert_stdout_contains("`mmnotify probe`");
    assert_eq!(server.posts().len(), 0);
    for sub in ["doctor", "probe"] {
        let mut c = env.cmd();
        c.args([sub, "--help"]);
        let run = env.run(&mut c);
        run.assert_success();
        let help = run.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(help.contains("deleted webhook"), "{sub}: {help}");
        assert!(help.contains("visible"), "{sub}: {help}");
    }
}
