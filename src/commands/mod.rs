pub mod build;
pub mod doctor;
pub mod flush;
pub mod notify;
pub mod output;
pub mod probe;
pub mod run;
pub mod send;
