//! The inner side of the run socket: a `send` or `build` inside a `run` job hands its
//! payload to the parent (which holds the webhook) instead of posting it.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::build_event::event::{State, ValidEvent};
use crate::error::{self, ExitKind};
use crate::gateway::store::SharedStore;
use crate::gateway::url::{RedisSources, Role};
use crate::pipeline::build::Settings;
use crate::pipeline::output::{Handled, Outcome, Printer};
use crate::pipeline::story::{self, Story};
use crate::secret::Sources;
use crate::story::history::RunNote;
use crate::task::socket::{self, Budget, DedupeRequest, Request, StoreRequest};
use crate::wire::deliver;

/// The socket an inner `send`/`build` should post through: inside a `run` job, unless
/// the command names its own secrets file.
pub(crate) fn socket_for(webhook: &Sources) -> Option<std::path::PathBuf> {
    if webhook.file.is_some() {
        return None;
    }
    socket::from_env()
}

/// What an inner `send`/`build` hands over: its payload, its `--webhook NAME` if any,
/// its budget, whether it may be spooled, and (for `build`) what to deduplicate on.
pub(crate) fn request(
    kind: &str,
    webhook: &Sources,
    delivery: &deliver::Settings,
    payload: &Value,
    spool: bool,
    dedupe: Option<DedupeRequest>,
) -> Request {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Request {
        v: socket::VERSION,
        kind: kind.to_string(),
        webhook: webhook.name.clone(),
        payload: payload.clone(),
        spool,
        dedupe,
        budget: Budget {
            timeout_ms: ms(delivery.timeout),
            attempt_timeout_ms: ms(delivery.attempt_timeout),
            retries: delivery.retries,
        },
        history: None,
    }
}

/// What the parent deduplicates a relayed build's run on, and in which store; the
/// job's history lives in the same store.
pub(crate) fn dedupe_request(args: &Settings, run_id: &str, state: State) -> Result<DedupeRequest> {
    Ok(DedupeRequest {
        run_id: run_id.to_string(),
        state: state.as_str().to_string(),
        ttl_ms: u64::try_from(args.dedupe_ttl.as_millis()).unwrap_or(u64::MAX),
        store: store_request(&args.store)?,
    })
}

/// A `story` or `record` request: the parent reads the job's record, or records the
/// run, in the store it would deduplicate the run in.
fn history_request(args: &Settings, kind: &str, note: &RunNote) -> Result<Request> {
    let mut req = request(
        kind,
        &args.webhook,
        &args.delivery,
        &Value::Null,
        false,
        Some(dedupe_request(args, &note.run_id, note.state)?),
    );
    req.history = Some(serde_json::to_value(note)?);
    Ok(req)
}

/// A relayed build's story: the parent (which holds the store) hands over the job's
/// record and the story is told here, as a direct `build` tells it. A parent that
/// cannot read it (or an older one) costs the story, not the post.
pub(crate) fn read_story(
    args: &Settings,
    printer: &Printer,
    ev: &ValidEvent,
    socket: &Path,
) -> Result<Option<Story>> {
    let first = story::peek(None, ev, args.history_ttl);
    let Some(note) = story::note(ev, &first, args.history_ttl) else {
        return Ok(None);
    };
    let req = history_request(args, "story", &note)?;
    match history_call(socket, &req, args.delivery.timeout) {
        Ok(answer) => {
            let record = answer.get("record").and_then(Value::as_str);
            Ok(Some(story::peek(record, ev, args.history_ttl)))
        }
        Err(e) => {
            printer.warn(&format!(
                "cannot read the job's history through the run socket, so the post says \
                 nothing of what changed: {e:#}"
            ));
            Ok(None)
        }
    }
}

/// Sends a `story` or `record` request; the parent's answer (its `outcome` object).
fn history_call(socket: &Path, req: &Request, timeout: Duration) -> Result<Value> {
    // The parent may first connect to the job's shared store within the job's budget.
    let wait = timeout.max(Duration::from_secs(5)) + Duration::from_secs(5);
    let response = socket::call(socket, req, wait)
        .map_err(|e| error::fail(ExitKind::Network, format!("{}: {e}", socket.display())))?;
    if response.code != 0 {
        return Err(error::fail(
            ExitKind::from_code(response.code).unwrap_or(ExitKind::Internal),
            response
                .error
                .unwrap_or_else(|| format!("the parent answered exit {}", response.code)),
        ));
    }
    Ok(response.outcome)
}

/// A relayed build whose outcome is final here (filtered): the parent records the run.
pub(crate) fn record_story(
    args: &Settings,
    printer: &Printer,
    ev: &ValidEvent,
    story: &Story,
    socket: &Path,
) {
    if let Some(note) = story::note(ev, story, args.history_ttl) {
        record_note(args, printer, &note, socket);
    }
}

/// Has the parent record a run whose outcome is final (filtered here, or posted without
/// a claim under `--no-dedupe`, where the parent picks no store by itself).
pub(crate) fn record_note(args: &Settings, printer: &Printer, note: &RunNote, socket: &Path) {
    let result = history_request(args, "record", note)
        .and_then(|req| history_call(socket, &req, args.delivery.timeout));
    if let Err(e) = result {
        printer.warn(&format!(
            "cannot record the run in the job's history through the run socket (the next \
             post may misjudge what changed): {e:#}"
        ));
    }
}

/// The run a relayed build hands over with its post, recorded by the parent once the
/// post's outcome is final.
pub(crate) fn with_note(mut req: Request, note: Option<&RunNote>) -> Request {
    req.history = note.and_then(|n| serde_json::to_value(n).ok());
    req
}

/// The shared dedupe store an inner `build` names, handed to the parent with the URL in
/// full: the run socket serves only our own user, and the parent never prints it.
pub(crate) fn store_request(store: &SharedStore) -> Result<Option<StoreRequest>> {
    let sources = RedisSources::new(
        Role::Store,
        store.dedupe_store_file.clone(),
        store.dedupe_store.clone(),
    );
    Ok(sources
        .resolve(Role::Store)?
        .map(|(url, source)| StoreRequest {
            url: url.expose().to_string(),
            source: source.spool_ref(),
        }))
}

/// The inner side: hands the request to the parent and turns its answer into the
/// outcome and error this command would have had posting by itself.
pub(crate) fn post_via(
    path: &std::path::Path,
    request: &Request,
    timeout: Duration,
    printer: &Printer,
) -> Result<Handled> {
    // The parent posts within our --timeout, but a build may first wait for another
    // holder of its dedupe key (up to that holder's budget): wait generously, but not
    // forever for a parent that is stuck.
    let wait = timeout.max(Duration::from_secs(120)) + Duration::from_secs(30);
    let response = socket::call(path, request, wait).map_err(|e| {
        error::config(format!(
            "cannot post through the run socket {} ({}): the `mmnotify run` that offered it \
             has ended or does not answer; outside a job, unset {}",
            path.display(),
            e,
            socket::ENV_VAR
        ))
    })?;
    let outcome = Outcome::from_json(&response.outcome);
    printer.info(&format!(
        "handed to the `mmnotify run` around this job ({}): {}{}",
        path.display(),
        outcome.status.as_str(),
        outcome
            .http_status
            .map(|s| format!(", HTTP {s}"))
            .unwrap_or_default()
    ));
    if response.code == 0 {
        return Ok((outcome, None));
    }
    let kind = ExitKind::from_code(response.code).unwrap_or(ExitKind::Internal);
    let message = response
        .error
        .unwrap_or_else(|| format!("the parent mmnotify answered exit {}", response.code));
    Ok((outcome, Some(error::fail(kind, message))))
}
