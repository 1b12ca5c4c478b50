//! What `ov doctor` checks of `sessions.db` and `metrics.db`: each file is
//! readable, intact, in WAL mode and holds its tables, and every `sessions`
//! row decodes (rows another program wrote with names or states our types
//! reject are listed, not hidden).

use overstory_core::Layout;
use overstory_core::doctor::{Check, Finding, database_findings};

use crate::store::SessionStore;

/// The `databases` findings for `sessions.db` and `metrics.db`.
pub fn findings(layout: &Layout) -> Vec<Finding> {
    let path = layout.sessions_db();
    let mut out = database_findings("databases", "sessions.db", &path, crate::schema::MIGRATIONS);
    let healthy = out
        .iter()
        .all(|f| f.check.status != overstory_core::doctor::CheckStatus::Fail);
    if path.exists() && healthy {
        out.push(rows_check(&path).into());
    }
    out.extend(database_findings(
        "databases",
        "metrics.db",
        &layout.metrics_db(),
        crate::metrics::MIGRATIONS,
    ));
    out
}

/// Reads every session row with the tolerant reader and reports the ones
/// that do not decode.
fn rows_check(path: &std::path::Path) -> Check {
    const NAME: &str = "sessions.db rows";
    let read = SessionStore::open(path).and_then(|s| s.all_readable());
    match read {
        Err(e) => Check::fail(
            "databases",
            NAME,
            format!("Cannot read the sessions table: {e}"),
        ),
        Ok((good, bad)) if bad.is_empty() => Check::pass(
            "databases",
            NAME,
            format!("All {} session rows decode", good.len()),
        ),
        Ok((good, bad)) => {
            let list: Vec<String> = bad
                .iter()
                .map(|r| format!("\"{}\" ({})", r.agent_name, r.reason))
                .collect();
            Check::warn(
                "databases",
                NAME,
                format!(
                    "{} of {} session rows cannot be read and are skipped by ov status and dispatch: {}; \
                     another program wrote them — fix the values or remove the rows",
                    bad.len(),
                    good.len() + bad.len(),
                    list.join(", ")
                ),
            )
        }
    }
}
