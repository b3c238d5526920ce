//! The REST side of the emulator (`/api/v4/...`), for the bot account of issue 18: the
//! users, bots and their tokens, teams, channels, memberships and posts of one server, and
//! the handlers a bot uses, answered as `shared/mattermost-rest.md` (the "facts page";
//! § numbers below are its sections) says a real server answers.
//!
//! Pure state + handlers: `server.rs` moves the bytes, applies the rate limiter (§7) and the
//! scripted faults, and routes every `/api/v4/` request here.
//!
//! English `message` texts: only "Invalid `RootId` parameter" is quoted by the facts page;
//! the others are written as `en.json` has them as far as we know, UNVERIFIED (clients must
//! key on `id`, never on `message`).

use super::decode::go_fold;
use super::http::{new_id, Head, Response};
use super::mattermost::{api_headers, go_json_string, split_target};
use super::server::{Fault, RateLimit, ServerOptions};
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `pendingPostIDsCacheTTL` (§4.5).
pub const PENDING_POST_ID_TTL: Duration = Duration::from_secs(30);
/// `MaxPostSize()` with the standard schema, in runes (§4.8).
pub const REST_MESSAGE_MAX_RUNES: usize = 16383;
/// `PostPropsMaxRunes` (§4.8).
pub const REST_PROPS_MAX_RUNES: usize = 800_000;
/// Default `MaximumPayloadSizeBytes` + 512: the body cap of a create (§4.1).
const BODY_CAP_SLACK: usize = 512;
/// `per_page` default of `GET /channels/{id}/posts` (UNVERIFIED: the usual api4 default).
const DEFAULT_PER_PAGE: usize = 60;
/// `per_page` upper bound of api4 list endpoints (UNVERIFIED).
const MAX_PER_PAGE: usize = 200;

/// A user or bot account with its access tokens.
#[derive(Debug, Clone)]
pub struct RestUser {
    pub id: String,
    pub username: String,
    pub is_bot: bool,
    /// `team_post_all_public` / "post:channels": may post in open channels of its teams
    /// without being a member (§4.3).
    pub post_all_public: bool,
}

/// What `Rest::create_bot` gives a test: the ids and the token (a secret: register it
/// with `Env::secret` so the leak check watches it).
#[derive(Debug, Clone)]
pub struct Bot {
    pub user_id: String,
    pub username: String,
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// `O`
    Open,
    /// `P`
    Private,
}

#[derive(Debug, Clone)]
pub struct RestChannel {
    pub id: String,
    pub team_id: String,
    pub name: String,
    pub display_name: String,
    pub kind: ChannelKind,
    /// Archived at (ms), 0 if not archived.
    pub delete_at: i64,
    pub create_at: i64,
    pub members: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct RestTeam {
    pub id: String,
    pub name: String,
    pub members: BTreeSet<String>,
}

/// A post as the server stores it (`model.Post`, the fields a bot reads).
#[derive(Debug, Clone)]
pub struct RestPost {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub edit_at: i64,
    pub delete_at: i64,
    pub is_pinned: bool,
    pub user_id: String,
    pub channel_id: String,
    pub root_id: String,
    pub message: String,
    pub post_type: String,
    pub props: Map<String, Value>,
    pub file_ids: Vec<String>,
    pub pending_post_id: String,
    pub has_reactions: bool,
    /// Every successful patch, oldest first (emulator bookkeeping, not sent).
    pub history: Vec<PatchRecord>,
}

/// One successful `PUT /posts/{id}/patch`: the post as it was after it.
#[derive(Debug, Clone)]
pub struct PatchRecord {
    /// Emulator clock (ms) of the patch.
    pub at: i64,
    pub message: String,
    pub props: Map<String, Value>,
    /// The raw body the client sent.
    pub body: Value,
}

impl RestPost {
    /// `props.attachments`, `[]` if none (§4: attachments live in props on this path).
    pub fn attachments(&self) -> Value {
        self.props
            .get("attachments")
            .cloned()
            .unwrap_or_else(|| Value::Array(Vec::new()))
    }

    pub fn is_deleted(&self) -> bool {
        self.delete_at != 0
    }

    /// The post JSON as the server encodes it (§4.9).
    pub fn to_json(&self, reply_count: usize, last_reply_at: i64) -> Value {
        json!({
            "id": self.id,
            "create_at": self.create_at,
            "update_at": self.update_at,
            "edit_at": self.edit_at,
            "delete_at": self.delete_at,
            "is_pinned": self.is_pinned,
            "user_id": self.user_id,
            "channel_id": self.channel_id,
            "root_id": self.root_id,
            "original_id": "",
            "message": self.message,
            "type": self.post_type,
            "props": Value::Object(self.props.clone()),
            "hashtags": "",
            "file_ids": self.file_ids,
            "pending_post_id": self.pending_post_id,
            "has_reactions": self.has_reactions,
            "remote_id": "",
            "reply_count": reply_count,
            "last_reply_at": last_reply_at,
            "participants": Value::Null,
            "metadata": {},
        })
    }
}

#[derive(Debug, Default)]
struct RestState {
    users: Vec<RestUser>,
    /// token → user id.
    tokens: HashMap<String, String>,
    teams: Vec<RestTeam>,
    channels: Vec<RestChannel>,
    posts: Vec<RestPost>,
    /// `pending_post_id` → (post id, or None while "still being saved", clock ms) (§4.5).
    pending: HashMap<String, (Option<String>, i64)>,
    /// `EnableDeveloper` (§1, §2); starts as `ServerOptions::developer_mode`.
    developer_mode: bool,
    /// `ServiceSettings.PostEditTimeLimit` in seconds; -1 = no limit (the default, §5.5).
    edit_time_limit: i64,
    /// Added to the wall clock, so tests move time forward instead of sleeping.
    clock_offset_ms: i64,
    /// `freeze_clock`: the wall clock reading the emulator clock stays at.
    frozen_wall_ms: Option<i64>,
    /// `MaximumPayloadSizeBytes` (§4.1).
    max_payload_bytes: usize,
    /// `RateLimitSettings` with `VaryByUser` (§7): one bucket per user, after auth.
    user_limit: Option<RateLimit>,
    /// user id → (tokens, emulator clock ms of the last refill).
    user_buckets: HashMap<String, (f64, i64)>,
    /// Faults scripted for one endpoint (`Rest::script_on`), each popped by the next
    /// request to it.
    faults: HashMap<Call, VecDeque<Fault>>,
}

/// One endpoint a bot calls, to script a fault for it alone (`Rest::script_on`): the
/// other requests of an event (the token check, the channel, the look-ups) are answered
/// normally whatever their number and order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// `GET /users/me`
    Me,
    /// `GET /teams/name/{team}/channels/name/{channel}`
    ChannelByName,
    /// `GET /channels/{id}`
    Channel,
    /// `GET /channels/{id}/posts`
    ChannelPosts,
    /// `POST /posts`
    CreatePost,
    /// `GET /posts/{id}`
    GetPost,
    /// `PUT /posts/{id}/patch`
    PatchPost,
    /// `DELETE /posts/{id}`
    DeletePost,
}

