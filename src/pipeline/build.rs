//! One build event's path: filter (`--on`) → render → dedupe claim → deliver → spool or
//! record → outcome, for a single event, each line of `--events` (read here too) and
//! each entry the gateway's consumer hands over.

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::num::NonZeroU32;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::build_event::event::{BuildEvent, State, ValidEvent};
use crate::config::Config;
use crate::error::{self, ExitKind};
use crate::gateway::queue::Queue;
use crate::gateway::store::SharedStore;
use crate::pipeline::notify::{self, Notifier, SpoolPlan};
use crate::pipeline::output::{
    print_stderr_line, print_stdout_line, Handled, Outcome, Printer, Status,
};
use crate::pipeline::pace::{Pace, Pacing};
use crate::pipeline::progress::{self, Progress};
use crate::pipeline::story::{self, Story};
use crate::pipeline::{dry_run, run_socket};
use crate::secret::Sources;
use crate::state::dedupe::{self, Claim, ClaimGuard, DedupeStore};
use crate::state::spool::SpoolKind;
use crate::story::history::{RunNote, Transition};
use crate::story::mention::Username;
use crate::story::on::OnFilter;
use crate::wire::deliver;
use crate::wire::payload::Route;
use crate::{build_event::build_message, state::statedir, wire::payload};

/// An event line longer than this is refused: events are a few hundred bytes.
pub(crate) const MAX_EVENT_BYTES: usize = 1 << 20;
const MAX_PAYLOAD_BYTES: usize = 300_000;

/// What `build` was asked to do, as plain values: made once from the flags by
/// `commands::build`, read by every event.
#[derive(Clone)]
pub(crate) struct Settings {
    /// The event fields given as flags, which fill in every event.
    pub event: BuildEvent,
    pub text_template: Option<String>,
    pub route: Route,
    /// Only events whose state or transition this lists are posted (all when `None`).
    pub on: Option<OnFilter>,
    /// `--remind-every N`: a `still_failing` event passes only every N failures.
    pub remind_every: Option<NonZeroU32>,
    /// `--history-ttl`: jobs silent for longer are forgotten.
    pub history_ttl: Duration,
    /// `--mention-on`: beats the config's `mention_on`.
    pub mention_on: Option<OnFilter>,
    /// `--mention USER`: added to the mentions of an event that passes the gate.
    pub mention: Vec<Username>,
    /// The config file, when one was found; shared by the routes' settings (each a clone).
    pub config: Option<std::sync::Arc<Config>>,
    pub dry_run: bool,
    pub no_dedupe: bool,
    pub dedupe_ttl: Duration,
    pub webhook: Sources,
    /// The bot account (issue 18), when one is given: one post per run.
    pub bot: crate::secret::BotSources,
    pub delivery: deliver::Settings,
    /// `--state-dir` (`None`: the default) and `--no-spool`.
    pub state_dir: Option<PathBuf>,
    pub no_spool: bool,
    pub output: Printer,
    pub store: SharedStore,
    pub queue: Queue,
    /// `--rate-limit` with `--rate-burst`.
    pub rate: Option<crate::gateway::ratelimit::Rate>,
}

/// The settings a context reads: the command's, borrowed, or its own (a route's, or a
/// gateway's after a SIGHUP reload), held so that replacing them frees the old ones.
/// Cloning is cheap: `let args = ctx.args.clone();` leaves `ctx` free to change.
#[derive(Clone)]
pub(crate) enum Args<'a> {
    Borrowed(&'a Settings),
    Owned(std::sync::Arc<Settings>),
}

impl std::ops::Deref for Args<'_> {
    type Target = Settings;
    fn deref(&self) -> &Settings {
        match self {
            Args::Borrowed(s) => s,
            Args::Owned(s) => s,
        }
    }
}

