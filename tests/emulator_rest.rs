//! Self-tests of the emulator's REST API (`tests/support/rest.rs`): each test drives it
//! over a real socket and checks one group of facts of `shared/mattermost-rest.md` (§ in
//! the test names' comments), so that a bot test passing against the emulator means
//! working against a real server. No mmnotify code is involved.

use crate::support::*;
use serde_json::{json, Value};
use std::time::Duration;

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `id` of an error body, checked to have the `AppError` shape (§2).
    fn error_id(&self) -> String {
        let v = self.json();
        let keys: Vec<&str> = v
            .as_object()
            .expect("error body is an object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut want = vec![
            "detailed_error",
            "id",
            "message",
            "request_id",
            "status_code",
        ];
        let mut got = keys.clone();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "AppError keys: {}", self.body);
        assert_eq!(v["status_code"], json!(self.status), "{}", self.body);
        // §2: error bodies have no trailing newline, and the request id is the header's.
        assert!(!self.body.ends_with('\n'), "{:?}", self.body);
        assert_eq!(
            v["request_id"].as_str(),
            self.header("X-Request-Id"),
            "request_id = X-Request-Id"
        );
        assert!(
            self.body.starts_with("{\"id\":"),
            "key order id, message, …: {}",
            self.body
        );
        v["id"].as_str().unwrap_or_default().to_string()
    }

    fn detailed(&self) -> String {
        self.json()["detailed_error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// A client that never errors on a status and ignores proxy variables.
fn agent() -> ureq::Agent {
    let cfg = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .proxy(None)
        .build();
    ureq::Agent::new_with_config(cfg)
}

/// One request: `method` to `server.url() + path`, with a bearer token when given, extra
/// headers, and a body for POST/PUT.
fn call_with(
    server: &MockServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    let url = format!("{}{path}", server.url());
    let agent = agent();
    let mut hs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    if let Some(t) = token {
        hs.push(("Authorization".into(), format!("Bearer {t}")));
    }
    let result = match method {
        "GET" | "DELETE" => {
            let mut rb = if method == "GET" {
                agent.get(&url)
            } else {
                agent.delete(&url)
            };
            for (k, v) in &hs {
                rb = rb.header(k, v);
            }
            rb.call()
        }
        _ => {
            let mut rb = if method == "PUT" {
                agent.put(&url)
            } else {
                agent.post(&url)
            };
            rb = rb.header("Content-Type", "application/json");
            for (k, v) in &hs {
                rb = rb.header(k, v);
            }
            rb.send(body.unwrap_or_default())
        }
    };
    let mut resp = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Answer {
        status: resp.status().as_u16(),
        headers,
        body: resp.body_mut().read_to_string().expect("body"),
    }
}

fn get(server: &MockServer, path: &str, token: &str) -> Answer {
    call_with(server, "GET", path, Some(token), &[], None)
}

fn post(server: &MockServer, token: &str, body: &Value) -> Answer {
    let b = body.to_string();
    call_with(
        server,
        "POST",
        "/api/v4/posts",
        Some(token),
        &[],
        Some(b.as_bytes()),
    )
}

fn patch(server: &MockServer, token: &str, id: &str, body: &Value) -> Answer {
    let b = body.to_string();
    let path = format!("/api/v4/posts/{id}/patch");
    call_with(server, "PUT", &path, Some(token), &[], Some(b.as_bytes()))
}

fn delete(server: &MockServer, token: &str, id: &str) -> Answer {
    call_with(
        server,
        "DELETE",
        &format!("/api/v4/posts/{id}"),
        Some(token),
        &[],
        None,
    )
}

/// A success body: JSON, newline-terminated (§2), with the API headers (§1).
fn ok(a: &Answer, status: u16) -> Value {
    assert_eq!(a.status, status, "{}", a.body);
    assert!(
        a.body.ends_with('\n'),
        "success bodies end with a newline: {:?}",
        a.body
    );
    assert_eq!(a.header("Content-Type"), Some("application/json"));
    assert_eq!(a.header("X-Request-Id").map(str::len), Some(26));
    assert!(a.header("X-Version-Id").is_some_and(|v| !v.is_empty()));
    a.json()
}

fn started() -> (MockServer, Seed) {
    let server = MockServer::start();
    let seed = server.rest().seed();
    (server, seed)
}

/// §1 + §2: where the token is read from, what a missing, unknown, revoked or
/// query-string token gets, and that only developer mode echoes the token.
#[test]
fn rest_auth_bearer_tokens_and_401s() {
    let (server, seed) = started();
    let token = seed.bot.token.as_str();
    let me = "/api/v4/users/me";
    let call = |headers: &[(&str, &str)]| call_with(&server, "GET", me, None, headers, None);

    let bearer = format!("Bearer {token}");
    let upper = format!("BEARER {token}");
    let token_scheme = format!("Token {token}");
    let cookie = format!("MMAUTHTOKEN={token}");
    for h in [&bearer, &upper, &token_scheme] {
        ok(&call(&[("Authorization", h)]), 200);
    }
    ok(&call(&[("Cookie", &cookie)]), 200);

    let none = call(&[]);
    assert_eq!(none.status, 401);
    assert_eq!(none.error_id(), "api.context.session_expired.app_error");
    assert_eq!(none.detailed(), "", "blank without developer mode");

    let query = call_with(
        &server,
        "GET",
        &format!("{me}?access_token={token}"),
        None,
        &[],
        None,
    );
    assert_eq!(query.status, 401);
    assert_eq!(query.error_id(), "api.context.token_provided.app_error");

    let unknown = "zzzzzzzzzzzzzzzzzzzzzzzzzz";
    let a = get(&server, me, unknown);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (401, "api.context.session_expired.app_error")
    );
    assert_eq!(a.detailed(), "", "production servers blank detailed_error");
    assert!(!a.body.contains(unknown));

    server.rest().set_developer_mode(true);
    let a = get(&server, me, unknown);
    assert_eq!(a.status, 401);
    assert_eq!(
        a.detailed(),
        format!("token={unknown}"),
        "developer mode echoes the token"
    );
    let a = call(&[]);
    assert_eq!(a.detailed(), "UserRequired");
    server.rest().set_developer_mode(false);

    server.rest().revoke_token(token);
    let a = get(&server, me, token);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (401, "api.context.session_expired.app_error")
    );
    let second = server.rest().create_token(&seed.bot.user_id);
    ok(&get(&server, me, &second), 200);
}

