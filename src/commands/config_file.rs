//! The config file at the door: finding and loading it for the commands that use it
//! (`build`, `doctor`), and `mmnotify config check`.

use std::path::Path;

use anyhow::Result;

use crate::cli::{ConfigArgs, ConfigCommand};
use crate::config::{self, locate, Config};
use crate::pipeline::output::{print_stderr_line, print_stdout_bytes, Ending};
use crate::secret::Sources;

/// Finds and loads the config: `given` is `--config FILE` (or `MMNOTIFY_CONFIG`). A
/// given file that is missing, and any file found that fails its rules, is exit 3.
/// `None`: no `--config`/`MMNOTIFY_CONFIG` and nothing at the default paths.
pub(super) fn find(given: Option<&Path>) -> Result<Option<Config>> {
    locate::find(given)
}

/// The line for "no config", naming the paths looked at (`~/.config/…` only when
/// `XDG_CONFIG_HOME` is unset). The user's path comes from the environment, which
/// mmnotify did not write: scrubbed of hook ids, its control and bidi characters blanked
/// (`config check` writes its stdout as is).
pub(super) fn none_found() -> String {
    let user = locate::user_path(&|k| std::env::var_os(k))
        .map(|p| {
            let shown = p.to_string_lossy();
            let shown = crate::secret::scrub_secrets(&shown);
            format!(
                "{} or ",
                crate::text::sanitize::one_line(&shown, usize::MAX)
            )
        })
        .unwrap_or_default();
    format!(
        "no config file (none given with --config or MMNOTIFY_CONFIG, none at {user}{})",
        locate::SYSTEM_PATH
    )
}

/// `mmnotify config check`: exit 0 with the listing, or the load's error (exit 3).
pub(super) fn run(args: &ConfigArgs, given: Option<&Path>) -> Result<Ending> {
    let ConfigCommand::Check(check) = &args.command;
    // No config is a valid setup (every event goes to the usual webhook), so not an
    // error; the line says where it was looked for.
    let Some(config) = find(given)? else {
        print_stdout_bytes(format!("{}\n", none_found()).as_bytes());
        return Ok(Ending::printed(Ok(0)));
    };
    print_stdout_bytes(config::print::routes(&config).as_bytes());
    // A warning, not an error: the file may be written after the config (or on the
    // gateway's host only); until then that route's posts fail alone, with exit 3.
    for (what, name) in webhook_names(&config) {
        if let Err(e) = missing_webhook(check.secrets_dir.path(), name) {
            print_stderr_line(&format!(
                "mmnotify: warning: {what}: {e:#}; until it exists, posts to it fail (exit 3)"
            ));
        }
    }
    Ok(Ending::printed(Ok(0)))
}

/// Each webhook NAME the config posts to, with where it is set (for messages).
fn webhook_names(config: &Config) -> Vec<(String, &str)> {
    let mut names: Vec<(String, &str)> = config
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                format!("route {} (line {})", i + 1, r.line),
                r.webhook.as_str(),
            )
        })
        .collect();
    if let Some(name) = &config.default_webhook {
        names.push(("default_webhook".to_string(), name.as_str()));
    }
    names
}

/// The source of a named webhook in `dir`.
pub(super) fn named(dir: &Path, name: &str) -> Sources {
    Sources {
        file: None,
        name: Some(name.to_string()),
        secrets_dir: dir.to_path_buf(),
        env_url: None,
    }
}

/// `Err` (naming the files that do exist) when `dir` has no `NAME.url`.
fn missing_webhook(dir: &Path, name: &str) -> Result<()> {
    let sources = named(dir, name);
    let source = sources.select()?;
    sources.check_known(&source)
}
