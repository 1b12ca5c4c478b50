//! Fleet operations: what happens to agents around their turns.
//!
//! - [`tmux`]: the tmux manager for interactive agents (dedicated server,
//!   quoted startup scripts, send-keys, readiness, process-tree kill).
//! - [`stop`]: `ov stop` for headless and tmux agents.
//!
//! Worktrees live in [`overstory_core::worktree`] (they need only git).

mod error;
pub mod stop;
pub mod tmux;

pub use error::FleetError;
pub use stop::{StopOptions, StopReport, stop_agent};
pub use tmux::{NewSession, SessionState, Tmux, TmuxError};
