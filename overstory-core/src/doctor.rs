//! The shape of one `ov doctor` check, shared by every crate that reports on
//! its own part of a project.
//!
//! Each crate that owns a part (fleet, merge, serve, …) returns its checks as
//! [`Check`] values; the CLI concatenates them, prints them and exits non-zero
//! when any has [`CheckStatus::Fail`].
//!
//! A check that `ov doctor --fix` can repair comes as a [`Finding`]: the
//! check plus the [`Fix`]es that would repair it. Fixes are data (create this
//! directory, remove that file, migrate this database), so a crate reports
//! what is wrong without acting, and the caller decides whether to apply
//! them. [`database_findings`] is the one probe of a SQLite file every store
//! uses: present, readable, intact, in WAL mode, and holding every table and
//! column its migrations create.
//!
//! ```
//! use overstory_core::doctor::{Check, CheckStatus};
//!
//! let c = Check::fail("databases", "mail.db", "mail.db is not a database: restore it or run `ov clean --mail`");
//! assert_eq!(c.status, CheckStatus::Fail);
//! assert_eq!(serde_json::to_value(&c).unwrap()["status"], "fail");
//! ```

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use crate::db::{self, Migration};
use crate::error::{DbError, FsError, ProcessError};

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Nothing to do.
    Pass,
    /// Works, but something deserves attention.
    Warn,
    /// Broken: `ov doctor` exits non-zero.
    Fail,
}

impl CheckStatus {
    /// The wire string: `pass`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

/// One check's result, as `ov doctor --json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The category, one of the original's thirteen (`dependencies`,
    /// `structure`, `config`, `databases`, `consistency`, `agents`, `merge`,
    /// `logs`, `version`, `ecosystem`, `providers`, `watchdog`, `serve`).
    pub category: String,
    /// A short name for what was checked.
    pub name: String,
    /// How it ended.
    pub status: CheckStatus,
    /// What was found and, unless it passed, what to do about it.
    pub message: String,
    /// Whether `ov doctor --fix` repaired what this check found.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixed: bool,
}

impl Check {
    fn new(category: &str, name: &str, status: CheckStatus, message: impl Into<String>) -> Check {
        Check {
            category: category.to_owned(),
            name: name.to_owned(),
            status,
            message: message.into(),
            fixed: false,
        }
    }

    /// A check that passed.
    pub fn pass(category: &str, name: &str, message: impl Into<String>) -> Check {
        Check::new(category, name, CheckStatus::Pass, message)
    }

    /// A check that warns.
    pub fn warn(category: &str, name: &str, message: impl Into<String>) -> Check {
        Check::new(category, name, CheckStatus::Warn, message)
    }

    /// A check that failed.
    pub fn fail(category: &str, name: &str, message: impl Into<String>) -> Check {
        Check::new(category, name, CheckStatus::Fail, message)
    }
}

/// A check and the fixes that repair what it found (none when it passed
/// or nothing can be done safely).
#[derive(Debug, Clone)]
pub struct Finding {
    /// The check as reported.
    pub check: Check,
    /// What `--fix` would do, in order.
    pub fixes: Vec<Fix>,
}

impl Finding {
    /// A finding nothing can fix.
    pub fn of(check: Check) -> Finding {
        Finding {
            check,
            fixes: Vec::new(),
        }
    }

    /// A finding repaired by `fixes`.
    pub fn fixable(check: Check, fixes: Vec<Fix>) -> Finding {
        Finding { check, fixes }
    }
}

impl From<Check> for Finding {
    fn from(check: Check) -> Finding {
        Finding::of(check)
    }
}

