//! The Mattermost webhook payload for one build event: a one-line `text` that reads on
//! a phone, one coloured attachment with the details, and the event itself in
//! `props.mmnotify` for machines.

use serde::Serialize;
use serde_json::Value;

use crate::build_event::event::{BuildEvent, State, ValidEvent};
use crate::error;
use crate::text::markdown;
use crate::text::sanitize::FENCE_BREAK;
use crate::text::time::format_duration;
use crate::wire::payload::{Attachment, Field, Member, Payload};

/// How many characters of the commit the text shows.
pub(crate) const SHORT_COMMIT_LEN: usize = 8;

/// Status emoji for a state, as shown at the start of the text.
pub(crate) fn emoji(state: State) -> &'static str {
    match state {
        State::Succeeded => "✅",
        State::Failed => "❌",
        State::Cancelled => "⚪",
        State::TimedOut => "⏱",
        State::Running => "⏳",
    }
}

/// Attachment colour for a state: green, red, grey, amber, blue.
pub(crate) fn color(state: State) -> &'static str {
    match state {
        State::Succeeded => "#2EB67D",
        State::Failed => "#D24B4E",
        State::Cancelled => "#8D8D8D",
        State::TimedOut => "#E6A23C",
        State::Running => "#1E88E5",
    }
}

/// What `props.mmnotify` says about a build post, for machines reading the channel.
#[derive(Serialize)]
struct MachineProps {
    kind: &'static str,
    event: Value,
}

/// Builds the webhook payload (`text`, `attachments`, `props`). With a template
/// (`--text-template`) the text is the rendered template; it is checked first.
pub(crate) fn render(ev: &ValidEvent, template: Option<&str>) -> anyhow::Result<Payload> {
    let text = match template {
        Some(t) => render_template(&parse_template(t)?, ev),
        None => default_text(ev),
    };
    let props = Payload::machine_props(MachineProps {
        kind: "build",
        event: ev.to_json(),
    })?;
    Ok(Payload {
        text: text.into(),
        attachments: vec![attachment(ev).into()].into(),
        props: props.into(),
        ..Payload::default()
    })
}

fn short_commit(commit: &str) -> &str {
    match commit.char_indices().nth(SHORT_COMMIT_LEN) {
        Some((at, _)) => &commit[..at],
        None => commit,
    }
}

/// A branch that is the commit itself (a detached checkout) would put the full commit
/// in the text: show it short like the commit.
fn display_branch(ev: &ValidEvent) -> Option<&str> {
    let branch = ev.branch.as_deref()?;
    match ev.commit.as_deref() {
        Some(commit) if branch == commit => Some(short_commit(commit)),
        _ => Some(branch),
    }
}

fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// The link label, as Markdown: the run id when it is short enough to read, else "run".
fn link_label(ev: &ValidEvent) -> String {
    match ev.provider_run_id.as_deref() {
        Some(id) if id.chars().count() <= 20 && !id.chars().any(char::is_whitespace) => {
            format!("#{}", markdown::escape(id))
        }
        _ => "run".to_string(),
    }
}

fn default_text(ev: &ValidEvent) -> String {
    let mut parts = vec![format!(
        "{} **{}** {}",
        emoji(ev.state()),
        markdown::escape(ev.workflow()),
        ev.state().words()
    )];
    if let Some(branch) = display_branch(ev) {
        parts.push(markdown::code_span(branch));
    }
    if let Some(commit) = &ev.commit {
        parts.push(markdown::code_span(short_commit(commit)));
    }
    if let Some(node) = &ev.mesh_node_id {
        parts.push(format!("on {}", markdown::escape(node)));
    }
    if let Some(url) = &ev.run_url {
        if is_web_url(url) {
            parts.push(format!(
                "[{}]({})",
                link_label(ev),
                markdown::link_target(url)
            ));
        }
    }
    parts.join(" · ")
}

