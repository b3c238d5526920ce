//! `mmnotify doctor`: walk the path a post would take (secret, URL, proxy, DNS, TCP, TLS)
//! and say at each step whether it holds, without posting anything.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::cli::DoctorArgs;
use crate::config::print::shown_name;
use crate::config::Config;
use crate::error::{self, ExitKind};
use crate::pipeline::locale;
use crate::pipeline::output::{print_stdout_line, Ending, Outcome, Printer, Status};
use crate::secret::{self, Sources, WebhookUrl};
use crate::text::time::format_duration;
use crate::wire::deliver::{self, proxy_label, Deliverer, ProxyChoice};

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

    fn finish(self) -> Ending {
        // Everything passed, yet nothing was posted: the one fault left to find is one
        // only the server reveals when it gets a post.
        if self.first_failure.is_none() && self.target.is_some() && !self.printer.json {
            print_stdout_line(
                "note: doctor posts nothing, so a deleted webhook (or archived channel) shows \
                 only when posting: `mmnotify probe` posts a visible test message",
            );
        }
        let mut outcome = Outcome::new(if self.first_failure.is_none() {
            Status::Ok
        } else {
            Status::Failed
        })
        .with("checks", self.checks);
        outcome.target = self.target;
        outcome.http_status = self.http_status;
        outcome.elapsed = Some(self.started.elapsed());
        // The ✗ line above already says what is wrong and how to fix it; the error line
        // only names the check, so the problem is not printed twice. Under --output json
        // no ✗ line was printed, and the outcome's message carries the whole problem.
        let json = self.printer.json;
        let err = self.first_failure.map(|(kind, msg)| {
            let check = msg.split(':').next().unwrap_or_default();
            if json {
                error::fail(kind, format!("doctor found a problem: {msg}"))
            } else {
                error::fail(
                    kind,
                    format!("doctor found a problem: the {check} check failed (see above)"),
                )
            }
        });
        Ending::outcome(outcome, err)
    }
}

#[expect(clippy::unnecessary_wraps, reason = "the signature every command has")]
pub(super) fn run(args: DoctorArgs, config: Option<&std::path::Path>) -> Result<Ending> {
    // --timeout is the budget of the whole diagnosis, as it is of a whole delivery.
    let deadline = Instant::now() + args.common.delivery.timeout;
    let mut r = Report {
        printer: Printer::from(&args.common.output),
        checks: Vec::new(),
        first_failure: None,
        target: None,
        http_status: None,
        started: Instant::now(),
    };
    let given = Sources::from(&args.common.webhook);
    // Each check records its verdict; `None` means it failed and the walk stops there.
    let Some(config) = check_config(&mut r, config) else {
        return Ok(r.finish());
    };
    // As `build` does: the config's routes decide where posts go unless a webhook is
    // typed on the command line.
    let routes = config
        .as_ref()
        .filter(|c| !c.routes.is_empty() || c.default_webhook.is_some())
        .filter(|_| !super::build::webhook_on_command_line(&args.common.webhook));
    let has_webhook = routes.is_some() || given.select().is_ok();
    if check_queue(&mut r, &args, has_webhook).is_none() {
        return Ok(r.finish());
    }
    let sources = match routes {
        Some(c) => match check_routes(&mut r, c, &given) {
            Some(sources) => sources,
            None => return Ok(r.finish()),
        },
        None => given,
    };
    let Some(url) = check_secret(&mut r, &sources) else {
        return Ok(r.finish());
    };
    let Some(via) = check_proxy(&mut r, &args, &url) else {
        return Ok(r.finish());
    };
    // With a proxy, the proxy resolves the target: check the way to the proxy instead.
    let way = match &via {
        Some((h, p)) => Way {
            host: h.clone(),
            port: *p,
            what: "proxy ",
        },
        None => Way {
            host: url.host().to_string(),
            port: url.port(),
            what: "",
        },
    };
    let Some(addrs) = check_dns(&mut r, &args, &way, deadline) else {
        return Ok(r.finish());
    };
    if check_tcp(&mut r, &args, &way, &addrs, deadline).is_none() {
        return Ok(r.finish());
    }
    check_http(&mut r, &args, &url, deadline);
    Ok(r.finish())
}

