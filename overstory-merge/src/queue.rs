//! `merge-queue.db`: the queue of branches waiting to be merged.
//!
//! The `merge_queue` table has the original's exact columns, statuses and
//! tiers, so the TypeScript `ov` and this one can share the file. Two
//! additions, both invisible to the original's queries:
//!
//! - a partial unique index: at most one *unsettled* entry (`pending`,
//!   `merging`, `conflict` or `failed`) per branch. Enqueueing a branch that
//!   already has one returns it (reviving a `conflict`/`failed` entry as
//!   `pending`) instead of adding a duplicate;
//! - a `merge_attempts` table: one structured row per attempt (outcome,
//!   tier, conflicting files, error text), the conflict history the original
//!   re-parsed from prose.
//!
//! Status changes are compare-and-swap: [`MergeQueue::claim`] moves an entry
//! to `merging` only from a settled-or-waiting state, so two processes never
//! merge the same entry; a `merging` entry whose process died is put back to
//! `pending` by [`MergeQueue::requeue_stale`].

use std::path::{Path, PathBuf};

use overstory_core::db::{self, Migration};
use overstory_core::{DbError, Layout, clock};
use rusqlite::{Connection, OptionalExtension as _, Row, Transaction, params};
use serde::{Deserialize, Serialize};

pub use overstory_mail::protocol::MergeTier;

use crate::error::MergeError;

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeStatus {
    /// Waiting to be merged.
    Pending,
    /// Being merged right now.
    Merging,
    /// Landed on the target.
    Merged,
    /// Conflicts no enabled tier could resolve.
    Conflict,
    /// Tried and did not land for another reason (quality gates, a refused
    /// merge, a checkout that could not be brought forward).
    Failed,
}

impl MergeStatus {
    /// Every status, in the original's order.
    pub const ALL: [MergeStatus; 5] = [
        Self::Pending,
        Self::Merging,
        Self::Merged,
        Self::Conflict,
        Self::Failed,
    ];

    /// Returns the stored string (`pending`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Merging => "merging",
            Self::Merged => "merged",
            Self::Conflict => "conflict",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored string.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Returns whether an entry in this status may be (re)tried.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Pending | Self::Conflict | Self::Failed)
    }
}

/// Returns the stored string of a tier (`clean-merge`).
pub fn tier_str(tier: MergeTier) -> &'static str {
    match tier {
        MergeTier::CleanMerge => "clean-merge",
        MergeTier::AutoResolve => "auto-resolve",
        MergeTier::AiResolve => "ai-resolve",
        MergeTier::Reimagine => "reimagine",
    }
}

fn parse_tier(s: &str) -> Option<MergeTier> {
    [
        MergeTier::CleanMerge,
        MergeTier::AutoResolve,
        MergeTier::AiResolve,
        MergeTier::Reimagine,
    ]
    .into_iter()
    .find(|t| tier_str(*t) == s)
}

/// One queue row, serialised with the original's `MergeEntry` keys (plus
/// `id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeEntry {
    /// The row id (FIFO order).
    pub id: i64,
    /// The branch to merge.
    pub branch_name: String,
    /// The task the branch implements (`unknown` when not known).
    pub task_id: String,
    /// The agent whose work the branch holds (`unknown` when not known).
    pub agent_name: String,
    /// Files the branch changes.
    pub files_modified: Vec<String>,
    /// When it was enqueued.
    pub enqueued_at: String,
    /// Where it stands.
    pub status: MergeStatus,
    /// The tier that landed it; `None` until merged.
    pub resolved_tier: Option<MergeTier>,
}

/// What to enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnqueueRequest {
    /// The branch.
    pub branch_name: String,
    /// The task id.
    pub task_id: String,
    /// The agent name.
    pub agent_name: String,
    /// Files the branch changes.
    pub files_modified: Vec<String>,
}

/// The result of [`MergeQueue::enqueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The branch's unsettled entry, new or existing.
    pub entry: MergeEntry,
    /// Whether a new row was inserted.
    pub created: bool,
}

/// One recorded merge attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeAttempt {
    /// The queue entry.
    pub entry_id: i64,
    /// The branch.
    pub branch_name: String,
    /// The target it was merged into.
    pub target_branch: String,
    /// When the attempt ended.
    pub finished_at: String,
    /// The status the entry was left in.
    pub outcome: MergeStatus,
    /// The last tier tried (or the landing tier).
    pub tier: Option<MergeTier>,
    /// Files that conflicted.
    pub conflict_files: Vec<String>,
    /// What went wrong, when it did.
    pub error_message: Option<String>,
}

