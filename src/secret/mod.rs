//! The webhook URL is a bearer credential. This module is the only place that holds it in
//! the clear: [`WebhookUrl`] prints as `scheme://host:port/hooks/…LAST4` everywhere, and the
//! full URL is reachable only through [`WebhookUrl::expose`], which the HTTP layer calls.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error;

mod access;
mod child_env;
pub mod names;
mod scrub;

pub use child_env::SECRET_ENV_VARS;
pub use scrub::{after_cut, redact_id_runs, scrub_hook_ids};

/// A validated Mattermost incoming-webhook URL whose Display and Debug are redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    full: String,
    scheme: String,
    host: String,
    port: Option<u16>,
    /// A Mattermost sub-path before `/hooks/` (e.g. `/chat`), empty for most servers.
    prefix: String,
    token: String,
}

impl WebhookUrl {
    /// Validates the URL shape of the contract. Errors never repeat the URL: a user who
    /// pasted it wrong would otherwise see the token in CI logs.
    pub fn parse(raw: &str) -> Result<WebhookUrl> {
        let raw = raw.trim();
        let bad = |why: &str| error::config(format!("malformed webhook URL: {why}"));
        if raw.is_empty() {
            return Err(bad("it is empty"));
        }
        if raw.contains("hooks.slack.com") {
            return Err(bad(
                "this is a Slack webhook URL; create an incoming webhook in Mattermost \
                 (Integrations → Incoming Webhooks) and use its URL",
            ));
        }
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(bad(
                "it has no scheme; it should look like https://chat.example.com/hooks/<id>",
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            // Echo the scheme only when it is one: a pasted mess may hold the token.
            let plausible = scheme.len() <= 10
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            return Err(bad(&if plausible {
                format!("scheme `{scheme}` is not http or https")
            } else {
                "the scheme is not http or https".to_string()
            }));
        }
        if raw.contains(char::is_whitespace) {
            return Err(bad("it contains white space"));
        }
        if rest.contains('?') || rest.contains('#') {
            return Err(bad(
                "it has a query or fragment; use the URL exactly as Mattermost shows it",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("it contains user credentials before the host"));
        }
        let (host, port) = split_host_port(authority).map_err(|why| bad(&why))?;
        if path.split('/').filter(|seg| *seg == "hooks").count() > 1 {
            return Err(bad(
                "`/hooks/` appears twice; the path should end in a single /hooks/<id>",
            ));
        }
        let Some(idx) = path.rfind("/hooks/") else {
            return Err(bad("the path does not end in /hooks/<id>"));
        };
        let token = &path[idx + "/hooks/".len()..];
        if token.ends_with('/') {
            return Err(bad("remove the trailing slash after the webhook id"));
        }
        if token.contains('/') {
            return Err(bad("the path does not end in /hooks/<id>"));
        }
        if token.len() != 26
            || !token
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(bad(&format!(
                "the webhook id must be 26 lowercase letters and digits (found {} characters)",
                token.chars().count()
            )));
        }
        Ok(WebhookUrl {
            full: format!("{scheme}://{rest}"),
            scheme,
            host,
            port,
            prefix: path[..idx].to_string(),
            token: token.to_string(),
        })
    }

    /// The URL in the clear, for the HTTP request only. Everything printed goes through
    /// Display instead.
    pub fn expose(&self) -> &str {
        &self.full
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }

    /// The server's base URL without the webhook path: safe to request and to show.
    pub fn server_base(&self) -> String {
        let authority = match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        };
        format!("{}://{authority}{}", self.scheme, self.prefix)
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// Loopback hosts may use plain http without a warning: the token never leaves the box.
    pub fn is_loopback(&self) -> bool {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case("localhost")
            || h.parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    }

    /// The redacted form: scheme, host, port and the last four characters of the token.
    pub fn redacted(&self) -> String {
        let last4 = &self.token[self.token.len() - 4..];
        match self.port {
            Some(p) => format!("{}://{}:{}/hooks/…{}", self.scheme, self.host, p, last4),
            None => format!("{}://{}/hooks/…{}", self.scheme, self.host, last4),
        }
    }

    /// Removes the URL and the token from text that came from elsewhere (library errors,
    /// server messages, Location headers): current Mattermost servers put the hook id in
    /// their error messages.
    /// Any other hook id in it is redacted too: a redirect can point at another hook.
    pub fn scrub(&self, text: &str) -> String {
        let last4 = &self.token[self.token.len() - 4..];
        let own = text
            .replace(&self.full, &self.redacted())
            .replace(&self.token, &format!("…{last4}"));
        scrub_hook_ids(&own).into_owned()
    }

    /// Whether `text` would carry this webhook's token (a post that holds it would publish
    /// the credential to everyone in the channel).
    pub fn appears_in(&self, text: &[u8]) -> bool {
        let token = self.token.as_bytes();
        text.windows(token.len()).any(|w| w == token)
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.redacted())
    }
}

