pub mod dedupe;
pub mod spool;
pub mod statedir;
