//! Queries the turn runner asks of the mail store: which terminal mail an
//! agent has sent, attributed by row position rather than by time stamp.
//!
//! The original compared `created_at` strings against a snapshot time, which
//! misses mail sent in the same millisecond as the snapshot. A `rowid`
//! snapshot has no such blind spot: every row inserted after the snapshot has
//! a larger rowid (the table is never `VACUUM`ed with rowid reuse while a turn
//! runs, and deleted rows are only purged by explicit `ov mail purge`).

use overstory_core::DbError;
use rusqlite::params_from_iter;

use crate::error::MailError;
use crate::store::MailStore;

impl MailStore {
    /// Returns the largest rowid of any message, or 0 for an empty table.
    /// Taken before a turn as its baseline.
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn high_water_mark(&self) -> Result<i64, MailError> {
        self.connection()
            .query_row("SELECT COALESCE(MAX(rowid), 0) FROM messages", [], |r| {
                r.get(0)
            })
            .map_err(|e| {
                MailError::Db(DbError::query(
                    "read the mail high-water mark",
                    self.path(),
                    e,
                ))
            })
    }

    /// Returns whether `from` sent a message of one of `types` with a rowid
    /// above `after` (a [`high_water_mark`](Self::high_water_mark)).
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn has_sent_since(
        &self,
        from: &str,
        types: &[&str],
        after: i64,
    ) -> Result<bool, MailError> {
        if types.is_empty() {
            return Ok(false);
        }
        let marks = vec!["?"; types.len()].join(",");
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE from_agent = ? AND rowid > ? AND type IN ({marks}))"
        );
        let mut args: Vec<rusqlite::types::Value> = vec![from.to_owned().into(), after.into()];
        args.extend(
            types
                .iter()
                .map(|t| rusqlite::types::Value::from((*t).to_owned())),
        );
        self.connection()
            .query_row(&sql, params_from_iter(args), |r| r.get(0))
            .map_err(|e| MailError::Db(DbError::query("look for terminal mail", self.path(), e)))
    }

    /// Returns how many unread messages `agent` has.
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn unread_count(&self, agent: &str) -> Result<usize, MailError> {
        self.connection()
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE to_agent = ?1 AND read = 0",
                [agent],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(|e| MailError::Db(DbError::query("count unread messages", self.path(), e)))
    }

    /// Returns how many messages to `agent` are still unread, not counting
    /// those whose id is in `except` (mail a turn is delivering right now).
    /// A row whose id is not text always counts.
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn unread_count_except(&self, agent: &str, except: &[String]) -> Result<usize, MailError> {
        let query = |e| MailError::Db(DbError::query("list unread message ids", self.path(), e));
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached("SELECT id FROM messages WHERE to_agent = ?1 AND read = 0")
            .map_err(query)?;
        let mut rows = stmt.query([agent]).map_err(query)?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(query)? {
            let id = row.get_ref(0).map_err(query)?;
            if !id.as_str().is_ok_and(|id| except.iter().any(|e| e == id)) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Returns whether any message `from` sent of type `kind` is still unread
    /// by its recipient (work it dispatched that nobody has picked up).
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn has_unread_from(&self, from: &str, kind: &str) -> Result<bool, MailError> {
        self.connection()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE from_agent = ?1 AND type = ?2 AND read = 0)",
                [from, kind],
                |r| r.get(0),
            )
            .map_err(|e| MailError::Db(DbError::query("look for unread dispatches", self.path(), e)))
    }
}

#[cfg(test)]
mod tests {
    use crate::message::{MessageType, NewMessage};
    use crate::store::MailStore;

    fn msg(from: &str, to: &str, kind: MessageType) -> NewMessage {
        NewMessage {
            from: from.into(),
            to: to.into(),
            subject: "s".into(),
            body: "b".into(),
            kind,
            ..NewMessage::default()
        }
    }

    #[test]
    fn terminal_mail_is_attributed_by_rowid_not_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = MailStore::open(dir.path().join("mail.db")).unwrap();
        assert_eq!(store.high_water_mark().unwrap(), 0);
        store
            .insert(&msg("b1", "lead", MessageType::WorkerDone))
            .unwrap();
        let mark = store.high_water_mark().unwrap();
        assert!(mark > 0);
        let done = ["worker_done", "result"];
        assert!(
            !store.has_sent_since("b1", &done, mark).unwrap(),
            "older mail must not count"
        );
        store
            .insert(&msg("b1", "lead", MessageType::Status))
            .unwrap();
        assert!(
            !store.has_sent_since("b1", &done, mark).unwrap(),
            "wrong type"
        );
        store
            .insert(&msg("b2", "lead", MessageType::WorkerDone))
            .unwrap();
        assert!(
            !store.has_sent_since("b1", &done, mark).unwrap(),
            "wrong sender"
        );
        store
            .insert(&msg("b1", "lead", MessageType::Result))
            .unwrap();
        assert!(store.has_sent_since("b1", &done, mark).unwrap());
        assert!(!store.has_sent_since("b1", &[], mark).unwrap());
    }

    #[test]
    fn unread_counts_and_outstanding_dispatches() {
        let dir = tempfile::tempdir().unwrap();
        let store = MailStore::open(dir.path().join("mail.db")).unwrap();
        assert_eq!(store.unread_count("lead").unwrap(), 0);
        let m = store
            .insert(&msg("lead", "b1", MessageType::Dispatch))
            .unwrap();
        assert_eq!(store.unread_count("b1").unwrap(), 1);
        assert!(store.has_unread_from("lead", "dispatch").unwrap());
        store.mark_read(&m.id).unwrap();
        assert!(!store.has_unread_from("lead", "dispatch").unwrap());
        assert_eq!(store.unread_count("b1").unwrap(), 0);
    }

    #[test]
    fn unread_count_except_leaves_out_the_mail_being_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let store = MailStore::open(dir.path().join("mail.db")).unwrap();
        let a = store
            .insert(&msg("b1", "lead", MessageType::WorkerDone))
            .unwrap();
        let b = store
            .insert(&msg("b2", "lead", MessageType::WorkerDone))
            .unwrap();
        store
            .insert(&msg("b3", "other", MessageType::Status))
            .unwrap();
        assert_eq!(store.unread_count_except("lead", &[]).unwrap(), 2);
        assert_eq!(
            store
                .unread_count_except("lead", std::slice::from_ref(&a.id))
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .unread_count_except("lead", &[a.id.clone(), b.id.clone()])
                .unwrap(),
            0
        );
        store.mark_read(&b.id).unwrap();
        assert_eq!(store.unread_count_except("lead", &[]).unwrap(), 1);
        // A row another writer stored with a non-text id still counts.
        store
            .connection()
            .execute("UPDATE messages SET id = x'00ff' WHERE id = ?1", [&a.id])
            .unwrap();
        assert_eq!(store.unread_count_except("lead", &[a.id]).unwrap(), 1);
    }
}
