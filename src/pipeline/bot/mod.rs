//! `build` with a bot account (issue 18): one post per run that evolves. The run key is
//! `repository` + `provider_run_id`. The first event of a run creates its post and
//! records the id in the dedupe store under the run; later events patch it in place;
//! each terminal event adds one reply in its thread. A run's post only moves forward.
//!
//! Exactly once: every event of a run is handled under the run's claim in the store (one
//! process at a time per run, across gateways sharing the store). A process that takes
//! the claim over from one that died, or that finds a create whose answer was lost, first
//! looks for the run's post among the channel's newest posts (`props.mmnotify.run_key`,
//! the bot's own root posts only) and patches it; a create carries a `pending_post_id`
//! derived from the run key, which a real server answers within 30 s with the first post.
//!
//! The job's history is recorded as for a webhook post, once the outcome is final; while
//! the job is broken, a new run's post is a reply in the thread of the post that broke it
//! (`thread`). The run's post is edited as the run goes on, and an edit notifies no one:
//! the mentions go only in replies.

use std::cell::Cell;
use std::time::Instant;

use anyhow::Result;
use serde_json::{json, Map, Value};

use crate::build_event::event::{State, ValidEvent};
use crate::error::{self, ExitKind};
use crate::pipeline::build::{self, Ctx, Settings, Store};
use crate::pipeline::output::{
    describe_delivery, describe_rest_write, print_stdout_line, Handled, Outcome, Printer, Status,
};
use crate::pipeline::story::Story;
use crate::secret::{BotSource, BotSources, BotToken};
use crate::state::dedupe::{self, Claim, DedupeKey, DedupeStore, RunPost};
use crate::story::history::RunNote;
use crate::wire::deliver::{self, Deliverer, Delivery, RestAnswer};
use crate::wire::rest::{self, Bot, Channel, Found, Patched, Want};

mod thread;
pub(crate) use thread::JobStory;

/// A bot, its client and its channel: resolved once per process.
pub(crate) struct BotConn {
    token: BotToken,
    source: BotSource,
    deliverer: Deliverer,
    channel: Channel,
    user_id: String,
    /// Server URL + channel id: what the dedupe keys of bot posts are made of.
    target: String,
    /// When the current event's `--timeout` budget ends (see [`BotConn::begin`]).
    deadline: Cell<Instant>,
}

impl BotConn {
    /// Reads the secret, proves the token (`GET /users/me`) and resolves the channel.
    pub(crate) fn connect(
        sources: &BotSources,
        channel: Option<&str>,
        delivery: &deliver::Settings,
    ) -> Result<BotConn> {
        let Some(channel) = channel else {
            return Err(error::fail(
                ExitKind::Usage,
                "a bot posts in one channel: pass --channel TEAM/CHANNEL (URL names) or a \
                 26-character channel id",
            ));
        };
        let (token, source) = sources.resolve()?;
        BotConn::connect_with(token, source, channel, delivery)
    }

    /// With the secret already read (`flush`: the item's own source).
    pub(crate) fn connect_with(
        token: BotToken,
        source: BotSource,
        channel: &str,
        delivery: &deliver::Settings,
    ) -> Result<BotConn> {
        let deliverer = Deliverer::new(delivery)?;
        let deadline = Instant::now() + deliverer.policy().budget;
        let bot = Bot {
            deliverer: &deliverer,
            token: &token,
            deadline,
        };
        let (user_id, channel) = bot
            .me()
            .and_then(|user| Ok((user, bot.resolve_channel(channel)?)))
            .map_err(|e| {
                // A command stops on it: its outcome says what the server answered.
                let answers = deliverer.take_rest_answers();
                match failed_answer(&answers, &e) {
                    Some(a) => error::answered(e, a.answered()),
                    None => e,
                }
            })?;
        let target = format!("bot:{}#{}", token.base(), channel.id);
        Ok(BotConn {
            token,
            source,
            deliverer,
            channel,
            user_id,
            target,
            deadline: Cell::new(deadline),
        })
    }

