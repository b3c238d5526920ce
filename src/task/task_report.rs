//! The Mattermost post that reports how a `mmnotify run` task went.

use std::time::Duration;

use serde::Serialize;

use crate::task::tail::CUT_MARKER;
use crate::task::{Outcome, TaskResult};
use crate::text::sanitize::sanitize;
use crate::text::{markdown, time};
use crate::wire::payload::{Attachment, Field, Payload};

/// One Mattermost post: its `text` may hold at most this many Unicode scalar values.
pub(crate) const MAX_TEXT_CHARS: usize = 16383;

/// Caps on the parts above the output, so that a pathological name or URL cannot
/// crowd the output out of the post (and the whole text always fits).
const MAX_NAME_CHARS: usize = 1000;
const MAX_COMMAND_CHARS: usize = 1000;
const MAX_URL_CHARS: usize = 4000;

/// A cut newest line is shown only if at least this much of it fits; a shorter
/// fragment says nothing.
const MIN_CUT_LINE_CHARS: usize = 40;

pub(crate) struct ReportInput<'a> {
    pub name: &'a str,
    pub result: &'a TaskResult,
    pub host: &'a str,
    pub log_url: Option<&'a str>,
    pub command_line: &'a str,
}

/// What `props.mmnotify` says about a task report, for machines reading the channel.
#[derive(Serialize)]
struct MachineProps {
    kind: &'static str,
    outcome: &'static str,
    exit_code: i32,
    duration_ms: u64,
}

/// The webhook payload: `text` (headline, start, duration, host, command when the
/// name is not the command line, log link, output tail), one attachment carrying
/// the outcome's colour and a plain-text `fallback`, and machine-readable props.
pub(crate) fn render(input: &ReportInput) -> Payload {
    let result = input.result;
    let name_md = markdown::escape(&cap_chars(input.name, MAX_NAME_CHARS));
    let name_plain = cap_chars(&sanitize(input.name.as_bytes()), MAX_NAME_CHARS).replace('\n', " ");
    let (emoji_verb, detail) = headline_parts(result);
    let headline_md = format!("{emoji_verb}: {name_md}{detail}");
    let headline_plain = format!("{emoji_verb}: {name_plain}{detail}");

    let head = head_lines(input, headline_md).join("\n");
    let mut text = head.clone();
    text.push_str(&tail_section(
        &result.tail,
        MAX_TEXT_CHARS - head.chars().count(),
    ));
    // Unreachable with the caps above; kept so the one-post promise never depends on
    // them.
    if text.chars().count() > MAX_TEXT_CHARS {
        text = text.chars().take(MAX_TEXT_CHARS - 2).collect();
        text.push_str(" …");
    }
    let props = Payload::machine_props(MachineProps {
        kind: "run",
        outcome: result.outcome.as_str(),
        exit_code: result.exit_code,
        duration_ms: crate::text::time::millis(result.duration),
    });
    Payload {
        text: text.into(),
        attachments: vec![attachment(result, headline_plain).into()].into(),
        // Plain numbers and strings always serialize; without props the post still reads.
        props: props.ok().into(),
        ..Payload::default()
    }
}

/// The lines above the output: headline, start, duration, host, the command when the
/// name is not the command line, a forwarded signal, the log link.
fn head_lines(input: &ReportInput, headline: String) -> Vec<String> {
    let result = input.result;
    let mut head = vec![headline];
    head.push(format!(
        "**Started:** {}",
        time::format_system_time(result.started_at)
    ));
    head.push(format!(
        "**Duration:** {}",
        format_duration(result.duration)
    ));
    head.push(format!("**Host:** {}", markdown::escape(input.host)));
    if input.command_line != input.name {
        head.push(format!(
            "**Command:** {}",
            markdown::code_span(&cap_chars(input.command_line, MAX_COMMAND_CHARS))
        ));
    }
    if let Some(sig) = result.signal_received {
        head.push(format!(
            "**Interrupted:** mmnotify received {} and passed it on to the command",
            signal_name(sig)
        ));
    }
    match input.log_url {
        Some(url) if url.chars().count() <= MAX_URL_CHARS => {
            head.push(format!(
                "**Log:** [full log]({})",
                markdown::link_target(url)
            ));
        }
        Some(_) => head.push("**Log:** (link too long to show)".to_string()),
        None => {}
    }
    head
}

