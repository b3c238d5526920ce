//! Routing (contract: "Routing"): the config's `[[route]]` entries send each event to
//! every route that matches its job (each webhook deduplicated on its own), else to the
//! default webhook, else nowhere ("no route matched"). Each route has a context of its
//! own (its webhook, channel, `on` and `mention_on`); the job's story is read once, before
//! the routes, and recorded once, after them.

use anyhow::Result;

use crate::config::{Config, Route};
use crate::error;
use crate::pipeline::build::{
    handle_story, passes, read_story, record_story, Ctx, OpenStore, Settings, Store,
};
use crate::pipeline::output::{print_stderr_line, print_stdout_line, Handled, Outcome, Status};
use crate::pipeline::story;
use crate::secret::{scrub_hook_ids, Sources};

/// The contexts events are routed through.
pub(crate) struct Routing {
    routes: Vec<(Route, Ctx<'static>)>,
    /// Where an event that matches no route goes: the config's `default_webhook`, else
    /// the usual sources; `None` when there is neither.
    default: Option<(Option<String>, Ctx<'static>)>,
}

/// A route's context, with settings of its own: the command's, with the route's webhook,
/// channel, `on` and mention gate (freed with the routing a SIGHUP replaces).
fn child(settings: Settings, open_store: OpenStore) -> Result<Ctx<'static>> {
    let mut ctx = Ctx::owned(settings, open_store)?;
    ctx.records_history = false;
    Ok(ctx)
}

/// The routing of a command that gave no webhook on its command line.
pub(crate) fn setup(base: &Settings, config: &Config, open_store: OpenStore) -> Result<Routing> {
    let named = |name: &str| Sources {
        file: None,
        name: Some(name.to_string()),
        secrets_dir: base.webhook.secrets_dir.clone(),
        env_url: None,
    };
    let mut routes = Vec::new();
    for r in &config.routes {
        let mut s = base.clone();
        s.webhook = named(&r.webhook);
        if r.channel.is_some() {
            s.route.channel.clone_from(&r.channel);
        }
        // The top context applied --on already; the route adds its own.
        s.on.clone_from(&r.on);
        s.remind_every = None;
        s.mention_on = base
            .mention_on
            .clone()
            .or_else(|| Some(config.mention_on(Some(r))));
        routes.push((r.clone(), child(s, open_store)?));
    }
    let default = match &config.default_webhook {
        Some(name) => {
            let mut s = base.clone();
            s.webhook = named(name);
            s.on = None;
            s.remind_every = None;
            Some((Some(name.clone()), child(s, open_store)?))
        }
        None if base.webhook.select().is_ok() => {
            let mut s = base.clone();
            s.on = None;
            s.remind_every = None;
            Some((None, child(s, open_store)?))
        }
        None => None,
    };
    Ok(Routing { routes, default })
}

impl Routing {
    fn contexts_mut(&mut self) -> impl Iterator<Item = &mut Ctx<'static>> {
        let routes = self.routes.iter_mut().map(|(_, c)| c);
        routes.chain(self.default.iter_mut().map(|(_, c)| c))
    }

    /// Time the routes' posts spent waiting for the rate budget or a 429 pause.
    pub(crate) fn rate_limited(&self) -> std::time::Duration {
        let routes = self.routes.iter().map(|(_, c)| c);
        routes
            .chain(self.default.iter().map(|(_, c)| c))
            .map(Ctx::rate_limited)
            .sum()
    }

    /// Reads each webhook the routes and the default name, now, with the command's
    /// pacing (a gateway's: at start, and when a SIGHUP reads the config again). A
    /// webhook that cannot be read is exit 3 at start, and refuses a reloaded config
    /// whole (the old one stays), rather than stopping the gateway (exit 3) at that
    /// route's next event, with the entry left pending for the next gateway to stop on.
    pub(crate) fn connect(&mut self, top: &Ctx) -> Result<()> {
        share_store(top, self);
        for c in self.contexts_mut() {
            if c.args.bot.is_given() {
                // The bot posts (in the route's channel): the webhook is never read.
                continue;
            }
            if c.args.dry_run {
                c.args.webhook.resolve()?;
            } else {
                c.connect_webhook()?;
            }
        }
        Ok(())
    }
}

