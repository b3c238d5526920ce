//! What the commands share: where the webhook comes from, how it is delivered, where
//! state lives, how the outcome is printed, and the route and attachment flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse::{parse_color, parse_field, parse_prop, parse_timeout};

/// Largest `--max-payload-bytes`: far above any server's limit, and low enough that the
/// derived read limits (four times it) cannot overflow.
const MAX_PAYLOAD_LIMIT: u64 = 64 << 20;

pub(super) fn refuse_secrets_dir(dir: &Path) -> anyhow::Result<()> {
    crate::secret::refuse_url_as_path(dir.as_os_str(), "--secrets-dir (or MMNOTIFY_SECRETS_DIR)")
}

pub(super) fn refuse_state_dir(dir: Option<&Path>) -> anyhow::Result<()> {
    match dir {
        Some(dir) => crate::secret::refuse_url_as_path(
            dir.as_os_str(),
            "--state-dir (or MMNOTIFY_STATE_DIR)",
        ),
        None => Ok(()),
    }
}

/// What every command that posts shares: where the webhook URL comes from, how it is
/// delivered, where state lives and how the outcome is printed. A command that lacks a
/// part says so in its type: `probe` makes one attempt ([`NoRetries`]) and, like
/// `doctor`, keeps no state ([`NoState`]).
#[derive(Debug, Clone, Args)]
pub(crate) struct CommonArgs<R: Args = Retries, S: Args = StateArgs> {
    #[command(flatten)]
    pub webhook: WebhookArgs,
    #[command(flatten)]
    pub delivery: DeliveryArgs<R>,
    #[command(flatten)]
    pub state: S,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl<R: Args, S: Args + StateDir> CommonArgs<R, S> {
    /// Trust rule "paths that look like URLs", for the paths these options hold.
    pub(super) fn refuse_urls_in_paths(&self) -> anyhow::Result<()> {
        refuse_secrets_dir(self.webhook.secrets_dir.path())?;
        refuse_state_dir(self.state.state_dir())?;
        self.delivery.refuse_urls_in_paths()
    }
}

impl<R: Args> DeliveryArgs<R> {
    pub(super) fn refuse_urls_in_paths(&self) -> anyhow::Result<()> {
        use crate::secret::refuse_url_as_path as refuse;
        for (value, what) in [
            (&self.ca_file, "--ca-file (or MMNOTIFY_CA_FILE)"),
            (&self.client_cert, "--client-cert"),
            (&self.client_key, "--client-key"),
        ] {
            if let Some(p) = value {
                refuse(p.as_os_str(), what)?;
            }
        }
        if let Some(proxy) = &self.proxy {
            crate::secret::refuse_hook_in_proxy(proxy, "--proxy (or MMNOTIFY_PROXY)")?;
        }
        Ok(())
    }
}

/// Where the webhook URL comes from. First match wins: --webhook-file, --webhook,
/// then the MATTERMOST_WEBHOOK_URL environment variable.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Webhook")]
pub(crate) struct WebhookArgs {
    /// Secrets file holding the webhook URL
    #[arg(
        long,
        value_name = "PATH",
        env = "MMNOTIFY_WEBHOOK_FILE",
        hide_env_values = true
    )]
    pub webhook_file: Option<PathBuf>,

    /// Use NAME.url from the secrets directory
    #[arg(
        short,
        long,
        value_name = "NAME",
        env = "MMNOTIFY_WEBHOOK",
        hide_env_values = true
    )]
    pub webhook: Option<String>,

    #[command(flatten)]
    pub secrets_dir: SecretsDirArgs,
}

/// How one delivery is made: budget, retries, proxy and TLS.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Delivery")]
pub(crate) struct DeliveryArgs<R: Args = Retries> {
    /// Budget of one delivery, retries included
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Longest wait of a single attempt
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    pub attempt_timeout: Duration,

    #[command(flatten)]
    pub retry: R,

    /// Proxy for mmnotify alone, or `none`
    #[arg(
        long,
        value_name = "URL",
        env = "MMNOTIFY_PROXY",
        hide_env_values = true
    )]
    pub proxy: Option<String>,

    /// Extra trusted root certificates (PEM)
    #[arg(
        long,
        value_name = "PEM",
        env = "MMNOTIFY_CA_FILE",
        hide_env_values = true
    )]
    pub ca_file: Option<PathBuf>,

    /// Trust only the bundled roots and --ca-file, not the system store
    #[arg(long)]
    pub no_system_roots: bool,

    /// Client certificate chain (PEM) for mutual TLS
    #[arg(long, value_name = "PEM", requires = "client_key")]
    pub client_cert: Option<PathBuf>,

    /// Private key (PEM) matching --client-cert
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

/// How often a failed attempt is repeated.
pub(crate) trait RetryLimit: Args {
    fn retries(&self) -> u32;
}

#[derive(Debug, Clone, Args)]
pub(crate) struct Retries {
    /// Retries of network errors, 408, 429, 502, 503, 504
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
}

impl RetryLimit for Retries {
    fn retries(&self) -> u32 {
        self.retries
    }
}

/// No `--retries` flag: the command makes one attempt.
#[derive(Debug, Clone, Args)]
pub(crate) struct NoRetries {}

impl RetryLimit for NoRetries {
    fn retries(&self) -> u32 {
        0
    }
}

/// The state directory a command's options name, if any.
pub(crate) trait StateDir {
    fn state_dir(&self) -> Option<&Path>;
}

/// Where mmnotify keeps its spool and deduplication state.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "State")]
pub(crate) struct StateArgs {
    #[command(flatten)]
    pub state_dir: StateDirArgs,

    /// Do not save undelivered messages in the spool
    #[arg(long)]
    pub no_spool: bool,
}