    /// Starts an event begun at `started`: its requests (and the connection's, when it
    /// was made for it) share one `--timeout` budget, as a webhook delivery does.
    pub(crate) fn begin(&self, started: Instant) {
        self.deadline.set(started + self.deliverer.policy().budget);
    }

    /// `bot …k3c9 at https://chat.example.com ~builds`, for logs and outcomes.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.token, self.channel.label)
    }

    /// The answers of the requests made since the last call; `-v` shows each write.
    pub(crate) fn reported_answers(&self, printer: &Printer) -> Vec<RestAnswer> {
        let answers = self.deliverer.take_rest_answers();
        for write in answers.iter().filter(|a| a.is_write()) {
            printer.info(&describe_rest_write(write));
        }
        answers
    }

    fn bot(&self) -> Bot<'_> {
        Bot {
            deliverer: &self.deliverer,
            token: &self.token,
            deadline: self.deadline.get(),
        }
    }
}

/// Which run an event belongs to: `repository#provider_run_id`.
fn run_key(ev: &ValidEvent) -> Option<String> {
    let run_id = ev.provider_run_id.as_deref()?;
    Some(format!(
        "{}#{run_id}",
        ev.repository.as_deref().unwrap_or_default()
    ))
}

/// A `pending_post_id` for the run's post: the same for every process, so that a repeated
/// create within the server's 30 s window returns the first post.
fn pending_post_id(key: &DedupeKey) -> String {
    format!("mmnotify{}", &key.as_str()[..18])
}

fn rank(state: State) -> u8 {
    if state.is_terminal() {
        2
    } else {
        1
    }
}

/// The rendered webhook payload as a REST post's parts: its message, and props holding
/// the attachments and `mmnotify.run_key`, `mmnotify.state` and `mmnotify.post` (`run`:
/// the run's own post).
fn post_parts(obj: &Map<String, Value>, run_key: &str, state: State) -> (String, Value) {
    let message = obj
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut props = obj
        .get("props")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(att) = obj.get("attachments") {
        props.insert("attachments".into(), att.clone());
    }
    let mut mm = props
        .get("mmnotify")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    mm.insert("run_key".into(), Value::from(run_key));
    mm.insert("state".into(), Value::from(state.as_str()));
    mm.insert("post".into(), Value::from(rest::RUN_POST));
    props.insert("mmnotify".into(), Value::Object(mm));
    (message, Value::Object(props))
}

/// `props` with `mmnotify.post` set to `post` (`details`, `change`).
fn props_as(props: &Value, post: &str) -> Value {
    let mut props = props.clone();
    if let Some(mm) = props.get_mut("mmnotify").and_then(Value::as_object_mut) {
        mm.insert("post".into(), Value::from(post));
    }
    props
}

