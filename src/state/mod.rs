pub mod dedupe;
pub mod fingerprint;
pub mod spool;
pub mod statedir;