/// The outcome's colour, the plain headline as fallback, exit code and duration.
fn attachment(result: &TaskResult, fallback: String) -> Attachment {
    let color = match result.outcome {
        Outcome::Success => "good",
        Outcome::Failure { .. } => "danger",
        Outcome::Timeout => "warning",
    };
    Attachment {
        color: color.to_string().into(),
        fallback: fallback.into(),
        fields: vec![
            Field::new("Exit code", result.exit_code.to_string(), true).into(),
            Field::new("Duration", format_duration(result.duration), true).into(),
        ]
        .into(),
        ..Attachment::default()
    }
}

/// "✅ Succeeded" and "", or "❌ Failed" and " (exit 3)", …
fn headline_parts(result: &TaskResult) -> (&'static str, String) {
    match &result.outcome {
        Outcome::Success => ("✅ Succeeded", String::new()),
        Outcome::Timeout => {
            let after = result.max_runtime.unwrap_or(result.duration);
            ("⏱ Timed Out", format!(" after {}", format_duration(after)))
        }
        Outcome::Failure {
            code,
            signal,
            spawn_error,
        } => {
            let detail = if let Some(err) = spawn_error {
                format!(" (could not start: {})", sanitize(err.as_bytes()))
            } else if let Some(sig) = signal {
                format!(" (signal {sig} {})", signal_name(*sig))
            } else if let Some(code) = code {
                format!(" (exit {code})")
            } else {
                format!(" (exit {})", result.exit_code)
            };
            ("❌ Failed", detail)
        }
    }
}

/// The output block, newest lines first in priority: oldest lines are dropped until
/// it fits `room` characters, then the newest line alone is cut (keeping its end).
fn tail_section(lines: &[String], room: usize) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let section = |shown: &[String], omitted: usize| {
        let header = match omitted {
            0 => format!("**Output** (last {} lines):", shown.len()),
            n => format!(
                "**Output** (last {} lines; … {n} earlier lines omitted to fit one post):",
                shown.len()
            ),
        };
        format!("\n{header}\n```\n{}\n```", shown.join("\n"))
    };
    // `Tail::lines` already sanitized them; again (idempotent) for a hand-made
    // TaskResult, since one unescaped fence would break the whole post.
    let lines: Vec<String> = lines.iter().map(|l| sanitize(l.as_bytes())).collect();
    let lines = &lines[..];
    let n = lines.len();
    // Everything but the lines themselves, with the longest possible header.
    let overhead = section(&[], n).chars().count() + 4;
    let budget = room.saturating_sub(overhead);
    let mut used = 0;
    let mut keep = 0;
    for line in lines.iter().rev() {
        let cost = line.chars().count() + usize::from(keep > 0);
        if used + cost > budget {
            break;
        }
        used += cost;
        keep += 1;
    }
    if keep > 0 {
        return section(&lines[n - keep..], n - keep);
    }
    if budget >= MIN_CUT_LINE_CHARS {
        let newest = &lines[n - 1];
        let skip = newest.chars().count() - (budget - 1);
        let cut: String = std::iter::once(CUT_MARKER)
            .chain(std::iter::once(
                &newest[newest
                    .char_indices()
                    .nth(skip)
                    .map_or(newest.len(), |(i, _)| i)..],
            ))
            .collect();
        return section(&[cut], n - 1);
    }
    "\n**Output:** omitted (too long for one post)".to_string()
}

/// Rounded so the report reads "1s 234ms" or "5m 3s", not nanoseconds.
fn format_duration(d: Duration) -> String {
    let rounded = if d < Duration::from_secs(10) {
        Duration::from_millis(saturate((d.as_nanos() + 500_000) / 1_000_000))
    } else {
        Duration::from_secs(saturate((d.as_millis() + 500) / 1000))
    };
    crate::text::time::format_duration(rounded)
}

