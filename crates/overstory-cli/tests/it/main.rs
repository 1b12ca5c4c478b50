//! Integration tests of the `ov` binary: one test binary, a module per area.
//!
//! Every test runs the real binary (`CARGO_BIN_EXE_ov`) against real git
//! repositories in temp directories.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod completions;
mod conventions;
mod guard;
mod help;
mod init;
mod project;
mod support;
