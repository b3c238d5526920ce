//! Routing (contract: "Routing"): the config's `[[route]]` entries send each event to
//! every route that matches its job (each webhook deduplicated on its own), else to the
//! default webhook, else nowhere ("no route matched"). Each route has a context of its
//! own (its webhook, channel, `on` and `mention_on`); the job's story is read once, before
//! the routes, and recorded once, after them.

use anyhow::Result;

use crate::build_event::event::ValidEvent;
use crate::config::{Config, Route};
use crate::error::{self, ExitKind};
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
pub(crate) fn handle(ctx: &mut Ctx, ev: &ValidEvent) -> Result<Handled> {
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
    let mut run = |which: Which, c: &mut Ctx<'static>| -> Result<()> {
        let (outcome, err) = match handle_story(c, ev, story.as_ref()) {
            Ok(handled) => handled,
            Err(e) => unresolved(c, ev, which, e)?,
        };
        let outcome = story::mark(outcome, story.as_ref()).with("route", which.name());
        results.push((outcome, err));
        Ok(())
    };
    let mut result = Ok(());
    for (route, c) in &mut routing.routes {
        if route.matches(&job) {
            matched = true;
            result = result.and_then(|()| run(Which::Route(&route.webhook), c));
        }
    }
    if !matched {
        if let Some((name, c)) = &mut routing.default {
            result = result.and_then(|()| run(Which::Default(name.as_deref()), c));
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
    if !ctx.args.dry_run && results.iter().any(|(o, _)| o.is_final()) {
        record_story(ctx, ev, story.as_ref());
    }
    Ok(most_severe(ctx, results))
}

/// A route whose webhook cannot be resolved (its `NAME.url` missing, unreadable or
/// malformed) fails alone: its own failed outcome, exit 3 with the fix, while the other
/// routes go on. Any other error stops everything, as it did before the routes.
fn unresolved(c: &Ctx, ev: &ValidEvent, route: Which, e: anyhow::Error) -> Result<Handled> {
    // Asked again (a stat and a small read, on this error path only): the error may
    // come from something the routes share, such as a CA file, which stops everything.
    if error::exit_kind(&e) != ExitKind::Config || c.args.webhook.resolve().is_ok() {
        return Err(e);
    }
    let fix = match route {
        Which::Route(n) => format!("; create {n}.url in the secrets directory or fix the route"),
        Which::Default(Some(n)) => {
            format!("; create {n}.url in the secrets directory or fix default_webhook")
        }
        Which::Default(None) => String::new(),
    };
    let err = error::config(format!("{e:#}{fix}")).context(UnresolvedRoute(route.label()));
    let mut outcome = Outcome::new(Status::Failed).with("event", ev.to_json());
    outcome.message = Some(scrub_hook_ids(&format!("{err:#}")).into_owned());
    Ok((outcome, Some(err)))
}

/// Which of the routing's contexts an event went through.
#[derive(Clone, Copy)]
enum Which<'a> {
    /// A `[[route]]`, by its webhook NAME.
    Route(&'a str),
    /// The default: the config's `default_webhook`, else the usual sources.
    Default(Option<&'a str>),
}

impl Which<'_> {
    fn name(self) -> Option<String> {
        match self {
            Which::Route(n) | Which::Default(Some(n)) => Some(n.to_string()),
            Which::Default(None) => None,
        }
    }

    fn label(self) -> String {
        match self {
            Which::Route(n) => format!("route `{n}`"),
            Which::Default(Some(n)) => format!("default_webhook `{n}`"),
            Which::Default(None) => "the default webhook".to_string(),
        }
    }
}

/// Marks the error of a route whose webhook could not be resolved (shown as the route):
/// a gateway leaves its entry pending (the file may be back at the next delivery)
/// instead of stopping or dead-lettering it.
#[derive(Debug)]
struct UnresolvedRoute(String);

impl std::fmt::Display for UnresolvedRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the error is a route's unresolved webhook ([`UnresolvedRoute`]).
pub(crate) fn is_unresolved_route(e: &anyhow::Error) -> bool {
    e.downcast_ref::<UnresolvedRoute>().is_some()
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
