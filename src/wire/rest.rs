//! The bot account's REST calls (issue 18) and what their answers mean, as
//! `shared/mattermost-rest.md` says a real server answers: who the bot is, which channel
//! `TEAM/CHANNEL` or an id names, create, patch and read a post, and find a run's post
//! among a channel's recent ones. Exit codes: 401 and 403 are 43 with the fix ("add the
//! bot to ~channel"), 404 is 44, 400 is 40 with the server's error id, 429/5xx (after
//! retries) 6, no answer 5.

use anyhow::Result;
use serde_json::{json, Value};

use crate::error::{self, ExitKind};
use crate::secret::BotToken;
use crate::wire::deliver::{Deliverer, Method, RestFail, RestOk};
use crate::wire::diagnose::sanitize;

/// How many of a channel's newest posts are searched for a run's post (the API's
/// largest page).
const SEARCH_PER_PAGE: u32 = 200;
/// The page size a search falls back to when a page of 200 is too large to read.
const SMALL_PAGE: u32 = 20;
/// What the client reads of one answer, for messages.
const REST_BODY_LIMIT_MIB: u64 = crate::wire::deliver::REST_BODY_LIMIT >> 20;

/// A Mattermost id: 26 of `[a-z0-9]`. Anything else (a forged id in the store, a
/// hostile answer) never reaches a request path.
pub(crate) fn is_id(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A URL name (`dev-team`, `town-square`): what `RequireTeamName`/`RequireChannelName`
/// let through, and nothing that could change the request path.
fn is_url_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

/// The channel a bot posts in, resolved once per process.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub id: String,
    /// `~name` for messages.
    pub label: String,
}

/// A bot with its client: every call of one process goes through one agent.
pub(crate) struct Bot<'a> {
    pub deliverer: &'a Deliverer,
    pub token: &'a BotToken,
    /// When the event's `--timeout` budget ends: every request of the event shares it.
    pub deadline: std::time::Instant,
}

/// What a patch found.
#[derive(Debug)]
pub(crate) enum Patched {
    Done,
    /// The post is gone (deleted, or never existed): 403 to the patch, 404 to a GET.
    Gone,
}

/// What a create failed with, and whether the server may have created it anyway.
pub(crate) struct CreateFailed {
    pub error: anyhow::Error,
    pub maybe_created: bool,
    /// The server refused the reply's `root_id` (400: the root was deleted, or is not a
    /// root post of this channel): nothing was created.
    pub root_refused: bool,
}

