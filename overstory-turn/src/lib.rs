//! The turn runner: one headless user turn at a time per agent.
//!
//! A task-scoped headless agent has no process between turns. Each user turn
//! (the first prompt, a batch of mail, a nudge) is one call of [`run_turn`]:
//! take the agent's [`lock`], spawn the runtime's headless child in its own
//! process group, write the turn to its stdin, record every event in
//! `events.db`, and settle the agent's state through the sessions
//! compare-and-swap ([`outcome`]).
//!
//! The steps, each with its cleanup guaranteed by a guard:
//!
//! 1. refuse runtimes without a headless direct spawn or an event reader;
//! 2. an empty turn is a no-op (no lock, no spawn, no write);
//! 3. take the agent's turn lock and re-read its row (the stored runtime
//!    session id there wins over anything the caller believed);
//! 4. take the mail high-water mark, the baseline for terminal mail;
//! 5. spawn the child (own process group), publish `turn.pid`, feed the user
//!    turn to stdin while draining stdout into `events.db` in batches;
//! 6. watch for an operator abort and for stalls (no output for
//!    `stall_timeout`), escalating SIGTERM → SIGKILL to the whole group and
//!    always reaping the child;
//! 7. decide the final state ([`outcome::settle`]), write it through the
//!    compare-and-swap, notify the parent with `worker_died` when the agent
//!    ended without finishing, and refresh `last_activity`;
//! 8. on every path: remove `turn.pid`, release the lock.
//!
//! Every case of the original's turn-runner test suite is a test in
//! `tests/it/turn_runner.rs`.

#![deny(missing_docs)]

pub mod child;
pub mod dispatch;
pub(crate) mod feed;
pub mod host;
pub mod lock;
pub mod log;
pub mod outcome;
pub mod roster;
mod runner;
pub mod shim;
pub mod wake;

pub(crate) use runner::event_row;
pub use runner::{RunTurnOptions, TurnError, TurnPaths, TurnResult, run_turn};