fn saturate(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn cap_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The Linux name of signal `n` ("SIGTERM"), or "SIG?" for an unknown number.
pub(crate) fn signal_name(n: i32) -> &'static str {
    match n {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        n if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&n) => "SIGRT",
        _ => "SIG?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::time::{SystemTime, UNIX_EPOCH};

    fn result(outcome: Outcome, exit_code: i32, tail: Vec<String>) -> TaskResult {
        TaskResult {
            outcome,
            exit_code,
            started_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            duration: Duration::from_millis(83_456),
            tail,
            signal_received: None,
            max_runtime: None,
        }
    }

    fn render_one(name: &str, r: &TaskResult) -> Value {
        rendered(&ReportInput {
            name,
            result: r,
            host: "build-01",
            log_url: Some("https://ci.example.com/log (1)"),
            command_line: name,
        })
    }

    /// The payload as the JSON object it is sent as.
    fn rendered(input: &ReportInput) -> Value {
        Value::Object(render(input).to_object().unwrap())
    }

    fn text(v: &Value) -> &str {
        v["text"].as_str().unwrap()
    }

    #[test]
    fn success_report() {
        let r = result(Outcome::Success, 0, vec!["all good".into()]);
        let v = render_one("backup", &r);
        let t = text(&v);
        assert!(t.starts_with("✅ Succeeded: backup\n"), "{t}");
        assert!(t.contains("**Started:** 2023-11-14T22:13:20Z"));
        assert!(t.contains("**Duration:** 1m 23s"));
        assert!(t.contains("**Host:** build-01"));
        assert!(t.contains("[full log](https://ci.example.com/log%20%281%29)"));
        assert!(t.ends_with("```\nall good\n```"), "{t}");
        assert!(!t.contains("**Command:**"));
        assert_eq!(v["attachments"][0]["color"], "good");
        assert_eq!(v["attachments"][0]["fallback"], "✅ Succeeded: backup");
        assert_eq!(
            v["props"]["mmnotify"],
            json!({"kind": "run", "outcome": "success", "exit_code": 0, "duration_ms": 83456})
        );
    }

    #[test]
    fn failure_headlines() {
        let code = |c| Outcome::Failure {
            code: Some(c),
            signal: None,
            spawn_error: None,
        };
        let r = result(code(3), 3, vec![]);
        let v = render_one("job", &r);
        assert!(text(&v).starts_with("❌ Failed: job (exit 3)\n"));
        assert!(!text(&v).contains("```"), "no empty code block");
        assert_eq!(v["attachments"][0]["color"], "danger");
        assert_eq!(v["props"]["mmnotify"]["outcome"], "failure");
        assert_eq!(v["props"]["mmnotify"]["exit_code"], 3);

        let sig = Outcome::Failure {
            code: None,
            signal: Some(9),
            spawn_error: None,
        };
        let v = render_one("job", &result(sig, 137, vec![]));
        assert!(text(&v).starts_with("❌ Failed: job (signal 9 SIGKILL)\n"));

        let spawn = Outcome::Failure {
            code: None,
            signal: None,
            spawn_error: Some("No such file or directory".into()),
        };
        let v = render_one("job", &result(spawn, 127, vec![]));
        assert!(
            text(&v).starts_with("❌ Failed: job (could not start: No such file or directory)\n")
        );
        assert_eq!(
            v["attachments"][0]["fallback"],
            "❌ Failed: job (could not start: No such file or directory)"
        );
    }

    #[test]
    fn timeout_headline_names_the_limit() {
        let mut r = result(Outcome::Timeout, 124, vec!["working".into()]);
        r.max_runtime = Some(Duration::from_secs(300));
        let v = render_one("nightly", &r);
        assert!(text(&v).starts_with("⏱ Timed Out: nightly after 5m\n"));
        assert_eq!(v["attachments"][0]["color"], "warning");
        assert_eq!(v["props"]["mmnotify"]["outcome"], "timeout");
        assert_eq!(v["props"]["mmnotify"]["exit_code"], 124);
    }

    #[test]
    fn forwarded_signal_and_command_line_are_shown() {
        let mut r = result(Outcome::Success, 0, vec![]);
        r.signal_received = Some(libc::SIGINT);
        let v = rendered(&ReportInput {
            name: "deploy",
            result: &r,
            host: "h",
            log_url: None,
            command_line: "make `deploy`",
        });
        let t = text(&v);
        assert!(t.contains("received SIGINT"), "{t}");
        assert!(
            t.contains("**Command:** ``make `deploy```")
                || t.contains("**Command:** `` make `deploy` ``"),
            "{t}"
        );
        assert!(!t.contains("[full log]"));
    }

    #[test]
    fn huge_tail_fits_one_post_keeping_the_newest_lines() {
        let lines: Vec<String> = (0..2000)
            .map(|i| format!("{i:05} {}", "x".repeat(100)))
            .collect();
        let r = result(Outcome::Success, 0, lines);
        let v = render_one("big", &r);
        let t = text(&v);
        assert!(t.chars().count() <= MAX_TEXT_CHARS, "{}", t.chars().count());
        assert!(t.contains("01999 xxx"));
        assert!(!t.contains("00000 xxx"));
        assert!(t.contains("earlier lines omitted"));
        assert!(t.ends_with("x\n```"));
    }

    #[test]
    fn overlong_single_line_is_cut_keeping_its_end() {
        let line = format!("{}THE END", "é".repeat(40_000));
        let r = result(Outcome::Success, 0, vec!["older".into(), line]);
        let t = text(&render_one("big", &r)).to_string();
        assert!(t.chars().count() <= MAX_TEXT_CHARS);
        assert!(t.contains(&format!("```\n{CUT_MARKER}éé")));
        assert!(t.ends_with("THE END\n```"));
        assert!(!t.contains("older"));
    }

    #[test]
    fn huge_name_and_url_still_fit() {
        let name = "n".repeat(50_000);
        let url = format!("https://x/{}", "u".repeat(50_000));
        let r = result(Outcome::Success, 0, vec!["tail line".into()]);
        let v = rendered(&ReportInput {
            name: &name,
            result: &r,
            host: "h",
            log_url: Some(&url),
            command_line: &name,
        });
        assert!(text(&v).chars().count() <= MAX_TEXT_CHARS);
        assert!(text(&v).contains("tail line"));
    }

    #[test]
    fn no_fence_inside_the_tail_section() {
        // One line as `Tail::lines` gives it, one raw as a hand-made result might.
        let raw = crate::text::sanitize::sanitize(b"```\n@channel");
        let r = result(Outcome::Success, 0, vec![raw, "``` ` ``".into()]);
        let t = text(&render_one("x", &r)).to_string();
        let body = t.split_once("```\n").unwrap().1;
        let body = body.strip_suffix("\n```").unwrap();
        assert!(!body.lines().next().unwrap().contains("```"));
        assert_eq!(t.matches("```").count(), 2, "{t}");
    }

    #[test]
    fn name_markdown_is_escaped() {
        let r = result(Outcome::Success, 0, vec![]);
        let v = render_one("*bold* [x](y) `c` @channel #tag\nnext", &r);
        let first = text(&v).lines().next().unwrap();
        assert_eq!(
            first,
            "✅ Succeeded: \\*bold\\* \\[x\\]\\(y\\) \\`c\\` @\u{200B}channel \\#tag next"
        );
    }

    #[test]
    fn durations_are_rounded() {
        assert_eq!(
            format_duration(Duration::from_micros(1_234_567)),
            "1s 235ms"
        );
        assert_eq!(format_duration(Duration::from_millis(83_456)), "1m 23s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(2), "SIGINT");
        assert_eq!(signal_name(11), "SIGSEGV");
        assert_eq!(signal_name(200), "SIG?");
    }

    #[test]
    fn start_time_is_utc_seconds() {
        let mut r = result(Outcome::Success, 0, vec![]);
        r.started_at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_500);
        assert!(text(&render_one("t", &r)).contains("**Started:** 1970-01-01T00:00:01Z"));
    }
}