impl Bot<'_> {
    /// `GET /users/me`: the bot's own user id (its posts are the only ones it trusts
    /// as a run's post). Proves the token before anything is posted.
    pub(crate) fn me(&self) -> Result<String> {
        let ok = self
            .call(Method::Get, "/users/me", None)
            .map_err(|f| self.fail(f, "checking the bot's token", None))?;
        let id = json_str(&ok.body, "id");
        if !is_id(&id) {
            return Err(error::fail(
                ExitKind::Http,
                "the server's answer to GET /api/v4/users/me holds no user id; is the URL in \
                 the bot file the Mattermost server's base URL?",
            ));
        }
        Ok(id)
    }

    /// `TEAM/CHANNEL` (URL names) or a 26-character channel id.
    pub(crate) fn resolve_channel(&self, spec: &str) -> Result<Channel> {
        let spec = spec.trim().trim_start_matches('~');
        if is_id(spec) {
            return self.channel_by_id(spec);
        }
        let Some((team, channel)) = spec.split_once('/') else {
            return Err(error::fail(
                ExitKind::Usage,
                "--channel with a bot takes TEAM/CHANNEL (the URL names, as in \
                 https://chat.example.com/TEAM/channels/CHANNEL) or a 26-character channel id",
            ));
        };
        if !is_url_name(team) || !is_url_name(channel) {
            return Err(error::fail(
                ExitKind::Usage,
                "--channel: TEAM and CHANNEL are URL names (lowercase letters, digits, - and \
                 _), as in the channel's link, not its display name",
            ));
        }
        self.channel_by_name(team, channel)
    }

    /// `GET /channels/{id}`: the channel's name for messages.
    fn channel_by_id(&self, spec: &str) -> Result<Channel> {
        let ok = self
            .call(Method::Get, &format!("/channels/{spec}"), None)
            .map_err(|f| {
                // The contract files an unknown channel id with 403 (what a create into it
                // answers): 43, with the fix.
                if let RestFail::Status {
                    status: 404, body, ..
                } = &f
                {
                    return error::fail(
                        ExitKind::Forbidden,
                        format!(
                            "channel id {spec} is unknown to the server or the bot cannot see \
                             it (HTTP 404{}): check the id and add the bot to the channel",
                            id_part(server_id(body, self.token).as_deref())
                        ),
                    );
                }
                self.fail(f, &format!("resolving channel {spec}"), Some(spec))
            })?;
        let name = sanitize(&json_str(&ok.body, "name"));
        Ok(Channel {
            id: spec.to_string(),
            label: if name.is_empty() {
                spec.to_string()
            } else {
                format!("~{name}")
            },
        })
    }

    /// `GET /teams/name/{team}/channels/name/{channel}`: its id.
    fn channel_by_name(&self, team: &str, channel: &str) -> Result<Channel> {
        let label = format!("~{channel}");
        let path = format!("/teams/name/{team}/channels/name/{channel}");
        let ok = self.call(Method::Get, &path, None).map_err(|f| {
            if let RestFail::Status {
                status: 404, body, ..
            } = &f
            {
                let id = server_id(body, self.token);
                let what = if id.as_deref() == Some("app.team.get_by_name.missing.app_error") {
                    format!("team `{team}` not found")
                } else {
                    format!(
                        "channel {team}/{channel} not found: it does not exist, is archived, \
                         or is a private channel the bot is not in (a private channel answers \
                         the same way); check the URL name and add the bot to ~{channel}"
                    )
                };
                return error::fail(
                    ExitKind::NotFound,
                    format!("{what} (HTTP 404{})", id_part(id.as_deref())),
                );
            }
            self.fail(
                f,
                &format!("resolving channel {team}/{channel}"),
                Some(&label),
            )
        })?;
        let id = json_str(&ok.body, "id");
        if !is_id(&id) {
            return Err(error::fail(
                ExitKind::Http,
                format!("the server's answer for channel {team}/{channel} holds no channel id"),
            ));
        }
        Ok(Channel { id, label })
    }

    /// `POST /posts`: the new post's id.
    pub(crate) fn create(
        &self,
        post: &Value,
        channel: &Channel,
    ) -> std::result::Result<String, CreateFailed> {
        let body = post.to_string();
        match self.call(Method::Post, "/posts", Some(body.as_bytes())) {
            Ok(ok) => {
                let id = json_str(&ok.body, "id");
                if is_id(&id) {
                    Ok(id)
                } else {
                    Err(CreateFailed {
                        error: error::fail(
                            ExitKind::Http,
                            "the server answered the post without a post id",
                        ),
                        maybe_created: true,
                        root_refused: false,
                    })
                }
            }
            Err(f) => {
                let maybe_created = match &f {
                    RestFail::Transport { maybe_sent, .. } => *maybe_sent,
                    RestFail::Status { status, .. } => *status >= 500,
                };
                let root_refused = matches!(&f, RestFail::Status { status: 400, body, .. }
                if matches!(
                    server_id(body, self.token).as_deref(),
                    Some(
                        "api.post.create_post.root_id.app_error"
                            | "api.post.create_post.channel_root_id.app_error"
                    )
                ));
                Err(CreateFailed {
                    error: self.fail(f, "posting", Some(&channel.label)),
                    maybe_created,
                    root_refused,
                })
            }
        }
    }

    /// `PUT /posts/{id}/patch`. A 403 is told apart from a deleted post by
    /// `GET /posts/{id}` (404 for a deleted one).
    pub(crate) fn patch(&self, post_id: &str, patch: &Value, channel: &Channel) -> Result<Patched> {
        if !is_id(post_id) {
            return Ok(Patched::Gone);
        }
        let body = patch.to_string();
        match self.call(
            Method::Put,
            &format!("/posts/{post_id}/patch"),
            Some(body.as_bytes()),
        ) {
            Ok(_) => Ok(Patched::Done),
            Err(RestFail::Status {
                status: 403,
                body,
                attempts,
            }) => match self.call(Method::Get, &format!("/posts/{post_id}"), None) {
                Err(RestFail::Status { status: 404, .. }) => Ok(Patched::Gone),
                // Whether the post was deleted is not known: another delivery may tell,
                // so the event fails as that read did, not as a final 403.
                Err(f @ RestFail::Transport { .. }) => {
                    Err(self.fail(f, "checking the run's post", Some(&channel.label)))
                }
                Err(f @ RestFail::Status { status, .. })
                    if crate::wire::retry::retryable_status(status) =>
                {
                    Err(self.fail(f, "checking the run's post", Some(&channel.label)))
                }
                _ => Err(self.fail(
                    RestFail::Status {
                        status: 403,
                        body,
                        attempts,
                    },
                    "updating the run's post",
                    Some(&channel.label),
                )),
            },
            Err(f) => Err(self.fail(f, "updating the run's post", Some(&channel.label))),
        }
    }

    /// `GET /posts/{id}`: the post when it is what `want` says (the bot's own live post
    /// in `channel`, in the thread and of the run `want` names), `Gone` when it was
    /// deleted (404), `Other` when it is anything else (a forged or crossed record, a
    /// post the bot may not read: 403).
    pub(crate) fn read_post(
        &self,
        post_id: &str,
        channel: &Channel,
        bot_user: &str,
        want: &Want,
    ) -> Result<Found> {
        if !is_id(post_id) {
            return Ok(Found::Other);
        }
        match self.call(Method::Get, &format!("/posts/{post_id}"), None) {
            Ok(ok) => {
                let p: Value = serde_json::from_str(&ok.body).unwrap_or(Value::Null);
                Ok(if is_wanted(&p, channel, bot_user, want) {
                    Found::Post(p)
                } else {
                    Found::Other
                })
            }
            Err(RestFail::Status { status: 404, .. }) => Ok(Found::Gone),
            // A post the bot cannot read is in a channel it is not in: not one of ours in
            // `channel` (a planted id). If the bot lost `channel` itself, what it does
            // next there (look for the post, create it) answers 403 and says so.
            Err(RestFail::Status { status: 403, .. }) => Ok(Found::Other),
            Err(f) => Err(self.fail(f, "reading the run's post", Some(&channel.label))),
        }
    }

    /// The bot's own post in `channel` that `want` describes, among the channel's newest
    /// posts (replies included: a real server lists them with the roots).
    ///
    /// A page larger than the client reads (long posts) is read again in smaller pages;
    /// one of those still too large is an error: "not found" would post a second time.
    pub(crate) fn find_post(
        &self,
        channel: &Channel,
        bot_user: &str,
        want: &Want,
    ) -> Result<Option<String>> {
        if let Some(posts) = self.posts_page(channel, 0, SEARCH_PER_PAGE)? {
            return Ok(find_in(&posts, channel, bot_user, want));
        }
        for page in 0..SEARCH_PER_PAGE / SMALL_PAGE {
            let Some(posts) = self.posts_page(channel, page, SMALL_PAGE)? else {
                return Err(error::fail(
                    ExitKind::Http,
                    format!(
                        "looking for the run's post: the server's answer for {SMALL_PAGE} of                          {}'s newest posts is larger than this client reads ({} MiB), so                          whether an earlier attempt posted cannot be told and nothing was                          posted; try again once those posts are older than the newest                          {SEARCH_PER_PAGE}",
                        channel.label,
                        REST_BODY_LIMIT_MIB
                    ),
                ));
            };
            let len = posts.get("order").and_then(Value::as_array).map(Vec::len);
            if let Some(id) = find_in(&posts, channel, bot_user, want) {
                return Ok(Some(id));
            }
            // The last page: the channel has no more posts.
            if len.is_some_and(|n| n < SMALL_PAGE as usize) {
                break;
            }
        }
        Ok(None)
    }

    /// `GET /channels/{id}/posts`, one page; `None` when the answer was cut.
    fn posts_page(&self, channel: &Channel, page: u32, per_page: u32) -> Result<Option<Value>> {
        let ok = self
            .call(
                Method::Get,
                &format!(
                    "/channels/{}/posts?page={page}&per_page={per_page}",
                    channel.id
                ),
                None,
            )
            .map_err(|f| self.fail(f, "looking for the run's post", Some(&channel.label)))?;
        if ok.cut {
            return Ok(None);
        }
        Ok(Some(serde_json::from_str(&ok.body).unwrap_or(Value::Null)))
    }

    fn call(&self, method: Method, path: &str, body: Option<&[u8]>) -> Result<RestOk, RestFail> {
        self.deliverer
            .rest(self.token, (method, path), body, self.deadline)
    }

    /// A failed call as an error with the contract's exit code and the fix.
    fn fail(&self, f: RestFail, doing: &str, channel: Option<&str>) -> anyhow::Error {
        let (status, body, attempts) = match f {
            RestFail::Transport { diagnosis, .. } => {
                return error::fail(
                    diagnosis.kind,
                    format!(
                        "{doing} as {}: {}",
                        self.token,
                        self.token.scrub(&diagnosis.message)
                    ),
                );
            }
            RestFail::Status {
                status,
                body,
                attempts,
            } => (status, body, attempts),
        };
        let id = server_id(&body, self.token);
        let ch = channel.unwrap_or("the channel");
        let who = self.token.to_string();
        let (kind, text) = refusal(status, id.as_deref(), attempts, doing, ch);
        let e = error::fail(kind, format!("{} ({who})", self.token.scrub(&text)));
        // Which answer it was, for whoever must tell a final one from one a retry may
        // cure (`wire::retry::curable`) after the answers were reported.
        error::answered(
            e,
            error::Answered {
                http_status: Some(status),
                error_id: id,
                attempts,
            },
        )
    }
}

