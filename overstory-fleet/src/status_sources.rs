//! What `ov status` reads beside `sessions.db`: unread mail and the last
//! mail of each agent from `mail.db`, and the merge queue's pending count.
//!
//! Read-only: nothing here ever creates a database.

use std::path::PathBuf;

use overstory_core::Layout;
use overstory_mail::{ListFilter, MailStore};
use overstory_sessions::status::StatusSources;

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

    // The merge queue has no store of its own yet; this is the
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
