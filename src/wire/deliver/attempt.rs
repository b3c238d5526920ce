//! One POST of the body and what its answer means.

use std::time::{Duration, SystemTime};

use crate::secret::WebhookUrl;
use crate::wire::deliver::transport::transport;
use crate::wire::deliver::{Deliverer, BODY_LIMIT};
use crate::wire::diagnose::{self, Answer, Diagnosis};
use crate::wire::retry;

pub(super) enum Attempt {
    Posted(u16),
    Failed {
        status: Option<u16>,
        diagnosis: Diagnosis,
        retry_after: Option<Duration>,
        timed_out: bool,
    },
}

impl Deliverer {
    pub(super) fn attempt(
        &self,
        url: &WebhookUrl,
        body: &[u8],
        timeout: Duration,
        channel: Option<&str>,
        attempts: u32,
    ) -> Attempt {
        let response = self.call(timeout, |agent, timeout| {
            agent
                .post(url.expose())
                .config()
                .timeout_global(Some(timeout))
                .build()
                .content_type("application/json")
                .send(body)
        });
        match response {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let header = |name: &str| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let location = header("location");
                let retry_after = header("retry-after");
                let text = resp
                    .body_mut()
                    .with_config()
                    .limit(BODY_LIMIT)
                    .lossy_utf8(true)
                    .read_to_string()
                    .unwrap_or_default();
                if (200..300).contains(&status) {
                    return Attempt::Posted(status);
                }
                let diagnosis = diagnose::http(
                    &Answer {
                        status,
                        body: &text,
                        location: location.as_deref(),
                    },
                    url,
                    channel,
                    attempts,
                );
                let diagnosis = diagnose::with_payload_suspects(diagnosis, url, body);
                Attempt::Failed {
                    status: Some(status),
                    diagnosis,
                    retry_after: retry_after
                        .as_deref()
                        .and_then(|v| retry::parse_retry_after(v, SystemTime::now())),
                    timed_out: false,
                }
            }
            Err(e) => Attempt::Failed {
                status: None,
                diagnosis: transport(
                    &e,
                    url,
                    timeout,
                    self.has_client_cert,
                    self.trust.enabled,
                    self.proxy_for(url),
                ),
                retry_after: None,
                timed_out: matches!(e, ureq::Error::Timeout(_)),
            },
        }
    }
}
