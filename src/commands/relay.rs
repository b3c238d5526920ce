//! Both ends of the run socket's posting: the parent (`run`) posts what the job hands
//! over, with its own secret, proxy and TLS settings and spool, within the job's own
//! budget, deduplicated in the store the job names (else its own); the inner
//! `send`/`build` hands its payload over and exits as it would have after posting itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::build_event::event::State;
use crate::cli::{DeliveryArgs, StateArgs, WebhookArgs};
use crate::error::{self, ExitKind};
use crate::gateway::client::Redis;
use crate::gateway::store::RedisStore;
use crate::gateway::url::{RedisSource, RedisSources, RedisUrl, Role};
use crate::pipeline::notify::{self, Notifier, SpoolPlan};
use crate::pipeline::output::{Outcome, Printer, Status};
use crate::pipeline::story;
use crate::secret::Sources;
use crate::state::dedupe::{self, Claim, DedupeStore};
use crate::state::spool::SpoolKind;
use crate::story::history::RunNote;
use crate::task::socket::{self, Budget, DedupeRequest, Request, Response};
use crate::wire::deliver::{self, Policy};
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
        if matches!(req.kind.as_str(), "story" | "record") {
            return self.history(&req);
        }
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
            history: None,
        };
        let post = Post {
            notifier: &notifier,
            policy: policy(req.budget, &deliver::Settings::from(&self.delivery)),
            payload: &req.payload,
            body: &body,
            channel,
        };
        let result = match &req.dedupe {
            Some(d) => match note_of(&req) {
                Ok(note) => self.post_once(&post, d, plan, note),
                Err(refused) => return refused,
            },
            None => Ok(post.send(&plan, None)),
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

    /// `build`'s deduplication, done here because the parent holds the webhook URL the
    /// key is made from. The store is the one the job's command named, else the shared
    /// store of the `run` itself (`MMNOTIFY_DEDUPE_STORE[_FILE]`), else its state
    /// directory: never less than the job asked for.
    fn post_once(
        &self,
        post: &Post,
        d: &DedupeRequest,
        mut plan: SpoolPlan,
        note: Option<RunNote>,
    ) -> Result<(Outcome, Option<anyhow::Error>)> {
        let Some((store, source)) = self.store_for(d, &post.policy)? else {
            return Ok(post.send(&plan, None));
        };
        plan.store = source;
        // A spooled post records its run when `flush` posts it, in this same store.
        plan.history.clone_from(&note);
        let (outcome, err) = self.claim_and_post(post, d, &plan, store.as_ref())?;
        if let Some(note) = note.filter(|_| outcome.is_final()) {
            story::record(store.as_ref(), &note, &self.printer, "");
        }
        Ok((outcome, err))
    }

    /// The store a relayed build deduplicates in (and keeps its job's history in), and
    /// its spool reference when it is a shared one. `None`: no usable local store.
    fn store_for(&self, d: &DedupeRequest, policy: &Policy) -> Result<Option<StoreFor>> {
        let ttl = Duration::from_millis(d.ttl_ms);
        Ok(match self.shared_store(d, policy, ttl)? {
            Some((store, source)) => Some((Box::new(store), Some(source))),
            None => notify::open_dedupe(&self.printer, self.state.state_dir.path(), ttl)?
                .map(|store| (Box::new(store) as Box<dyn DedupeStore>, None)),
        })
    }

    /// A relayed build's `story` (the job's record, handed to the job, which tells the
    /// story as a direct `build` would) or `record` (a run the job filtered: final).
    fn history(&self, req: &Request) -> Response {
        let note = match note_of(req) {
            Ok(note) => note,
            Err(refused) => return refused,
        };
        let (Some(d), Some(note)) = (&req.dedupe, note) else {
            return Response::failure(
                4,
                "bad run-socket request: a history request needs its run and store",
            );
        };
        let policy = policy(req.budget, &deliver::Settings::from(&self.delivery));
        let store = match self.store_for(d, &policy) {
            Ok(Some((store, _))) => store,
            Ok(None) => return answer(serde_json::json!({"status": "ok"})),
            Err(e) => return failure(&e),
        };
        if req.kind == "record" {
            // `run --dry-run` changes nothing, the history included.
            if !self.dry_run {
                story::record(store.as_ref(), &note, &self.printer, "");
            }
            return answer(serde_json::json!({"status": "ok"}));
        }
        match store.history(&note.job().id()) {
            Ok(record) => answer(serde_json::json!({"status": "ok", "record": record})),
            Err(e) => failure(&e),
        }
    }

    /// Claims the run's key in `store`, then posts (or keeps the post for `flush` while
    /// a shared store is away).
    fn claim_and_post(
        &self,
        post: &Post,
        d: &DedupeRequest,
        plan: &SpoolPlan,
        store: &dyn DedupeStore,
    ) -> Result<(Outcome, Option<anyhow::Error>)> {
        let notifier = post.notifier;
        let key = dedupe::key(notifier.url.expose(), &d.run_id, &d.state);
        let guard = match store.claim(&key, post.policy.budget) {
            Ok(Claim::Duplicate) => {
                let mut o = Outcome::new(Status::Duplicate);
                o.target = Some(notifier.url.redacted());
                return Ok((o, None));
            }
            Ok(Claim::Acquired(g)) => g,
            // A shared store that cannot be reached: never post blind, another host may
            // be posting it; keep it for `flush`, as a plain `build` does.
            Err(e) if plan.store.is_some() => {
                if error::exit_kind(&e) != ExitKind::Network {
                    return Err(e);
                }
                let message = format!(
                    "{e:#}; not posted, since without the shared dedupe store another host \
                     may post it too"
                );
                let (outcome, err) =
                    notifier.keep(post.payload, plan, Some(key.as_str()), &message);
                return Ok((outcome, Some(err)));
            }
            Err(e) => {
                notify::warn_undeduplicated(&self.printer, "", &e);
                return Ok(post.send(plan, Some(key.as_str())));
            }
        };
        if guard.stolen() {
            self.printer
                .warn("another process has held this run's claim past its budget; posting anyway");
        }
        let (outcome, err) = post.send(plan, Some(key.as_str()));
        if err.is_none() {
            notify::record_delivered(&self.printer, "", guard);
        }
        Ok((outcome, err))
    }

    /// The shared store for a relayed build and its spool reference, if there is one.
    fn shared_store(
        &self,
        d: &DedupeRequest,
        policy: &Policy,
        ttl: Duration,
    ) -> Result<Option<(RedisStore, String)>> {
        let found = match &d.store {
            Some(s) if !RedisSource::is_spool_ref(&s.source) => {
                return Err(error::input(
                    "bad run-socket request: the dedupe store's source must be file:PATH, \
                     env or flag",
                ));
            }
            Some(s) => Some((RedisUrl::parse(&s.url)?, s.source.clone())),
            None => RedisSources::new(
                Role::Store,
                std::env::var_os("MMNOTIFY_DEDUPE_STORE_FILE")
                    .filter(|v| !v.is_empty())
                    .map(std::path::PathBuf::from),
                None,
            )
            .resolve(Role::Store)?
            .map(|(url, source)| (url, RedisSource::spool_ref(&source))),
        };
        let Some((url, source)) = found else {
            return Ok(None);
        };
        self.printer
            .info(&format!("dedupe store {url} for the job's build"));
        let mut delivery = deliver::Settings::from(&self.delivery);
        delivery.timeout = policy.budget;
        delivery.attempt_timeout = policy.attempt_timeout;
        let redis = Redis::new(url, &delivery)?;
        Ok(Some((
            RedisStore::new(Arc::new(Mutex::new(redis)), ttl),
            source,
        )))
    }
}

