//! The agents known to the project, as the mail bus needs them: name,
//! capability, session state and parent, in session start order.
//!
//! The mail crate does not read `sessions.db`; commands build its
//! [`Roster`] here and pass it in.

use overstory_core::Layout;
use overstory_mail::{Roster, RosterEntry};
use overstory_sessions::SessionStore;

use crate::error::CliError;

/// Reads every session of the project. A missing `sessions.db` means no
/// agents yet: an empty roster (the file is not created).
pub fn roster(layout: &Layout) -> Result<Roster, CliError> {
    let path = layout.sessions_db();
    if !path.is_file() {
        return Ok(Roster::default());
    }
    let entries = SessionStore::open(&path)?
        .all()?
        .into_iter()
        .map(|s| RosterEntry {
            name: s.agent_name,
            capability: s.capability,
            state: s.state.as_str().to_owned(),
            parent: s.parent_agent,
        })
        .collect();
    Ok(Roster::new(entries))
}
