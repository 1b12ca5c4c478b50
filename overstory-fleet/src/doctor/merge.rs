//! Category `merge`: `merge-queue.db` is readable and holds the queue
//! (checked against overstory-merge's own migrations), no active entry is
//! stale (over 24 h), which merge locks are held right now, and whether a
//! killed merge left temporary worktrees behind.
//!
//! `--fix` removes those worktrees (killing any gate or model call they
//! left running, and putting their interrupted entries back to `pending`)
//! through [`overstory_merge::sweep_idle`] — the same sweep every merge run
//! starts with — and only while no merge lock is held, so a running
//! `ov merge` is never disturbed. Nothing outside `.overstory/merge-worktrees/`
//! is touched.

use overstory_core::doctor::{
    Check, CheckStatus, Finding, Fix, database_findings, open_for_inspection,
};
use overstory_core::{Config, Layout};

use super::Probe;

const CATEGORY: &str = "merge";
const FILE: &str = "merge-queue.db";

const ACTIVE: &str = "status IN ('pending','merging')";

/// The check about leftover worktrees (the one `--fix` repairs).
pub(super) const WORKTREES_CHECK: &str = "merge worktrees";

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
            WORKTREES_CHECK,
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
        let what = if held.is_empty() {
            "run ov doctor --fix (or the next ov merge) to remove them and retry their entries"
                .to_owned()
        } else {
            "a merge is running, so ov doctor --fix leaves them alone until it ends; \
             the next ov merge removes them and retries their entries"
                .to_owned()
        };
        Check::warn(
            CATEGORY,
            WORKTREES_CHECK,
            format!(
                "{} temporary merge worktree(s) left by a killed merge under {} ({}): {what}",
                left.len(),
                overstory_merge::scratch_root(p.layout).display(),
                names.join(", ")
            ),
        )
    };
    vec![locks.into(), scratch.into()]
}

/// What [`repair`] did.
pub(super) enum Repair {
    /// Nothing was left over, or a merge is running (the re-probe says so).
    Nothing,
    /// Leftovers were swept; what was done, in words.
    Done(String),
    /// The sweep failed: a failed check saying so.
    Failed(Check),
}

/// `--fix` for the leftover worktrees: sweeps them when no merge runs.
pub(super) fn repair(layout: &Layout, config: &Config) -> Repair {
    if overstory_merge::leftovers(layout).is_empty() {
        return Repair::Nothing;
    }
    let target = overstory_merge::default_target(layout, config);
    match overstory_merge::sweep_idle(layout, &target) {
        Ok(overstory_merge::IdleSweep::Busy { .. }) => Repair::Nothing,
        Ok(overstory_merge::IdleSweep::Swept(s)) => {
            let mut what = format!(
                "remove {} leftover merge worktree(s) under {}",
                s.worktrees,
                overstory_merge::scratch_root(layout).display()
            );
            if s.children_killed > 0 {
                what.push_str(&format!(
                    ", killing {} orphaned gate or model call(s)",
                    s.children_killed
                ));
            }
            if s.requeued > 0 {
                what.push_str(&format!(
                    ", putting {} interrupted merge-queue entries back to pending",
                    s.requeued
                ));
            }
            Repair::Done(what)
        }
        Err(e) => Repair::Failed(Check::fail(
            CATEGORY,
            &format!("{WORKTREES_CHECK} (fix)"),
            format!(
                "Could not remove the leftover merge worktrees: {}; remove them with \
                 git worktree remove --force <dir> once no merge runs",
                overstory_core::error::chain_text(&e)
            ),
        )),
    }
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

    #[test]
    fn fix_removes_dead_merge_worktrees_only_while_no_merge_runs() {
        use crate::doctor::{Category, DoctorOptions, run};
        let dir = tempfile::tempdir().unwrap();
        let git = overstory_core::git::Git::new(dir.path());
        git.run(&["init", "-q", "-b", "main"]).unwrap();
        git.run(&[
            "-c",
            "user.email=a@b.c",
            "-c",
            "user.name=A",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ])
        .unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        let root = overstory_merge::scratch_root(&layout);
        std::fs::create_dir_all(&root).unwrap();
        let dead = root.join("merge-2147483632-dead00");
        std::fs::write(root.join("merge-2147483632-dead00.owner"), "2147483632\n").unwrap();
        git.run(&[
            "worktree",
            "add",
            "--detach",
            "--quiet",
            &dead.to_string_lossy(),
            "main",
        ])
        .unwrap();
        let opts = DoctorOptions {
            category: Some(Category::Merge),
            fix: true,
            ..DoctorOptions::default()
        };

        let lock =
            overstory_merge::MergeLock::acquire(&layout, "main", overstory_merge::LockWait::NoWait)
                .unwrap();
        let report = run(&layout, &opts);
        assert!(dead.is_dir(), "a running merge keeps its neighbours");
        let wt = report
            .checks
            .iter()
            .find(|c| c.name == WORKTREES_CHECK)
            .unwrap();
        assert_eq!(wt.status, CheckStatus::Warn);
        assert!(wt.message.contains("a merge is running"), "{}", wt.message);
        assert!(!wt.fixed && report.fixed.is_empty(), "{report:?}");
        lock.release();

        let report = run(&layout, &opts);
        assert!(!dead.exists());
        assert_eq!(git.run(&["worktree", "list"]).unwrap().lines().count(), 1);
        let wt = report
            .checks
            .iter()
            .find(|c| c.name == WORKTREES_CHECK)
            .unwrap();
        assert_eq!(wt.status, CheckStatus::Pass);
        assert!(wt.fixed, "{wt:?}");
        assert!(
            report
                .fixed
                .iter()
                .any(|f| f.starts_with("remove 1 leftover merge worktree")),
            "{:?}",
            report.fixed
        );
    }
}
