//! The agents known to the project, as the mail bus needs them: name,
//! capability, session state and parent, in session start order.
//!
//! The mail crate does not read `sessions.db`; commands build its
//! [`Roster`] here and pass it in.
// TODO(sessions): switch to overstory_sessions::SessionStore

use overstory_core::{DbError, Layout, db};
use overstory_mail::{Roster, RosterEntry};

use crate::error::CliError;

/// Reads every session of the project. A missing `sessions.db` or a missing
/// `sessions` table means no agents yet: an empty roster.
pub fn roster(layout: &Layout) -> Result<Roster, CliError> {
    let path = layout.sessions_db();
    if !path.is_file() {
        return Ok(Roster::default());
    }
    let conn = db::open_existing(&path)?;
    let has_table = db::has_table(&conn, "sessions")
        .map_err(|e| DbError::query("read the schema", &path, e))?;
    if !has_table {
        return Ok(Roster::default());
    }
    let mut stmt = conn
        .prepare(
            "SELECT agent_name, capability, state, parent_agent FROM sessions ORDER BY started_at ASC",
        )
        .map_err(|e| DbError::query("read sessions", &path, e))?;
    let entries = stmt
        .query_map([], |r| {
            Ok(RosterEntry {
                name: r.get(0)?,
                capability: r.get(1)?,
                state: r.get(2)?,
                parent: r.get(3)?,
            })
        })
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(|e| DbError::query("read sessions", &path, e))?;
    Ok(Roster::new(entries))
}
