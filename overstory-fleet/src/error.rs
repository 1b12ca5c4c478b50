//! Errors of the fleet operations.

use overstory_core::{ConfigError, DbError, FsError, ProcessError, ValidationError, WorktreeError};
use overstory_mail::MailError;
use overstory_sessions::SessionError;

use crate::tmux::TmuxError;

/// A fleet operation (stop, clean, worktrees, groups, specs, hooks) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// A name or argument is invalid.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The sessions store failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The mail store failed.
    #[error(transparent)]
    Mail(#[from] MailError),
    /// A worktree operation failed.
    #[error(transparent)]
    Worktree(#[from] WorktreeError),
    /// A tmux operation failed.
    #[error(transparent)]
    Tmux(#[from] TmuxError),
    /// Signalling a process failed.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// A file operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No session row has this agent name.
    #[error("Agent \"{agent}\" not found")]
    AgentNotFound {
        /// The name asked for.
        agent: String,
    },
    /// The agent is already completed and there is nothing to clean.
    #[error("Agent \"{agent}\" is already completed. Use --clean-worktree to remove its worktree")]
    AlreadyCompleted {
        /// The agent.
        agent: String,
    },
    /// The runtime could not be chosen, built or deployed.
    #[error(transparent)]
    Runtime(#[from] overstory_runtime::error::RuntimeError),
    /// Starting the agent's first turn failed.
    #[error(transparent)]
    Dispatch(#[from] overstory_turn::dispatch::DispatchError),
    /// An agent operation was refused (limits, names, root, nudge failures).
    #[error("{message}")]
    Agent {
        /// What is wrong and what to do.
        message: String,
    },
    /// A capability may not be spawned without a parent.
    #[error(
        "Capability \"{capability}\" cannot be spawned without a parent: only lead, scout and builder may be slung directly. Pass --parent <agent>, or --force-hierarchy to bypass"
    )]
    Hierarchy {
        /// The capability asked for.
        capability: String,
    },
    /// A test hook stopped sling after a step (see `SlingRequest::fail_after`).
    #[error("Injected failure after sling step \"{step}\"")]
    Injected {
        /// The step after which sling failed.
        step: String,
    },
    /// A group operation was refused.
    #[error("{message}")]
    Group {
        /// What is wrong.
        message: String,
        /// The group, when known.
        group_id: Option<String>,
    },
}

impl FleetError {
    /// Returns the spec's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(e) => e.code(),
            Self::Db(e) => e.code(),
            Self::Session(e) => e.code(),
            Self::Mail(e) => e.code(),
            Self::Worktree(e) => e.code(),
            Self::Tmux(e) => e.code(),
            Self::Process(e) => e.code(),
            Self::Fs(e) => e.code(),
            Self::Config(e) => e.code(),
            Self::Runtime(e) => e.code(),
            Self::Dispatch(e) => e.code(),
            Self::AgentNotFound { .. }
            | Self::AlreadyCompleted { .. }
            | Self::Agent { .. }
            | Self::Injected { .. } => "AGENT_ERROR",
            Self::Hierarchy { .. } => "HIERARCHY_VIOLATION",
            Self::Group { .. } => "GROUP_ERROR",
        }
    }

    /// Builds a validation error for `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(ValidationError::other(Some(field.to_owned()), message))
    }

    pub(crate) fn agent(message: impl Into<String>) -> Self {
        Self::Agent {
            message: message.into(),
        }
    }

    pub(crate) fn group(message: impl Into<String>, group_id: Option<&str>) -> Self {
        Self::Group {
            message: message.into(),
            group_id: group_id.map(str::to_owned),
        }
    }
}
