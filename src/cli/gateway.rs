//! Where a gateway's queue and dedupe store live, and how a gateway consumes.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::{parse_lease, parse_rate, parse_stream_name, parse_timeout, RateValue};

/// Where the event queue is: a Redis stream shared by builders and gateways.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Redundant gateways")]
pub(crate) struct QueueArgs {
    /// Secrets file holding the queue's Redis URL
    #[arg(
        long,
        value_name = "PATH",
        env = "MMNOTIFY_QUEUE_FILE",
        hide_env_values = true
    )]
    pub queue_file: Option<PathBuf>,

    /// Queue's Redis URL; a password goes in --queue-file or MMNOTIFY_QUEUE
    #[arg(long, value_name = "URL")]
    pub queue: Option<String>,

    /// Redis stream that carries the events
    #[arg(long, value_name = "NAME", default_value = "mmnotify:events", value_parser = parse_stream_name)]
    pub stream: String,

    /// Redis replicas that must confirm each write (WAIT) [default: 1 with a Sentinel URL, else 0]
    #[arg(long, value_name = "N")]
    pub replicas: Option<u32>,
}

impl QueueArgs {
    /// Trust rule "paths that look like URLs", for `--queue-file`: a webhook URL is
    /// refused before anything is read (a Redis URL gets the queue's own message when the
    /// queue is resolved).
    pub(super) fn refuse_urls_in_paths(&self) -> anyhow::Result<()> {
        refuse_hook_url(
            self.queue_file.as_ref(),
            "--queue-file (or MMNOTIFY_QUEUE_FILE)",
        )
    }
}

impl StoreArgs {
    /// Trust rule "paths that look like URLs", for `--dedupe-store-file` (as
    /// `--queue-file`).
    pub(super) fn refuse_urls_in_paths(&self) -> anyhow::Result<()> {
        refuse_hook_url(
            self.dedupe_store_file.as_ref(),
            "--dedupe-store-file (or MMNOTIFY_DEDUPE_STORE_FILE)",
        )
    }
}

impl GatewayArgs {
    /// Trust rule "paths that look like URLs", for `--metrics-file`: a file named after
    /// the webhook URL would write its token to disk.
    pub(super) fn refuse_urls_in_paths(&self) -> anyhow::Result<()> {
        match &self.fleet.metrics_file {
            Some(p) => crate::secret::refuse_url_as_path(p.as_os_str(), "--metrics-file"),
            None => Ok(()),
        }
    }
}

fn refuse_hook_url(path: Option<&PathBuf>, what: &str) -> anyhow::Result<()> {
    match path {
        Some(p) if crate::secret::contains_hook_id(&p.to_string_lossy()) => {
            crate::secret::refuse_url_as_path(p.as_os_str(), what)
        }
        _ => Ok(()),
    }
}

/// Where the shared dedupe store is, when it is Redis rather than the state directory.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Deduplication")]
pub(crate) struct StoreArgs {
    /// Secrets file: a shared store's Redis URL
    #[arg(
        long,
        value_name = "PATH",
        env = "MMNOTIFY_DEDUPE_STORE_FILE",
        hide_env = true,
        hide_env_values = true
    )]
    pub dedupe_store_file: Option<PathBuf>,

    /// Shared dedupe store's Redis URL, without a password
    #[arg(long, value_name = "URL")]
    pub dedupe_store: Option<String>,
}

/// The two ends of the queue: builders enqueue, gateways consume.
///
/// Shown under their own headings; the README's "Redundant gateways" section explains them.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Event")]
pub(crate) struct GatewayArgs {
    /// Put the event on the Redis queue instead of posting it
    #[arg(long, conflicts_with_all = ["consume", "events", "dry_run"])]
    pub enqueue: bool,

    /// Gateway: post the Redis queue's events until SIGTERM; SIGHUP reads the webhook or bot
    /// file and the config again
    #[arg(long, conflicts_with_all = ["events", "event_file", "dry_run"])]
    pub consume: bool,

    /// Consumer group (made when missing)
    #[arg(long, value_name = "NAME", default_value = "mmnotify")]
    pub group: String,

    /// This gateway's name in the group [default: HOST-PID]
    #[arg(long, value_name = "NAME")]
    pub consumer: Option<String>,

    /// Take over entries left unacknowledged this long
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub claim_idle: Duration,

    /// Tries of one entry before it goes to <stream>:dead
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_deliveries: u32,

    /// With --consume: stop when nothing is left to take
    #[arg(long, requires = "consume")]
    pub drain: bool,

    /// With --consume: log the counts so far this often (and at exit)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_timeout)]
    pub summary_every: Duration,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// A gateway among others: who owns the webhook, and what it reports.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Event")]
pub(crate) struct FleetArgs {
    /// With --consume: only the holder of the group's lease consumes; others stand by
    #[arg(long, requires = "consume")]
    pub exclusive: bool,

    /// With --exclusive: how long the lease lasts unless renewed
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_lease)]
    pub lease: Duration,

    /// With --consume: keep this Prometheus textfile (node_exporter) up to date
    #[arg(long, value_name = "PATH", requires = "consume")]
    pub metrics_file: Option<PathBuf>,
}

/// One rate limit per webhook: for every process sharing a Redis store, else this one.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Delivery")]
pub(crate) struct RateArgs {
    /// Cap on posts per webhook, N/s or N/min (shared through a Redis store)
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate_limit: Option<RateValue>,

    /// Posts allowed at once under --rate-limit [default: N]
    #[arg(long, value_name = "M", requires = "rate_limit", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: Option<u32>,
}
