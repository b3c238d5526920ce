//! What `mmnotify config check` prints: the file, its people and templates, and the
//! routes in the order an event meets them. Every value from the file goes through
//! [`super::shown`], so the listing cannot rewrite the terminal.

use super::{shown, Config, Route};

/// The listing, one line per fact, ending with a newline.
pub(crate) fn routes(config: &Config) -> String {
    let mut out = format!("config {}\n", shown(&config.path.display().to_string()));
    out += &format!("people: {}\n", config.people.len());
    let keys = config.templates.keys();
    out += &format!(
        "templates: {}\n",
        if keys.is_empty() {
            "none".to_string()
        } else {
            keys.join(", ")
        }
    );
    out += &format!(
        "mention_on: {}\n",
        config
            .mention_on
            .as_ref()
            .map_or("broken (the default)".to_string(), |m| shown(
                &m.to_string()
            ))
    );
    if config.routes.is_empty() {
        out += "routes: none (every event goes to the default webhook)\n";
    }
    for (i, r) in config.routes.iter().enumerate() {
        out += &route(i + 1, r);
    }
    out += &match &config.default_webhook {
        Some(name) => format!("no route matched: webhook {}\n", shown_name(name)),
        None => "no route matched: the webhook from MMNOTIFY_WEBHOOK, MMNOTIFY_WEBHOOK_FILE \
                 or MATTERMOST_WEBHOOK_URL; without one, filtered (\"no route matched\")\n"
            .to_string(),
    };
    out
}

/// A webhook NAME as shown: a run of 26 id characters is a token pasted where the name
/// goes (a bot token, a webhook's id), shortened to its last four as every message does.
pub(crate) fn shown_name(name: &str) -> String {
    shown(&crate::text::scrub::redact_id_runs(name))
}

fn route(n: usize, r: &Route) -> String {
    let mut out = format!(
        "route {n} (line {}): webhook {}\n",
        r.line,
        shown_name(&r.webhook)
    );
    let mut any = false;
    for (key, globs) in [
        ("repository", &r.repository),
        ("branch", &r.branch),
        ("workflow", &r.workflow),
    ] {
        if let Some(g) = globs {
            out += &format!("  {key}: {g}\n");
            any = true;
        }
    }
    if !any {
        out += "  every job\n";
    }
    out += &format!(
        "  on: {}\n",
        r.on.as_ref()
            .map_or("every event".to_string(), |o| shown(&o.to_string()))
    );
    if let Some(c) = &r.channel {
        out += &format!("  channel: {}\n", shown(c));
    }
    if let Some(m) = &r.mention_on {
        out += &format!("  mention_on: {}\n", shown(&m.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn lists_routes_in_order() {
        let cfg = super::super::parse(
            r#"
default_webhook = "ops"
mention_on = "broken,fixed"
[people]
octocat = "alice"
[[route]]
webhook = "prod-alerts"
repository = "acme/*"
branch = ["main", "release/*"]
workflow = "deploy*"
on = ["changes"]
channel = "ops"
mention_on = ["broken"]
[[route]]
webhook = "all-builds"
[templates]
default = "{emoji} {workflow}"
broken = "{workflow} broke {mention}"
"#,
            Path::new("/etc/mmnotify/config.toml"),
        )
        .unwrap();
        assert_eq!(
            super::routes(&cfg),
            "config /etc/mmnotify/config.toml
people: 1
templates: broken, default
mention_on: broken,fixed
route 1 (line 7): webhook prod-alerts
  repository: acme/*
  branch: main | release/*
  workflow: deploy*
  on: changes
  channel: ops
  mention_on: broken
route 2 (line 15): webhook all-builds
  every job
  on: every event
no route matched: webhook ops
"
        );
    }

    #[test]
    fn empty_config_and_hostile_values() {
        let cfg = super::super::parse(
            "[[route]]\nwebhook = \"x\"\nbranch = \"\\u001b[2Jmain\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let out = super::routes(&cfg);
        assert!(!out.contains('\u{1b}'), "{out}");
        assert!(out.contains("branch: \\u{1b}[2Jmain"), "{out}");
        let empty = super::super::parse("", Path::new("c.toml")).unwrap();
        let out = super::routes(&empty);
        assert!(out.contains("routes: none"), "{out}");
        assert!(out.contains("mention_on: broken (the default)"), "{out}");
        assert!(out.contains("without one, filtered"), "{out}");
    }
}
