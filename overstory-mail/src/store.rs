//! `MailStore`: the `messages` table in `.overstory/mail.db`.
//!
//! The table, its column order, its CHECK lists and its two original indexes
//! are exactly the TypeScript original's, so either program can read and
//! write a database the other created. Opening applies the original's
//! DDL-sniffing migration (adding `payload` to an older table, or rebuilding
//! a table whose type list is out of date) under `BEGIN IMMEDIATE`, recorded
//! in `PRAGMA user_version`, and re-checks the DDL on every open in case an
//! older program rebuilt the table since.
//!
//! Invariants:
//! - `created_at` is always written by the application as
//!   `YYYY-MM-DDTHH:MM:SS.sssZ`; ordering is by `created_at`, then by
//!   insertion order (`rowid`), so ties within a millisecond are stable.
//! - Every row is decoded on its own ([`crate::decode`]): a row another
//!   program wrote badly (a BLOB body, a NULL id, an unknown type) is
//!   reported as [`Undecodable`] and never hides or loses the good rows.
//! - Claiming unread mail ([`MailStore::claim_unread`]) decodes first, then
//!   marks each good row read with `UPDATE … WHERE rowid = ? AND read = 0`
//!   in one `BEGIN IMMEDIATE` transaction: two concurrent claims never
//!   return the same row, and a bad row stays unread. An empty inbox takes
//!   no write lock.

use std::path::{Path, PathBuf};

use rusqlite::{
    Connection, OptionalExtension as _, Transaction, TransactionBehavior, params_from_iter,
};

use overstory_core::db::{self, Migration};
use overstory_core::{DbError, clock, ids};

use crate::decode::{Decoded, MailBatch, SELECT, decode_row};
use crate::error::{InsertFailure, MailError};
use crate::message::{MailMessage, MessageType, NewMessage, Priority};

mod page;
pub use page::{MailPage, PageKey};

/// The columns in the original's order.
pub const COLUMNS: [&str; 11] = [
    "id",
    "from_agent",
    "to_agent",
    "subject",
    "body",
    "type",
    "priority",
    "thread_id",
    "payload",
    "read",
    "created_at",
];

/// Returns the original's `CREATE TABLE` statement for `messages`, with the
/// type list generated from [`MessageType::ALL`] (the original's migration
/// detection reads these literal names back out of `sqlite_master`).
pub fn create_table_sql() -> String {
    let types = quoted(MessageType::ALL.iter().map(|t| t.as_str()));
    let prios = quoted(Priority::ALL.iter().map(|p| p.as_str()));
    format!(
        "CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY,
  from_agent TEXT NOT NULL,
  to_agent TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  type TEXT NOT NULL DEFAULT 'status' CHECK(type IN ({types})),
  priority TEXT NOT NULL DEFAULT 'normal' CHECK(priority IN ({prios})),
  thread_id TEXT,
  payload TEXT,
  read INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
)"
    )
}

/// The original's two indexes, then ours, so that inbox reads need no sort
/// and sender/type queries and age cutoffs need no scan.
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS idx_inbox ON messages(to_agent, read);
CREATE INDEX IF NOT EXISTS idx_thread ON messages(thread_id);
CREATE INDEX IF NOT EXISTS idx_inbox_time ON messages(to_agent, read, created_at);
CREATE INDEX IF NOT EXISTS idx_from_type_time ON messages(from_agent, type, created_at);
CREATE INDEX IF NOT EXISTS idx_created_at ON messages(created_at);
CREATE INDEX IF NOT EXISTS idx_time_id ON messages(created_at, id);
CREATE INDEX IF NOT EXISTS idx_to_time_id ON messages(to_agent, created_at, id);
CREATE INDEX IF NOT EXISTS idx_from_time_id ON messages(from_agent, created_at, id);
";

/// The indexes [`INDEXES`] adds to the original's two: a database missing
/// any (made by an older version, or rebuilt by the original since) gets
/// them on open.
const OUR_INDEXES: [&str; 6] = [
    "idx_inbox_time",
    "idx_from_type_time",
    "idx_created_at",
    "idx_time_id",
    "idx_to_time_id",
    "idx_from_time_id",
];

