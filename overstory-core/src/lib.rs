//! The shared vocabulary and plumbing of overstory.
//!
//! Every other overstory crate builds on the types here, so that each fact
//! lives in one place:
//!
//! - **Names** ([`AgentName`], [`TaskId`], [`BranchName`]) are validated once,
//!   at the edge; a valid name can never escape the directory it is joined to
//!   or be mistaken for a command-line option.
//! - **Capabilities** ([`Capability`]) carry one table of properties
//!   ([`Capability::props`]): read-only, can spawn, persistent or task-scoped,
//!   terminal mail types, default model.
//! - **Layout** ([`Layout`]) is the only builder of paths under `.overstory/`.
//! - **Config** ([`Config`]) holds `config.yaml` with the original's keys and
//!   defaults; [`Config::load`] merges `config.yaml` and `config.local.yaml`
//!   over them and names the key, file and line of any bad value.
//! - **init** ([`init::init`]) writes the `.overstory/` scaffold that `ov init`
//!   creates.
//! - **db** opens SQLite the same way everywhere (WAL, `synchronous=NORMAL`,
//!   a busy timeout, idempotent migrations recorded in `user_version`).
//! - **events** ([`events::EventStore`]) is `events.db`, the timeline every
//!   part writes: typed events and levels, the tool-argument filter, queries
//!   by agent, run and time, batched inserts and retention
//!   ([`events::EventStore::purge`], `ov log prune --older-than 7d`).
//! - **worktree** ([`Worktrees`]) creates, lists and removes agent
//!   worktrees, and never deletes unmerged work unless forced.
//! - **process** is the only place a child process is built; every child leads
//!   its own process group so it can be stopped with all its descendants.
//! - **clock** and **ids** produce the original's time stamps
//!   (`2026-03-05T14:52:26.089Z`) and identifiers (`msg-…`, `run-…`).
//!
//! # Example
//!
//! ```
//! use overstory_core::{AgentName, Capability, Layout, TaskId};
//!
//! let layout = Layout::new("/work/project");
//! let agent = AgentName::new("builder-1")?;
//! let task = TaskId::new("overstory-2f10")?;
//! assert_eq!(
//!     layout.agent_worktree(&agent),
//!     std::path::Path::new("/work/project/.overstory/worktrees/builder-1"),
//! );
//! assert_eq!(layout.task_spec(&task).file_name().unwrap(), "overstory-2f10.md");
//!
//! // Bad names are refused before any path is built.
//! assert!(AgentName::new("../../etc").is_err());
//!
//! // Capability properties come from one table.
//! assert_eq!(Capability::Merger.terminal_mail_types(), ["merged", "merge_failed"]);
//! assert!(Capability::Coordinator.is_persistent());
//! # Ok::<(), overstory_core::ValidationError>(())
//! ```
//!
//! # Caveats
//!
//! - [`process::command`] puts the child in a new process group. Dropping a
//!   `Child` does not kill it: signal its group and `wait` on it.
//! - Time stamps are compared as strings in SQL; always produce them with
//!   [`clock`] so they share one format.
#![deny(missing_docs)]

pub mod capability;
pub mod clock;
pub mod config;
pub mod db;
pub mod doctor;
pub mod env;
pub mod error;
pub mod events;
pub mod fsio;
pub mod git;
pub mod ids;
pub mod init;
pub mod json;
pub mod layout;
pub mod lockfile;
pub mod names;
pub mod process;
pub mod project;
pub mod push_block;
pub mod worktree;
pub mod yaml;

pub use capability::{Capability, CapabilityProps, GuardClass, Lifecycle};
pub use config::{Config, ConfigWarning, LoadedConfig};
pub use error::{ConfigError, DbError, FsError, GitError, ProcessError, ValidationError};
pub use layout::Layout;
pub use names::{AgentName, BranchName, TaskId};
pub use worktree::{WorktreeError, Worktrees};
pub use yaml::YamlError;

/// The version string reported by `ov --version`, kept equal to the
/// original's so both can share a project.
pub const VERSION: &str = "0.10.3";
