//! The `ov` command-line interface.
//!
//! This crate is argument parsing and rendering over the overstory libraries:
//! each command parses its flags into library types, calls one library
//! function and renders the result as text or as the `--json` envelope. No
//! rule of the system lives here; an embedding program gets all of them from
//! the libraries: `overstory-core`, `overstory-mail`, `overstory-sessions`,
//! `overstory-runtime`, `overstory-turn` and `overstory-fleet`.
//!
//! The binary's whole job is [`main`].
#![deny(missing_docs)]

mod cli;
mod commands;
mod context;
mod error;
mod output;

pub use cli::main;
