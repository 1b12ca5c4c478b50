//! Turning stored rows into messages, one row at a time.
//!
//! Another program can write anything into `mail.db`: a BLOB body, a NULL
//! id (a `TEXT PRIMARY KEY` accepts one), text that is not UTF-8, or a type
//! outside the CHECK list (with `PRAGMA ignore_check_constraints`). Such a
//! row must never take the good rows down with it. Each row is decoded on
//! its own: a good row becomes a [`MailMessage`], a bad one an
//! [`Undecodable`] that names the row and every column that is wrong, and
//! the caller gets both in a [`MailBatch`].

use std::fmt;

use rusqlite::Row;
use rusqlite::types::ValueRef;
use serde::Serialize;

use crate::message::{MailMessage, MessageType, Priority};

/// A stored row this version cannot turn into a [`MailMessage`].
///
/// Claims leave such a row unread; [`MailStore::mark_read`] (by id) or a
/// purge takes it out of the inbox.
///
/// [`MailStore::mark_read`]: crate::MailStore::mark_read
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Undecodable {
    /// The row's insertion sequence (its `rowid`).
    pub seq: i64,
    /// The row's `id`, when that column holds text (`None` for a NULL or
    /// BLOB id).
    pub id: Option<String>,
    /// What is wrong, one clause per bad column (`body holds a BLOB of 2
    /// bytes, not text`).
    pub problem: String,
}

impl Undecodable {
    /// Returns how to name the row to a person: its id, or `rowid N` when
    /// the id itself is unreadable.
    pub fn label(&self) -> String {
        match &self.id {
            Some(id) => id.clone(),
            None => format!("rowid {}", self.seq),
        }
    }
}

impl fmt::Display for Undecodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "message {} cannot be read: {}",
            self.label(),
            self.problem
        )
    }
}

/// Messages read from the store, and the rows among them that could not be
/// decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailBatch {
    /// The decoded messages, in the query's order.
    pub messages: Vec<MailMessage>,
    /// The rows that could not be decoded, in the query's order.
    pub undecodable: Vec<Undecodable>,
}

impl MailBatch {
    /// Returns whether the batch holds neither messages nor bad rows.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.undecodable.is_empty()
    }

    /// Returns the ids of the decoded messages.
    pub fn ids(&self) -> Vec<String> {
        self.messages.iter().map(|m| m.id.clone()).collect()
    }

    /// Logs each undecodable row as a warning (for callers that only want
    /// the messages) and returns the messages.
    pub(crate) fn into_messages_logged(self, action: &str) -> Vec<MailMessage> {
        for u in &self.undecodable {
            tracing::warn!(seq = u.seq, id = ?u.id, problem = %u.problem, "{action}: skipped a mail row that cannot be read");
        }
        self.messages
    }
}

/// One decoded row: its sequence (`rowid`), then the message or what is
/// wrong with it.
pub(crate) type Decoded = (i64, Result<MailMessage, Undecodable>);

/// The columns every query selects, in this order, after `rowid`.
pub(crate) const SELECT: &str = "SELECT rowid, id, from_agent, to_agent, subject, body, type, \
                                 priority, thread_id, payload, read, created_at FROM messages";

/// Decodes one row of [`SELECT`]: its sequence, then the message or what is
/// wrong with it. Fails only when SQLite itself fails.
pub(crate) fn decode_row(r: &Row<'_>) -> rusqlite::Result<Decoded> {
    let seq: i64 = r.get(0)?;
    let mut problems = Vec::new();
    let mut column = |idx: usize, name: &str, nullable: bool| -> rusqlite::Result<Option<String>> {
        Ok(
            describe_text(r.get_ref(idx)?, name, nullable).unwrap_or_else(|p| {
                problems.push(p);
                None
            }),
        )
    };
    let id = column(1, "id", false)?;
    let from = column(2, "from_agent", false)?;
    let to = column(3, "to_agent", false)?;
    let subject = column(4, "subject", false)?;
    let body = column(5, "body", false)?;
    let kind = column(6, "type", false)?;
    let priority = column(7, "priority", false)?;
    let thread_id = column(8, "thread_id", true)?;
    let payload = column(9, "payload", true)?;
    let created_at = column(11, "created_at", false)?;
    let read = match r.get_ref(10)? {
        ValueRef::Integer(n) => n == 1,
        other => {
            problems.push(format!("read holds {}, not 0 or 1", kind_of(other)));
            false
        }
    };
    let kind = kind.and_then(|k| {
        k.parse::<MessageType>()
            .map_err(|_| problems.push(format!("type \"{k}\" is not a known message type")))
            .ok()
    });
    let priority = priority.and_then(|p| {
        p.parse::<Priority>()
            .map_err(|_| problems.push(format!("priority \"{p}\" is not a known priority")))
            .ok()
    });
    let decoded = match (
        id.clone(),
        from,
        to,
        subject,
        body,
        kind,
        priority,
        created_at,
    ) {
        (
            Some(id),
            Some(from),
            Some(to),
            Some(subject),
            Some(body),
            Some(kind),
            Some(priority),
            Some(created_at),
        ) if problems.is_empty() => Ok(MailMessage {
            id,
            from,
            to,
            subject,
            body,
            kind,
            priority,
            thread_id,
            payload,
            read,
            created_at,
        }),
        _ => Err(Undecodable {
            seq,
            id,
            problem: problems.join("; "),
        }),
    };
    Ok((seq, decoded))
}

/// Reads a text column: `Ok(Some)` for UTF-8 text, `Ok(None)` for NULL
/// when `nullable`, otherwise the problem, naming the column.
fn describe_text(v: ValueRef<'_>, column: &str, nullable: bool) -> Result<Option<String>, String> {
    match v {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| format!("{column} holds text that is not valid UTF-8")),
        ValueRef::Null if nullable => Ok(None),
        other => Err(format!("{column} holds {}, not text", kind_of(other))),
    }
}

fn kind_of(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(n) => format!("the integer {n}"),
        ValueRef::Real(x) => format!("the number {x}"),
        ValueRef::Text(t) => format!("the text \"{}\"", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!("a BLOB of {} bytes", b.len()),
    }
}
