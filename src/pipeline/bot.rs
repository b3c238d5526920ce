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

use std::cell::Cell;
use std::time::Instant;

use anyhow::Result;
use serde_json::{json, Map, Value};

use crate::build_event::event::{State, ValidEvent};
use crate::error::{self, ExitKind};
use crate::pipeline::build::{Ctx, Settings, Store};
use crate::pipeline::output::{print_stdout_line, Handled, Outcome, Printer, Status};
use crate::secret::{BotSource, BotSources, BotToken};
use crate::state::dedupe::{self, Claim, DedupeKey, DedupeStore, RunPost};
use crate::wire::deliver::{self, Deliverer};
use crate::wire::rest::{self, Bot, Channel, Patched};

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
        let user_id = bot.me()?;
        let channel = bot.resolve_channel(channel)?;
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
/// the attachments and `mmnotify.run_key`.
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
    props.insert("mmnotify".into(), Value::Object(mm));
    (message, Value::Object(props))
}

/// One event through the bot: dedupe claim of (run, state), the run's post created or
/// patched under the run's claim, then the reply of a terminal state.
pub(crate) fn handle(ctx: &mut Ctx, ev: &ValidEvent, obj: &Map<String, Value>) -> Result<Handled> {
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
    let (message, props) = post_parts(obj, &run_key, ev.state());
    if args.dry_run {
        return Ok(show_dry_run(ctx, ev, &message, &props));
    }
    let started = Instant::now();
    if ctx.bot.is_none() {
        ctx.bot = Some(BotConn::connect(
            &args.bot,
            args.route.channel.as_deref(),
            &args.delivery,
        )?);
    }
    let body = props.to_string() + &message;
    if let Some(conn) = &ctx.bot {
        if conn.token.as_url().appears_in(body.as_bytes()) {
            return Err(error::input(
                "the message contains the bot's token; it would publish it to the channel",
            ));
        }
    }
    ctx.open_dedupe()?;
    let conn = ctx.bot.as_ref().expect("connected above");
    conn.begin(started);
    let store: Option<&dyn DedupeStore> = match &ctx.dedupe {
        Store::Open(s) => Some(s.as_ref()),
        _ => None,
    };
    let event_key =
        (!args.no_dedupe).then(|| dedupe::key(&conn.target, &run_key, ev.state().as_str()));
    let item = BotItem {
        run_key,
        state: ev.state(),
        message,
        props,
    };
    let start = Instant::now();
    let mut outcome = Outcome::new(Status::Posted).with("event", ev.to_json());
    outcome.target = Some(conn.describe());
    let result = post(conn, &ctx.printer, store, event_key.as_ref(), &item);
    outcome.elapsed = Some(start.elapsed());
    match result {
        Ok(Some(post_id)) => Ok((outcome.with("post_id", post_id), None)),
        Ok(None) => {
            outcome.status = Status::Duplicate;
            Ok((outcome, None))
        }
        Err(e) => Ok(failed(ctx, conn, outcome, event_key.as_ref(), &item, &e)),
    }
}

/// `--dry-run` with a bot: the message and props the run's post would get.
fn show_dry_run(ctx: &Ctx, ev: &ValidEvent, message: &str, props: &Value) -> Handled {
    let value = json!({"message": message, "props": props});
    let outcome = Outcome::new(Status::DryRun).with("event", ev.to_json());
    if ctx.printer.json {
        return (outcome.with("payload", value), None);
    }
    print_stdout_line(&value.to_string());
    (outcome, None)
}

/// A bot event that failed: spooled when the failure may pass (network, 429, 5xx), with
/// the message scrubbed of the token.
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
    let retryable = matches!(kind, ExitKind::Network | ExitKind::Server);
    if retryable && ctx.spool {
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
    pub message: String,
    pub props: Value,
}

impl BotItem {
    /// As saved in the spool (no token: the message was checked for it).
    fn to_json(&self, channel: &str) -> Value {
        json!({
            "channel": channel,
            "run_key": self.run_key,
            "state": self.state.as_str(),
            "message": self.message,
            "props": self.props,
        })
    }

