//! The turn runner: one headless user turn at a time per agent.
//!
//! A task-scoped headless agent has no process between turns. Each user turn
//! (the first prompt, a batch of mail, a nudge) is one call of [`run_turn`]:
//! take the agent's [`lock`], spawn the runtime's headless child in its own
//! process group, write the turn to its stdin, record every event in
//! `events.db`, and settle the agent's state through the sessions
//! compare-and-swap ([`outcome`]).

pub mod child;
pub mod lock;
pub mod log;
pub mod outcome;
mod runner;
pub mod shim;

pub use runner::{RunTurnOptions, TurnError, TurnPaths, TurnResult, run_turn};