/// One event through its routes: one outcome per route; the most severe is returned
/// (its error decides the exit code), the others are printed here (`--output json`: one
/// object each, with `route`; text: an error line for each failed one).
pub(crate) fn handle(ctx: &mut Ctx, ev: &crate::build_event::event::ValidEvent) -> Result<Handled> {
    let story = read_story(ctx, ev)?;
    let filtered = |why: &str| {
        story::mark(
            Outcome::new(Status::Filtered)
                .with("event", ev.to_json())
                .with("reason", why),
            story.as_ref(),
        )
    };
    if !passes(&ctx.args, ev, story.as_ref()) {
        if !ctx.args.dry_run {
            record_story(ctx, ev, story.as_ref());
        }
        return Ok((filtered("--on"), None));
    }
    let Some(mut routing) = ctx.routing.take() else {
        unreachable!("called for a routed context")
    };
    share_store(ctx, &mut routing);
    let job = story::job_of(ev);
    let mut results: Vec<Handled> = Vec::new();
    let mut matched = false;
    let mut run = |name: Option<&str>, c: &mut Ctx<'static>| -> Result<()> {
        let (outcome, err) = handle_story(c, ev, story.as_ref())?;
        let outcome = story::mark(outcome, story.as_ref()).with("route", name);
        results.push((outcome, err));
        Ok(())
    };
    let mut result = Ok(());
    for (route, c) in &mut routing.routes {
        if route.matches(&job) {
            matched = true;
            result = result.and_then(|()| run(Some(&route.webhook), c));
        }
    }
    if !matched {
        if let Some((name, c)) = &mut routing.default {
            result = result.and_then(|()| run(name.as_deref(), c));
        }
    }
    ctx.routing = Some(routing);
    result?;
    if results.is_empty() {
        ctx.printer
            .info("no route matched and no default webhook: not posted");
        if !ctx.args.dry_run {
            record_story(ctx, ev, story.as_ref());
        }
        return Ok((filtered("no route matched"), None));
    }
    // Final for the history when any route's outcome is: posted, filtered, refused.
    let is_final = |(o, _): &Handled| {
        o.status == Status::Posted
            || o.status == Status::Filtered
            || (o.status == Status::Failed
                && o.http_status
                    .is_some_and(|c| (400..500).contains(&c) && c != 429))
    };
    if !ctx.args.dry_run && results.iter().any(is_final) {
        record_story(ctx, ev, story.as_ref());
    }
    Ok(most_severe(ctx, results))
}

/// The routes deduplicate and record in the command's store (the gateway's shared one,
/// or the state directory's), opened once.
fn share_store(ctx: &Ctx, routing: &mut Routing) {
    for c in routing.contexts_mut() {
        // The routes post as the command does: in a gateway never to the spool (the
        // stream is its spool: a spooled entry would also stay pending), waiting for the
        // fleet's budget in the queue's Redis as long as it takes, until a stop. The
        // pacing counts until a route's first post, which sets its pace up from it.
        c.spool = ctx.spool;
        if c.pace.is_none() {
            c.pacing = ctx.pacing.clone();
        }
        if let Store::Open(store) = &ctx.dedupe {
            if matches!(c.dedupe, Store::NotOpened) {
                c.dedupe = Store::Open(std::sync::Arc::clone(store));
                c.store_ref.clone_from(&ctx.store_ref);
            }
        }
    }
}

/// The most severe of the routes' outcomes, returned (its error decides the exit code);
/// the others are printed here.
fn most_severe(ctx: &Ctx, mut results: Vec<Handled>) -> Handled {
    let severity = |(_, e): &Handled| e.as_ref().map_or(0, |e| error::exit_kind(e).severity());
    let worst = (0..results.len())
        .max_by_key(|&i| (severity(&results[i]), i))
        .unwrap_or_default();
    let kept = results.remove(worst);
    for (mut outcome, err) in results {
        if ctx.printer.json {
            outcome.exit_code = Some(err.as_ref().map_or(0, |e| error::exit_kind(e).code()));
            if let Some(e) = &err {
                outcome.message = Some(scrub_hook_ids(&format!("{e:#}")).into_owned());
            }
            print_stdout_line(&outcome.to_json().to_string());
        } else if let Some(e) = err {
            print_stderr_line(&format!("mmnotify: error: {e:#}"));
        }
    }
    kept
}
