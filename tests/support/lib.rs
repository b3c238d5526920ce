//! The Mattermost emulator the tests and the benchmark server share: a server that
//! answers incoming webhooks and a bot's REST API as `docs/mattermost-server.md`
//! describes (plain, TLS, mTLS), a CONNECT proxy, and a throwaway PKI. Its modules refer
//! to each other as `super::…`, so they read the same here as they did inside the
//! tests' `support` module.

mod decode;
mod http;
mod mattermost;
pub mod proxy;
pub mod rest;
pub mod server;
pub mod tls;

pub use decode::go_fold;
pub use http::{http_date, new_id};
pub use mattermost::{go_marshal, query_parses, MAX_URL_LENGTH, POST_PROPS_MAX_USER_RUNES};
pub use proxy::ConnectProxy;
pub use rest::{Bot, Call, ChannelKind, PatchRecord, Rest, RestChannel, RestPost, Seed};
pub use server::{
    Channel, Era, Fault, Hook, MockServer, Post, RateLimit, Request, ServerOptions, HOOK_ID,
    OTHER_HOOK_ID,
};
pub use tls::{Pki, TlsSetup};
