//! Fleet operations: what happens to agents around their turns.
//!
//! - [`tmux`]: the tmux manager for interactive agents (dedicated server,
//!   quoted startup scripts, exact targets, send-keys, readiness,
//!   process-tree kill).
//! - [`beacon`]: after a tmux pane exists — readiness, the beacon, its check.
//! - [`sling`](mod@sling): `ov sling` — atomic admission, set-up, non-blocking headless
//!   start or tmux start, complete rollback on failure.
//! - [`nudge`](mod@nudge): `ov nudge` — debounced; headless agents get a queued turn,
//!   tmux agents typed text (never into a busy pane).
//! - [`stop`]: `ov stop` for headless and tmux agents.
//! - [`persistent`]: `ov coordinator` / `ov orchestrator` — persistent
//!   agents, headless under an agent host by default, tmux opt-in.
//! - [`worktrees`]: `ov worktree list|clean`.
//! - [`clean`]: `ov clean` by category or for one agent.
//! - [`groups`]: `ov group` and `.overstory/groups.json`.
//! - [`spec`]: `ov spec write`.
//! - [`prime`]: `ov prime` and gitignore healing.
//! - [`root_hooks`]: `ov hooks install|uninstall|status`.
//!
//! Worktrees themselves live in [`overstory_core::worktree`] (they need only
//! git). Nothing here deletes a branch with unmerged commits unless forced.
//!
//! # What sling builds on
//!
//! Sling creates the worktree with [`overstory_core::Worktrees::create`] and,
//! when any later step fails, undoes it with
//! [`overstory_core::Worktrees::rollback`]; a tmux agent gets
//! [`Tmux::create_session`] (after [`Tmux::ensure_available`]) named by
//! [`tmux::session_name`], then [`Tmux::wait_for_tui_ready`] with the
//! runtime's `detect_ready` and [`Tmux::send_keys`] for the beacon —
//! or [`beacon::deliver_beacon`], which does that whole sequence.
//! [`stop_agent`] ends either kind.
//!
//! ```
//! use std::path::Path;
//! use overstory_core::{AgentName, TaskId, Worktrees, git::Git};
//! use overstory_fleet::tmux;
//!
//! let dir = tempfile::tempdir()?;
//! let git = Git::new(dir.path());
//! git.run(&["init", "-q", "-b", "main"])?;
//! git.run(&["-c", "user.email=a@b.c", "-c", "user.name=A", "commit", "-q", "--allow-empty", "-m", "init"])?;
//!
//! let worktrees = Worktrees::new(dir.path());
//! let agent = AgentName::new("builder-1")?;
//! let task = TaskId::new("task-1")?;
//! let created = worktrees.create(Path::new(".overstory/worktrees"), &agent, &task, "main")?;
//! assert_eq!(created.branch.as_str(), "overstory/builder-1/task-1");
//!
//! // A second sling of the same agent fails, naming path and branch ...
//! assert!(worktrees.create(Path::new(".overstory/worktrees"), &agent, &task, "main").is_err());
//! // ... and a rollback leaves nothing behind, so a retry works.
//! worktrees.rollback(&created.path, created.branch.as_str());
//! assert!(!created.path.exists());
//! worktrees.create(Path::new(".overstory/worktrees"), &agent, &task, "main")?;
//!
//! assert_eq!(tmux::session_name("my.app", "builder-1"), "overstory-my_app-builder-1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod beacon;
pub mod clean;
pub mod demo;
mod error;
pub mod groups;
pub mod nudge;
pub mod persistent;
pub mod prime;
pub mod profile;
pub mod root_hooks;
pub mod sling;
pub mod spec;
pub mod status_sources;
pub mod stop;
pub mod tmux;
pub mod worktrees;

pub use error::FleetError;
pub use nudge::{NudgeOptions, NudgeReport, nudge_agent};
pub use sling::{SlingReport, SlingRequest, SlingStep, sling};
pub use stop::{StopOptions, StopReport, stop_agent, take_sender_notes};
pub use tmux::{NewSession, SessionState, Tmux, TmuxError};