/// §1: `GET /users/me` returns the bot's user object.
#[test]
fn rest_users_me_is_the_bot() {
    let (server, seed) = started();
    let me = ok(&get(&server, "/api/v4/users/me", &seed.bot.token), 200);
    assert_eq!(me["id"], json!(seed.bot.user_id));
    assert_eq!(me["username"], json!("mmnotify-bot"));
    assert_eq!(me["is_bot"], json!(true));
}

/// §3: channels by team and channel URL name: found, missing, archived, private, and
/// open channels outside the caller's team; invalid names.
#[test]
fn rest_channel_by_name() {
    let (server, seed) = started();
    let t = seed.bot.token.as_str();
    let by_name = |team: &str, channel: &str| {
        get(
            &server,
            &format!("/api/v4/teams/name/{team}/channels/name/{channel}"),
            t,
        )
    };
    let c = ok(&by_name("dev-team", "builds"), 200);
    assert_eq!(c["id"], json!(seed.builds));
    assert_eq!(c["team_id"], json!(seed.team));
    assert_eq!(
        (c["type"].as_str(), c["name"].as_str()),
        (Some("O"), Some("builds"))
    );
    let c = ok(&by_name("dev-team", "private-builds"), 200);
    assert_eq!(c["type"], json!("P"));
    // Open channel, bot only a team member: readable.
    ok(&by_name("dev-team", "general"), 200);

    let missing = "app.channel.get_by_name.missing.app_error";
    for (team, channel, status, id) in [
        (
            "no-team",
            "builds",
            404,
            "app.team.get_by_name.missing.app_error",
        ),
        ("dev-team", "nope", 404, missing),
        // C2: a private channel the bot is not in looks missing.
        ("dev-team", "secret", 404, missing),
        // Archived channels are excluded without include_deleted.
        ("dev-team", "old", 404, missing),
        (
            "Dev-Team",
            "builds",
            400,
            "api.context.invalid_url_param.app_error",
        ),
        (
            "dev-team",
            "Builds",
            400,
            "api.context.invalid_url_param.app_error",
        ),
    ] {
        let a = by_name(team, channel);
        assert_eq!(
            (a.status, a.error_id().as_str()),
            (status, id),
            "{team}/{channel}"
        );
    }
    let a = get(
        &server,
        "/api/v4/teams/name/dev-team/channels/name/old?include_deleted=true",
        t,
    );
    assert!(ok(&a, 200)["delete_at"].as_i64().unwrap_or(0) > 0);

    // Open channel of a team the bot is not in: 403 read_public_channel.
    let rest = server.rest();
    let other = rest.create_team("other-team");
    rest.create_channel(&other, "town-square", ChannelKind::Open);
    let a = by_name("other-team", "town-square");
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (403, "api.context.permissions.app_error")
    );
    rest.set_developer_mode(true);
    let a = by_name("other-team", "town-square");
    assert!(
        a.detailed().contains("permission=read_public_channel"),
        "{}",
        a.body
    );
}

