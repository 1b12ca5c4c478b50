//! Agent sessions, runs, the agent state machine, and metrics.
//!
//! # The model
//!
//! - [`SessionStore`] owns the `sessions` table of `.overstory/sessions.db`:
//!   one [`Session`] row per agent name. [`RunStore`] owns the `runs` table
//!   of the same file; a [`Run`]'s `agentCount` is counted from the sessions
//!   that name it at read time. `current-run.txt` names the active run.
//! - [`AgentState`] has five states; [`ALLOWED`] is the one transition
//!   table. The only way to change an existing row's state is
//!   [`SessionStore::transition`], an atomic compare-and-swap
//!   (`UPDATE … WHERE agent_name = ? AND state IN (<allowed predecessors>)`)
//!   that reports whether it applied. Inserting a row ([`SessionStore::upsert`])
//!   sets its initial state. `completed` is sticky; terminal states clear
//!   `tmux_session`.
//! - [`metrics::MetricsStore`] owns `.overstory/metrics.db` (token usage and
//!   cost per session, snapshots of running agents).
//! - [`status`], [`hook_events`], [`observe`] and [`discover`] are what the
//!   `ov status`, `ov log`, `ov trace/feed/errors/replay` and
//!   `ov agents discover` commands call.
//!
//! Every process opens its own connections; SQLite's WAL mode and a 5 s
//! busy timeout let hooks, the turn runner, the watchdog and the CLI write
//! at once.
//!
//! # Example
//!
//! ```
//! use overstory_core::{AgentName, Capability};
//! use overstory_sessions::{
//!     AgentState, RunMode, Session, SessionStore, Transition, TransitionOutcome,
//! };
//!
//! let dir = tempfile::tempdir()?;
//! let mut store = SessionStore::open(&dir.path().join("sessions.db"))?;
//! let mut s = Session::new(AgentName::new("builder-1")?, Capability::Builder);
//! assert_eq!(s.mode(), RunMode::SpawnPerTurn); // headless, one process per turn
//! s.tmux_session = "overstory-builder-1".into();
//! assert_eq!(s.mode(), RunMode::Tmux);
//! store.upsert(&s)?;
//!
//! // booting → working is allowed.
//! let o = store.transition("builder-1", &Transition::to(AgentState::Working))?;
//! assert!(o.applied());
//!
//! // Completing clears the tmux name; completed is sticky.
//! store.transition("builder-1", &Transition::to(AgentState::Completed))?;
//! let o = store.transition("builder-1", &Transition::to(AgentState::Zombie))?;
//! assert_eq!(
//!     o,
//!     TransitionOutcome::Rejected { prev: AgentState::Completed, attempted: AgentState::Zombie }
//! );
//! let row = store.get("builder-1")?.unwrap();
//! assert_eq!((row.state, row.tmux_session.as_str()), (AgentState::Completed, ""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Caveats
//!
//! - A transition holds SQLite's write lock for one short transaction; a
//!   writer blocked longer than the busy timeout gets [`overstory_core::DbError::Busy`].
//! - [`SessionStore::upsert`] replaces the whole row of a reused agent name
//!   (a new session), including its state.
#![deny(missing_docs)]

pub mod budget;
pub mod discover;
pub mod doctor;
mod error;
pub mod hook_events;
mod legacy;
pub mod metrics;
pub mod observe;
mod runs;
mod schema;
mod state;
pub mod status;
mod store;

pub use error::SessionError;
pub use legacy::open_sessions;
pub use runs::{
    CurrentRun, NewRun, Run, RunStatus, RunStore, RunWithDuration, close_run, complete_current_run,
    current_run, current_run_id, format_duration_compact, list_runs, show_run, write_current_run,
};
pub use schema::{RUN_COLUMNS, SESSION_COLUMNS};
pub use state::{ALLOWED, AgentState, Transition, TransitionOutcome};
pub use store::{RunMode, Session, SessionIdWriter, SessionPurge, SessionStore, UndecodableRow};
