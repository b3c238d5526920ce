//! Reading and checking the config file: one bounded read through one descriptor under
//! the trust rules, no secrets inside, and every unknown key, wrong type or bad value
//! an exit 3 naming the key and the line, so a typo never silently disables a rule.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use anyhow::Result;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::{shown, Config, Glob, Globs, Route, Templates, TEMPLATE_KEYS};
use crate::error;
use crate::secret::{check_name, contains_hook_id, open_trusted, redact_id_runs, Trust};
use crate::story::mention::{People, Username};
use crate::story::on::OnFilter;

/// The most a config file may hold: hundreds of routes and people fit many times over,
/// and a file that big is a mistake (or an attack) rather than a config.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Readable by others is fine (it holds no secrets); writable by them is not: whoever
/// writes it decides where posts go.
const CONFIG_TRUST: Trust = Trust {
    what: "config file",
    forbidden: 0o022,
    means: "lets the group or others change where posts go",
};

/// Reads and checks the config file at `path` (exit 3 on any problem).
pub(crate) fn load(path: &Path) -> Result<Config> {
    let (file, _) = open_trusted(path, &CONFIG_TRUST)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error::config(format!("cannot read config file {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(error::config(format!(
            "config file {} is larger than {} KiB; a config this big is a mistake",
            path.display(),
            MAX_CONFIG_BYTES / 1024
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| error::config(format!("config file {} is not UTF-8 text", path.display())))?;
    parse(&text, path)
}

/// Checks and converts the text of a config file; `path` is for messages and
/// [`Config::path`].
pub(crate) fn parse(text: &str, path: &Path) -> Result<Config> {
    // Everything echoed from the file has passed the secret scan below; a bare token
    // (26 id characters, no `/hooks/` in front) still could not, so it is shortened.
    let at = |line: usize, what: String| {
        error::config(
            redact_id_runs(&format!(
                "config file {}, line {line}: {what}",
                path.display()
            ))
            .into_owned(),
        )
    };
    // Before TOML sees it: TOML's own errors would quote the line.
    let decoded = || scan::first_secret(text, &looks_secret).map(|at| line_of(text, at));
    if let Some(line) = secret_line(text).or_else(decoded) {
        return Err(at(
            line,
            "this looks like a webhook URL or a URL with a password; the config file holds no \
             secrets (it is not read-protected): name a webhook by NAME (the file NAME.url in \
             the secrets directory), and keep Redis URLs in their secrets files"
                .to_string(),
        ));
    }
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        let key = e
            .span()
            .and_then(|s| key_on_line(text, s.start))
            .map(|k| format!("`{k}`"))
            // "unknown field `brnach`" names it already.
            .filter(|k| !e.message().contains(k.as_str()))
            .map_or(String::new(), |k| format!(" ({})", shown(&k)));
        let message = shown(e.message());
        at(line, format!("{}{key}", message.trim_end()))
    })?;
    convert(raw, text, path, &at)
}

fn convert(
    raw: RawConfig,
    text: &str,
    path: &Path,
    at: &dyn Fn(usize, String) -> anyhow::Error,
) -> Result<Config> {
    let cx = Cx {
        newlines: text.match_indices('\n').map(|(i, _)| i).collect(),
        at,
    };
    let default_webhook = raw
        .default_webhook
        .as_ref()
        .map(|v| cx.webhook_name(v, "`default_webhook`"))
        .transpose()?;
    let mention_on = cx.on(raw.mention_on.as_ref(), "`mention_on`")?;
    let people = cx.people(&raw.people)?;
    let routes = raw
        .route
        .iter()
        .enumerate()
        .map(|(i, r)| cx.route(i + 1, r))
        .collect::<Result<Vec<_>>>()?;
    let mut templates = Templates::default();
    if let Some(t) = &raw.templates {
        for (k, v) in t.entries() {
            if let Some(v) = v {
                super::template::check(v.get_ref())
                    .map_err(|e| cx.err(v.span(), format!("`templates.{k}`: {e}")))?;
                templates.insert(k, v.get_ref().clone());
            }
        }
    }
    Ok(Config {
        path: path.to_path_buf(),
        default_webhook,
        mention_on,
        people,
        routes,
        templates,
    })
}