/// What handling events needs, shared by single events, `--events` and `--consume`.
pub(crate) struct Ctx<'a> {
    pub args: Args<'a>,
    pub printer: Printer,
    /// Connected on first use: a dry run or a filtered event needs no secret.
    notifier: Option<Notifier>,
    pub dedupe: Store,
    /// How the dedupe store is opened on first use: the command's choice (the shared
    /// Redis store when one is given, else the file store in the state directory).
    open_store: OpenStore,
    /// A dry run's webhook check, made once at the first event that would be posted (as
    /// a real run connects): the webhook, if one was given.
    dry_target: Option<Option<crate::secret::WebhookUrl>>,
    /// The shared store's source (`file:PATH`, `env`), recorded with spooled items.
    pub store_ref: Option<String>,
    /// Off in `--consume`: there the stream is the spool.
    pub spool: bool,
    /// On in `--consume` for an entry's delivery that another may follow (below
    /// --max-deliveries): an event that fails is delivered again, with its story, while
    /// its entry stays pending, so a step a retry can finish (a broken job's post marked
    /// fixed) fails the event rather than being only warned about.
    pub redelivers: bool,
    /// How posts are paced (`--consume` shares the budget through its queue).
    pub pacing: Pacing,
    /// The pace in effect once the notifier is connected.
    pub pace: Option<std::sync::Arc<Pace>>,
    /// What the paces replaced by a reload had waited.
    waited_before: Duration,
    /// The bot, its client and channel, connected on first use (issue 18).
    pub bot: Option<crate::pipeline::bot::BotConn>,
    /// The config's routes, when they decide where events go (no webhook on the command
    /// line): each event goes through the contexts of the routes it matches.
    pub routing: Option<Box<super::routes::Routing>>,
    /// Off in a route's context: the routed event is recorded once, by the top context.
    pub(super) records_history: bool,
}

/// Opens the dedupe store and says where it is (`Some`: the shared store's source,
/// recorded with spooled items).
pub(crate) type OpenStore = fn(&Settings, &Printer) -> Result<(Store, Option<String>)>;

/// The dedupe store, opened on first use; `--consume` sets its Redis store up front.
pub(crate) enum Store {
    NotOpened,
    /// Shared with the routes' contexts, which deduplicate and record in the same store.
    Open(std::sync::Arc<dyn DedupeStore>),
    /// The local store cannot be written (read-only or full file system): posts go out
    /// without deduplication; the warning was given once.
    Unusable,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(args: &'a Settings, open_store: OpenStore) -> Result<Ctx<'a>> {
        Ctx::with_args(Args::Borrowed(args), open_store)
    }

    fn with_args(args: Args<'a>, open_store: OpenStore) -> Result<Ctx<'a>> {
        if let Some(t) = &args.text_template {
            // The config's check: it knows the story's placeholders too, and its error
            // lists them all.
            crate::config::template::check(t)
                .map_err(|why| error::input(format!("--text-template: {why}")))?;
        }
        Ok(Ctx {
            printer: args.output,
            notifier: None,
            dedupe: Store::NotOpened,
            open_store,
            dry_target: None,
            store_ref: None,
            spool: !args.no_spool,
            redelivers: false,
            pacing: Pacing {
                rate: args.rate,
                // Resolved when the first post is made: a dry run needs no store.
                shared: None,
                max_wait: Some(args.delivery.timeout),
                stop: None,
            },
            pace: None,
            waited_before: Duration::ZERO,
            bot: None,
            routing: None,
            records_history: true,
            args,
        })
    }

    /// Opens the dedupe store on first use (the command's choice).
    pub(crate) fn open_dedupe(&mut self) -> Result<()> {
        if matches!(self.dedupe, Store::NotOpened) {
            let (store, store_ref) = (self.open_store)(&self.args, &self.printer)?;
            self.dedupe = store;
            self.store_ref = store_ref;
        }
        Ok(())
    }
}

impl Ctx<'static> {
    /// A context with settings of its own (a route's).
    pub(crate) fn owned(args: Settings, open_store: OpenStore) -> Result<Ctx<'static>> {
        Ctx::with_args(Args::Owned(std::sync::Arc::new(args)), open_store)
    }
}

/// The shared dedupe store's URL, when one is given: the rate budget is shared there.
pub(crate) fn shared_store_url(args: &Settings) -> Result<Option<crate::gateway::url::RedisUrl>> {
    use crate::gateway::url::{RedisSources, Role};
    let sources = RedisSources::new(
        Role::Store,
        args.store.dedupe_store_file.clone(),
        args.store.dedupe_store.clone(),
    );
    Ok(sources.resolve(Role::Store)?.map(|(url, _)| url))
}