/// §3: `GET /channels/{id}`: 200, 404 unknown, 403 private non-member (not 404), 400 id.
#[test]
fn rest_channel_by_id() {
    let (server, seed) = started();
    let t = seed.bot.token.as_str();
    let c = ok(
        &get(&server, &format!("/api/v4/channels/{}", seed.builds), t),
        200,
    );
    assert_eq!(c["name"], json!("builds"));
    let a = get(&server, &format!("/api/v4/channels/{}", new_id()), t);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (404, "app.channel.get.existing.app_error")
    );
    let a = get(&server, &format!("/api/v4/channels/{}", seed.secret), t);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (403, "api.context.permissions.app_error")
    );
    let a = get(&server, "/api/v4/channels/not-an-id", t);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (400, "api.context.invalid_url_param.app_error")
    );
}

/// §4: creating a post: 201 with the post and `from_bot`; membership, unknown channel,
/// archived channel, body and validity errors.
#[test]
fn rest_create_post_rules() {
    let (server, seed) = started();
    let t = seed.bot.token.as_str();
    let attachments = json!([{"text": "details", "color": "#ff0000"}]);
    let a = post(
        &server,
        t,
        &json!({
            "channel_id": seed.builds, "message": "deploy running",
            "props": {"attachments": attachments, "mmnotify": {"run_key": "r1"}},
            "user_id": "ignored", "create_at": 5,
        }),
    );
    let p = ok(&a, 201);
    assert_eq!(p["id"].as_str().map(str::len), Some(26));
    assert_eq!(
        p["user_id"],
        json!(seed.bot.user_id),
        "user_id forced to the session's"
    );
    assert!(p["create_at"].as_i64().unwrap_or(0) > 5, "create_at reset");
    assert_eq!(p["props"]["from_bot"], json!("true"));
    assert_eq!(p["props"]["attachments"], attachments);
    assert_eq!(p["props"]["mmnotify"]["run_key"], json!("r1"));
    let stored = server
        .rest()
        .post(p["id"].as_str().unwrap_or_default())
        .expect("stored");
    assert_eq!(stored.message, "deploy running");
    assert_eq!(stored.attachments(), attachments);

    let perm = "api.context.permissions.app_error";
    for (channel, why) in [
        (seed.general.clone(), "open channel, not a member"),
        (seed.secret.clone(), "private channel, not a member"),
        (new_id(), "unknown channel id (C4)"),
        (String::new(), "empty channel id"),
    ] {
        let a = post(&server, t, &json!({"channel_id": channel, "message": "x"}));
        assert_eq!((a.status, a.error_id().as_str()), (403, perm), "{why}");
    }
    // "post:channels" lets the bot post in open channels of its team without membership.
    server.rest().set_post_all_public(&seed.bot.user_id, true);
    ok(
        &post(
            &server,
            t,
            &json!({"channel_id": seed.general, "message": "x"}),
        ),
        201,
    );
    let a = post(
        &server,
        t,
        &json!({"channel_id": seed.secret, "message": "x"}),
    );
    assert_eq!(a.status, 403, "post:channels is for open channels only");

    let b = &seed.builds;
    let long = "é".repeat(16384);
    for (body, status, id) in [
        (
            json!({"channel_id": seed.old, "message": "x"}),
            400,
            "api.post.create_post.can_not_post_to_deleted.error",
        ),
        (
            json!({"channel_id": b, "message": 5}),
            400,
            "api.context.invalid_body_param.app_error",
        ),
        (json!([1]), 400, "api.context.invalid_body_param.app_error"),
        (
            json!({"channel_id": b, "type": "system_join_channel"}),
            400,
            "api.context.invalid_param.app_error",
        ),
        (
            json!({"channel_id": b, "type": "bogus"}),
            400,
            "model.post.is_valid.type.app_error",
        ),
        (
            json!({"channel_id": b, "message": long}),
            400,
            "model.post.is_valid.message_length.app_error",
        ),
    ] {
        let a = post(&server, t, &body);
        assert_eq!(
            (a.status, a.error_id().as_str()),
            (status, id),
            "{}",
            &a.body
        );
    }
    ok(
        &post(
            &server,
            t,
            &json!({"channel_id": b, "message": "é".repeat(16383)}),
        ),
        201,
    );
    let big = format!(
        "{{\"channel_id\":\"{b}\",\"message\":\"{}\"}}",
        "a".repeat(300_600)
    );
    let a = call_with(
        &server,
        "POST",
        "/api/v4/posts",
        Some(t),
        &[],
        Some(big.as_bytes()),
    );
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (413, "api.context.request_body_too_large.app_error")
    );
    let a = call_with(
        &server,
        "POST",
        "/api/v4/posts",
        Some(t),
        &[],
        Some(b"{not json"),
    );
    assert_eq!(a.status, 400);
}

