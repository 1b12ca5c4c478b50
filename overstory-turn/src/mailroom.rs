//! Where the mail bus meets the sessions: who the agents are, and waking the
//! recipients of new mail.
//!
//! `overstory-mail` knows nothing of `sessions.db` and `overstory-sessions`
//! nothing of `mail.db`; this module joins them: it builds the mail
//! [`Roster`] from the [`SessionStore`], makes sure every headless recipient
//! of new mail gets a turn ([`wake_recipients`]), and gives `ov status` its
//! mail and merge-queue counts ([`ProjectSources`]).

use std::path::{Path, PathBuf};

use overstory_core::config::Config;
use overstory_core::{AgentName, DbError, Layout};
use overstory_mail::{ListFilter, MailStore, Roster, RosterEntry};
use overstory_sessions::SessionStore;
use overstory_sessions::status::StatusSources;
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

/// Returns the recipients that may need waking: those with a session that is
/// not finished and not in tmux (task-scoped agents get a dispatcher,
/// persistent ones a poke of their host). A cheap check (one read of
/// `sessions.db`, no config or manifest) so a send to anyone else pays
/// nothing for dispatch.
pub fn headless_recipients(layout: &Layout, recipients: &[String]) -> Vec<String> {
    if recipients.is_empty() || !layout.sessions_db().is_file() {
        return Vec::new();
    }
    let Ok(store) = SessionStore::open(&layout.sessions_db()) else {
        return Vec::new();
    };
    recipients
        .iter()
        .filter(|r| {
            store.get(r).ok().flatten().is_some_and(|s| {
                s.capability.parse::<overstory_core::Capability>().is_ok()
                    && !s.state.is_terminal()
                    && s.tmux_session.is_empty()
            })
        })
        .cloned()
        .collect()
}

/// Wakes each recipient that takes turns headless, so its new mail is
/// delivered without any server running. Failures never undo the send: they
/// come back as [`WakeOutcome::Failed`] with the reason. Pass the recipients through
/// [`headless_recipients`] first to skip loading the config for nobody.
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
                wake(&factory, &launcher, &agent).unwrap_or_else(|e| WakeOutcome::Failed {
                    reason: error_chain(&e),
                });
            Wakeup {
                agent: agent.into_string(),
                outcome,
            }
        })
        .collect()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The [`StatusSources`] of a project: mail counts through overstory-mail,
/// the merge queue's pending count read from `merge-queue.db`. Read-only: it
/// never creates a database.
#[derive(Debug, Clone)]
pub struct ProjectSources {
    mail_db: PathBuf,
    merge_db: PathBuf,
}

impl ProjectSources {
    /// Reads the project's stores.
    pub fn new(layout: &Layout) -> Self {
        Self {
            mail_db: layout.mail_db(),
            merge_db: layout.merge_queue_db(),
        }
    }

    fn mail(&self) -> Option<MailStore> {
        // Never create mail.db from a read command.
        self.mail_db
            .is_file()
            .then(|| MailStore::open(&self.mail_db).ok())
            .flatten()
    }

    fn newest(&self, filter: ListFilter) -> Option<String> {
        let filter = ListFilter {
            limit: Some(1),
            ..filter
        };
        let msgs = self.mail()?.list(&filter).ok()?;
        msgs.into_iter().map(|m| m.created_at).max()
    }
}

impl StatusSources for ProjectSources {
    fn unread_mail(&self, agent: &str) -> u64 {
        let filter = ListFilter {
            to: Some(agent.to_owned()),
            unread: Some(true),
            ..ListFilter::default()
        };
        self.mail()
            .and_then(|m| m.count(&filter).ok())
            .map_or(0, |n| u64::try_from(n).unwrap_or(0))
    }

    // The merge queue has no store of its own yet (chapter 07); this is the
    // one place that reads its table.
    fn merge_queue_pending(&self) -> u64 {
        if !self.merge_db.is_file() {
            return 0;
        }
        let Ok(conn) = overstory_core::db::open_existing(&self.merge_db) else {
            return 0;
        };
        conn.query_row(
            "SELECT COUNT(*) FROM merge_queue WHERE status = 'pending'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
    }

    fn last_mail(&self, agent: &str) -> (Option<String>, Option<String>) {
        (
            self.newest(ListFilter {
                from: Some(agent.to_owned()),
                ..ListFilter::default()
            }),
            self.newest(ListFilter {
                to: Some(agent.to_owned()),
                ..ListFilter::default()
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use overstory_mail::RosterEntry;
    use overstory_sessions::AgentState;

    /// overstory-mail reads states as strings (it must not depend on
    /// overstory-sessions); this pins its reading to the state machine's.
    #[test]
    fn mail_roster_classifies_states_as_the_state_machine_does() {
        for state in AgentState::ALL {
            let entry = RosterEntry::new("a", "builder", state.as_str());
            assert_eq!(entry.is_terminal(), state.is_terminal(), "{state}");
            assert_eq!(entry.is_active(), state.is_active(), "{state}");
        }
    }
}