impl Ctx<'_> {
    /// Resolves the webhook again (SIGHUP after the file was swapped) and posts through
    /// the new one from the next event on. On error the old notifier stays. Returns the
    /// new webhook, redacted.
    pub(crate) fn reload_webhook(&mut self) -> Result<String> {
        let args = self.args.clone();
        let args: &Settings = &args;
        let mut notifier = Notifier::connect(&args.webhook, &args.delivery, self.printer)?;
        let pace = notifier.pace(&self.pacing, &args.delivery)?;
        let webhook = notifier.url.redacted();
        if let Some(old) = self.pace.take() {
            self.waited_before += old.waited();
        }
        self.pace = pace;
        self.notifier = Some(notifier);
        Ok(webhook)
    }

    /// Swaps in a config read again (SIGHUP): its templates, people and `mention_on` from
    /// the next event on, and, when `routed` (no webhook on the command line), its routes
    /// and `default_webhook`: the routing is made anew, each webhook it names read now
    /// (and not again before the next reload). On error nothing changes.
    pub(crate) fn swap_config(&mut self, config: Option<Config>, routed: bool) -> Result<()> {
        let mut settings = (*self.args).clone();
        settings.config = config.map(std::sync::Arc::new);
        let mut routing = match settings.config.as_ref().filter(|_| routed) {
            Some(c) if !c.routes.is_empty() || c.default_webhook.is_some() => Some(Box::new(
                super::routes::setup(&settings, c, self.open_store)?,
            )),
            _ => None,
        };
        // Every webhook the new routing posts through must be readable now: one that is
        // not would stop the gateway (exit 3) at its first event. So must the usual one
        // when a config without routes replaces one with them (otherwise it is the
        // webhook's own reload that reads it).
        match &mut routing {
            Some(routing) => routing.connect(self)?,
            None if self.routing.is_some() && !settings.bot.is_given() => {
                settings.webhook.resolve()?;
            }
            None => {}
        }
        self.args = Args::Owned(std::sync::Arc::new(settings));
        if let Some(old) = std::mem::replace(&mut self.routing, routing) {
            self.waited_before += old.rate_limited();
        }
        Ok(())
    }

    /// Reads the webhook and sets its pace up, unless done already: at the first post, or
    /// up front in a gateway, which must not read the file again at some later event (a
    /// file gone by then would stop it, exit 3, in the middle of its queue).
    pub(crate) fn connect_webhook(&mut self) -> Result<()> {
        if self.notifier.is_none() {
            let args = self.args.clone();
            let mut notifier = Notifier::connect(&args.webhook, &args.delivery, self.printer)?;
            if self.pacing.shared.is_none() {
                self.pacing.shared = shared_store_url(&args)?;
            }
            self.pace = notifier.pace(&self.pacing, &args.delivery)?;
            self.notifier = Some(notifier);
        }
        Ok(())
    }

    /// Time spent waiting for the rate budget or a 429 pause, across reloads.
    pub(crate) fn rate_limited(&self) -> Duration {
        let routes = self
            .routing
            .as_ref()
            .map_or(Duration::ZERO, |r| r.rate_limited());
        self.waited_before + routes + self.pace.as_ref().map_or(Duration::ZERO, |p| p.waited())
    }
}

pub(crate) fn with_default_node(mut ev: BuildEvent) -> BuildEvent {
    if ev.mesh_node_id.is_none() {
        ev.mesh_node_id = Some(statedir::hostname());
    }
    ev
}

/// The post for one event, checked as the server would (exit 4 when it would refuse it).
pub(crate) fn render(
    ctx: &Ctx,
    ev: &ValidEvent,
) -> Result<(serde_json::Map<String, Value>, Vec<u8>)> {
    render_story(ctx, ev, None)
}

/// [`render`], with the event's story (transition words and props) when it has one.
fn render_story(
    ctx: &Ctx,
    ev: &ValidEvent,
    story: Option<&Story>,
) -> Result<(serde_json::Map<String, Value>, Vec<u8>)> {
    render_for(ctx, ev, story, true)
}

