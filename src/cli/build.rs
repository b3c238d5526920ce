//! `build`: the build-event fields, where events come from, and deduplication.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::parse_ttl;
use super::{CommonArgs, GatewayArgs, QueueArgs, RouteArgs, StoreArgs};
use crate::build_event::event::{BuildEvent, State};

#[derive(Debug, Clone, Args)]
pub(crate) struct BuildArgs {
    #[command(flatten)]
    pub event: BuildEvent,

    /// Read one event JSON object from FILE (`-` = stdin)
    #[arg(
        long = "event",
        value_name = "FILE",
        conflicts_with = "events",
        help_heading = "Event"
    )]
    pub event_file: Option<PathBuf>,

    /// Newline-delimited events from FILE (`-` = stdin), one post each
    #[arg(long, value_name = "FILE", help_heading = "Event")]
    pub events: Option<PathBuf>,

    /// Do not fill missing fields from the CI environment
    #[arg(long, help_heading = "Event")]
    pub no_env: bool,

    /// Post only for these states, as --state (others: `filtered`)
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "STATES",
        hide_possible_values = true
    )]
    pub on: Vec<State>,

    /// Text line with {field} placeholders, e.g. "{emoji} {workflow}"
    #[arg(long, value_name = "TEMPLATE")]
    pub text_template: Option<String>,

    /// Post even if this run and state were already posted
    #[arg(long, help_heading = "Deduplication")]
    pub no_dedupe: bool,

    /// How long a delivered run+state is remembered
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_ttl, help_heading = "Deduplication")]
    pub dedupe_ttl: Duration,

    /// Print the payload, send nothing; checks a given webhook offline
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub queue: QueueArgs,
    #[command(flatten)]
    pub route: RouteArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}