/// One event through the bot: dedupe claim of (run, state), the run's post created or
/// patched under the run's claim, then the reply of a terminal state; the job's history
/// recorded once the outcome is final, as for a webhook post.
pub(crate) fn handle(ctx: &mut Ctx, ev: &ValidEvent, story: Option<&Story>) -> Result<Handled> {
    let args = ctx.args.clone();
    let args: &Settings = &args;
    let Some(run_key) = run_key(ev) else {
        return Err(error::input(
            "with a bot, an event needs provider_run_id (--run-id): the run's post is found \
             by repository and run id",
        ));
    };
    if args.route.root_id.is_some() {
        return Err(error::fail(
            ExitKind::Usage,
            "--root-id is for webhook posts: with a bot, each run's post has its own thread",
        ));
    }
    // The run's post is edited as the run goes on, and an edit notifies no one: the
    // mentions go only in replies.
    let (obj, _) = build::render_for(ctx, ev, story, false)?;
    let (reply_obj, _) = build::render_for(ctx, ev, story, true)?;
    let (message, props) = post_parts(&obj, &run_key, ev.state());
    let (reply, _) = post_parts(&reply_obj, &run_key, ev.state());
    // As one JSON value, whose strings are searched with the token broken up (folded,
    // split by a space or an invisible character): the message and the reply joined to
    // the props as plain text were searched as bytes only.
    let body = serde_json::json!([props, message, reply]).to_string();
    if args.dry_run {
        // As a webhook's dry run: a bot secret that can be read is read (offline), so that
        // a message holding its token is refused, not printed.
        if let Ok((token, _)) = args.bot.resolve() {
            refuse_bot_token(&token, &body)?;
        }
        return Ok(show_dry_run(ctx, ev, &message, &reply, &props));
    }
    let started = Instant::now();
    if ctx.bot.is_none() {
        let conn = BotConn::connect(&args.bot, args.route.channel.as_deref(), &args.delivery)?;
        ctx.printer.info(&format!(
            "{} from {}",
            conn.describe(),
            conn.source.spool_ref()
        ));
        ctx.bot = Some(conn);
    }
    if let Some(conn) = &ctx.bot {
        refuse_bot_token(&conn.token, &body)?;
    }
    ctx.open_dedupe()?;
    ctx.bot.as_ref().expect("connected above").begin(started);
    let job = thread::job_story(ctx, ev, story);
    // A spooled event records its run when `flush` finally posts it (also when its store
    // could not be read now), as a spooled webhook post does.
    let history = match story {
        Some(s) => crate::pipeline::story::note(ev, s, args.history_ttl),
        None => crate::pipeline::story::note_unread(ev, args.history_ttl),
    };
    let item = BotItem {
        run_key,
        state: ev.state(),
        message,
        reply,
        props,
        job,
        history,
        redelivered: ctx.redelivers,
    };
    let (outcome, err) = deliver(ctx, ev, &item);
    // Final for the job's history by the one rule a webhook post and the gateway follow
    // (`Outcome::is_final`): posted, or refused with an answer a retry would not change
    // (a 3xx, 405 or 413 too, not just 400/403/404). A duplicate changes nothing; a
    // spooled event is recorded by the `flush` that posts it.
    if outcome.is_final() {
        build::record_story(ctx, ev, story);
    }
    Ok((outcome, err))
}

/// The event through the connected bot, in the store the context opened.
fn deliver(ctx: &Ctx, ev: &ValidEvent, item: &BotItem) -> Handled {
    let conn = ctx.bot.as_ref().expect("connected by the caller");
    let store: Option<&dyn DedupeStore> = match &ctx.dedupe {
        Store::Open(s) => Some(s.as_ref()),
        _ => None,
    };
    let event_key = (!ctx.args.no_dedupe)
        .then(|| dedupe::key(&conn.target, &item.run_key, item.state.as_str()));
    let start = Instant::now();
    // Only this event's requests decide its outcome (not the connection's).
    drop(conn.deliverer.take_rest_answers());
    let result = post(conn, &ctx.printer, store, event_key.as_ref(), item);
    let answers = conn.reported_answers(&ctx.printer);
    let target = conn.describe();
    let d = match &result {
        Ok(_) => Delivery::of_bot_event(
            answers.iter().rev().find(|a| a.is_write()),
            start.elapsed(),
            None,
        ),
        Err(e) => Delivery::of_bot_event(
            failed_answer(&answers, e),
            start.elapsed(),
            Some((error::exit_kind(e), format!("{e:#}"))),
        ),
    };
    let outcome = Outcome::from_delivery(&d, &target).with("event", ev.to_json());
    match result {
        Ok(Some(post_id)) => {
            ctx.printer.info(&describe_delivery(&d, &target));
            (outcome.with("post_id", post_id), None)
        }
        Ok(None) => {
            let mut outcome = Outcome::new(Status::Duplicate).with("event", ev.to_json());
            outcome.target = Some(target);
            outcome.elapsed = Some(d.elapsed);
            (outcome, None)
        }
        Err(e) => {
            ctx.printer.info(&describe_delivery(&d, &target));
            failed(ctx, conn, outcome, event_key.as_ref(), item, &e)
        }
    }
}

