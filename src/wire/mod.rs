pub mod deliver;
pub mod diagnose;
pub mod payload;
pub mod retry;
pub mod sent;
pub mod tls;
