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

use std::time::Instant;

use anyhow::Result;
use serde_json::{json, Map, Value};

use crate::build_event::event::{State, ValidEvent};
use crate::error::{self, ExitKind};
use crate::pipeline::build::{Ctx, Store};
use crate::pipeline::output::{print_stdout_line, Handled, Outcome, Status};
use crate::secret::{BotSource, BotSources, BotToken};
use crate::state::dedupe::{self, Claim, DedupeKey, DedupeStore, RunPost};
use crate::wire::deliver::{self, Deliverer};
use crate::wire::rest::{self, Bot, Channel, Patched};

/// A bot, its client and its channel: resolved once per process.
pub(crate) struct BotConn {
    token: BotToken,
    #[allow(dead_code, reason = "the spool records it (item 5, not wired yet)")]
    source: BotSource,
    deliverer: Deliverer,
    channel: Channel,
    user_id: String,
    /// Server URL + channel id: what the dedupe keys of bot posts are made of.
    target: String,
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
        let deliverer = Deliverer::new(delivery)?;
        let bot = Bot {
            deliverer: &deliverer,
            token: &token,
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
        })
    }

    /// `bot …k3c9 at https://chat.example.com ~builds`, for logs and outcomes.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.token, self.channel.label)
    }

    fn bot(&self) -> Bot<'_> {
        Bot {
            deliverer: &self.deliverer,
            token: &self.token,
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
    let args = ctx.args;
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
        let value = json!({"message": message, "props": props});
        let outcome = Outcome::new(Status::DryRun).with("event", ev.to_json());
        if ctx.printer.json {
            return Ok((outcome.with("payload", value), None));
        }
        print_stdout_line(&value.to_string());
        return Ok((outcome, None));
    }
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
    let store: Option<&dyn DedupeStore> = match &ctx.dedupe {
        Store::Open(s) => Some(s.as_ref()),
        _ => None,
    };
    let start = Instant::now();
    let budget = conn.deliverer.policy().budget;
    let target = conn.target.clone();
    let state = ev.state().as_str();
    let mut outcome = Outcome::new(Status::Posted).with("event", ev.to_json());
    outcome.target = Some(conn.describe());

    // One post per (run, state), as webhook posts.
    let event_guard = match store {
        Some(s) if !args.no_dedupe => {
            match s.claim(&dedupe::key(&target, &run_key, state), budget)? {
                Claim::Duplicate => {
                    ctx.printer.info(&format!(
                        "run {run_key} {state} was already posted: skipped"
                    ));
                    outcome.status = Status::Duplicate;
                    return Ok((outcome, None));
                }
                Claim::Acquired(g) => Some(g),
            }
        }
        _ => None,
    };
    let interrupted = event_guard
        .as_ref()
        .is_some_and(crate::state::dedupe::ClaimGuard::interrupted);
    let result = evolve(
        ctx,
        store,
        &run_key,
        ev.state(),
        &message,
        &props,
        interrupted,
    );
    let conn = ctx.bot.as_ref().expect("connected above");
    outcome.elapsed = Some(start.elapsed());
    match result {
        Ok(post_id) => {
            outcome = outcome.with("post_id", post_id);
            if let Some(g) = event_guard {
                if let Err(e) = g.delivered() {
                    ctx.printer.warn(&format!(
                        "posted, but the dedupe store did not record it: {e:#}"
                    ));
                }
            }
            Ok((outcome, None))
        }
        Err(e) => {
            outcome.status = Status::Failed;
            outcome.message = Some(
                crate::secret::scrub_secrets(&conn.token.scrub(&format!("{e:#}"))).into_owned(),
            );
            Ok((outcome, Some(e)))
        }
    }
}

/// The run's post brought up to this event (created, patched, or left when the run is
/// further already), then the reply of a terminal state. Returns the post's id.
fn evolve(
    ctx: &Ctx,
    store: Option<&dyn DedupeStore>,
    run_key: &str,
    state: State,
    message: &str,
    props: &Value,
    interrupted: bool,
) -> Result<String> {
    let conn = ctx.bot.as_ref().expect("connected by the caller");
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
    let taken_over = interrupted
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
    let patch = json!({"message": message, "props": props});
    let post_id = match record {
        // Further already: a late `running` changes nothing.
        Some(RunPost {
            post_id: Some(id),
            rank,
        }) if rank > my_rank => id,
        Some(RunPost {
            post_id: Some(id),
            rank,
        }) => match bot.patch(&id, &patch, &conn.channel)? {
            Patched::Done => {
                save(Some(&id), rank.max(my_rank))?;
                id
            }
            Patched::Gone => {
                ctx.printer.warn(&format!(
                    "the post of run {run_key} was deleted: posting it again"
                ));
                create(ctx, run_key, message, props, my_rank, &save, (false, &id))?
            }
        },
        Some(RunPost { post_id: None, .. }) => {
            create(ctx, run_key, message, props, my_rank, &save, (true, ""))?
        }
        None => create(
            ctx,
            run_key,
            message,
            props,
            my_rank,
            &save,
            (taken_over, ""),
        )?,
    };
    drop(run_guard);
    if state.is_terminal() {
        let (reply_text, reply_props) = (message.to_string(), props.clone());
        let reply = rest::new_post(
            &conn.channel,
            &reply_text,
            reply_props,
            Some(&post_id),
            None,
        );
        bot.create(&reply, &conn.channel).map_err(|f| f.error)?;
    }
    Ok(post_id)
}

/// Creates the run's post, after looking for it in the channel when an earlier attempt
/// may have made it (`search`). Records the id, or `?` when the answer was lost. A post
/// made again after a deletion gets another `pending_post_id` (`replaces`: the deleted
/// post's id), or the server would answer with the deleted one.
fn create(
    ctx: &Ctx,
    run_key: &str,
    message: &str,
    props: &Value,
    my_rank: u8,
    save: &dyn Fn(Option<&str>, u8) -> Result<()>,
    (search, replaces): (bool, &str),
) -> Result<String> {
    let conn = ctx.bot.as_ref().expect("connected by the caller");
    let bot = conn.bot();
    if search {
        if let Some(id) = bot.find_run_post(&conn.channel, &conn.user_id, run_key)? {
            ctx.printer.info(&format!(
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
