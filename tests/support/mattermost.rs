//! The Mattermost side of the mock: routing, form handling and the checks of
//! `incomingWebhook` / `HandleIncomingWebhook` / `CreateWebhookPost`, answered the way
//! a real server does (see docs/mattermost-server.md, section numbers below).
//! Pure functions: no I/O, so the server module only moves bytes. JSON decoding is in
//! `decode.rs`.

use super::decode::{decode_payload, get_ci, Payload};
use super::http::{form_decode, new_id, Head, Response};
use super::server::{Era, Post, ServerOptions};
use serde_json::{Map, Value};

/// `ServiceSettings.MaximumURLLength` default (§1).
pub const MAX_URL_LENGTH: usize = 2048;
/// `MaxPostSize()` with the standard schema (§6), in Unicode code points.
pub const POST_MESSAGE_MAX_RUNES: usize = 16383;
/// `PostPropsMaxUserRunes` (§6).
pub const POST_PROPS_MAX_USER_RUNES: usize = 760_000;

const VERSION_A: &str = "9.11.0.9.11.0.4f0c2a7d1e.false";
const VERSION_B: &str = "10.5.0.10.5.0.8b3e61c9a2.false";

/// What the server should do with one request.
pub struct Outcome {
    pub response: Response,
    pub posts: Vec<Post>,
    /// Close the connection after answering (Go does after a `MaxBytesReader` overflow).
    pub close: bool,
}

impl Outcome {
    fn reply(response: Response) -> Self {
        Outcome {
            response,
            posts: Vec::new(),
            close: false,
        }
    }
}

