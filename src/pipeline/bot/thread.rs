//! Threads for a broken job (contract: "Bot account", "Threads for a broken job"): while a
//! job is broken (its last terminal run failed), a new run's post is a reply in the
//! thread of the post that broke it; the run that fixes it also posts in the channel, and
//! the breaking post is patched to say it was fixed, and by which run.
//!
//! The store keeps the breaking post per job, in the run-post record under a key of the
//! bot's channel and the job, with a digest of the breaking run's key and when the
//! failure streak began: a record of an earlier streak (the job was fixed and broken
//! again where no bot saw it) is not the thread of this one. As for a run's post, a
//! recorded id is read before it is used: it must be the bot's own live root post in this
//! channel, carrying the breaking run's key. Anything else (deleted, forged, crossed), and
//! the run posts in the channel as if the job were not broken: nothing it says is false.

use crate::build_event::event::ValidEvent;
use crate::pipeline::build::{Ctx, Store};
use crate::pipeline::story::{self, Story};
use crate::state::dedupe::{self, Claim, DedupeKey, RunPost};
use crate::story::history::{JobKey, JobRecord, StreakKind, Transition};
use crate::text::time::now_ms;
use crate::wire::rest::{Found, Patched, Want, RUN_POST};

use super::{Poster, CHANGE};

/// What the job's history says of an event, for its threads.
#[derive(Debug, Clone)]
pub(crate) struct JobStory {
    /// The job (`JobKey::id`).
    job: String,
    run_id: String,
    /// This event's transition (none for `running`).
    pub(crate) transition: Option<Transition>,
    /// While the job is broken: when its failure streak began.
    broken_since: Option<u64>,
    /// `fixed`: when the failure streak it ends began.
    fixed_since: Option<u64>,
    /// `broken`: this run's time, when the new failure streak begins.
    at_ms: u64,
}

/// The job's story for an event with a run id, read from the store's history (a history
/// that cannot be read costs the thread, not the post).
pub(crate) fn job_story(ctx: &Ctx, ev: &ValidEvent, story: Option<&Story>) -> Option<JobStory> {
    let Store::Open(dedupe) = &ctx.dedupe else {
        return None;
    };
    let job = story::job_of(ev).id();
    let ttl = u64::try_from(ctx.args.history_ttl.as_millis()).unwrap_or(u64::MAX);
    let broken_since = match dedupe.history(&job) {
        Ok(record) => record
            .as_deref()
            .and_then(JobRecord::from_json)
            .filter(|r| {
                r.streak_kind == StreakKind::Failure && now_ms().saturating_sub(r.updated_ms) <= ttl
            })
            .map(|r| r.streak_since_ms),
        Err(e) => {
            ctx.printer.warn(&format!(
                "cannot read the job's history, so the run posts in the channel: {e:#}"
            ));
            None
        }
    };
    let transition = story.map(|s| s.step.transition);
    Some(JobStory {
        job,
        run_id: ev.provider_run_id.clone()?,
        transition,
        broken_since,
        fixed_since: story
            .filter(|_| transition == Some(Transition::Fixed))
            .and_then(|s| s.step.since_ms),
        at_ms: story.map_or(0, |s| s.at_ms),
    })
}

/// Where the store keeps the breaking post of `job` for this bot and channel.
fn job_key(p: &Poster, job: &str) -> DedupeKey {
    dedupe::key(&p.conn.target, job, "\0broken")
}

/// The digest a job's record keeps of the breaking run's key.
fn run_digest(run_key: &str) -> String {
    dedupe::key("", run_key, "\0breaking-run")
        .as_str()
        .to_string()
}

/// The post whose thread the run's post goes in: the post that broke the job, while the
/// job is broken and the post is still there and ours. `None`: post in the channel.
pub(super) fn breaking_post(p: &Poster) -> anyhow::Result<Option<String>> {
    let (Some(job), Some(store)) = (&p.item.job, p.store) else {
        return Ok(None);
    };
    let Some(since) = job.broken_since else {
        return Ok(None);
    };
    let Some(record) = store.run_post(&job_key(p, &job.job))? else {
        return Ok(None);
    };
    let (Some(id), Some(run)) = (record.post_id, record.run) else {
        return Ok(None);
    };
    // Another streak's post, or this run's own (it broke the job itself).
    if record.rank != 1 || record.since_ms != Some(since) || run == run_digest(&p.item.run_key) {
        return Ok(None);
    }
    match read_breaking(p, &job.job, &id, &run)? {
        Found::Post(_) => Ok(Some(id)),
        Found::Gone => {
            p.printer.info(&format!(
                "the post that broke the job of run {} was deleted: posting in the channel",
                p.item.shown_key()
            ));
            Ok(None)
        }
        Found::Other => {
            p.printer.warn(&format!(
                "the store's record of the post that broke the job of run {} names a post \
                 that is not it: posting in the channel",
                p.item.shown_key()
            ));
            Ok(None)
        }
    }
}

/// The server refused a reply in the breaking post's thread (`e`): the post was deleted
/// after [`breaking_post`] read it. Said as a deletion found by the read is.
pub(super) fn root_gone(p: &Poster, e: &anyhow::Error) {
    p.printer.info(&format!(
        "the post that broke the job of run {} is gone ({e:#}): posting in the channel",
        p.item.shown_key()
    ));
}

