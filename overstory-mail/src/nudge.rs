//! Pending-nudge markers and the debounce state: the two side files of the
//! mail bus.
//!
//! - A marker (`.overstory/pending-nudges/<agent>.json`) tells an agent's
//!   next hook-driven check that an important message is waiting; it is
//!   printed as a banner and deleted. One per agent; the latest wins.
//! - The debounce state (`.overstory/mail-check-state.json`) maps agent names
//!   to the epoch milliseconds of their last debounced check.
//!
//! Paths come from [`Layout`] with validated [`AgentName`]s, so no name can
//! escape the directory. Markers are written to a temporary file and renamed
//! into place; the debounce file is read, decided and rewritten under an
//! exclusive OS lock, so parallel hooks never lose an update.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};

use overstory_core::json::to_tab_string;
use overstory_core::{AgentName, FsError, Layout};

use crate::error::MailError;
use crate::message::{MailMessage, MessageType, Priority};

/// Types that queue a nudge even at normal priority.
pub const AUTO_NUDGE_TYPES: [MessageType; 5] = [
    MessageType::WorkerDone,
    MessageType::MergeReady,
    MessageType::Error,
    MessageType::Escalation,
    MessageType::MergeFailed,
];

/// Returns whether a message of this type and priority queues a nudge:
/// `urgent` or `high` priority, or a type in [`AUTO_NUDGE_TYPES`].
pub fn should_auto_nudge(kind: MessageType, priority: Priority) -> bool {
    nudge_reason(kind, priority).is_some()
}

/// Returns whether the type is `dispatch` (the one type the original nudged
/// through tmux).
pub fn is_dispatch_nudge(kind: MessageType) -> bool {
    kind == MessageType::Dispatch
}

/// Returns the marker reason: the type name when the type is in
/// [`AUTO_NUDGE_TYPES`], else `"<priority> priority"` for urgent and high,
/// else `None` (no marker).
pub fn nudge_reason(kind: MessageType, priority: Priority) -> Option<String> {
    if AUTO_NUDGE_TYPES.contains(&kind) {
        Some(kind.as_str().to_owned())
    } else if matches!(priority, Priority::Urgent | Priority::High) {
        Some(format!("{priority} priority"))
    } else {
        None
    }
}

/// The contents of a pending-nudge marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NudgeMarker {
    /// The sender of the message that queued it.
    pub from: String,
    /// Why (`urgent priority`, `worker_done`, …).
    pub reason: String,
    /// The subject of the message that queued it.
    pub subject: String,
    /// The id of the message that queued it (`msg-…`).
    pub message_id: String,
    /// When that message was stored, in its `created_at` format.
    pub created_at: String,
}

impl NudgeMarker {
    /// Builds the marker for `msg` when it qualifies for one.
    pub fn for_message(msg: &MailMessage) -> Option<Self> {
        nudge_reason(msg.kind, msg.priority).map(|reason| Self {
            from: msg.from.clone(),
            reason,
            subject: msg.subject.clone(),
            message_id: msg.id.clone(),
            created_at: msg.created_at.clone(),
        })
    }

    /// Returns the marker as the JSON object written to disk.
    fn to_json(&self) -> serde_json::Value {
        // A struct of strings always converts.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Writes `marker` for `agent`, replacing any earlier one.
///
/// # Errors
/// [`MailError::Fs`] when the directory or file cannot be written.
pub fn write_marker(
    layout: &Layout,
    agent: &AgentName,
    marker: &NudgeMarker,
) -> Result<(), MailError> {
    overstory_core::fsio::write_atomic(
        &layout.pending_nudge(agent),
        to_tab_string(&marker.to_json()),
    )?;
    Ok(())
}

/// Reads and deletes `agent`'s marker. A corrupt marker is deleted and
/// ignored; a missing one is `None`.
///
/// # Errors
/// [`MailError::Fs`] when an existing marker cannot be read or removed.
pub fn take_marker(layout: &Layout, agent: &AgentName) -> Result<Option<NudgeMarker>, MailError> {
    let path = layout.pending_nudge(agent);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FsError::new("read", &path, e).into()),
    };
    match fs::remove_file(&path) {
        Ok(()) => {}
        // Another check consumed it first: it is theirs to show.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FsError::new("remove", &path, e).into()),
    }
    Ok(serde_json::from_str(&text).ok())
}

/// Decides whether a debounced check of `agent` may run now, and if so
/// records `now_ms` as its last check, all under one exclusive lock of the
/// state file. Returns `false` when the last recorded check is less than
/// `window_ms` ago. With `window_ms == 0` it always returns `true` (and still
/// records the time). A corrupt state file counts as empty and is rewritten.
///
/// # Errors
/// [`MailError::Fs`] when the state file cannot be opened, locked or written.
pub fn claim_debounce(
    path: &Path,
    agent: &AgentName,
    window_ms: u64,
    now_ms: i64,
) -> Result<bool, MailError> {
    let io = |action: &'static str| move |e| FsError::new(action, path, e);
    let mut file: File = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io("open"))?;
    file.lock().map_err(io("lock"))?;
    let mut text = String::new();
    // Unreadable (not UTF-8) counts as corrupt, like unparsable.
    let _ = file.read_to_string(&mut text);
    let mut state: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_default();
    if let Some(last) = state
        .get(agent.as_str())
        .and_then(serde_json::Value::as_i64)
    {
        let elapsed = now_ms.saturating_sub(last);
        if window_ms > 0 && elapsed >= 0 && elapsed.unsigned_abs() < window_ms {
            return Ok(false);
        }
    }
    state.insert(agent.as_str().to_owned(), now_ms.into());
    let out = to_tab_string(&serde_json::Value::Object(state.into_iter().collect()));
    file.seek(SeekFrom::Start(0)).map_err(io("write"))?;
    file.set_len(0).map_err(io("write"))?;
    file.write_all(out.as_bytes()).map_err(io("write"))?;
    // The lock is released when `file` is closed.
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_follow_the_original_rule() {
        use MessageType as T;
        use Priority as P;
        assert_eq!(
            nudge_reason(T::Status, P::Urgent).as_deref(),
            Some("urgent priority")
        );
        assert_eq!(
            nudge_reason(T::Question, P::High).as_deref(),
            Some("high priority")
        );
        assert_eq!(
            nudge_reason(T::WorkerDone, P::Normal).as_deref(),
            Some("worker_done")
        );
        assert_eq!(
            nudge_reason(T::WorkerDone, P::Urgent).as_deref(),
            Some("worker_done")
        );
        assert_eq!(nudge_reason(T::Status, P::Normal), None);
        assert!(!should_auto_nudge(T::Question, P::Low));
        assert!(should_auto_nudge(T::MergeReady, P::Normal));
        assert!(should_auto_nudge(T::Error, P::Normal));
        assert!(!should_auto_nudge(T::Result, P::Normal));
        assert!(is_dispatch_nudge(T::Dispatch));
        assert!(!is_dispatch_nudge(T::Assign));
        for t in [T::Status, T::Question, T::Result] {
            assert!(!AUTO_NUDGE_TYPES.contains(&t));
        }
    }
}
