//! SIGHUP, between entries: the gateway reads its config (routes, people, templates,
//! `default_webhook`, `mention_on`) and its bot or webhook secret again. Each source on
//! its own: one that fails to load keeps what was in use, with one error line, and does
//! not hold back the others, so a webhook rotated while the config is being edited still
//! applies when the edit has a typo. The readers open each file once, non-blocking, and
//! refuse anything but a regular file before reading a bounded amount
//! (`secret::file::open_trusted`), so a FIFO, a directory or `/dev/zero` at a path costs
//! one error line, never a hang or memory.

use std::path::PathBuf;

use anyhow::Result;

use super::{log, Consumer};
use crate::pipeline::bot::BotConn;
use crate::pipeline::build::Ctx;
use crate::pipeline::output::print_stderr_line;
use crate::secret::BotSource;

/// What SIGHUP reads again (set by `commands::build`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Reload {
    /// `--config` (or `MMNOTIFY_CONFIG`); without it the default paths are looked at again.
    pub config: Option<PathBuf>,
    /// No webhook on the command line: the config's routes decide where events go.
    pub routed: bool,
}

impl Consumer<'_> {
    /// Reads every source again; says what took in one notice and what failed in one
    /// error line each.
    pub(super) fn reload(&mut self, ctx: &mut Ctx) {
        let mut took = Vec::new();
        let failed = |e: &anyhow::Error| {
            // One line: a message with a line break would read as two in the journal.
            let why = format!("{e:#}").replace(['\n', '\r'], " ");
            print_stderr_line(&format!(
                "mmnotify: reload on SIGHUP failed, keeping the old settings: {why}"
            ));
        };
        // The config first: it decides whether the routes or the webhook are read.
        let config = match crate::config::locate::find(self.reload_from.config.as_deref()).and_then(
            |config| {
                let line = config.as_ref().map_or_else(
                    || "no config file".to_string(),
                    |c| {
                        format!(
                            "config {}: {} route(s), {} people",
                            crate::config::shown(&c.path.display().to_string()),
                            c.routes.len(),
                            c.people.len()
                        )
                    },
                );
                ctx.swap_config(config, self.reload_from.routed)?;
                Ok(line)
            },
        ) {
            Ok(line) => Some(line),
            Err(e) => {
                failed(&e);
                None
            }
        };
        match reload_target(ctx) {
            Ok(line) => took.push(line),
            Err(e) => failed(&e),
        }
        took.extend(config);
        if !took.is_empty() {
            log::notice(
                self.printer,
                &format!("reloaded on SIGHUP: {}", took.join("; ")),
            );
        }
    }
}

/// The bot, else the webhook, read again (the routes' webhooks were, with the config);
/// says where posts go now.
fn reload_target(ctx: &mut Ctx) -> Result<String> {
    let args = ctx.args.clone();
    if args.bot.is_given() {
        if args.bot.select()? == BotSource::Env {
            return Ok(
                "the bot comes from MATTERMOST_URL and MATTERMOST_BOT_TOKEN, which a \
                       running gateway cannot read again: restart it to change them"
                    .into(),
            );
        }
        let conn = BotConn::connect(&args.bot, args.route.channel.as_deref(), &args.delivery)?;
        let line = format!("posting as {}", conn.describe());
        ctx.bot = Some(conn);
        return Ok(line);
    }
    if ctx.routing.is_some() {
        return Ok("posting through the config's routes".into());
    }
    Ok(format!("posting to {}", ctx.reload_webhook()?))
}