/// §4.6: `root_id` rules: a reply to a root works; a reply's id, an unknown or deleted
/// root → 400 `root_id.app_error`; a root in another channel → 400 `channel_root_id`.
#[test]
fn rest_root_id_rules() {
    let (server, seed) = started();
    let t = seed.bot.token.as_str();
    let root = ok(
        &post(
            &server,
            t,
            &json!({"channel_id": seed.builds, "message": "root"}),
        ),
        201,
    );
    let root_id = root["id"].as_str().unwrap_or_default().to_string();
    let reply = ok(
        &post(
            &server,
            t,
            &json!({"channel_id": seed.builds, "message": "r", "root_id": root_id}),
        ),
        201,
    );
    assert_eq!(reply["root_id"], json!(root_id));
    let reply_id = reply["id"].as_str().unwrap_or_default().to_string();
    let got = ok(&get(&server, &format!("/api/v4/posts/{root_id}"), t), 200);
    assert_eq!(got["reply_count"], json!(1));
    assert_eq!(server.rest().replies(&root_id).len(), 1);

    let bad = "api.post.create_post.root_id.app_error";
    let gone = server
        .rest()
        .insert_post(&seed.bot.user_id, &seed.builds, "", "to delete");
    server.rest().delete_post(&gone);
    for (root, why) in [
        (reply_id.as_str(), "a reply as root"),
        (&new_id(), "unknown"),
        (&gone, "deleted"),
        ("short", "not an id"),
    ] {
        let a = post(
            &server,
            t,
            &json!({"channel_id": seed.builds, "message": "x", "root_id": root}),
        );
        assert_eq!((a.status, a.error_id().as_str()), (400, bad), "{why}");
        assert_eq!(a.json()["message"], json!("Invalid RootId parameter."));
    }
    let a = post(
        &server,
        t,
        &json!({"channel_id": seed.private_builds, "message": "x", "root_id": root_id}),
    );
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (400, "api.post.create_post.channel_root_id.app_error")
    );
}

