//! Opening SQLite databases the same way everywhere.
//!
//! Every store opens its file through [`open`], which sets the busy timeout
//! first (so concurrent openers wait rather than fail), switches to WAL,
//! sets `synchronous=NORMAL`, and applies the store's [`Migration`]s inside a
//! `BEGIN IMMEDIATE` transaction, recording progress in `PRAGMA user_version`.
//!
//! Connections do not checkpoint the WAL when they close (a short-lived
//! command would otherwise pay two fsyncs per database it touched); instead
//! an open that finds the WAL larger than 1 MiB truncates it, and long-lived
//! connections checkpoint automatically every ~1 MiB.
//!
//! Migrations must be idempotent (`CREATE TABLE IF NOT EXISTS`, column adds
//! guarded by [`has_column`]): a database written by the TypeScript original
//! has `user_version = 0` but may already hold the tables, and it must open
//! without loss.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction};

use crate::error::DbError;

/// How long a connection waits for another writer before giving up.
pub const BUSY_TIMEOUT_MS: u64 = 5000;

/// One schema step. `version` values must be 1, 2, 3, … in order.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The `user_version` this step brings the database to.
    pub version: u32,
    /// Applies the step. Runs inside a write transaction.
    pub apply: fn(&Transaction<'_>) -> rusqlite::Result<()>,
}

/// Opens (creating if missing) the database at `path` and brings its schema
/// up to date with `migrations`.
///
/// # Errors
/// [`DbError::Open`] when the file cannot be opened, [`DbError::Corrupt`]
/// when it is not a SQLite database, [`DbError::Busy`] when another process
/// holds it locked past the busy timeout, [`DbError::Migrate`] when a step
/// fails (the step is rolled back; nothing is half-applied).
pub fn open(path: &Path, migrations: &[Migration]) -> Result<Connection, DbError> {
    open_with_page_size(path, migrations, None)
}

/// Like [`open`], but a database created by this call gets pages of
/// `page_size` bytes (a power of two from 512 to 65536). Larger pages make
/// shallower indexes, which pays off for append-heavy tables with several
/// indexes. An existing database keeps its page size.
///
/// # Errors
/// As [`open`].
pub fn open_with_page_size(
    path: &Path,
    migrations: &[Migration],
    page_size: Option<u32>,
) -> Result<Connection, DbError> {
    let conn = Connection::open(path).map_err(|source| DbError::Open {
        path: path.to_owned(),
        source,
    })?;
    if let Some(size) = page_size {
        // Only takes effect before the first page is written.
        conn.pragma_update(None, "page_size", size)
            .map_err(|e| DbError::query("set the page size", path, e))?;
    }
    configure(&conn, path)?;
    truncate_large_wal(&conn, path);
    migrate(conn, path, migrations)
}

/// The WAL size past which opening a connection truncates it.
pub const WAL_TRUNCATE_BYTES: u64 = 1024 * 1024;

/// Truncates the WAL when it has grown past [`WAL_TRUNCATE_BYTES`].
///
/// Connections do not checkpoint on close, and a new connection rebuilds the
/// WAL index without knowing which frames an earlier one checkpointed, so
/// SQLite alone would let the WAL grow for as long as no two connections
/// overlap. Checking at open bounds it. Never waits: if another connection
/// is busy, a later open does it.
fn truncate_large_wal(conn: &Connection, path: &Path) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let big = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_TRUNCATE_BYTES);
    if !big {
        return;
    }
    let _ = conn.busy_timeout(Duration::ZERO);
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    let _ = conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS));
}

/// Opens an existing database without creating it or changing its schema.
///
/// # Errors
/// As [`open`]; a missing file is [`DbError::Open`].
pub fn open_existing(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| DbError::Open {
        path: path.to_owned(),
        source,
    })?;
    configure(&conn, path)?;
    Ok(conn)
}

fn configure(conn: &Connection, path: &Path) -> Result<(), DbError> {
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
        .map_err(|source| DbError::Open {
            path: path.to_owned(),
            source,
        })?;
    // journal_mode returns a row; it is also the first statement that reads
    // the file header, so a corrupt file is reported here.
    let mode = enable_wal(conn, path)?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        tracing::warn!(path = %path.display(), mode, "database did not switch to WAL");
    }
    conn.execute_batch(
        "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; \
         PRAGMA wal_autocheckpoint=256; PRAGMA journal_size_limit=1048576;",
    )
    .map_err(|e| DbError::query("configure the connection", path, e))?;
    // Most connections live for one short command. By default the last one
    // to close checkpoints and deletes the WAL (two fsyncs, ~10-25 ms on a
    // virtual disk) every time; instead the WAL is kept between commands and
    // truncated by the next open once it passes WAL_TRUNCATE_BYTES
    // (see truncate_large_wal); long-lived connections checkpoint
    // automatically every ~1 MiB.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .map_err(|e| DbError::query("configure the connection", path, e))?;
    Ok(())
}

