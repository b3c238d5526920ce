pub(crate) mod deliver;
pub(crate) mod diagnose;
pub(crate) mod payload;
pub(crate) mod rest;
pub(crate) mod retry;
pub(crate) mod sent;
pub(crate) mod tls;