fn split_host_port(authority: &str) -> std::result::Result<(String, Option<u16>), String> {
    if authority.is_empty() {
        return Err("it has no host".into());
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err("unbalanced [ in the host".into());
        };
        let host = &authority[..end + 2];
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err("unexpected text after the IPv6 host".into()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("the IPv6 address in brackets is not valid".into());
        }
    } else if !host.is_ascii() {
        return Err(
            "the host name is not ASCII; use its xn-- (punycode) form as the server's \
             certificate does"
                .into(),
        );
    } else if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err("the host contains characters a host name cannot have".into());
    }
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| "the port is not a number from 1 to 65535".to_string())?,
        ),
        None => None,
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Where a webhook URL came from; stored in the spool so `flush` can resolve it again
/// without ever writing the URL itself to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Named { name: String, path: PathBuf },
    Env,
}

impl Source {
    /// The reference saved with spooled items: `file:PATH`, `name:NAME` or `env`.
    pub fn spool_ref(&self) -> String {
        match self {
            Source::File(p) => {
                // flush may run from another directory (a timer, cron).
                let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                format!("file:{}", abs.display())
            }
            Source::Named { name, .. } => format!("name:{name}"),
            Source::Env => "env".to_string(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::File(p) => format!("secrets file {}", p.display()),
            Source::Named { name, path } => format!("webhook `{name}` ({})", path.display()),
            Source::Env => "environment variable MATTERMOST_WEBHOOK_URL".to_string(),
        }
    }

    pub fn file(&self) -> Option<&Path> {
        match self {
            Source::File(p) => Some(p),
            Source::Named { path, .. } => Some(path),
            Source::Env => None,
        }
    }
}

/// The three ways to give a webhook, already merged with their environment fallbacks.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub file: Option<PathBuf>,
    pub name: Option<String>,
    pub secrets_dir: PathBuf,
    /// Raw bytes: a value that is not UTF-8 is reported when it is used, not ignored.
    pub env_url: Option<OsString>,
}

/// `MATTERMOST_WEBHOOK_URL`, unless unset or blank.
pub fn env_url() -> Option<OsString> {
    std::env::var_os("MATTERMOST_WEBHOOK_URL")
        .filter(|v| !v.as_encoded_bytes().iter().all(u8::is_ascii_whitespace))
}

impl Sources {
    pub fn from_args(args: &crate::cli::WebhookArgs) -> Sources {
        Sources {
            file: args.webhook_file.clone(),
            name: args.webhook.clone(),
            secrets_dir: args.secrets_dir.clone(),
            env_url: env_url(),
        }
    }

    /// Picks the source (first match wins) without reading it.
    pub fn select(&self) -> Result<Source> {
        if let Some(file) = &self.file {
            refuse_url_as_path(
                file.as_os_str(),
                "--webhook-file (or MMNOTIFY_WEBHOOK_FILE)",
            )?;
            return Ok(Source::File(file.clone()));
        }
        if let Some(name) = &self.name {
            refuse_url_as_path(OsStr::new(name), "--webhook (or MMNOTIFY_WEBHOOK)")?;
            // People pass the file name they see in the directory.
            let name = name.strip_suffix(".url").unwrap_or(name);
            check_name(name)?;
            return Ok(Source::Named {
                name: name.to_string(),
                path: self.secrets_dir.join(format!("{name}.url")),
            });
        }
        if self.env_url.is_some() {
            return Ok(Source::Env);
        }
        Err(error::config(
            "no webhook configured: pass --webhook-file PATH, or --webhook NAME (reads NAME.url \
             in the secrets directory), or set MATTERMOST_WEBHOOK_URL",
        ))
    }

    pub fn resolve(&self) -> Result<(WebhookUrl, Source)> {
        let source = self.select()?;
        let url = self.load(&source)?;
        Ok((url, source))
    }