/// [`render_story`], with the mentions or without them (a bot's post that is edited
/// later: an edit notifies no one, so they go in its replies).
pub(super) fn render_for(
    ctx: &Ctx,
    ev: &ValidEvent,
    story: Option<&Story>,
    mentions: bool,
) -> Result<(serde_json::Map<String, Value>, Vec<u8>)> {
    let args = ctx.args.clone();
    let args: &Settings = &args;
    let cc = story::cc_line(ev, story, args).filter(|_| mentions);
    let template = story::template(args, ev, story, cc.as_deref());
    let mut post = build_message::render(ev, template.as_deref())?;
    if template.is_some() {
        // `... on {branch} {mention}` with no one to mention must not end in a space.
        story::trim_text_end(&mut post);
    }
    if let Some(story) = story {
        story::apply(&mut post, story, template.is_none());
    }
    // A template places the mentions with {mention}; without it they end the text.
    let placed = args.text_template.as_deref().or_else(|| {
        args.config.as_ref().and_then(|c| {
            c.templates
                .pick(story.map(|s| s.step.transition), ev.state())
        })
    });
    if let Some(cc) = cc.filter(|_| !placed.is_some_and(|t| t.contains("{mention}"))) {
        story::append_cc(&mut post, &cc);
    }
    post.apply_route(&args.route);
    post.ensure_fallbacks();
    if post.truncate_text() {
        ctx.printer
            .warn("the build message was longer than one post and was cut");
    }
    let obj = post.to_object()?;
    let body = payload::validate(&obj, MAX_PAYLOAD_BYTES)?;
    Ok((obj, body))
}

/// Filters, renders, deduplicates and posts one event. `Err` is for problems that stop
/// everything (configuration); a failed delivery comes back as the outcome's error.
pub(crate) fn handle(ctx: &mut Ctx, ev: &ValidEvent) -> Result<Handled> {
    story::warn_without_run_id(&ctx.printer, &ctx.args, ev);
    if ctx.routing.is_some() {
        return super::routes::handle(ctx, ev);
    }
    let story = read_story(ctx, ev)?;
    let (outcome, err) = handle_story(ctx, ev, story.as_ref())?;
    Ok((story::mark(outcome, story.as_ref()), err))
}

/// Whether `--on` and `--remind-every` let the event through.
pub(super) fn passes(args: &Settings, ev: &ValidEvent, story: Option<&Story>) -> bool {
    // `running` is not an outcome: without a bot it is posted only when asked for.
    if ev.state() == State::Running && !args.bot.is_given() {
        return args
            .on
            .as_ref()
            .is_some_and(|on| on.passes(State::Running, None, 0, None));
    }
    let transition = story.map(|s| s.step.transition);
    let streak = story.map_or(0, |s| s.step.streak);
    match &args.on {
        Some(on) => on.passes(ev.state(), transition, streak, args.remind_every),
        None => match (transition, args.remind_every) {
            (Some(Transition::StillFailing), Some(n)) => streak % n.get() == 0,
            _ => true,
        },
    }
}

/// The job's story before this event, when there is one to tell: the event has a run id
/// (a history records each run once) and a dedupe store can be opened. A store that
/// cannot be read costs the story, not the post.
pub(super) fn read_story(ctx: &mut Ctx, ev: &ValidEvent) -> Result<Option<Story>> {
    // `running` is not an outcome: it never touches the job's history.
    if ev.provider_run_id.is_none() || ev.state() == State::Running {
        return Ok(None);
    }
    // Inside a `run` job the parent holds the store: it hands the record over.
    if let Some(socket) = run_socket::socket_for(&ctx.args.webhook) {
        return run_socket::read_story(&ctx.args, &ctx.printer, ev, &socket);
    }
    open_store(ctx)?;
    let Store::Open(store) = &ctx.dedupe else {
        return Ok(None);
    };
    match store.history(&story::job_of(ev).id()) {
        Ok(record) => Ok(Some(story::peek(
            record.as_deref(),
            ev,
            ctx.args.history_ttl,
        ))),
        Err(e) => {
            ctx.printer.warn(&format!(
                "cannot read the job's history, so the post says nothing of what changed: \
                 {e:#}"
            ));
            Ok(None)
        }
    }
}

/// Records the event in its job's history: its outcome is final (posted, filtered,
/// rejected by the server).
pub(super) fn record_story(ctx: &Ctx, ev: &ValidEvent, story: Option<&Story>) {
    if !ctx.records_history {
        return;
    }
    if let (Some(story), Some(socket)) = (story, run_socket::socket_for(&ctx.args.webhook)) {
        run_socket::record_story(&ctx.args, &ctx.printer, ev, story, &socket);
        return;
    }
    let (Some(story), Store::Open(dedupe)) = (story, &ctx.dedupe) else {
        return;
    };
    if let Some(note) = story::note(ev, story, ctx.args.history_ttl) {
        story::record(dedupe.as_ref(), &note, &ctx.printer, "");
    }
}

/// Opens the dedupe store on first use.
fn open_store(ctx: &mut Ctx) -> Result<()> {
    if matches!(ctx.dedupe, Store::NotOpened) {
        let (store, store_ref) = (ctx.open_store)(&ctx.args, &ctx.printer)?;
        ctx.dedupe = store;
        ctx.store_ref = store_ref;
    }
    Ok(())
}

