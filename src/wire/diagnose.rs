//! What an HTTP answer or a transport error means for the operator: the exit code and a
//! one-line diagnostic saying what happened and what to fix. The wording follows what a
//! real Mattermost server means by each answer (`docs/mattermost-server.md`).

use crate::error::ExitKind;
use crate::secret::WebhookUrl;
use crate::text::sanitize::one_line;

/// A failed delivery, already redacted and ready to print.
#[derive(Debug, Clone)]
pub(crate) struct Diagnosis {
    pub kind: ExitKind,
    pub message: String,
    pub error_id: Option<String>,
    /// The server or network may accept it later: worth a retry and, once retries are
    /// spent, worth keeping in the spool.
    pub retryable: bool,
}

/// The parts of a Mattermost error body worth showing, scrubbed of the token all the
/// same. (Not its `message`: our own explanation says more, and era B servers put the
/// hook id there.)
#[derive(Debug, Default, Clone)]
pub(crate) struct ServerError {
    pub id: Option<String>,
    pub request_id: Option<String>,
}

impl ServerError {
    /// Parses a Mattermost error body, scrubbing the token before anything is cut.
    pub(crate) fn parse(body: &str, url: &WebhookUrl) -> ServerError {
        let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(body)
        else {
            return ServerError::default();
        };
        let get = |k: &str| {
            m.get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(|s| sanitize(&url.scrub(s)))
        };
        ServerError {
            id: get("id"),
            request_id: get("request_id"),
        }
    }
}

pub(crate) struct Answer<'a> {
    pub status: u16,
    pub body: &'a str,
    pub location: Option<&'a str>,
}

/// Diagnoses an HTTP answer that is not a 2xx.
#[expect(
    clippy::too_many_lines,
    reason = "a table: one arm per status and its advice"
)]
pub(crate) fn http(
    answer: &Answer,
    url: &WebhookUrl,
    channel: Option<&str>,
    attempts: u32,
) -> Diagnosis {
    let status = answer.status;
    let server = ServerError::parse(answer.body, url);
    let id = server.id.as_deref().unwrap_or("");
    let era_b = id == "web.incoming_webhook.general.app_error";
    let chan = channel.map(|c| format!("`{}`", sanitize(c)));
    let (kind, what, fix): (ExitKind, String, String) = match status {
        300..=399 => (
            ExitKind::Http,
            format!(
                "the server redirected the request{}",
                answer
                    .location
                    .map(|l| format!(" to {}", sanitize(&url.scrub(l))))
                    .unwrap_or_default()
            ),
            "redirects are not followed because a redirected POST loses its body; put the \
             final URL (often https:// instead of http://, or a different base path) in the \
             secrets file"
                .into(),
        ),
        400 => diagnose_400(id, era_b, chan.as_deref()),
        401 => (
            ExitKind::Http,
            "the server answered 401 Unauthorized".into(),
            "Mattermost webhooks need no credentials, so a proxy or SSO gateway in front of \
             the server is asking for them; exempt /hooks/ from it"
                .into(),
        ),
        403 => diagnose_403(id, chan.as_deref()),
        404 => diagnose_404(chan.as_deref()),
        405 => (
            ExitKind::Http,
            "the server answered 405 Method Not Allowed".into(),
            "the URL path is wrong (for example /hooks/ twice, or a proxy rewriting the \
             path): copy the webhook URL again from Integrations → Incoming Webhooks"
                .into(),
        ),
        413 => (
            ExitKind::Http,
            "the server answered 413: the payload is too large".into(),
            "the server (MaximumPayloadSizeBytes) or a proxy in front of it (e.g. nginx \
             client_max_body_size) takes less than was sent; shorten the message or lower \
             --max-payload-bytes to match"
                .into(),
        ),
        414 => (
            ExitKind::Http,
            "the server answered 414: the webhook URL is too long".into(),
            "Mattermost refuses request URLs over MaximumURLLength (2048 bytes by default); \
             the secrets file probably holds a URL pasted twice or with a long query string: \
             copy the webhook URL again"
                .into(),
        ),
        501 => (
            ExitKind::Http,
            "incoming webhooks are disabled on this server (501)".into(),
            "a system admin must enable them: System Console → Integrations → Integration \
             Management → Enable Incoming Webhooks"
                .into(),
        ),
        500 => (
            ExitKind::Server,
            "the server failed while creating the post (500)".into(),
            format!(
                "not retried because Mattermost may already have posted part of the message; \
                 check the server log{}",
                server
                    .request_id
                    .as_deref()
                    .map(|r| format!(" for request id {r}"))
                    .unwrap_or_default()
            ),
        ),
        429 => (
            ExitKind::Server,
            format!(
                "rate limited (429) after {attempts} attempt{}",
                plural(attempts)
            ),
            "the server's rate limiter (RateLimitSettings) or a proxy throttles this \
             client; send less often or raise the limit"
                .into(),
        ),
        408 | 502..=504 => (
            ExitKind::Server,
            format!(
                "the server or a proxy in front of it is unavailable ({status}) after \
                 {attempts} attempt{}",
                plural(attempts)
            ),
            "Mattermost may be restarting or overloaded; try again later".into(),
        ),
        // Only 5xx is a server failure (exit 6); 600 or 999 is no HTTP status at all, and
        // as any other answer that is not a success it is exit 7.
        s @ 505..=599 => (
            ExitKind::Server,
            format!("the server failed ({s})"),
            "check the server and any proxy in front of it".into(),
        ),
        s => (
            ExitKind::Http,
            format!("the server answered HTTP {s}"),
            "this is not an answer Mattermost gives to a webhook; check the URL and any proxy \
             in front of the server"
                .into(),
        ),
    };
    let id_part = server
        .id
        .as_deref()
        .map(|i| format!(", {i}"))
        .unwrap_or_default();
    Diagnosis {
        kind,
        message: url.scrub(&format!("{what} [HTTP {status}{id_part}]: {fix}")),
        error_id: server.id.clone(),
        retryable: crate::wire::retry::retryable_status(status),
    }
}