    pub fn load(&self, source: &Source) -> Result<WebhookUrl> {
        match source {
            Source::File(path) | Source::Named { path, .. } => {
                if let Source::Named { .. } = source {
                    if !self.secrets_dir.is_dir() {
                        return Err(error::config(format!(
                            "secrets directory {} does not exist or is not a directory \
                             (set --secrets-dir or MMNOTIFY_SECRETS_DIR)",
                            self.secrets_dir.display()
                        )));
                    }
                }
                self.check_known(source)?;
                let line = read_secrets_file(path)?;
                WebhookUrl::parse(&line)
                    .map_err(|e| error::config(format!("{}: {e}", path.display())))
            }
            Source::Env => {
                let raw = self.env_url.as_deref().unwrap_or_default();
                let raw = raw.to_str().ok_or_else(|| {
                    error::config(
                        "MATTERMOST_WEBHOOK_URL is not valid UTF-8 text; set it to the URL \
                         exactly as Mattermost shows it",
                    )
                })?;
                WebhookUrl::parse(raw)
                    .map_err(|e| error::config(format!("MATTERMOST_WEBHOOK_URL: {e}")))
            }
        }
    }

    /// A `--webhook NAME` whose file does not exist is answered with the names that do.
    pub fn check_known(&self, source: &Source) -> Result<()> {
        if let Source::Named { name, path } = source {
            let missing = std::fs::symlink_metadata(path)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
            if missing {
                return Err(self.unknown_name(name));
            }
        }
        Ok(())
    }

    /// Which names exist, and the likely one.
    fn unknown_name(&self, name: &str) -> anyhow::Error {
        let dir = self.secrets_dir.display();
        let known = match names::list(&self.secrets_dir) {
            Ok(known) => known,
            Err(e) => {
                return error::config(format!(
                    "no webhook named `{name}`: cannot read the secrets directory {dir}: {e} \
                     (set --secrets-dir or MMNOTIFY_SECRETS_DIR)"
                ))
            }
        };
        let mut msg = format!("no webhook named `{name}`: {dir} has no {name}.url");
        if known.is_empty() {
            msg.push_str(
                "; it holds no NAME.url files at all (write the URL to one, mode 0600, or set \
                 --secrets-dir or MMNOTIFY_SECRETS_DIR)",
            );
        } else {
            if let Some(near) = names::closest(name, &known) {
                msg.push_str(&format!("; did you mean `{near}`?"));
            }
            msg.push_str(&format!(
                "; the names there are: {} (see `mmnotify webhooks`)",
                known.join(", ")
            ));
        }
        // A file named after its hook id would print the token here.
        error::config(redact_id_runs(&msg).into_owned())
    }

    /// Resolves a spool item's saved reference with today's settings.
    pub fn from_spool_ref(&self, reference: &str) -> Result<(WebhookUrl, Source)> {
        let source = if let Some(path) = reference.strip_prefix("file:") {
            Source::File(PathBuf::from(path))
        } else if let Some(name) = reference.strip_prefix("name:") {
            check_name(name)?;
            Source::Named {
                name: name.to_string(),
                path: self.secrets_dir.join(format!("{name}.url")),
            }
        } else if reference == "env" {
            if self.env_url.is_none() {
                return Err(error::config(
                    "the item was sent with MATTERMOST_WEBHOOK_URL, which is not set now",
                ));
            }
            Source::Env
        } else {
            return Err(error::config(format!(
                "unknown webhook source `{reference}`"
            )));
        };
        let url = self.load(&source)?;
        Ok((url, source))
    }
}

/// Refuses, without echoing it, a webhook name or a path option (or its variable) that
/// holds something shaped like a webhook URL: a file or directory named after it would write the token
/// to disk, and every error about it would print it. `what` names the option.
pub fn refuse_url_as_path(value: &OsStr, what: &str) -> Result<()> {
    let text = value.to_string_lossy();
    if text.contains("://") || contains_hook_id(&text) {
        return Err(url_in_wrong_place(what));
    }
    Ok(())
}

/// Refuses a proxy setting that carries a webhook id. A proxy URL itself is expected,
/// so only the id gives it away.
pub fn refuse_hook_in_proxy(value: &str, what: &str) -> Result<()> {
    if contains_hook_id(value) {
        return Err(url_in_wrong_place(what));
    }
    Ok(())
}

