//! Errors of the sessions crate.

use std::path::PathBuf;

use overstory_core::{DbError, ValidationError};

/// A session, run or metrics operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A database could not be opened, migrated or queried.
    #[error(transparent)]
    Db(#[from] DbError),
    /// An input broke a validation rule (an agent name, a task id, …).
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A file next to the databases could not be read or written.
    #[error("Failed to {action} \"{}\"", path.display())]
    Io {
        /// What was being done (`read the current run file`).
        action: &'static str,
        /// The file next to the databases (`.overstory/current-run.txt`).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No session row has this agent name.
    #[error("Agent not found: {agent}")]
    AgentNotFound {
        /// The agent name that was looked up.
        agent: String,
    },
    /// No run row has this id.
    #[error("Run {id} not found")]
    RunNotFound {
        /// The run id that was looked up (`run-2026-03-05T14-52-26-089Z`).
        id: String,
    },
    /// `current-run.txt` names no run.
    #[error("No active run to complete")]
    NoActiveRun,
}

impl SessionError {
    /// Returns the error code the original uses for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Db(e) => e.code(),
            Self::Validation(e) => e.code(),
            Self::AgentNotFound { .. } => "AGENT_ERROR",
            Self::Io { .. } | Self::RunNotFound { .. } | Self::NoActiveRun => "LIFECYCLE_ERROR",
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