/// How an app-layer failure is reported; era B wraps most of them (§0, §4.1).
enum Layer {
    /// Era B: `web.incoming_webhook.general.app_error`.
    App,
    /// Era B: `web.incoming_webhook.decode.app_error`.
    Decode,
    /// Era B uses this id and message as they are (not wrapped).
    Raw(&'static str, String),
}

struct Failure {
    status: u16,
    id_a: &'static str,
    msg_a: String,
    layer: Layer,
    /// Filled into `detailed_error` in developer mode only.
    detail: String,
}

fn fail(status: u16, id_a: &'static str, msg_a: &str, layer: Layer) -> Failure {
    Failure {
        status,
        id_a,
        msg_a: msg_a.to_string(),
        layer,
        detail: String::new(),
    }
}

/// JSON string as Go's `json.Marshal` writes it (HTML-escaped).
fn go_json_string(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn version(opts: &ServerOptions) -> &'static str {
    match opts.era {
        Era::A => VERSION_A,
        Era::B => VERSION_B,
    }
}

/// Headers every response of the Mattermost API handler carries (§4.2, §5).
fn api_headers(opts: &ServerOptions, request_id: &str) -> Vec<(String, String)> {
    vec![
        ("X-Request-Id".into(), request_id.into()),
        ("X-Version-Id".into(), version(opts).into()),
        ("X-Content-Type-Options".into(), "nosniff".into()),
        ("Referrer-Policy".into(), "no-referrer".into()),
        ("Permissions-Policy".into(), String::new()),
        ("Vary".into(), "Accept-Encoding".into()),
    ]
}

/// `model.AppError.ToJSON()` with the key order of §4.2, as a full response.
fn app_error(opts: &ServerOptions, f: Failure, hook_id: &str, media_type: &str) -> Response {
    let request_id = new_id();
    let (id, message) = match (opts.era, f.layer) {
        (Era::A, _) => (f.id_a, f.msg_a.clone()),
        (Era::B, Layer::App) => (
            "web.incoming_webhook.general.app_error",
            format!("Failed to handle the payload of media type {media_type} for incoming webhook {hook_id}."),
        ),
        (Era::B, Layer::Decode) => (
            "web.incoming_webhook.decode.app_error",
            format!("Failed to decode the payload of media type {media_type} for incoming webhook {hook_id}."),
        ),
        (Era::B, Layer::Raw(id, msg)) => (id, msg),
    };
    let detailed = match (opts.developer_mode, opts.era) {
        (false, _) => String::new(),
        (true, Era::A) => f.detail.clone(),
        (true, Era::B) if f.detail.is_empty() => {
            format!("HandleIncomingWebhook: {}, {}", f.msg_a, f.id_a)
        }
        (true, Era::B) => format!(
            "HandleIncomingWebhook: {}, {}, {}",
            f.msg_a, f.id_a, f.detail
        ),
    };
    let body = format!(
        "{{\"id\":{},\"message\":{},\"detailed_error\":{},\"request_id\":{},\"status_code\":{}}}",
        go_json_string(id),
        go_json_string(&message),
        go_json_string(&detailed),
        go_json_string(&request_id),
        f.status
    );
    let mut resp = Response::new(f.status).header("Content-Type", "application/json");
    resp.headers.extend(api_headers(opts, &request_id));
    resp.body(body)
}

/// `ok`, `text/plain` without charset (§5).
fn success(opts: &ServerOptions) -> Response {
    let mut resp = Response::new(200).header("Content-Type", "text/plain");
    resp.headers.extend(api_headers(opts, &new_id()));
    resp.body("ok")
}

/// gorilla/mux method mismatch: 405, empty body, no Mattermost headers (§1).
pub fn method_not_allowed() -> Response {
    Response::new(405)
}

/// Go `http.Error(w, "limit exceeded", 429)` as the rate limiter writes it (§9).
pub fn limit_exceeded(retry_after: &str) -> Response {
    Response::new(429)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .header("Retry-After", retry_after)
        .body("limit exceeded\n")
}

/// Splits a request target into (path, query), accepting absolute-form targets.
pub fn split_target(target: &str) -> (&str, &str) {
    let mut t = target;
    for scheme in ["http://", "https://"] {
        if let Some(rest) = t.strip_prefix(scheme) {
            t = rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    let t = t.split('#').next().unwrap_or("");
    t.split_once('?').unwrap_or((t, ""))
}

/// Whether Go's `url.ParseQuery` accepts a query: no `;` in a key/value pair and only
/// well-formed `%XX` escapes.
pub fn query_parses(query: &str) -> bool {
    query.split('&').all(|pair| {
        let b = pair.as_bytes();
        !pair.contains(';')
            && b.iter().enumerate().all(|(i, &c)| {
                c != b'%'
                    || (i + 2 < b.len()
                        && b[i + 1].is_ascii_hexdigit()
                        && b[i + 2].is_ascii_hexdigit())
            })
    })
}

/// The hook id of a `/hooks/{id:[A-Za-z0-9]+}` path.
pub fn hook_id_of(path: &str) -> Option<&str> {
    let id = path.strip_prefix("/hooks/")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

fn media_type_of(head: &Head) -> String {
    parse_media_type(head.header("content-type").unwrap_or("")).0
}

/// The answer for `Fault::Status(status)`: the body a real deployment would give.
pub fn fault_status(opts: &ServerOptions, head: &Head, status: u16) -> Response {
    let (path, _) = split_target(&head.target);
    let hook = hook_id_of(path).unwrap_or("");
    let mt = media_type_of(head);
    let app = |id_a: &'static str, msg: &str| {
        app_error(opts, fail(status, id_a, msg, Layer::App), hook, &mt)
    };
    match status {
        400 => app("web.incoming_webhook.invalid.app_error", "Invalid webhook."),
        403 => app(
            "web.incoming_webhook.channel_locked.app_error",
            "This webhook is not permitted to post to the requested channel.",
        ),
        404 => app(
            "web.incoming_webhook.channel.app_error",
            "Couldn't find the channel.",
        ),
        500 => app(
            "api.post.create_webhook_post.creating.app_error",
            "Error creating post.",
        ),
        501 => app(
            "web.incoming_webhook.disabled.app_error",
            "Incoming webhooks have been disabled by the system admin.",
        ),
        413 => {
            let msg = "Unable to process request. Request body too large.";
            let id = "api.context.request_body_too_large.app_error";
            app_error(
                opts,
                fail(413, id, msg, Layer::Raw(id, msg.into())),
                hook,
                &mt,
            )
        }
        429 => limit_exceeded("1"),
        405 => method_not_allowed(),
        414 => {
            let id = "basic_security_check.url.too_long_error";
            let msg = "URL too long.";
            app_error(
                opts,
                fail(414, id, msg, Layer::Raw(id, msg.into())),
                hook,
                &mt,
            )
        }
        502..=504 => {
            let line = format!("{status} {}", super::http::reason(status));
            Response::new(status)
                .header("Content-Type", "text/html")
                .header("Server", "nginx")
                .body(format!(
                    "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                ))
        }
        _ => Response::new(status),
    }
}

/// Normal emulated handling of one request (§1, §10).
pub fn handle(opts: &ServerOptions, head: &Head, body: &[u8]) -> Outcome {
    let (path, query) = split_target(&head.target);
    if head.method == "POST" {
        if let Some(id) = hook_id_of(path) {
            return incoming_webhook(opts, head, id, query, body);
        }
    }
    if head.method == "GET" {
        // The web app's catch-all serves root.html for any GET (§1).
        return Outcome::reply(
            Response::new(200)
                .header("Content-Type", "text/html")
                .header("Cache-Control", "no-cache, max-age=31556926, public")
                .body("<!doctype html><html lang=\"en\"><head><title>Mattermost</title></head><body><div id=\"root\"></div></body></html>"),
        );
    }
    Outcome::reply(method_not_allowed())
}

fn incoming_webhook(
    opts: &ServerOptions,
    head: &Head,
    hook_id: &str,
    query: &str,
    body: &[u8],
) -> Outcome {
    let (media_type, params, ct_err) = parse_media_type(head.header("content-type").unwrap_or(""));
    // basicSecurityChecks: runs before the handler, on the raw request URI (§1).
    if opts.era == Era::B && head.target.len() > MAX_URL_LENGTH {
        let id = "basic_security_check.url.too_long_error";
        let msg = "URL too long.";
        return Outcome::reply(app_error(
            opts,
            fail(414, id, msg, Layer::Raw(id, msg.into())),
            hook_id,
            &media_type,
        ));
    }
    let cap = opts.max_payload_bytes + 512;
    // Go closes the connection after a MaxBytesReader overflow (§2.2).
    let over = body.len() > cap;
    let capped = &body[..body.len().min(cap)];
    let err = |f: Failure| Outcome {
        response: app_error(opts, f, hook_id, &media_type),
        posts: Vec::new(),
        close: over,
    };

    // §2.1: malformed Content-Type.
    match (opts.era, ct_err) {
        (_, None) | (Era::A, Some(MediaErr::Param)) => {}
        (Era::A, Some(MediaErr::Type)) => {
            return err(fail(
                400,
                "api.webhook.incoming.error",
                "Could not decode the multipart payload of incoming webhook.",
                Layer::App,
            ))
        }
        (Era::B, Some(_)) => {
            let msg = format!("Failed to parse form for webhook {hook_id}.");
            let id = "web.incoming_webhook.parse_form.app_error";
            return err(fail(400, id, &msg, Layer::Raw(id, msg.clone())));
        }
    }
    // Era B: `r.ParseForm()` parses the URL query for every content type and fails on a
    // malformed one, whatever the body; a too-large urlencoded body is reported first.
    let body_error_first = media_type == "application/x-www-form-urlencoded" && over;
    if opts.era == Era::B && !body_error_first && !query_parses(query) {
        let msg = format!("Failed to parse form for webhook {hook_id}.");
        let id = "web.incoming_webhook.parse_form.app_error";
        return err(fail(400, id, &msg, Layer::Raw(id, msg.clone())));
    }

    let decode_failure = |detail: String| Failure {
        detail,
        ..fail(
            400,
            "model.incoming_hook.parse_data.app_error",
            "Unable to parse incoming data.",
            Layer::Decode,
        )
    };
    let payload = match media_type.as_str() {
        "application/x-www-form-urlencoded" => {
            if over && opts.era == Era::B {
                let msg = "Unable to process request. Request body too large.";
                let id = "api.context.request_body_too_large.app_error";
                return err(fail(413, id, msg, Layer::Raw(id, msg.into())));
            }
            // r.FormValue("payload"): body fields first, then the query string.
            let body_str = if over {
                String::new()
            } else {
                String::from_utf8_lossy(capped).into_owned()
            };
            let payload = form_decode(&body_str)
                .into_iter()
                .chain(form_decode(query))
                .find(|(k, _)| k == "payload")
                .map(|(_, v)| v)
                .unwrap_or_default();
            decode_payload(payload.as_bytes()).map_err(decode_failure)
        }
        "multipart/form-data" => match decode_multipart(capped, &params) {
            Ok(p) => Ok(p),
            Err(MultipartErr::Unparsable) if opts.era == Era::A => Ok(Payload::default()),
            Err(MultipartErr::Unparsable) => {
                let msg = format!("Failed to parse multipart form for webhook {hook_id}.");
                let id = "web.incoming_webhook.parse_multipart.app_error";
                Err(fail(400, id, &msg, Layer::Raw(id, msg.clone())))
            }
            Err(MultipartErr::Field(detail)) => Err(Failure {
                detail,
                ..fail(
                    400,
                    "api.webhook.incoming.error",
                    "Could not decode the multipart payload of incoming webhook.",
                    Layer::Decode,
                )
            }),
        },
        _ => decode_payload(capped).map_err(decode_failure),
    };
    let payload = match payload {
        Ok(p) => p,
        Err(f) => return err(f),
    };
    match handle_incoming(opts, hook_id, payload) {
        Ok(posts) => Outcome {
            response: success(opts),
            posts,
            close: over,
        },
        Err(f) => err(f),
    }
}

/// `App.HandleIncomingWebhook` + `CreateWebhookPost` (§4 order, §6, §7).
fn handle_incoming(opts: &ServerOptions, hook_id: &str, p: Payload) -> Result<Vec<Post>, Failure> {
    use Layer::App;
    if !opts.incoming_enabled {
        return Err(fail(
            501,
            "web.incoming_webhook.disabled.app_error",
            "Incoming webhooks have been disabled by the system admin.",
            App,
        ));
    }
    if p.text.is_empty() && p.attachments.is_none() {
        return Err(fail(
            400,
            "web.incoming_webhook.text.app_error",
            "No text specified.",
            App,
        ));
    }
    let hook = opts.hooks.iter().find(|h| h.id == hook_id).ok_or_else(|| {
        fail(
            400,
            "web.incoming_webhook.invalid.app_error",
            "Invalid webhook.",
            App,
        )
    })?;
    let hook_channel = opts
        .channels
        .iter()
        .find(|c| c.name == hook.channel)
        .ok_or_else(|| {
            fail(
                404,
                "app.channel.get.existing.app_error",
                "Unable to find the existing channel.",
                App,
            )
        })?;

    // Channel override: `@user` (a DM with the hook creator), `#name` or `name`.
    let (channel_name, private, can_read) = if p.channel.is_empty() {
        (
            hook_channel.name.clone(),
            hook_channel.private,
            hook_channel.creator_can_read,
        )
    } else if let Some(user) = p.channel.strip_prefix('@') {
        if !opts.users.iter().any(|u| u == user) {
            return Err(fail(
                400,
                "web.incoming_webhook.user.app_error",
                "Couldn't find the user.",
                App,
            ));
        }
        (p.channel.clone(), true, true)
    } else {
        let name = p.channel.strip_prefix('#').unwrap_or(&p.channel);
        let c = opts
            .channels
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                fail(
                    404,
                    "web.incoming_webhook.channel.app_error",
                    "Couldn't find the channel.",
                    App,
                )
            })?;
        (c.name.clone(), c.private, c.creator_can_read)
    };
    if hook.locked && channel_name != hook.channel {
        return Err(fail(
            403,
            "web.incoming_webhook.channel_locked.app_error",
            "This webhook is not permitted to post to the requested channel.",
            App,
        ));
    }
    if private && !can_read {
        return Err(fail(
            403,
            "web.incoming_webhook.permissions.app_error",
            "Inappropriate channel permissions.",
            App,
        ));
    }

    // CreateWebhookPost.
    let attachments = p.attachments.unwrap_or_default();
    let post_type = if attachments.is_empty() {
        p.post_type.clone()
    } else {
        "slack_attachment".to_string()
    };
    if let Some(prio) = &p.priority {
        if get_ci(prio, "priority").is_none_or(Value::is_null) {
            return Err(fail(
                400,
                "api.context.invalid_param.app_error",
                "Invalid webhook.priority.priority parameter.",
                App,
            ));
        }
    }
    if post_type.starts_with("system_") {
        return Err(fail(
            400,
            "api.context.invalid_param.app_error",
            "Invalid post.type parameter.",
            App,
        ));
    }
    let mut props = Map::new();
    for (k, v) in p.props.unwrap_or_default() {
        if !matches!(
            k.as_str(),
            "from_webhook" | "override_username" | "override_icon_url" | "attachments"
        ) {
            props.insert(k, v);
        }
    }
    props.insert("from_webhook".into(), "true".into());
    props.insert("webhook_display_name".into(), "Test hook".into());
    let props = Value::Object(props);
    if go_marshal(&props).chars().count() > POST_PROPS_MAX_USER_RUNES {
        return Err(fail(
            400,
            "web.incoming_webhook.split_props_length.app_error",
            "Unable to split webhook props into 800000 character parts.",
            App,
        ));
    }
    let known = matches!(
        post_type.as_str(),
        "" | "slack_attachment" | "me" | "reminder" | "add_bot_teams_channels"
    );
    if !known && !post_type.starts_with("custom_") {
        return Err(Failure {
            detail: "err=Invalid type.".into(),
            ..fail(
                500,
                "api.post.create_webhook_post.creating.app_error",
                "Error creating post.",
                App,
            )
        });
    }

    let text = link_with_text(
        &expand_announcements(&p.text),
        &['\n', '<', '|', '>'],
        &['|', '\n', '>'],
    );
    let chars: Vec<char> = text.chars().collect();
    let mut chunks: Vec<String> = chars
        .chunks(POST_MESSAGE_MAX_RUNES)
        .map(|c| c.iter().collect())
        .collect();
    if chunks.is_empty() {
        chunks.push(String::new());
    }
    let n = chunks.len();
    let attachments = Value::Array(attachments.into_iter().map(process_attachment).collect());
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(i, message)| Post {
            hook_id: hook_id.to_string(),
            channel: channel_name.clone(),
            message,
            props: props.clone(),
            attachments: if i + 1 == n {
                attachments.clone()
            } else {
                Value::Array(Vec::new())
            },
            post_type: post_type.clone(),
            priority: p.priority.clone(),
            username: non_empty(&p.username),
            icon_url: non_empty(&p.icon_url),
            icon_emoji: non_empty(&p.icon_emoji),
        })
        .collect())
}

/// `<!channel>` → `@channel` etc. (`expandAnnouncement`, §7).
fn expand_announcements(s: &str) -> String {
    s.replace("<!channel>", "@channel")
        .replace("<!here>", "@here")
        .replace("<!all>", "@all")
}

/// `<url|label>` → `[label](url)`, where `url` and `label` are runs of characters
/// outside the given sets (the regexes of §7; greedy runs need no backtracking).
fn link_with_text(s: &str, url_stop: &[char], label_stop: &[char]) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '<' {
            let run = |from: usize, stop: &[char]| {
                let mut j = from;
                while j < chars.len() && !stop.contains(&chars[j]) {
                    j += 1;
                }
                j
            };
            let url_end = run(i + 1, url_stop);
            if url_end > i + 1 && chars.get(url_end) == Some(&'|') {
                let label_end = run(url_end + 1, label_stop);
                if label_end > url_end + 1 && chars.get(label_end) == Some(&'>') {
                    let url: String = chars[i + 1..url_end].iter().collect();
                    let label: String = chars[url_end + 1..label_end].iter().collect();
                    out.push_str(&format!("[{label}]({url})"));
                    i = label_end + 1;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `ProcessSlackAttachments`: drop null fields, stringify field values, expand text.
fn process_attachment(mut a: Value) -> Value {
    let link = |s: &str| link_with_text(s, &['<', '|'], &['>']);
    if let Some(obj) = a.as_object_mut() {
        for key in ["pretext", "text", "title"] {
            if let Some(Value::String(s)) = obj.get(key) {
                let mut v = expand_announcements(s);
                if key != "title" {
                    v = link(&v);
                }
                obj.insert(key.into(), Value::String(v));
            }
        }
        if let Some(Value::Array(fields)) = obj.get_mut("fields") {
            fields.retain(|f| !f.is_null());
            for f in fields.iter_mut().filter_map(Value::as_object_mut) {
                let value = match f.get("value") {
                    None | Some(Value::Null) => continue,
                    Some(Value::String(s)) => link(&expand_announcements(s)),
                    Some(Value::Number(n)) => go_float(n.as_f64().unwrap_or(0.0)),
                    Some(Value::Bool(b)) => b.to_string(),
                    Some(other) => other.to_string(),
                };
                f.insert("value".into(), Value::String(value));
            }
        }
    }
    a
}

/// Go's `fmt.Sprintf("%v", float64)`: shortest digits; `%v` switches to exponent
/// form when the exponent is below -4 or at least 6 (`1000000` → `1e+06`, §2.3).
pub fn go_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        }
        .into();
    }
    if f == 0.0 {
        return "0".into();
    }
    let sci = format!("{f:e}"); // e.g. "1.234567e6"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    }
}

/// Go's `json.Marshal` output for a decoded value: HTML-escaped strings (`<` → `\u003c`),
/// sorted keys, numbers as float64 in Go's shortest form. The server measures props in
/// runes of this (§4.1, §6).
#[expect(
    clippy::many_single_char_names,
    reason = "short-lived parts of one number"
)]
pub fn go_marshal(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            let a = f.abs();
            if a != 0.0 && !(1e-6..1e21).contains(&a) {
                let e = format!("{f:e}");
                let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
                match exp.strip_prefix('-') {
                    Some(x) => format!("{mant}e-{x:0>2}").replace("e-0", "e-"),
                    None => format!("{mant}e+{exp:0>2}"),
                }
            } else {
                format!("{f}")
            }
        }
        Value::String(s) => go_json_string(s),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_marshal).collect::<Vec<_>>().join(",")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}:{}", go_json_string(k), go_marshal(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