/// §4.5: a repeated `pending_post_id` within 30 s returns the first post; after the
/// window a new post; a create still being saved → 500.
#[test]
fn rest_pending_post_id_dedupe() {
    let (server, seed) = started();
    let t = seed.bot.token.as_str();
    server.rest().freeze_clock();
    let body = json!({"channel_id": seed.builds, "message": "m", "pending_post_id": "run-1"});
    let first = ok(&post(&server, t, &body), 201);
    assert_eq!(first["pending_post_id"], json!("run-1"));
    server.rest().advance_clock(Duration::from_secs(29));
    let again = ok(&post(&server, t, &body), 201);
    assert_eq!(again["id"], first["id"], "same post within 30 s");
    assert_eq!(server.rest().posts_in(&seed.builds).len(), 1);
    server.rest().advance_clock(Duration::from_secs(2));
    let later = ok(&post(&server, t, &body), 201);
    assert_ne!(later["id"], first["id"], "a new post after 30 s");
    assert_eq!(server.rest().posts_in(&seed.builds).len(), 2);

    server.rest().hold_pending_post_id("run-2");
    let body = json!({"channel_id": seed.builds, "message": "m", "pending_post_id": "run-2"});
    let a = post(&server, t, &body);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (500, "api.post.deduplicate_create_post.pending")
    );
}

/// §5: patching: 200 with the post, props replaced whole, `message` alone keeps them,
/// `edit_at`; unknown, deleted, others' posts and lost membership → 403; the edit time
/// limit applies only to patches carrying `message`.
#[test]
fn rest_patch_rules() {
    let (server, seed) = started();
    let t = seed.bot.token.as_str();
    let rest = server.rest();
    let created = ok(
        &post(
            &server,
            t,
            &json!({
                "channel_id": seed.builds, "message": "running",
                "props": {"attachments": [{"text": "a"}], "keep": "no"},
            }),
        ),
        201,
    );
    let id = created["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(created["edit_at"], json!(0));

    let p = ok(&patch(&server, t, &id, &json!({"message": "passed"})), 200);
    assert_eq!(p["message"], json!("passed"));
    assert_eq!(
        p["props"]["attachments"],
        json!([{"text": "a"}]),
        "message-only keeps props"
    );
    assert!(p["edit_at"].as_i64().unwrap_or(0) > 0);
    let p = ok(
        &patch(
            &server,
            t,
            &id,
            &json!({"props": {"attachments": [{"text": "b"}]}}),
        ),
        200,
    );
    assert_eq!(
        p["props"],
        json!({"attachments": [{"text": "b"}]}),
        "props replace the whole map"
    );
    let history = rest.patch_history(&id);
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].message, "passed");
    assert_eq!(
        history[1].body,
        json!({"props": {"attachments": [{"text": "b"}]}})
    );

    // Edit time limit (default none): a message patch after it is 400, props-only is not.
    rest.set_edit_time_limit(Some(Duration::from_secs(60)));
    ok(
        &patch(&server, t, &id, &json!({"message": "still in time"})),
        200,
    );
    rest.age_post(&id, Duration::from_secs(61));
    let a = patch(&server, t, &id, &json!({"message": "late"}));
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (400, "api.post.update_post.permissions_time_limit.app_error")
    );
    ok(&patch(&server, t, &id, &json!({"props": {"x": "y"}})), 200);
    rest.set_edit_time_limit(None);
    ok(
        &patch(&server, t, &id, &json!({"message": "no limit"})),
        200,
    );

    let perm = "api.context.permissions.app_error";
    let alices = rest.insert_post(&seed.alice, &seed.builds, "", "alice's");
    let deleted = rest.insert_post(&seed.bot.user_id, &seed.builds, "", "deleted");
    rest.delete_post(&deleted);
    for (target, why) in [
        (new_id(), "unknown"),
        (deleted.clone(), "deleted (C1)"),
        (alices, "someone else's"),
    ] {
        let a = patch(&server, t, &target, &json!({"message": "x"}));
        assert_eq!((a.status, a.error_id().as_str()), (403, perm), "{why}");
    }
    // The way to tell a deleted post from a real 403: GET answers 404 for it.
    let a = get(&server, &format!("/api/v4/posts/{deleted}"), t);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (404, "app.post.get.app_error")
    );
    rest.remove_member(&seed.builds, &seed.bot.user_id);
    let a = patch(&server, t, &id, &json!({"message": "x"}));
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (403, perm),
        "removed from the channel"
    );
    let a = patch(&server, t, "bad-id", &json!({}));
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (400, "api.context.invalid_url_param.app_error")
    );
    let a = patch(&server, t, &id, &json!({"message": 1}));
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (400, "api.context.invalid_body_param.app_error")
    );
}

