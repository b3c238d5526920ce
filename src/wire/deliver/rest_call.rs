//! One REST request of the bot account (issue 18), made with the webhook's agent, proxy,
//! TLS roots and retry budget: 408, 429, 502, 503, 504 and network failures are retried,
//! honouring `Retry-After`, never past `--timeout`. Everything the server or a library
//! says is scrubbed of the bot's token before it leaves this file (a server in
//! developer mode echoes the token in `detailed_error`).

use std::ops::ControlFlow;
use std::time::{Duration, Instant, SystemTime};

use crate::error::ExitKind;
use crate::secret::BotToken;
use crate::wire::deliver::transport::transport;
use crate::wire::deliver::{Deliverer, Delivery, BODY_LIMIT};
use crate::wire::diagnose::{sanitize, Diagnosis};
use crate::wire::{retry, sent};

/// A post list of 60 posts with attachments fits; anything larger is cut.
pub(crate) const REST_BODY_LIMIT: u64 = 16 * BODY_LIMIT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
}

/// A 2xx answer: its (scrubbed) body.
#[derive(Debug)]
pub(crate) struct RestOk {
    pub status: u16,
    pub body: String,
    /// The body was larger than the client reads (or broke off): `body` is empty, and
    /// "nothing found" in it would be a guess.
    pub cut: bool,
}

/// A request that did not succeed within the budget.
#[derive(Debug)]
pub(crate) enum RestFail {
    /// The server answered with this status (the last answer after retries).
    Status {
        status: u16,
        /// Scrubbed of the token.
        body: String,
        attempts: u32,
    },
    /// No HTTP answer: DNS, connect, TLS, timeout.
    Transport {
        diagnosis: Diagnosis,
        /// Some attempt went out whole and got no answer: the server may have acted.
        maybe_sent: bool,
    },
}

/// What one REST request came to, after its retries: what `-v` says of a write and what
/// a bot event's outcome reports (`http_status`, `error_id`, `attempts`), as a webhook
/// [`Delivery`](super::Delivery) does for a post.
#[derive(Debug, Clone)]
pub(crate) struct RestAnswer {
    pub method: Method,
    /// Below `/api/v4`, without the query (ids only: no secret is ever in a path).
    pub path: String,
    /// The last answer's status; `None` when no attempt got one.
    pub status: Option<u16>,
    /// The server's error id of a failed answer, sanitised (the body was scrubbed).
    pub error_id: Option<String>,
    pub attempts: u32,
    pub elapsed: Duration,
}

impl RestAnswer {
    pub(crate) fn is_success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// As an error that stops the command carries it, for its outcome.
    pub(crate) fn answered(&self) -> crate::error::Answered {
        crate::error::Answered {
            http_status: self.status,
            error_id: self.error_id.clone(),
            attempts: self.attempts,
        }
    }

    /// A request that changes something on the server (create, patch).
    pub(crate) fn is_write(&self) -> bool {
        self.method != Method::Get
    }
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// The error id of a Mattermost error body, on one line and without the bot's token.
/// Scrubbed again once decoded: the body's scrub saw the JSON text, where an escape
/// (`\u200b` between two halves of the token, `\u0061` for an `a`) hides the token that
/// the decoded id then shows.
pub(crate) fn server_error_id(body: &str, bot: &BotToken) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("id")
                .and_then(|i| i.as_str())
                .map(|i| sanitize(&bot.scrub(i)))
        })
        .filter(|s| !s.is_empty())
}

impl Delivery {
    /// A bot event as one delivery, for its outcome and `-v` line: the status, error id
    /// and attempts of the request that decided it (`decisive`: the last write of an event
    /// that went through, the request that failed), over the whole event's time.
    /// `failure`: the event's exit kind and message when it failed.
    pub(crate) fn of_bot_event(
        decisive: Option<&RestAnswer>,
        elapsed: Duration,
        failure: Option<(ExitKind, String)>,
    ) -> Delivery {
        let error_id = decisive.and_then(|a| a.error_id.clone());
        Delivery {
            attempts: decisive.map_or(0, |a| a.attempts),
            elapsed,
            http_status: decisive.and_then(|a| a.status),
            result: match failure {
                None => Ok(()),
                Some((kind, message)) => Err(Diagnosis {
                    kind,
                    message,
                    error_id,
                    retryable: retry::curable(kind, decisive.and_then(|a| a.status)),
                }),
            },
            timed_out_after_send: 0,
        }
    }
}

impl Deliverer {
    /// `method` `path` (below `/api/v4`) with the bot's bearer token, JSON in and out,
    /// finished by `deadline`: one event's requests share one `--timeout` budget. Each
    /// request's answer is kept until [`Deliverer::take_rest_answers`].
    pub(crate) fn rest(
        &self,
        bot: &BotToken,
        (method, path): (Method, &str),
        body: Option<&[u8]>,
        deadline: Instant,
    ) -> Result<RestOk, RestFail> {
        let start = Instant::now();
        let mut attempts = 0u32;
        let result = self.rest_attempts(bot, (method, path), body, deadline, &mut attempts);
        let (status, error_id) = match &result {
            Ok(ok) => (Some(ok.status), None),
            Err(RestFail::Status { status, body, .. }) => {
                (Some(*status), server_error_id(body, bot))
            }
            Err(RestFail::Transport { .. }) => (None, None),
        };
        let answer = RestAnswer {
            method,
            path: path.split('?').next().unwrap_or_default().to_string(),
            status,
            error_id,
            attempts,
            elapsed: start.elapsed(),
        };
        if let Ok(mut log) = self.rest_log.lock() {
            log.push(answer);
        }
        result
    }