/// The plain-text line for notifications and clients that show no attachments.
fn fallback(ev: &ValidEvent) -> String {
    let mut parts = vec![format!(
        "{} {} {}",
        emoji(ev.state()),
        one_line(ev.workflow()),
        ev.state().words()
    )];
    if let Some(branch) = display_branch(ev) {
        parts.push(one_line(branch));
    }
    if let Some(commit) = &ev.commit {
        parts.push(one_line(short_commit(commit)));
    }
    if let Some(node) = &ev.mesh_node_id {
        parts.push(format!("on {}", one_line(node)));
    }
    if let Some(url) = &ev.run_url {
        parts.push(one_line(url));
    }
    parts.join(" · ")
}

fn attachment(ev: &ValidEvent) -> Attachment {
    let mut fields: Vec<Member<Field>> = Vec::new();
    let mut field = |title: &str, value: Option<String>| {
        if let Some(v) = value {
            fields.push(Field::new(title, v, true).into());
        }
    };
    field("Branch", ev.branch.as_deref().map(markdown::escape));
    field("Commit", ev.commit.as_deref().map(markdown::escape));
    field("Node", ev.mesh_node_id.as_deref().map(markdown::escape));
    field("Duration", ev.duration.map(format_duration));
    field(
        "Started",
        ev.started_at
            .map(super::super::text::time::Timestamp::format_rfc3339),
    );
    field("Provider", ev.provider.as_deref().map(markdown::escape));
    field("Repository", ev.repository.as_deref().map(markdown::escape));
    field(
        "Run id",
        ev.provider_run_id.as_deref().map(markdown::escape),
    );

    Attachment {
        fallback: fallback(ev).into(),
        color: color(ev.state()).to_string().into(),
        title: format!("{} {}", one_line(ev.workflow()), ev.state().words()).into(),
        title_link: ev.run_url.clone().filter(|u| is_web_url(u)).into(),
        fields: (!fields.is_empty()).then_some(fields).into(),
        ..Attachment::default()
    }
}

/// Values are single-line in a one-line message.
fn one_line(s: &str) -> String {
    s.split(['\r', '\n']).collect::<Vec<_>>().join(" ")
}

/// A `--text-template` placeholder: any event field by its JSON name, and three that
/// are not fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placeholder {
    Field(&'static str),
    ShortCommit,
    Emoji,
}

/// Every placeholder by name, in the order help and errors list them: the derived ones
/// next to the field they come from (`node` is short for `mesh_node_id`).
fn placeholders() -> impl Iterator<Item = (&'static str, Placeholder)> {
    let fields = BuildEvent::FIELDS.iter().flat_map(|&name| {
        let field = (name, Placeholder::Field(name));
        match name {
            "commit" => vec![field, ("short_commit", Placeholder::ShortCommit)],
            "mesh_node_id" => vec![("node", Placeholder::Field(name)), field],
            _ => vec![field],
        }
    });
    fields.chain([("emoji", Placeholder::Emoji)])
}

/// The `--text-template` placeholder names, for the config's `[templates]`, which add
/// their own.
pub(crate) fn placeholder_names() -> impl Iterator<Item = &'static str> {
    placeholders().map(|(name, _)| name)
}

enum Piece<'a> {
    Text(&'a str),
    Field(Placeholder),
}