/// The config file: which one was loaded and what it holds, or that there is none. A
/// config that fails to load fails every `build`, so the walk stops there.
fn check_config(r: &mut Report, given: Option<&std::path::Path>) -> Option<Option<Config>> {
    match super::config_file::find(given) {
        Ok(Some(c)) => {
            let n = |k: usize, one: &str, many: &str| {
                format!("{k} {}", if k == 1 { one } else { many })
            };
            r.pass(
                "config",
                format!(
                    "{} ({}, {})",
                    crate::config::shown(&c.path.display().to_string()),
                    n(c.routes.len(), "route", "routes"),
                    n(c.people.len(), "person", "people"),
                ),
            );
            Some(Some(c))
        }
        Ok(None) => {
            r.pass("config", super::config_file::none_found());
            Some(None)
        }
        Err(e) => {
            r.fail("config", ExitKind::Config, format!("{e:#}"));
            None
        }
    }
}

/// Each route's webhook file (checked and read as a post would), one line each; a route
/// that fails does not stop the others. Returns the webhook the rest of the walk checks:
/// the config's `default_webhook`, else the usual sources, else the first route that
/// passed; `None` when there is none left to walk.
fn check_routes(r: &mut Report, config: &Config, given: &Sources) -> Option<Sources> {
    use super::config_file::named;
    let dir = &given.secrets_dir;
    let mut first_good = None;
    for (i, route) in config.routes.iter().enumerate() {
        let name = route.webhook.as_str();
        let what = format!(
            "route {} (line {}) `{}`",
            i + 1,
            route.line,
            shown_name(name)
        );
        let sources = named(dir, name);
        let resolved = sources.select().and_then(|s| {
            sources.check_known(&s)?;
            Ok((sources.load(&s)?, s))
        });
        match resolved {
            Ok((url, source)) => {
                r.pass("route", format!("{what}: {} → {url}", source.describe()));
                first_good.get_or_insert(name);
            }
            Err(e) => r.fail(
                "route",
                ExitKind::Config,
                format!(
                    "{what}: {e:#}; create {}.url in the secrets directory or fix the route",
                    shown_name(name)
                ),
            ),
        }
    }
    if let Some(name) = &config.default_webhook {
        return Some(named(dir, name));
    }
    if given.select().is_ok() {
        return Some(given.clone());
    }
    first_good.map(|name| named(dir, name))
}

/// Where the DNS and TCP checks go: the webhook's server, or the proxy in front of it.
struct Way {
    host: String,
    port: u16,
    /// "proxy " when the way leads to a proxy, for the messages.
    what: &'static str,
}

/// The gateway's queue, when one is configured. `None` also when there is nothing more to
/// check: a builder has a queue and no webhook, and that is its whole configuration.
fn check_queue(r: &mut Report, args: &DoctorArgs, has_webhook: bool) -> Option<()> {
    let queue = crate::gateway::url::RedisSources::new(
        crate::gateway::url::Role::Queue,
        args.queue.queue_file.clone(),
        args.queue.queue.clone(),
    );
    if !queue.is_given() {
        return Some(());
    }
    for (check, result) in crate::gateway::doctor::checks(&args.into()) {
        match result {
            Ok(detail) => r.pass(check, detail),
            Err((kind, detail)) => r.fail(check, kind, detail),
        }
    }
    if r.first_failure.is_some() || !has_webhook {
        return None;
    }
    Some(())
}