/// The request that made a bot event fail: the last one that failed, when the error is
/// its own (the error names its status; a request without an answer is the last one
/// made). `None` when the event failed for another reason (its dedupe store).
fn failed_answer<'a>(answers: &'a [RestAnswer], e: &anyhow::Error) -> Option<&'a RestAnswer> {
    let text = format!("{e:#}");
    let (i, a) = answers
        .iter()
        .enumerate()
        .rev()
        .find(|(_, a)| !a.is_success())?;
    match a.status {
        Some(status) => text.contains(&format!("HTTP {status}")).then_some(a),
        None => (i + 1 == answers.len()).then_some(a),
    }
}

/// `--dry-run` with a bot: the message and props the run's post would get, and the text
/// of a reply (with the mentions).
/// A message that holds the bot's token would publish it to the channel: exit 4.
fn refuse_bot_token(token: &BotToken, body: &str) -> Result<()> {
    if token.as_url().appears_in(body.as_bytes()) {
        return Err(error::input(
            "the message contains the bot's token; it would publish it to the channel",
        ));
    }
    Ok(())
}

fn show_dry_run(ctx: &Ctx, ev: &ValidEvent, message: &str, reply: &str, props: &Value) -> Handled {
    let value = json!({"message": message, "reply": reply, "props": props});
    let outcome = Outcome::new(Status::DryRun).with("event", ev.to_json());
    if ctx.printer.json {
        return (outcome.with("payload", value), None);
    }
    print_stdout_line(&value.to_string());
    (outcome, None)
}

/// A bot event that failed: spooled when another delivery may post it (a network
/// failure, 408, 429, 502–504: the webhook's rule; a 500 may have saved part of it and is
/// final), with the message scrubbed of the token.
fn failed(
    ctx: &Ctx,
    conn: &BotConn,
    mut outcome: Outcome,
    event_key: Option<&DedupeKey>,
    item: &BotItem,
    e: &anyhow::Error,
) -> Handled {
    outcome.status = Status::Failed;
    let mut message =
        crate::secret::scrub_secrets(&conn.token.scrub(&format!("{e:#}"))).into_owned();
    let kind = error::exit_kind(e);
    if crate::wire::retry::curable(kind, outcome.http_status) && ctx.spool {
        match spool(ctx, conn, event_key, item, &message) {
            Ok(path) => {
                outcome.status = Status::Spooled;
                outcome = outcome.with("spool_file", path.display().to_string());
                message.push_str(&format!(
                    "; saved to the spool ({}), `mmnotify flush` updates the run's post",
                    path.display()
                ));
            }
            Err(se) => ctx
                .printer
                .warn(&format!("the event could not be spooled: {se:#}")),
        }
    }
    outcome.message = Some(message.clone());
    (outcome, Some(error::fail(kind, message)))
}

/// One event for a bot: what is posted, and under which run.
pub(crate) struct BotItem {
    pub run_key: String,
    pub state: State,
    /// The text of a post that is edited later (the run's root post): no mentions.
    pub message: String,
    /// The text of a reply: the message with the mentions (a reply notifies).
    pub reply: String,
    pub props: Value,
    /// The job's story, for the threads of a broken job (`None` from the spool: a
    /// flushed event brings the run's own post and reply up to date).
    pub job: Option<JobStory>,
    /// The run, for its job's history once a spooled event is posted (in the spool
    /// item's `history`, not its payload).
    pub history: Option<RunNote>,
    /// Delivered again if it fails (a gateway's pending entry, `Ctx::redelivers`).
    pub redelivered: bool,
}

impl BotItem {
    /// The run key for messages: the event's fields as a builder sent them, so escape
    /// sequences and bidi overrides are taken out before they reach a terminal or log.
    pub(crate) fn shown_key(&self) -> String {
        crate::text::sanitize::one_line(&self.run_key, 300)
    }