pub(super) fn handle_story(
    ctx: &mut Ctx,
    ev: &ValidEvent,
    story: Option<&Story>,
) -> Result<Handled> {
    let args = ctx.args.clone();
    let args: &Settings = &args;
    if !passes(args, ev, story) {
        ctx.printer.info(&format!(
            "{} is not in --on (or not a --remind-every reminder): not posted",
            story.map_or(ev.state().as_str(), |s| s.step.transition.as_str())
        ));
        if !args.dry_run {
            record_story(ctx, ev, story);
        }
        return Ok((
            Outcome::new(Status::Filtered).with("event", ev.to_json()),
            None,
        ));
    }
    if args.bot.is_given() {
        // The run's post and its thread (issue 18), which records the job's history.
        return crate::pipeline::bot::handle(ctx, ev, story);
    }
    let (obj, body) = render_story(ctx, ev, story)?;
    if args.dry_run {
        return show_dry_run(ctx, ev, obj, &body);
    }
    let value = Value::Object(obj);
    if let Some(socket) = run_socket::socket_for(&args.webhook) {
        return post_through_run(ctx, ev, (&socket, story), value);
    }
    ctx.connect_webhook()?;
    // Refused before the dedupe claim: a shared store that is away would keep the event
    // in the spool, token and all, and a claim would mark a post that never goes out.
    dry_run::refuse_own_token(ctx.notifier.as_ref().map(|n| &n.url), &body)?;
    // A spooled post records its run when `flush` finally posts it (also when its store
    // could not be read now).
    let note = match story {
        Some(s) => story::note(ev, s, args.history_ttl),
        None => story::note_unread(ev, args.history_ttl),
    };
    let Claimed { guard, key_hex } = match deduplicate(ctx, ev, &value, note.clone())? {
        ControlFlow::Continue(claimed) => claimed,
        ControlFlow::Break(handled) => return Ok(handled),
    };
    let notifier = ctx.notifier.as_ref().expect("connected above");
    let plan = SpoolPlan {
        enabled: ctx.spool,
        store: ctx.store_ref.clone(),
        history: note,
        ..SpoolPlan::new(args.state_dir.clone(), args.no_spool, SpoolKind::Build)
    };
    let (outcome, err) = notifier.post(
        &value,
        &body,
        args.route.channel.as_deref(),
        &plan,
        key_hex.as_deref(),
    );
    // Taken over from a holder that may have posted it already: the outcome says so.
    let outcome = if guard.as_ref().is_some_and(ClaimGuard::interrupted) && err.is_none() {
        outcome.with("possible_duplicate", true)
    } else {
        outcome
    };
    if err.is_none() {
        if let Some(g) = guard {
            notify::record_delivered(&ctx.printer, "", g);
        }
    }
    // A spooled event is recorded when it is finally posted.
    if outcome.is_final() {
        record_story(ctx, ev, story);
    }
    Ok((outcome.with("event", ev.to_json()), err))
}

/// `--dry-run`: checks the webhook once, then shows the payload instead of posting it.
fn show_dry_run(
    ctx: &mut Ctx,
    ev: &ValidEvent,
    obj: serde_json::Map<String, Value>,
    body: &[u8],
) -> Result<Handled> {
    let args = ctx.args.clone();
    let args: &Settings = &args;
    if ctx.dry_target.is_none() {
        let url = dry_run::check_webhook(
            &args.webhook,
            &ctx.printer,
            run_socket::socket_for(&args.webhook).is_some(),
        )?;
        ctx.dry_target = Some(url);
    }
    let checked = ctx.dry_target.as_ref().and_then(Option::as_ref);
    dry_run::refuse_own_token(checked, body)?;
    let mut outcome = Outcome::new(Status::DryRun).with("event", ev.to_json());
    outcome.target = checked.map(crate::secret::WebhookUrl::redacted);
    let value = Value::Object(obj);
    if ctx.printer.json {
        // The caller prints the outcome; the payload travels inside it.
        return Ok((outcome.with("payload", value), None));
    }
    print_stdout_line(&value.to_string());
    Ok((outcome, None))
}

/// What deduplication lets through to the post: on success, the post is recorded
/// through the guard when the key was claimed.
#[derive(Default)]
struct Claimed {
    guard: Option<ClaimGuard>,
    /// The key, saved with the item if it goes to the spool.
    key_hex: Option<String>,
}

