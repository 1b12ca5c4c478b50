//! The project's agents as the mail bus sees them.
//!
//! `overstory-mail` knows nothing of `sessions.db` and `overstory-sessions`
//! nothing of `mail.db`; [`roster`] joins them, so group addresses
//! (`@all`, `@builders`) and terminal-recipient checks see the real fleet.

use overstory_core::{AgentName, DbError, Layout};
use overstory_mail::{Roster, RosterEntry};
use overstory_sessions::SessionStore;

/// Returns every readable session of the project as a mail [`Roster`], in
/// start order. A project without `sessions.db` has an empty roster.
///
/// # Errors
/// [`DbError`] when `sessions.db` exists but cannot be read.
pub fn roster(layout: &Layout) -> Result<Roster, DbError> {
    if !layout.sessions_db().is_file() {
        return Ok(Roster::default());
    }
    let store = SessionStore::open(&layout.sessions_db())?;
    // Mail must keep flowing when another program wrote a row our types
    // reject: such an agent is left out of the roster (a direct send to it
    // is still stored, with the "no session" warning).
    let (sessions, _unreadable) = store.all_readable()?;
    Ok(Roster::new(
        sessions
            .into_iter()
            .map(|s| RosterEntry {
                name: s.agent_name.into_string(),
                capability: s.capability.as_str().to_owned(),
                state: s.state.as_str().to_owned(),
                parent: s.parent_agent.map(AgentName::into_string),
            })
            .collect(),
    ))
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