    /// As saved in the spool (no token: the message was checked for it).
    fn to_json(&self, channel: &str) -> Value {
        json!({
            "channel": channel,
            "run_key": self.run_key,
            "state": self.state.as_str(),
            "message": self.message,
            "reply": self.reply,
            "props": self.props,
        })
    }

    /// A spooled item's payload read back; `None` when it is not one.
    pub(crate) fn from_json(v: &Value) -> Option<(String, BotItem)> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let state = s("state")?.parse::<State>().ok()?;
        let message = s("message")?;
        Some((
            s("channel")?,
            BotItem {
                run_key: s("run_key")?,
                state,
                reply: s("reply").unwrap_or_else(|| message.clone()),
                message,
                props: v.get("props").cloned().unwrap_or(Value::Null),
                job: None,
                history: None,
                redelivered: false,
            },
        ))
    }
}

/// Saves a bot event that could not be posted: the run key, the bot's source (never the
/// token; an `env` bot as an HMAC of its URL and token), the channel as given.
fn spool(
    ctx: &Ctx,
    conn: &BotConn,
    event_key: Option<&DedupeKey>,
    item: &BotItem,
    last_error: &str,
) -> Result<std::path::PathBuf> {
    let dir = crate::pipeline::notify::state_dir(ctx.args.state_dir.as_deref())?;
    let spool = crate::state::spool::Spool::open(&dir)?;
    let mut saved = crate::state::spool::SpoolItem::new(
        crate::state::spool::SpoolKind::Bot,
        conn.source.spool_ref(),
        event_key,
        item.to_json(ctx.args.route.channel.as_deref().unwrap_or_default()),
        last_error.to_string(),
    );
    if conn.source == BotSource::Env {
        saved.webhook_hmac = Some(
            crate::state::fingerprint::FingerprintKey::load_or_create(&dir)?
                .fingerprint(conn.token.expose_for_hash()),
        );
    }
    saved.store.clone_from(&ctx.store_ref);
    saved.history = item
        .history
        .as_ref()
        .and_then(|n| serde_json::to_value(n).ok());
    spool.save(&saved)
}

/// One bot event: the dedupe claim of (run, state), the run's post brought up to it,
/// the reply of a terminal state. `Ok(None)`: a duplicate. Used by `build` and `flush`.
pub(crate) fn post(
    conn: &BotConn,
    printer: &Printer,
    store: Option<&dyn DedupeStore>,
    event_key: Option<&DedupeKey>,
    item: &BotItem,
) -> Result<Option<String>> {
    let budget = conn.deliverer.policy().budget;
    let event_guard = match (store, event_key) {
        (Some(s), Some(key)) => match s.claim(key, budget)? {
            Claim::Duplicate => {
                printer.info(&format!(
                    "run {} {} was already posted: skipped",
                    item.shown_key(),
                    item.state.as_str()
                ));
                return Ok(None);
            }
            Claim::Acquired(g) => Some(g),
        },
        _ => None,
    };
    let interrupted = event_guard
        .as_ref()
        .is_some_and(crate::state::dedupe::ClaimGuard::interrupted);
    let post_id = evolve(conn, printer, store, item, interrupted)?;
    if let Some(g) = event_guard {
        if let Err(e) = g.delivered() {
            printer.warn(&format!(
                "posted, but the dedupe store did not record it: {e:#}"
            ));
        }
    }
    Ok(Some(post_id))
}

/// One event's work on the run's posts: the bot, the store, and the event.
struct Poster<'a> {
    conn: &'a BotConn,
    printer: &'a Printer,
    store: Option<&'a dyn DedupeStore>,
    item: &'a BotItem,
    /// Where the store records the run's post.
    record_key: DedupeKey,
}

