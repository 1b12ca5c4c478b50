//! Integration tests of the `ov` binary: one test binary, a module per area.
//!
//! Every test runs the real binary (`CARGO_BIN_EXE_ov`) against real git
//! repositories and real project files in temp directories.
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "tests"
)]

mod agents;
mod completions;
mod conventions;
mod dispatch;
mod errors;
mod feed;
mod guard;
mod guard_hook;
mod help;
mod init;
mod log;
mod mail;
mod project;
mod replay;
mod run;
mod scripted_agent;
mod sessions_support;
mod status;
mod support;
mod trace;

/// The `ov` binary under test.
pub fn ov_bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_ov"))
}
