//! `mmnotify doctor`: walk the path a post would take (secret, URL, proxy, DNS, TCP, TLS)
//! and say at each step whether it holds, without posting anything.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::cli::DoctorArgs;
use crate::commands::locale;
use crate::commands::output::{print_stdout_line, Ending, Outcome, Printer, Status};
use crate::error::{self, ExitKind};
use crate::secret::{self, Source, Sources};
use crate::wire::deliver::{redact_userinfo, Deliverer, ProxyChoice};

struct Report {
    printer: Printer,
    checks: Vec<serde_json::Value>,
    first_failure: Option<(ExitKind, String)>,
    /// The redacted webhook, once it is known.
    target: Option<String>,
    /// What the server answered to the ping, if it was reached.
    http_status: Option<u16>,
    started: Instant,
}

impl Report {
    fn pass(&mut self, check: &str, detail: String) {
        if !self.printer.json {
            print_stdout_line(&locale::fit(&format!(
                "{} {check}: {detail}",
                locale::ok_mark()
            )));
        }
        self.checks
            .push(json!({"check": check, "ok": true, "detail": detail}));
    }

    fn fail(&mut self, check: &str, kind: ExitKind, detail: String) {
        if !self.printer.json {
            print_stdout_line(&locale::fit(&format!(
                "{} {check}: {detail}",
                locale::fail_mark()
            )));
        }
        self.checks
            .push(json!({"check": check, "ok": false, "detail": detail}));
        if self.first_failure.is_none() {
            self.first_failure = Some((kind, format!("{check}: {detail}")));
        }
    }

    fn finish(self) -> Result<Ending> {
        let mut outcome = Outcome::new(if self.first_failure.is_none() {
            Status::Ok
        } else {
            Status::Failed
        })
        .with("checks", self.checks);
        outcome.target = self.target;
        outcome.http_status = self.http_status;
        outcome.elapsed = Some(self.started.elapsed());
        let err = self
            .first_failure
            .map(|(kind, msg)| error::fail(kind, format!("doctor found a problem: {msg}")));
        Ok(Ending::outcome(outcome, err))
    }
}

