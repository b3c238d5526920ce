//! Self-tests of the test support: the mock Mattermost server, TLS/mTLS, the CONNECT
//! proxy and the `Env` redaction check. No mmnotify code is involved.

use crate::support::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

const SECOND: Duration = Duration::from_secs(1);

/// A ureq agent that never errors on a status, ignores proxy env vars and gives up fast.
fn agent_with(tls: Option<TlsConfig>, proxy: Option<&str>) -> ureq::Agent {
    let mut cfg = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .proxy(proxy.map(|p| ureq::Proxy::new(p).expect("proxy url")));
    if let Some(tls) = tls {
        cfg = cfg.tls_config(tls);
    }
    ureq::Agent::new_with_config(cfg.build())
}

fn agent() -> ureq::Agent {
    agent_with(None, None)
}

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
}

fn send(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    body: &[u8],
) -> Result<Answer, ureq::Error> {
    let mut resp = agent
        .post(url)
        .header("Content-Type", content_type)
        .send(body)?;
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Ok(Answer {
        status: resp.status().as_u16(),
        headers,
        body: resp.body_mut().read_to_string()?,
    })
}

fn post_json(url: &str, payload: &Value) -> Answer {
    send(
        &agent(),
        url,
        "application/json",
        payload.to_string().as_bytes(),
    )
    .expect("request failed")
}

/// Raw HTTP exchange (for methods/paths/encodings ureq would not send).
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn assert_error(a: &Answer, status: u16, id: &str) {
    assert_eq!(a.status, status, "body: {}", a.body);
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.json()["id"], id, "body: {}", a.body);
    assert_eq!(a.json()["status_code"], status);
}

#[test]
fn hook_ids_are_valid_mattermost_ids() {
    for id in [HOOK_ID, OTHER_HOOK_ID] {
        assert_eq!(id.len(), 26);
        assert!(
            id.bytes()
                .all(|b| b"ybndrfg8ejkmcpqxot1uwisza345h769".contains(&b)),
            "{id}"
        );
    }
}

#[test]
fn success_answers_ok_and_records_the_post() {
    let server = MockServer::start();
    let a = post_json(
        &server.hook_url(),
        &json!({"text": "hello <!here>", "props": {"card": "c", "from_webhook": "x"}}),
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.body, "ok");
    assert_eq!(a.header("content-type"), Some("text/plain"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert!(a.header("x-version-id").is_some());
    let rid = a.header("x-request-id").expect("X-Request-Id");
    assert_eq!(rid.len(), 26);
    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].message, "hello @here");
    assert_eq!(posts[0].channel, "town-square");
    assert_eq!(posts[0].props["card"], "c");
    assert_eq!(posts[0].props["from_webhook"], "true");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, format!("/hooks/{HOOK_ID}"));
    assert_eq!(reqs[0].header("CONTENT-TYPE"), Some("application/json"));
    assert_eq!(reqs[0].json()["props"]["card"], "c");
}