fn contains_hook_id(text: &str) -> bool {
    matches!(scrub_hook_ids(text), Cow::Owned(_))
}

fn url_in_wrong_place(what: &str) -> anyhow::Error {
    error::config(format!(
        "{what} holds what looks like the webhook URL itself; the URL is a password and \
         never goes on the command line: write it to a secrets file (--webhook-file PATH) or \
         set MATTERMOST_WEBHOOK_URL"
    ))
}

/// `NAME` must stay inside the secrets directory: no separators, no leading dot.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        // The name is not echoed: whatever was pasted there may be a secret.
        Err(error::config(
            "invalid webhook name: use letters, digits, `.`, `_` and `-`, not starting with `.`",
        ))
    }
}

/// Facts about a secrets file, also shown by `doctor`.
#[derive(Debug, Clone, Copy)]
pub struct FileFacts {
    pub uid: u32,
    pub mode: u32,
}

/// The most a secrets file may hold: a URL and a few comments fit many times over.
pub const SECRETS_FILE_LIMIT: u64 = 64 * 1024;

/// Checks the file rules: regular file (symlinks followed), owned by root or by us, and
/// nothing for others nor write for the group.
pub fn check_file(path: &Path) -> Result<FileFacts> {
    open_checked(path).map(|(_, facts)| facts)
}

/// Opens the secrets file once and checks what was opened (`fstat`), so that nothing can
/// swap the file between the check and the read. O_NONBLOCK: opening a FIFO must not
/// wait for a writer; it is refused as not a regular file right after.
fn open_checked(path: &Path) -> Result<(File, FileFacts)> {
    let cannot = |e: std::io::Error| {
        let why = if e.kind() == std::io::ErrorKind::PermissionDenied {
            format!("{e}: {}", access::explain_denied(path))
        } else {
            e.to_string()
        };
        error::config(format!(
            "cannot read secrets file {}: {why}",
            path.display()
        ))
    };
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(error::config(format!(
            "secrets file {} is not a regular file",
            path.display()
        )));
    }
    let facts = FileFacts {
        uid: meta.uid(),
        mode: meta.mode() & 0o7777,
    };
    let me = current_uid();
    if facts.uid != 0 && facts.uid != me {
        return Err(error::config(format!(
            "secrets file {} is owned by uid {}, not by root or by you (uid {me}); fix it \
             with: chown root {}",
            path.display(),
            facts.uid,
            path.display()
        )));
    }
    if facts.mode & 0o027 != 0 {
        return Err(error::config(format!(
            "secrets file {} has mode {:04o}, which lets others read it or the group write \
             it; fix it with: chmod {:04o} {}",
            path.display(),
            facts.mode,
            facts.mode & !0o027 & 0o777,
            path.display()
        )));
    }
    Ok((file, facts))
}