/// A 403: the webhook is locked to its channel, or its creator may not post there.
fn diagnose_403(id: &str, chan: Option<&str>) -> (ExitKind, String, String) {
    let fix = match (id, chan) {
        ("web.incoming_webhook.channel_locked.app_error", Some(c)) => format!(
            "the webhook is locked to its own channel and may not post to {c}; drop \
             --channel or use a webhook made for that channel"
        ),
        ("web.incoming_webhook.permissions.app_error", _) => {
            "the webhook's creator may not post in that private channel; add them to \
             it or recreate the webhook as a member"
                .into()
        }
        (_, Some(c)) => format!(
            "the webhook is locked to its own channel and may not post to {c}, or its \
             creator may not post in that private channel; drop --channel or use a \
             webhook of that channel"
        ),
        _ => "the webhook is locked to another channel than the one in the payload, \
              or its creator may not post in that private channel; post to the \
              webhook's own channel, or recreate the webhook as a channel member"
            .into(),
    };
    (
        ExitKind::Forbidden,
        "the server refused the post (403 Forbidden)".into(),
        fix,
    )
}

/// A 404: a channel that is not there, or a wrong URL path.
fn diagnose_404(chan: Option<&str>) -> (ExitKind, String, String) {
    let fix = match chan {
        Some(c) => format!(
            "the channel {c} does not exist or is archived (use the channel's URL \
             name, not its display name); otherwise the URL path is wrong"
        ),
        None => "the URL path is wrong: check the base path of a reverse proxy or a \
                 Mattermost sub-path in the secrets file"
            .into(),
    };
    (
        ExitKind::NotFound,
        "the server answered 404 Not Found".into(),
        fix,
    )
}