fn has_our_indexes(conn: &Connection) -> rusqlite::Result<bool> {
    let names = quoted(OUR_INDEXES.iter().copied());
    let n: usize = conn.query_row(
        &format!(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' AND name IN ({names})"
        ),
        [],
        |r| r.get(0),
    )?;
    Ok(n == OUR_INDEXES.len())
}

fn quoted<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(",")
}

/// What the DDL of an existing `messages` table says about its generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    /// No table yet.
    Missing,
    /// CHECKs over every current type, with `payload`.
    Current,
    /// CHECKs over the current types, but no `payload` column.
    NeedsPayload,
    /// No CHECKs, or an outdated type list: rebuild.
    NeedsRebuild,
}

fn table_sql(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'messages'",
        [],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()
    .map(Option::flatten)
}

fn generation(conn: &Connection) -> rusqlite::Result<Generation> {
    let Some(sql) = table_sql(conn)? else {
        return Ok(Generation::Missing);
    };
    let has = |s: &str| sql.contains(s);
    let types_current = MessageType::ALL.iter().all(|t| has(t.as_str()));
    Ok(if has("CHECK") && has("payload") && types_current {
        Generation::Current
    } else if has("CHECK") && !has("payload") && types_current {
        Generation::NeedsPayload
    } else {
        Generation::NeedsRebuild
    })
}

/// Brings the table and indexes to the current schema. Idempotent; runs
/// inside a write transaction.
fn ensure_schema(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    match generation(tx)? {
        Generation::Missing | Generation::Current => {}
        Generation::NeedsPayload => {
            tx.execute_batch("ALTER TABLE messages ADD COLUMN payload TEXT")?;
        }
        Generation::NeedsRebuild => rebuild(tx)?,
    }
    tx.execute_batch(&create_table_sql())?;
    tx.execute_batch(INDEXES)
}

/// Rebuilds a legacy table: copies every row, mapping unknown types to
/// `status` and unknown priorities to `normal`.
fn rebuild(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let had_payload = table_sql(tx)?.is_some_and(|s| s.contains("payload"));
    tx.execute_batch("ALTER TABLE messages RENAME TO messages_old")?;
    tx.execute_batch(&create_table_sql())?;
    let types = quoted(MessageType::ALL.iter().map(|t| t.as_str()));
    let prios = quoted(Priority::ALL.iter().map(|p| p.as_str()));
    let payload = if had_payload { "payload" } else { "NULL" };
    tx.execute_batch(&format!(
        "INSERT INTO messages (id, from_agent, to_agent, subject, body, type, priority, thread_id, payload, read, created_at)
         SELECT id, from_agent, to_agent, subject, body,
                CASE WHEN type IN ({types}) THEN type ELSE 'status' END,
                CASE WHEN priority IN ({prios}) THEN priority ELSE 'normal' END,
                thread_id, {payload}, read, created_at
         FROM messages_old ORDER BY rowid;
         DROP TABLE messages_old;"
    ))
}

pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    apply: ensure_schema,
}];

/// Which messages [`MailStore::list`] returns. Conditions are AND-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only messages from this sender.
    pub from: Option<String>,
    /// Only messages to this recipient.
    pub to: Option<String>,
    /// `Some(true)`: unread only; `Some(false)`: read only.
    pub unread: Option<bool>,
    /// Only messages of this type.
    pub kind: Option<MessageType>,
    /// At most this many (the newest).
    pub limit: Option<usize>,
}

/// Which messages [`MailStore::purge`] deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeFilter {
    /// Delete everything (overrides the other conditions).
    pub all: bool,
    /// Only messages older than this many milliseconds.
    pub older_than_ms: Option<i64>,
    /// Only messages sent or received by this agent.
    pub agent: Option<String>,
    /// With `agent`: only messages addressed *to* it, never mail it sent
    /// (which may be an unread `worker_done` waiting for a live parent).
    pub addressed_only: bool,
    /// Keep unread messages.
    pub read_only: bool,
}

/// The `messages` table of one `mail.db`.
///
/// One connection; cheap to open (the CLI opens one per invocation). Safe to
/// use from many processes at once: SQLite's WAL and a 5 s busy timeout
/// serialise writers. Unlike the original, closing checkpoints the WAL only
/// once it has grown past 1 MiB (then truncating it), so most CLI calls pay
/// no fsync; [`MailStore::checkpoint`] runs a passive checkpoint on demand.
#[derive(Debug)]
pub struct MailStore {
    conn: Connection,
    path: PathBuf,
}

