pub mod markdown;
pub mod time;