/// §6: reading and deleting: a delete takes the replies with it; GET of a deleted post
/// is 404; others' posts cannot be deleted; GET needs read access.
#[test]
fn rest_get_and_delete_posts() {
    let (server, seed) = started();
    let t = seed.bot.token.as_str();
    let rest = server.rest();
    let root = ok(
        &post(
            &server,
            t,
            &json!({"channel_id": seed.builds, "message": "root"}),
        ),
        201,
    );
    let root_id = root["id"].as_str().unwrap_or_default().to_string();
    let reply = ok(
        &post(
            &server,
            t,
            &json!({"channel_id": seed.builds, "message": "r", "root_id": root_id}),
        ),
        201,
    );
    let got = ok(&get(&server, &format!("/api/v4/posts/{root_id}"), t), 200);
    assert_eq!(got["message"], json!("root"));

    let alices = rest.insert_post(&seed.alice, &seed.builds, "", "alice's");
    let a = delete(&server, t, &alices);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (403, "api.context.permissions.app_error")
    );

    let a = delete(&server, t, &root_id);
    assert_eq!(a.status, 200);
    assert_eq!(a.json(), json!({"status": "OK"}));
    for id in [root_id.as_str(), reply["id"].as_str().unwrap_or_default()] {
        assert!(
            rest.post(id).expect("kept").is_deleted(),
            "soft-deleted with its thread"
        );
        let a = get(&server, &format!("/api/v4/posts/{id}"), t);
        assert_eq!(a.status, 404);
    }
    let secret_post = rest.insert_post(&seed.alice, &seed.secret, "", "hidden");
    let a = get(&server, &format!("/api/v4/posts/{secret_post}"), t);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (403, "api.context.permissions.app_error")
    );
}

/// §6: `GET /channels/{id}/posts`: a `PostList`, newest first, with props, without deleted
/// posts, paged; no read access → 403.
#[test]
fn rest_channel_posts_list() {
    let (server, seed) = started();
    let t = seed.bot.token.as_str();
    let rest = server.rest();
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = json!({"channel_id": seed.builds, "message": format!("m{i}"), "props": {"mmnotify": {"run_key": format!("k{i}")}}});
        ids.push(
            ok(&post(&server, t, &body), 201)["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        rest.advance_clock(Duration::from_millis(5));
    }
    rest.delete_post(&ids[1]);
    let list = ok(
        &get(
            &server,
            &format!("/api/v4/channels/{}/posts", seed.builds),
            t,
        ),
        200,
    );
    assert_eq!(
        list["order"],
        json!([ids[2], ids[0]]),
        "newest first, deleted left out"
    );
    assert_eq!(
        list["posts"][&ids[2]]["props"]["mmnotify"]["run_key"],
        json!("k2")
    );
    assert!(list.get("next_post_id").is_some() && list.get("prev_post_id").is_some());
    let page = ok(
        &get(
            &server,
            &format!("/api/v4/channels/{}/posts?page=1&per_page=1", seed.builds),
            t,
        ),
        200,
    );
    assert_eq!(page["order"], json!([ids[0]]));
    let a = get(
        &server,
        &format!("/api/v4/channels/{}/posts", seed.secret),
        t,
    );
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (403, "api.context.permissions.app_error")
    );
}

