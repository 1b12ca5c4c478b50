//! The `ov` command-line interface.
//!
//! This crate is argument parsing and rendering over the overstory libraries:
//! each command parses its flags into library types, calls one library
//! function and renders the result as text or as the `--json` envelope. No
//! rule of the system lives here; an embedding program gets all of them from
//! `overstory-core`, `overstory-mail`, `overstory-sessions` and
//! `overstory-runtime`.
//!
//! The binary's whole job is [`main`].
#![deny(missing_docs)]
// Context, output and error helpers are shared scaffolding; some are used
// only by commands that land in other issues. Remove once every one has a user.

mod cli;
mod commands;
mod context;
mod error;
mod output;

pub use cli::main;