/// The secret, its file when it comes from one, and the URL it holds.
fn check_secret(r: &mut Report, sources: &Sources) -> Option<WebhookUrl> {
    let source = match sources.select() {
        Ok(s) => s,
        Err(e) => {
            r.fail("secret", ExitKind::Config, format!("{e:#}"));
            return None;
        }
    };
    if let Err(e) = sources.check_known(&source) {
        r.fail("secret", ExitKind::Config, format!("{e:#}"));
        return None;
    }
    r.pass("secret", source.describe());
    // A URL from the environment has nothing to check on disk: CI systems inject it.
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
                return None;
            }
        }
    }
    let url = match sources.load(&source) {
        Ok(u) => u,
        Err(e) => {
            r.fail("url", ExitKind::Config, format!("{e:#}"));
            return None;
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
    Some(url)
}

/// Which proxy a post would use; `Some(None)` when it goes direct.
fn check_proxy(
    r: &mut Report,
    args: &DoctorArgs,
    url: &WebhookUrl,
) -> Option<Option<(String, u16)>> {
    let choice = ProxyChoice::from_arg(args.common.delivery.proxy.as_deref());
    let proxy = match choice.resolve() {
        Ok(p) => p,
        Err(e) => {
            r.fail("proxy", crate::error::exit_kind(&e), format!("{e:#}"));
            return None;
        }
    };
    let target_uri: Option<ureq::http::Uri> = url.server_base().parse().ok();
    Some(match &proxy {
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
    })
}

fn check_dns(
    r: &mut Report,
    args: &DoctorArgs,
    way: &Way,
    deadline: Instant,
) -> Option<Vec<SocketAddr>> {
    let Way { host, port, what } = way;
    let lookup_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addrs: Vec<_> = match resolve_within(lookup_host, *port, left(deadline)) {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            r.fail(
                "dns",
                ExitKind::Network,
                format!("cannot resolve {what}{host}: {e}; check the name and /etc/resolv.conf"),
            );
            return None;
        }
        None => {
            r.fail(
                "dns",
                ExitKind::Network,
                format!(
                    "no answer for {what}{host} within the --timeout budget of {}; check \
                     /etc/resolv.conf and that the resolver is reachable",
                    format_duration(args.common.delivery.timeout)
                ),
            );
            return None;
        }
    };
    let shown: Vec<String> = addrs.iter().take(3).map(|a| a.ip().to_string()).collect();
    r.pass("dns", format!("{what}{host} → {}", shown.join(", ")));
    Some(addrs)
}

fn check_tcp(
    r: &mut Report,
    args: &DoctorArgs,
    way: &Way,
    addrs: &[SocketAddr],
    deadline: Instant,
) -> Option<()> {
    let Way { host, port, what } = way;
    let start = Instant::now();
    let mut last_err = None;
    let mut connected = None;
    for addr in addrs {
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
    if let Some(addr) = connected {
        r.pass(
            "tcp",
            format!(
                "connected to {what}{addr} in {} ms",
                start.elapsed().as_millis()
            ),
        );
        Some(())
    } else {
        r.fail(
            "tcp",
            ExitKind::Network,
            format!(
                "cannot connect to {what}{host}:{port} ({}); is the server up, and does a \
                 firewall allow it?",
                last_err.unwrap_or_default()
            ),
        );
        None
    }
}

/// TLS (for https) and HTTP together: one GET of the server's ping endpoint.
fn check_http(r: &mut Report, args: &DoctorArgs, url: &WebhookUrl, deadline: Instant) {
    let deliverer = match Deliverer::new(&deliver::Settings::from(&args.common.delivery)) {
        Ok(d) => d,
        Err(e) => {
            r.fail("tls", crate::error::exit_kind(&e), format!("{e:#}"));
            return;
        }
    };
    let check = if url.is_https() { "tls" } else { "http" };
    let within = left(deadline);
    if within.is_zero() {
        r.fail(
            check,
            ExitKind::Network,
            format!(
                "not tried: the --timeout budget of {} ran out",
                format_duration(args.common.delivery.timeout)
            ),
        );
        return;
    }
    match deliverer.ping(url, within) {
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
        Err(diag) => r.fail(check, diag.kind, diag.message),
    }
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
        let _ = tx.send(
            (host.as_str(), port)
                .to_socket_addrs()
                .map(std::iter::Iterator::collect),
        );
    });
    rx.recv_timeout(within).ok()
}