/// Entry counts per status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCounts {
    /// `pending` entries.
    pub pending: usize,
    /// `merging` entries.
    pub merging: usize,
    /// `merged` entries.
    pub merged: usize,
    /// `conflict` entries.
    pub conflict: usize,
    /// `failed` entries.
    pub failed: usize,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS merge_queue (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  branch_name TEXT NOT NULL,
  task_id TEXT NOT NULL,
  agent_name TEXT NOT NULL,
  files_modified TEXT NOT NULL DEFAULT '[]',
  enqueued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f','now')),
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK(status IN ('pending','merging','merged','conflict','failed')),
  resolved_tier TEXT
    CHECK(resolved_tier IS NULL OR resolved_tier IN ('clean-merge','auto-resolve','ai-resolve','reimagine'))
);
CREATE INDEX IF NOT EXISTS idx_merge_queue_status ON merge_queue(status);
CREATE INDEX IF NOT EXISTS idx_merge_queue_branch ON merge_queue(branch_name);
";

const UNSETTLED: &str = "('pending','merging','conflict','failed')";

fn v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    // A file from an older original has `bead_id` instead of `task_id`.
    if db::has_table(tx, "merge_queue")?
        && db::has_column(tx, "merge_queue", "bead_id")?
        && !db::has_column(tx, "merge_queue", "task_id")?
    {
        tx.execute_batch("ALTER TABLE merge_queue RENAME COLUMN bead_id TO task_id")?;
    }
    tx.execute_batch(SCHEMA)?;
    // Re-applied by `ov doctor --fix`: restore columns a damaged or older
    // file lacks (ADD COLUMN allows only constant defaults).
    for (column, decl) in [
        ("files_modified", "TEXT NOT NULL DEFAULT '[]'"),
        ("enqueued_at", "TEXT NOT NULL DEFAULT ''"),
        ("status", "TEXT NOT NULL DEFAULT 'pending'"),
        ("resolved_tier", "TEXT"),
    ] {
        if !db::has_column(tx, "merge_queue", column)? {
            tx.execute_batch(&format!(
                "ALTER TABLE merge_queue ADD COLUMN {column} {decl}"
            ))?;
        }
    }
    Ok(())
}

fn v2(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    // The original allows several rows per branch (and writes the same status
    // to all of them). Keep the newest unsettled row per branch.
    tx.execute_batch(&format!(
        "DELETE FROM merge_queue WHERE status IN {UNSETTLED} AND id NOT IN (
           SELECT MAX(id) FROM merge_queue WHERE status IN {UNSETTLED} GROUP BY branch_name);
         CREATE UNIQUE INDEX IF NOT EXISTS idx_merge_queue_unsettled_branch
           ON merge_queue(branch_name) WHERE status IN {UNSETTLED};
         CREATE TABLE IF NOT EXISTS merge_attempts (
           id INTEGER PRIMARY KEY AUTOINCREMENT,
           entry_id INTEGER NOT NULL,
           branch_name TEXT NOT NULL,
           target_branch TEXT NOT NULL,
           finished_at TEXT NOT NULL,
           outcome TEXT NOT NULL,
           tier TEXT,
           conflict_files TEXT NOT NULL DEFAULT '[]',
           error_message TEXT
         );
         CREATE INDEX IF NOT EXISTS idx_merge_attempts_entry ON merge_attempts(entry_id);"
    ))
}

/// The migrations of `merge-queue.db` (each step idempotent), for tools
/// that inspect or repair the file (`ov doctor`).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        apply: v1,
    },
    Migration {
        version: 2,
        apply: v2,
    },
];

const SELECT: &str = "SELECT id, branch_name, task_id, agent_name, files_modified, enqueued_at, \
                      status, resolved_tier FROM merge_queue";

/// The merge queue of one project.
///
/// One connection; open one per process (cheap). Many processes may use the
/// file at once: SQLite's WAL and a 5 s busy timeout serialise writers, and
/// every status change is one conditional `UPDATE`.
#[derive(Debug)]
pub struct MergeQueue {
    conn: Connection,
    path: PathBuf,
}

