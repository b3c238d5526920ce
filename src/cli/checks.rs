//! `probe` and `doctor`: the commands that test a webhook.

use clap::Args;

use super::{CommonArgs, NoRetries, NoState, QueueArgs, Retries};

#[derive(Debug, Clone, Args)]
pub(crate) struct ProbeArgs {
    /// Probe text [default: "mmnotify probe from HOST"]
    #[arg(long, value_name = "TEXT")]
    pub text: Option<String>,

    #[command(flatten)]
    pub common: CommonArgs<NoRetries, NoState>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub common: CommonArgs<Retries, NoState>,
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Consumer group whose consumers and pending entries to check (with a queue)
    #[arg(
        long,
        value_name = "NAME",
        default_value = "mmnotify",
        help_heading = "Redundant gateways"
    )]
    pub group: String,
}