/// §7: with the limiter on, `X-RateLimit-*` on every answer and a plain-text 429 with
/// `Retry-After` and no `X-Request-Id`.
#[test]
fn rest_rate_limit() {
    let server = MockServer::start_with(ServerOptions {
        rate_limit: Some(RateLimit {
            per_sec: 1,
            burst: 0,
        }),
        ..ServerOptions::default()
    });
    let seed = server.rest().seed();
    let a = get(&server, "/api/v4/users/me", &seed.bot.token);
    ok(&a, 200);
    for h in [
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    ] {
        assert!(a.header(h).is_some(), "{h} on a success");
    }
    let a = get(&server, "/api/v4/users/me", &seed.bot.token);
    assert_eq!(a.status, 429);
    assert_eq!(a.body, "limit exceeded\n");
    assert_eq!(a.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert!(a
        .header("Retry-After")
        .is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)));
    assert!(a.header("X-RateLimit-Remaining").is_some());
    assert!(a.header("X-Request-Id").is_none());
}

/// §7 with `VaryByUser`: each bot has its own budget, counted after authentication,
/// refilled with time.
#[test]
fn rest_rate_limit_per_user() {
    let (server, seed) = started();
    let rest = server.rest();
    let other = rest.create_bot("other-bot");
    rest.freeze_clock();
    rest.set_rate_limit_per_user(Some(RateLimit {
        per_sec: 1,
        burst: 1,
    }));
    let me = "/api/v4/users/me";
    ok(&get(&server, me, &seed.bot.token), 200);
    let a = get(&server, me, &seed.bot.token);
    assert_eq!(
        (a.status, a.header("X-RateLimit-Remaining")),
        (200, Some("0"))
    );
    let a = get(&server, me, &seed.bot.token);
    assert_eq!((a.status, a.body.as_str()), (429, "limit exceeded\n"));
    assert_eq!(a.header("Retry-After"), Some("1"));
    assert!(a.header("X-Request-Id").is_none());
    // Another bot's budget is untouched; an unauthenticated request is not counted.
    ok(&get(&server, me, &other.token), 200);
    assert_eq!(get(&server, me, "zzzzzzzzzzzzzzzzzzzzzzzzzz").status, 401);
    rest.advance_clock(Duration::from_secs(1));
    ok(&get(&server, me, &seed.bot.token), 200);
    rest.set_rate_limit_per_user(None);
    for _ in 0..5 {
        ok(&get(&server, me, &seed.bot.token), 200);
    }
}

/// Faults scripted on the REST side: `AppError` bodies for Mattermost's own statuses,
/// nginx pages for a proxy's 502–504, a scripted 429; then normal handling again.
#[test]
fn rest_fault_injection() {
    let (server, seed) = started();
    let t = seed.bot.token.as_str();
    server.script([
        Fault::Status(500),
        Fault::Status(503),
        Fault::Status(401),
        Fault::RateLimited {
            retry_after: "2".into(),
        },
    ]);
    let body = json!({"channel_id": seed.builds, "message": "m"});
    let a = post(&server, t, &body);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (500, "app.post.save.app_error")
    );
    let a = post(&server, t, &body);
    assert_eq!(a.status, 503);
    assert!(a.body.contains("nginx"), "{}", a.body);
    let a = post(&server, t, &body);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (401, "api.context.session_expired.app_error")
    );
    let a = post(&server, t, &body);
    assert_eq!((a.status, a.header("Retry-After")), (429, Some("2")));
    assert!(
        server.rest().posts_in(&seed.builds).is_empty(),
        "faults post nothing"
    );
    ok(&post(&server, t, &body), 201);
    assert_eq!(server.requests().len(), 5, "every request is recorded");
}