/// What deduplication decided for one event: go on and post ([`Claimed`]), or the event
/// was dealt with here ([`Handled`]: a duplicate, or kept while the shared store is away).
type Dedupe = ControlFlow<Handled, Claimed>;

/// Claims the event's key (webhook, run id, state) in the dedupe store, opened on first
/// use. Needs `ctx.notifier` connected: the key is made from the webhook URL.
fn deduplicate(
    ctx: &mut Ctx,
    ev: &ValidEvent,
    value: &Value,
    note: Option<RunNote>,
) -> Result<Dedupe> {
    let args = ctx.args.clone();
    let args: &Settings = &args;
    let no_claim = ControlFlow::Continue(Claimed::default());
    let run_id = match ev.provider_run_id.as_deref() {
        Some(_) if args.no_dedupe => return Ok(no_claim),
        Some(run_id) => run_id,
        None => {
            ctx.printer.warn(
                "the event has no provider_run_id: posting without deduplication (pass --run-id)",
            );
            return Ok(no_claim);
        }
    };
    open_store(ctx)?;
    let notifier = ctx.notifier.as_ref().expect("connected by the caller");
    let key = dedupe::key(notifier.url.expose(), run_id, ev.state().as_str());
    let key_hex = Some(key.as_str().to_string());
    let claim = match &ctx.dedupe {
        Store::Open(store) => store.claim(&key, notifier.deliverer.policy().budget),
        _ => {
            return Ok(ControlFlow::Continue(Claimed {
                guard: None,
                key_hex,
            }))
        }
    };
    match claim {
        // A shared store that cannot be reached: never post blind (another gateway may
        // be posting it). A bad password or URL stops everything.
        Err(e) if ctx.store_ref.is_some() => {
            if error::exit_kind(&e) != ExitKind::Network {
                return Err(e);
            }
            Ok(keep_for_shared_store(ctx, ev, value, (key_hex, note), &e))
        }
        Err(e) => {
            notify::warn_undeduplicated(&ctx.printer, "", &e);
            Ok(ControlFlow::Continue(Claimed {
                guard: None,
                key_hex,
            }))
        }
        Ok(Claim::Duplicate) => {
            ctx.printer.info(&format!(
                "run {run_id} {} was already posted: skipped",
                ev.state().as_str()
            ));
            let mut o = Outcome::new(Status::Duplicate).with("event", ev.to_json());
            o.target = Some(notifier.url.redacted());
            Ok(ControlFlow::Break((o, None)))
        }
        Ok(Claim::Acquired(g)) => {
            warn_taken_over(&ctx.printer, &g, run_id, ev);
            Ok(ControlFlow::Continue(Claimed {
                guard: Some(g),
                key_hex,
            }))
        }
    }
}

/// A claim acquired from another holder: why the message may appear twice.
fn warn_taken_over(printer: &Printer, g: &ClaimGuard, run_id: &str, ev: &ValidEvent) {
    if g.stolen() {
        printer.warn("another process has held this run's claim past its budget; posting anyway");
    }
    if g.interrupted() {
        printer.warn(&format!(
            "run {run_id} {}: taking over from a holder that started posting it and never \
             recorded how that ended (killed mid-post, or cut off from the dedupe store for \
             longer than the takeover allows): the message may appear twice",
            ev.state().as_str()
        ));
    }
}

/// The shared store is away: the event goes to the spool (when allowed) unposted, for
/// `flush` to claim and post once the store is back.
fn keep_for_shared_store(
    ctx: &Ctx,
    ev: &ValidEvent,
    value: &Value,
    (key_hex, note): (Option<String>, Option<RunNote>),
    e: &anyhow::Error,
) -> Dedupe {
    let message = format!(
        "{e:#}; not posted, since without the shared dedupe store another gateway may post \
         it too"
    );
    let plan = SpoolPlan {
        enabled: ctx.spool,
        store: ctx.store_ref.clone(),
        history: note,
        ..SpoolPlan::new(
            ctx.args.state_dir.clone(),
            ctx.args.no_spool,
            SpoolKind::Build,
        )
    };
    let notifier = ctx.notifier.as_ref().expect("connected by the caller");
    let (outcome, err) = notifier.keep(value, &plan, key_hex.as_deref(), &message);
    ControlFlow::Break((outcome.with("event", ev.to_json()), Some(err)))
}