#[test]
fn era_b_unknown_hook_is_general_error_with_hook_id() {
    let server = MockServer::start();
    let a = post_json(&server.hook_url_for(OTHER_HOOK_ID), &json!({"text": "x"}));
    assert_error(&a, 400, "web.incoming_webhook.general.app_error");
    assert_eq!(a.json()["request_id"], a.header("x-request-id").unwrap());
    assert_eq!(
        a.json()["message"],
        format!("Failed to handle the payload of media type application/json for incoming webhook {OTHER_HOOK_ID}.")
    );
    assert_eq!(a.json()["detailed_error"], "");
    // Exact key order, no trailing newline (model.AppError.ToJSON).
    let keys = [
        "\"id\"",
        "\"message\"",
        "\"detailed_error\"",
        "\"request_id\"",
        "\"status_code\"",
    ];
    let pos: Vec<usize> = keys.iter().map(|k| a.body.find(k).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{}", a.body);
    assert!(a.body.ends_with('}'));
}

#[test]
fn era_a_uses_specific_ids_and_developer_mode_fills_details() {
    let server = MockServer::start_with(ServerOptions {
        era: Era::A,
        ..Default::default()
    });
    let a = post_json(&server.hook_url_for(OTHER_HOOK_ID), &json!({"text": "x"}));
    assert_error(&a, 400, "web.incoming_webhook.invalid.app_error");
    assert_eq!(a.json()["message"], "Invalid webhook.");
    let a = post_json(&server.hook_url(), &json!({"text": ""}));
    assert_error(&a, 400, "web.incoming_webhook.text.app_error");
    let a = send(&agent(), &server.hook_url(), "application/json", b"{").unwrap();
    assert_error(&a, 400, "model.incoming_hook.parse_data.app_error");

    let dev = MockServer::start_with(ServerOptions {
        developer_mode: true,
        ..Default::default()
    });
    let a = post_json(&dev.hook_url(), &json!({"text": "x", "channel": "nope"}));
    assert_error(&a, 404, "web.incoming_webhook.general.app_error");
    assert!(a.json()["detailed_error"]
        .as_str()
        .unwrap()
        .contains("web.incoming_webhook.channel.app_error"));
}

#[test]
fn wrong_method_or_path_is_405_empty() {
    let server = MockServer::start();
    for req in [
        "PUT /hooks/x/y HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_string(),
        "POST /hooks/x/y HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_string(),
        format!("DELETE /hooks/{HOOK_ID} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"),
    ] {
        let out = raw(server.addr(), req.as_bytes());
        assert!(out.starts_with("HTTP/1.1 405 "), "{out}");
        assert!(out.contains("Content-Length: 0\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\n"), "{out}");
    }
    let out = raw(
        server.addr(),
        format!("GET /hooks/{HOOK_ID} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(
        out.starts_with("HTTP/1.1 200 ") && out.contains("text/html"),
        "{out}"
    );
    assert!(server.posts().is_empty());
}

#[test]
fn decode_failures_are_400_decode() {
    let server = MockServer::start();
    let decode = "web.incoming_webhook.decode.app_error";
    // Over MaximumPayloadSizeBytes + 512: truncated JSON fails to decode.
    let big = json!({"text": "a".repeat(300_600)});
    let a = post_json(&server.hook_url(), &big);
    assert_error(&a, 400, decode);
    let bad = [
        json!({"text": "x", "attachments": [{"fields": [{"title": "t", "value": 1, "short": null}]}]}),
        json!({"text": 5}),
        json!({"text": "x", "props": "p"}),
        json!({"text": "x", "attachments": {}}),
        json!({"text": "x", "priority": "high"}),
    ];
    for payload in bad {
        assert_error(&post_json(&server.hook_url(), &payload), 400, decode);
    }
    let ok = json!({"TEXT": "x", "attachments": [null, {"fields": [null, {"title": "n", "value": 1_000_000, "short": "TRUE"}]}]});
    assert_eq!(post_json(&server.hook_url(), &ok).status, 200);
    let post = server.posts().pop().unwrap();
    assert_eq!(post.post_type, "slack_attachment");
    assert_eq!(
        post.attachments,
        json!([{"fields": [{"title": "n", "value": "1e+06", "short": "TRUE"}]}])
    );
    // Raw newline and tab are rescued, first JSON value only.
    let a = send(
        &agent(),
        &server.hook_url(),
        "",
        b"{\"text\":\"a\nb\tc\"} trailing",
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(server.posts().pop().unwrap().message, "a\nb\tc");
    // urlencoded payload field.
    let a = send(
        &agent(),
        &server.hook_url(),
        "application/x-www-form-urlencoded; charset=utf-8",
        b"payload=%7B%22text%22%3A%22form+post%22%7D",
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(server.posts().pop().unwrap().message, "form post");
    // urlencoded over the cap is 413 (era B), a malformed Content-Type parse_form.
    let big = format!("payload={}", "a".repeat(300_600));
    let a = send(
        &agent(),
        &server.hook_url(),
        "application/x-www-form-urlencoded",
        big.as_bytes(),
    )
    .unwrap();
    assert_error(&a, 413, "api.context.request_body_too_large.app_error");
    let a = send(
        &agent(),
        &server.hook_url(),
        "application/json; charset",
        b"{\"text\":\"x\"}",
    )
    .unwrap();
    assert_error(&a, 400, "web.incoming_webhook.parse_form.app_error");
    // multipart: Go field names work, the JSON name `channel` is an unknown key.
    let form = |name: &str| {
        format!("--XX\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nmp\r\n--XX\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\ndev\r\n--XX--\r\n")
    };
    let ct = "multipart/form-data; boundary=XX";
    let a = send(
        &agent(),
        &server.hook_url(),
        ct,
        form("ChannelName").as_bytes(),
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(server.posts().pop().unwrap().channel, "dev");
    let a = send(&agent(), &server.hook_url(), ct, form("channel").as_bytes()).unwrap();
    assert_error(&a, 400, decode);
}

#[test]
fn channel_rules_locked_unknown_private_user() {
    let server = MockServer::start_with(ServerOptions {
        hooks: vec![
            Hook::locked(HOOK_ID, "town-square"),
            Hook::new(OTHER_HOOK_ID, "dev"),
        ],
        ..Default::default()
    });
    let general = "web.incoming_webhook.general.app_error";
    assert_error(
        &post_json(&server.hook_url(), &json!({"text": "x", "channel": "dev"})),
        403,
        general,
    );
    assert_eq!(
        post_json(
            &server.hook_url(),
            &json!({"text": "x", "channel": "#town-square"})
        )
        .status,
        200
    );
    let other = server.hook_url_for(OTHER_HOOK_ID);
    assert_error(
        &post_json(&other, &json!({"text": "x", "channel": "nowhere"})),
        404,
        general,
    );
    assert_error(
        &post_json(&other, &json!({"text": "x", "channel": "secret"})),
        403,
        general,
    );
    assert_error(
        &post_json(&other, &json!({"text": "x", "channel": "@bob"})),
        400,
        general,
    );
    assert_eq!(
        post_json(&other, &json!({"text": "x", "channel": "@alice"})).status,
        200
    );
    assert_error(
        &post_json(
            &other,
            &json!({"text": "x", "priority": {"requested_ack": true}}),
        ),
        400,
        general,
    );
    assert_error(
        &post_json(&other, &json!({"text": "x", "type": "system_join"})),
        400,
        general,
    );
    assert_error(
        &post_json(&other, &json!({"text": "x", "type": "weird"})),
        500,
        general,
    );
    let channels: Vec<String> = server.posts().into_iter().map(|p| p.channel).collect();
    assert_eq!(channels, ["town-square", "@alice"]);
}

#[test]
fn disabled_is_501_but_bad_body_still_400() {
    let server = MockServer::start_with(ServerOptions {
        incoming_enabled: false,
        ..Default::default()
    });
    assert_error(
        &post_json(&server.hook_url(), &json!({"text": "x"})),
        501,
        "web.incoming_webhook.general.app_error",
    );
    let a = send(&agent(), &server.hook_url(), "application/json", b"").unwrap();
    assert_error(&a, 400, "web.incoming_webhook.decode.app_error");
}

#[test]
fn long_text_is_split_into_posts() {
    let server = MockServer::start();
    let text = "é".repeat(16383 + 10);
    let a = post_json(
        &server.hook_url(),
        &json!({"text": text, "attachments": [{"fallback": "f"}]}),
    );
    assert_eq!(a.status, 200);
    let posts = server.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].message.chars().count(), 16383);
    assert_eq!(posts[1].message.chars().count(), 10);
    assert_eq!(posts[0].attachments, json!([]));
    assert_eq!(posts[1].attachments[0]["fallback"], "f");
}

#[test]
fn scripted_faults() {
    let server = MockServer::start();
    let date = http_date(std::time::SystemTime::now() + Duration::from_secs(3));
    server.script([
        Fault::RateLimited {
            retry_after: "7".into(),
        },
        Fault::RateLimited {
            retry_after: date.clone(),
        },
        Fault::Status(503),
        Fault::Status(404),
        Fault::Redirect {
            status: 301,
            location: "https://elsewhere/".into(),
        },
        Fault::Response {
            status: 418,
            headers: vec![("X-Test".into(), "1".into())],
            body: "teapot".into(),
        },
    ]);
    let url = server.hook_url();
    let payload = json!({"text": "x"});
    let a = post_json(&url, &payload);
    assert_eq!((a.status, a.body.as_str()), (429, "limit exceeded\n"));
    assert_eq!(a.header("retry-after"), Some("7"));
    assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        post_json(&url, &payload).header("retry-after"),
        Some(date.as_str())
    );
    let a = post_json(&url, &payload);
    assert_eq!(a.status, 503);
    assert!(a.body.contains("503 Service Unavailable"));
    let a = post_json(&url, &payload);
    assert_error(&a, 404, "web.incoming_webhook.general.app_error");
    assert!(a.json()["message"].as_str().unwrap().contains(HOOK_ID));
    let a = post_json(&url, &payload);
    assert_eq!(
        (a.status, a.header("location")),
        (301, Some("https://elsewhere/"))
    );
    let a = post_json(&url, &payload);
    assert_eq!(
        (a.status, a.body.as_str(), a.header("x-test")),
        (418, "teapot", Some("1"))
    );
    assert_eq!(
        post_json(&url, &payload).status,
        200,
        "queue exhausted: normal handling"
    );
    assert_eq!(server.requests().len(), 7);
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn drop_reset_and_delay() {
    let server = MockServer::start();
    server.script([
        Fault::Drop,
        Fault::Reset,
        Fault::Delay(Duration::from_millis(300)),
    ]);
    let url = server.hook_url();
    let body = json!({"text": "x"}).to_string();
    assert!(
        send(&agent(), &url, "application/json", body.as_bytes()).is_err(),
        "Drop must fail the request"
    );
    assert!(
        send(&agent(), &url, "application/json", body.as_bytes()).is_err(),
        "Reset must fail the request"
    );
    let t = Instant::now();
    assert_eq!(post_json(&url, &json!({"text": "x"})).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(server.wait_for_requests(3, SECOND));
    assert_eq!(server.posts().len(), 1);
    // At the socket level: Drop is a clean close, Reset a real RST.
    server.script([Fault::Drop, Fault::Reset]);
    let req = format!("POST /hooks/{HOOK_ID} HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{{}}");
    for expect_reset in [false, true] {
        let mut s = TcpStream::connect(server.addr()).unwrap();
        s.set_read_timeout(Some(SECOND)).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let got = s.read(&mut [0u8; 64]);
        if expect_reset {
            assert_eq!(got.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
        } else {
            assert_eq!(got.unwrap(), 0);
        }
    }
    assert_eq!(server.requests()[4].body, b"{}");
}

#[test]
fn hang_is_released_when_the_server_drops() {
    let server = MockServer::start();
    server.script([Fault::Hang(Duration::from_secs(30))]);
    let addr = server.addr();
    let client = std::thread::spawn(move || {
        raw(
            addr,
            format!("POST /hooks/{HOOK_ID} HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{{}}")
                .as_bytes(),
        )
    });
    assert!(server.wait_for_requests(1, SECOND));
    let t = Instant::now();
    drop(server);
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "drop took {:?}",
        t.elapsed()
    );
    assert_eq!(client.join().unwrap(), "", "no answer, just a close");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = MockServer::start();
    let agent = agent();
    for i in 0..3 {
        let a = send(
            &agent,
            &server.hook_url(),
            "application/json",
            json!({"text": i.to_string()}).to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(a.status, 200);
    }
    let conns: Vec<usize> = server.requests().iter().map(|r| r.conn_id).collect();
    assert_eq!(conns, [1, 1, 1]);
    assert_eq!(server.connections(), 1);
    // Chunked request body and Connection: close over raw TCP.
    let out = raw(
        server.addr(),
        format!(
            "POST /hooks/{HOOK_ID} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{{\"tex\r\n8\r\nt\":\"ch\"}}\r\n0\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(
        out.starts_with("HTTP/1.1 200 ") && out.ends_with("\r\n\r\nok"),
        "{out}"
    );
    assert_eq!(server.posts().last().unwrap().message, "ch");
    // Garbage gets a 400 and a closed connection, not a panic.
    assert!(raw(server.addr(), b"\x16\x03\x01garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
    let huge_chunk = format!(
        "POST /hooks/{HOOK_ID} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"
    );
    assert!(raw(server.addr(), huge_chunk.as_bytes()).starts_with("HTTP/1.1 413 "));
    let id = new_id();
    assert!(id.len() == 26 && id != new_id());
}

#[test]
fn rate_limit_mode_sends_headers_and_429() {
    let server = MockServer::start_with(ServerOptions {
        rate_limit: Some(RateLimit {
            per_sec: 1,
            burst: 1,
        }),
        ..Default::default()
    });
    let payload = json!({"text": "x"});
    let a = post_json(&server.hook_url(), &payload);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(a.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(post_json(&server.hook_url(), &payload).status, 200);
    let a = post_json(&server.hook_url(), &payload);
    assert_eq!((a.status, a.body.as_str()), (429, "limit exceeded\n"));
    assert_eq!(a.header("retry-after"), Some("1"));
    assert!(a.header("x-request-id").is_none());
}

fn tls_agent(pki: &Pki, client_cert: bool) -> ureq::Agent {
    let roots = RootCerts::new_with_certs(&[Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()]);
    let mut tls = TlsConfig::builder().root_certs(roots);
    if client_cert {
        let cert = Certificate::from_pem(pki.client_cert_pem.as_bytes()).unwrap();
        let key = PrivateKey::from_pem(pki.client_key_pem.as_bytes()).unwrap();
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&[cert], key)));
    }
    agent_with(Some(tls.build()), None)
}

#[test]
fn tls_with_generated_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    assert!(pki.ca_cert.exists() && pki.client_key.exists() && pki.other_ca_cert.exists());
    let server = MockServer::start_with(ServerOptions {
        tls: Some(TlsSetup::server(&pki)),
        ..Default::default()
    });
    assert!(server.hook_url().starts_with("https://127.0.0.1:"));
    let body = json!({"text": "tls"}).to_string();
    let a = send(
        &tls_agent(&pki, false),
        &server.hook_url(),
        "application/json",
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    // Default webpki roots do not know our CA.
    assert!(send(
        &agent(),
        &server.hook_url(),
        "application/json",
        body.as_bytes()
    )
    .is_err());
    let deadline = Instant::now() + SECOND;
    while server.tls_failures() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.tls_failures(), 1);
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn mtls_requires_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let server = MockServer::start_with(ServerOptions {
        tls: Some(TlsSetup::mtls(&pki)),
        ..Default::default()
    });
    let body = json!({"text": "mtls"}).to_string();
    assert!(send(
        &tls_agent(&pki, false),
        &server.hook_url(),
        "application/json",
        body.as_bytes()
    )
    .is_err());
    let a = send(
        &tls_agent(&pki, true),
        &server.hook_url(),
        "application/json",
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(server.posts().len(), 1);
    assert!(server.tls_failures() >= 1);
}

#[test]
fn connect_proxy_tunnels_and_records() {
    let server = MockServer::start();
    let proxy = ConnectProxy::start();
    let agent = agent_with(None, Some(&proxy.url()));
    let a = send(
        &agent,
        &server.hook_url(),
        "application/json",
        json!({"text": "via proxy"}).to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(proxy.tunnels(), [format!("127.0.0.1:{}", server.port())]);
    assert_eq!(server.posts()[0].message, "via proxy");
    // Only loopback targets.
    let out = raw(
        proxy.addr(),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 403 "), "{out}");
    // Absolute-form forwarding.
    let req = format!(
        "POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{{\"text\":\"fw\"}}",
        server.hook_url()
    );
    let out = raw(proxy.addr(), req.as_bytes());
    assert!(
        out.starts_with("HTTP/1.1 200 ") && out.ends_with("ok"),
        "{out}"
    );
    assert_eq!(proxy.forwarded().len(), 1);
}

#[test]
fn env_runs_isolated_and_checks_redaction() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let run = env.run(
        Command::new("sh")
            .args([
                "-c",
                "echo \"$HOME|$MMNOTIFY_STATE_DIR|${HTTPS_PROXY:-none}\"",
            ])
            .env_clear(),
    );
    run.assert_code(0);
    let mut cmd = env.cmd();
    cmd.arg("--version"); // the binary itself starts with a clean environment
    assert!(cmd.get_envs().any(|(k, _)| k == "MMNOTIFY_STATE_DIR"));
    let secret = env.write_secret("main", &format!("http://127.0.0.1:1/hooks/{HOOK_ID}\n"));
    assert!(secret.ends_with("secrets/main.url"));
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let r = env.run_with_stdin(Command::new("cat").arg("-"), b"abc");
    assert_eq!(r.stdout, "abc");
}

#[test]
#[should_panic(expected = "SECRET LEAK")]
fn env_catches_a_secret_on_stderr() {
    let env = Env::new();
    env.run(Command::new("sh").args(["-c", &format!("echo {HOOK_ID} >&2")]));
}

#[test]
#[should_panic(expected = "SECRET LEAK")]
fn env_catches_a_secret_in_a_state_file() {
    let mut env = Env::new();
    env.secret("s3cr3t-t0ken");
    let state = env.state();
    env.run(Command::new("sh").args([
        "-c",
        &format!(
            "mkdir -p {0}/spool && echo s3cr3t-t0ken > {0}/spool/x",
            state.display()
        ),
    ]));
}

fn era_a() -> MockServer {
    MockServer::start_with(ServerOptions {
        era: Era::A,
        ..Default::default()
    })
}

/// Raw POST of a JSON body to `target`, returning the status and the body.
fn raw_post(addr: SocketAddr, target: &str, body: &str) -> (u16, String) {
    let out = raw(
        addr,
        format!(
            "POST {target} HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let status = out
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {out}"));
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

#[test]
fn rescue_pass_escapes_only_the_six_lower_case_keys() {
    let server = MockServer::start();
    let decode = "web.incoming_webhook.decode.app_error";
    let post = |body: &[u8]| send(&agent(), &server.hook_url(), "application/json", body).unwrap();
    // Newlines and tabs in every rescued key.
    let ok = "{\"text\":\"t\nx\",\"attachments\":[{\"fallback\":\"f\t\",\"pretext\":\"p\n\",\"author_name\":\"a\n\",\"title\":\"ti\n\",\"fields\":[{\"title\":\"k\",\"value\":\"v\tw\"}]}]}";
    let a = post(ok.as_bytes());
    assert_eq!(a.status, 200, "{}", a.body);
    let p = server.posts().pop().unwrap();
    assert_eq!(p.message, "t\nx");
    assert_eq!(p.attachments[0]["fields"][0]["value"], "v\tw");
    assert_eq!(p.attachments[0]["title"], "ti\n");
    // Another key, another spelling of a rescued key, another control character.
    for bad in [
        "{\"text\":\"x\",\"username\":\"a\tb\"}",
        "{\"TEXT\":\"a\nb\"}",
        "{\"Text\" : \"a\tb\"}",
        "{\"text\":\"a\rb\"}",
        "{\"text\":\"x\",\"attachments\":[{\"footer\":\"a\nb\"}]}",
    ] {
        assert_error(&post(bad.as_bytes()), 400, decode);
    }
    // Spaces around the colon are allowed by the server's regex.
    let a = post(b"{\"text\" :  \"a\nb\"}");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(server.posts().pop().unwrap().message, "a\nb");
}

#[test]
fn empty_or_null_attachments_count_as_none() {
    let general = "web.incoming_webhook.general.app_error";
    let server = MockServer::start();
    for p in [
        json!({"attachments": []}),
        json!({"attachments": [null]}),
        json!({"text": "", "attachments": [null, null]}),
    ] {
        assert_error(&post_json(&server.hook_url(), &p), 400, general);
    }
    // With text, `[]` does not make the post an attachment post.
    let a = post_json(&server.hook_url(), &json!({"text": "x", "attachments": []}));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(server.posts().pop().unwrap().post_type, "");
    let a = post_json(&era_a().hook_url(), &json!({"attachments": [null]}));
    assert_error(&a, 400, "web.incoming_webhook.text.app_error");
}

#[test]
fn props_size_is_counted_with_html_escapes() {
    let server = era_a();
    // Go marshals props as {"from_webhook":"true","k":"…","webhook_display_name":"Test
    // hook"}: 65 runes plus 6 for each `<`. Plain serde JSON would be far under the limit.
    let props = |n: usize| json!({"text": "x", "props": {"k": "<".repeat(n)}});
    let at_limit = (POST_PROPS_MAX_USER_RUNES - 65) / 6;
    assert_eq!(65 + 6 * at_limit, 759_995);
    let a = post_json(&server.hook_url(), &props(at_limit));
    assert_eq!(a.status, 200, "{}", a.body);
    let a = post_json(&server.hook_url(), &props(at_limit + 1));
    assert_error(&a, 400, "web.incoming_webhook.split_props_length.app_error");
    assert_eq!(
        go_marshal(&json!({"a": "<&>\u{2028}", "n": [1.0, 1e21, 1e-7, 0.5]})),
        r#"{"a":"\u003c\u0026\u003e\u2028","n":[1,1e+21,1e-7,0.5]}"#
    );
}

#[test]
fn era_b_malformed_query_is_parse_form_whatever_the_body() {
    let server = MockServer::start();
    let parse_form = "web.incoming_webhook.parse_form.app_error";
    let hook = format!("/hooks/{HOOK_ID}");
    for query in ["?a;b", "?x=%zz", "?x=%4", "?%", "?ok=1&bad=a;b"] {
        for body in ["{\"text\":\"x\"}", "not json", ""] {
            let (status, answer) = raw_post(server.addr(), &format!("{hook}{query}"), body);
            assert_eq!(status, 400, "{query} {body}: {answer}");
            let v: Value = serde_json::from_str(&answer).unwrap();
            assert_eq!(v["id"], parse_form, "{query}");
        }
    }
    let (status, answer) = raw_post(
        server.addr(),
        &format!("{hook}?ok=1&b=%41+c"),
        "{\"text\":\"x\"}",
    );
    assert_eq!(status, 200, "{answer}");
    // Era A ignores the query.
    let (status, answer) = raw_post(era_a().addr(), &format!("{hook}?a;b"), "{\"text\":\"x\"}");
    assert_eq!(status, 200, "{answer}");
    assert!(query_parses("") && query_parses("a=1&&b") && !query_parses("a=%g0"));
}

#[test]
fn era_b_request_uri_over_2048_bytes_is_414() {
    let server = MockServer::start();
    let hook = format!("/hooks/{HOOK_ID}?q=");
    let fill = |len: usize| format!("{hook}{}", "a".repeat(len - hook.len()));
    let (status, answer) = raw_post(server.addr(), &fill(MAX_URL_LENGTH), "{\"text\":\"x\"}");
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = raw_post(server.addr(), &fill(MAX_URL_LENGTH + 1), "{\"text\":\"x\"}");
    assert_eq!(status, 414, "{answer}");
    let v: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["id"], "basic_security_check.url.too_long_error");
    assert_eq!(v["status_code"], 414);
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn json_keys_match_members_case_insensitively_like_go() {
    let server = MockServer::start();
    let decode = "web.incoming_webhook.decode.app_error";
    let general = "web.incoming_webhook.general.app_error";
    for (p, id) in [
        (json!({"text": "x", "Props": "p"}), decode),
        (json!({"text": "x", "Attachments": {}}), decode),
        (
            json!({"text": "x", "attachments": [{"Fields": [{"short": "yes"}]}]}),
            decode,
        ),
        (
            json!({"text": "x", "attachments": [{"fields": [{"\u{17f}hort": "yes"}]}]}),
            decode,
        ),
        (
            json!({"text": "x", "priority": {"priority": "", "requested_ac\u{212a}": 1}}),
            decode,
        ),
        (json!({"text": "x", "PRIORITY": {}}), general),
        (json!({"text": "x", "Type": "system_x"}), general),
    ] {
        assert_error(&post_json(&server.hook_url(), &p), 400, id);
    }
    let ok = json!({"Text": "hi", "CHANNEL": "dev", "attachments": [{"TITLE": "T", "Fields": [{"Title": "a", "VALUE": 2}]}]});
    let a = post_json(&server.hook_url(), &ok);
    assert_eq!(a.status, 200, "{}", a.body);
    let p = server.posts().pop().unwrap();
    assert_eq!((p.message.as_str(), p.channel.as_str()), ("hi", "dev"));
    assert_eq!(
        p.attachments,
        json!([{"title": "T", "fields": [{"title": "a", "value": "2"}]}])
    );
    assert_eq!(go_fold("Requested_Ac\u{212a}"), "requested_ack");
}
