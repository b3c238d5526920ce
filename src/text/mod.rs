pub(crate) mod markdown;
pub(crate) mod sanitize;
pub(crate) mod scrub;
pub(crate) mod time;