/// Inside a `run` job: the parent posts and deduplicates (the key is made from the
/// webhook URL, which only the parent knows), in the shared store this command names,
/// else in its own shared store or state directory.
fn post_through_run(
    ctx: &Ctx,
    ev: &ValidEvent,
    (socket, story): (&std::path::Path, Option<&Story>),
    value: Value,
) -> Result<Handled> {
    let args = ctx.args.clone();
    let args: &Settings = &args;
    let dedupe = match ev.provider_run_id.as_deref() {
        Some(run_id) if !args.no_dedupe => {
            Some(run_socket::dedupe_request(args, run_id, ev.state())?)
        }
        Some(_) => None,
        None => {
            ctx.printer.warn(
                "the event has no provider_run_id: posting without deduplication (pass --run-id)",
            );
            None
        }
    };
    // The parent records the run in the job's history once the post is final.
    let note = match story {
        Some(s) => story::note(ev, s, args.history_ttl),
        None => story::note_unread(ev, args.history_ttl),
    };
    let request = run_socket::with_note(
        run_socket::request(
            "build",
            &args.webhook,
            &args.delivery,
            &value,
            !args.no_spool,
            dedupe,
        ),
        note.as_ref(),
    );
    let (outcome, err) =
        run_socket::post_via(socket, &request, args.delivery.timeout, &ctx.printer)?;
    // Without a claim the parent picks no store: the run is recorded apart.
    if let Some(note) = note.filter(|_| request.dedupe.is_none() && outcome.is_final()) {
        run_socket::record_note(args, &ctx.printer, &note, socket);
    }
    let outcome = outcome.with("event", ev.to_json());
    if outcome.status == Status::DryRun && !ctx.printer.json {
        print_stdout_line(&value.to_string());
    }
    Ok((outcome, err))
}

/// What became of one event of a stream (`--events` line or `--consume` entry). Not
/// [`Handled`] alone: an invalid event never reached the pipeline, so it has no outcome
/// of a post; a stream counts it apart (`Summary::invalid`) and the consumer sends it to
/// the dead stream without a retry.
pub(crate) enum Verdict {
    /// Not a valid event: skipped, with the reason.
    Invalid(String),
    /// Handled: the outcome, and the error when it was not posted.
    Done(Handled),
}

/// One event of a stream as text, handled like every other: parse, validate (flags fill
/// in), filter, deduplicate, post. `Err` only for what stops the whole stream.
pub(crate) fn handle_text(ctx: &mut Ctx, flags: &BuildEvent, text: &str) -> Result<Verdict> {
    let event = BuildEvent::from_json(text)
        .and_then(|ev| with_default_node(flags.clone().overlay(ev)).validate());
    let event = match event {
        Ok(ev) => ev,
        Err(e) => return Ok(Verdict::Invalid(format!("{e:#}"))),
    };
    match handle(ctx, &event) {
        Ok(handled) => Ok(Verdict::Done(handled)),
        // Configuration problems (no secret, bad CA) fail every event alike: stop.
        Err(e) if matches!(error::exit_kind(&e), ExitKind::Config | ExitKind::Internal) => Err(e),
        Err(e) => Ok(Verdict::Invalid(format!("{e:#}"))),
    }
}

/// The event fields given as flags, which fill in every event of a stream.
pub(crate) fn stream_flags(args: &Settings) -> BuildEvent {
    args.event.clone()
}

#[derive(Default)]
pub(crate) struct Summary {
    pub posted: usize,
    pub duplicate: usize,
    pub filtered: usize,
    pub failed: usize,
    pub invalid: usize,
    pub worst: Option<ExitKind>,
}

impl Summary {
    pub(crate) fn note_failure(&mut self, kind: ExitKind) {
        if self.worst.is_none_or(|w| kind.severity() > w.severity()) {
            self.worst = Some(kind);
        }
    }

    /// Counts a handled event's outcome.
    pub(crate) fn record(&mut self, outcome: &Outcome, err: Option<&anyhow::Error>) {
        match outcome.status {
            Status::Posted | Status::DryRun => self.posted += 1,
            Status::Duplicate => self.duplicate += 1,
            Status::Filtered => self.filtered += 1,
            _ => self.failed += 1,
        }
        if let Some(e) = err {
            self.note_failure(error::exit_kind(e));
        }
    }

    pub(crate) fn record_invalid(&mut self) {
        self.invalid += 1;
        self.note_failure(ExitKind::Input);
    }

