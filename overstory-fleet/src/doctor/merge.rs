//! Category `merge`: `merge-queue.db` is readable and holds the queue, and
//! no active entry is stale (over 24 h) or duplicated.
//!
//! The merge queue's store is being written (`overstory-merge`); until it
//! lands the expected schema below is the spec's (chapter 07 §10), checked
//! from the file.

use overstory_core::db::{Migration, has_column};
use overstory_core::doctor::{
    Check, CheckStatus, Finding, Fix, database_findings, open_for_inspection,
};

use super::Probe;

const CATEGORY: &str = "merge";
const FILE: &str = "merge-queue.db";

// TODO(lead): use overstory-merge's own migrations once the crate lands, so
// the schema has one home.
fn create_queue(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS merge_queue (
           id INTEGER PRIMARY KEY AUTOINCREMENT,
           branch_name TEXT NOT NULL, task_id TEXT NOT NULL, agent_name TEXT NOT NULL,
           files_modified TEXT NOT NULL DEFAULT '[]',
           enqueued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f','now')),
           status TEXT NOT NULL DEFAULT 'pending'
             CHECK(status IN ('pending','merging','merged','conflict','failed')),
           resolved_tier TEXT CHECK(resolved_tier IS NULL OR resolved_tier IN
             ('clean-merge','auto-resolve','ai-resolve','reimagine')));
         CREATE INDEX IF NOT EXISTS idx_merge_queue_status ON merge_queue(status);
         CREATE INDEX IF NOT EXISTS idx_merge_queue_branch ON merge_queue(branch_name);",
    )?;
    if has_column(tx, "merge_queue", "bead_id")? && !has_column(tx, "merge_queue", "task_id")? {
        tx.execute_batch("ALTER TABLE merge_queue RENAME COLUMN bead_id TO task_id")?;
    }
    // ADD COLUMN allows only constant defaults.
    for (column, decl) in [
        ("files_modified", "TEXT NOT NULL DEFAULT '[]'"),
        ("enqueued_at", "TEXT NOT NULL DEFAULT ''"),
        ("status", "TEXT NOT NULL DEFAULT 'pending'"),
        ("resolved_tier", "TEXT"),
    ] {
        if !has_column(tx, "merge_queue", column)? {
            tx.execute_batch(&format!(
                "ALTER TABLE merge_queue ADD COLUMN {column} {decl}"
            ))?;
        }
    }
    Ok(())
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    apply: create_queue,
}];

const ACTIVE: &str = "status IN ('pending','merging')";

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let path = p.layout.merge_queue_db();
    let mut out = database_findings(CATEGORY, FILE, &path, MIGRATIONS);
    if !path.exists() || out.iter().any(|f| f.check.status == CheckStatus::Fail) {
        return out;
    }
    let Ok(conn) = open_for_inspection(&path) else {
        return out;
    };
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap_or(0) };
    let entries = count("SELECT COUNT(*) FROM merge_queue");
    let stale_where = format!("{ACTIVE} AND julianday(enqueued_at) < julianday('now', '-1 day')");
    let stale = count(&format!(
        "SELECT COUNT(*) FROM merge_queue WHERE {stale_where}"
    ));
    out.push(if stale == 0 {
        Check::pass(
            CATEGORY,
            "merge-queue.db staleness",
            format!("Merge queue has {entries} entries, none pending for over 24 h"),
        )
        .into()
    } else {
        Finding::fixable(
            Check::warn(
                CATEGORY,
                "merge-queue.db staleness",
                format!(
                    "{stale} merge-queue entries have been pending or merging for over 24 h: \
                     merge them (ov merge --branch <b>) or run ov doctor --fix to drop them"
                ),
            ),
            vec![Fix::ExecuteSql {
                path: path.clone(),
                sql: format!("DELETE FROM merge_queue WHERE {stale_where}"),
                what: format!("delete {stale} stale merge-queue entries"),
            }],
        )
    });
    let dupes = count(&format!(
        "SELECT COALESCE(SUM(n - 1), 0) FROM \
         (SELECT COUNT(*) AS n FROM merge_queue WHERE {ACTIVE} GROUP BY branch_name HAVING n > 1)"
    ));
    out.push(if dupes == 0 {
        Check::pass(
            CATEGORY,
            "merge-queue.db duplicates",
            "No branch is queued twice",
        )
        .into()
    } else {
        Finding::fixable(
            Check::warn(
                CATEGORY,
                "merge-queue.db duplicates",
                format!(
                    "{dupes} merge-queue entries repeat a branch that is already queued: \
                     run ov doctor --fix to keep only the newest entry per branch"
                ),
            ),
            vec![Fix::ExecuteSql {
                path,
                sql: format!(
                    "DELETE FROM merge_queue WHERE {ACTIVE} AND id NOT IN \
                     (SELECT MAX(id) FROM merge_queue WHERE {ACTIVE} GROUP BY branch_name)"
                ),
                what: format!("delete {dupes} duplicate merge-queue entries"),
            }],
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use overstory_core::Layout;

    #[test]
    fn stale_and_duplicate_active_entries_warn_and_the_fixes_drop_them() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        let path = layout.merge_queue_db();
        let conn = overstory_core::db::open(&path, MIGRATIONS).unwrap();
        conn.execute_batch(
            "INSERT INTO merge_queue (branch_name, task_id, agent_name, enqueued_at, status) VALUES
               ('old', 't1', 'a', '2020-01-01T00:00:00.000Z', 'pending'),
               ('done', 't2', 'a', '2020-01-01T00:00:00.000Z', 'merged'),
               ('dup', 't3', 'a', strftime('%Y-%m-%dT%H:%M:%fZ','now'), 'pending'),
               ('dup', 't3', 'a', strftime('%Y-%m-%dT%H:%M:%fZ','now'), 'pending');",
        )
        .unwrap();
        drop(conn);
        let f = findings(&Probe::with_defaults(&layout));
        let stale = f
            .iter()
            .find(|f| f.check.name == "merge-queue.db staleness")
            .unwrap();
        assert_eq!(stale.check.status, CheckStatus::Warn);
        assert!(
            stale.check.message.starts_with("1 merge-queue entries"),
            "{}",
            stale.check.message
        );
        let dupes = f
            .iter()
            .find(|f| f.check.name == "merge-queue.db duplicates")
            .unwrap();
        assert_eq!(dupes.check.status, CheckStatus::Warn);
        for fix in stale.fixes.iter().chain(&dupes.fixes) {
            fix.apply().unwrap();
        }
        let conn = open_for_inspection(&path).unwrap();
        let left: Vec<(i64, String)> = conn
            .prepare("SELECT id, branch_name FROM merge_queue ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(left, [(2, "done".to_owned()), (4, "dup".to_owned())]);
        let f = findings(&Probe::with_defaults(&layout));
        assert!(
            f.iter().all(|f| f.check.status == CheckStatus::Pass),
            "{f:?}"
        );
    }
}
