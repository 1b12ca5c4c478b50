//! Integration tests of the `ov` binary: one test binary, a module per area.
//!
//! Every test runs the real binary (`CARGO_BIN_EXE_ov`) against real git
//! repositories in temp directories.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod completions;
mod conventions;
mod guard;
mod guard_hook;
mod help;
mod init;
mod project;
mod scripted_agent;
mod support;

/// The `ov` binary under test.
pub fn ov_bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_ov"))
}