impl MailStore {
    /// Opens the database at `path`, creating the file and table if needed
    /// and upgrading a legacy table. The directory must exist.
    ///
    /// # Errors
    /// [`MailError::MissingDirectory`] when the parent directory is missing;
    /// [`MailError::Db`] when the file is locked past the busy timeout, is
    /// not a SQLite database, or cannot be migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MailError> {
        let path = path.as_ref().to_owned();
        if let Some(dir) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
        {
            return Err(MailError::MissingDirectory {
                dir: dir.to_owned(),
            });
        }
        let mut conn = db::open(&path, MIGRATIONS)?;
        // A database already at our version may still have been rebuilt by an
        // older program since; the check is one read of the schema table.
        // Likewise a database from before an index was added lacks it.
        let current = generation(&conn)
            .and_then(|g| Ok(g == Generation::Current && has_our_indexes(&conn)?))
            .map_err(|e| DbError::query("read the messages schema", &path, e))?;
        if !current {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| DbError::query("start a schema migration", &path, e))?;
            ensure_schema(&tx).map_err(|source| DbError::Migrate {
                path: path.clone(),
                version: 1,
                source,
            })?;
            tx.commit()
                .map_err(|e| DbError::query("commit a schema migration", &path, e))?;
        }
        // No checkpoint on close: `db::open` sets the WAL policy for every store.
        Ok(Self { conn, path })
    }

    /// Runs a passive WAL checkpoint (best effort, as the original's `close`).
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn checkpoint(&self) -> Result<(), MailError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| self.q("checkpoint the WAL", e))
    }

    /// Returns the database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the underlying connection (for read-only queries by other
    /// overstory components, such as the turn runner's terminal-mail check).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn q(&self, action: &'static str, e: rusqlite::Error) -> MailError {
        MailError::Db(DbError::query(action, &self.path, e))
    }

    /// Stores a message and returns it as stored (`read: false`). An empty
    /// `id` is replaced by a new `msg-…` id; `created_at` is stamped now.
    ///
    /// # Errors
    /// [`MailError::Insert`] (duplicate id, CHECK violation), or
    /// [`MailError::Db`] when the database is locked or corrupt.
    pub fn insert(&self, msg: &NewMessage) -> Result<MailMessage, MailError> {
        insert_on(&self.conn, &self.path, msg)
    }

    /// Stores several messages in one transaction: all or none.
    ///
    /// # Errors
    /// As [`MailStore::insert`]; on error nothing is stored.
    pub fn insert_all(&mut self, msgs: &[NewMessage]) -> Result<Vec<MailMessage>, MailError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| MailError::Db(DbError::query("start a transaction", &self.path, e)))?;
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            out.push(insert_on(&tx, &self.path, m)?);
        }
        tx.commit()
            .map_err(|e| MailError::Db(DbError::query("commit messages", &self.path, e)))?;
        Ok(out)
    }

    /// Returns `agent`'s unread messages, oldest first, without marking
    /// them. Rows that cannot be decoded are skipped and logged (see
    /// [`MailStore::unread_batch`] to get them).
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn unread(&self, agent: &str) -> Result<Vec<MailMessage>, MailError> {
        Ok(self
            .unread_batch(agent)?
            .into_messages_logged("read unread mail"))
    }

    /// Returns `agent`'s unread messages, oldest first, without marking
    /// them, and the unread rows that cannot be decoded.
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn unread_batch(&self, agent: &str) -> Result<MailBatch, MailError> {
        self.query(
            &format!("{SELECT} WHERE to_agent = ?1 AND read = 0 ORDER BY created_at, rowid"),
            &[&agent],
            "read unread messages",
        )
    }

    /// Claims `agent`'s unread mail: marks it read and returns it, oldest
    /// first, saying `read: true` (its state after the claim). With
    /// `limit`, claims only the oldest `limit` good messages; the rest stay
    /// unread.
    ///
    /// Each row is decoded *before* it is claimed. A row that cannot be
    /// decoded is left unread and returned in
    /// [`MailBatch::undecodable`], so one bad row never costs the good
    /// ones. The claim is one `BEGIN IMMEDIATE` transaction that marks each
    /// good row with `UPDATE … WHERE rowid = ? AND read = 0`: a message is
    /// returned by exactly one claim, however many run at once. An empty
    /// inbox is answered from a read, with no write lock.
    ///
    /// A caller that then fails to deliver the mail puts it back with
    /// [`MailStore::unclaim`].
    ///
    /// # Errors
    /// [`MailError::Db`] (locked past the busy timeout, corrupt); nothing is
    /// claimed then.
    pub fn claim_unread(&self, agent: &str, limit: Option<usize>) -> Result<MailBatch, MailError> {
        let pending = self
            .conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM messages WHERE to_agent = ?1 AND read = 0)",
            )
            .and_then(|mut s| s.query_row([agent], |r| r.get::<_, bool>(0)))
            .map_err(|e| self.q("read unread messages", e))?;
        if !pending {
            return Ok(MailBatch::default());
        }
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.q("start claiming messages", e))?;
        // Read everything first (under the write lock, so the snapshot is
        // the truth), then update: never write a table mid-scan.
        let mut rows: Vec<Decoded> = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "{SELECT} WHERE to_agent = ?1 AND read = 0 ORDER BY created_at, rowid"
                ))
                .map_err(|e| self.q("claim unread messages", e))?;
            let mut it = stmt
                .query_map([agent], decode_row)
                .map_err(|e| self.q("claim unread messages", e))?;
            let mut good = 0;
            while limit.is_none_or(|n| good < n) {
                let Some(row) = it.next() else { break };
                let row = row.map_err(|e| self.q("claim unread messages", e))?;
                good += usize::from(row.1.is_ok());
                rows.push(row);
            }
        }
        let mut batch = MailBatch::default();
        {
            let mut claim = tx
                .prepare_cached("UPDATE messages SET read = 1 WHERE rowid = ?1 AND read = 0")
                .map_err(|e| self.q("claim unread messages", e))?;
            for (seq, row) in rows {
                match row {
                    Ok(mut m) => {
                        let n = claim
                            .execute([seq])
                            .map_err(|e| self.q("claim unread messages", e))?;
                        if n == 1 {
                            m.read = true;
                            batch.messages.push(m);
                        }
                    }
                    Err(u) => batch.undecodable.push(u),
                }
            }
        }
        tx.commit()
            .map_err(|e| self.q("commit claimed messages", e))?;
        Ok(batch)
    }

    /// Puts claimed messages back: marks them unread again, in one
    /// transaction, so the next check delivers them (for a caller whose
    /// delivery failed after [`MailStore::claim_unread`]). Returns how many
    /// were put back; unknown and already unread ids are ignored.
    ///
    /// # Errors
    /// [`MailError::Db`]; then nothing was put back.
    pub fn unclaim(&self, ids: &[String]) -> Result<usize, MailError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.q("start returning messages", e))?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached("UPDATE messages SET read = 0 WHERE id = ?1 AND read = 1")
                .map_err(|e| self.q("mark messages unread", e))?;
            for id in ids {
                n += stmt
                    .execute([id])
                    .map_err(|e| self.q("mark messages unread", e))?;
            }
        }
        tx.commit()
            .map_err(|e| self.q("commit returned messages", e))?;
        Ok(n)
    }

    /// Returns messages matching `filter`, newest first. Rows that cannot
    /// be decoded are skipped and logged (see [`MailStore::list_batch`]).
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<MailMessage>, MailError> {
        Ok(self.list_batch(filter)?.into_messages_logged("list mail"))
    }

    /// Returns messages matching `filter`, newest first, and the matching
    /// rows that cannot be decoded (a bad row counts towards the limit).
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn list_batch(&self, filter: &ListFilter) -> Result<MailBatch, MailError> {
        let (clause, args) = where_clause(filter);
        let mut sql = format!("{SELECT}{clause} ORDER BY created_at DESC, rowid DESC");
        if let Some(n) = filter.limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a as _).collect();
        self.query(&sql, &refs, "list messages")
    }

    /// Returns how many messages match `filter` (ignoring its limit).
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn count(&self, filter: &ListFilter) -> Result<usize, MailError> {
        let (clause, args) = where_clause(filter);
        let n: i64 = self
            .conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM messages{clause}"))
            .and_then(|mut s| s.query_row(params_from_iter(args.iter()), |r| r.get(0)))
            .map_err(|e| self.q("count messages", e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Returns the message with `id`, if any.
    ///
    /// # Errors
    /// [`MailError::Undecodable`] when the row exists but cannot be decoded;
    /// [`MailError::Db`].
    pub fn get(&self, id: &str) -> Result<Option<MailMessage>, MailError> {
        let batch = self.query(&format!("{SELECT} WHERE id = ?1"), &[&id], "read a message")?;
        if let Some(u) = batch.undecodable.into_iter().next() {
            return Err(MailError::Undecodable(u));
        }
        Ok(batch.messages.into_iter().next())
    }

    /// Returns a thread, oldest first: its root (the message whose id is
    /// `thread`) when it exists, then every message whose `thread_id` is
    /// `thread`. The original left the root out; here a thread is whole.
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn thread(&self, thread: &str) -> Result<Vec<MailMessage>, MailError> {
        Ok(self
            .query(
            &format!(
                "{SELECT} WHERE thread_id = ?1 OR id = ?1 ORDER BY (id = ?1) DESC, created_at, rowid"
            ),
            &[&thread],
            "read a thread",
        )?
        .into_messages_logged("read a thread"))
    }

    /// Returns messages stored after the insertion sequence `after` (a
    /// `rowid`), oldest first, with their sequence numbers: a cursor for
    /// tailing that never skips rows sharing a millisecond. A row that
    /// cannot be decoded is logged and skipped, so it never stalls a tail.
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn since(&self, after: i64, limit: usize) -> Result<Vec<(i64, MailMessage)>, MailError> {
        let n = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query_seq(
            &format!("{SELECT} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"),
            &[&after, &n],
            "tail messages",
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (seq, row) in rows {
            match row {
                Ok(m) => out.push((seq, m)),
                Err(u) => {
                    tracing::warn!(seq, id = ?u.id, problem = %u.problem, "tail mail: skipped a mail row that cannot be read");
                }
            }
        }
        Ok(out)
    }

    /// Marks a message read. Returns `None` for an unknown id, otherwise
    /// whether it had already been read.
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn mark_read(&self, id: &str) -> Result<Option<bool>, MailError> {
        let changed = self
            .conn
            .prepare_cached("UPDATE messages SET read = 1 WHERE id = ?1 AND read = 0")
            .and_then(|mut s| s.execute([id]))
            .map_err(|e| self.q("mark a message read", e))?;
        if changed > 0 {
            return Ok(Some(false));
        }
        let exists = self
            .conn
            .prepare_cached("SELECT 1 FROM messages WHERE id = ?1")
            .and_then(|mut s| s.exists([id]))
            .map_err(|e| self.q("read a message", e))?;
        Ok(exists.then_some(true))
    }

    /// Marks the given messages read in one transaction (acknowledging a
    /// batch after it was delivered). Unknown ids are ignored.
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn mark_read_all(&mut self, ids: &[String]) -> Result<usize, MailError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| MailError::Db(DbError::query("start a transaction", &path, e)))?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached("UPDATE messages SET read = 1 WHERE id = ?1 AND read = 0")
                .map_err(|e| MailError::Db(DbError::query("mark messages read", &path, e)))?;
            for id in ids {
                n += stmt
                    .execute([id])
                    .map_err(|e| MailError::Db(DbError::query("mark messages read", &path, e)))?;
            }
        }
        tx.commit()
            .map_err(|e| MailError::Db(DbError::query("mark messages read", &path, e)))?;
        Ok(n)
    }

    /// Deletes a message. Returns whether a row was deleted.
    ///
    /// # Errors
    /// [`MailError::Delete`].
    pub fn delete(&self, id: &str) -> Result<bool, MailError> {
        self.conn
            .prepare_cached("DELETE FROM messages WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map(|n| n > 0)
            .map_err(|e| MailError::Delete {
                id: id.to_owned(),
                source: Box::new(DbError::query("delete a message", &self.path, e)),
            })
    }

    /// Deletes the messages `filter` selects and returns how many were
    /// deleted (the DELETE's own count). A filter with no condition deletes
    /// nothing and returns 0.
    ///
    /// # Errors
    /// [`MailError::Db`].
    pub fn purge(&self, filter: &PurgeFilter) -> Result<usize, MailError> {
        let mut conds: Vec<String> = Vec::new();
        let mut args: Vec<String> = Vec::new();
        if !filter.all {
            if let Some(ms) = filter.older_than_ms {
                args.push(clock::format_millis(clock::now_millis() - ms));
                conds.push(format!("created_at < ?{}", args.len()));
            }
            if let Some(agent) = &filter.agent {
                args.push(agent.clone());
                let n = args.len();
                if filter.addressed_only {
                    conds.push(format!("to_agent = ?{n}"));
                } else {
                    conds.push(format!("(from_agent = ?{n} OR to_agent = ?{n})"));
                }
            }
            if conds.is_empty() {
                return Ok(0);
            }
        }
        if filter.read_only {
            conds.push("read = 1".into());
        }
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        self.conn
            .execute(
                &format!("DELETE FROM messages{clause}"),
                params_from_iter(args.iter()),
            )
            .map_err(|e| self.q("purge messages", e))
    }

    fn query(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
        action: &'static str,
    ) -> Result<MailBatch, MailError> {
        let mut batch = MailBatch::default();
        for (_, row) in self.query_seq(sql, args, action)? {
            match row {
                Ok(m) => batch.messages.push(m),
                Err(u) => batch.undecodable.push(u),
            }
        }
        Ok(batch)
    }

    fn query_seq(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
        action: &'static str,
    ) -> Result<Vec<Decoded>, MailError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| self.q(action, e))?;
        stmt.query_map(args, decode_row)
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(|e| self.q(action, e))
    }
}