pub fn run(args: DoctorArgs) -> Result<Ending> {
    // --timeout is the budget of the whole diagnosis, as it is of a whole delivery.
    let deadline = Instant::now() + args.common.delivery.timeout;
    let mut r = Report {
        printer: Printer::new(&args.common.output),
        checks: Vec::new(),
        first_failure: None,
        target: None,
        http_status: None,
        started: Instant::now(),
    };
    let sources = Sources::from_args(&args.common.webhook);
    let queue = crate::gateway::url::RedisSources::new(
        crate::gateway::url::Role::Queue,
        args.queue.queue_file.clone(),
        args.queue.queue.clone(),
    );
    if queue.is_given() {
        for (check, result) in crate::gateway::doctor::checks(&args) {
            match result {
                Ok(detail) => r.pass(check, detail),
                Err((kind, detail)) => r.fail(check, kind, detail),
            }
        }
        // A builder has a queue and no webhook: that is its whole configuration.
        if r.first_failure.is_some() || sources.select().is_err() {
            return r.finish();
        }
    }
    let source = match sources.select() {
        Ok(s) => s,
        Err(e) => {
            r.fail("secret", ExitKind::Config, format!("{e:#}"));
            return r.finish();
        }
    };
    if let Err(e) = sources.check_known(&source) {
        r.fail("secret", ExitKind::Config, format!("{e:#}"));
        return r.finish();
    }
    r.pass("secret", source.describe());
    if let Some(path) = source.file() {
        match secret::check_file(path) {
            Ok(facts) => r.pass(
                "file",
                format!(
                    "owner uid {}{}, mode {:04o}",
                    facts.uid,
                    if facts.uid == 0 { " (root)" } else { "" },
                    facts.mode
                ),
            ),
            Err(e) => {
                r.fail("file", ExitKind::Config, format!("{e:#}"));
                return r.finish();
            }
        }
    }
    let url = match sources.load(&source) {
        Ok(u) => u,
        Err(e) => {
            r.fail("url", ExitKind::Config, format!("{e:#}"));
            return r.finish();
        }
    };
    r.target = Some(url.redacted());
    if url.is_https() || url.is_loopback() {
        r.pass("url", format!("{url}"));
    } else {
        r.pass(
            "url",
            format!("{url} (plain http: the token travels unencrypted; prefer https)"),
        );
    }
    if let Source::Env = source {
        // Nothing to check on disk: CI systems inject the URL directly.
    }

    let choice = ProxyChoice::from_arg(args.common.delivery.proxy.as_deref());
    let proxy = match choice.resolve() {
        Ok(p) => p,
        Err(e) => {
            r.fail("proxy", ExitKind::Config, format!("{e:#}"));
            return r.finish();
        }
    };
    let target_uri: Option<ureq::http::Uri> = url.server_base().parse().ok();
    let via = match &proxy {
        Some(p) if target_uri.as_ref().is_some_and(|u| p.is_no_proxy(u)) => {
            r.pass(
                "proxy",
                format!(
                    "{} is bypassed for {} (NO_PROXY)",
                    proxy_label(p),
                    url.host()
                ),
            );
            None
        }
        Some(p) => {
            r.pass("proxy", format!("{} for {}", proxy_label(p), url.host()));
            Some((p.host().to_string(), p.port()))
        }
        None => {
            r.pass("proxy", "none".into());
            None
        }
    };

    // With a proxy, the proxy resolves the target: check the way to the proxy instead.
    let (host, port, what) = match &via {
        Some((h, p)) => (h.clone(), *p, "proxy "),
        None => (url.host().to_string(), url.port(), ""),
    };
    let lookup_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addrs: Vec<_> = match resolve_within(lookup_host, port, left(deadline)) {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            r.fail(
                "dns",
                ExitKind::Network,
                format!("cannot resolve {what}{host}: {e}; check the name and /etc/resolv.conf"),
            );
            return r.finish();
        }
        None => {
            r.fail(
                "dns",
                ExitKind::Network,
                format!(
                    "no answer for {what}{host} within the --timeout budget of {}; check \
                     /etc/resolv.conf and that the resolver is reachable",
                    humantime::format_duration(args.common.delivery.timeout)
                ),
            );
            return r.finish();
        }
    };
    let shown: Vec<String> = addrs.iter().take(3).map(|a| a.ip().to_string()).collect();
    r.pass("dns", format!("{what}{host} → {}", shown.join(", ")));

    let start = Instant::now();
    let mut last_err = None;
    let mut connected = None;
    for addr in &addrs {
        let timeout = args.common.delivery.attempt_timeout.min(left(deadline));
        if timeout.is_zero() {
            last_err = Some("the --timeout budget ran out".to_string());
            break;
        }
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(_) => {
                connected = Some(*addr);
                break;
            }
            Err(e) => last_err = Some(format!("{addr}: {e}")),
        }
    }
    match connected {
        Some(addr) => r.pass(
            "tcp",
            format!(
                "connected to {what}{addr} in {} ms",
                start.elapsed().as_millis()
            ),
        ),
        None => {
            r.fail(
                "tcp",
                ExitKind::Network,
                format!(
                    "cannot connect to {what}{host}:{port} ({}); is the server up, and does a \
                     firewall allow it?",
                    last_err.unwrap_or_default()
                ),
            );
            return r.finish();
        }
    }

    let deliverer = match Deliverer::new(&args.common.delivery) {
        Ok(d) => d,
        Err(e) => {
            r.fail("tls", crate::error::exit_kind(&e), format!("{e:#}"));
            return r.finish();
        }
    };
    let within = left(deadline);
    if within.is_zero() {
        r.fail(
            if url.is_https() { "tls" } else { "http" },
            ExitKind::Network,
            format!(
                "not tried: the --timeout budget of {} ran out",
                humantime::format_duration(args.common.delivery.timeout)
            ),
        );
        return r.finish();
    }
    match deliverer.ping(&url, within) {
        Ok(status) => {
            r.http_status = Some(status);
            let tls = if url.is_https() {
                "handshake ok, certificate valid for the host"
            } else {
                "not used (plain http)"
            };
            r.pass(
                "tls",
                format!(
                    "{tls}; GET {}/api/v4/system/ping answered HTTP {status}",
                    url.server_base()
                ),
            );
        }
        Err(diag) => r.fail(
            if url.is_https() { "tls" } else { "http" },
            diag.kind,
            diag.message,
        ),
    }
    r.finish()
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Resolves on a helper thread so a hanging resolver cannot outlast the budget; `None`
/// when it did not answer in time (the thread is left to finish on its own).
fn resolve_within(
    host: String,
    port: u16,
    within: Duration,
) -> Option<std::io::Result<Vec<std::net::SocketAddr>>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send((host.as_str(), port).to_socket_addrs().map(|a| a.collect()));
    });
    rx.recv_timeout(within).ok()
}

fn proxy_label(p: &ureq::Proxy) -> String {
    let user = if p.username().is_some() { "***@" } else { "" };
    redact_userinfo(&format!("http://{user}{}:{}", p.host(), p.port()))
}
