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

mod agent_host;
mod agents;
mod clean;
mod completions;
mod conventions;
mod coordinator;
mod costs;
mod dashboard;
mod demo;
mod dispatch;
mod doctor;
mod errors;
mod feed;
mod group;
mod guard;
mod guard_hook;
mod help;
mod hooks;
mod init;
mod inspect;
mod log;
mod logs;
mod mail;
mod merge;
mod monitor;
mod nudge;
mod prime;
mod project;
mod replay;
mod run;
mod scripted_agent;
mod serve;
mod sessions_support;
mod sling;
mod spec;
mod status;
mod stop;
mod support;
mod trace;
mod watch;
mod watch_once;
mod worktree;

/// The `ov` binary under test.
pub fn ov_bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_ov"))
}