/// Switches the file to WAL. When several connections create the same
/// file at once, SQLite can answer the switch with SQLITE_BUSY without
/// consulting the busy handler, so busy answers are retried here for up to
/// the busy timeout.
fn enable_wal(conn: &Connection, path: &Path) -> Result<String, DbError> {
    let deadline = std::time::Instant::now() + Duration::from_millis(BUSY_TIMEOUT_MS);
    loop {
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) => return Ok(mode),
            Err(e) => {
                let err = DbError::query("enable WAL", path, e);
                if !err.is_busy() || std::time::Instant::now() >= deadline {
                    return Err(err);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

fn migrate(
    mut conn: Connection,
    path: &Path,
    migrations: &[Migration],
) -> Result<Connection, DbError> {
    let target = migrations.last().map_or(0, |m| m.version);
    let current =
        user_version(&conn).map_err(|e| DbError::query("read the schema version", path, e))?;
    if current >= target {
        return Ok(conn);
    }
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| DbError::query("start a schema migration", path, e))?;
    // Re-read under the write lock: another process may have migrated meanwhile.
    let current =
        user_version(&tx).map_err(|e| DbError::query("read the schema version", path, e))?;
    for m in migrations.iter().filter(|m| m.version > current) {
        (m.apply)(&tx).map_err(|source| DbError::Migrate {
            path: path.to_owned(),
            version: m.version,
            source,
        })?;
        tx.pragma_update(None, "user_version", m.version)
            .map_err(|source| DbError::Migrate {
                path: path.to_owned(),
                version: m.version,
                source,
            })?;
    }
    tx.commit()
        .map_err(|e| DbError::query("commit a schema migration", path, e))?;
    Ok(conn)
}

/// Returns the database's `PRAGMA user_version`.
///
/// # Errors
/// Any SQLite error reading the pragma.
pub fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Returns whether `table` has a column named `column`.
///
/// # Errors
/// Any SQLite error reading the table's info.
pub fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?;
    stmt.exists([table, column])
}

/// Returns whether a table named `table` exists.
///
/// # Errors
/// Any SQLite error reading the schema.
pub fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    let mut stmt =
        conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?;
    stmt.exists([table])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
        tx.execute_batch("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, a TEXT)")
    }

    fn v2(tx: &Transaction<'_>) -> rusqlite::Result<()> {
        if !has_column(tx, "t", "b")? {
            tx.execute_batch("ALTER TABLE t ADD COLUMN b TEXT")?;
        }
        Ok(())
    }

    const MIGRATIONS: &[Migration] = &[
        Migration {
            version: 1,
            apply: v1,
        },
        Migration {
            version: 2,
            apply: v2,
        },
    ];

    #[test]
    fn opens_in_wal_and_records_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let conn = open(&path, MIGRATIONS).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 2);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(has_column(&conn, "t", "b").unwrap());
        drop(conn);
        // Re-opening is a no-op.
        let conn = open(&path, MIGRATIONS).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 2);
    }

    #[test]
    fn upgrades_a_database_made_without_user_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t (a) VALUES ('kept');")
                .unwrap();
        }
        let conn = open(&path, MIGRATIONS).unwrap();
        let a: String = conn.query_row("SELECT a FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(a, "kept");
        assert!(has_column(&conn, "t", "b").unwrap());
    }

    #[test]
    fn corrupt_file_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.db");
        std::fs::write(
            &path,
            b"this is not a database, just some text that is long enough",
        )
        .unwrap();
        let err = open(&path, MIGRATIONS).unwrap_err();
        assert!(matches!(err, DbError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("bad.db"));
    }
}

#[cfg(test)]
mod wal_tests {
    use super::*;

    fn create(tx: &Transaction<'_>) -> rusqlite::Result<()> {
        tx.execute_batch("CREATE TABLE IF NOT EXISTS t (b TEXT)")
    }

    #[test]
    fn wal_stays_near_one_mebibyte_across_short_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let wal = dir.path().join("w.db-wal");
        let migrations = [Migration {
            version: 1,
            apply: create,
        }];
        let mut sizes = Vec::new();
        for _ in 0..40 {
            let conn = open(&path, &migrations).unwrap();
            let n: i64 = conn
                .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 256);
            conn.execute_batch("BEGIN").unwrap();
            for _ in 0..40 {
                conn.execute("INSERT INTO t VALUES (?1)", ["x".repeat(2000)])
                    .unwrap();
            }
            conn.execute_batch("COMMIT").unwrap();
            drop(conn);
            sizes.push(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        }
        assert!(sizes.iter().all(|&n| n <= 2 * 1024 * 1024), "{sizes:?}");
    }
}
