pub mod build_message;
pub mod ci;
pub mod event;