/// The REST state of one emulated server and the test-side API to set it up and read it.
#[derive(Debug)]
pub struct Rest {
    state: Mutex<RestState>,
}

impl Rest {
    pub(super) fn new(opts: &ServerOptions) -> Rest {
        Rest {
            state: Mutex::new(RestState {
                developer_mode: opts.developer_mode,
                edit_time_limit: -1,
                max_payload_bytes: opts.max_payload_bytes,
                ..RestState::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RestState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    // ---- accounts -------------------------------------------------------------------

    /// A bot account (`is_bot: true`) with one access token.
    pub fn create_bot(&self, username: &str) -> Bot {
        let user_id = self.add_user(username, true);
        let token = self.create_token(&user_id);
        Bot {
            user_id,
            username: username.into(),
            token,
        }
    }

    /// A human user (to author posts the bot did not write); returns its id.
    pub fn create_user(&self, username: &str) -> String {
        self.add_user(username, false)
    }

    fn add_user(&self, username: &str, is_bot: bool) -> String {
        let id = new_id();
        self.lock().users.push(RestUser {
            id: id.clone(),
            username: username.into(),
            is_bot,
            post_all_public: false,
        });
        id
    }

    /// Another access token for a user or bot.
    pub fn create_token(&self, user_id: &str) -> String {
        let token = new_id();
        self.lock().tokens.insert(token.clone(), user_id.into());
        token
    }

    /// Revokes a token: later requests with it get 401 (§1).
    pub fn revoke_token(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    /// Every live token (secrets: for a leak check).
    pub fn tokens(&self) -> Vec<String> {
        self.lock().tokens.keys().cloned().collect()
    }

    /// Gives or takes the "post:channels" option (`team_post_all_public`, §4.3).
    pub fn set_post_all_public(&self, user_id: &str, on: bool) {
        if let Some(u) = self.lock().users.iter_mut().find(|u| u.id == user_id) {
            u.post_all_public = on;
        }
    }

    // ---- teams and channels ---------------------------------------------------------

    /// A team with this URL name; returns its id.
    pub fn create_team(&self, name: &str) -> String {
        let id = new_id();
        self.lock().teams.push(RestTeam {
            id: id.clone(),
            name: name.into(),
            members: BTreeSet::new(),
        });
        id
    }

    pub fn add_team_member(&self, team_id: &str, user_id: &str) {
        if let Some(t) = self.lock().teams.iter_mut().find(|t| t.id == team_id) {
            t.members.insert(user_id.into());
        }
    }

    pub fn remove_team_member(&self, team_id: &str, user_id: &str) {
        if let Some(t) = self.lock().teams.iter_mut().find(|t| t.id == team_id) {
            t.members.remove(user_id);
        }
    }

    /// A channel with this URL name in the team; returns its id.
    pub fn create_channel(&self, team_id: &str, name: &str, kind: ChannelKind) -> String {
        let id = new_id();
        let now = self.now_ms();
        self.lock().channels.push(RestChannel {
            id: id.clone(),
            team_id: team_id.into(),
            name: name.into(),
            display_name: name.replace('-', " "),
            kind,
            delete_at: 0,
            create_at: now,
            members: BTreeSet::new(),
        });
        id
    }

    /// Archives a channel (by name it is then 404, creating in it 400, §3, §4.4).
    pub fn archive_channel(&self, channel_id: &str) {
        let now = self.now_ms();
        if let Some(c) = self.lock().channels.iter_mut().find(|c| c.id == channel_id) {
            c.delete_at = now;
        }
    }

    /// Adds a channel member (and team member, as the server requires one for the other).
    pub fn add_member(&self, channel_id: &str, user_id: &str) {
        let mut st = self.lock();
        let Some(c) = st.channels.iter_mut().find(|c| c.id == channel_id) else {
            return;
        };
        c.members.insert(user_id.into());
        let team = c.team_id.clone();
        if let Some(t) = st.teams.iter_mut().find(|t| t.id == team) {
            t.members.insert(user_id.into());
        }
    }

    /// Removes a channel member (the team membership stays).
    pub fn remove_member(&self, channel_id: &str, user_id: &str) {
        if let Some(c) = self.lock().channels.iter_mut().find(|c| c.id == channel_id) {
            c.members.remove(user_id);
        }
    }

    pub fn channel(&self, channel_id: &str) -> Option<RestChannel> {
        self.lock()
            .channels
            .iter()
            .find(|c| c.id == channel_id)
            .cloned()
    }

    // ---- server settings and time ---------------------------------------------------

    /// `EnableDeveloper`: a 401 then echoes the token in `detailed_error` (§1, §2).
    pub fn set_developer_mode(&self, on: bool) {
        self.lock().developer_mode = on;
    }

    /// The rate limiter with `VaryByUser` (§7): each user (bot) has its own budget of
    /// `burst + 1` requests refilled at `per_sec`, on the emulator clock (so
    /// `advance_clock` refills it). `ServerOptions::rate_limit` is the server-wide one.
    pub fn set_rate_limit_per_user(&self, limit: Option<RateLimit>) {
        let mut st = self.lock();
        st.user_limit = limit;
        st.user_buckets.clear();
    }

    /// `PostEditTimeLimit` in seconds, `None` = -1 (no limit, the default) (§5.5).
    pub fn set_edit_time_limit(&self, limit: Option<Duration>) {
        self.lock().edit_time_limit = limit.map_or(-1, |d| d.as_secs() as i64);
    }

    /// Moves the emulator's clock forward (edit time limit, `pending_post_id` window):
    /// time-dependent rules are tested without sleeping.
    pub fn advance_clock(&self, by: Duration) {
        self.lock().clock_offset_ms += by.as_millis() as i64;
    }

    /// Stops the emulator's clock (only `advance_clock` moves it then), so that rules
    /// that depend on time (rate limit refill, windows, limits) do not depend on how fast
    /// the test runs.
    pub fn freeze_clock(&self) {
        let mut st = self.lock();
        st.frozen_wall_ms = Some(wall_ms());
    }

    /// The emulator's clock in ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        now_ms(&self.lock())
    }

    /// Queues faults for one endpoint: each request to it pops one (before the server
    /// looks at its token, as a proxy's 502–504 or a failing store would), normal
    /// handling once they run out. Faults queued with `MockServer::script` come first.
    pub fn script_on(&self, call: Call, faults: impl IntoIterator<Item = Fault>) {
        self.lock().faults.entry(call).or_default().extend(faults);
    }

    /// The fault scripted for this request's endpoint, if any (taken off its queue).
    pub(super) fn take_fault(&self, head: &Head) -> Option<Fault> {
        let (path, _) = split_target(&head.target);
        let call = route(&head.method, path).ok()?.call();
        self.lock().faults.get_mut(&call)?.pop_front()
    }

    /// Makes the next create with this `pending_post_id` find a create "still being saved"
    /// (→ 500 `api.post.deduplicate_create_post.pending`, §4.5), as a concurrent create
    /// would on a real server.
    pub fn hold_pending_post_id(&self, pending_post_id: &str) {
        let mut st = self.lock();
        let now = now_ms(&st);
        st.pending.insert(pending_post_id.into(), (None, now));
    }

    // ---- posts ----------------------------------------------------------------------

    /// A post written directly into the store as `user_id` (someone else's post, a root
    /// to reply to); bypasses every check. Returns its id.
    pub fn insert_post(
        &self,
        user_id: &str,
        channel_id: &str,
        root_id: &str,
        message: &str,
    ) -> String {
        let mut st = self.lock();
        let now = now_ms(&st);
        let post = new_post(user_id, channel_id, root_id, message, "", Map::new(), now);
        let id = post.id.clone();
        st.posts.push(post);
        id
    }

    /// A post by id, deleted ones included.
    pub fn post(&self, id: &str) -> Option<RestPost> {
        self.lock().posts.iter().find(|p| p.id == id).cloned()
    }

    /// Every post of a channel (replies and deleted ones included), oldest first.
    pub fn posts_in(&self, channel_id: &str) -> Vec<RestPost> {
        self.lock()
            .posts
            .iter()
            .filter(|p| p.channel_id == channel_id)
            .cloned()
            .collect()
    }

    /// Root posts of a channel (not replies, not deleted), oldest first.
    pub fn roots_in(&self, channel_id: &str) -> Vec<RestPost> {
        self.posts_in(channel_id)
            .into_iter()
            .filter(|p| p.root_id.is_empty() && !p.is_deleted())
            .collect()
    }

    /// The live replies of a thread, oldest first.
    pub fn replies(&self, root_id: &str) -> Vec<RestPost> {
        self.lock()
            .posts
            .iter()
            .filter(|p| p.root_id == root_id && !p.is_deleted())
            .cloned()
            .collect()
    }

    /// Every post, in creation order.
    pub fn all_posts(&self) -> Vec<RestPost> {
        self.lock().posts.clone()
    }

    /// The patches a post received, oldest first.
    pub fn patch_history(&self, post_id: &str) -> Vec<PatchRecord> {
        self.post(post_id).map(|p| p.history).unwrap_or_default()
    }

    /// Soft-deletes a post and its replies, as a user deleting it in the UI (§6).
    pub fn delete_post(&self, post_id: &str) {
        let mut st = self.lock();
        let now = now_ms(&st);
        soft_delete(&mut st, post_id, now);
    }

    /// Makes a post older by `by` (its `create_at`), e.g. past the edit time limit.
    pub fn age_post(&self, post_id: &str, by: Duration) {
        if let Some(p) = self.lock().posts.iter_mut().find(|p| p.id == post_id) {
            p.create_at -= by.as_millis() as i64;
        }
    }
}

/// The usual world of a bot test: team `dev-team` with the bot and `alice` in it;
/// channels `builds` (open, bot member), `private-builds` (private, bot member), `general`
/// (open, bot not a member), `secret` (private, bot not a member), `old` (open, bot
/// member, archived).
#[derive(Debug, Clone)]
pub struct Seed {
    pub bot: Bot,
    pub alice: String,
    pub team: String,
    pub builds: String,
    pub private_builds: String,
    pub general: String,
    pub secret: String,
    pub old: String,
}

impl Rest {
    pub fn seed(&self) -> Seed {
        let bot = self.create_bot("mmnotify-bot");
        let alice = self.create_user("alice");
        let team = self.create_team("dev-team");
        self.add_team_member(&team, &alice);
        let channel = |name, kind, bot_member: bool| {
            let id = self.create_channel(&team, name, kind);
            self.add_member(&id, &alice);
            if bot_member {
                self.add_member(&id, &bot.user_id);
            }
            id
        };
        let builds = channel("builds", ChannelKind::Open, true);
        let private_builds = channel("private-builds", ChannelKind::Private, true);
        let general = channel("general", ChannelKind::Open, false);
        let secret = channel("secret", ChannelKind::Private, false);
        let old = channel("old", ChannelKind::Open, true);
        self.archive_channel(&old);
        Seed {
            bot,
            alice,
            team,
            builds,
            private_builds,
            general,
            secret,
            old,
        }
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn now_ms(st: &RestState) -> i64 {
    st.frozen_wall_ms.unwrap_or_else(wall_ms) + st.clock_offset_ms
}

fn new_post(
    user_id: &str,
    channel_id: &str,
    root_id: &str,
    message: &str,
    post_type: &str,
    props: Map<String, Value>,
    now: i64,
) -> RestPost {
    RestPost {
        id: new_id(),
        create_at: now,
        update_at: now,
        edit_at: 0,
        delete_at: 0,
        is_pinned: false,
        user_id: user_id.into(),
        channel_id: channel_id.into(),
        root_id: root_id.into(),
        message: message.into(),
        post_type: post_type.into(),
        props,
        file_ids: Vec::new(),
        pending_post_id: String::new(),
        has_reactions: false,
        history: Vec::new(),
    }
}

/// `UPDATE Posts SET DeleteAt … WHERE Id = ? OR RootId = ?` (§6).
fn soft_delete(st: &mut RestState, post_id: &str, now: i64) {
    for p in &mut st.posts {
        if (p.id == post_id || p.root_id == post_id) && p.delete_at == 0 {
            p.delete_at = now;
            p.update_at = now;
        }
    }
}

// ---- the HTTP side ----------------------------------------------------------------------

/// Whether a request goes to the REST API (routed here by `server.rs`).
pub fn is_api(head: &Head) -> bool {
    split_target(&head.target).0.starts_with("/api/v4/")
}

/// An `AppError` (§2) before it is written.
struct ApiError {
    status: u16,
    id: &'static str,
    message: String,
    /// Shown only with developer mode on (`WipeDetailed` otherwise, §2).
    detailed: String,
}

fn err(status: u16, id: &'static str, message: &str) -> ApiError {
    ApiError {
        status,
        id,
        message: message.into(),
        detailed: String::new(),
    }
}

fn invalid_url_param(name: &str) -> ApiError {
    err(
        400,
        "api.context.invalid_url_param.app_error",
        &format!("Invalid or missing {name} parameter in request URL."),
    )
}

fn invalid_body_param(name: &str, detail: String) -> ApiError {
    ApiError {
        detailed: detail,
        ..err(
            400,
            "api.context.invalid_body_param.app_error",
            &format!("Invalid or missing {name} in request body."),
        )
    }
}

fn invalid_param(name: &str) -> ApiError {
    err(
        400,
        "api.context.invalid_param.app_error",
        &format!("Invalid {name} parameter."),
    )
}

/// `MakePermissionError` (§2): 403, detailed `userId=<id>, permission=<perm>`.
fn permission(user_id: &str, perm: &str) -> ApiError {
    ApiError {
        detailed: format!("userId={user_id}, permission={perm}"),
        ..err(
            403,
            "api.context.permissions.app_error",
            "You do not have the appropriate permissions.",
        )
    }
}

fn session_expired(detailed: String) -> ApiError {
    ApiError {
        detailed,
        ..err(
            401,
            "api.context.session_expired.app_error",
            "Invalid or expired session, please login again.",
        )
    }
}

/// `model.AppError.ToJSON()` (§2): key order `id`, `message`, `detailed_error`,
/// `request_id`, `status_code`, no trailing newline, `X-Request-Id` = `request_id`.
fn error_response(opts: &ServerOptions, developer: bool, e: ApiError) -> Response {
    let request_id = new_id();
    let detailed = if developer { e.detailed } else { String::new() };
    let body = format!(
        "{{\"id\":{},\"message\":{},\"detailed_error\":{},\"request_id\":{},\"status_code\":{}}}",
        go_json_string(e.id),
        go_json_string(&e.message),
        go_json_string(&detailed),
        go_json_string(&request_id),
        e.status
    );
    let mut resp = Response::new(e.status).header("Content-Type", "application/json");
    resp.headers.extend(api_headers(opts, &request_id));
    resp.body(body)
}

/// A success: `json.NewEncoder(w).Encode(v)`, so the body ends with a newline (§2).
fn ok_json(opts: &ServerOptions, status: u16, v: &Value) -> Response {
    let mut resp = Response::new(status).header("Content-Type", "application/json");
    resp.headers.extend(api_headers(opts, &new_id()));
    resp.body(format!("{}\n", super::mattermost::go_marshal(v)))
}

/// The answer for `Fault::Status(status)` on an `/api/v4/` path: the `AppError` a real
/// server gives for that status (5xx from a proxy look like nginx, as on the webhook side).
/// A 500 is a store failure of the endpoint asked (§1: "a store failure (500) is passed
/// through as 500"); its ids per endpoint are UNVERIFIED.
pub fn fault_status(rest: &Rest, opts: &ServerOptions, head: &Head, status: u16) -> Response {
    let developer = rest.lock().developer_mode;
    let (path, _) = split_target(&head.target);
    let call = route(&head.method, path).ok().map(|r| r.call());
    let e = match status {
        500 => store_failure(call),
        400 => invalid_param("post.channel_id"),
        401 => session_expired("token=<scripted fault>".into()),
        403 => permission("<scripted fault>", "create_post"),
        404 => err(404, "app.post.get.app_error", "Unable to get the post."),
        413 => err(
            413,
            "api.context.request_body_too_large.app_error",
            "Unable to process request. Request body too large.",
        ),
        _ => return super::mattermost::fault_status(opts, head, status),
    };
    error_response(opts, developer, e)
}

/// The 500 a failing database gives for an endpoint (ids UNVERIFIED but for the create's,
/// which `mattermost-webhook.md` names for the webhook path's save).
fn store_failure(call: Option<Call>) -> ApiError {
    match call {
        Some(Call::Me) => err(500, "app.user.get.app_error", "Unable to get the user."),
        Some(Call::ChannelByName | Call::Channel) => err(
            500,
            "app.channel.get.find.app_error",
            "We encountered an error finding the channel.",
        ),
        Some(Call::ChannelPosts) => err(
            500,
            "app.post.get_posts.app_error",
            "Unable to get the posts.",
        ),
        Some(Call::GetPost) => err(500, "app.post.get.app_error", "Unable to get the post."),
        Some(Call::PatchPost) => err(
            500,
            "app.post.update.app_error",
            "Unable to update the post.",
        ),
        Some(Call::DeletePost) => err(
            500,
            "app.post.delete.app_error",
            "Unable to delete the post.",
        ),
        Some(Call::CreatePost) | None => {
            err(500, "app.post.save.app_error", "Unable to save the post.")
        }
    }
}

/// The answer for `Fault::SessionStoreFailed`: the session of a valid token could not be
/// made (§1: "any `createSessionForUserAccessToken` failure becomes
/// `api.context.invalid_token.error` with that status", here a store's 500), with
/// `detailed_error` `token=<the token>`, shown in developer mode: a 5xx that echoes the
/// bot token.
pub fn session_store_failed(rest: &Rest, opts: &ServerOptions, head: &Head) -> Response {
    let developer = rest.lock().developer_mode;
    let (_, query) = split_target(&head.target);
    let token = match parse_token(head, query) {
        TokenSource::Header(t) | TokenSource::Query(t) => t,
        TokenSource::None => String::new(),
    };
    let e = ApiError {
        detailed: format!("token={token}"),
        ..err(
            500,
            "api.context.invalid_token.error",
            "Invalid or expired session, please login again.",
        )
    };
    error_response(opts, developer, e)
}

/// Where the token came from (`ParseAuthTokenFromRequest`, §1).
// The query's token is taken out as the server's parser does, though a query token is
// refused (§1) before anything reads it.
#[allow(dead_code)]
enum TokenSource {
    None,
    Header(String),
    Query(String),
}

/// `ParseAuthTokenFromRequest` (§1): cookie `MMAUTHTOKEN`, `Authorization: Bearer`
/// (prefix case-insensitive), `Authorization: Token`, then the query `access_token`.
fn parse_token(head: &Head, query: &str) -> TokenSource {
    if let Some(cookies) = head.header("cookie") {
        for c in cookies.split(';') {
            if let Some(v) = c.trim().strip_prefix("MMAUTHTOKEN=") {
                if !v.is_empty() {
                    return TokenSource::Header(v.into());
                }
            }
        }
    }
    if let Some(auth) = head.header("authorization") {
        for scheme in ["bearer", "token"] {
            let n = scheme.len();
            if auth.len() > n + 1
                && auth[..n].eq_ignore_ascii_case(scheme)
                && auth.as_bytes()[n] == b' '
            {
                return TokenSource::Header(auth[n + 1..].trim().into());
            }
        }
    }
    for (k, v) in super::http::form_decode(query) {
        if k == "access_token" && !v.is_empty() {
            return TokenSource::Query(v);
        }
    }
    TokenSource::None
}

/// A 26-character Mattermost id (`model.IsValidId`).
fn is_valid_id(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `RequireTeamName` (§3): lower-case URL name. UNVERIFIED exact rule: 2–64 of
/// `[a-z0-9-]`, starting with a letter or digit.
fn is_valid_team_name(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `RequireChannelName` (§3): lower-case URL name. UNVERIFIED exact rule: 1–64 of
/// `[a-z0-9_-]`.
fn is_valid_channel_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// One routed request.
enum Route<'a> {
    Me,
    ChannelByName(&'a str, &'a str),
    Channel(&'a str),
    ChannelPosts(&'a str),
    CreatePost,
    Post(&'a str),
    PatchPost(&'a str),
    DeletePost(&'a str),
}

impl Route<'_> {
    fn call(&self) -> Call {
        match self {
            Route::Me => Call::Me,
            Route::ChannelByName(..) => Call::ChannelByName,
            Route::Channel(_) => Call::Channel,
            Route::ChannelPosts(_) => Call::ChannelPosts,
            Route::CreatePost => Call::CreatePost,
            Route::Post(_) => Call::GetPost,
            Route::PatchPost(_) => Call::PatchPost,
            Route::DeletePost(_) => Call::DeletePost,
        }
    }
}

/// gorilla/mux routing of the endpoints we emulate. `Err(true)`: the path exists with
/// another method (405); `Err(false)`: no such route (404).
fn route<'a>(method: &str, path: &'a str) -> Result<Route<'a>, bool> {
    let segs: Vec<&str> = path
        .strip_prefix("/api/v4/")
        .unwrap_or("")
        .split('/')
        .collect();
    let (route, methods): (Option<Route>, &[&str]) = match segs.as_slice() {
        ["users", "me"] => (Some(Route::Me), &["GET"]),
        ["teams", "name", team, "channels", "name", channel] => {
            (Some(Route::ChannelByName(team, channel)), &["GET"])
        }
        ["channels", id] => (Some(Route::Channel(id)), &["GET"]),
        ["channels", id, "posts"] => (Some(Route::ChannelPosts(id)), &["GET"]),
        ["posts"] => (Some(Route::CreatePost), &["POST"]),
        ["posts", id] => (
            match method {
                "DELETE" => Some(Route::DeletePost(id)),
                _ => Some(Route::Post(id)),
            },
            &["GET", "DELETE"],
        ),
        ["posts", id, "patch"] => (Some(Route::PatchPost(id)), &["PUT"]),
        _ => (None, &[]),
    };
    match route {
        None => Err(false),
        Some(_) if !methods.contains(&method) => Err(true),
        Some(r) => Ok(r),
    }
}

/// Handles one `/api/v4/` request (`web/handlers.go` `ServeHTTP`, §1): route, token,
/// session, then the endpoint.
pub fn handle(rest: &Rest, opts: &ServerOptions, head: &Head, body: &[u8]) -> Response {
    let (path, query) = split_target(&head.target);
    let mut st = rest.lock();
    let developer = st.developer_mode;
    let fail = |e: ApiError| error_response(opts, developer, e);
    let route = match route(&head.method, path) {
        Ok(r) => r,
        // Method mismatch: as on the webhook side (shared/mattermost-webhook.md §1), an
        // empty 405 from the router; UNVERIFIED for /api/v4.
        Err(true) => return super::mattermost::method_not_allowed(),
        // The api4 router's NotFound handler; UNVERIFIED id.
        Err(false) => {
            return fail(err(
                404,
                "api.context.404.app_error",
                "Sorry, we could not find the page.",
            ))
        }
    };
    let token = match parse_token(head, query) {
        // §1: a token in the query string of a non-OAuth session is refused.
        TokenSource::Query(_) => {
            return fail(err(
                401,
                "api.context.token_provided.app_error",
                "Session is not OAuth but token was provided in the query string.",
            ))
        }
        // §1: no token → 401 session_expired, detailed `UserRequired`.
        TokenSource::None => return fail(session_expired("UserRequired".into())),
        TokenSource::Header(t) => t,
    };
    // §1: unknown or revoked token → 401, detailed `token=<the token>` (shown only in
    // developer mode: that is how a real server leaks the token to a client's logs).
    let Some(user_id) = st.tokens.get(&token).cloned() else {
        return fail(session_expired(format!("token={token}")));
    };
    let now = now_ms(&st);
    // §7: `ServeHTTP` calls `UserIdRateLimit(session.UserId)` after authenticating.
    let mut limit_headers = Vec::new();
    if let Some(limit) = st.user_limit {
        let (headers, retry) = take_user_token(&mut st, limit, &user_id, now);
        if let Some(secs) = retry {
            let mut limited = super::mattermost::limit_exceeded(&secs.to_string());
            limited.headers.extend(headers);
            return limited;
        }
        limit_headers = headers;
    }
    let result = match route {
        Route::Me => get_me(&st, &user_id),
        Route::ChannelByName(team, channel) => {
            let include_deleted = super::http::form_decode(query)
                .iter()
                .any(|(k, v)| k == "include_deleted" && v == "true");
            channel_by_name(&st, &user_id, team, channel, include_deleted)
        }
        Route::Channel(id) => get_channel(&st, &user_id, id),
        Route::ChannelPosts(id) => channel_posts(&st, &user_id, id, query),
        Route::CreatePost => create_post(&mut st, &user_id, body, now),
        Route::Post(id) => get_post(&st, &user_id, id),
        Route::PatchPost(id) => patch_post(&mut st, &user_id, id, body, now),
        Route::DeletePost(id) => delete_post(&mut st, &user_id, id, now),
    };
    let mut answer = match result {
        Ok((status, v)) => ok_json(opts, status, &v),
        Err(e) => fail(e),
    };
    answer.headers.extend(limit_headers);
    answer
}

/// One request against a user's bucket: the `X-RateLimit-*` headers (§7) and, when
/// limited, the `Retry-After` seconds (rounded up, at least 1).
fn take_user_token(
    st: &mut RestState,
    limit: RateLimit,
    user_id: &str,
    now: i64,
) -> (Vec<(String, String)>, Option<u64>) {
    let capacity = f64::from(limit.burst) + 1.0;
    let rate = f64::from(limit.per_sec.max(1));
    let (tokens, at) = st
        .user_buckets
        .entry(user_id.to_string())
        .or_insert((capacity, now));
    *tokens = (*tokens
        + f64::from(u32::try_from((now - *at).clamp(0, 3_600_000)).unwrap_or(0)) / 1000.0 * rate)
        .min(capacity);
    *at = now;
    let limited = *tokens < 1.0;
    let retry = limited.then(|| ((1.0 - *tokens) / rate).ceil().max(1.0) as u64);
    if !limited {
        *tokens -= 1.0;
    }
    let reset = ((capacity - *tokens) / rate).ceil() as u64;
    let headers = vec![
        ("X-RateLimit-Limit".into(), (limit.burst + 1).to_string()),
        (
            "X-RateLimit-Remaining".into(),
            (tokens.floor() as u64).to_string(),
        ),
        ("X-RateLimit-Reset".into(), reset.to_string()),
    ];
    (headers, retry)
}

type Answer = Result<(u16, Value), ApiError>;

fn user_json(u: &RestUser) -> Value {
    json!({
        "id": u.id,
        "create_at": 0,
        "update_at": 0,
        "delete_at": 0,
        "username": u.username,
        "auth_data": "",
        "auth_service": "",
        "email": format!("{}@localhost", u.username),
        "nickname": "",
        "first_name": if u.is_bot { u.username.as_str() } else { "" },
        "last_name": "",
        "position": "",
        "roles": "system_user",
        "locale": "en",
        "is_bot": u.is_bot,
        "bot_description": "",
        "disable_welcome_email": false,
    })
}

/// `GET /users/me` (§1): the caller's user object, `is_bot: true` for a bot.
fn get_me(st: &RestState, user_id: &str) -> Answer {
    let u = st.users.iter().find(|u| u.id == user_id).ok_or_else(|| {
        err(
            404,
            "app.user.missing_account.const",
            "Unable to find the user.",
        )
    })?;
    Ok((200, user_json(u)))
}

fn channel_json(c: &RestChannel) -> Value {
    json!({
        "id": c.id,
        "create_at": c.create_at,
        "update_at": c.create_at,
        "delete_at": c.delete_at,
        "team_id": c.team_id,
        "type": match c.kind { ChannelKind::Open => "O", ChannelKind::Private => "P" },
        "display_name": c.display_name,
        "name": c.name,
        "header": "",
        "purpose": "",
        "last_post_at": 0,
        "total_msg_count": 0,
        "extra_update_at": 0,
        "creator_id": "",
        "group_constrained": Value::Null,
        "shared": Value::Null,
        "policy_id": Value::Null,
    })
}

fn is_team_member(st: &RestState, team_id: &str, user_id: &str) -> bool {
    st.teams
        .iter()
        .any(|t| t.id == team_id && t.members.contains(user_id))
}

/// Read access to a channel: member, or an open channel and a member of its team
/// (`read_public_channel`, §3).
fn can_read(st: &RestState, c: &RestChannel, user_id: &str) -> bool {
    c.members.contains(user_id)
        || (c.kind == ChannelKind::Open && is_team_member(st, &c.team_id, user_id))
}

/// `GET /teams/name/{team}/channels/name/{channel}` (§3, `getChannelByNameForTeamName`).
fn channel_by_name(
    st: &RestState,
    user_id: &str,
    team: &str,
    channel: &str,
    include_deleted: bool,
) -> Answer {
    if !is_valid_team_name(team) {
        return Err(invalid_url_param("team_name"));
    }
    if !is_valid_channel_name(channel) {
        return Err(invalid_url_param("channel_name"));
    }
    let team = st.teams.iter().find(|t| t.name == team).ok_or_else(|| {
        err(
            404,
            "app.team.get_by_name.missing.app_error",
            "Unable to find the existing team.",
        )
    })?;
    let missing = || {
        err(
            404,
            "app.channel.get_by_name.missing.app_error",
            "Channel does not exist.",
        )
    };
    // The store's `GetByName` excludes archived channels unless `include_deleted` (§3).
    let c = st
        .channels
        .iter()
        .find(|c| {
            c.team_id == team.id && c.name == channel && (include_deleted || c.delete_at == 0)
        })
        .ok_or_else(missing)?;
    match c.kind {
        // C2: a private channel the caller is not in answers as if it did not exist.
        ChannelKind::Private if !c.members.contains(user_id) => Err(missing()),
        ChannelKind::Private => Ok((200, channel_json(c))),
        ChannelKind::Open if can_read(st, c, user_id) => Ok((200, channel_json(c))),
        ChannelKind::Open => Err(permission(user_id, "read_public_channel")),
    }
}

/// `GET /channels/{id}` (§3, `getChannel`): missing 404, no access 403 (private too).
fn get_channel(st: &RestState, user_id: &str, id: &str) -> Answer {
    if !is_valid_id(id) {
        return Err(invalid_url_param("channel_id"));
    }
    let c = st.channels.iter().find(|c| c.id == id).ok_or_else(|| {
        err(
            404,
            "app.channel.get.existing.app_error",
            "Unable to find the existing channel.",
        )
    })?;
    if can_read(st, c, user_id) {
        Ok((200, channel_json(c)))
    } else {
        Err(permission(user_id, "read_channel"))
    }
}

/// `json.NewDecoder(r.Body).Decode(&post)` (§4.1): the first JSON value, an object
/// (or null), members matched case-insensitively, strict types, unknown keys ignored.
fn decode_object(body: &[u8], members: &[(&str, Kind)]) -> Result<Map<String, Value>, String> {
    let text = String::from_utf8_lossy(body);
    let value = match serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .next()
    {
        None => return Err("EOF".into()),
        Some(r) => r.map_err(|e| e.to_string())?,
    };
    let obj = match value {
        Value::Null => return Ok(Map::new()),
        Value::Object(o) => o,
        other => return Err(format!("json: cannot unmarshal {other} into Go value")),
    };
    let mut out = Map::new();
    for (key, v) in obj {
        let folded = go_fold(&key);
        let Some((name, kind)) = members.iter().find(|(m, _)| *m == folded) else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        let ok = match kind {
            Kind::Str => v.is_string(),
            Kind::Bool => v.is_boolean(),
            Kind::Int => v.is_i64(),
            Kind::Obj => v.is_object(),
            Kind::StrList => v
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x.is_string() || x.is_null())),
            Kind::Any => true,
        };
        if !ok {
            return Err(format!(
                "json: cannot unmarshal into Go struct field .{name} of wrong type"
            ));
        }
        out.insert((*name).to_string(), v);
    }
    Ok(out)
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    Obj,
    StrList,
    Any,
}

/// The members of `model.Post` a client may send (others are ignored by our decoder).
const POST_MEMBERS: &[(&str, Kind)] = &[
    ("id", Kind::Str),
    ("create_at", Kind::Int),
    ("update_at", Kind::Int),
    ("edit_at", Kind::Int),
    ("delete_at", Kind::Int),
    ("is_pinned", Kind::Bool),
    ("user_id", Kind::Str),
    ("channel_id", Kind::Str),
    ("root_id", Kind::Str),
    ("original_id", Kind::Str),
    ("message", Kind::Str),
    ("type", Kind::Str),
    ("props", Kind::Obj),
    ("hashtags", Kind::Str),
    ("file_ids", Kind::StrList),
    ("pending_post_id", Kind::Str),
    ("remote_id", Kind::Str),
    ("metadata", Kind::Any),
];

/// `model.PostPatch` (§5): all optional.
const PATCH_MEMBERS: &[(&str, Kind)] = &[
    ("is_pinned", Kind::Bool),
    ("message", Kind::Str),
    ("props", Kind::Obj),
    ("file_ids", Kind::StrList),
    ("has_reactions", Kind::Bool),
];

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

fn reply_stats(st: &RestState, post_id: &str) -> (usize, i64) {
    let replies = st
        .posts
        .iter()
        .filter(|p| p.root_id == post_id && p.delete_at == 0);
    replies.fold((0, 0), |(n, last), p| (n + 1, last.max(p.create_at)))
}

fn post_json(st: &RestState, p: &RestPost) -> Value {
    let root = if p.root_id.is_empty() {
        &p.id
    } else {
        &p.root_id
    };
    let (n, last) = reply_stats(st, root);
    p.to_json(n, last)
}

/// `POST /posts` (§4), checks in the order of the facts page.
fn create_post(st: &mut RestState, user_id: &str, body: &[u8], now: i64) -> Answer {
    // §4.1: decode; over MaximumPayloadSizeBytes + 512 the decoder hits MaxBytesError → 413.
    if body.len() > st.max_payload_bytes + BODY_CAP_SLACK {
        return Err(err(
            413,
            "api.context.request_body_too_large.app_error",
            "Unable to process request. Request body too large.",
        ));
    }
    let m = decode_object(body, POST_MEMBERS).map_err(|e| invalid_body_param("post", e))?;
    // §4.2: SanitizeInput; user_id forced to the session's; create_at reset (no manage_system).
    let channel_id = str_of(&m, "channel_id").to_string();
    let root_id = str_of(&m, "root_id").to_string();
    let message = str_of(&m, "message").to_string();
    let post_type = str_of(&m, "type").to_string();
    let pending_post_id = str_of(&m, "pending_post_id").to_string();
    let mut props = m
        .get("props")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let file_ids: Vec<String> = m
        .get("file_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();

    // §4.3: create_post on the channel (member), or create_post_public in the team for an
    // open channel; otherwise 403 — also for an unknown or empty channel id (C4).
    let user = st.users.iter().find(|u| u.id == user_id).cloned();
    let channel = st.channels.iter().find(|c| c.id == channel_id).cloned();
    let allowed = channel.as_ref().is_some_and(|c| {
        c.members.contains(user_id)
            || (c.kind == ChannelKind::Open
                && user.as_ref().is_some_and(|u| u.post_all_public)
                && is_team_member(st, &c.team_id, user_id))
    });
    if !allowed {
        return Err(permission(user_id, "create_post"));
    }
    let channel = channel.ok_or_else(|| invalid_param("post.channel_id"))?;
    // §4.4: system types refused; archived channel refused.
    if post_type.starts_with("system_") {
        return Err(invalid_param("post.type"));
    }
    if channel.delete_at != 0 {
        return Err(err(
            400,
            "api.post.create_post.can_not_post_to_deleted.error",
            "Can not post to deleted channel.",
        ));
    }
    // §4.5: a repeat of a pending_post_id within 30 s returns the first post.
    if !pending_post_id.is_empty() {
        let ttl = PENDING_POST_ID_TTL.as_millis() as i64;
        st.pending.retain(|_, (_, at)| now - *at < ttl);
        if let Some((seen, _)) = st.pending.get(&pending_post_id).cloned() {
            let Some(first_id) = seen else {
                return Err(err(
                    500,
                    "api.post.deduplicate_create_post.pending",
                    "Post rejected by server. Please try again later.",
                ));
            };
            // The first post is read back without deleted ones; UNVERIFIED: a deleted first
            // post gives 500 `api.post.deduplicate_create_post.failed_to_get`.
            let first = st
                .posts
                .iter()
                .find(|p| p.id == first_id && p.delete_at == 0)
                .cloned();
            return match first {
                Some(p) => Ok((201, post_json(st, &p))),
                None => Err(err(
                    500,
                    "api.post.deduplicate_create_post.failed_to_get",
                    "Failed to fetch original post after deduplicating a client repeating the same request.",
                )),
            };
        }
    }
    // §4.6: thread rules (deleted roots excluded).
    if !root_id.is_empty() {
        let root_err = || {
            err(
                400,
                "api.post.create_post.root_id.app_error",
                "Invalid RootId parameter.",
            )
        };
        let root = st
            .posts
            .iter()
            .find(|p| p.id == root_id && p.delete_at == 0)
            .ok_or_else(root_err)?;
        if root.channel_id != channel_id {
            return Err(err(
                400,
                "api.post.create_post.channel_root_id.app_error",
                "Invalid ChannelId for RootId parameter.",
            ));
        }
        if !root.root_id.is_empty() {
            return Err(root_err());
        }
    }
    // §4.7: the server marks bot posts.
    if user.as_ref().is_some_and(|u| u.is_bot) {
        props.insert("from_bot".into(), Value::String("true".into()));
    }
    // §4.8: Post.IsValid at save; the REST API never splits a long message.
    if message.chars().count() > REST_MESSAGE_MAX_RUNES {
        return Err(err(
            400,
            "model.post.is_valid.message_length.app_error",
            "Message property is longer than the maximum allowed characters.",
        ));
    }
    let known = matches!(
        post_type.as_str(),
        "" | "slack_attachment" | "me" | "reminder" | "add_bot_teams_channels"
    );
    if !known && !post_type.starts_with("custom_") {
        return Err(err(
            400,
            "model.post.is_valid.type.app_error",
            "Invalid type.",
        ));
    }
    let props_value = Value::Object(props.clone());
    if super::mattermost::go_marshal(&props_value).chars().count() > REST_PROPS_MAX_RUNES {
        return Err(err(
            400,
            "model.post.is_valid.props.app_error",
            "Invalid props.",
        ));
    }
    // §4.9: 201 with the post.
    let mut post = new_post(
        user_id,
        &channel_id,
        &root_id,
        &message,
        &post_type,
        props,
        now,
    );
    post.file_ids = file_ids;
    post.pending_post_id.clone_from(&pending_post_id);
    if !pending_post_id.is_empty() {
        st.pending
            .insert(pending_post_id, (Some(post.id.clone()), now));
    }
    // §9: the root's update_at is bumped by a reply (UNVERIFIED).
    if !root_id.is_empty() {
        if let Some(root) = st.posts.iter_mut().find(|p| p.id == root_id) {
            root.update_at = now;
        }
    }
    st.posts.push(post.clone());
    Ok((201, post_json(st, &post)))
}

/// `PUT /posts/{id}/patch` (§5).
fn patch_post(st: &mut RestState, user_id: &str, id: &str, body: &[u8], now: i64) -> Answer {
    // §5.1, §5.2.
    if !is_valid_id(id) {
        return Err(invalid_url_param("post_id"));
    }
    let patch = decode_object(body, PATCH_MEMBERS).map_err(|e| invalid_body_param("post", e))?;
    // §5.3 (C1): unknown or deleted → 403 edit_post, not 404.
    let Some(idx) = st.posts.iter().position(|p| p.id == id && p.delete_at == 0) else {
        return Err(permission(user_id, "edit_post"));
    };
    let post = st.posts[idx].clone();
    // §5.4: own post → edit_post on its channel (membership); others' → edit_others_posts.
    let channel = st
        .channels
        .iter()
        .find(|c| c.id == post.channel_id)
        .cloned();
    let member = channel
        .as_ref()
        .is_some_and(|c| c.members.contains(user_id));
    if post.user_id != user_id {
        return Err(permission(user_id, "edit_others_posts"));
    }
    if !member {
        return Err(permission(user_id, "edit_post"));
    }
    // §5.5: the edit time limit applies only to a patch that carries `message`.
    if patch.contains_key("message")
        && st.edit_time_limit >= 0
        && now > post.create_at + st.edit_time_limit * 1000
    {
        return Err(ApiError {
            detailed: format!("timeLimit={}", st.edit_time_limit),
            ..err(
                400,
                "api.post.update_post.permissions_time_limit.app_error",
                &format!(
                    "Post edit is only allowed for {} seconds. Please ask your System Administrator for details.",
                    st.edit_time_limit
                ),
            )
        });
    }
    // §5.6: archived channel.
    if channel.as_ref().is_some_and(|c| c.delete_at != 0) {
        return Err(err(
            400,
            "api.post.patch_post.can_not_update_post_in_deleted.error",
            "Cannot update a post in a deleted channel.",
        ));
    }
    // §5: `props`, when present, replaces the whole map (UNVERIFIED: whether the server
    // re-adds `from_bot`; we do not).
    let p = &mut st.posts[idx];
    let old_attachments = p.attachments();
    let mut message_changed = false;
    if let Some(m) = patch.get("message").and_then(Value::as_str) {
        message_changed = m != p.message;
        p.message = m.to_string();
    }
    if let Some(props) = patch.get("props").and_then(Value::as_object) {
        p.props.clone_from(props);
    }
    if let Some(b) = patch.get("is_pinned").and_then(Value::as_bool) {
        p.is_pinned = b;
    }
    if let Some(b) = patch.get("has_reactions").and_then(Value::as_bool) {
        p.has_reactions = b;
    }
    if let Some(ids) = patch.get("file_ids").and_then(Value::as_array) {
        p.file_ids = ids
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
    }
    if message_changed || p.attachments() != old_attachments {
        p.edit_at = now;
    }
    p.update_at = now;
    let record = PatchRecord {
        at: now,
        message: p.message.clone(),
        props: p.props.clone(),
        body: Value::Object(patch),
    };
    p.history.push(record);
    let p = st.posts[idx].clone();
    Ok((200, post_json(st, &p)))
}

/// `GET /posts/{id}` (§6): unknown or deleted → 404; no read access → 403.
fn get_post(st: &RestState, user_id: &str, id: &str) -> Answer {
    if !is_valid_id(id) {
        return Err(invalid_url_param("post_id"));
    }
    let p = st
        .posts
        .iter()
        .find(|p| p.id == id && p.delete_at == 0)
        .ok_or_else(|| err(404, "app.post.get.app_error", "Unable to get the post."))?;
    let readable = st
        .channels
        .iter()
        .find(|c| c.id == p.channel_id)
        .is_some_and(|c| can_read(st, c, user_id));
    if !readable {
        return Err(permission(user_id, "read_channel"));
    }
    Ok((200, post_json(st, p)))
}

/// `DELETE /posts/{id}` (§6): own post needs `delete_post` (member), others'
/// `delete_others_posts`; soft-deletes the post and its replies.
fn delete_post(st: &mut RestState, user_id: &str, id: &str, now: i64) -> Answer {
    if !is_valid_id(id) {
        return Err(invalid_url_param("post_id"));
    }
    // UNVERIFIED: unknown/deleted answers 403 `delete_post` (read like patch's §5.3).
    let Some(p) = st.posts.iter().find(|p| p.id == id && p.delete_at == 0) else {
        return Err(permission(user_id, "delete_post"));
    };
    if p.user_id != user_id {
        return Err(permission(user_id, "delete_others_posts"));
    }
    let member = st
        .channels
        .iter()
        .any(|c| c.id == p.channel_id && c.members.contains(user_id));
    if !member {
        return Err(permission(user_id, "delete_post"));
    }
    soft_delete(st, id, now);
    Ok((200, json!({"status": "OK"})))
}

/// `GET /channels/{id}/posts` (§6): a `PostList`, newest first, live posts only;
/// `page`/`per_page`, and `since` (posts changed after it, deleted ones included).
/// `before`/`after` are not emulated (UNVERIFIED semantics).
fn channel_posts(st: &RestState, user_id: &str, id: &str, query: &str) -> Answer {
    if !is_valid_id(id) {
        return Err(invalid_url_param("channel_id"));
    }
    let c = st.channels.iter().find(|c| c.id == id).ok_or_else(|| {
        err(
            404,
            "app.channel.get.existing.app_error",
            "Unable to find the existing channel.",
        )
    })?;
    if !can_read(st, c, user_id) {
        return Err(permission(user_id, "read_channel"));
    }
    let q = super::http::form_decode(query);
    let num = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse::<i64>().ok())
    };
    let per_page =
        num("per_page").map_or(DEFAULT_PER_PAGE, |n| (n.max(0) as usize).min(MAX_PER_PAGE));
    let page = num("page").unwrap_or(0).max(0) as usize;
    let since = num("since");
    let mut list: Vec<&RestPost> = st
        .posts
        .iter()
        .filter(|p| p.channel_id == id)
        .filter(|p| match since {
            Some(s) => p.update_at > s,
            None => p.delete_at == 0,
        })
        .collect();
    list.sort_by_key(|p| std::cmp::Reverse(p.create_at));
    let window: Vec<&RestPost> = if since.is_some() {
        list
    } else {
        list.into_iter()
            .skip(page * per_page)
            .take(per_page)
            .collect()
    };
    let order: Vec<&str> = window.iter().map(|p| p.id.as_str()).collect();
    let posts: Map<String, Value> = window
        .iter()
        .map(|p| (p.id.clone(), post_json(st, p)))
        .collect();
    Ok((
        200,
        json!({
            "order": order,
            "posts": posts,
            "next_post_id": "",
            "prev_post_id": "",
            "has_next": false,
        }),
    ))
}
