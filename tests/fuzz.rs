//! Property tests over hostile input: payload JSON (`send --payload -`), event JSON
//! (`build --event - --no-env`) and odd webhook URLs (secrets file and
//! `MATTERMOST_WEBHOOK_URL`), each run through the real binary against the emulator (or
//! `--dry-run`). Whatever the input: no panic or signal, an exit code of the contract,
//! and no token in any output or state file (the `Env` harness checks every run).
//! Case counts are bounded so the whole file stays within seconds on a loaded machine.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::support::{Env, MockServer, Run, ServerOptions, HOOK_ID};

/// Exit codes the CLI contract allows.
const CONTRACT_CODES: [i32; 10] = [0, 2, 3, 4, 5, 6, 7, 40, 43, 44];
const CASES: u32 = 48;

fn config() -> Config {
    Config {
        // MMNOTIFY_FUZZ_CASES=2000 for a longer hunt by hand.
        cases: std::env::var("MMNOTIFY_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        // No regression files in the source tree; a failure prints its minimal input.
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    }
}

fn check(run: &Run, what: &str) {
    assert!(
        CONTRACT_CODES.contains(&run.code),
        "exit code {} is outside the contract (101 = panic, -1 = signal) for {what}\n\
         stderr: {}",
        run.code,
        run.stderr
    );
    assert!(
        !run.stderr.contains("panicked"),
        "panic for {what}: {}",
        run.stderr
    );
}

/// Member names the server decodes, for keys worth mutating.
const PAYLOAD_KEYS: &[&str] = &[
    "text",
    "username",
    "icon_url",
    "icon_emoji",
    "channel",
    "props",
    "attachments",
    "type",
    "priority",
    "fields",
    "short",
    "title",
    "value",
    "fallback",
    "requested_ack",
    "persistent_notifications",
    "silent",
];
const EVENT_KEYS: &[&str] = &[
    "workflow",
    "state",
    "branch",
    "commit",
    "run_url",
    "mesh_node_id",
    "provider_run_id",
    "provider",
    "repository",
    "duration",
    "started_at",
];

/// A known key in a mixed case, sometimes with the long s / Kelvin sign Go folds to
/// `s` / `k`; or an arbitrary short key.
fn key(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (proptest::sample::select(known), any::<u64>()).prop_map(|(k, bits)| {
            k.chars()
                .enumerate()
                .map(|(i, c)| match (c, bits >> (i % 64) & 1, bits >> ((i + 7) % 64) & 3) {
                    ('s', _, 0) => 'ſ',
                    ('k', _, 0) => '\u{212a}',
                    (c, 1, _) => c.to_ascii_uppercase(),
                    (c, _, _) => c,
                })
                .collect()
        }),
        1 => "[a-zA-Z_]{1,8}",
    ]
}

/// Strings that break naive code: markup the server escapes, control characters, the
/// Unicode line separators, long runs, mentions, and the webhook token itself.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,24}",
        "[<>&\"\\\\]{1,12}",
        "[\\x00-\\x1f\\x7f\u{2028}\u{2029}\u{feff}]{1,8}",
        "\\PC{0,16}",
        Just(String::new()),
        Just("   \n\t".to_string()),
        Just("@alice <!channel> <http://x|y>".to_string()),
        Just("system_join".to_string()),
        Just("custom_x".to_string()),
        Just("urgent".to_string()),
        Just("succeeded".to_string()),
        Just("true".to_string()),
        (0usize..4).prop_map(|i| ["<", "é", "a", "&"][i].repeat(17_000)),
        (0usize..2).prop_map(|i| ["<", "x"][i].repeat(130_000)),
    ]
}

/// Any JSON value, rendered as text so objects can hold duplicate keys.
fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        prop_oneof![
            Just("1e308"),
            Just("-0.0"),
            Just("1e-7"),
            Just("123456789012345678901234567890")
        ]
        .prop_map(str::to_string),
        nasty_string().prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key(keys), inner), 0..5).prop_map(|kv| object(&kv)),
        ]
    })
}