/// One safe, file-level repair.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fix {
    /// Creates a directory (and its parents).
    CreateDir(PathBuf),
    /// Removes a file (a stale pid file, a leftover temp file); a file that
    /// is already gone counts as removed.
    RemoveFile(PathBuf),
    /// Appends lines to a text file, creating it when missing.
    AppendLines {
        /// The file.
        path: PathBuf,
        /// The lines, without newlines.
        lines: Vec<String>,
    },
    /// Opens a database through its store's migrations (switching it to WAL)
    /// and re-applies every (idempotent) step, restoring missing tables and
    /// columns without touching rows.
    MigrateDatabase {
        /// The database file.
        path: PathBuf,
        /// The store's migrations.
        migrations: &'static [Migration],
    },
    /// Runs SQL against a database (deleting stale or duplicate rows).
    ExecuteSql {
        /// The database file.
        path: PathBuf,
        /// The statements.
        sql: String,
        /// What they do, as an action (`delete 2 stale merge-queue entries`).
        what: String,
    },
    /// Sends SIGTERM to a process (a second daemon of this project).
    Terminate {
        /// The process.
        pid: i32,
        /// What it is, in words (`watchdog`).
        what: String,
    },
}

/// Why a [`Fix`] could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixError {
    /// A file operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A database could not be opened or changed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A process could not be signalled.
    #[error(transparent)]
    Process(#[from] ProcessError),
}

impl Fix {
    /// Describes the fix as an action (`create directory …`), for the
    /// `fixed` list and for messages about a fix that failed.
    pub fn describe(&self) -> String {
        match self {
            Fix::CreateDir(p) => format!("create directory {}", p.display()),
            Fix::RemoveFile(p) => format!("remove {}", p.display()),
            Fix::AppendLines { path, lines } => {
                format!("add {} to {}", lines.join(" "), path.display())
            }
            Fix::MigrateDatabase { path, .. } => {
                format!(
                    "migrate {} (WAL, missing tables and columns)",
                    path.display()
                )
            }
            Fix::ExecuteSql { what, .. } => what.clone(),
            Fix::Terminate { pid, what } => format!("send SIGTERM to {what} pid {pid}"),
        }
    }

    /// Applies the fix.
    ///
    /// # Errors
    /// The file, database or signal error that stopped it.
    pub fn apply(&self) -> Result<(), FixError> {
        match self {
            Fix::CreateDir(p) => {
                std::fs::create_dir_all(p).map_err(|e| FsError::new("create directory", p, e))?;
            }
            Fix::RemoveFile(p) => match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(FsError::new("remove", p, e).into()),
            },
            Fix::AppendLines { path, lines } => {
                let mut text = match std::fs::read_to_string(path) {
                    Ok(t) => t,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                    Err(e) => return Err(FsError::new("read", path, e).into()),
                };
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                for line in lines {
                    text.push_str(line);
                    text.push('\n');
                }
                crate::fsio::write_atomic(path, text)?;
            }
            Fix::MigrateDatabase { path, migrations } => {
                let mut conn = db::open(path, migrations)?;
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(|e| DbError::query("start a repair", path, e))?;
                for m in migrations.iter() {
                    (m.apply)(&tx).map_err(|source| DbError::Migrate {
                        path: path.clone(),
                        version: m.version,
                        source,
                    })?;
                }
                tx.commit()
                    .map_err(|e| DbError::query("commit a repair", path, e))?;
            }
            Fix::ExecuteSql { path, sql, .. } => {
                let conn = db::open_existing(path)?;
                conn.execute_batch(sql)
                    .map_err(|e| DbError::query("repair", path, e))?;
            }
            Fix::Terminate { pid, .. } => {
                crate::process::signal_process(*pid, crate::process::Sig::Term)?;
            }
        }
        Ok(())
    }
}

/// Opens a database for inspection only: read-only, no schema change, no
/// journal-mode switch. A missing file is an error (it is never created).
///
/// # Errors
/// [`DbError::Open`] when it cannot be opened; [`DbError::Corrupt`] when it
/// is not a SQLite database.
pub fn open_for_inspection(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| DbError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.busy_timeout(std::time::Duration::from_millis(db::BUSY_TIMEOUT_MS))
        .map_err(|e| DbError::query("configure the connection", path, e))?;
    // The first statement that reads the header: garbage fails here.
    conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| DbError::query("read the schema", path, e))?;
    Ok(conn)
}

