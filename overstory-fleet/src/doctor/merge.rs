//! Category `merge`: `merge-queue.db` is readable and holds the queue
//! (checked against overstory-merge's own migrations), no active entry is
//! stale (over 24 h), which merge locks are held right now, and whether a
//! killed merge left temporary worktrees behind.

use overstory_core::doctor::{
    Check, CheckStatus, Finding, Fix, database_findings, open_for_inspection,
};

use super::Probe;

const CATEGORY: &str = "merge";
const FILE: &str = "merge-queue.db";

const ACTIVE: &str = "status IN ('pending','merging')";

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let path = p.layout.merge_queue_db();
    let mut out = database_findings(CATEGORY, FILE, &path, overstory_merge::MIGRATIONS);
    out.extend(run_findings(p));
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
                path,
                sql: format!("DELETE FROM merge_queue WHERE {stale_where}"),
                what: format!("delete {stale} stale merge-queue entries"),
            }],
        )
    });
    out
}

/// The merge locks held right now (a merge is running) and the temporary
/// worktrees a killed merge left.
fn run_findings(p: &Probe<'_>) -> Vec<Finding> {
    let mut held = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p.layout.dir()) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(target) = name
                .strip_prefix("merge-")
                .and_then(|n| n.strip_suffix(".lock"))
                && let Some(who) = overstory_merge::lock_holder(&e.path())
            {
                held.push(format!("{target} ({who})"));
            }
        }
    }
    held.sort();
    let locks = Check::pass(
        CATEGORY,
        "merge locks",
        if held.is_empty() {
            "No merge is running".to_owned()
        } else {
            format!("A merge is running into {}", held.join(", "))
        },
    );
    let left = overstory_merge::leftovers(p.layout);
    let scratch = if left.is_empty() {
        Check::pass(
            CATEGORY,
            "merge worktrees",
            "No temporary merge worktree was left behind",
        )
    } else {
        let names: Vec<String> = left
            .iter()
            .map(|d| {
                d.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            })
            .collect();
        Check::warn(
            CATEGORY,
            "merge worktrees",
            format!(
                "{} temporary merge worktree(s) left by a killed merge under {} ({}): \
                 the next ov merge removes them and retries their entries",
                left.len(),
                overstory_merge::scratch_root(p.layout).display(),
                names.join(", ")
            ),
        )
    };
    vec![locks.into(), scratch.into()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use overstory_core::Layout;

    fn check<'a>(f: &'a [Finding], name: &str) -> &'a Finding {
        f.iter()
            .find(|f| f.check.name == name)
            .unwrap_or_else(|| panic!("no {name} in {f:?}"))
    }

    #[test]
    fn stale_active_entries_warn_and_the_fix_drops_them() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        let path = layout.merge_queue_db();
        drop(overstory_merge::MergeQueue::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO merge_queue (branch_name, task_id, agent_name, enqueued_at, status) VALUES
               ('old', 't1', 'a', '2020-01-01T00:00:00.000Z', 'pending'),
               ('done', 't2', 'a', '2020-01-01T00:00:00.000Z', 'merged'),
               ('new', 't3', 'a', strftime('%Y-%m-%dT%H:%M:%fZ','now'), 'pending');",
        )
        .unwrap();
        drop(conn);
        let f = findings(&Probe::with_defaults(&layout));
        assert_eq!(
            check(&f, "merge-queue.db schema").check.status,
            CheckStatus::Pass
        );
        let stale = check(&f, "merge-queue.db staleness");
        assert_eq!(stale.check.status, CheckStatus::Warn);
        assert!(
            stale.check.message.starts_with("1 merge-queue entries"),
            "{}",
            stale.check.message
        );
        for fix in &stale.fixes {
            fix.apply().unwrap();
        }
        let q = overstory_merge::MergeQueue::open(&path).unwrap();
        let left: Vec<String> = q
            .list(None)
            .unwrap()
            .into_iter()
            .map(|e| e.branch_name)
            .collect();
        assert_eq!(left, ["done", "new"]);
        let f = findings(&Probe::with_defaults(&layout));
        assert!(
            f.iter().all(|f| f.check.status == CheckStatus::Pass),
            "{f:?}"
        );
    }

    #[test]
    fn held_locks_and_leftover_worktrees_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        let f = findings(&Probe::with_defaults(&layout));
        assert_eq!(
            check(&f, "merge locks").check.message,
            "No merge is running"
        );
        assert_eq!(check(&f, "merge worktrees").check.status, CheckStatus::Pass);

        let lock =
            overstory_merge::MergeLock::acquire(&layout, "main", overstory_merge::LockWait::NoWait)
                .unwrap();
        // A worktree whose owner is alive (this process) is not left over;
        // one whose owner is gone is.
        let root = overstory_merge::scratch_root(&layout);
        for (name, pid) in [
            ("merge-live", std::process::id()),
            ("merge-dead", 0x7fff_fff0),
        ] {
            std::fs::create_dir_all(root.join(name)).unwrap();
            std::fs::write(root.join(format!("{name}.owner")), format!("{pid}\n")).unwrap();
        }
        let f = findings(&Probe::with_defaults(&layout));
        let locks = &check(&f, "merge locks").check.message;
        assert!(
            locks.starts_with("A merge is running into main (pid ")
                && locks.contains(&std::process::id().to_string()),
            "{locks}"
        );
        let wt = &check(&f, "merge worktrees").check;
        assert_eq!(wt.status, CheckStatus::Warn);
        assert!(
            wt.message.contains("merge-dead") && !wt.message.contains("merge-live"),
            "{}",
            wt.message
        );
        lock.release();
        let f = findings(&Probe::with_defaults(&layout));
        assert_eq!(
            check(&f, "merge locks").check.message,
            "No merge is running"
        );
    }
}
