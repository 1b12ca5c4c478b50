//! The errors of the merge queue, the lock and the engine.
//!
//! An error is something that stopped the merge machinery itself (a locked
//! or corrupt database, a missing branch, git refusing to start). A merge
//! that was *tried* and did not land is not an error: it is a
//! [`crate::MergeReport`] with `success: false`.

use std::path::PathBuf;

use overstory_core::{DbError, FsError, GitError};

/// What went wrong in the merge machinery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// The queue database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A git command failed where no fallback exists.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A file under `.overstory/` could not be read or written.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// No queue entry exists for the branch or id.
    #[error("No queue entry found for branch: {branch}")]
    UnknownEntry {
        /// The branch (or `#<id>`) asked for.
        branch: String,
    },
    /// The branch to merge does not exist.
    #[error("Branch \"{branch}\" not found")]
    BranchNotFound {
        /// The branch asked for.
        branch: String,
    },
    /// The target branch does not exist.
    #[error("Target branch \"{target}\" not found")]
    TargetNotFound {
        /// The target asked for.
        target: String,
    },
    /// Another process holds the merge lock for the target and the caller
    /// asked not to wait.
    #[error("Another merge is already running for \"{target}\" ({holder}). Wait for it to finish")]
    Locked {
        /// The target branch.
        target: String,
        /// Who holds it, as its note says (`pid 42, acquired …`).
        holder: String,
        /// The lock file.
        path: PathBuf,
    },
    /// The entry is being merged by another process right now.
    #[error("Branch \"{branch}\" is being merged by another process")]
    Busy {
        /// The branch.
        branch: String,
    },
    /// A stored value could not be decoded.
    #[error("Merge queue entry {id} has an unknown {field} \"{value}\"")]
    Corrupt {
        /// The row id.
        id: i64,
        /// The column.
        field: &'static str,
        /// The value found.
        value: String,
    },
    /// Mail could not be read or sent.
    #[error(transparent)]
    Mail(#[from] overstory_mail::MailError),
}

impl MergeError {
    /// Returns the error code: `MERGE_ERROR`, or `VALIDATION_ERROR` for a
    /// missing branch.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BranchNotFound { .. } | Self::TargetNotFound { .. } => "VALIDATION_ERROR",
            Self::Db(e) => e.code(),
            Self::Mail(e) => e.code(),
            _ => "MERGE_ERROR",
        }
    }
}