    /// The summary line on stderr (`extra` is appended) and the exit code.
    pub(crate) fn finish(&self, ctx: &Ctx, extra: &str) -> Result<u8> {
        if !ctx.printer.quiet {
            print_stderr_line(&format!(
                "mmnotify: events: {} posted, {} duplicate, {} filtered, {} failed ({} invalid){}{}",
                self.posted,
                self.duplicate,
                self.filtered,
                self.failed + self.invalid,
                self.invalid,
                extra,
                if ctx.args.dry_run {
                    " [dry run: nothing was sent]"
                } else {
                    ""
                }
            ));
        }
        match self.worst {
            Some(kind) => Err(error::fail(
                kind,
                format!(
                    "{} of {} events were not posted",
                    self.failed + self.invalid,
                    self.posted + self.duplicate + self.filtered + self.failed + self.invalid
                ),
            )),
            None => Ok(0),
        }
    }
}

pub(crate) fn run_stream(ctx: &mut Ctx, path: &std::path::Path) -> Result<u8> {
    let mut total = None;
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        let open = || {
            std::fs::File::open(path).map_err(|e| {
                error::input(format!("cannot read events file {}: {e}", path.display()))
            })
        };
        let file = open()?;
        if progress::wanted(std::io::stderr().is_terminal(), &ctx.printer)
            && file.metadata().is_ok_and(|m| m.is_file())
        {
            total = Some(count_events(open()?));
        }
        Box::new(file)
    };
    let progress = Progress::start(&ctx.printer, total, "events");
    let mut reader = BufReader::new(reader);
    let flags = ctx.args.event.clone();
    let mut sum = Summary::default();
    let mut line_no = 0usize;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_EVENT_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| error::input(format!("reading events: {e}")))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        progress.inc();
        if buf.len() > MAX_EVENT_BYTES && buf.last() != Some(&b'\n') {
            skip_rest_of_line(&mut reader)?;
            invalid(
                ctx,
                &mut sum,
                line_no,
                &format!("longer than {MAX_EVENT_BYTES} bytes"),
            );
            continue;
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            invalid(ctx, &mut sum, line_no, "not valid UTF-8");
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        let (outcome, err) = match handle_text(ctx, &flags, text)? {
            Verdict::Invalid(why) => {
                invalid(ctx, &mut sum, line_no, &why);
                continue;
            }
            Verdict::Done(handled) => handled,
        };
        sum.record(&outcome, err.as_ref());
        let mut outcome = outcome.with("line", line_no);
        outcome.exit_code = Some(0);
        if let Some(e) = &err {
            let message = format!("{e:#}");
            print_stderr_line(&format!("mmnotify: line {line_no}: {message}"));
            outcome.exit_code = Some(error::exit_kind(e).code());
            outcome.message.get_or_insert(message);
        }
        ctx.printer.outcome(&outcome);
    }
    drop(progress);
    sum.finish(ctx, "")
}

fn invalid(ctx: &Ctx, sum: &mut Summary, line_no: usize, why: &str) {
    print_stderr_line(&format!(
        "mmnotify: line {line_no}: invalid event, skipped: {why}"
    ));
    sum.record_invalid();
    ctx.printer
        .outcome(&Outcome::failure(why, ExitKind::Input.code()).with("line", line_no));
}

/// The number of events in a file (its non-blank lines), for the progress bar's total.
fn count_events(file: std::fs::File) -> u64 {
    let mut n = 0;
    let mut blank = true;
    let mut reader = BufReader::new(file);
    while let Ok(buf) = reader.fill_buf() {
        if buf.is_empty() {
            break;
        }
        for &b in buf {
            if b == b'\n' {
                n += u64::from(!blank);
                blank = true;
            } else if !b.is_ascii_whitespace() {
                blank = false;
            }
        }
        let len = buf.len();
        reader.consume(len);
    }
    n + u64::from(!blank)
}

fn skip_rest_of_line(reader: &mut impl BufRead) -> Result<()> {
    loop {
        let buf = reader
            .fill_buf()
            .map_err(|e| error::input(format!("reading events: {e}")))?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            reader.consume(i + 1);
            return Ok(());
        }
        let n = buf.len();
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_non_blank_lines_as_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events");
        for (text, n) in [("", 0), ("a\n\n  \nb", 2), ("a\nb\n", 2), (" \t\n", 0)] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(
                count_events(std::fs::File::open(&path).unwrap()),
                n,
                "{text:?}"
            );
        }
    }
}