impl StateDir for StateArgs {
    fn state_dir(&self) -> Option<&Path> {
        self.state_dir.path()
    }
}

/// `--secrets-dir`, declared once for every command that resolves webhook names.
#[derive(Debug, Clone, Args)]
pub(crate) struct SecretsDirArgs {
    /// Directory of NAME.url files
    #[arg(
        long,
        value_name = "DIR",
        env = "MMNOTIFY_SECRETS_DIR",
        hide_env_values = true,
        default_value = "/etc/openclaw/secrets.d/mattermost"
    )]
    pub secrets_dir: PathBuf,
}

impl SecretsDirArgs {
    pub(crate) fn path(&self) -> &Path {
        &self.secrets_dir
    }
}

/// `--state-dir`, declared once for every command that reads or writes state.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct StateDirArgs {
    /// State dir [default: $XDG_STATE_HOME/mmnotify]
    #[arg(
        long,
        value_name = "DIR",
        env = "MMNOTIFY_STATE_DIR",
        hide_env_values = true
    )]
    pub state_dir: Option<PathBuf>,
}

impl StateDirArgs {
    pub(crate) fn path(&self) -> Option<&Path> {
        self.state_dir.as_deref()
    }
}

/// No state options: the command neither spools nor deduplicates.
#[derive(Debug, Clone, Args)]
pub(crate) struct NoState {}

impl StateDir for NoState {
    fn state_dir(&self) -> Option<&Path> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    // Plain comments, not doc comments: clap would show them under every command's
    // --help, and which one prints what on stdout differs by command (see --output).
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub(crate) struct OutputArgs {
    /// Outcome format
    #[arg(short, long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub output: OutputFormat,

    /// Print target (redacted), status, attempts and time on stderr
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Silence warnings
    #[arg(short, long)]
    pub quiet: bool,

    /// Print help
    // Declared here, under "Output", instead of clap's own flag: a lone "Options:"
    // block for -h would cost three lines of a help page that must fit one screen.
    #[arg(short, long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

/// Where the post goes and who it appears to come from.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Post")]
pub(crate) struct RouteArgs {
    /// Channel (`name`) or direct message (`@user`) to post to
    #[arg(long, value_name = "CHANNEL")]
    pub channel: Option<String>,

    /// Display name; ignored unless the admin enabled overrides
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,

    /// Avatar URL; ignored unless the server enabled icon overrides
    #[arg(long, value_name = "URL")]
    pub icon_url: Option<String>,

    /// Avatar emoji (`:rocket:`); ignored unless overrides are enabled
    #[arg(long, value_name = "EMOJI")]
    pub icon_emoji: Option<String>,

    /// Post priority label
    #[arg(long, value_enum)]
    pub priority: Option<Priority>,

    /// Ask recipients to acknowledge the post
    #[arg(long)]
    pub requested_ack: bool,

    /// Post in this thread (the root post's id); older servers ignore it
    #[arg(long, value_name = "POST_ID", value_parser = super::parse::parse_post_id)]
    pub root_id: Option<String>,
}

/// What a post carries besides its text and attachments, and the body limit it is
/// checked against: shared by `send` and `run` (whose report is a post like any other).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Post")]
pub(crate) struct PropsArgs {
    /// Set props.card: Markdown shown in the post's info panel
    #[arg(long, value_name = "TEXT")]
    pub card: Option<String>,

    /// Set props.KEY to a JSON value (repeatable)
    #[arg(long, value_name = "KEY=JSON", value_parser = parse_prop)]
    pub prop: Vec<(String, String)>,

    /// Largest JSON body in bytes (server default)
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 300_000,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_PAYLOAD_LIMIT)
    )]
    pub max_payload_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Priority {
    Urgent,
    Important,
}

impl Priority {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::Important => "important",
        }
    }
}

/// One attachment built from flags.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Attachment")]
pub(crate) struct AttachmentArgs {
    /// Colour of the attachment's side bar in Mattermost: good, warning, danger or
    /// #RRGGBB (it colours the attachment, not the terminal)
    #[arg(long, value_name = "COLOR", value_parser = parse_color)]
    pub color: Option<String>,

    /// Attachment title
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,

    /// Link opened by the title
    #[arg(long, value_name = "URL")]
    pub title_link: Option<String>,

    /// Text shown above the attachment
    #[arg(long, value_name = "TEXT")]
    pub pretext: Option<String>,

    /// Attachment body (Markdown)
    #[arg(long, value_name = "TEXT")]
    pub attachment_text: Option<String>,

    /// A field shown as a table row (repeatable)
    #[arg(long, value_name = "TITLE=VALUE", value_parser = parse_field)]
    pub field: Vec<(String, String)>,

    /// A short field, shown side by side with others (repeatable)
    #[arg(long, value_name = "TITLE=VALUE", value_parser = parse_field)]
    pub field_short: Vec<(String, String)>,

    /// Small text at the bottom of the attachment
    #[arg(long, value_name = "TEXT")]
    pub footer: Option<String>,

    /// Image shown in the attachment
    #[arg(long, value_name = "URL")]
    pub image_url: Option<String>,

    /// Thumbnail shown on the right of the attachment
    #[arg(long, value_name = "URL")]
    pub thumb_url: Option<String>,
}

impl AttachmentArgs {
    pub(crate) fn is_empty(&self) -> bool {
        self.color.is_none()
            && self.title.is_none()
            && self.title_link.is_none()
            && self.pretext.is_none()
            && self.attachment_text.is_none()
            && self.field.is_empty()
            && self.field_short.is_empty()
            && self.footer.is_none()
            && self.image_url.is_none()
            && self.thumb_url.is_none()
    }
}
