//! `run`: the supervised command and when its outcome is posted.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse::parse_runtime;
use super::{AttachmentArgs, CommonArgs, PropsArgs, RouteArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RunOutcome {
    Success,
    Failure,
    Timeout,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    /// Task name in the report [default: the command line]
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,

    /// Link to the full log, shown in the report
    #[arg(long, value_name = "URL")]
    pub log_url: Option<String>,

    /// Output lines kept for the report (stdout and stderr together)
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub tail: usize,

    /// Stop the command after this long: SIGTERM, then SIGKILL after --kill-grace
    #[arg(long, value_name = "DURATION", value_parser = parse_runtime)]
    pub max_runtime: Option<Duration>,

    /// Time between SIGTERM and SIGKILL when --max-runtime is reached
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_runtime)]
    pub kill_grace: Duration,

    /// Post only for these outcomes (comma-separated)
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "OUTCOMES",
        default_value = "success,failure,timeout"
    )]
    pub on: Vec<RunOutcome>,

    /// Exit with the notifier's code when the report could not be posted
    #[arg(long)]
    pub strict: bool,

    /// Print the report, send nothing; checks a given webhook offline
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Do not offer the job MMNOTIFY_RUN_SOCKET, through which `mmnotify send` and `build`
    /// inside it post without the token
    #[arg(long)]
    pub no_run_socket: bool,

    #[command(flatten)]
    pub route: RouteArgs,
    #[command(flatten)]
    pub props: PropsArgs,
    /// Added to the report's attachment; `--color` replaces the outcome's colour.
    #[command(flatten)]
    pub attachment: AttachmentArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub rate: super::RateArgs,

    /// The command to run and its arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}
