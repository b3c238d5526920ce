//! The inner side of the run socket: a `send` or `build` inside a `run` job hands its
//! payload to the parent (which holds the webhook) instead of posting it.

use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::error::{self, ExitKind};
use crate::gateway::store::SharedStore;
use crate::gateway::url::{RedisSources, Role};
use crate::pipeline::output::{Handled, Outcome, Printer};
use crate::secret::Sources;
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
    }
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