/// The exit kind and message of an answer that failed a REST call (`doing`: what the
/// call was for; `ch`: the channel it was about).
fn refusal(
    status: u16,
    id: Option<&str>,
    attempts: u32,
    doing: &str,
    ch: &str,
) -> (ExitKind, String) {
    let idp = id_part(id);
    match status {
        401 => (
            ExitKind::Forbidden,
            format!(
                "{doing}: the server refused the bot's token (HTTP 401{idp}): it is \
                 invalid, revoked or expired; make a new token for the bot (System Console \
                 → Integrations → Bot Accounts) and put it in the bot file"
            ),
        ),
        403 => (
            ExitKind::Forbidden,
            format!(
                "{doing}: forbidden (HTTP 403{idp}): the bot is not a member of {ch} or \
                 lacks the permission; add the bot to {ch} (in the channel: /invite \
                 @BOTNAME, or mmctl channel users add TEAM:CHANNEL BOTNAME)"
            ),
        ),
        404 => (
            ExitKind::NotFound,
            format!(
                "{doing}: not found (HTTP 404{idp}): check the server URL in the bot file \
                 (a reverse proxy or base path) and the channel"
            ),
        ),
        400 => (
            ExitKind::BadRequest,
            format!(
                "{doing}: Mattermost rejected the request (HTTP 400{idp}){}",
                if id == Some("api.post.create_post.root_id.app_error") {
                    ": the root post is missing, deleted, or itself a reply (give the \
                     thread's first post)"
                } else {
                    ""
                }
            ),
        ),
        // 408 too: retried, spooled and left pending by a gateway as for a webhook.
        408 | 429 | 502..=504 => (
            ExitKind::Server,
            format!(
                "{doing}: the server answered HTTP {status}{idp} after {attempts} \
                 attempt{}; try again later",
                if attempts == 1 { "" } else { "s" }
            ),
        ),
        // The only 500 tried again (`rest_call`): an earlier attempt is still being saved.
        500 if id == Some("api.post.deduplicate_create_post.pending") => (
            ExitKind::Server,
            format!(
                "{doing}: the server was still saving an earlier attempt of this post (HTTP \
                 500{idp}) after {attempts} attempt{}; the post may appear once it is saved",
                if attempts == 1 { "" } else { "s" }
            ),
        ),
        // As for a webhook (the exit-code table): the server does not do this at all,
        // so no retry will change it.
        501 => (
            ExitKind::Http,
            format!(
                "{doing}: the server does not implement this request (HTTP 501{idp}): check \
                 the server URL in the bot file (a proxy in front of Mattermost may answer it)"
            ),
        ),
        500..=599 => (
            ExitKind::Server,
            format!(
                "{doing}: server error (HTTP {status}{idp}); not tried again: the server may \
                 have saved part of it"
            ),
        ),
        _ => (
            ExitKind::Http,
            format!("{doing}: unexpected answer HTTP {status}{idp}"),
        ),
    }
}