    /// The answers of the REST requests made since the last call, oldest first.
    pub(crate) fn take_rest_answers(&self) -> Vec<RestAnswer> {
        self.rest_log
            .lock()
            .map(|mut log| std::mem::take(&mut *log))
            .unwrap_or_default()
    }

    fn rest_attempts(
        &self,
        bot: &BotToken,
        (method, path): (Method, &str),
        body: Option<&[u8]>,
        deadline: Instant,
        attempts: &mut u32,
    ) -> Result<RestOk, RestFail> {
        let url = format!("{}/api/v4{path}", bot.base());
        let policy = self.policy.clone();
        let start = Instant::now();
        let deadline = deadline.min(start + policy.budget);
        let mut maybe_sent = false;
        loop {
            *attempts += 1;
            let attempts = *attempts;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let per_attempt = policy.attempt_timeout.min(remaining);
            sent::reset();
            let answer = self.call(per_attempt, |agent, timeout| {
                request(agent, method, &url, &bot.bearer(), body, timeout)
            });
            let (fail, wait_hint) = match answer {
                Ok(resp) => match read_answer(resp, bot, attempts) {
                    ControlFlow::Break(done) => return done,
                    ControlFlow::Continue(retry) => retry,
                },
                Err(e) => {
                    if sent::request_was_sent() {
                        maybe_sent = true;
                    }
                    let diagnosis = transport(
                        &e,
                        bot.as_url(),
                        per_attempt,
                        self.has_client_cert,
                        self.trust.enabled,
                        self.proxy_for(bot.as_url()),
                    );
                    let retryable = diagnosis.retryable;
                    let fail = RestFail::Transport {
                        diagnosis,
                        maybe_sent,
                    };
                    if !retryable {
                        return Err(fail);
                    }
                    (fail, None)
                }
            };
            if attempts > policy.retries {
                return Err(fail);
            }
            let wait = wait_hint.unwrap_or_else(|| retry::backoff(attempts, retry::random_u64()));
            if wait >= deadline.saturating_duration_since(Instant::now()) {
                return Err(fail);
            }
            std::thread::sleep(wait.min(Duration::from_secs(3600)));
        }
    }
}

/// One request of `method` to `url`, JSON in for `POST` and `PUT`.
fn request(
    agent: &ureq::Agent,
    method: Method,
    url: &str,
    auth: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    match method {
        Method::Get => agent
            .get(url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Authorization", auth)
            .call(),
        Method::Post | Method::Put => {
            let req = if method == Method::Post {
                agent.post(url)
            } else {
                agent.put(url)
            };
            req.config()
                .timeout_global(Some(timeout))
                .build()
                .header("Authorization", auth)
                .content_type("application/json")
                .send(body.unwrap_or(b"{}"))
        }
    }
}

/// A body scrubbed of the token as text, then as JSON: a string's escapes (`\u0061` for
/// an `a`, `\u200b` between two halves) hide the token from the text's scrub, and the
/// decoded string (a forged post or user id, a channel name, an error id) would carry it
/// into messages, the outcome and the dedupe store. Rewritten only when one does.
fn scrub_body(bot: &BotToken, raw: &str) -> String {
    let text = bot.scrub(raw);
    if !bot.as_url().appears_in(text.as_bytes()) {
        return text;
    }
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return text;
    };
    scrub_strings(bot, &mut value);
    value.to_string()
}

fn scrub_strings(bot: &BotToken, value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => *s = bot.scrub(s),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_strings(bot, v)),
        Value::Object(map) => {
            for (key, mut item) in std::mem::take(map) {
                scrub_strings(bot, &mut item);
                map.insert(bot.scrub(&key), item);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// What an answer with a status means: final (`Break`: a success, or a failure not worth
/// retrying), or worth another attempt (`Continue`, with the server's `Retry-After`).
fn read_answer(
    mut resp: ureq::http::Response<ureq::Body>,
    bot: &BotToken,
    attempts: u32,
) -> ControlFlow<Result<RestOk, RestFail>, (RestFail, Option<Duration>)> {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
    let read = resp
        .body_mut()
        .with_config()
        .limit(REST_BODY_LIMIT)
        .lossy_utf8(true)
        .read_to_string();
    let cut = read.is_err();
    let text = scrub_body(bot, &read.unwrap_or_default());
    if (200..300).contains(&status) {
        return ControlFlow::Break(Ok(RestOk {
            status,
            body: text,
            cut,
        }));
    }
    // As for a webhook post: a 500 is not tried again (the server may have saved the
    // post), except the one that says an earlier attempt of this create is still being
    // saved (`pending_post_id`): a repeat returns that post.
    let retryable = retry::retryable_status(status)
        || (status == 500
            && server_error_id(&text, bot).as_deref()
                == Some("api.post.deduplicate_create_post.pending"));
    let fail = RestFail::Status {
        status,
        body: text,
        attempts,
    };
    if retryable {
        ControlFlow::Continue((fail, retry_after))
    } else {
        ControlFlow::Break(Err(fail))
    }
}