/// Faults scripted for one endpoint (`Rest::script_on`) answer only requests to it, in
/// order, whatever else is asked in between; a 500 is the endpoint's store failure; a
/// session that cannot be made (§1) answers 500 `api.context.invalid_token.error` and
/// echoes the token in `detailed_error` only in developer mode (§2).
#[test]
fn rest_faults_for_one_endpoint() {
    let (server, seed) = started();
    let t = seed.bot.token.as_str();
    let id = ok(
        &post(
            &server,
            t,
            &json!({"channel_id": seed.builds, "message": "m"}),
        ),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .rest()
        .script_on(Call::PatchPost, [Fault::Status(503), Fault::Status(500)]);
    server
        .rest()
        .script_on(Call::GetPost, [Fault::SessionStoreFailed]);
    // Other endpoints answer normally.
    ok(&get(&server, "/api/v4/users/me", t), 200);
    let a = patch(&server, t, &id, &json!({"message": "n"}));
    assert_eq!(a.status, 503);
    assert!(a.body.contains("nginx"), "{}", a.body);
    let a = get(&server, &format!("/api/v4/posts/{id}"), t);
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (500, "api.context.invalid_token.error")
    );
    assert_eq!(a.detailed(), "", "blanked outside developer mode");
    let a = patch(&server, t, &id, &json!({"message": "n"}));
    assert_eq!(
        (a.status, a.error_id().as_str()),
        (500, "app.post.update.app_error")
    );
    assert_eq!(
        server.rest().post(&id).unwrap().message,
        "m",
        "faults change nothing"
    );
    ok(&patch(&server, t, &id, &json!({"message": "n"})), 200);
    server.rest().set_developer_mode(true);
    server
        .rest()
        .script_on(Call::CreatePost, [Fault::SessionStoreFailed]);
    let a = post(
        &server,
        t,
        &json!({"channel_id": seed.builds, "message": "m"}),
    );
    assert_eq!(a.status, 500);
    assert_eq!(a.detailed(), format!("token={t}"));
    ok(&get(&server, &format!("/api/v4/posts/{id}"), t), 200);
}

/// Routing: an unknown `/api/v4` path is a JSON 404, a known path with another method an
/// empty 405 (both UNVERIFIED details, see rest.rs), and webhooks still work beside it.
#[test]
fn rest_routing_beside_webhooks() {
    let (server, seed) = started();
    let t = seed.bot.token.as_str();
    let a = get(&server, "/api/v4/nothing/here", t);
    assert_eq!(a.status, 404);
    assert_eq!(a.error_id(), "api.context.404.app_error");
    let a = call_with(&server, "GET", "/api/v4/posts", Some(t), &[], None);
    assert_eq!((a.status, a.body.as_str()), (405, ""));
    let hook = call_with(
        &server,
        "POST",
        &format!("/hooks/{HOOK_ID}"),
        None,
        &[],
        Some(b"{\"text\":\"hi\"}"),
    );
    assert_eq!((hook.status, hook.body.as_str()), (200, "ok"));
    assert_eq!(server.posts().len(), 1);
}

/// `botted`: the `.bot` file names this server and a token it accepts.
#[test]
fn rest_botted_env_has_a_working_bot_file() {
    let (env, server, seed) = botted(ServerOptions::default());
    let file = std::fs::read_to_string(env.secrets_dir().join("bot.bot")).expect("bot file");
    let lines: Vec<&str> = file
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(lines, [server.url().as_str(), seed.bot.token.as_str()]);
    let me = ok(&get(&server, "/api/v4/users/me", lines[1]), 200);
    assert_eq!(me["id"], json!(seed.bot.user_id));
}

/// `botted` watches the bot token: output holding it fails the test.
#[test]
#[should_panic(expected = "SECRET LEAK")]
fn rest_botted_env_watches_the_bot_token() {
    let (env, _server, seed) = botted(ServerOptions::default());
    let echo = format!("echo {}", seed.bot.token);
    env.run(std::process::Command::new("sh").args(["-c", &echo]));
}
