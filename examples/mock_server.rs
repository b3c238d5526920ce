//! The test suite's Mattermost emulator as a standalone process, for scripts/bench.py.
//! Prints `URL <hook url>` and, with `--tls`, `CA <pem path>`, then serves until stdin
//! closes. With `--rest` it also seeds the REST world (`Rest::seed`) and prints
//! `BOT_URL <server url>`, `BOT_TOKEN <token>` (a throwaway test token) and
//! `CHANNEL dev-team/builds`; at exit it reports the bot's posts on stderr, and how many
//! runs (`props.mmnotify.run_key`) got more than one post of their own (a channel post,
//! or a reply in a broken job's thread) or more than one "change" post (issue 18's
//! benchmark: must be 0), and how many GETs it answered. With `--post-times` it prints, at exit, one stderr line per
//! request, `POST <unix ms received> <props.mmnotify.event.provider_run_id>` (issue 17's
//! latency and failover benchmark). Build it with `cargo build --example mock_server`.

use std::io::Read;

use mmnotify_emulator::{MockServer, Pki, ServerOptions, TlsSetup};

fn main() {
    let tls = std::env::args().any(|a| a == "--tls");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = ServerOptions::default();
    if tls {
        let pki = Pki::generate(dir.path());
        println!("CA {}", pki.ca_cert.display());
        opts.tls = Some(TlsSetup::server(&pki));
    }
    let server = MockServer::start_with(opts);
    // The receipt times are `Instant`s: one wall-clock reading now places them.
    let (t0, wall0) = (std::time::Instant::now(), std::time::SystemTime::now());
    println!("URL {}", server.hook_url());
    let seed = std::env::args()
        .any(|a| a == "--rest")
        .then(|| server.rest().seed());
    if let Some(seed) = &seed {
        println!("BOT_URL {}", server.url());
        println!("BOT_TOKEN {}", seed.bot.token);
        println!("CHANNEL dev-team/builds");
    }
    println!("READY");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    eprintln!("mock server: {} requests", server.requests().len());
    if std::env::args().any(|a| a == "--post-times") {
        let epoch = wall0
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0;
        for r in server.requests() {
            let at = epoch + (r.received_at.duration_since(t0).as_secs_f64() * 1000.0);
            let body = r.json();
            let id = body["props"]["mmnotify"]["event"]["provider_run_id"]
                .as_str()
                .unwrap_or("-")
                .to_string();
            eprintln!("POST {at:.3} {id}");
        }
    }
    if let Some(seed) = &seed {
        report_rest(&server, seed);
    }
}

/// The bot's posts at exit (issue 18's benchmark).
fn report_rest(server: &MockServer, seed: &mmnotify_emulator::Seed) {
    let rest = server.rest();
    let roots = rest.roots_in(&seed.builds);
    let all = rest.all_posts();
    // A run's own post is a root post, or a reply in a broken job's thread
    // (`props.mmnotify.post` = "run"; posts made before the field: root posts); a
    // run that breaks or fixes a job from a thread also has one "change" post.
    let mut per_run = std::collections::HashMap::<String, (usize, usize)>::new();
    for p in all.iter().filter(|p| !p.is_deleted()) {
        let mm = p.props.get("mmnotify");
        let Some(key) = mm.and_then(|m| m.get("run_key")).and_then(|k| k.as_str()) else {
            continue;
        };
        let kind = mm.and_then(|m| m.get("post")).and_then(|k| k.as_str());
        let counts = per_run.entry(key.to_string()).or_default();
        match kind {
            Some("run") => counts.0 += 1,
            None if p.root_id.is_empty() => counts.0 += 1,
            Some("change") => counts.1 += 1,
            _ => {}
        }
    }
    let patches: usize = all.iter().map(|p| p.history.len()).sum();
    let replies = all.iter().filter(|p| !p.root_id.is_empty()).count();
    let threaded = all
        .iter()
        .filter(|p| {
            !p.root_id.is_empty()
                && p.props
                    .get("mmnotify")
                    .and_then(|m| m.get("post"))
                    .and_then(|k| k.as_str())
                    == Some("run")
        })
        .count();
    let reads = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    eprintln!(
        "mock server: {} channel posts, {replies} replies, {patches} patches, {} runs, {} runs with more than one post, {reads} reads, {threaded} runs in a broken job's thread",
        roots.len(),
        per_run.len(),
        per_run.values().filter(|(r, c)| *r > 1 || *c > 1).count()
    );
}