impl MergeQueue {
    /// Opens `.overstory/merge-queue.db` of `layout`, creating it if needed.
    ///
    /// # Errors
    /// [`MergeError::Db`] when the file is locked, corrupt or cannot be migrated.
    pub fn open_in(layout: &Layout) -> Result<Self, MergeError> {
        Self::open(&layout.merge_queue_db())
    }

    /// Opens the queue database at `path`, creating it if needed.
    ///
    /// # Errors
    /// As [`MergeQueue::open_in`].
    pub fn open(path: &Path) -> Result<Self, MergeError> {
        let conn = db::open(path, MIGRATIONS)?;
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }

    /// Returns the database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn q(&self, action: &'static str, e: rusqlite::Error) -> MergeError {
        MergeError::Db(DbError::query(action, &self.path, e))
    }

    /// Puts a branch in the queue as `pending`. When the branch already has
    /// an unsettled entry, returns that one instead: a `conflict` or
    /// `failed` entry is revived as `pending` with the new task, agent and
    /// files; a `pending` or `merging` entry is returned as it is.
    ///
    /// # Errors
    /// [`MergeError::Db`].
    pub fn enqueue(&mut self, req: &EnqueueRequest) -> Result<Enqueued, MergeError> {
        let files = serde_json::to_string(&req.files_modified).unwrap_or_else(|_| "[]".into());
        let path = self.path.clone();
        let q = |action, e| MergeError::Db(DbError::query(action, &path, e));
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| q("start a transaction", e))?;
        let existing = tx
            .query_row(
                &format!("{SELECT} WHERE branch_name = ?1 AND status IN {UNSETTLED}"),
                [&req.branch_name],
                read_row,
            )
            .optional()
            .map_err(|e| q("read the queue", e))?;
        let (id, created) = match existing {
            Some(row) => {
                let id = row.id;
                if matches!(row.status, Ok(MergeStatus::Conflict | MergeStatus::Failed)) {
                    tx.execute(
                        "UPDATE merge_queue SET status = 'pending', resolved_tier = NULL, \
                         task_id = ?2, agent_name = ?3, files_modified = ?4 WHERE id = ?1",
                        params![id, req.task_id, req.agent_name, files],
                    )
                    .map_err(|e| q("revive a queue entry", e))?;
                }
                (id, false)
            }
            None => {
                tx.execute(
                    "INSERT INTO merge_queue (branch_name, task_id, agent_name, files_modified, \
                     enqueued_at, status, resolved_tier) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', NULL)",
                    params![
                        req.branch_name,
                        req.task_id,
                        req.agent_name,
                        files,
                        clock::now_rfc3339()
                    ],
                )
                .map_err(|e| q("enqueue a branch", e))?;
                (tx.last_insert_rowid(), true)
            }
        };
        tx.commit().map_err(|e| q("commit an enqueue", e))?;
        let entry = self.get(id)?.ok_or(MergeError::UnknownEntry {
            branch: req.branch_name.clone(),
        })?;
        Ok(Enqueued { entry, created })
    }

    /// Returns entries in FIFO (id) order, only those in `status` when given.
    ///
    /// # Errors
    /// [`MergeError::Db`], or [`MergeError::Corrupt`] for a row with an
    /// unknown status.
    pub fn list(&self, status: Option<MergeStatus>) -> Result<Vec<MergeEntry>, MergeError> {
        let rows = match status {
            Some(s) => self.rows(
                &format!("{SELECT} WHERE status = ?1 ORDER BY id"),
                &[&s.as_str()],
            )?,
            None => self.rows(&format!("{SELECT} ORDER BY id"), &[])?,
        };
        Ok(rows)
    }

    /// Returns the oldest `pending` entry without changing it.
    ///
    /// # Errors
    /// As [`MergeQueue::list`].
    pub fn next(&self) -> Result<Option<MergeEntry>, MergeError> {
        Ok(self
            .rows(
                &format!("{SELECT} WHERE status = 'pending' ORDER BY id LIMIT 1"),
                &[],
            )?
            .into_iter()
            .next())
    }

    /// Returns the entry with `id`.
    ///
    /// # Errors
    /// As [`MergeQueue::list`].
    pub fn get(&self, id: i64) -> Result<Option<MergeEntry>, MergeError> {
        Ok(self
            .rows(&format!("{SELECT} WHERE id = ?1"), &[&id])?
            .into_iter()
            .next())
    }

    /// Returns the newest entry for `branch` in any status: its unsettled
    /// entry when it has one, else its newest merged one.
    ///
    /// # Errors
    /// As [`MergeQueue::list`].
    pub fn latest_for(&self, branch: &str) -> Result<Option<MergeEntry>, MergeError> {
        Ok(self
            .rows(
                &format!(
                    "{SELECT} WHERE branch_name = ?1 \
                     ORDER BY (status IN {UNSETTLED}) DESC, id DESC LIMIT 1"
                ),
                &[&branch],
            )?
            .into_iter()
            .next())
    }

    /// Sets an entry's status and tier (the tier only with `merged`; any
    /// other status clears it). Returns the updated entry.
    ///
    /// # Errors
    /// [`MergeError::UnknownEntry`] when no entry has `id`.
    pub fn mark(
        &self,
        id: i64,
        status: MergeStatus,
        tier: Option<MergeTier>,
    ) -> Result<MergeEntry, MergeError> {
        let tier = tier.filter(|_| status == MergeStatus::Merged).map(tier_str);
        let n = self
            .conn
            .execute(
                "UPDATE merge_queue SET status = ?2, resolved_tier = ?3 WHERE id = ?1",
                params![id, status.as_str(), tier],
            )
            .map_err(|e| self.q("update a queue entry", e))?;
        if n == 0 {
            return Err(MergeError::UnknownEntry {
                branch: format!("#{id}"),
            });
        }
        self.get(id)?.ok_or(MergeError::UnknownEntry {
            branch: format!("#{id}"),
        })
    }

    /// Moves an entry to `merging` if it is `pending`, `conflict` or
    /// `failed`, in one conditional update. Returns `None` when another
    /// process claimed it first or it is already merged.
    ///
    /// # Errors
    /// [`MergeError::Db`].
    pub fn claim(&self, id: i64) -> Result<Option<MergeEntry>, MergeError> {
        let n = self
            .conn
            .execute(
                "UPDATE merge_queue SET status = 'merging', resolved_tier = NULL \
                 WHERE id = ?1 AND status IN ('pending','conflict','failed')",
                [id],
            )
            .map_err(|e| self.q("claim a queue entry", e))?;
        if n == 0 {
            return Ok(None);
        }
        self.get(id)
    }

    /// Puts every `merging` entry back to `pending`. Call only when no merge
    /// can be running (the engine does it while holding every merge lock it
    /// can see, see [`crate::sweep`]). Returns how many were requeued.
    ///
    /// # Errors
    /// [`MergeError::Db`].
    pub fn requeue_stale(&self) -> Result<usize, MergeError> {
        self.conn
            .execute(
                "UPDATE merge_queue SET status = 'pending' WHERE status = 'merging'",
                [],
            )
            .map_err(|e| self.q("requeue interrupted merges", e))
    }

    /// Records one attempt.
    ///
    /// # Errors
    /// [`MergeError::Db`].
    pub fn record_attempt(&self, a: &MergeAttempt) -> Result<(), MergeError> {
        let files = serde_json::to_string(&a.conflict_files).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute(
                "INSERT INTO merge_attempts (entry_id, branch_name, target_branch, finished_at, \
                 outcome, tier, conflict_files, error_message) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                params![
                    a.entry_id,
                    a.branch_name,
                    a.target_branch,
                    a.finished_at,
                    a.outcome.as_str(),
                    a.tier.map(tier_str),
                    files,
                    a.error_message
                ],
            )
            .map_err(|e| self.q("record a merge attempt", e))?;
        Ok(())
    }

    /// Returns the attempts recorded for a branch, oldest first: the
    /// structured conflict history.
    ///
    /// # Errors
    /// [`MergeError::Db`].
    pub fn attempts(&self, branch: &str) -> Result<Vec<MergeAttempt>, MergeError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT entry_id, branch_name, target_branch, finished_at, outcome, tier, \
                 conflict_files, error_message FROM merge_attempts WHERE branch_name = ?1 ORDER BY id",
            )
            .map_err(|e| self.q("read merge attempts", e))?;
        let rows = stmt
            .query_map([branch], |r| {
                let outcome: String = r.get(4)?;
                let tier: Option<String> = r.get(5)?;
                let files: String = r.get(6)?;
                Ok(MergeAttempt {
                    entry_id: r.get(0)?,
                    branch_name: r.get(1)?,
                    target_branch: r.get(2)?,
                    finished_at: r.get(3)?,
                    outcome: MergeStatus::parse(&outcome).unwrap_or(MergeStatus::Failed),
                    tier: tier.as_deref().and_then(parse_tier),
                    conflict_files: serde_json::from_str(&files).unwrap_or_default(),
                    error_message: r.get(7)?,
                })
            })
            .map_err(|e| self.q("read merge attempts", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.q("read merge attempts", e))
    }

    /// Returns how many entries are in each status.
    ///
    /// # Errors
    /// [`MergeError::Db`].
    pub fn counts(&self) -> Result<QueueCounts, MergeError> {
        let mut stmt = self
            .conn
            .prepare("SELECT status, COUNT(*) FROM merge_queue GROUP BY status")
            .map_err(|e| self.q("count queue entries", e))?;
        let mut c = QueueCounts::default();
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.q("count queue entries", e))?;
        for row in rows {
            let (status, n) = row.map_err(|e| self.q("count queue entries", e))?;
            let n = usize::try_from(n).unwrap_or(0);
            match MergeStatus::parse(&status) {
                Some(MergeStatus::Pending) => c.pending += n,
                Some(MergeStatus::Merging) => c.merging += n,
                Some(MergeStatus::Merged) => c.merged += n,
                Some(MergeStatus::Conflict) => c.conflict += n,
                Some(MergeStatus::Failed) | None => c.failed += n,
            }
        }
        Ok(c)
    }

    fn rows(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<MergeEntry>, MergeError> {
        let mut stmt = self
            .conn
            .prepare(sql)
            .map_err(|e| self.q("read the queue", e))?;
        let rows = stmt
            .query_map(args, read_row)
            .map_err(|e| self.q("read the queue", e))?;
        let mut out = Vec::new();
        for row in rows {
            let raw = row.map_err(|e| self.q("read the queue", e))?;
            out.push(raw.into_entry()?);
        }
        Ok(out)
    }
}