    /// A spooled item's payload read back; `None` when it is not one.
    pub(crate) fn from_json(v: &Value) -> Option<(String, BotItem)> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let state = s("state")?.parse::<State>().ok()?;
        Some((
            s("channel")?,
            BotItem {
                run_key: s("run_key")?,
                state,
                message: s("message")?,
                props: v.get("props").cloned().unwrap_or(Value::Null),
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
                    item.run_key,
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

/// The run's post brought up to this event (created, patched, or left when the run is
/// further already), then the reply of a terminal state. Returns the post's id.
fn evolve(
    conn: &BotConn,
    printer: &Printer,
    store: Option<&dyn DedupeStore>,
    item: &BotItem,
    interrupted: bool,
) -> Result<String> {
    let BotItem {
        run_key,
        state,
        message,
        props,
    } = item;
    let (run_key, state) = (run_key.as_str(), *state);
    let bot = conn.bot();
    let budget = conn.deliverer.policy().budget;
    let record_key = dedupe::key(&conn.target, run_key, "\0post");
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
        Some(s) => s.run_post(&record_key)?,
        None => None,
    };
    let my_rank = rank(state);
    let save = |post_id: Option<&str>, rank: u8| -> Result<()> {
        if let Some(s) = store {
            s.set_run_post(
                &record_key,
                &RunPost {
                    post_id: post_id.map(str::to_string),
                    rank,
                },
            )?;
        }
        Ok(())
    };
    let post_id = match record {
        // Further already: a late `running` changes nothing.
        Some(RunPost {
            post_id: Some(id),
            rank,
        }) if rank > my_rank => id,
        Some(RunPost {
            post_id: Some(id),
            rank,
        }) => update_recorded(conn, printer, item, &save, (&id, rank))?,
        Some(RunPost { post_id: None, .. }) => create(conn, printer, item, &save, (true, ""))?,
        None => create(conn, printer, item, &save, (taken_over, ""))?,
    };
    drop(run_guard);
    if state.is_terminal() {
        // The details, where a reply notifies (an edit does not). Its own
        // `pending_post_id`: a retry whose first answer was lost gets the same reply.
        let pending = pending_post_id(&dedupe::key(
            &conn.target,
            run_key,
            &format!("\0reply{}{post_id}", state.as_str()),
        ));
        let reply = rest::new_post(
            &conn.channel,
            message,
            props.clone(),
            Some(&post_id),
            Some(&pending),
        );
        bot.create(&reply, &conn.channel).map_err(|f| f.error)?;
    }
    Ok(post_id)
}

/// The run's post as the store records it (`id`, at `rank`), patched to this event
/// once a read shows it is the run's post: the bot's own root post in the channel with
/// this run's key. A record naming anything else (forged, crossed) is not trusted.
fn update_recorded(
    conn: &BotConn,
    printer: &Printer,
    item: &BotItem,
    save: &dyn Fn(Option<&str>, u8) -> Result<()>,
    (id, rank): (&str, u8),
) -> Result<String> {
    let bot = conn.bot();
    let run_key = item.run_key.as_str();
    match bot.check_run_post(id, &conn.channel, &conn.user_id, run_key)? {
        Some(Patched::Done) => {
            let patch = json!({"message": item.message, "props": item.props});
            match bot.patch(id, &patch, &conn.channel)? {
                Patched::Done => {
                    save(Some(id), rank.max(self::rank(item.state)))?;
                    Ok(id.to_string())
                }
                Patched::Gone => deleted(conn, printer, item, save, id),
            }
        }
        Some(Patched::Gone) => deleted(conn, printer, item, save, id),
        None => {
            printer.warn(&format!(
                "the store's record of run {run_key} names a post that is not the run's: \
                 looking for the run's post"
            ));
            create(conn, printer, item, save, (true, ""))
        }
    }
}

/// The run's recorded post was deleted: made again, under another `pending_post_id`.
fn deleted(
    conn: &BotConn,
    printer: &Printer,
    item: &BotItem,
    save: &dyn Fn(Option<&str>, u8) -> Result<()>,
    id: &str,
) -> Result<String> {
    printer.warn(&format!(
        "the post of run {} was deleted: posting it again",
        item.run_key
    ));
    create(conn, printer, item, save, (false, id))
}

/// Creates the run's post, after looking for it in the channel when an earlier attempt
/// may have made it (`search`). Records the id, or `?` when the answer was lost. A post
/// made again after a deletion gets another `pending_post_id` (`replaces`: the deleted
/// post's id), or the server would answer with the deleted one.
fn create(
    conn: &BotConn,
    printer: &Printer,
    item: &BotItem,
    save: &dyn Fn(Option<&str>, u8) -> Result<()>,
    (search, replaces): (bool, &str),
) -> Result<String> {
    let (run_key, message, props) = (item.run_key.as_str(), &item.message, &item.props);
    let my_rank = rank(item.state);
    let bot = conn.bot();
    if search {
        if let Some(id) = bot.find_run_post(&conn.channel, &conn.user_id, run_key)? {
            printer.info(&format!(
                "run {run_key}: found the post an earlier attempt made; updating it"
            ));
            let patch = json!({"message": message, "props": props});
            if let Patched::Done = bot.patch(&id, &patch, &conn.channel)? {
                save(Some(&id), my_rank)?;
                return Ok(id);
            }
        }
    }
    let pending = pending_post_id(&dedupe::key(
        &conn.target,
        run_key,
        &format!("\0pending{replaces}"),
    ));
    let post = rest::new_post(&conn.channel, message, props.clone(), None, Some(&pending));
    match bot.create(&post, &conn.channel) {
        Ok(id) => {
            save(Some(&id), my_rank)?;
            Ok(id)
        }
        Err(f) => {
            if f.maybe_created {
                save(None, my_rank)?;
            }
            Err(f.error)
        }
    }
}
