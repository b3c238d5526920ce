//! Both ends of the run socket's posting: the parent (`run`) posts what the job hands
//! over, with its own secret, delivery settings, spool and dedupe store; the inner
//! `send`/`build` hands its payload over and exits as it would have after posting itself.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::cli::{DeliveryArgs, StateArgs, WebhookArgs};
use crate::error::{self, ExitKind};
use crate::pipeline::notify::{self, Notifier, SpoolPlan};
use crate::pipeline::output::{Outcome, Printer, Status};
use crate::secret::Sources;
use crate::state::dedupe::{self, Claim};
use crate::state::spool::SpoolKind;
use crate::task::socket::{self, DedupeRequest, Request, Response};
use crate::wire::deliver;
use crate::wire::payload;

/// The parent's side: everything it needs to post on a job's behalf.
pub(crate) struct Relay {
    /// The parent's own webhook, or why it has none.
    pub default: std::result::Result<Arc<Notifier>, (ExitKind, String)>,
    pub webhook: WebhookArgs,
    pub delivery: DeliveryArgs,
    pub state: StateArgs,
    pub printer: Printer,
    /// `run --dry-run`: nothing is sent, the job's posts included.
    pub dry_run: bool,
}

impl Relay {
    pub(crate) fn handle(&self, req: Request) -> Response {
        let kind = match req.kind.as_str() {
            "send" => SpoolKind::Send,
            "build" => SpoolKind::Build,
            _ => return Response::failure(4, "bad run-socket request: unknown kind"),
        };
        let Value::Object(obj) = &req.payload else {
            return Response::failure(4, "bad run-socket request: the payload is not an object");
        };
        // The peer is our own user but not our own code: check the payload as the inner
        // command did, bounded by what the socket takes.
        let body = match payload::validate(obj, socket::MAX_LINE) {
            Ok(b) => b,
            Err(e) => return failure(&e),
        };
        if self.dry_run {
            return Response {
                code: 0,
                outcome: Outcome::new(Status::DryRun)
                    .with("payload", req.payload.clone())
                    .to_json(),
                error: None,
            };
        }
        let notifier = match self.notifier(req.webhook.as_deref()) {
            Ok(n) => n,
            Err(e) => return failure(&e),
        };
        let channel = obj.get("channel").and_then(Value::as_str);
        let plan = SpoolPlan {
            state_dir: self.state.state_dir.state_dir.clone(),
            enabled: !self.state.no_spool && req.spool,
            kind,
            store: None,
        };
        let result = match &req.dedupe {
            Some(d) => self.post_once(&notifier, d, &req.payload, &body, channel, &plan),
            None => Ok(notifier.post(&req.payload, &body, channel, &plan, None)),
        };
        match result {
            Ok((outcome, None)) => Response {
                code: 0,
                outcome: outcome.to_json(),
                error: None,
            },
            Ok((outcome, Some(e))) => Response {
                code: error::exit_kind(&e).code(),
                outcome: outcome.to_json(),
                error: Some(format!("{e:#}")),
            },
            Err(e) => failure(&e),
        }
    }

    fn notifier(&self, name: Option<&str>) -> Result<Arc<Notifier>> {
        let Some(name) = name else {
            return self.default.clone().map_err(|(kind, why)| {
                error::fail(
                    kind,
                    format!("the `mmnotify run` around this job has no webhook: {why}"),
                )
            });
        };
        // Resolved in the parent's secrets directory: the job may not even read it.
        let sources = Sources {
            name: Some(name.to_string()),
            secrets_dir: self.webhook.secrets_dir.path().to_path_buf(),
            ..Sources::default()
        };
        let (url, source) = sources.resolve()?;
        Ok(Arc::new(Notifier::with_url(
            url,
            source,
            &deliver::Settings::from(&self.delivery),
            self.printer,
        )?))
    }

    /// `build`'s deduplication, done here because the parent owns the state directory.
    fn post_once(
        &self,
        notifier: &Notifier,
        d: &DedupeRequest,
        payload: &Value,
        body: &[u8],
        channel: Option<&str>,
        plan: &SpoolPlan,
    ) -> Result<(Outcome, Option<anyhow::Error>)> {
        let ttl = Duration::from_millis(d.ttl_ms);
        let Some(store) = notify::open_dedupe(&self.printer, self.state.state_dir.path(), ttl)?
        else {
            return Ok(notifier.post(payload, body, channel, plan, None));
        };
        let key = dedupe::key(notifier.url.expose(), &d.run_id, &d.state);
        let guard = match store.claim(&key, notifier.deliverer.policy().budget) {
            Ok(Claim::Duplicate) => {
                let mut o = Outcome::new(Status::Duplicate);
                o.target = Some(notifier.url.redacted());
                return Ok((o, None));
            }
            Ok(Claim::Acquired(g)) => g,
            Err(e) => {
                notify::warn_undeduplicated(&self.printer, "", &e);
                return Ok(notifier.post(payload, body, channel, plan, Some(key.as_str())));
            }
        };
        let (outcome, err) = notifier.post(payload, body, channel, plan, Some(key.as_str()));
        if err.is_none() {
            notify::record_delivered(&self.printer, "", guard);
        }
        Ok((outcome, err))
    }
}

fn failure(e: &anyhow::Error) -> Response {
    Response::failure(error::exit_kind(e).code(), format!("{e:#}"))
}