/// The line index and the error maker of one parse.
struct Cx<'a> {
    /// Where each `\n` is, so that the line of each of thousands of routes is a binary
    /// search, not a count from the start of the file (quadratic: a 1 MiB file of
    /// routes took 40 s to load).
    newlines: Vec<usize>,
    at: &'a dyn Fn(usize, String) -> anyhow::Error,
}

impl Cx<'_> {
    fn err(&self, span: std::ops::Range<usize>, what: String) -> anyhow::Error {
        (self.at)(self.line(span.start), what)
    }

    /// The 1-based line of byte offset `at`.
    fn line(&self, at: usize) -> usize {
        self.newlines.partition_point(|&nl| nl < at) + 1
    }

    /// `key` is how messages name the value (`` `default_webhook` ``, ``route 2 `webhook` ``).
    fn webhook_name(&self, v: &Spanned<String>, key: &str) -> Result<String> {
        // check_name's message does not echo the value: it may be a pasted secret.
        check_name(v.get_ref()).map_err(|e| self.err(v.span(), format!("{key}: {e}")))?;
        Ok(v.get_ref().clone())
    }

    fn on(&self, v: Option<&Spanned<Names>>, key: &str) -> Result<Option<OnFilter>> {
        v.map(|v| {
            OnFilter::from_names(&v.get_ref().0)
                .map_err(|e| self.err(v.span(), format!("{key}: {e}")))
        })
        .transpose()
    }

    fn people(&self, raw: &BTreeMap<String, Spanned<String>>) -> Result<People> {
        let mut people = People::default();
        for (who, user) in raw {
            let fail = |what: String| self.err(user.span(), what);
            if who.trim().is_empty() || who.trim() != who {
                return Err(fail(format!(
                    "`people`: the key `{}` is empty or has spaces around it",
                    shown(who)
                )));
            }
            if people.contains(who) {
                return Err(fail(format!(
                    "`people`: `{}` is listed twice (e-mail addresses are compared without case)",
                    shown(who)
                )));
            }
            let username: Username = user
                .get_ref()
                .parse()
                .map_err(|e: String| fail(format!("`people.{}`: {}", shown(who), shown(&e))))?;
            people.insert(who, username);
        }
        Ok(people)
    }

    fn route(&self, n: usize, r: &RawRoute) -> Result<Route> {
        let key = |k: &str| format!("route {n} `{k}`");
        let globs = |v: &Option<Spanned<Names>>, k: &str| {
            v.as_ref()
                .map(|v| {
                    if v.get_ref().0.is_empty() {
                        return Err(self.err(
                            v.span(),
                            format!("{}: an empty list matches nothing", key(k)),
                        ));
                    }
                    Ok(Globs(v.get_ref().0.iter().map(|g| Glob::new(g)).collect()))
                })
                .transpose()
        };
        let channel = match &r.channel {
            Some(c) => {
                let name = c.get_ref();
                let bare = name.strip_prefix('@').unwrap_or(name);
                if bare.is_empty()
                    || bare.chars().count() > 64
                    || name.chars().any(|ch| {
                        ch.is_whitespace()
                            || ch.is_control()
                            || crate::text::sanitize::reorders_or_hides(ch)
                    })
                {
                    return Err(self.err(
                        c.span(),
                        format!(
                            "{}: `{}` is not a channel name (or `@user`): 1 to 64 characters, \
                             no spaces, control, bidi or invisible characters",
                            key("channel"),
                            shown(name)
                        ),
                    ));
                }
                Some(name.clone())
            }
            None => None,
        };
        Ok(Route {
            webhook: self.webhook_name(&r.webhook, &key("webhook"))?,
            repository: globs(&r.repository, "repository")?,
            branch: globs(&r.branch, "branch")?,
            workflow: globs(&r.workflow, "workflow")?,
            on: self.on(r.on.as_ref(), &key("on"))?,
            channel,
            mention_on: self.on(r.mention_on.as_ref(), &key("mention_on"))?,
            line: self.line(r.webhook.span().start),
        })
    }
}

