//! `send`: one message from flags, a text file or a payload file.

use std::path::PathBuf;

use clap::Args;

use super::parse::{parse_code_lang, parse_prop};
use super::{AttachmentArgs, CommonArgs, RouteArgs};

/// Largest `--max-payload-bytes`: far above any server's limit, and low enough that the
/// derived read limits (four times it) cannot overflow.
const MAX_PAYLOAD_LIMIT: u64 = 64 << 20;

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

    /// Set props.card: Markdown shown in the post's info panel
    #[arg(long, value_name = "TEXT", help_heading = "Post")]
    pub card: Option<String>,

    /// Set props.KEY to a JSON value (repeatable)
    #[arg(long, value_name = "KEY=JSON", value_parser = parse_prop, help_heading = "Post")]
    pub prop: Vec<(String, String)>,

    /// Send text over 16383 characters whole, as several posts, not cut
    #[arg(long, help_heading = "Post")]
    pub split: bool,

    /// Largest JSON body in bytes (server default)
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 300_000,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_PAYLOAD_LIMIT),
        help_heading = "Post"
    )]
    pub max_payload_bytes: usize,

    /// Print the payload, send nothing; checks a given webhook offline
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub route: RouteArgs,
    #[command(flatten)]
    pub attachment: AttachmentArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub rate: super::RateArgs,
}