/// The run's post brought up to this event (created, patched, or left when the run is
/// further already), then the reply of a terminal state. Returns the post's id.
fn evolve(
    conn: &BotConn,
    printer: &Printer,
    store: Option<&dyn DedupeStore>,
    item: &BotItem,
    interrupted: bool,
) -> Result<String> {
    let (run_key, state) = (item.run_key.as_str(), item.state);
    let budget = conn.deliverer.policy().budget;
    let p = Poster {
        conn,
        printer,
        store,
        item,
        record_key: dedupe::key(&conn.target, run_key, "\0post"),
    };
    // The run's claim: taken, never marked delivered, released when dropped.
    let run_guard = match store {
        Some(s) => match s.claim(&dedupe::key(&conn.target, run_key, "\0run"), budget)? {
            Claim::Acquired(g) => Some(g),
            Claim::Duplicate => None,
        },
        None => None,
    };
    // Without a store nothing records the run's post: look for it every time.
    let taken_over = store.is_none()
        || interrupted
        || run_guard
            .as_ref()
            .is_some_and(|g| g.interrupted() || g.stolen());
    let record = match store {
        Some(s) => s.run_post(&p.record_key)?,
        None => None,
    };
    let my_rank = rank(state);
    // An earlier attempt of this state got this far: its replies may exist already.
    let again = taken_over || record.as_ref().is_some_and(|r| r.rank >= my_rank);
    let (post_id, root) = match record {
        // Further already: a late `running` changes nothing.
        Some(RunPost {
            post_id: Some(id),
            rank,
            root_id,
            ..
        }) if rank > my_rank => (id, root_id),
        Some(RunPost {
            post_id: Some(id),
            rank,
            root_id,
            ..
        }) => p.update_recorded(&id, rank, root_id.as_deref())?,
        Some(RunPost { post_id: None, .. }) => p.create(true, "")?,
        None => p.create(taken_over, "")?,
    };
    drop(run_guard);
    if state.is_terminal() {
        return p.finish(&post_id, root.as_deref(), again, true);
    }
    Ok(post_id)
}

