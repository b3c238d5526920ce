//! The webhook URL is a bearer credential. This module is the only place that holds it in
//! the clear: [`WebhookUrl`] prints as `scheme://host:port/hooks/…LAST4` everywhere, and the
//! full URL is reachable only through [`WebhookUrl::expose`], which the HTTP layer calls.

mod access;
mod bot;
mod child_env;
mod file;
mod known;
mod misplaced;
pub(crate) mod names;
mod source_ref;
mod sources;
mod url;

pub(crate) use bot::{BotSource, BotSources, BotToken};
pub(crate) use child_env::SECRET_ENV_VARS;
pub(crate) use file::{
    check_file, current_uid, open_trusted, read_secrets_file, read_secrets_values, Trust,
};
pub(crate) use known::{holds_secret, remember, scrub_secrets, scrub_secrets_json};
pub(crate) use misplaced::{contains_hook_id, refuse_hook_in_proxy, refuse_url_as_path};
// Scrubbing is plain text work (no secret is held), so it lives in `text/`, where
// `error` can reach it too; the names stay here, where callers look for them.
pub(crate) use crate::text::scrub::after_cut;
pub use crate::text::scrub::{redact_id_runs, scrub_hook_ids};
pub(crate) use source_ref::SourceRef;
pub(crate) use sources::{check_name, env_url, Source, Sources};
pub(crate) use url::WebhookUrl;