/// The first line that is neither blank nor a `#` comment, trimmed.
pub fn read_secrets_file(path: &Path) -> Result<String> {
    let (file, _) = open_checked(path)?;
    let mut bytes = Vec::new();
    file.take(SECRETS_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error::config(format!("cannot read secrets file {}: {e}", path.display())))?;
    if bytes.len() as u64 > SECRETS_FILE_LIMIT {
        return Err(error::config(format!(
            "secrets file {} is larger than {} KiB; it should hold one URL",
            path.display(),
            SECRETS_FILE_LIMIT / 1024
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| error::config(format!("secrets file {} is not UTF-8 text", path.display())))?;
    first_value_line(&text).map(str::to_string).ok_or_else(|| {
        error::config(format!(
            "secrets file {} holds no URL (only blank lines and # comments)",
            path.display()
        ))
    })
}

/// Editors on Windows save a byte-order mark first and end lines with CRLF; `lines`
/// and `trim` take care of the CR.
fn first_value_line(text: &str) -> Option<&str> {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
}

pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "pq3wxk8bmjsyr9cn5ue7tdo1ha";

    fn parse(s: &str) -> Result<WebhookUrl> {
        WebhookUrl::parse(s)
    }

    #[test]
    fn redacted_forms() {
        let u = parse(&format!("https://chat.example.com/hooks/{ID}")).unwrap();
        assert_eq!(u.to_string(), "https://chat.example.com/hooks/…o1ha");
        assert_eq!(
            format!("{u:?}"),
            "WebhookUrl(https://chat.example.com/hooks/…o1ha)"
        );
        let u = parse(&format!("http://127.0.0.1:8065/mm/hooks/{ID}")).unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:8065/hooks/…o1ha");
        assert!(u.is_loopback());
        assert_eq!(u.port(), 8065);
        let u = parse(&format!("HTTPS://[::1]:9/hooks/{ID}")).unwrap();
        assert_eq!(u.to_string(), "https://[::1]:9/hooks/…o1ha");
        assert!(u.is_loopback());
    }

    #[test]
    fn scrub_removes_url_and_token() {
        let u = parse(&format!("https://chat.example.com/x/hooks/{ID}")).unwrap();
        let msg = format!("bad uri: https://chat.example.com/x/hooks/{ID} and hook {ID}.");
        let clean = u.scrub(&msg);
        assert!(!clean.contains(ID), "{clean}");
        assert!(clean.contains("…o1ha"));
    }

    #[test]
    fn rejects_usual_mistakes_without_echoing_the_token() {
        let cases = [
            (format!("chat.example.com/hooks/{ID}"), "no scheme"),
            (
                format!("https://chat.example.com/hooks/hooks/{ID}"),
                "twice",
            ),
            (format!("https://chat.example.com/hooks/{ID}?x=1"), "query"),
            (
                format!("https://chat.example.com/hooks/{ID}#f"),
                "query or fragment",
            ),
            (
                format!("https://chat.example.com/hooks/{ID}/"),
                "trailing slash",
            ),
            (format!("ftp://chat.example.com/hooks/{ID}"), "not http"),
            (format!("https://chat.example.com/api/{ID}"), "does not end"),
            (
                "https://hooks.slack.com/services/T0/B0/XXXX".to_string(),
                "Slack",
            ),
            (
                "https://chat.example.com/hooks/ABC".to_string(),
                "26 lowercase",
            ),
            (
                format!("https://user:pw@chat.example.com/hooks/{ID}"),
                "credentials",
            ),
            (format!("https:///hooks/{ID}"), "no host"),
            (format!("https://h:99999/hooks/{ID}"), "port"),
            (format!("https://ex{{ample.com/hooks/{ID}"), "characters"),
            (format!("https://host:8065:99/hooks/{ID}"), "characters"),
            (format!("https://ünï.example/hooks/{ID}"), "punycode"),
            (format!("https://[zz::1]/hooks/{ID}"), "IPv6"),
            (format!("hooks/{ID}://x"), "scheme is not"),
        ];
        for (url, want) in cases {
            let err = parse(&url).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains(want), "{url}: {msg}");
            assert!(!msg.contains(ID), "token leaked: {msg}");
            assert_eq!(error::exit_kind(&err), error::ExitKind::Config);
        }
    }

    #[test]
    fn urls_given_as_names_or_paths_are_not_echoed() {
        let url = format!("https://chat.example.com/hooks/{ID}");
        for sources in [
            Sources {
                file: Some(PathBuf::from(&url)),
                ..Default::default()
            },
            Sources {
                name: Some(url.clone()),
                ..Default::default()
            },
        ] {
            let msg = format!("{:#}", sources.select().unwrap_err());
            assert!(!msg.contains(ID), "{msg}");
            assert!(msg.contains("looks like the webhook URL"), "{msg}");
        }
    }

    #[test]
    fn every_hook_id_is_scrubbed() {
        let other = "ebq8x1wd7oy3nhfkm4gs9ctr5a";
        let text = format!(
            "moved to https://x.example/hooks/{other} (was /hooks/{ID}/); see /hooks/short"
        );
        let clean = scrub_hook_ids(&text);
        assert_eq!(
            clean,
            "moved to https://x.example/hooks/…tr5a (was /hooks/…o1ha/); see /hooks/short"
        );
        assert!(matches!(
            scrub_hook_ids("no ids here /hooks/"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            scrub_hook_ids("/hooks/UPPERCASEISNOTANIDXXXXX"),
            Cow::Borrowed(_)
        ));
        // Multi-byte text around an id must not split a character.
        assert_eq!(scrub_hook_ids(&format!("é/hooks/{ID}é")), "é/hooks/…o1haé");
        let u = parse(&format!("https://chat.example.com/hooks/{ID}")).unwrap();
        let clean = u.scrub(&format!("Location: https://evil.example/hooks/{other}"));
        assert!(!clean.contains(other), "{clean}");
    }

    #[test]
    fn own_token_is_found_in_a_body() {
        let u = parse(&format!("https://chat.example.com/hooks/{ID}")).unwrap();
        assert!(u.appears_in(format!(r#"{{"text":"see {ID}"}}"#).as_bytes()));
        assert!(!u.appears_in(br#"{"text":"hello"}"#));
    }

    #[test]
    fn paths_shaped_like_urls_are_refused_without_echo() {
        let url = format!("https://chat.example.com/hooks/{ID}");
        for bad in [
            url.clone(),
            format!("/tmp/hooks/{ID}"),
            "http://x/y".to_string(),
        ] {
            let err = refuse_url_as_path(OsStr::new(&bad), "--state-dir").unwrap_err();
            let msg = format!("{err:#}");
            assert!(!msg.contains(ID), "{msg}");
            assert!(msg.contains("--state-dir"), "{msg}");
            assert_eq!(error::exit_kind(&err), error::ExitKind::Config);
        }
        for good in ["/var/lib/mmnotify", "/srv/hooks/state", "relative/dir"] {
            assert!(refuse_url_as_path(OsStr::new(good), "--state-dir").is_ok());
        }
        assert!(refuse_hook_in_proxy("http://proxy:3128", "--proxy").is_ok());
        assert!(refuse_hook_in_proxy(&url, "--proxy").is_err());
    }

    #[test]
    fn env_url_that_is_not_utf8_is_a_config_error() {
        use std::os::unix::ffi::OsStringExt;
        let sources = Sources {
            env_url: Some(OsString::from_vec(b"https://c.example/hooks/\xff".to_vec())),
            ..Default::default()
        };
        let err = sources.resolve().unwrap_err();
        assert_eq!(error::exit_kind(&err), error::ExitKind::Config);
        assert!(format!("{err:#}").contains("not valid UTF-8"), "{err:#}");
    }

    #[test]
    fn bom_and_crlf_are_read() {
        assert_eq!(
            first_value_line("\u{feff}# c\r\n\r\nhttps://u\r\n"),
            Some("https://u")
        );
        assert_eq!(first_value_line("\u{feff}https://u\r\n"), Some("https://u"));
    }

    #[test]
    fn only_small_regular_files_are_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let msg = format!("{:#}", read_secrets_file(dir.path()).unwrap_err());
        assert!(msg.contains("not a regular file"), "{msg}");

        let fifo = dir.path().join("fifo.url");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let msg = format!("{:#}", read_secrets_file(&fifo).unwrap_err());
        assert!(msg.contains("not a regular file"), "{msg}");

        let big = dir.path().join("big.url");
        let mut content = format!("https://c.example/hooks/{ID}\n");
        content.push_str(&"#".repeat(SECRETS_FILE_LIMIT as usize));
        fs::write(&big, content).unwrap();
        fs::set_permissions(&big, fs::Permissions::from_mode(0o600)).unwrap();
        let msg = format!("{:#}", read_secrets_file(&big).unwrap_err());
        assert!(msg.contains("larger than 64 KiB"), "{msg}");
    }

    #[test]
    fn names() {
        assert!(check_name("build-status").is_ok());
        assert!(check_name("a.b_c-1").is_ok());
        for bad in ["", ".hidden", "../etc", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn first_line_skips_comments_and_blanks() {
        assert_eq!(first_value_line("\n# c\n  \n  url  \nx"), Some("url"));
        assert_eq!(first_value_line("# only\n\n"), None);
    }

    #[test]
    fn file_mode_rules() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hook.url");
        fs::write(
            &p,
            format!("# build status\nhttps://c.example/hooks/{ID}\n"),
        )
        .unwrap();
        for (mode, ok) in [(0o400, true), (0o440, true), (0o600, true), (0o640, true)] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_secrets_file(&p).is_ok(), ok, "{mode:o}");
        }
        for mode in [0o644, 0o660, 0o604, 0o666] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            let msg = format!("{:#}", read_secrets_file(&p).unwrap_err());
            assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
            assert!(msg.contains("chmod"), "{msg}");
        }
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let msg = format!("{:#}", read_secrets_file(&p).unwrap_err());
        assert!(msg.contains("chmod 0640"), "{msg}");
    }
}
