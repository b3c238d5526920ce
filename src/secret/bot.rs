//! The bot account's secret (issue 18): the server's base URL and the bot's access
//! token, from `--bot-file PATH`, `--bot NAME` (`NAME.bot` in the secrets directory) or
//! `MATTERMOST_URL` + `MATTERMOST_BOT_TOKEN`. [`BotToken`] prints as
//! `bot …k3c9 at https://chat.example.com`; only [`BotToken::bearer`] yields the token.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;

use anyhow::Result;

use crate::error;
use crate::secret::{check_name, read_secrets_values, refuse_url_as_path, SourceRef, WebhookUrl};

/// A bot's server and token. Held as the webhook URL `BASE/hooks/TOKEN` would be: the
/// same parser checks the server URL (scheme, host, port, no query) and the token's
/// shape (26 id characters, as Mattermost makes them), remembers the token for the
/// process-wide scrubber, and finds it in text however it is broken up.
#[derive(Clone)]
pub(crate) struct BotToken {
    inner: WebhookUrl,
}

impl BotToken {
    /// Validates both parts. Errors never repeat the token.
    pub(crate) fn parse(base: &str, token: &str) -> Result<BotToken> {
        let base = base.trim().trim_end_matches('/');
        let token = token.trim();
        if token.len() != 26
            || !token
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(error::config(format!(
                "the bot token must be 26 lowercase letters and digits, as Mattermost shows \
                 it once when the token is made (found {} characters)",
                token.chars().count()
            )));
        }
        if base.contains("/hooks/") || base.ends_with("/hooks") {
            return Err(error::config(
                "the bot's server URL is a webhook URL; give the server's base URL (for \
                 example https://chat.example.com)",
            ));
        }
        let inner = WebhookUrl::parse(&format!("{base}/hooks/{token}")).map_err(|e| {
            let text = format!("{e:#}").replace("malformed webhook URL", "malformed server URL");
            error::config(crate::secret::scrub_secrets(&text).into_owned())
        })?;
        Ok(BotToken { inner })
    }

    /// The server's base URL (with its sub-path): safe to show and to request.
    pub(crate) fn base(&self) -> String {
        self.inner.server_base()
    }

    /// The `Authorization` header's value: the one place the token is in clear.
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.inner.token())
    }

    /// The server URL with the token, for keyed hashes only (the `env` spool item's HMAC).
    pub(crate) fn expose_for_hash(&self) -> &str {
        self.inner.expose()
    }

    /// The token's scrubber, for text the server or a library wrote.
    pub(crate) fn as_url(&self) -> &WebhookUrl {
        &self.inner
    }

    pub(crate) fn scrub(&self, text: &str) -> String {
        self.inner.scrub(text)
    }

    fn last4(&self) -> &str {
        let t = self.inner.token();
        &t[t.len() - 4..]
    }
}

