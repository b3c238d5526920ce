//! The clap definition: every flag, its help text and what clap can check by itself.
//! Nothing here reads files or the environment beyond clap's own `env = …` fallbacks.
// Doc comments here are `--help` text, where backticks would show as they are typed.
#![allow(clippy::doc_markdown)]

use clap::{Parser, Subcommand};

mod build;
mod checks;
mod common;
mod config;
mod gateway;
pub mod help;
mod parse;
mod run;
mod send;
mod spool;

pub(crate) use build::BuildArgs;
pub(crate) use checks::{DoctorArgs, ProbeArgs};
pub(crate) use common::{
    AttachmentArgs, CommonArgs, DeliveryArgs, NoRetries, NoState, OutputArgs, OutputFormat,
    Priority, PropsArgs, Retries, RetryLimit, RouteArgs, SecretsDirArgs, StateArgs, StateDirArgs,
    WebhookArgs,
};
pub(crate) use config::{ConfigArgs, ConfigCommand};
pub(crate) use gateway::{GatewayArgs, QueueArgs, RateArgs, StoreArgs};
#[cfg(test)]
pub(crate) use parse::ON_NAMES;
pub(crate) use run::{RunArgs, RunOutcome};
pub(crate) use send::SendArgs;
pub(crate) use spool::{
    FlushArgs, SpoolArgs, SpoolCommand, SpoolDropArgs, SpoolListArgs, WebhooksArgs,
};

use common::{refuse_secrets_dir, refuse_state_dir};

/// What `mmnotify --version` prints: the commit and the TLS stack, for bug reports. Set
/// by `main` only, not in [`command`], so the generated man pages do not change with
/// every commit.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("MMNOTIFY_GIT_COMMIT"),
    "\nTLS: rustls ",
    env!("MMNOTIFY_RUSTLS_VERSION"),
    " (ring), bundled Mozilla roots, then the system store (SSL_CERT_FILE/SSL_CERT_DIR)",
    "\ntarget: ",
    env!("MMNOTIFY_TARGET")
);

/// Post notifications, build statuses and task reports to Mattermost incoming webhooks.
#[derive(Debug, Parser)]
#[command(name = "mmnotify", version, after_long_help = help::main_after_help())]
// No `propagate_version`: a `-V` line in every subcommand's help costs a screen line.
#[command(max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    /// Config file: routes, people, templates (see FILES in `man mmnotify`)
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "MMNOTIFY_CONFIG",
        hide_env_values = true,
        help_heading = "Config"
    )]
    pub(crate) config: Option<std::path::PathBuf>,
}

impl Cli {
    /// Whether the command was asked for `--output json`.
    pub fn json_output(&self) -> bool {
        self.command.json_output()
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Post one message (text, attachment, props)
    #[command(after_help = help::after_help("send"))]
    Send(Box<SendArgs>),
    /// Post one build-status message from normalized CI fields, deduplicated
    #[command(after_help = help::after_help("build"))]
    Build(Box<BuildArgs>),
    /// Run a command, then post its outcome (status, duration, output tail)
    #[command(after_help = help::after_help("run"))]
    Run(Box<RunArgs>),
    /// Post a test message, visible in the channel, and print HTTP status and latency (no
    /// retries)
    #[command(after_help = help::after_help("probe"))]
    Probe(ProbeArgs),
    /// Check secret, URL, proxy, DNS, TCP and TLS without posting anything
    #[command(after_help = help::after_help("doctor"))]
    Doctor(DoctorArgs),
    /// Re-deliver messages saved in the spool after failed deliveries
    #[command(after_help = help::after_help("flush"))]
    Flush(FlushArgs),
    /// List the named webhooks in the secrets directory: name, redacted target, and
    /// whether the file passes the rules
    #[command(after_help = help::after_help("webhooks"))]
    Webhooks(WebhooksArgs),
    /// Show what the spool holds, or remove items from it
    #[command(after_help = help::after_help("spool"))]
    Spool(SpoolArgs),
    /// Check the config file (routes, people, templates)
    #[command(after_help = help::after_help("config"))]
    Config(ConfigArgs),
    /// Print a shell completion script
    #[command(after_help = help::after_help("completions"))]
    Completions {
        /// The shell to generate completions for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// Whether the command was asked for `--output json`.
    fn json_output(&self) -> bool {
        let out = match self {
            Command::Send(a) => &a.common.output,
            Command::Build(a) => &a.common.output,
            Command::Run(a) => &a.common.output,
            Command::Probe(a) => &a.common.output,
            Command::Doctor(a) => &a.common.output,
            Command::Flush(a) => &a.output,
            Command::Webhooks(a) => &a.output,
            Command::Spool(a) => match &a.command {
                SpoolCommand::List(l) => &l.output,
                SpoolCommand::Drop(d) => &d.output,
            },
            Command::Completions { .. } | Command::Config(_) => return false,
        };
        out.output == OutputFormat::Json
    }

    /// Trust rule "paths that look like URLs": every path option (and its variable) that
    /// holds something shaped like a webhook URL is refused before anything is read or
    /// created, and without echoing it.
    pub(crate) fn refuse_urls_in_paths(&self) -> anyhow::Result<()> {
        use crate::secret::refuse_url_as_path as refuse;
        match self {
            Command::Send(a) => {
                if let Some(p) = &a.payload {
                    refuse(p.as_os_str(), "--payload")?;
                }
                if let Some(p) = &a.text_file {
                    refuse(p.as_os_str(), "--text-file")?;
                }
                a.common.refuse_urls_in_paths()
            }
            Command::Build(a) => {
                if let Some(p) = &a.event_file {
                    refuse(p.as_os_str(), "--event")?;
                }
                if let Some(p) = &a.events {
                    refuse(p.as_os_str(), "--events")?;
                }
                a.queue.refuse_urls_in_paths()?;
                a.store.refuse_urls_in_paths()?;
                a.gateway.refuse_urls_in_paths()?;
                a.common.refuse_urls_in_paths()
            }
            Command::Run(a) => a.common.refuse_urls_in_paths(),
            Command::Probe(a) => a.common.refuse_urls_in_paths(),
            Command::Doctor(a) => {
                a.queue.refuse_urls_in_paths()?;
                a.common.refuse_urls_in_paths()
            }
            Command::Flush(a) => {
                refuse_secrets_dir(a.secrets_dir.path())?;
                refuse_state_dir(a.state_dir.path())?;
                a.queue.refuse_urls_in_paths()?;
                a.store.refuse_urls_in_paths()?;
                a.delivery.refuse_urls_in_paths()
            }
            Command::Webhooks(a) => refuse_secrets_dir(a.secrets_dir.path()),
            Command::Spool(a) => match &a.command {
                SpoolCommand::List(l) => refuse_state_dir(l.state_dir.path()),
                SpoolCommand::Drop(d) => refuse_state_dir(d.state_dir.path()),
            },
            Command::Config(a) => {
                let ConfigCommand::Check(c) = &a.command;
                refuse_secrets_dir(c.secrets_dir.path())
            }
            Command::Completions { .. } => Ok(()),
        }
    }
}

pub fn command() -> clap::Command {
    own_help_flags(<Cli as clap::CommandFactory>::command())
}

/// Commands with `OutputArgs` bring their own -h/--help (see there), so clap's is off.
fn own_help_flags(mut cmd: clap::Command) -> clap::Command {
    if cmd.get_arguments().any(|a| a.get_id() == "help") {
        cmd = cmd.disable_help_flag(true);
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, own_help_flags);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        command().debug_assert();
    }
}
