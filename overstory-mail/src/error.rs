//! The mail bus's error type.
//!
//! [`MailError`] holds facts (ids, recipients, states, paths) as fields.
//! [`MailError::code`] returns the string the original prints in
//! `Error [<CODE>]: …`: `MAIL_ERROR` for store and delivery failures,
//! `VALIDATION_ERROR` for input that breaks a rule, and `GROUP_ERROR` for a
//! group address that cannot be resolved.

use std::path::PathBuf;

use overstory_core::{DbError, FsError, ValidationError};

use crate::decode::Undecodable;
use crate::message::MessageType;

/// Why a message could not be inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertFailure {
    /// A row with the same id already exists.
    DuplicateId,
    /// The database's CHECK constraint rejected the type or priority.
    ConstraintViolated,
    /// Any other SQLite failure.
    Other,
}

impl std::fmt::Display for InsertFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::DuplicateId => "a message with this id already exists",
            Self::ConstraintViolated => "the database rejected the type or priority",
            Self::Other => "the database refused the write",
        })
    }
}

/// Why a group address resolved to nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmptyGroupReason {
    /// `@all`, and every active agent is the sender (or there is none).
    SenderExcluded,
    /// A capability group with no active agent of that capability.
    NoActiveAgents {
        /// The capability, singular (`builder`).
        capability: String,
    },
}

/// A mail operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The database could not be opened, migrated or queried (this includes a
    /// locked or corrupt file; the inner error names the file).
    #[error(transparent)]
    Db(#[from] DbError),

    /// The directory that should hold the database does not exist.
    #[error("Mail database directory \"{}\" does not exist", dir.display())]
    MissingDirectory {
        /// The missing directory (normally `.overstory/`).
        dir: PathBuf,
    },

    /// A row could not be inserted: a duplicate id, a CHECK violation, or another SQLite failure.
    #[error("Failed to insert message: {id} ({reason})")]
    Insert {
        /// The id of the message that was being inserted.
        id: String,
        /// What SQLite objected to.
        reason: InsertFailure,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },

    /// [`MailStore::delete`](crate::MailStore::delete) could not delete a row.
    #[error("Failed to delete message: {id}")]
    Delete {
        /// The id of the message that was being deleted (`msg-…`).
        id: String,
        /// The database error that stopped the delete.
        #[source]
        source: Box<DbError>,
    },

    /// No message has this id.
    #[error("Message not found: {id}")]
    NotFound {
        /// The id that was looked up, as given (`msg-…`).
        id: String,
    },

    /// The recipient's session has ended, so nobody would ever read the mail
    /// (overstory-f5be). Nothing was stored.
    #[error(
        "Cannot send to \"{recipient}\": the agent is {state}, so the message was not sent because it could never be delivered"
    )]
    TerminalRecipient {
        /// The recipient's agent name as addressed.
        recipient: String,
        /// Its session state (`completed` or `zombie`).
        state: String,
    },

    /// A `@…` address that is not a known group.
    #[error(
        "Unknown group address: \"{address}\". Valid groups: {}",
        crate::group::valid_groups_list()
    )]
    UnknownGroup {
        /// The address as typed, with its `@` (`@bulders`).
        address: String,
    },

    /// A group address that matched nobody.
    #[error("Group address \"{address}\" resolved to zero recipients ({})", match reason {
        EmptyGroupReason::SenderExcluded => "sender excluded".to_owned(),
        EmptyGroupReason::NoActiveAgents { capability } => format!("no active {capability} agents"),
    })]
    EmptyGroup {
        /// The address as typed, with its `@` (`@builders`).
        address: String,
        /// Why nobody matched.
        reason: EmptyGroupReason,
    },

    /// A payload does not have the shape its message type requires.
    #[error("Invalid payload for a \"{kind}\" message: {reason}")]
    InvalidPayload {
        /// The message type the payload was checked against.
        kind: MessageType,
        /// What is wrong, as the JSON parser or the shape check reports it.
        reason: String,
    },

    /// A text field is longer than the bus accepts.
    #[error("Message {field} is {len} bytes; the limit is {max} bytes")]
    TooLarge {
        /// `subject`, `body` or `payload`.
        field: &'static str,
        /// The field's length, in bytes.
        len: usize,
        /// The largest length accepted for the field, in bytes.
        max: usize,
    },

    /// A stored row cannot be decoded (a BLOB where text belongs, a NULL
    /// id, an unknown type or priority); it names the row and what is wrong.
    #[error("{0}")]
    Undecodable(Undecodable),

    /// A name or other input broke a validation rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),

    /// A side file (nudge marker, debounce state) could not be read or written.
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl MailError {
    /// Returns the error code: `VALIDATION_ERROR` for bad input,
    /// `GROUP_ERROR` for unresolvable group addresses, otherwise `MAIL_ERROR`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidPayload { .. } | Self::TooLarge { .. } | Self::Invalid(_) => {
                "VALIDATION_ERROR"
            }
            Self::UnknownGroup { .. } | Self::EmptyGroup { .. } => "GROUP_ERROR",
            _ => "MAIL_ERROR",
        }
    }

    /// Returns whether the cause is another process holding the database locked.
    pub fn is_busy(&self) -> bool {
        match self {
            Self::Db(e) => e.is_busy(),
            Self::Delete { source, .. } => source.is_busy(),
            Self::Insert { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }
}
