//! Where the webhook URL comes from (file, name, environment) and which source wins.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error;
use crate::secret::{
    names, read_secrets_file, redact_id_runs, refuse_url_as_path, SourceRef, WebhookUrl,
};

/// Where a webhook URL came from; stored in the spool so `flush` can resolve it again
/// without ever writing the URL itself to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    File(PathBuf),
    Named { name: String, path: PathBuf },
    Env,
}

impl Source {
    /// The reference saved with spooled items: `file:PATH`, `name:NAME` or `env`.
    pub(crate) fn spool_ref(&self) -> String {
        match self {
            Source::File(p) => SourceRef::file(p),
            Source::Named { name, .. } => SourceRef::Name(name.clone()),
            Source::Env => SourceRef::Env,
        }
        .to_string()
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Source::File(p) => format!("secrets file {}", p.display()),
            Source::Named { name, path } => format!("webhook `{name}` ({})", path.display()),
            Source::Env => "environment variable MATTERMOST_WEBHOOK_URL".to_string(),
        }
    }

    pub(crate) fn file(&self) -> Option<&Path> {
        match self {
            Source::File(p) => Some(p),
            Source::Named { path, .. } => Some(path),
            Source::Env => None,
        }
    }
}

/// The three ways to give a webhook, already merged with their environment fallbacks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    pub file: Option<PathBuf>,
    pub name: Option<String>,
    pub secrets_dir: PathBuf,
    /// Raw bytes: a value that is not UTF-8 is reported when it is used, not ignored.
    pub env_url: Option<OsString>,
}

/// `MATTERMOST_WEBHOOK_URL`, unless unset or blank.
pub(crate) fn env_url() -> Option<OsString> {
    std::env::var_os("MATTERMOST_WEBHOOK_URL")
        .filter(|v| !v.as_encoded_bytes().iter().all(u8::is_ascii_whitespace))
}

impl Sources {
    /// Picks the source (first match wins) without reading it.
    pub(crate) fn select(&self) -> Result<Source> {
        if let Some(file) = &self.file {
            refuse_url_as_path(
                file.as_os_str(),
                "--webhook-file (or MMNOTIFY_WEBHOOK_FILE)",
            )?;
            return Ok(Source::File(file.clone()));
        }
        if let Some(name) = &self.name {
            refuse_url_as_path(OsStr::new(name), "--webhook (or MMNOTIFY_WEBHOOK)")?;
            // A path is not echoed either: the value has not been checked for a token.
            if name.contains('/') {
                return Err(error::config(
                    "--webhook (or MMNOTIFY_WEBHOOK) takes a NAME (the file NAME.url in the \
                     secrets directory), not a path; to use a secrets file by its path, pass \
                     it as --webhook-file PATH",
                ));
            }
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

    pub(crate) fn resolve(&self) -> Result<(WebhookUrl, Source)> {
        let source = self.select()?;
        let url = self.load(&source)?;
        Ok((url, source))
    }

    pub(crate) fn load(&self, source: &Source) -> Result<WebhookUrl> {
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

    /// A `--webhook NAME` whose file does not exist is answered with the names that do;
    /// a missing `--webhook-file NAME` that is a name in the directory, with `--webhook`.
    pub(crate) fn check_known(&self, source: &Source) -> Result<()> {
        if let Source::File(path) = source {
            self.check_file_is_not_a_name(path)?;
        }
        if let Source::Named { name, path } = source {
            let missing = std::fs::symlink_metadata(path)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
            if missing {
                return Err(self.unknown_name(name));
            }
        }
        Ok(())
    }

    /// `--webhook-file ops` (or `ops.url`) that does not exist here while the secrets
    /// directory has `ops.url`: the name was meant for `--webhook`.
    fn check_file_is_not_a_name(&self, path: &Path) -> Result<()> {
        let missing = std::fs::symlink_metadata(path)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        let Some(file) = path.to_str().filter(|p| missing && !p.contains('/')) else {
            return Ok(());
        };
        let name = file.strip_suffix(".url").unwrap_or(file);
        if check_name(name).is_err() {
            return Ok(());
        }
        let named = self.secrets_dir.join(format!("{name}.url"));
        if std::fs::symlink_metadata(&named).is_err() {
            return Ok(());
        }
        let msg = format!(
            "secrets file {file} does not exist here, but the secrets directory has {}: to \
             use it, pass --webhook {name}",
            named.display()
        );
        // A file named after its hook id would print the token here.
        Err(error::config(redact_id_runs(&msg).into_owned()))
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
    pub(crate) fn resolve_spool_ref(&self, reference: &str) -> Result<(WebhookUrl, Source)> {
        let source = match reference.parse::<SourceRef>() {
            Ok(SourceRef::File(path)) => Source::File(path),
            Ok(SourceRef::Name(name)) => {
                check_name(&name)?;
                let path = self.secrets_dir.join(format!("{name}.url"));
                Source::Named { name, path }
            }
            Ok(SourceRef::Env) => {
                if self.env_url.is_none() {
                    return Err(error::config(
                        "the item was sent with MATTERMOST_WEBHOOK_URL, which is not set now",
                    ));
                }
                Source::Env
            }
            Ok(SourceRef::Flag) | Err(_) => {
                return Err(error::config(format!(
                    "unknown webhook source `{reference}`"
                )));
            }
        };
        let url = self.load(&source)?;
        Ok((url, source))
    }
}

/// `NAME` must stay inside the secrets directory: no separators, no leading dot.
pub(crate) fn check_name(name: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error;

    const ID: &str = "pq3wxk8bmjsyr9cn5ue7tdo1ha";

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
    fn names() {
        assert!(check_name("build-status").is_ok());
        assert!(check_name("a.b_c-1").is_ok());
        for bad in ["", ".hidden", "../etc", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