/// What a post of ours must be: in which thread (`root`: `""` for a root post), of which
/// run (`run` decides on `props.mmnotify.run_key`), which of the run's posts (`post`:
/// `props.mmnotify.post`; the run's own post may predate the field), and, for a reply of
/// details, of which state.
pub(crate) struct Want<'a> {
    pub root: &'a str,
    pub run: &'a dyn Fn(&str) -> bool,
    pub post: &'a [&'a str],
    pub state: Option<&'a str>,
}

impl<'a> Want<'a> {
    /// The run's own post: a root post, or a reply in `root`'s thread.
    pub(crate) fn run_post(run: &'a dyn Fn(&str) -> bool, root: &'a str) -> Want<'a> {
        Want {
            root,
            run,
            post: &[RUN_POST],
            state: None,
        }
    }
}

/// `props.mmnotify.post` of a run's own post.
pub(crate) const RUN_POST: &str = "run";

/// What [`Bot::read_post`] found.
#[derive(Debug)]
pub(crate) enum Found {
    Post(Value),
    Gone,
    Other,
}

/// The bot's own live post in `channel` that `want` describes.
fn is_wanted(p: &Value, channel: &Channel, bot_user: &str, want: &Want) -> bool {
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
    let mm = |k: &str| {
        p.pointer(&format!("/props/mmnotify/{k}"))
            .and_then(Value::as_str)
    };
    let post = mm("post").unwrap_or(RUN_POST);
    s("user_id") == bot_user
        && s("root_id") == want.root
        && s("channel_id") == channel.id
        && p.get("delete_at").and_then(Value::as_i64).unwrap_or(0) == 0
        && mm("run_key").is_some_and(want.run)
        && want.post.contains(&post)
        && want.state.is_none_or(|st| mm("state") == Some(st))
}

