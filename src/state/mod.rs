pub(crate) mod dedupe;
pub(crate) mod fingerprint;
pub(crate) mod spool;
pub(crate) mod statedir;