/// A row before its status is checked.
struct RawRow {
    id: i64,
    branch_name: String,
    task_id: String,
    agent_name: String,
    files_modified: String,
    enqueued_at: String,
    status: Result<MergeStatus, String>,
    resolved_tier: Option<String>,
}

impl RawRow {
    fn into_entry(self) -> Result<MergeEntry, MergeError> {
        let status = self.status.map_err(|value| MergeError::Corrupt {
            id: self.id,
            field: "status",
            value,
        })?;
        Ok(MergeEntry {
            id: self.id,
            branch_name: self.branch_name,
            task_id: self.task_id,
            agent_name: self.agent_name,
            // The original reads unparseable JSON as an empty list.
            files_modified: serde_json::from_str(&self.files_modified).unwrap_or_default(),
            enqueued_at: self.enqueued_at,
            status,
            resolved_tier: self.resolved_tier.as_deref().and_then(parse_tier),
        })
    }
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    let status: String = r.get(6)?;
    Ok(RawRow {
        id: r.get(0)?,
        branch_name: r.get(1)?,
        task_id: r.get(2)?,
        agent_name: r.get(3)?,
        files_modified: r.get(4)?,
        enqueued_at: r.get(5)?,
        status: MergeStatus::parse(&status).ok_or(status),
        resolved_tier: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(branch: &str) -> EnqueueRequest {
        EnqueueRequest {
            branch_name: branch.into(),
            task_id: "t-1".into(),
            agent_name: "builder-1".into(),
            files_modified: vec!["a.txt".into()],
        }
    }

    fn open() -> (tempfile::TempDir, MergeQueue) {
        let dir = tempfile::tempdir().unwrap();
        let q = MergeQueue::open(&dir.path().join("merge-queue.db")).unwrap();
        (dir, q)
    }

    #[test]
    fn enqueue_is_pending_fifo_and_unique_per_branch() {
        let (_d, mut q) = open();
        let a = q.enqueue(&req("overstory/a/t1")).unwrap();
        assert!(a.created);
        assert_eq!(a.entry.status, MergeStatus::Pending);
        assert_eq!(a.entry.resolved_tier, None);
        assert!(a.entry.enqueued_at.ends_with('Z'));
        let b = q.enqueue(&req("overstory/b/t2")).unwrap();
        let again = q.enqueue(&req("overstory/a/t1")).unwrap();
        assert!(!again.created);
        assert_eq!(again.entry.id, a.entry.id);
        let all = q.list(None).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(q.next().unwrap().unwrap().id, a.entry.id);
        assert!(a.entry.id < b.entry.id);
    }

    #[test]
    fn the_database_itself_refuses_a_second_unsettled_row() {
        let (_d, mut q) = open();
        q.enqueue(&req("x")).unwrap();
        let err = q.conn.execute(
            "INSERT INTO merge_queue (branch_name, task_id, agent_name) VALUES ('x','t','a')",
            [],
        );
        assert!(err.is_err(), "unique index must hold");
    }

    #[test]
    fn claim_is_exclusive_and_failed_entries_are_retryable() {
        let (_d, mut q) = open();
        let e = q.enqueue(&req("x")).unwrap().entry;
        let claimed = q.claim(e.id).unwrap().unwrap();
        assert_eq!(claimed.status, MergeStatus::Merging);
        assert!(q.claim(e.id).unwrap().is_none(), "second claim loses");
        let failed = q
            .mark(e.id, MergeStatus::Failed, Some(MergeTier::CleanMerge))
            .unwrap();
        assert_eq!(failed.resolved_tier, None, "no tier recorded for failures");
        assert!(q.claim(e.id).unwrap().is_some(), "failed is retryable");
        let merged = q
            .mark(e.id, MergeStatus::Merged, Some(MergeTier::AutoResolve))
            .unwrap();
        assert_eq!(merged.resolved_tier, Some(MergeTier::AutoResolve));
        assert!(q.claim(e.id).unwrap().is_none(), "merged is final");
        // A merged branch may be queued again (new work on it).
        let again = q.enqueue(&req("x")).unwrap();
        assert!(again.created);
        assert_eq!(q.latest_for("x").unwrap().unwrap().id, again.entry.id);
    }

    #[test]
    fn enqueue_revives_a_failed_entry_and_stale_merging_is_requeued() {
        let (_d, mut q) = open();
        let e = q.enqueue(&req("x")).unwrap().entry;
        q.claim(e.id).unwrap();
        q.mark(e.id, MergeStatus::Conflict, None).unwrap();
        let mut r = req("x");
        r.task_id = "t-2".into();
        let revived = q.enqueue(&r).unwrap();
        assert!(!revived.created);
        assert_eq!(revived.entry.status, MergeStatus::Pending);
        assert_eq!(revived.entry.task_id, "t-2");
        q.claim(e.id).unwrap();
        assert_eq!(q.requeue_stale().unwrap(), 1);
        assert_eq!(q.get(e.id).unwrap().unwrap().status, MergeStatus::Pending);
        assert!(matches!(
            q.mark(999, MergeStatus::Merged, None),
            Err(MergeError::UnknownEntry { .. })
        ));
    }

    #[test]
    fn opens_an_original_database_with_bead_id_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("merge-queue.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE merge_queue (id INTEGER PRIMARY KEY AUTOINCREMENT,
                   branch_name TEXT NOT NULL, bead_id TEXT NOT NULL, agent_name TEXT NOT NULL,
                   files_modified TEXT NOT NULL DEFAULT '[]',
                   enqueued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f','now')),
                   status TEXT NOT NULL DEFAULT 'pending', resolved_tier TEXT);
                 INSERT INTO merge_queue (branch_name, bead_id, agent_name, files_modified, status)
                   VALUES ('b','t1','a','not json','conflict'), ('b','t1','a','[]','conflict'),
                          ('c','t2','a','[\"f\"]','merged');",
            )
            .unwrap();
        }
        let q = MergeQueue::open(&path).unwrap();
        let all = q.list(None).unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].id, 2, "the newest duplicate is kept");
        assert_eq!(all[0].task_id, "t1");
        assert_eq!(all[1].files_modified, vec!["f".to_owned()]);
        let c = q.counts().unwrap();
        assert_eq!((c.conflict, c.merged), (1, 1));
    }

    #[test]
    fn attempts_are_structured_rows() {
        let (_d, q) = open();
        q.record_attempt(&MergeAttempt {
            entry_id: 1,
            branch_name: "x".into(),
            target_branch: "main".into(),
            finished_at: clock::now_rfc3339(),
            outcome: MergeStatus::Conflict,
            tier: Some(MergeTier::AutoResolve),
            conflict_files: vec!["a".into()],
            error_message: Some("boom".into()),
        })
        .unwrap();
        let a = q.attempts("x").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].conflict_files, vec!["a".to_owned()]);
        assert_eq!(a[0].tier, Some(MergeTier::AutoResolve));
    }
}
