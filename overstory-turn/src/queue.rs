//! An agent's queue of pending user turns (`agents/<name>/nudges/*.txt`):
//! the first prompt of a new agent and every nudge wait here until the next
//! turn carries them, before that turn's batch of mail.
//!
//! Each entry is its own file named by time, written atomically, so
//! concurrent writers never interleave and the order is the file order. The
//! dispatcher and the agent host remove an entry only once the turn that
//! carried it was delivered.

use std::path::PathBuf;

use overstory_core::{AgentName, FsError, Layout, clock, ids};
use overstory_mail::{MailMessage, framing};
use overstory_runtime::prompt::SECTION_SEPARATOR;

/// Queues `text` as a user turn for the agent's next dispatcher turn (a
/// nudge, or the first prompt of a new agent).
///
/// # Errors
/// [`FsError`] when the queue file cannot be written.
pub fn enqueue_turn(layout: &Layout, agent: &AgentName, text: &str) -> Result<PathBuf, FsError> {
    let dir = layout.agent_nudge_dir(agent);
    let name = format!(
        "{:013}-{}.txt",
        clock::now_millis().max(0),
        ids::random_alnum(6)
    );
    let path = dir.join(name);
    overstory_core::fsio::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Returns the agent's queued turns (path and text), oldest first.
pub fn queued_turns(layout: &Layout, agent: &AgentName) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(layout.agent_nudge_dir(agent)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)))
        .collect()
}

/// Queued turns first (oldest first), then the mail batch.
pub(crate) fn turn_text(queued: &[(PathBuf, String)], mail: &[MailMessage]) -> String {
    let mut parts: Vec<String> = queued.iter().map(|(_, t)| t.clone()).collect();
    if !mail.is_empty() {
        parts.push(framing::format_batch(mail));
    }
    parts.join(SECTION_SEPARATOR)
}