enum MediaErr {
    /// The type/subtype part is malformed.
    Type,
    /// Only a parameter is malformed (`mime.ErrInvalidMediaParameter`).
    Param,
}

/// Go's `mime.ParseMediaType`, enough of it: lower-cased type, parameters, error kind.
/// An empty header is "no media type" and not an error here (raw JSON, §2.1).
fn parse_media_type(v: &str) -> (String, Vec<(String, String)>, Option<MediaErr>) {
    let is_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    let (base, mut rest) = v.split_once(';').map_or((v, None), |(b, r)| (b, Some(r)));
    let media = base.trim().to_ascii_lowercase();
    if v.trim().is_empty() {
        return (String::new(), Vec::new(), None);
    }
    let type_ok = match media.split_once('/') {
        Some((t, s)) => is_token(t) && is_token(s),
        None => is_token(&media),
    };
    if !type_ok {
        return (media, Vec::new(), Some(MediaErr::Type));
    }
    let mut params = Vec::new();
    while let Some(r) = rest {
        let (param, next) = split_param(r);
        rest = next;
        let param = param.trim();
        if param.is_empty() && rest.is_none() {
            break; // a trailing semicolon is ignored
        }
        let Some((k, val)) = param.split_once('=') else {
            return (media, params, Some(MediaErr::Param));
        };
        let k = k.trim();
        let val = val.trim();
        let val = if let Some(q) = val.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
            q.replace("\\\"", "\"")
        } else if is_token(val) {
            val.to_string()
        } else {
            return (media, params, Some(MediaErr::Param));
        };
        if !is_token(k) {
            return (media, params, Some(MediaErr::Param));
        }
        params.push((k.to_ascii_lowercase(), val));
    }
    (media, params, None)
}