/// `GET` of a recorded breaking post: the bot's own live root post in the channel whose
/// run key has the recorded digest, of this job (the digest is of a run key anyone can
/// compute, and another job's runs share its repository).
fn read_breaking(p: &Poster, job: &str, id: &str, run: &str) -> anyhow::Result<Found> {
    let is_run = |k: &str| run_digest(k) == run;
    let want = Want {
        root: "",
        run: &is_run,
        post: &[RUN_POST, CHANGE],
        state: None,
    };
    let found = p
        .bot()
        .read_post(id, &p.conn.channel, &p.conn.user_id, &want)?;
    Ok(match found {
        Found::Post(post) if job_of_post(&post).as_deref() != Some(job) => Found::Other,
        f => f,
    })
}

/// The job (`JobKey::id`) of a post of ours, from the event in its props.
fn job_of_post(post: &serde_json::Value) -> Option<String> {
    let ev = post.pointer("/props/mmnotify/event")?;
    let s = |k: &str| ev.get(k).and_then(serde_json::Value::as_str);
    Some(JobKey::new(s("repository"), s("workflow")?, s("branch")).id())
}

/// The run broke the job with `post_id` in the channel: the job's next runs reply in its
/// thread. A record that cannot be written costs the thread (the next runs post in the
/// channel), not this post.
pub(super) fn remember_breaking(p: &Poster, post_id: &str) {
    let (Some(job), Some(store)) = (&p.item.job, p.store) else {
        return;
    };
    let record = RunPost {
        run: Some(run_digest(&p.item.run_key)),
        since_ms: Some(job.at_ms),
        ..RunPost::at(Some(post_id), 1)
    };
    if let Err(e) = store.set_run_post(&job_key(p, &job.job), &record) {
        p.printer.warn(&format!(
            "cannot record the post that broke the job (its next runs post in the channel): \
             {e:#}"
        ));
    }
}

trait Unmarked {
    /// The post, unless it says it was fixed already (a record not written last time).
    fn filter_unmarked(self) -> Found;
}

impl Unmarked for Found {
    fn filter_unmarked(self) -> Found {
        match self {
            Found::Post(p) if p.pointer("/props/mmnotify/fixed_by").is_some() => Found::Other,
            f => f,
        }
    }
}

/// The run fixed the job: the post that broke it says so, and by which run (once; under
/// the job's claim, so that two processes never append it twice). The run's own posts
/// are made: a failure here is a warning, unless the event will be delivered again (a
/// gateway's entry) and another delivery may succeed (network, 408, 429, 502–504); then
/// it fails the event, whose next delivery finds the run's posts made and marks the post.
pub(super) fn mark_fixed(p: &Poster) -> anyhow::Result<()> {
    let Err(e) = try_mark_fixed(p) else {
        return Ok(());
    };
    let status = crate::error::answer_of(&e).and_then(|a| a.http_status);
    if p.item.redelivered && crate::wire::retry::curable(crate::error::exit_kind(&e), status) {
        return Err(e.context("marking the post that broke the job as fixed"));
    }
    p.printer.warn(&format!(
        "cannot mark the post that broke the job as fixed: {e:#}"
    ));
    Ok(())
}

fn try_mark_fixed(p: &Poster) -> anyhow::Result<()> {
    let (Some(job), Some(store)) = (&p.item.job, p.store) else {
        return Ok(());
    };
    let Some(since) = job.fixed_since else {
        return Ok(());
    };
    let key = job_key(p, &job.job);
    let budget = p.conn.deliverer.policy().budget;
    // Taken, never marked delivered, released when dropped.
    let _guard = match store.claim(&dedupe::key(&p.conn.target, &job.job, "\0job"), budget)? {
        Claim::Acquired(g) => Some(g),
        Claim::Duplicate => None,
    };
    let Some(record) = store.run_post(&key)? else {
        return Ok(());
    };
    let (Some(id), Some(run)) = (record.post_id.clone(), record.run.clone()) else {
        return Ok(());
    };
    // The breaking run's own post (a re-run fixed it) says so itself.
    if record.rank != 1 || record.since_ms != Some(since) || run == run_digest(&p.item.run_key) {
        return Ok(());
    }
    let found = read_breaking(p, &job.job, &id, &run)?;
    if let Found::Post(post) = found.filter_unmarked() {
        let fixed_by = format!(
            "fixed by run {}",
            crate::text::markdown::escape(&job.run_id)
        );
        let message = post
            .get("message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let mut props = post
            .get("props")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        if let Some(mm) = props.get_mut("mmnotify").and_then(|v| v.as_object_mut()) {
            mm.insert("fixed_by".into(), p.item.run_key.clone().into());
        }
        let patch = serde_json::json!({
            "message": format!("{message} · {fixed_by}"),
            "props": props,
        });
        // Gone: deleted meanwhile, nothing to say it on.
        let _: Patched = p.bot().patch(&id, &patch, &p.conn.channel)?;
    }
    store.set_run_post(&key, &RunPost { rank: 2, ..record })?;
    Ok(())
}