/// Builds the `WHERE` clause and its arguments for a [`ListFilter`].
fn where_clause(filter: &ListFilter) -> (String, Vec<String>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    if let Some(f) = &filter.from {
        args.push(f.clone());
        conds.push(format!("from_agent = ?{}", args.len()));
    }
    if let Some(t) = &filter.to {
        args.push(t.clone());
        conds.push(format!("to_agent = ?{}", args.len()));
    }
    match filter.unread {
        Some(true) => conds.push("read = 0".into()),
        Some(false) => conds.push("read = 1".into()),
        None => {}
    }
    if let Some(k) = filter.kind {
        args.push(k.as_str().to_owned());
        conds.push(format!("type = ?{}", args.len()));
    }
    if conds.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", conds.join(" AND ")), args)
    }
}

fn insert_on(conn: &Connection, path: &Path, msg: &NewMessage) -> Result<MailMessage, MailError> {
    let id = if msg.id.is_empty() {
        ids::message_id()
    } else {
        msg.id.clone()
    };
    let created_at = clock::now_rfc3339();
    let res = conn
        .prepare_cached(
            "INSERT INTO messages (id, from_agent, to_agent, subject, body, type, priority, thread_id, payload, read, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10)",
        )
        .and_then(|mut s| {
            s.execute(rusqlite::params![
                id,
                msg.from,
                msg.to,
                msg.subject,
                msg.body,
                msg.kind.as_str(),
                msg.priority.as_str(),
                msg.thread_id,
                msg.payload,
                created_at,
            ])
        });
    if let Err(source) = res {
        use rusqlite::ErrorCode;
        return Err(match source.sqlite_error_code() {
            Some(
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase,
            ) => MailError::Db(DbError::query("insert a message", path, source)),
            Some(ErrorCode::ConstraintViolation) => {
                let text = source.to_string();
                let reason = if text.contains("UNIQUE") || text.contains("PRIMARY KEY") {
                    InsertFailure::DuplicateId
                } else {
                    InsertFailure::ConstraintViolated
                };
                MailError::Insert { id, reason, source }
            }
            _ => MailError::Insert {
                id,
                reason: InsertFailure::Other,
                source,
            },
        });
    }
    Ok(MailMessage {
        id,
        from: msg.from.clone(),
        to: msg.to.clone(),
        subject: msg.subject.clone(),
        body: msg.body.clone(),
        kind: msg.kind,
        priority: msg.priority,
        thread_id: msg.thread_id.clone(),
        payload: msg.payload.clone(),
        read: false,
        created_at,
    })
}
