pub mod deliver;
pub mod diagnose;
pub mod payload;
pub mod retry;
pub mod tls;