/// Splits off one `;`-separated parameter, not splitting inside quotes.
fn split_param(s: &str) -> (&str, Option<&str>) {
    let mut in_q = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_q = !in_q,
            ';' if !in_q => return (&s[..i], Some(&s[i + 1..])),
            _ => {}
        }
    }
    (s, None)
}

enum MultipartErr {
    Unparsable,
    Field(String),
}

/// Best-effort `multipart/form-data` via gorilla/schema (§2.1): Go field names,
/// case-insensitive; unknown keys (including `channel`, `icon_url`, `payload`) fail.
fn decode_multipart(body: &[u8], params: &[(String, String)]) -> Result<Payload, MultipartErr> {
    let boundary = params
        .iter()
        .find(|(k, _)| k == "boundary")
        .map(|(_, v)| v.clone())
        .ok_or(MultipartErr::Unparsable)?;
    let body = String::from_utf8_lossy(body);
    let delim = format!("--{boundary}");
    let mut p = Payload::default();
    let mut sections = body.split(delim.as_str());
    sections.next(); // preamble
    let mut closed = false;
    for section in sections {
        if section.starts_with("--") {
            closed = true;
            break;
        }
        let section = section
            .strip_prefix("\r\n")
            .ok_or(MultipartErr::Unparsable)?;
        let (headers, value) = section
            .split_once("\r\n\r\n")
            .ok_or(MultipartErr::Unparsable)?;
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let disposition = headers
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
            })
            .map(|(_, v)| v.to_string())
            .ok_or(MultipartErr::Unparsable)?;
        let (_, dparams, _) = parse_media_type(&disposition);
        if dparams.iter().any(|(k, _)| k == "filename") {
            continue; // files are not mapped onto the struct
        }
        let name = dparams
            .iter()
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.to_lowercase())
            .unwrap_or_default();
        let slot = match name.as_str() {
            "text" => &mut p.text,
            "username" => &mut p.username,
            "iconurl" => &mut p.icon_url,
            "iconemoji" => &mut p.icon_emoji,
            "channelname" => &mut p.channel,
            "type" => &mut p.post_type,
            other => {
                return Err(MultipartErr::Field(format!(
                    "schema: invalid path \"{other}\""
                )))
            }
        };
        *slot = value.to_string();
    }
    if !closed {
        return Err(MultipartErr::Unparsable);
    }
    Ok(p)
}