/// The id of the post `want` describes in a page of posts.
fn find_in(list: &Value, channel: &Channel, bot_user: &str, want: &Want) -> Option<String> {
    let posts = list.get("posts").and_then(Value::as_object)?;
    posts
        .values()
        .find(|p| is_wanted(p, channel, bot_user, want))
        .and_then(|p| p.get("id").and_then(Value::as_str))
        .filter(|id| is_id(id))
        .map(str::to_string)
}

fn json_str(body: &str, key: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get(key).and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default()
}

/// The server's error id, sanitised (the body was scrubbed of the token already).
fn server_id(body: &str, token: &BotToken) -> Option<String> {
    crate::wire::deliver::server_error_id(body, token)
}

fn id_part(id: Option<&str>) -> String {
    id.map(|i| format!(", {i}")).unwrap_or_default()
}

/// A new root post (or reply) for `channel`, as `POST /posts` takes it.
pub(crate) fn new_post(
    channel: &Channel,
    message: &str,
    props: Value,
    root_id: Option<&str>,
    pending_post_id: Option<&str>,
) -> Value {
    let mut post = json!({
        "channel_id": channel.id,
        "message": message,
        "props": props,
    });
    if let Some(root) = root_id {
        post["root_id"] = Value::from(root);
    }
    if let Some(p) = pending_post_id {
        post["pending_post_id"] = Value::from(p);
    }
    post
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_keep_paths_closed() {
        assert!(is_id("pq3wxk8bmjsyr9cn5ue7tdo1ha"));
        for bad in [
            "",
            "../users/me",
            "pq3wxk8bmjsyr9cn5ue7tdo1h/",
            "PQ3WXK8BMJSYR9CN5UE7TDO1HA",
        ] {
            assert!(!is_id(bad), "{bad}");
        }
        assert!(is_url_name("dev-team") && is_url_name("town_square"));
        for bad in ["", "Dev", "a/b", "a?b", "..", "a%2f"] {
            assert!(!is_url_name(bad), "{bad}");
        }
    }
}
