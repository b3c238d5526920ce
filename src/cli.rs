//! The clap definition: every flag, its help text and what clap can check by itself.
//! Nothing here reads files or the environment beyond clap's own `env = …` fallbacks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::build_event::event::{BuildEvent, State};
use crate::text::time;

pub mod help;

/// Largest `--max-payload-bytes`: far above any server's limit, and low enough that the
/// derived read limits (four times it) cannot overflow.
const MAX_PAYLOAD_LIMIT: u64 = 64 << 20;

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
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Post one message (text, attachment, props)
    #[command(after_help = help::after_help("send"))]
    Send(SendArgs),
    /// Post one build-status message from normalized CI fields, deduplicated
    #[command(after_help = help::after_help("build"))]
    Build(BuildArgs),
    /// Run a command, then post its outcome (status, duration, output tail)
    #[command(after_help = help::after_help("run"))]
    Run(RunArgs),
    /// Post a minimal probe message and print HTTP status and latency (no retries)
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
    pub fn json_output(&self) -> bool {
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
            Command::Completions { .. } => return false,
        };
        out.output == OutputFormat::Json
    }

    /// Trust rule "paths that look like URLs": every path option (and its variable) that
    /// holds something shaped like a webhook URL is refused before anything is read or
    /// created, and without echoing it.
    pub fn refuse_urls_in_paths(&self) -> anyhow::Result<()> {
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
                a.common.refuse_urls_in_paths()
            }
            Command::Run(a) => a.common.refuse_urls_in_paths(),
            Command::Probe(a) => a.common.refuse_urls_in_paths(),
            Command::Doctor(a) => a.common.refuse_urls_in_paths(),
            Command::Flush(a) => {
                refuse_secrets_dir(&a.secrets_dir)?;
                refuse_state_dir(a.state_dir.as_deref())?;
                a.delivery.refuse_urls_in_paths()
            }
            Command::Webhooks(a) => refuse_secrets_dir(&a.secrets_dir),
            Command::Spool(a) => match &a.command {
                SpoolCommand::List(l) => refuse_state_dir(l.state_dir.as_deref()),
                SpoolCommand::Drop(d) => refuse_state_dir(d.state_dir.as_deref()),
            },
            Command::Completions { .. } => Ok(()),
        }
    }
}

fn refuse_secrets_dir(dir: &Path) -> anyhow::Result<()> {
    crate::secret::refuse_url_as_path(dir.as_os_str(), "--secrets-dir (or MMNOTIFY_SECRETS_DIR)")
}

