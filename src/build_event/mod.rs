pub(crate) mod build_message;
pub(crate) mod ci;
pub(crate) mod event;