impl Poster<'_> {
    fn bot(&self) -> Bot<'_> {
        self.conn.bot()
    }

    /// Records the run's post (`root`: the thread it is a reply in).
    fn save(&self, post_id: Option<&str>, rank: u8, root: Option<&str>) -> Result<()> {
        if let Some(s) = self.store {
            let mut post = RunPost::at(post_id, rank);
            post.root_id = root.map(str::to_string);
            s.set_run_post(&self.record_key, &post)?;
        }
        Ok(())
    }

    /// The text of the run's post: a reply (in a broken job's thread) notifies, so it
    /// carries the mentions; a root post does not.
    fn text(&self, root: Option<&str>) -> &str {
        if root.is_some() {
            &self.item.reply
        } else {
            &self.item.message
        }
    }

    /// The run's post as the store records it (`id`, at `rank`, in `root`'s thread),
    /// patched to this event once a read shows it is the run's post: the bot's own post
    /// in the channel, in that thread, with this run's key. A record naming anything else
    /// (forged, crossed) is not trusted.
    fn update_recorded(
        &self,
        id: &str,
        rank: u8,
        root: Option<&str>,
    ) -> Result<(String, Option<String>)> {
        let (conn, item) = (self.conn, self.item);
        let bot = self.bot();
        let run_key = item.run_key.as_str();
        let is_key = |k: &str| k == run_key;
        let want = Want::run_post(&is_key, root.unwrap_or_default());
        match bot.read_post(id, &conn.channel, &conn.user_id, &want)? {
            Found::Post(_) => {
                let patch = json!({"message": self.text(root), "props": item.props});
                match bot.patch(id, &patch, &conn.channel)? {
                    Patched::Done => {
                        self.save(Some(id), rank.max(self::rank(item.state)), root)?;
                        Ok((id.to_string(), root.map(str::to_string)))
                    }
                    Patched::Gone => self.deleted(id),
                }
            }
            Found::Gone => self.deleted(id),
            Found::Other => {
                self.printer.warn(&format!(
                    "the store's record of run {} names a post that is not the run's: \
                     looking for the run's post",
                    item.shown_key()
                ));
                self.create(true, "")
            }
        }
    }

    /// The run's recorded post was deleted: made again, under another `pending_post_id`.
    fn deleted(&self, id: &str) -> Result<(String, Option<String>)> {
        self.printer.warn(&format!(
            "the post of run {} was deleted: posting it again",
            self.item.shown_key()
        ));
        self.create(false, id)
    }

    /// Creates the run's post (in the thread of the post that broke the job, while it is
    /// broken), after looking for it in the channel when an earlier attempt may have made
    /// it (`search`). Records the id, or `?` when the answer was lost. A post made again
    /// after a deletion gets another `pending_post_id` (`replaces`: the deleted post's
    /// id), or the server would answer with the deleted one.
    fn create(&self, search: bool, replaces: &str) -> Result<(String, Option<String>)> {
        let root = thread::breaking_post(self)?;
        match self.create_in(search, replaces, root)? {
            Ok(made) => Ok(made),
            // The breaking post went between the read that checked it and the reply: the
            // run posts in the channel, as when the read finds it deleted.
            Err(e) => {
                thread::root_gone(self, &e);
                self.create_in(search, replaces, None)?
            }
        }
    }

    /// [`Poster::create`] in `root`'s thread (`None`: in the channel). `Ok(Err(_))`: the
    /// server refused `root` as the thread; nothing was posted.
    fn create_in(
        &self,
        search: bool,
        replaces: &str,
        root: Option<String>,
    ) -> Result<Result<(String, Option<String>), anyhow::Error>> {
        let (conn, item) = (self.conn, self.item);
        let run_key = item.run_key.as_str();
        let my_rank = rank(item.state);
        let bot = self.bot();
        let message = self.text(root.as_deref());
        if search {
            let is_key = |k: &str| k == run_key;
            let want = Want::run_post(&is_key, root.as_deref().unwrap_or_default());
            if let Some(id) = bot.find_post(&conn.channel, &conn.user_id, &want)? {
                self.printer.info(&format!(
                    "run {}: found the post an earlier attempt made; updating it",
                    item.shown_key()
                ));
                let patch = json!({"message": message, "props": item.props});
                if let Patched::Done = bot.patch(&id, &patch, &conn.channel)? {
                    self.save(Some(&id), my_rank, root.as_deref())?;
                    return Ok(Ok((id, root)));
                }
            }
        }
        let thread = root
            .as_deref()
            .map_or(String::new(), |r| format!("\0thread{r}"));
        let pending = pending_post_id(&dedupe::key(
            &conn.target,
            run_key,
            &format!("\0pending{replaces}{thread}"),
        ));
        let post = rest::new_post(
            &conn.channel,
            message,
            item.props.clone(),
            root.as_deref(),
            Some(&pending),
        );
        match bot.create(&post, &conn.channel) {
            Ok(id) => {
                self.save(Some(&id), my_rank, root.as_deref())?;
                Ok(Ok((id, root)))
            }
            Err(f) if f.root_refused && root.is_some() => Ok(Err(f.error)),
            Err(f) => {
                if f.maybe_created {
                    self.save(None, my_rank, None)?;
                }
                Err(f.error)
            }
        }
    }

    /// A terminal state's replies: the details in the thread of the run's post, where a
    /// reply notifies (an edit does not). A run whose post is a reply in a broken job's
    /// thread has no reply of its own; when it breaks or fixes the job it also posts in
    /// the channel. Then the job's thread record follows the change. `again`: an earlier
    /// attempt may have made these posts, so they are looked for first. Returns the run's
    /// post: made again (once, `remake`) when it was deleted before its reply.
    fn finish(
        &self,
        post_id: &str,
        root: Option<&str>,
        again: bool,
        remake: bool,
    ) -> Result<String> {
        use crate::story::history::Transition;
        let transition = self.item.job.as_ref().and_then(|j| j.transition);
        let change = matches!(transition, Some(Transition::Broken | Transition::Fixed));
        let channel_post = match root {
            None => match self.details(post_id, again)? {
                Ok(()) => Some(post_id.to_string()),
                // The server refused the reply's root: the run's post was deleted after
                // its update. Made again, as when the update finds it deleted.
                Err(_) if remake => {
                    let (id, root) = self.deleted(post_id)?;
                    return self.finish(&id, root.as_deref(), false, false);
                }
                Err(e) => return Err(e),
            },
            Some(_) if change => {
                let id = self.change_post(again)?;
                self.details(&id, again)??;
                Some(id)
            }
            Some(_) => None,
        };
        match (transition, channel_post) {
            (Some(Transition::Broken), Some(id)) => thread::remember_breaking(self, &id),
            (Some(Transition::Fixed), _) => thread::mark_fixed(self)?,
            _ => {}
        }
        Ok(post_id.to_string())
    }

    /// The reply with the details and the mentions, in `post_id`'s thread. Its own
    /// `pending_post_id`: a retry whose first answer was lost within 30 s gets the same
    /// reply; later, `again` looks for it in the thread first. `Ok(Err(_))`: the server
    /// refused `post_id` as the thread (deleted); nothing was posted.
    fn details(&self, post_id: &str, again: bool) -> Result<Result<()>> {
        let (conn, item) = (self.conn, self.item);
        let (run_key, state) = (item.run_key.as_str(), item.state.as_str());
        let bot = self.bot();
        if again {
            let is_key = |k: &str| k == run_key;
            let want = Want {
                root: post_id,
                run: &is_key,
                post: &[DETAILS],
                state: Some(state),
            };
            if bot
                .find_post(&conn.channel, &conn.user_id, &want)?
                .is_some()
            {
                self.printer.info(&format!(
                    "run {} {state}: its reply was made by an earlier attempt",
                    item.shown_key()
                ));
                return Ok(Ok(()));
            }
        }
        let pending = pending_post_id(&dedupe::key(
            &conn.target,
            run_key,
            &format!("\0reply{state}{post_id}"),
        ));
        let reply = rest::new_post(
            &conn.channel,
            &item.reply,
            props_as(&item.props, DETAILS),
            Some(post_id),
            Some(&pending),
        );
        match bot.create(&reply, &conn.channel) {
            Ok(_) => Ok(Ok(())),
            Err(f) if f.root_refused => Ok(Err(f.error)),
            Err(f) => Err(f.error),
        }
    }

    /// A change (broken, fixed) of a run whose post is a reply in a broken job's thread:
    /// it is said in the channel too, by a root post of its own.
    fn change_post(&self, again: bool) -> Result<String> {
        let (conn, item) = (self.conn, self.item);
        let (run_key, state) = (item.run_key.as_str(), item.state.as_str());
        let bot = self.bot();
        if again {
            let is_key = |k: &str| k == run_key;
            let want = Want {
                root: "",
                run: &is_key,
                post: &[CHANGE],
                state: Some(state),
            };
            if let Some(id) = bot.find_post(&conn.channel, &conn.user_id, &want)? {
                return Ok(id);
            }
        }
        let pending = pending_post_id(&dedupe::key(
            &conn.target,
            run_key,
            &format!("\0change{state}"),
        ));
        let post = rest::new_post(
            &conn.channel,
            &item.message,
            props_as(&item.props, CHANGE),
            None,
            Some(&pending),
        );
        bot.create(&post, &conn.channel).map_err(|f| f.error)
    }
}

/// `props.mmnotify.post` of a terminal state's reply with the details.
const DETAILS: &str = "details";
/// `props.mmnotify.post` of the channel post of a change made by a run whose own post is
/// a reply in a broken job's thread.
const CHANGE: &str = "change";
