//! CLI wiring tests: the real `ov` binary against real project files.
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::print_stdout,
    reason = "tests"
)]

mod agents;
mod errors;
mod feed;
mod log;
mod replay;
mod run;
mod sessions_support;
mod status;
mod trace;
