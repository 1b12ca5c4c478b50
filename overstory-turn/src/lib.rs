//! Turns for headless agents: one user turn at a time per agent, and mail
//! that starts the next turn by itself, with no server running.
//!
//! ```
//! use overstory_core::{AgentName, Layout};
//! use overstory_mail::{Address, MailClient, SendRequest};
//! use overstory_turn::wake::{Waker, send_and_wake};
//!
//! let dir = tempfile::tempdir()?;
//! let layout = Layout::new(dir.path());
//! std::fs::create_dir_all(layout.dir())?;
//!
//! // Store a message and wake its recipient if it takes turns headless:
//! // a task-scoped agent gets a detached `ov dispatch`, a persistent one a
//! // poke of its agent host. (Nobody has a session here, so nobody wakes.)
//! let waker = Waker::new(layout.clone(), "/usr/local/bin/ov");
//! let req = SendRequest::new(
//!     AgentName::new("lead-1")?,
//!     Address::parse("builder-1")?,
//!     "Review notes",
//!     "Rename the flag before you report",
//! );
//! let posted = send_and_wake(&mut MailClient::open(&layout)?, &req, &waker)?;
//! assert_eq!(posted.delivery.sent[0].message.to, "builder-1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The model
//!
//! - [`run_turn`] runs one user turn of one task-scoped headless agent:
//!   the agent's OS-held [`lock`], the runtime's headless child in its own
//!   process group (under the [`shim`] so it dies with its runner), every
//!   event into `events.db`, and the final state decided by
//!   [`outcome::settle`] and written through the sessions compare-and-swap.
//!   Tests inject children through [`child`].
//! - [`dispatch`] turns pending work into turns: [`dispatch::wake`] starts a
//!   detached dispatcher (`ov dispatch --agent <name>`) that batches an
//!   agent's queued nudges and unread mail into one turn at a time, marking
//!   mail read only after a clean turn; [`dispatch::sweep`] wakes agents
//!   whose pending work has no dispatcher (after a crash).
//! - [`factory`] builds a turn's options from a session row (its runtime,
//!   kept in `runtime.json`, and its model); [`queue`] holds an agent's
//!   pending user turns (first prompt, nudges) until a turn carries them.
//! - [`host`] keeps one long-lived headless process for a persistent agent
//!   (coordinator, orchestrator, monitor) and writes each batch of its mail
//!   to the process's stdin as the next user turn.
//! - [`wake`] is the one call every sender uses ([`wake::send_and_wake`]):
//!   store, then wake; [`roster`] is the fleet as the mail bus sees it.
//!
//! How an agent takes its turns is [`overstory_sessions::Session::mode`]:
//! spawn-per-turn agents go through [`dispatch`], hosted ones through
//! [`host`], tmux agents through neither.
//!
//! # One turn, step by step
//!
//! Each step's cleanup is guaranteed by a guard:
//!
//! 1. refuse runtimes without a headless direct spawn or an event reader;
//! 2. an empty turn is a no-op (no lock, no spawn, no write);
//! 3. take the agent's turn lock and re-read its row (the stored runtime
//!    session id there wins over anything the caller believed);
//! 4. take the mail high-water mark, the baseline for terminal mail;
//! 5. spawn the child (own process group), publish `turn.pid`, feed the user
//!    turn to stdin while draining stdout into `events.db` in batches; a
//!    program that is not there (looked up on the child's `PATH` first), or
//!    a child that exits with [`shim::SPAWN_FAILED`] before any output,
//!    records an `error` event and fails the turn with a start failure
//!    ([`TurnError::is_start_failure`]) that [`dispatch`] does not retry;
//! 6. watch for an operator abort and for stalls (no output for
//!    `stall_timeout`), escalating SIGTERM → SIGKILL to the whole group and
//!    always reaping the child; a child that exits while its group lives on
//!    (the shim was killed, the agent under it still runs) gets its group
//!    terminated at once and an `error` event, instead of holding the lock
//!    until the stall timeout;
//! 7. decide the final state ([`outcome::settle`]), write it through the
//!    compare-and-swap, notify the parent with `worker_died` when the agent
//!    ended without finishing, and refresh `last_activity`;
//! 8. on every path: remove `turn.pid`, release the lock.
//!
//! Every case of the original's turn-runner test suite is a test in
//! `tests/it/turn_runner.rs`.
//!
//! # Caveats
//!
//! - Waking starts `ov dispatch` and `ov agent-host` processes: an embedding
//!   program passes the path of an `ov` binary to [`wake::Waker::new`].
//! - [`run_turn`] is async and must run inside the caller's tokio runtime;
//!   nothing in this crate starts a runtime of its own. Dropping its future
//!   mid-turn leaves the child to the shim, which kills its group when the
//!   runner is gone.
//! - Delivery is at least once: a turn that fails leaves its mail unread
//!   for the next turn.

#![deny(missing_docs)]

pub mod child;
pub mod dispatch;
pub mod factory;
pub(crate) mod feed;
pub mod host;
pub mod lock;
pub mod log;
pub mod outcome;
pub mod queue;
pub mod roster;
mod runner;
pub mod shim;
mod spend;
pub mod wake;

pub use runner::{MissingSupport, RunTurnOptions, TurnError, TurnPaths, TurnResult, run_turn};
pub(crate) use runner::{RunnerWorkerDied, event_row};