fn refuse_state_dir(dir: Option<&Path>) -> anyhow::Result<()> {
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
pub struct CommonArgs<R: Args = Retries, S: Args = StateArgs> {
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
    fn refuse_urls_in_paths(&self) -> anyhow::Result<()> {
        refuse_secrets_dir(&self.webhook.secrets_dir)?;
        refuse_state_dir(self.state.state_dir())?;
        self.delivery.refuse_urls_in_paths()
    }
}

impl<R: Args> DeliveryArgs<R> {
    fn refuse_urls_in_paths(&self) -> anyhow::Result<()> {
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
pub struct WebhookArgs {
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

/// How one delivery is made: budget, retries, proxy and TLS.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Delivery")]
pub struct DeliveryArgs<R: Args = Retries> {
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
pub trait RetryLimit: Args {
    fn retries(&self) -> u32;
}

#[derive(Debug, Clone, Args)]
pub struct Retries {
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
pub struct NoRetries {}

impl RetryLimit for NoRetries {
    fn retries(&self) -> u32 {
        0
    }
}

/// The state directory a command's options name, if any.
pub trait StateDir {
    fn state_dir(&self) -> Option<&Path>;
}

/// Where mmnotify keeps its spool and deduplication state.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "State")]
pub struct StateArgs {
    /// State dir [default: $XDG_STATE_HOME/mmnotify]
    #[arg(
        long,
        value_name = "DIR",
        env = "MMNOTIFY_STATE_DIR",
        hide_env_values = true
    )]
    pub state_dir: Option<PathBuf>,

    /// Do not save undelivered messages in the spool
    #[arg(long)]
    pub no_spool: bool,
}

impl StateDir for StateArgs {
    fn state_dir(&self) -> Option<&Path> {
        self.state_dir.as_deref()
    }
}

/// No state options: the command neither spools nor deduplicates.
#[derive(Debug, Clone, Args)]
pub struct NoState {}

impl StateDir for NoState {
    fn state_dir(&self) -> Option<&Path> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    // Plain comments, not doc comments: clap would show them under every command's
    // --help, and which one prints what on stdout differs by command (see --output).
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
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
pub struct RouteArgs {
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Priority {
    Urgent,
    Important,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::Important => "important",
        }
    }
}

/// One attachment built from flags.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Attachment")]
pub struct AttachmentArgs {
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
    #[arg(long, value_name = "TITLE=VALUE", value_parser = parse_key_value)]
    pub field: Vec<(String, String)>,

    /// A short field, shown side by side with others (repeatable)
    #[arg(long, value_name = "TITLE=VALUE", value_parser = parse_key_value)]
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
    pub fn is_empty(&self) -> bool {
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

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
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
    #[arg(long, value_name = "KEY=JSON", value_parser = parse_key_value, help_heading = "Post")]
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
}

#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
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

/// Where the event queue is: a Redis stream shared by builders and gateways.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Redundant gateways")]
pub struct QueueArgs {
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
    #[arg(long, value_name = "NAME", default_value = "mmnotify:events")]
    pub stream: String,
}

/// Where the shared dedupe store is, when it is Redis rather than the state directory.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Deduplication")]
pub struct StoreArgs {
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
pub struct GatewayArgs {
    /// Put the event on the Redis queue instead of posting it
    #[arg(long, conflicts_with_all = ["consume", "events", "dry_run"])]
    pub enqueue: bool,

    /// Gateway: post the Redis queue's events until SIGTERM
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunOutcome {
    Success,
    Failure,
    Timeout,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
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
    pub common: CommonArgs,

    /// The command to run and its arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Probe text [default: "mmnotify probe from HOST"]
    #[arg(long, value_name = "TEXT")]
    pub text: Option<String>,

    #[command(flatten)]
    pub common: CommonArgs<NoRetries, NoState>,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
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

#[derive(Debug, Clone, Args)]
pub struct FlushArgs {
    /// Secrets directory used to resolve items saved with a webhook name
    #[arg(
        long,
        value_name = "DIR",
        env = "MMNOTIFY_SECRETS_DIR",
        hide_env_values = true,
        default_value = "/etc/openclaw/secrets.d/mattermost"
    )]
    pub secrets_dir: PathBuf,

    #[command(flatten)]
    pub delivery: DeliveryArgs,

    /// Queue for spooled `build --enqueue` events saved from `--queue URL`
    #[command(flatten)]
    pub queue: QueueArgs,
    #[command(flatten)]
    pub store: StoreArgs,

    /// State dir [default: $XDG_STATE_HOME/mmnotify]
    #[arg(
        long,
        value_name = "DIR",
        env = "MMNOTIFY_STATE_DIR",
        hide_env_values = true
    )]
    pub state_dir: Option<PathBuf>,

    /// Move items first tried longer ago than this (e.g. 2d) to spool/rejected/ with the
    /// reason `expired` instead of posting them
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    pub max_age: Option<Duration>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SpoolArgs {
    #[command(subcommand)]
    pub command: SpoolCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SpoolCommand {
    /// One line per spooled message: id, kind, age, attempts, source, last error
    #[command(after_help = help::after_help("spool list"))]
    List(SpoolListArgs),
    /// Remove spooled messages by id (as `spool list` shows them), or all of them
    #[command(after_help = help::after_help("spool drop"))]
    Drop(SpoolDropArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SpoolListArgs {
    /// List spool/rejected/ instead, with the reason each item was set aside
    #[arg(long)]
    pub rejected: bool,

    /// State dir [default: $XDG_STATE_HOME/mmnotify]
    #[arg(
        long,
        value_name = "DIR",
        env = "MMNOTIFY_STATE_DIR",
        hide_env_values = true
    )]
    pub state_dir: Option<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SpoolDropArgs {
    /// Ids of the items to remove
    #[arg(value_name = "ID", required_unless_present = "all")]
    pub ids: Vec<String>,

    /// Remove every item
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,

    /// Act on spool/rejected/ instead
    #[arg(long)]
    pub rejected: bool,

    /// State dir [default: $XDG_STATE_HOME/mmnotify]
    #[arg(
        long,
        value_name = "DIR",
        env = "MMNOTIFY_STATE_DIR",
        hide_env_values = true
    )]
    pub state_dir: Option<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct WebhooksArgs {
    /// Directory of NAME.url files
    #[arg(
        long,
        value_name = "DIR",
        env = "MMNOTIFY_SECRETS_DIR",
        hide_env_values = true,
        default_value = "/etc/openclaw/secrets.d/mattermost"
    )]
    pub secrets_dir: PathBuf,

    #[command(flatten)]
    pub output: OutputArgs,
}

const DAY: Duration = Duration::from_secs(86_400);

/// A delivery budget: zero would send nothing and still report a timeout.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    time::duration_in(Duration::from_millis(1), DAY)(s)
}

fn parse_runtime(s: &str) -> Result<Duration, String> {
    time::duration_in(Duration::ZERO, 365 * DAY)(s)
}

/// At least a second: a waiter must still see the delivery it waited for as recent.
fn parse_ttl(s: &str) -> Result<Duration, String> {
    time::duration_in(Duration::from_secs(1), 100 * 365 * DAY)(s)
}

fn parse_color(s: &str) -> Result<String, String> {
    let ok = matches!(s, "good" | "warning" | "danger")
        || (s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(s.to_string())
    } else {
        Err("expected good, warning, danger or #RRGGBB".into())
    }
}

fn parse_code_lang(s: &str) -> Result<String, String> {
    if crate::text::markdown::is_language_tag(s) {
        Ok(s.to_string())
    } else {
        Err(
            "not a language name (letters, digits, `+-_.#`); to wrap text that follows a \
             bare --code, put it after `--`: send --code -- TEXT"
                .to_string(),
        )
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err("expected KEY=VALUE".into()),
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

    #[test]
    fn durations_are_bounded() {
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert!(parse_timeout("0s").unwrap_err().contains("at least"));
        assert!(parse_timeout("300000000000years").is_err());
        assert!(parse_runtime("366days").unwrap_err().contains("at most"));
        assert_eq!(parse_runtime("0s"), Ok(Duration::ZERO));
        assert!(parse_ttl("7d").is_ok());
        assert!(parse_ttl("0s").is_err());
    }

    #[test]
    fn colors() {
        assert!(parse_color("good").is_ok());
        assert!(parse_color("#a0B1c2").is_ok());
        assert!(parse_color("#a0B1c").is_err());
        assert!(parse_color("red").is_err());
    }

    #[test]
    fn key_values_split_at_first_equals() {
        assert_eq!(
            parse_key_value("a=b=c").unwrap(),
            ("a".to_string(), "b=c".to_string())
        );
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("nokey").is_err());
    }
}
