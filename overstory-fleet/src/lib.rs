//! What happens to agents around their turns: spawning them into their
//! own worktrees (sling), stopping and cleaning up, tmux sessions, groups,
//! the persistent coordinator, nudges and the offline demo.
//!
//! ```
//! use overstory_core::init::{InitOptions, init};
//! use overstory_core::{AgentName, Config, Layout, TaskId, git::Git};
//! use overstory_fleet::{SlingRequest, StopOptions, sling, stop_agent};
//!
//! // A git repository with one commit, and overstory initialised in it.
//! let dir = tempfile::tempdir()?;
//! let root = dir.path().canonicalize()?;
//! let git = Git::new(&root);
//! git.run(&["init", "-q", "-b", "main"])?;
//! git.run(&["-c", "user.email=a@b.c", "-c", "user.name=A", "commit", "-q", "--allow-empty", "-m", "init"])?;
//! init(&root, &InitOptions::default())?;
//! let layout = Layout::new(&root);
//! let config = Config::load(&root)?.config;
//!
//! // Sling a scripted builder: its own worktree and branch, its session
//! // row, its instructions and guard hooks. The first turn would run in a
//! // detached `ov dispatch`; `/bin/true` stands in for `ov` here.
//! let task = TaskId::new("task-1")?;
//! let mut req = SlingRequest::new(layout.clone(), config.clone(), task, "/bin/true".into());
//! req.name = Some(AgentName::new("builder-1")?);
//! req.runtime = Some("scripted".into());
//! let report = sling(&req)?;
//! assert_eq!(report.branch, "overstory/builder-1/task-1");
//! assert!(std::path::Path::new(&report.worktree).is_dir());
//!
//! // Stop it and remove its worktree: it holds no commits, only the
//! // (uncommitted) instructions sling deployed, hence `force`.
//! let mut opts = StopOptions::default();
//! opts.clean_worktree = true;
//! opts.force = true;
//! stop_agent(&layout, &config, "builder-1", &opts)?;
//! assert!(!std::path::Path::new(&report.worktree).exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The model
//!
//! - [`sling`](mod@sling): admission (depth, concurrency and per-parent
//!   limits checked atomically), set-up (worktree, overlay, Claude
//!   settings, session row) and start — headless by default (the first turn
//!   is queued and a dispatcher woken, see `overstory_turn`), or in tmux.
//!   A failure at any step removes everything that sling made.
//! - [`stop`]: ends an agent by its mode (its process group for headless
//!   agents, its tmux session otherwise); [`clean`] and [`worktrees`] clear
//!   what agents leave, never deleting commits that are not merged unless
//!   forced.
//! - [`persistent`]: the coordinator and orchestrator (`start`, `stop`,
//!   `status`, `send`, `ask`, `output`, `check_complete`), headless under an
//!   agent host by default, tmux opt-in.
//! - [`nudge`](mod@nudge): debounced; headless agents get a queued turn,
//!   tmux agents typed text (never into a busy pane).
//! - [`tmux`] and [`beacon`]: the tmux manager (dedicated server, quoted
//!   startup scripts, exact targets) and the first message to a pane.
//! - [`groups`], [`spec`], [`prime`], [`root_hooks`], [`profile`]: task
//!   groups, spec files, the context an agent primes itself with, the
//!   project root's hooks, and an agent's profile and checkpoints.
//! - [`watchdog`] and [`reconcile`]: the Tier 0 watchdog (health rules,
//!   one tick, escalation, the daemon) and the one reconciler that heals
//!   whatever a kill -9 left (also used by `ov doctor --fix`).
//! - [`status_sources`]: what `ov status` reads beside the sessions;
//!   [`dashboard`]: what `ov dashboard` shows, as one snapshot per refresh.
//! - [`demo`]: `ov demo` as a function — a coordinator, a lead and two
//!   builders playing scripts in a scratch repository.
//!
//! Worktrees themselves live in [`overstory_core::worktree`] (they need only
//! git).
//!
//! # Caveats
//!
//! - Everything here is synchronous and may be called from inside a tokio
//!   runtime; nothing starts a runtime of its own.
//! - Agents are real processes: sling starts `ov dispatch` (or a tmux
//!   session) through the `ov` path it is given; stop them with
//!   [`stop_agent`] or [`clean::clean`] before deleting a project.
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
pub mod dashboard;
mod dead_host;
pub mod demo;
pub mod doctor;
mod error;
pub mod groups;
pub mod inspect;
pub mod nudge;
pub mod persistent;
pub mod prime;
pub mod profile;
pub mod reconcile;
pub mod root_hooks;
mod settle;
pub mod sling;
pub mod spec;
pub mod status_sources;
pub mod stop;
pub mod tmux;
pub mod watchdog;
pub mod worktrees;

pub use error::{FleetError, GroupError};
pub use nudge::{NudgeOptions, NudgeReport, nudge_agent};
pub use reconcile::{ReconcileOptions, ReconcileReport, reconcile};
pub use sling::{SlingReport, SlingRequest, SlingStep, sling};
pub use stop::{StopOptions, StopReport, stop_agent, take_sender_notes};
pub use tmux::{NewSession, SessionState, Tmux, TmuxError};