fn known_placeholders() -> String {
    placeholders()
        .map(|(name, _)| format!("{{{name}}}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a `--text-template` (placeholders known, braces balanced) without an event,
/// so a bad template fails before anything is sent.
// `--text-template` is checked by the config's check, which knows the story's
// placeholders too; this one stays to show (in tests) that the two agree.
#[cfg(test)]
pub(crate) fn check_template(t: &str) -> anyhow::Result<()> {
    parse_template(t).map(drop)
}

fn parse_template(t: &str) -> anyhow::Result<Vec<Piece<'_>>> {
    let mut pieces = Vec::new();
    let mut rest = t;
    while let Some(at) = rest.find(['{', '}']) {
        if at > 0 {
            pieces.push(Piece::Text(&rest[..at]));
        }
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{") {
            pieces.push(Piece::Text("{"));
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            pieces.push(Piece::Text("}"));
            rest = after;
        } else if tail.starts_with('}') {
            return Err(template_error(t, tail, "unmatched `}`"));
        } else {
            let body = &tail[1..];
            let end = match body.find(['{', '}']) {
                Some(end) if body[end..].starts_with('}') => end,
                _ => return Err(template_error(t, tail, "unclosed `{`")),
            };
            let name = &body[..end];
            let Some((_, p)) = placeholders().find(|(n, _)| *n == name) else {
                return Err(error::input(format!(
                    "unknown placeholder `{{{name}}}` in --text-template: known placeholders are {}",
                    known_placeholders()
                )));
            };
            pieces.push(Piece::Field(p));
            rest = &body[end + 1..];
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// `tail` is the rest of `t` from the offending brace.
fn template_error(t: &str, tail: &str, what: &str) -> anyhow::Error {
    let column = t[..t.len() - tail.len()].chars().count() + 1;
    error::input(format!(
        "{what} at column {column} of --text-template: write `{{{{` or `}}}}` for a literal brace; known placeholders are {}",
        known_placeholders()
    ))
}

// Template values are inserted as they are (the user writes the Markdown around them),
// except that they cannot mention anyone: a branch named `@all` or a workflow named
// `<!here>` would notify a whole channel. A field reads as in the event's JSON form
// (`props.mmnotify.event`), absent as empty.
// Nor can the template's own text around a value: `@{actor}` with an actor named
// `channel`, or `<{branch}` with a branch `!here>`, would mention as `@channel` does.
fn render_template(pieces: &[Piece<'_>], ev: &ValidEvent) -> String {
    let json = ev.to_json();
    let mut out = String::new();
    let mut after_field = false;
    for piece in pieces {
        let (text, field) = match piece {
            Piece::Text(s) => ((*s).to_string(), false),
            Piece::Field(Placeholder::Field(name)) => (
                no_mentions(json.get(name).and_then(Value::as_str).unwrap_or_default()),
                true,
            ),
            Piece::Field(Placeholder::ShortCommit) => (
                ev.commit
                    .as_deref()
                    .map(|c| short_commit(c).to_string())
                    .unwrap_or_default(),
                true,
            ),
            Piece::Field(Placeholder::Emoji) => (emoji(ev.state()).to_string(), true),
        };
        // A mention made of the template's text and a value, across their boundary.
        let joins = if field {
            out.ends_with('@')
                || out.ends_with("<!")
                || (out.ends_with('<') && text.starts_with('!'))
        } else {
            after_field && out.ends_with('<') && text.starts_with('!')
        };
        if joins && !text.is_empty() {
            out.push(FENCE_BREAK);
        }
        out.push_str(&text);
        after_field = field;
    }
    out
}

/// `s` with a zero-width space after every `@` (`@all`) and between `<` and `!`
/// (`<!channel>`, which Mattermost expands for Slack-style webhooks), as the default
/// text has them.
fn no_mentions(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut after_lt = false;
    for c in s.chars() {
        if c == '!' && after_lt {
            out.push(FENCE_BREAK);
        }
        out.push(c);
        if c == '@' {
            out.push(FENCE_BREAK);
        }
        after_lt = c == '<';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{exit_kind, ExitKind};
    use crate::text::time::parse_timestamp;
    use std::time::Duration;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn full() -> ValidEvent {
        full_with(|_| {})
    }

    /// The full event changed by `f` before it is validated.
    fn full_with(f: impl FnOnce(&mut BuildEvent)) -> ValidEvent {
        let mut ev = BuildEvent {
            workflow: Some("Build & Test".into()),
            state: Some(State::Failed),
            branch: Some("main".into()),
            commit: Some(SHA.into()),
            run_url: Some("https://ci.example/runs/77".into()),
            mesh_node_id: Some("node-1".into()),
            provider_run_id: Some("77-2".into()),
            provider: Some("github".into()),
            repository: Some("acme/app".into()),
            duration: Some(Duration::from_secs(90)),
            started_at: parse_timestamp("2026-11-23T12:00:00Z").ok(),
            actor: None,
            author: None,
        };
        f(&mut ev);
        ev.validate().unwrap()
    }

    fn minimal(state: State) -> ValidEvent {
        minimal_with(state, |_| {})
    }

    /// A minimal event changed by `f` before it is validated.
    fn minimal_with(state: State, f: impl FnOnce(&mut BuildEvent)) -> ValidEvent {
        let mut ev = BuildEvent {
            workflow: Some("CI".into()),
            state: Some(state),
            ..Default::default()
        };
        f(&mut ev);
        ev.validate().unwrap()
    }

    /// The payload as the JSON object it is sent as.
    fn rendered(ev: &ValidEvent, template: Option<&str>) -> anyhow::Result<Value> {
        Ok(Value::Object(render(ev, template)?.to_object()?))
    }

    fn text(v: &Value) -> &str {
        v["text"].as_str().unwrap()
    }

    #[test]
    fn full_event_payload() {
        let v = rendered(&full(), None).unwrap();
        assert_eq!(
            text(&v),
            "❌ **Build & Test** failed · `main` · `01234567` · on node-1 · [#77-2](https://ci.example/runs/77)"
        );
        let att = &v["attachments"][0];
        assert_eq!(att["color"], "#D24B4E");
        assert_eq!(att["title"], "Build & Test failed");
        assert_eq!(att["title_link"], "https://ci.example/runs/77");
        assert_eq!(
            att["fallback"],
            "❌ Build & Test failed · main · 01234567 · on node-1 · https://ci.example/runs/77"
        );
        let fields: Vec<(&str, &str)> = att["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                assert_eq!(f["short"], true);
                (f["title"].as_str().unwrap(), f["value"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            fields,
            [
                ("Branch", "main"),
                ("Commit", SHA),
                ("Node", "node-1"),
                ("Duration", "1m 30s"),
                ("Started", "2026-11-23T12:00:00Z"),
                ("Provider", "github"),
                ("Repository", "acme/app"),
                ("Run id", "77-2"),
            ]
        );
        assert_eq!(v["props"]["mmnotify"]["kind"], "build");
        assert_eq!(v["props"]["mmnotify"]["event"], full().to_json());
        assert_eq!(v["props"]["mmnotify"]["event"]["commit"], SHA);
    }

    #[test]
    fn each_state_has_its_colour_and_emoji() {
        let expect = [
            (State::Succeeded, "✅", "#2EB67D", "succeeded"),
            (State::Failed, "❌", "#D24B4E", "failed"),
            (State::Cancelled, "⚪", "#8D8D8D", "cancelled"),
            (State::TimedOut, "⏱", "#E6A23C", "timed out"),
        ];
        for (state, em, col, words) in expect {
            let v = rendered(&minimal(state), None).unwrap();
            assert_eq!(text(&v), format!("{em} **CI** {words}"));
            assert_eq!(v["attachments"][0]["color"], col);
            assert_eq!(v["attachments"][0]["fallback"], format!("{em} CI {words}"));
            assert!(v["attachments"][0].get("fields").is_none());
            assert!(v["attachments"][0].get("title_link").is_none());
        }
    }

    #[test]
    fn full_commit_never_in_text_or_fallback() {
        let v = rendered(&full(), None).unwrap();
        assert!(!text(&v).contains(SHA));
        assert!(text(&v).contains("01234567"));
        assert!(!v["attachments"][0]["fallback"]
            .as_str()
            .unwrap()
            .contains(SHA));
        // A detached checkout reports the commit as the branch.
        let ev = full_with(|ev| ev.branch = Some(SHA.into()));
        let v = rendered(&ev, None).unwrap();
        assert!(!text(&v).contains(SHA), "{}", text(&v));
        // Multi-byte characters are cut on a character boundary.
        let ev = full_with(|ev| {
            ev.commit = Some("ééééééééééé".into());
            ev.branch = None;
        });
        let v = rendered(&ev, None).unwrap();
        assert!(text(&v).contains("`éééééééé`"), "{}", text(&v));
    }

    #[test]
    fn fallback_always_present() {
        for ev in [full(), minimal(State::Succeeded)] {
            let v = rendered(&ev, Some("{emoji}")).unwrap();
            let fb = v["attachments"][0]["fallback"].as_str().unwrap();
            assert!(!fb.trim().is_empty());
        }
    }

    #[test]
    fn user_values_are_escaped() {
        let ev = minimal_with(State::Succeeded, |ev| {
            ev.workflow = Some("*bold* _it_ [x](y) <b>\nnext".into());
            ev.branch = Some("we`ird".into());
            ev.commit = Some("`abc".into());
            ev.mesh_node_id = Some("node|1".into());
            ev.provider_run_id = Some("a]b".into());
            ev.run_url = Some("https://ci.example/a (b)".into());
        });
        let v = rendered(&ev, None).unwrap();
        assert_eq!(
            text(&v),
            "✅ **\\*bold\\* \\_it\\_ \\[x\\]\\(y\\) \\<b\\> next** succeeded · ``we`ird`` · `` `abc `` · on node\\|1 · [#a\\]b](https://ci.example/a%20%28b%29)"
        );
        assert!(!text(&v).contains('\n'));
        assert_eq!(
            v["attachments"][0]["title"],
            "*bold* _it_ [x](y) <b> next succeeded"
        );
    }

    #[test]
    fn non_web_run_url_is_not_linked() {
        let ev = minimal_with(State::Failed, |ev| {
            ev.run_url = Some("javascript:alert(1)".into());
        });
        let v = rendered(&ev, None).unwrap();
        assert_eq!(text(&v), "❌ **CI** failed");
        assert!(v["attachments"][0].get("title_link").is_none());
    }

    #[test]
    fn long_run_id_links_as_run() {
        let ev = minimal_with(State::Failed, |ev| {
            ev.run_url = Some("https://ci.example/x".into());
            ev.provider_run_id = Some("{5c4b0a4e-7a1e-4b6e-8f0a-1b2c3d4e5f60}".into());
        });
        let v = rendered(&ev, None).unwrap();
        assert!(
            text(&v).ends_with("[run](https://ci.example/x)"),
            "{}",
            text(&v)
        );
    }

    #[test]
    fn template_renders_every_placeholder() {
        let t = "{emoji} {workflow} {state} {branch} {commit} {short_commit} {run_url} {node} \
                 {mesh_node_id} {provider_run_id} {provider} {repository} {duration} {started_at} {{x}}";
        check_template(t).unwrap();
        let v = rendered(&full(), Some(t)).unwrap();
        assert_eq!(
            text(&v),
            format!(
                "❌ Build & Test failed main {SHA} 01234567 https://ci.example/runs/77 node-1 \
                 node-1 77-2 github acme/app 1m 30s 2026-11-23T12:00:00Z {{x}}"
            )
        );
        assert_eq!(v["attachments"][0]["color"], "#D24B4E");
        let v = rendered(
            &minimal(State::TimedOut),
            Some("{workflow}:{branch}:{duration}."),
        )
        .unwrap();
        assert_eq!(text(&v), "CI::.");
    }

    #[test]
    fn templates_never_panic() {
        let seed: Vec<char> = "{emoji} é{{x}} {workflow}}".chars().collect();
        for i in 0..=seed.len() {
            for c in ['{', '}', 'é', 'x'] {
                let mut m = seed.clone();
                m.insert(i, c);
                let t: String = m.into_iter().collect();
                let _ = rendered(&full(), Some(&t));
                let prefix: String = seed[..i].iter().collect();
                let _ = rendered(&full(), Some(&prefix));
            }
        }
    }

    #[test]
    fn template_errors() {
        let err = check_template("{workflow} {nope}").unwrap_err();
        assert_eq!(exit_kind(&err), ExitKind::Input);
        let msg = err.to_string();
        assert!(msg.contains("`{nope}`"), "{msg}");
        assert!(
            msg.contains("{workflow}") && msg.contains("{emoji}"),
            "{msg}"
        );
        assert!(rendered(&full(), Some("{nope}")).is_err());
        for (bad, what) in [
            ("{workflow", "unclosed `{` at column 1"),
            ("ok }", "unmatched `}` at column 4"),
            ("é {a{b}", "unclosed `{` at column 3"),
            ("{}", "unknown placeholder `{}`"),
            ("{ workflow }", "unknown placeholder `{ workflow }`"),
        ] {
            let err = check_template(bad).unwrap_err();
            assert_eq!(exit_kind(&err), ExitKind::Input);
            assert!(err.to_string().starts_with(what), "{bad:?}: {err}");
        }
        check_template("").unwrap();
        check_template("{{}}").unwrap();
        check_template("}}{{").unwrap();
    }
}