/// An era-B 400 says only "general": the hook may be gone, or the server refused something
/// in the payload that no local check can see. When the payload holds such a thing, name it
/// instead of blaming a deleted webhook.
pub(crate) fn with_payload_suspects(d: Diagnosis, url: &WebhookUrl, body: &[u8]) -> Diagnosis {
    if d.kind != ExitKind::BadRequest
        || d.error_id.as_deref() != Some("web.incoming_webhook.general.app_error")
    {
        return d;
    }
    let suspects = crate::wire::payload::suspects(body);
    if suspects.is_empty() {
        return d;
    }
    let message = format!(
        "Mattermost rejected the request (400) [HTTP 400, \
         web.incoming_webhook.general.app_error]: the server gives this one answer to many \
         causes, and this payload holds likely ones: {}; fix those first (only if the same \
         payload was accepted before is a deleted webhook or an archived channel the likely \
         cause)",
        suspects.join("; ")
    );
    Diagnosis {
        message: url.scrub(&one_line(&message, 1000)),
        ..d
    }
}

/// A remote party's text on one line, short enough for one diagnostic.
pub(crate) fn sanitize(s: &str) -> String {
    one_line(s, 300)
}

fn diagnose_400(id: &str, era_b: bool, chan: Option<&str>) -> (ExitKind, String, String) {
    let what = "Mattermost rejected the request (400)".to_string();
    let fix: String = match id {
        _ if era_b => {
            let user = match chan {
                Some(c) if c.starts_with("`@") => {
                    format!(", or to a --channel user {c} that does not exist")
                }
                _ => String::new(),
            };
            format!(
                "the webhook was most likely deleted, or its channel archived (that deletes \
                 its webhooks): create a new incoming webhook and update the secrets file; \
                 the server gives the same answer to a payload it refuses{user}"
            )
        }
        "web.incoming_webhook.invalid.app_error" => "the webhook id is unknown: the webhook was \
             deleted or its channel archived; create a new incoming webhook and update the \
             secrets file"
            .into(),
        "web.incoming_webhook.text.app_error" => "the server saw no text and no attachments".into(),
        "web.incoming_webhook.user.app_error" => format!(
            "the user in --channel {} does not exist",
            chan.unwrap_or("@user")
        ),
        "web.incoming_webhook.decode.app_error" | "model.incoming_hook.parse_data.app_error" => {
            "the server could not decode the payload; it is probably over the server's \
             MaximumPayloadSizeBytes (older servers default to 100000 bytes): shorten it or \
             lower --max-payload-bytes"
                .into()
        }
        "web.incoming_webhook.split_props_length.app_error" => {
            "the props or an attachment are too large for one post".into()
        }
        "api.context.invalid_param.app_error" => {
            "the server refused a field (priority or type); check --priority and the payload".into()
        }
        "api.webhook.incoming.error" => {
            "the server could not parse the request body or its Content-Type".into()
        }
        "web.incoming_webhook.parse_form.app_error" => {
            "the server could not parse the request's form: a query string in the webhook URL \
             (after `?`) with a `;` or a broken `%` escape, or a malformed Content-Type; \
             remove the query string from the secrets file"
                .into()
        }
        _ => "the webhook may have been deleted (create a new one and update the secrets \
              file), or the server refused the payload"
            .into(),
    };
    (ExitKind::BadRequest, what, fix)
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "pq3wxk8bmjsyr9cn5ue7tdo1ha";

    fn url() -> WebhookUrl {
        WebhookUrl::parse(&format!("https://chat.example.com/hooks/{ID}")).unwrap()
    }

    fn diag(status: u16, body: &str, channel: Option<&str>) -> Diagnosis {
        let a = Answer {
            status,
            body,
            location: None,
        };
        http(&a, &url(), channel, 1)
    }

    fn era_b(status: u16) -> String {
        format!(
            r#"{{"id":"web.incoming_webhook.general.app_error","message":"Failed to handle the payload of media type application/json for incoming webhook {ID}.","detailed_error":"","request_id":"abc","status_code":{status}}}"#
        )
    }

    #[test]
    fn exit_kinds() {
        let cases = [
            (400, ExitKind::BadRequest),
            (403, ExitKind::Forbidden),
            (404, ExitKind::NotFound),
            (301, ExitKind::Http),
            (401, ExitKind::Http),
            (405, ExitKind::Http),
            (413, ExitKind::Http),
            (414, ExitKind::Http),
            (501, ExitKind::Http),
            (418, ExitKind::Http),
            (500, ExitKind::Server),
            (503, ExitKind::Server),
            (429, ExitKind::Server),
        ];
        for (s, k) in cases {
            assert_eq!(diag(s, "", None).kind, k, "{s}");
        }
    }

    #[test]
    fn era_b_400_leads_with_deleted_webhook_and_never_shows_the_id() {
        let d = diag(400, &era_b(400), None);
        assert!(d.message.contains("deleted"), "{}", d.message);
        assert!(d.message.contains("refuses"), "{}", d.message);
        assert!(d.message.contains("web.incoming_webhook.general.app_error"));
        assert!(!d.message.contains(ID));
        assert_eq!(
            d.error_id.as_deref(),
            Some("web.incoming_webhook.general.app_error")
        );
    }

    #[test]
    fn era_a_ids_name_the_cause() {
        let body = r#"{"id":"web.incoming_webhook.channel_locked.app_error","message":"x","detailed_error":"","request_id":"r","status_code":403}"#;
        let d = diag(403, body, Some("dev"));
        assert!(d.message.contains("locked"), "{}", d.message);
        assert!(d.message.contains("`dev`"));
        let body = r#"{"id":"web.incoming_webhook.invalid.app_error","message":"Invalid webhook.","request_id":"r","status_code":400}"#;
        assert!(diag(400, body, None).message.contains("unknown"));
    }

    #[test]
    fn era_b_400_mentions_an_unknown_user_when_one_was_named() {
        assert!(diag(400, &era_b(400), Some("@nobody"))
            .message
            .contains("`@nobody` that does not exist"));
        assert!(!diag(400, &era_b(400), None).message.contains("user"));
    }

    #[test]
    fn era_b_400_names_a_payload_cause_before_a_deleted_webhook() {
        let d = diag(400, &era_b(400), None);
        let body =
            br#"{"text":"@a","priority":{"priority":"urgent","persistent_notifications":true}}"#;
        let refined = with_payload_suspects(d.clone(), &url(), body);
        assert!(
            refined.message.contains("persistent"),
            "{}",
            refined.message
        );
        assert!(!refined.message.contains("most likely deleted"));
        assert_eq!(refined.kind, ExitKind::BadRequest);
        assert_eq!(refined.error_id, d.error_id);
        // Nothing suspicious in the payload: the deleted webhook stays the lead.
        let plain = with_payload_suspects(d.clone(), &url(), br#"{"text":"hi"}"#);
        assert_eq!(plain.message, d.message);
        // Era-A ids already name their cause.
        let a = r#"{"id":"web.incoming_webhook.invalid.app_error","message":"Invalid webhook.","request_id":"r","status_code":400}"#;
        let da = diag(400, a, None);
        assert_eq!(
            with_payload_suspects(da.clone(), &url(), body).message,
            da.message
        );
    }

    #[test]
    fn parse_form_points_at_the_query_string() {
        let body = r#"{"id":"web.incoming_webhook.parse_form.app_error","message":"m","detailed_error":"","request_id":"r","status_code":400}"#;
        let d = diag(400, body, None);
        assert_eq!(d.kind, ExitKind::BadRequest);
        assert!(d.message.contains("query string"), "{}", d.message);
    }

    #[test]
    fn hints_for_404_depend_on_channel() {
        assert!(diag(404, &era_b(404), Some("nope"))
            .message
            .contains("`nope` does not exist"));
        assert!(diag(404, "", None).message.contains("URL path"));
    }

    #[test]
    fn remote_text_is_sanitized() {
        assert_eq!(sanitize("a\x1b[31mb\nc"), "a [31mb c");
        assert_eq!(sanitize("ok \u{202E}lmth.exe\u{2066}"), "ok  lmth.exe ");
    }
}
