//! `send`: one message from flags, a text file or a payload file.

use std::path::PathBuf;

use clap::Args;

use super::parse::parse_code_lang;
use super::{AttachmentArgs, CommonArgs, PropsArgs, RouteArgs};

#[derive(Debug, Clone, Args)]
pub(crate) struct SendArgs {
    /// Message text (Markdown), words joined by a space; read from stdin when omitted
    #[arg(value_name = "TEXT")]
    pub text: Vec<String>,

    /// Webhook JSON object from FILE (`-` = stdin); flags override its fields
    #[arg(long, value_name = "FILE")]
    pub payload: Option<PathBuf>,

    /// Read the message text from FILE (UTF-8) instead of arguments
    #[arg(long, value_name = "FILE", conflicts_with = "text")]
    pub text_file: Option<PathBuf>,

    /// Wrap the text in a code block (columns kept), LANG highlights it
    #[arg(
        long,
        value_name = "LANG",
        num_args = 0..=1,
        default_missing_value = "",
        value_parser = parse_code_lang,
        help_heading = "Post"
    )]
    pub code: Option<String>,

    /// Send text over 16383 characters whole, as several posts, not cut
    #[arg(long, help_heading = "Post")]
    pub split: bool,

    /// Print the payload, send nothing; checks a given webhook offline
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    // After --dry-run: a flattened group's heading carries over to the flags after it.
    #[command(flatten)]
    pub props: PropsArgs,
    #[command(flatten)]
    pub route: RouteArgs,
    #[command(flatten)]
    pub attachment: AttachmentArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub rate: super::RateArgs,
}
