//! Errors of the fleet operations.

use overstory_core::{ConfigError, DbError, FsError, ProcessError, ValidationError, WorktreeError};
use overstory_mail::MailError;
use overstory_sessions::SessionError;

use super::tmux::TmuxError;

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
            Self::AgentNotFound { .. } | Self::AlreadyCompleted { .. } => "AGENT_ERROR",
            Self::Group { .. } => "GROUP_ERROR",
        }
    }

    /// Builds a validation error for `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(ValidationError::other(Some(field.to_owned()), message))
    }

    pub(crate) fn group(message: impl Into<String>, group_id: Option<&str>) -> Self {
        Self::Group {
            message: message.into(),
            group_id: group_id.map(str::to_owned),
        }
    }
}