fn object(kv: &[(String, String)]) -> String {
    let members: Vec<String> = kv
        .iter()
        .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// A top-level document: an object of (mostly known) keys and hostile values, either
/// bare or on top of `base` (members that make it otherwise valid, so that checks past
/// the first one are reached), sometimes with the token in one member, sometimes
/// something that is not a JSON object at all.
fn document(keys: &'static [&'static str], base: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let token_text = prop_oneof![
        Just(HOOK_ID.to_string()),
        Just(format!("see http://127.0.0.1/hooks/{HOOK_ID} now")),
    ];
    let members = move || prop::collection::vec((key(keys), json_value(keys)), 0..5);
    prop_oneof![
        3 => members().prop_map(|kv| object(&kv).into_bytes()),
        4 => members().prop_map(move |kv| with_base(base, &kv)),
        2 => (members(), key(keys), token_text).prop_map(move |(mut kv, k, t)| {
            kv.push((k, serde_json::to_string(&t).unwrap()));
            with_base(base, &kv)
        }),
        1 => prop_oneof![
            Just(b"{\"text\":\"raw\nnew\tline\"}".to_vec()),
            Just(b"{\"text\":\"x\"} trailing".to_vec()),
            Just(b"{\"text\":\"\xff\xfe\"}".to_vec()),
            Just(b"".to_vec()),
            Just(b"null".to_vec()),
            Just(b"[1,2]".to_vec()),
            Just(b"{\"text\":".to_vec()),
        ],
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

/// `base` members first, then `kv` (which may repeat or re-case them).
fn with_base(base: &str, kv: &[(String, String)]) -> Vec<u8> {
    let rest = object(kv);
    let inner = rest.trim_start_matches('{').trim_end_matches('}');
    let sep = if inner.is_empty() { "" } else { "," };
    format!("{{{base}{sep}{inner}}}").into_bytes()
}

/// Whether a document carries the token: such runs need a server (a dry run prints the
/// message it was given, and refusing that is the secret module's business).
fn has_token(doc: &[u8]) -> bool {
    doc.windows(HOOK_ID.len()).any(|w| w == HOOK_ID.as_bytes())
}

fn run_property<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    // A fixed seed: CI explores the same cases every run, and a failure reproduces.
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(config(), rng);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

#[test]
fn payload_json_never_panics_leaks_or_leaves_the_contract() {
    let (env, server) = crate::support::hooked(ServerOptions::default());
    run_property(
        (
            document(PAYLOAD_KEYS, r#""text":"ok @alice""#),
            any::<bool>(),
        ),
        |(doc, dry)| {
            let dry = dry && !has_token(&doc);
            let mut c = env.cmd();
            c.args([
                "send",
                "--webhook",
                "hook",
                "--payload",
                "-",
                "--timeout",
                "2s",
            ])
            .args(["--retries", "0", "--output", "json"]);
            if dry {
                c.arg("--dry-run");
            }
            let run = env.run_with_stdin(&mut c, &doc);
            check(
                &run,
                &format!("payload {:?}", String::from_utf8_lossy(&doc)),
            );
            Ok(())
        },
    );
    // The emulator saw real posts, not only local refusals.
    assert!(
        !server.posts().is_empty(),
        "no generated payload was ever posted"
    );
}

#[test]
fn event_json_never_panics_leaks_or_leaves_the_contract() {
    let (env, server) = crate::support::hooked(ServerOptions::default());
    run_property(
        (
            document(
                EVENT_KEYS,
                r#""workflow":"ci","state":"failed","provider_run_id":"r1""#,
            ),
            any::<bool>(),
        ),
        |(doc, dry)| {
            let dry = dry && !has_token(&doc);
            let mut c = env.cmd();
            c.args(["build", "--webhook", "hook", "--event", "-", "--no-env"])
                .args(["--timeout", "2s", "--retries", "0", "--no-dedupe"]);
            if dry {
                c.arg("--dry-run");
            }
            let run = env.run_with_stdin(&mut c, &doc);
            check(&run, &format!("event {:?}", String::from_utf8_lossy(&doc)));
            Ok(())
        },
    );
    assert!(
        !server.posts().is_empty(),
        "no generated event was ever posted"
    );
}

/// Odd spellings of a webhook URL around the emulator's real one, all on loopback.
fn odd_url(port: u16) -> impl Strategy<Value = Vec<u8>> {
    // Weighted towards the working URL, so that one mutation at a time is common.
    let host = prop_oneof![
        8 => Just(format!("127.0.0.1:{port}")),
        1 => Just("127.0.0.1:1".to_string()),
        1 => Just(format!("[::1]:{port}")),
        1 => Just("127.0.0.1:99999".to_string()),
        1 => Just("127.0.0.1:".to_string()),
        1 => Just(format!("u:{HOOK_ID}@127.0.0.1:{port}")),
    ];
    let scheme = prop_oneof![
        8 => Just("http"),
        1 => Just("HTTP"),
        1 => Just("https"),
        1 => Just("ftp"),
        1 => Just("")
    ];
    let path = prop_oneof![
        8 => Just(format!("/hooks/{HOOK_ID}")),
        1 => Just(format!("/hooks/{HOOK_ID}/")),
        1 => Just(format!("/hooks/hooks/{HOOK_ID}")),
        1 => Just(format!("/hooks/{}", HOOK_ID.to_uppercase())),
        1 => Just(format!("/hooks/{HOOK_ID}x")),
        1 => Just(format!("/hooks/{}", &HOOK_ID[..20])),
        1 => Just(format!("/{}/hooks/{HOOK_ID}", "a".repeat(3000))),
        1 => Just(format!("/mm/hooks/{HOOK_ID}")),
    ];
    let suffix = prop_oneof![
        6 => Just(String::new()),
        1 => Just("?a;b".to_string()),
        1 => Just("?x=%zz".to_string()),
        1 => Just("#frag".to_string()),
        1 => Just(format!("?t={HOOK_ID}")),
        1 => "[\\x00-\\x1f \u{feff}\u{2028}é<>&]{1,3}",
    ];
    let wrap = prop_oneof![
        3 => Just(("", "")),
        1 => Just(("\u{feff}", "\r\n")),
        1 => Just(("# comment\n\n", "\n")),
        1 => Just(("  ", " \t")),
        1 => Just(("", "\n\n# trailing")),
    ];
    let invalid_utf8 = prop::bool::weighted(0.15);
    (scheme, host, path, suffix, wrap, invalid_utf8).prop_map(
        |(scheme, host, path, suffix, (pre, post), invalid_utf8)| {
            let sep = if scheme.is_empty() { "" } else { "://" };
            let mut bytes = format!("{pre}{scheme}{sep}{host}{path}{suffix}{post}").into_bytes();
            if invalid_utf8 {
                bytes.push(0xff);
            }
            bytes
        },
    )
}

#[test]
fn odd_webhook_urls_never_panic_leak_or_leave_the_contract() {
    let server = MockServer::start_with(ServerOptions::default());
    let mut env = Env::new();
    env.watch(&server);
    run_property((odd_url(server.port()), any::<bool>()), |(url, in_file)| {
        let mut c = env.cmd();
        c.args([
            "send",
            "--timeout",
            "2s",
            "--retries",
            "0",
            "fuzz",
            "message",
        ]);
        if in_file {
            // Mode 0600, as the secrets-file rules want: the URL is what is under test.
            let path = env.secrets_dir().join("fz.url");
            std::fs::write(&path, &url).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            c.args(["--webhook", "fz"]);
        } else {
            // A NUL cannot travel in an environment variable; the OS would refuse it.
            let value: Vec<u8> = url.iter().copied().filter(|b| *b != 0).collect();
            c.env("MATTERMOST_WEBHOOK_URL", OsString::from_vec(value));
        }
        let run = env.run(&mut c);
        check(
            &run,
            &format!(
                "url {:?} (in file: {in_file})",
                String::from_utf8_lossy(&url)
            ),
        );
        Ok(())
    });
    assert!(
        !server.posts().is_empty(),
        "no generated URL ever reached the hook"
    );
}

/// The password in the generated SOCKS proxy URLs: never printed, like the token.
const SOCKS_PASSWORD: &str = "fuzz-socks-pw";

/// Odd SOCKS proxy URLs around a real danted (or, without one, a closed port): schemes,
/// credentials (one holds the webhook's token), ports, hosts and trailing parts.
fn odd_socks_proxy(live: u16, closed: u16) -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        4 => Just("socks5"),
        3 => Just("socks5h"),
        1 => Just("socks4"),
        1 => Just("socks4a"),
        1 => Just("socks"),
        1 => Just("SOCKS5H"),
        1 => Just("socks6"),
    ];
    let user = prop_oneof![
        4 => Just(String::new()),
        2 => Just(format!("user:{SOCKS_PASSWORD}@")),
        1 => Just(format!(":{SOCKS_PASSWORD}@")),
        1 => Just("user@".to_string()),
        1 => Just(format!("u:{HOOK_ID}@")),
        1 => Just(format!("{}:{SOCKS_PASSWORD}@", "u".repeat(300))),
        1 => Just(format!("user:{SOCKS_PASSWORD}%zz@")),
    ];
    let host = prop_oneof![
        6 => Just(format!("127.0.0.1:{live}")),
        1 => Just(format!("127.0.0.1:{closed}")),
        1 => Just(format!("[::1]:{live}")),
        1 => Just("127.0.0.1:99999".to_string()),
        1 => Just("127.0.0.1:0".to_string()),
        1 => Just("127.0.0.1".to_string()),
        1 => Just(":1080".to_string()),
        1 => Just("proxy.nowhere.invalid:1080".to_string()),
    ];
    let suffix = prop_oneof![
        6 => Just(String::new()),
        1 => Just("/".to_string()),
        1 => Just("/path".to_string()),
        1 => Just("?q=1".to_string()),
        1 => "[\\x01-\\x1f \u{feff}é<>&]{1,3}",
    ];
    (scheme, user, host, suffix)
        .prop_map(|(scheme, user, host, suffix)| format!("{scheme}://{user}{host}{suffix}"))
}

#[test]
fn socks_proxy_values_never_panic_leak_or_leave_the_contract() {
    let socks = crate::support::SocksServer::start(
        "socks_proxy_values_never_panic_leak_or_leave_the_contract",
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let live = socks
        .as_ref()
        .map_or(closed, crate::support::SocksServer::port);
    let (mut env, server) = crate::support::hooked(ServerOptions::default());
    env.secret(SOCKS_PASSWORD);
    let source = prop_oneof![
        Just("--proxy"),
        Just("MMNOTIFY_PROXY"),
        Just("ALL_PROXY"),
        Just("all_proxy"),
        Just("HTTPS_PROXY"),
    ];
    run_property(
        (odd_socks_proxy(live, closed), source),
        |(proxy, source)| {
            let mut c = env.cmd();
            c.args([
                "send",
                "--webhook",
                "hook",
                "--timeout",
                "2s",
                "--retries",
                "0",
            ])
            .args(["--no-spool", "fuzz"]);
            if source == "--proxy" {
                c.args(["--proxy", &proxy]);
            } else {
                c.env(source, &proxy);
            }
            let run = env.run(&mut c);
            check(&run, &format!("proxy {proxy:?} from {source}"));
            Ok(())
        },
    );
    if socks.is_some() {
        assert!(
            !server.posts().is_empty(),
            "no generated proxy ever carried a post"
        );
    }
}
