//! The way to the server: SOCKS proxies (a real danted), proxy settings that are wrong,
//! TLS files that are not files, answers outside HTTP's status range, and what a failed
//! handshake is blamed on.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Env, Fault, MockServer, Pki, ServerOptions, SocksServer, TlsSetup, HOOK_ID};

/// The password of the SOCKS proxy URLs below: watched like the webhook token.
const PROXY_PASSWORD: &str = "s0cks-secretpw";

/// [`crate::support::setup`], watching the proxy password too.
fn setup() -> (Env, MockServer) {
    let (mut env, server) = crate::support::setup();
    env.secret(PROXY_PASSWORD);
    (env, server)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

mod socks {
    use super::*;

    /// `--proxy`, `MMNOTIFY_PROXY` and `ALL_PROXY` with `socks5://` and `socks5h://` all
    /// reach the server through danted (its log shows each connection); `ALL_PROXY` is
    /// used by `send` as by `doctor`, and the proxy's password is never shown.
    #[test]
    fn socks_proxies_carry_posts_from_every_source() {
        let Some(socks) = SocksServer::start("socks_proxies_carry_posts_from_every_source") else {
            return;
        };
        let (env, server) = setup();
        let with_pw = format!("user:{PROXY_PASSWORD}");
        let socks5 = socks.url("socks5", Some(&with_pw));
        let socks5h = socks.url("socks5h", None);

        env.run(&mut env.send(&["--proxy", &socks5, "-v", "flag"]))
            .assert_success();
        assert_eq!(socks.connections_to(server.port()), 1, "{}", socks.log());

        let mut c = env.send(&["env"]);
        c.env("MMNOTIFY_PROXY", &socks5h);
        env.run(&mut c).assert_success();
        assert_eq!(socks.connections_to(server.port()), 2, "{}", socks.log());

        for var in ["ALL_PROXY", "all_proxy"] {
            let mut c = env.send(&[var]);
            c.env(var, &socks5);
            env.run(&mut c).assert_success();
        }
        assert_eq!(
            socks.connections_to(server.port()),
            4,
            "ALL_PROXY must not be ignored by send: {}",
            socks.log()
        );
        assert_eq!(server.posts().len(), 4);

        // SOCKS4 (this machine resolves) and SOCKS4a (the proxy resolves) work too.
        for scheme in ["socks4", "socks4a"] {
            env.run(&mut env.send(&["--proxy", &socks.url(scheme, None), scheme]))
                .assert_success();
        }
        assert_eq!(socks.connections_to(server.port()), 6, "{}", socks.log());
        assert_eq!(server.posts().len(), 6);

        let mut c = env.doctor("hook");
        c.env("ALL_PROXY", &socks5);
        let run = env.run(&mut c);
        run.assert_success()
            .assert_stdout_contains(&format!("✓ proxy: socks5://***@127.0.0.1:{}", socks.port()));
        assert_eq!(socks.connections_to(server.port()), 7, "{}", socks.log());
        assert_eq!(server.posts().len(), 6, "doctor never posts");
    }

    /// A SOCKS proxy that is not there, or cannot reach the server, is a network failure
    /// (exit 5) that names the proxy, without its password; never an abort.
    #[test]
    fn a_failing_socks_proxy_is_exit_5_naming_it() {
        let Some(socks) = SocksServer::start("a_failing_socks_proxy_is_exit_5_naming_it") else {
            return;
        };
        let (env, _server) = setup();
        let with_pw = format!("user:{PROXY_PASSWORD}");
        let quick = ["--retries", "0", "--no-spool", "x"];

        // Nothing listens where the proxy should be.
        let absent = format!("socks5://{with_pw}@127.0.0.1:{}", free_port());
        let mut c = env.send(&quick);
        c.env("ALL_PROXY", &absent);
        env.run(&mut c)
            .assert_code(5)
            .assert_stderr_contains("proxy socks5://***@127.0.0.1:")
            .assert_stderr_contains("refused the connection");

        // The proxy is up, the server behind it is not: danted answers "connection
        // refused" in SOCKS, which is the proxy's report, not a refusal by the proxy.
        let closed = free_port();
        env.write_secret(
            "closed",
            &format!("http://127.0.0.1:{closed}/hooks/{HOOK_ID}"),
        );
        for scheme in ["socks5", "socks5h"] {
            let proxy = socks.url(scheme, Some(&with_pw));
            let mut c = env.cmd();
            c.args(["send", "--webhook", "closed", "--proxy", &proxy])
                .args(quick);
            env.run(&mut c)
                .assert_code(5)
                .assert_stderr_contains(&format!(
                    "the SOCKS proxy {scheme}://***@127.0.0.1:{} could not open a connection \
                     to 127.0.0.1:{closed}",
                    socks.port()
                ));
        }
    }

    /// `socks5://` resolves the webhook's host on this machine, `socks5h://` at the
    /// proxy: a name that resolves nowhere is blamed where it was looked up.
    #[test]
    fn socks5_resolves_here_and_socks5h_at_the_proxy() {
        let Some(socks) = SocksServer::start("socks5_resolves_here_and_socks5h_at_the_proxy")
        else {
            return;
        };
        let (env, _server) = setup();
        env.write_secret(
            "far",
            &format!("http://mm.nowhere.invalid:8065/hooks/{HOOK_ID}"),
        );
        let send_far = |proxy: &str| {
            let mut c = env.cmd();
            c.args(["send", "-q", "--webhook", "far", "--proxy", proxy])
                .args(["--retries", "0", "--no-spool", "x"]);
            env.run(&mut c)
        };
        send_far(&socks.url("socks5", None))
            .assert_code(5)
            .assert_stderr_contains("cannot resolve mm.nowhere.invalid on this machine")
            .assert_stderr_contains("socks5h://");
        send_far(&socks.url("socks5h", None))
            .assert_code(5)
            .assert_stderr_contains(&format!(
                "the SOCKS proxy socks5h://127.0.0.1:{} could not open a connection to \
                 mm.nowhere.invalid:8065",
                socks.port()
            ));
    }
}

mod proxy_settings {
    use super::*;

    /// `HTTPS_PROXY=bogus` (no scheme, no port) and a port over 65535 are refused before
    /// any work, naming the variable (3) or the flag (2); ureq alone ignored the first and
    /// read the second as port 80.
    #[test]
    fn invalid_proxy_urls_are_refused_naming_their_source() {
        let (env, server) = setup();
        for (var, value) in [
            ("HTTPS_PROXY", "bogus"),
            ("https_proxy", "http://proxy.example:65536"),
            ("ALL_PROXY", "ftp://proxy.example:21"),
        ] {
            let mut c = env.send(&["x"]);
            c.env(var, value);
            env.run(&mut c)
                .assert_code(3)
                .assert_stderr_contains(&format!("the proxy in {var} is not a valid proxy URL"));
            let mut c = env.doctor("hook");
            c.env(var, value);
            env.run(&mut c)
                .assert_code(3)
                .assert_stdout_contains(&format!("✗ proxy: the proxy in {var}"));
        }
        let bad_port = format!("http://user:{PROXY_PASSWORD}@proxy.example:65536");
        env.run(&mut env.send(&["--proxy", &bad_port, "x"]))
            .assert_code(2)
            .assert_stderr_contains("port `65536` is not a number from 1 to 65535");
        let mut c = env.send(&["x"]);
        c.env("MMNOTIFY_PROXY", "http://proxy.example:99999");
        env.run(&mut c).assert_code(2);
        assert_eq!(server.requests().len(), 0);
    }

    /// A proxy whose name does not resolve is named, not the webhook's host (which the
    /// proxy would resolve).
    #[test]
    fn an_unresolvable_proxy_is_named_not_the_webhook_host() {
        let (env, _server) = setup();
        env.write_secret(
            "far",
            &format!("https://mm.example.invalid/hooks/{HOOK_ID}"),
        );
        let mut c = env.cmd();
        c.args([
            "send",
            "--webhook",
            "far",
            "--retries",
            "0",
            "--no-spool",
            "x",
        ])
        .env("HTTPS_PROXY", "proxy.nowhere.invalid:3128");
        env.run(&mut c)
            .assert_code(5)
            .assert_stderr_contains("cannot resolve proxy proxy.nowhere.invalid:3128");
    }
}

/// A FIFO nobody writes to as `--ca-file`, `--client-cert` or `--client-key` is refused
/// at once (3) by `send` and `doctor`, as a secrets file is; it used to block forever.
#[test]
fn tls_files_that_are_not_regular_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap().keep();
    let pki = Pki::generate(&dir);
    let (env, server) = crate::support::hooked(ServerOptions {
        tls: Some(TlsSetup::mtls(&pki)),
        ..Default::default()
    });
    let fifo = env.root().join("pem.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let fifo = fifo.to_str().unwrap();
    let (ca, cert, key) = (
        pki.ca_cert.to_str().unwrap(),
        pki.client_cert.to_str().unwrap(),
        pki.client_key.to_str().unwrap(),
    );
    for (what, files) in [
        ("CA file", [fifo, cert, key]),
        ("client certificate", [ca, fifo, key]),
        ("client key", [ca, cert, fifo]),
    ] {
        let flags = [
            "--ca-file",
            files[0],
            "--client-cert",
            files[1],
            "--client-key",
            files[2],
        ];
        let needle = format!("{what} {fifo} is not a regular file");
        env.run(env.send(&flags).arg("x"))
            .assert_code(3)
            .assert_stderr_contains(&needle);
        env.run(env.doctor("hook").args(flags))
            .assert_code(3)
            .assert_stdout_contains(&needle);
    }
    // A directory is no PEM file either.
    env.run(&mut env.send(&["--ca-file", env.root().to_str().unwrap(), "x"]))
        .assert_code(3)
        .assert_stderr_contains("is not a regular file");
    assert_eq!(server.requests().len(), 0);
}

/// 600 and 999 are no HTTP status a server means as "failed": like every other answer
/// that is not a success they are 7; 6 stays for 429 and 5xx.
#[test]
fn statuses_outside_100_to_599_are_exit_7() {
    let (env, server) = setup();
    for status in [600, 999] {
        server.clear();
        server.script([Fault::Response {
            status,
            headers: vec![],
            body: "odd".into(),
        }]);
        let run = env.run(&mut env.send(&["--output", "json", "x"]));
        run.assert_code(7)
            .assert_stderr_contains(&format!("the server answered HTTP {status}"));
        assert_eq!(run.json()["http_status"], status);
        assert_eq!(server.requests().len(), 1, "{status} is not retried");
    }
    server.clear();
    server.script([Fault::Status(505)]);
    env.run(&mut env.send(&["x"])).assert_code(6);
}

/// A secrets file whose lines end in a lone CR (classic Mac) is read like any other.
#[test]
fn a_secrets_file_with_cr_line_ends_is_read() {
    let (env, server) = setup();
    env.write_secret(
        "mac",
        &format!("# ops webhook\r\r{}\r# rotated yearly\r", server.hook_url()),
    );
    let mut c = env.cmd();
    c.args(["send", "--webhook", "mac", "x"]);
    env.run(&mut c).assert_success();
    assert_eq!(server.posts().len(), 1);
}

mod handshakes {
    use super::*;

    /// A TLS server that speaks only TLS 1.0: `openssl s_server -tls1` when openssl is
    /// installed, else a listener that answers every `ClientHello` with the alert such a
    /// server sends (fatal `protocol_version` in a TLS 1.0 record).
    enum OldTls {
        Openssl(Child),
        Raw,
    }

    impl Drop for OldTls {
        fn drop(&mut self) {
            if let OldTls::Openssl(child) = self {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    fn has_openssl() -> bool {
        Command::new("openssl")
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn tls10_server(pki: &Pki) -> (OldTls, u16) {
        if has_openssl() {
            let port = free_port();
            let child = Command::new("openssl")
                .args(["s_server", "-quiet", "-tls1", "-accept"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("-cert")
                .arg(&pki.server_cert)
                .arg("-key")
                .arg(&pki.server_key)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start openssl s_server");
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "openssl s_server did not listen");
                std::thread::sleep(Duration::from_millis(20));
            }
            return (OldTls::Openssl(child), port);
        }
        eprintln!("openssl is not installed: a raw protocol_version alert stands in for it");
        (OldTls::Raw, alert_server(0x46))
    }

    /// Answers each connection's first bytes with one fatal alert in a TLS 1.0 record.
    fn alert_server(description: u8) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                let mut hello = [0u8; 5];
                if s.read_exact(&mut hello).is_ok() {
                    let _ = s.write_all(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, description]);
                }
            }
        });
        port
    }

    fn https_secret(env: &Env, name: &str, port: u16) {
        env.write_secret(name, &format!("https://127.0.0.1:{port}/hooks/{HOOK_ID}"));
    }

    #[test]
    fn a_tls_1_0_only_server_is_named_not_a_client_certificate() {
        let dir = tempfile::tempdir().unwrap().keep();
        let pki = Pki::generate(&dir);
        let (_server, port) = tls10_server(&pki);
        let env = Env::new();
        https_secret(&env, "old", port);
        let ca = pki.ca_cert.to_str().unwrap();
        let mut c = env.cmd();
        c.args(["send", "--webhook", "old", "--ca-file", ca]).args([
            "--retries",
            "0",
            "--no-spool",
            "x",
        ]);
        let run = env.run(&mut c);
        run.assert_code(5)
            .assert_stderr_contains("only offers a TLS version older than 1.2");
        assert!(!run.stderr.contains("client certificate"), "{}", run.stderr);
        let run = env.run(env.doctor("old").args(["--ca-file", ca]));
        run.assert_code(5)
            .assert_stdout_contains("✗ tls: TLS: 127.0.0.1:")
            .assert_stdout_contains("only offers a TLS version older than 1.2");

        // A server that answers handshake_failure may share no version with us, or want
        // a client certificate: both are said.
        let port = alert_server(0x28);
        https_secret(&env, "either", port);
        let mut c = env.cmd();
        c.args(["send", "--webhook", "either", "--ca-file", ca])
            .args(["--retries", "0", "--no-spool", "x"]);
        env.run(&mut c)
            .assert_code(5)
            .assert_stderr_contains("shares no TLS version or cipher suite")
            .assert_stderr_contains("--client-cert");
    }

    /// A server configured with its CA's certificate instead of its own.
    #[test]
    fn a_ca_certificate_served_as_the_servers_own_is_said_in_words() {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let (env, _server) = crate::support::hooked(ServerOptions {
            tls: Some(TlsSetup {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
                client_ca_pem: None,
            }),
            ..Default::default()
        });
        let ca = env.write_file("ca-as-leaf.pem", &cert.pem(), 0o644);
        let mut c = env.send(&["--retries", "0", "--no-spool", "x"]);
        c.arg("--ca-file").arg(&ca);
        let run = env.run(&mut c);
        run.assert_code(5)
            .assert_stderr_contains("presented a CA certificate as its own certificate");
        assert!(!run.stderr.contains("CaUsedAsEndEntity"), "{}", run.stderr);
    }
}
