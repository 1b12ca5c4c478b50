//! Where the mail bus meets the sessions: who the agents are, and waking the
//! recipients of new mail.
//!
//! `overstory-mail` knows nothing of `sessions.db`; this module builds its
//! [`Roster`] from the [`SessionStore`] and, after a send, makes sure every
//! headless recipient gets a turn ([`wake_recipients`]).

use std::path::Path;

use overstory_core::config::Config;
use overstory_core::{AgentName, DbError, Layout};
use overstory_mail::{Roster, RosterEntry};
use overstory_sessions::SessionStore;
use serde::Serialize;

use crate::dispatch::{Launcher, TurnFactory, WakeOutcome, wake};

/// Returns every session of the project as a mail [`Roster`], in start
/// order. A project without `sessions.db` has an empty roster.
///
/// # Errors
/// [`DbError`] when `sessions.db` exists but cannot be read.
pub fn roster(layout: &Layout) -> Result<Roster, DbError> {
    if !layout.sessions_db().is_file() {
        return Ok(Roster::default());
    }
    let store = SessionStore::open(&layout.sessions_db())?;
    let mut sessions = store.all()?;
    sessions.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    Ok(Roster::new(
        sessions
            .into_iter()
            .map(|s| RosterEntry {
                name: s.agent_name,
                capability: s.capability,
                state: s.state.as_str().to_owned(),
                parent: s.parent_agent,
            })
            .collect(),
    ))
}

/// What waking one recipient did.
#[derive(Debug, Clone, Serialize)]
pub struct Wakeup {
    /// The recipient.
    pub agent: String,
    /// What happened, or why waking failed (the mail is stored either way).
    #[serde(flatten)]
    pub outcome: WakeOutcome,
}

/// Wakes each recipient that takes turns headless, so its new mail is
/// delivered without any server running. Failures never undo the send: they
/// come back as `NotEligible` with the reason.
pub fn wake_recipients(
    layout: &Layout,
    config: &Config,
    ov: &Path,
    recipients: &[String],
) -> Vec<Wakeup> {
    let factory = TurnFactory::new(layout.clone(), config.clone(), Some(ov.to_owned()));
    let launcher = Launcher { ov: ov.to_owned() };
    recipients
        .iter()
        .filter_map(|r| AgentName::new(r).ok())
        .map(|agent| {
            let outcome =
                wake(&factory, &launcher, &agent).unwrap_or_else(|e| WakeOutcome::NotEligible {
                    reason: format!("wake failed: {e}"),
                });
            Wakeup {
                agent: agent.into_string(),
                outcome,
            }
        })
        .collect()
}
