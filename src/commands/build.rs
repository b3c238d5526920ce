//! `mmnotify build`: one honest post per run and state, whichever node reported it and
//! however often. Single events come from flags, `--event` and the CI environment;
//! `--events` consumes a newline-delimited stream over one connection; `--consume` takes
//! them from the gateway's queue. Each goes through [`crate::pipeline::build`].

use anyhow::Result;

use crate::build_event::ci;
use crate::build_event::event::BuildEvent;
use crate::cli::BuildArgs;
use crate::error;
use crate::gateway;
use crate::gateway::consumer::Gateway;
use crate::pipeline::build::{self, Ctx, Settings, Store, MAX_EVENT_BYTES};
use crate::pipeline::enqueue;
use crate::pipeline::notify;
use crate::pipeline::output::Ending;
use crate::pipeline::output::Printer;
use crate::pipeline::routes;
use crate::story::mention::Username;
use crate::wire::payload;

pub(crate) fn run(args: BuildArgs, config: Option<&std::path::Path>) -> Result<Ending> {
    if args.gateway.consume {
        // Before anything that can take time: a reload while starting must not end it.
        gateway::consumer::catch_reload();
    }
    for user in &args.mention {
        user.parse::<Username>()
            .map_err(|e| error::fail(error::ExitKind::Usage, format!("--mention {user:?}: {e}")))?;
    }
    let mut settings = build::Settings::from(&args);
    settings.config = super::config_file::find(config)?.map(std::sync::Arc::new);
    let mut ctx = Ctx::new(&settings, open_store)?;
    if let Some(config) = settings
        .config
        .as_ref()
        .filter(|_| !webhook_on_command_line(&args.common.webhook))
    {
        if !config.routes.is_empty() || config.default_webhook.is_some() {
            ctx.routing = Some(Box::new(routes::setup(&settings, config, open_store)?));
        }
    }
    if args.gateway.consume {
        let mut gateway = Gateway::from(&args.gateway);
        gateway.reload.config = config.map(std::path::Path::to_path_buf);
        gateway.reload.routed = !webhook_on_command_line(&args.common.webhook);
        return Ok(Ending::printed(gateway::consumer::run(&mut ctx, &gateway)));
    }
    if let Some(path) = &args.events {
        return Ok(Ending::printed(build::run_stream(&mut ctx, path)));
    }
    let flags = BuildEvent::from(&args.event);
    let from_file = match &args.event_file {
        Some(path) => {
            let text = read_event_file(path)?;
            BuildEvent::from_json(&text)?
        }
        None => BuildEvent::default(),
    };
    let from_env = if args.no_env {
        BuildEvent::default()
    } else {
        ci::detect(&|k| std::env::var(k).ok())
            .map(|info| {
                ctx.printer
                    .info(&format!("filling missing fields from {}", info.provider));
                info.event
            })
            .unwrap_or_default()
    };
    let event = build::with_default_node(flags.overlay(from_file).overlay(from_env)).validate()?;
    if args.gateway.enqueue {
        // Exactly the checks a post would make, so that a gateway never meets a bad one.
        build::render(&ctx, &event)?;
        return enqueue::enqueue_one(&ctx, &event);
    }
    Ok(build::handle(&mut ctx, &event)?.into())
}

/// `--webhook` or `--webhook-file` typed on the command line (not their environment
/// fallbacks, which are the default webhook's usual sources): the routes are bypassed.
pub(super) fn webhook_on_command_line(w: &crate::cli::WebhookArgs) -> bool {
    let typed = |value: Option<&std::ffi::OsStr>, var: &str| {
        value.is_some() && std::env::var_os(var).as_deref() != value
    };
    typed(
        w.webhook_file.as_deref().map(std::path::Path::as_os_str),
        "MMNOTIFY_WEBHOOK_FILE",
    ) || typed(
        w.webhook.as_deref().map(std::ffi::OsStr::new),
        "MMNOTIFY_WEBHOOK",
    )
}

fn read_event_file(path: &std::path::Path) -> Result<String> {
    if path.as_os_str() == "-" {
        payload::read_text_bounded(std::io::stdin().lock(), MAX_EVENT_BYTES, "event on stdin")
    } else {
        let f = std::fs::File::open(path)
            .map_err(|e| error::input(format!("cannot read event file {}: {e}", path.display())))?;
        payload::read_text_bounded(
            f,
            MAX_EVENT_BYTES,
            &format!("event file {}", path.display()),
        )
    }
}

/// The shared Redis store when one is given, else the file store in the state
/// directory (or none when that cannot be written).
fn open_store(args: &Settings, printer: &Printer) -> Result<(Store, Option<String>)> {
    if let Some((store, source)) = enqueue::shared_store(args, printer)? {
        return Ok((
            Store::Open(std::sync::Arc::new(store)),
            Some(source.spool_ref()),
        ));
    }
    let store = match notify::open_dedupe(printer, args.state_dir.as_deref(), args.dedupe_ttl)? {
        Some(store) => Store::Open(std::sync::Arc::new(store)),
        None => Store::Unusable,
    };
    Ok((store, None))
}
