//! `flush`, `spool` and `webhooks`: the commands that look after saved state.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::parse::parse_ttl;
use super::{help, DeliveryArgs, OutputArgs, QueueArgs, SecretsDirArgs, StateDirArgs, StoreArgs};

#[derive(Debug, Clone, Args)]
pub(crate) struct FlushArgs {
    #[command(flatten)]
    pub secrets_dir: SecretsDirArgs,

    #[command(flatten)]
    pub delivery: DeliveryArgs,
    #[command(flatten)]
    pub rate: super::RateArgs,

    /// Queue for spooled `build --enqueue` events saved from `--queue URL`
    #[command(flatten)]
    pub queue: QueueArgs,
    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub state_dir: StateDirArgs,

    /// Move items first tried longer ago than this (e.g. 2d) to spool/rejected/ with the
    /// reason `expired` instead of posting them
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    pub max_age: Option<Duration>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct SpoolArgs {
    #[command(subcommand)]
    pub command: SpoolCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum SpoolCommand {
    /// One line per spooled message: id, kind, age, attempts, last error, source
    #[command(after_help = help::after_help("spool list"))]
    List(SpoolListArgs),
    /// Remove spooled messages by id (as `spool list` shows them), or all of them
    #[command(after_help = help::after_help("spool drop"))]
    Drop(SpoolDropArgs),
}

#[derive(Debug, Clone, Args)]
pub(crate) struct SpoolListArgs {
    /// List spool/rejected/ instead, with the reason each item was set aside
    #[arg(long)]
    pub rejected: bool,

    #[command(flatten)]
    pub state_dir: StateDirArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct SpoolDropArgs {
    /// Ids of the items to remove
    #[arg(value_name = "ID", required_unless_present = "all")]
    pub ids: Vec<String>,

    /// Remove every item
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,

    /// Act on spool/rejected/ instead
    #[arg(long)]
    pub rejected: bool,

    #[command(flatten)]
    pub state_dir: StateDirArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct WebhooksArgs {
    #[command(flatten)]
    pub secrets_dir: SecretsDirArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}