/// The 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text.get(..at).unwrap_or(text).matches('\n').count() + 1
}

/// The key an error at `at` is about: what stands before `=` on that line, or the
/// table header the line is. `None` when the line shows neither (inside a multi-line
/// array): the line number still points at it.
fn key_on_line(text: &str, at: usize) -> Option<&str> {
    let start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].split('\n').next().unwrap_or_default().trim();
    if line.starts_with('[') {
        return line
            .split(']')
            .next()
            .map(|h| h.trim_start_matches('[').trim());
    }
    line.split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty())
}

/// The first line holding a webhook URL (a `/hooks/<id>`) or a URL with credentials,
/// comments included: the file is readable by others.
fn secret_line(text: &str) -> Option<usize> {
    text.split('\n').position(looks_secret).map(|i| i + 1)
}

fn looks_secret(text: &str) -> bool {
    contains_hook_id(text) || text.split('\n').any(has_url_credentials)
}

/// Whether `line` holds `scheme://user:password@…`, or any user part on a Redis URL
/// (`redis://password@host` is a password to some servers).
fn has_url_credentials(line: &str) -> bool {
    line.match_indices("://").any(|(i, sep)| {
        // Read backwards from `://`, so reversed: `redis` reads `sider`.
        let scheme_reversed: String = line[..i]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c))
            .collect::<String>()
            .to_ascii_lowercase();
        let rest = &line[i + sep.len()..];
        let authority = rest
            .split(|c: char| "/?#\"'` \t,]}".contains(c))
            .next()
            .unwrap_or_default();
        match authority.rfind('@') {
            Some(at) => authority[..at].contains(':') || scheme_reversed.contains("sider"),
            None => false,
        }
    })
}

/// A string or a list of strings (`branch = "main"` or `branch = ["main", "release/*"]`).
#[derive(Debug, Default)]
struct Names(Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Names, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Names, E> {
                Ok(Names(vec![s.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Names, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(Names(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default_webhook: Option<Spanned<String>>,
    mention_on: Option<Spanned<Names>>,
    #[serde(default)]
    people: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    route: Vec<RawRoute>,
    templates: Option<RawTemplates>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    webhook: Spanned<String>,
    repository: Option<Spanned<Names>>,
    branch: Option<Spanned<Names>>,
    workflow: Option<Spanned<Names>>,
    on: Option<Spanned<Names>>,
    channel: Option<Spanned<String>>,
    mention_on: Option<Spanned<Names>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplates {
    broken: Option<Spanned<String>>,
    still_failing: Option<Spanned<String>>,
    fixed: Option<Spanned<String>>,
    succeeded: Option<Spanned<String>>,
    cancelled: Option<Spanned<String>>,
    older: Option<Spanned<String>>,
    failed: Option<Spanned<String>>,
    timed_out: Option<Spanned<String>>,
    running: Option<Spanned<String>>,
    default: Option<Spanned<String>>,
}

impl RawTemplates {
    /// In [`TEMPLATE_KEYS`] order.
    fn entries(&self) -> [(&'static str, &Option<Spanned<String>>); 10] {
        let e = [
            &self.broken,
            &self.still_failing,
            &self.fixed,
            &self.succeeded,
            &self.cancelled,
            &self.older,
            &self.failed,
            &self.timed_out,
            &self.running,
            &self.default,
        ];
        std::array::from_fn(|i| (TEMPLATE_KEYS[i], e[i]))
    }
}

mod scan;

#[cfg(test)]
mod tests;
