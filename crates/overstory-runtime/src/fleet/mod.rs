//! Fleet operations: what happens to agents around their turns.
//!
//! - [`tmux`]: the tmux manager for interactive agents (dedicated server,
//!   quoted startup scripts, exact targets, send-keys, readiness,
//!   process-tree kill).
//! - [`stop`]: `ov stop` for headless and tmux agents.
//! - [`worktrees`]: `ov worktree list|clean`.
//! - [`clean`]: `ov clean` by category or for one agent.
//! - [`groups`]: `ov group` and `.overstory/groups.json`.
//! - [`spec`]: `ov spec write`.
//! - [`prime`]: `ov prime` and gitignore healing.
//! - [`hooks_install`]: `ov hooks install|uninstall|status`.
//!
//! Worktrees themselves live in [`overstory_core::worktree`] (they need only
//! git). Nothing here deletes a branch with unmerged commits unless forced.

pub mod clean;
mod error;
pub mod groups;
pub mod hooks_install;
pub mod prime;
pub mod spec;
pub mod stop;
pub mod tmux;
pub mod worktrees;

pub use error::FleetError;
pub use stop::{StopOptions, StopReport, stop_agent};
pub use tmux::{NewSession, SessionState, Tmux, TmuxError};