/// The tables and columns a store's migrations create, read from a
/// scratch in-memory database: the one definition of a store's schema is
/// its migrations.
fn expected_schema(migrations: &[Migration]) -> Result<Vec<(String, Vec<String>)>, DbError> {
    let conn = db::open(Path::new(":memory:"), migrations)?;
    schema_of(&conn, Path::new(":memory:"))
}

fn schema_of(conn: &Connection, path: &Path) -> Result<Vec<(String, Vec<String>)>, DbError> {
    let err = |e| DbError::query("read the schema", path, e);
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .map_err(err)?;
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(Iterator::collect)
        .map_err(err)?;
    let mut out = Vec::new();
    for table in tables {
        let mut cols = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .map_err(err)?;
        let names: Vec<String> = cols
            .query_map([&table], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(err)?;
        out.push((table, names));
    }
    Ok(out)
}

/// Probes one database file the way `ov doctor` reports it.
///
/// Checks, each named `<file> …`: that it exists (a missing file passes: it
/// is created on first use), opens and is a SQLite database (else fail),
/// passes `PRAGMA quick_check` (else fail), holds every table and column
/// `migrations` create (else fail, fixed by migrating), and is in WAL mode
/// (else warn, fixed by migrating). Read-only unless a fix is applied.
pub fn database_findings(
    category: &str,
    file: &str,
    path: &Path,
    migrations: &'static [Migration],
) -> Vec<Finding> {
    if !path.exists() {
        return vec![
            Check::pass(
                category,
                file,
                format!("{file} does not exist yet; it is created on first use"),
            )
            .into(),
        ];
    }
    let shown = path.display();
    let conn = match open_for_inspection(path) {
        Ok(c) => c,
        Err(e) => {
            let cause =
                std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string);
            return vec![
                Check::fail(
                    category,
                    file,
                    format!(
                        "{shown} is not a readable SQLite database ({cause}): \
                         move it aside (mv {shown} {shown}.corrupt) and overstory creates a new, empty one; \
                         what it held is lost unless you restore it from a backup"
                    ),
                )
                .into(),
            ];
        }
    };
    let mut out = Vec::new();
    let integrity: Result<String, _> = conn.query_row("PRAGMA quick_check", [], |r| r.get(0));
    match integrity {
        Ok(ok) if ok == "ok" => {}
        Ok(problem) => out.push(
            Check::fail(
                category,
                &format!("{file} integrity"),
                format!(
                    "{shown} fails SQLite's integrity check ({problem}): \
                     back it up, then try `sqlite3 {shown} .recover` or move it aside"
                ),
            )
            .into(),
        ),
        Err(e) => out.push(
            Check::fail(
                category,
                &format!("{file} integrity"),
                format!(
                    "{shown} cannot be checked ({e}): move it aside or restore it from a backup"
                ),
            )
            .into(),
        ),
    }
    let migrate = || Fix::MigrateDatabase {
        path: path.to_owned(),
        migrations,
    };
    let have = schema_of(&conn, path).unwrap_or_default();
    let want = expected_schema(migrations).unwrap_or_default();
    let mut missing = Vec::new();
    for (table, cols) in &want {
        match have.iter().find(|(t, _)| t == table) {
            None => missing.push(format!("table {table}")),
            Some((_, got)) => missing.extend(
                cols.iter()
                    .filter(|c| !got.contains(c))
                    .map(|c| format!("column {table}.{c}")),
            ),
        }
    }
    if missing.is_empty() {
        let names: Vec<&str> = want.iter().map(|(t, _)| t.as_str()).collect();
        out.push(
            Check::pass(
                category,
                &format!("{file} schema"),
                format!("{file} has the expected tables ({})", names.join(", ")),
            )
            .into(),
        );
    } else {
        out.push(Finding::fixable(
            Check::fail(
                category,
                &format!("{file} schema"),
                format!(
                    "{file} lacks {}: run `ov doctor --fix` to add them (rows are kept)",
                    missing.join(", ")
                ),
            ),
            vec![migrate()],
        ));
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap_or_default();
    if mode.eq_ignore_ascii_case("wal") {
        out.push(
            Check::pass(
                category,
                &format!("{file} journal"),
                format!("{file} is in WAL mode"),
            )
            .into(),
        );
    } else {
        out.push(Finding::fixable(
            Check::warn(
                category,
                &format!("{file} journal"),
                format!(
                    "{file} is in {mode} journal mode, not WAL: concurrent agents may block; \
                     run `ov doctor --fix` to switch it"
                ),
            ),
            vec![migrate()],
        ));
    }
    out
}

/// The `databases` findings for `events.db` (see [`database_findings`]).
pub fn events_findings(layout: &crate::Layout) -> Vec<Finding> {
    database_findings(
        "databases",
        "events.db",
        &layout.events_db(),
        crate::events::MIGRATIONS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idempotent, as every store's migrations are.
    fn create(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
        tx.execute_batch("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)")?;
        if !db::has_column(tx, "t", "b")? {
            tx.execute_batch("ALTER TABLE t ADD COLUMN b TEXT")?;
        }
        Ok(())
    }

    const MIGRATIONS: &[Migration] = &[Migration {
        version: 1,
        apply: create,
    }];

    fn statuses(f: &[Finding]) -> Vec<(String, CheckStatus)> {
        f.iter()
            .map(|f| (f.check.name.clone(), f.check.status))
            .collect()
    }

    #[test]
    fn a_missing_database_passes_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let f = database_findings("databases", "x.db", &path, MIGRATIONS);
        assert_eq!(statuses(&f), [("x.db".to_owned(), CheckStatus::Pass)]);
        assert!(!path.exists());
    }

    #[test]
    fn garbage_fails_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        std::fs::write(
            &path,
            b"garbage garbage garbage garbage garbage garbage garbage",
        )
        .unwrap();
        let f = database_findings("databases", "x.db", &path, MIGRATIONS);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].check.status, CheckStatus::Fail);
        assert!(
            f[0].check
                .message
                .contains("x.db is not a readable SQLite database"),
            "{}",
            f[0].check.message
        );
    }

    #[test]
    fn a_missing_column_fails_and_the_fix_adds_it_keeping_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t (a) VALUES ('kept'); PRAGMA user_version = 1;").unwrap();
        }
        let f = database_findings("databases", "x.db", &path, MIGRATIONS);
        let schema = f.iter().find(|f| f.check.name == "x.db schema").unwrap();
        assert_eq!(schema.check.status, CheckStatus::Fail);
        assert!(
            schema.check.message.contains("column t.b"),
            "{}",
            schema.check.message
        );
        let journal = f.iter().find(|f| f.check.name == "x.db journal").unwrap();
        assert_eq!(journal.check.status, CheckStatus::Warn);
        for fix in &schema.fixes {
            fix.apply().unwrap();
        }
        let f = database_findings("databases", "x.db", &path, MIGRATIONS);
        assert!(
            f.iter().all(|f| f.check.status == CheckStatus::Pass),
            "{f:?}"
        );
        let c = Connection::open(&path).unwrap();
        let a: String = c.query_row("SELECT a FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(a, "kept");
    }

    #[test]
    fn file_fixes_create_remove_and_append() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b");
        Fix::CreateDir(d.clone()).apply().unwrap();
        assert!(d.is_dir());
        let f = dir.path().join("pid");
        std::fs::write(&f, "1\n").unwrap();
        Fix::RemoveFile(f.clone()).apply().unwrap();
        Fix::RemoveFile(f.clone()).apply().unwrap();
        assert!(!f.exists());
        let g = dir.path().join(".gitignore");
        std::fs::write(&g, "*").unwrap();
        Fix::AppendLines {
            path: g.clone(),
            lines: vec!["!x".into()],
        }
        .apply()
        .unwrap();
        assert_eq!(std::fs::read_to_string(&g).unwrap(), "*\n!x\n");
    }
}