/// The store a relayed build uses, and its spool reference when it is a shared one.
type StoreFor = (Box<dyn DedupeStore>, Option<String>);

/// One post the parent makes for its job, with the job's budget.
struct Post<'a> {
    notifier: &'a Notifier,
    policy: Policy,
    payload: &'a Value,
    body: &'a [u8],
    channel: Option<&'a str>,
}

impl Post<'_> {
    fn send(&self, plan: &SpoolPlan, key: Option<&str>) -> (Outcome, Option<anyhow::Error>) {
        self.notifier.post_within(
            &self.policy,
            self.payload,
            self.body,
            self.channel,
            plan,
            key,
        )
    }
}

/// The job's budget, never more than the parent's own (`run --timeout`,
/// `--attempt-timeout`, `--retries`): a job may ask for less (an inner `send --timeout
/// 2s`), but a peer is our own user, not necessarily our own code, and a larger budget
/// would keep `run` alive past `--max-runtime` for as long as the job asked.
fn policy(b: Budget, parent: &deliver::Settings) -> Policy {
    let bound = |ms: u64, max: Duration| Duration::from_millis(ms.max(1)).min(max);
    Policy {
        budget: bound(b.timeout_ms, parent.timeout),
        attempt_timeout: bound(b.attempt_timeout_ms, parent.attempt_timeout),
        retries: b.retries.min(parent.retries),
    }
}

/// The run a relayed build hands over for its job's history: `None` without one, an
/// error answer (exit 4) for one that is not the run the request claims. The job is our
/// own user but not our own code: without this, it could write the history of any run
/// in the parent's store (which it cannot reach itself), a `running` event counting as
/// a success there.
fn note_of(req: &Request) -> Result<Option<RunNote>, Response> {
    let bad = |why: &str| Response::failure(4, format!("bad run-socket request: {why}"));
    let Some(value) = req.history.clone() else {
        return Ok(None);
    };
    let note: RunNote =
        serde_json::from_value(value).map_err(|_| bad("the history note is not a run of a job"))?;
    let Some(d) = &req.dedupe else {
        return Err(bad("a history note needs the run it deduplicates"));
    };
    if note.run_id != d.run_id || note.state.as_str() != d.state {
        return Err(bad("the history note names another run than the request"));
    }
    if note.state == State::Running {
        return Err(bad("a running event never joins its job's history"));
    }
    Ok(Some(note))
}

fn answer(outcome: Value) -> Response {
    Response {
        code: 0,
        outcome,
        error: None,
    }
}

fn failure(e: &anyhow::Error) -> Response {
    Response::failure(error::exit_kind(e).code(), format!("{e:#}"))
}
