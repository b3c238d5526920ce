pub(crate) mod markdown;
pub(crate) mod time;