impl fmt::Display for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bot …{} at {}", self.last4(), self.base())
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where the bot came from; saved with spooled items (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BotSource {
    File(PathBuf),
    Named { name: String, path: PathBuf },
    Env,
}

impl BotSource {
    /// `file:PATH`, `name:NAME` or `env`: saved with spooled items, never the token.
    pub(crate) fn spool_ref(&self) -> String {
        match self {
            BotSource::File(p) => SourceRef::file(p),
            BotSource::Named { name, .. } => SourceRef::Name(name.clone()),
            BotSource::Env => SourceRef::Env,
        }
        .to_string()
    }
}

/// The three ways to give a bot, merged with their environment fallbacks.
#[derive(Debug, Clone, Default)]
pub(crate) struct BotSources {
    pub file: Option<PathBuf>,
    pub name: Option<String>,
    pub secrets_dir: PathBuf,
    pub env_url: Option<OsString>,
    pub env_token: Option<OsString>,
}

fn non_blank(v: Option<OsString>) -> Option<OsString> {
    v.filter(|v| !v.as_encoded_bytes().iter().all(u8::is_ascii_whitespace))
}

impl BotSources {
    /// The environment's part: `MATTERMOST_URL` and `MATTERMOST_BOT_TOKEN`.
    pub(crate) fn with_env(mut self) -> BotSources {
        self.env_url = non_blank(std::env::var_os("MATTERMOST_URL"));
        self.env_token = non_blank(std::env::var_os("MATTERMOST_BOT_TOKEN"));
        self
    }

    /// Whether a bot was asked for at all (first match wins, as for webhooks).
    pub(crate) fn is_given(&self) -> bool {
        self.file.is_some() || self.name.is_some() || self.env_token.is_some()
    }

    pub(crate) fn select(&self) -> Result<BotSource> {
        if let Some(file) = &self.file {
            refuse_url_as_path(file.as_os_str(), "--bot-file (or MMNOTIFY_BOT_FILE)")?;
            return Ok(BotSource::File(file.clone()));
        }
        if let Some(name) = &self.name {
            refuse_url_as_path(OsStr::new(name), "--bot")?;
            if name.contains('/') {
                return Err(error::config(
                    "--bot takes a NAME (the file NAME.bot in the secrets directory), not a \
                     path; to use a file by its path, pass it as --bot-file PATH",
                ));
            }
            let name = name.strip_suffix(".bot").unwrap_or(name);
            check_name(name)?;
            return Ok(BotSource::Named {
                name: name.to_string(),
                path: self.secrets_dir.join(format!("{name}.bot")),
            });
        }
        if self.env_token.is_some() {
            return Ok(BotSource::Env);
        }
        Err(error::config(
            "no bot configured: pass --bot-file PATH, or --bot NAME (reads NAME.bot in the \
             secrets directory), or set MATTERMOST_URL and MATTERMOST_BOT_TOKEN",
        ))
    }

    pub(crate) fn resolve(&self) -> Result<(BotToken, BotSource)> {
        let source = self.select()?;
        let bot = self.load(&source)?;
        Ok((bot, source))
    }

    pub(crate) fn load(&self, source: &BotSource) -> Result<BotToken> {
        match source {
            BotSource::File(path) | BotSource::Named { path, .. } => {
                if let BotSource::Named { name, .. } = source {
                    if std::fs::symlink_metadata(path).is_err() {
                        let msg = format!(
                            "no bot named `{name}`: {} has no {name}.bot (set --secrets-dir \
                             or MMNOTIFY_SECRETS_DIR)",
                            self.secrets_dir.display()
                        );
                        // A token pasted where the name goes is not echoed.
                        return Err(error::config(
                            crate::secret::redact_id_runs(&msg).into_owned(),
                        ));
                    }
                }
                let lines = read_secrets_values(path)?;
                let [base, token] = lines.as_slice() else {
                    return Err(error::config(format!(
                        "bot file {} must hold two lines (blank lines and # comments \
                         aside): the server's base URL, then the bot's access token; it \
                         holds {}",
                        path.display(),
                        lines.len()
                    )));
                };
                BotToken::parse(base, token)
                    .map_err(|e| error::config(format!("bot file {}: {e:#}", path.display())))
            }
            BotSource::Env => {
                let text = |v: &Option<OsString>, name: &str| -> Result<String> {
                    let v = v.as_deref().ok_or_else(|| {
                        error::config(format!(
                            "MATTERMOST_BOT_TOKEN is set but {name} is not: set it to the \
                             server's base URL (https://chat.example.com)"
                        ))
                    })?;
                    v.to_str()
                        .map(str::to_string)
                        .ok_or_else(|| error::config(format!("{name} is not valid UTF-8 text")))
                };
                let base = text(&self.env_url, "MATTERMOST_URL")?;
                let token = text(&self.env_token, "MATTERMOST_BOT_TOKEN")?;
                BotToken::parse(&base, &token).map_err(|e| {
                    error::config(format!("MATTERMOST_URL / MATTERMOST_BOT_TOKEN: {e:#}"))
                })
            }
        }
    }

    /// Resolves a spool item's saved reference with today's settings.
    pub(crate) fn resolve_spool_ref(&self, reference: &str) -> Result<(BotToken, BotSource)> {
        let source = match reference.parse::<SourceRef>() {
            Ok(SourceRef::File(path)) => BotSource::File(path),
            Ok(SourceRef::Name(name)) => {
                check_name(&name)?;
                let path = self.secrets_dir.join(format!("{name}.bot"));
                BotSource::Named { name, path }
            }
            Ok(SourceRef::Env) => BotSource::Env,
            Ok(SourceRef::Flag) | Err(_) => {
                return Err(error::config(format!("unknown bot source `{reference}`")));
            }
        };
        let bot = self.load(&source)?;
        Ok((bot, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "k7wq2m9xz4bn8vc3ld6fh1k3c9";

    #[test]
    fn display_is_redacted() {
        let bot = BotToken::parse("https://chat.example.com/", TOKEN).unwrap();
        assert_eq!(bot.to_string(), "bot …k3c9 at https://chat.example.com");
        assert_eq!(format!("{bot:?}"), "bot …k3c9 at https://chat.example.com");
        assert_eq!(bot.bearer(), format!("Bearer {TOKEN}"));
        assert!(!crate::secret::scrub_secrets(&format!("x {TOKEN}")).contains(TOKEN));
    }

    #[test]
    fn bad_parts_are_refused_without_echo() {
        for (base, token) in [
            ("https://c.example", "short"),
            ("https://c.example/hooks/x", TOKEN),
            ("c.example", TOKEN),
            ("https://c.example/?q=1", TOKEN),
        ] {
            let msg = format!("{:#}", BotToken::parse(base, token).unwrap_err());
            assert!(!msg.contains(TOKEN), "{msg}");
        }
    }
}
