//! `RunStore`: runs group the sessions of one coordinator's work, and
//! `current-run.txt` names the active one.
//!
//! A run's `agentCount` is derived on every read from the sessions that
//! name it, so it can never drift from the rows it counts.

use std::path::{Path, PathBuf};

use overstory_core::{DbError, Layout, clock, db};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, params, params_from_iter};
use serde::{Deserialize, Serialize};

use crate::error::SessionError;
use crate::schema::MIGRATIONS;

/// The status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Work is going on.
    Active,
    /// Finished.
    Completed,
    /// Abandoned after a failure.
    Failed,
}

impl RunStatus {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Completed, Self::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A run, serialised with the original's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// `run-<ISO with [:.] → ->`.
    pub id: String,
    /// When the run started.
    pub started_at: String,
    /// When it was completed.
    pub completed_at: Option<String>,
    /// Sessions naming this run, counted at read time.
    pub agent_count: i64,
    /// The session id (`session-<ms>-<agent>`) of the coordinator that started the run.
    /// `None` when `ov sling` started it.
    pub coordinator_session_id: Option<String>,
    /// The coordinator's agent name (`coordinator`); `None` when no coordinator started the run.
    pub coordinator_name: Option<String>,
    /// Whether the run is active, completed or failed.
    pub status: RunStatus,
}

impl Run {
    /// Returns how long the run has lasted (until `completed_at`, else `now_ms`), in ms.
    pub fn duration_ms(&self, now_ms: i64) -> i64 {
        let start = clock::parse_rfc3339(&self.started_at).unwrap_or(now_ms);
        let end = self
            .completed_at
            .as_deref()
            .and_then(clock::parse_rfc3339)
            .unwrap_or(now_ms);
        (end - start).max(0)
    }
}

/// Formats a duration compactly: `45s`, `3m 45s`, `2h 15m`, `3d 4h`.
pub fn format_duration_compact(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m, sec) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

/// A run to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// The id (see [`overstory_core::ids::run_id`]).
    pub id: String,
    /// When the run started (RFC 3339, `2026-03-05T14:52:26.089Z`).
    pub started_at: String,
    /// The `sessions.db` id of the coordinator starting the run, if one does.
    pub coordinator_session_id: Option<String>,
    /// The agent name of the coordinator starting the run, if one does.
    pub coordinator_name: Option<String>,
    /// The status (normally active).
    pub status: RunStatus,
}

/// The open `runs` table of `sessions.db`.
#[derive(Debug)]
pub struct RunStore {
    conn: Connection,
    path: PathBuf,
}

const SELECT: &str = "SELECT id, started_at, completed_at, \
    (SELECT COUNT(*) FROM sessions WHERE sessions.run_id = runs.id), \
    coordinator_session_id, coordinator_name, status FROM runs";

impl RunStore {
    /// Opens (creating if missing) the runs of `sessions.db` at `path`.
    ///
    /// # Errors
    /// [`DbError`] when the file cannot be opened or migrated.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        Ok(Self {
            conn: db::open(path, MIGRATIONS)?,
            path: path.to_owned(),
        })
    }

    fn err(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> DbError + '_ {
        move |e| DbError::query(action, &self.path, e)
    }

    /// Creates a run. A duplicate id is an error.
    ///
    /// # Errors
    /// [`DbError`] when the insert fails (duplicate id).
    pub fn create(&self, r: &NewRun) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT INTO runs (id, started_at, completed_at, agent_count, \
                 coordinator_session_id, coordinator_name, status) VALUES (?1, ?2, NULL, 0, ?3, ?4, ?5)",
                params![
                    r.id,
                    r.started_at,
                    r.coordinator_session_id,
                    r.coordinator_name,
                    r.status.as_str()
                ],
            )
            .map_err(self.err("create a run"))?;
        Ok(())
    }

    /// Returns the run `id`.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn get(&self, id: &str) -> Result<Option<Run>, DbError> {
        Ok(self
            .query(
                &format!("{SELECT} WHERE id = ?1"),
                vec![SqlValue::Text(id.into())],
            )?
            .into_iter()
            .next())
    }

    /// Returns the newest active run.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn active(&self) -> Result<Option<Run>, DbError> {
        Ok(self
            .query(
                &format!("{SELECT} WHERE status = 'active' ORDER BY started_at DESC LIMIT 1"),
                Vec::new(),
            )?
            .into_iter()
            .next())
    }

    /// Returns the newest active run of the coordinator `name`.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn active_for_coordinator(&self, name: &str) -> Result<Option<Run>, DbError> {
        Ok(self
            .query(
                &format!(
                    "{SELECT} WHERE status = 'active' AND coordinator_name = ?1 \
                     ORDER BY started_at DESC LIMIT 1"
                ),
                vec![SqlValue::Text(name.into())],
            )?
            .into_iter()
            .next())
    }

    /// Returns runs newest first, optionally only of one status, at most `limit`.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn list(
        &self,
        limit: Option<usize>,
        status: Option<RunStatus>,
    ) -> Result<Vec<Run>, DbError> {
        let mut sql = SELECT.to_owned();
        let mut args = Vec::new();
        if let Some(s) = status {
            sql.push_str(" WHERE status = ?");
            args.push(SqlValue::Text(s.as_str().into()));
        }
        sql.push_str(" ORDER BY started_at DESC");
        if let Some(n) = limit {
            sql.push_str(" LIMIT ?");
            args.push(SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX)));
        }
        self.query(&sql, args)
    }

    /// Marks a run completed or failed and stamps `completed_at`. Returns
    /// whether the run exists.
    ///
    /// # Errors
    /// [`DbError`] when the write fails.
    pub fn complete(&self, id: &str, status: RunStatus) -> Result<bool, DbError> {
        let n = self
            .conn
            .execute(
                "UPDATE runs SET status = ?1, completed_at = ?2 WHERE id = ?3",
                params![status.as_str(), clock::now_rfc3339(), id],
            )
            .map_err(self.err("complete a run"))?;
        Ok(n > 0)
    }

    fn query(&self, sql: &str, args: Vec<SqlValue>) -> Result<Vec<Run>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(self.err("read runs"))?;
        stmt.query_map(params_from_iter(args), read_run)
            .and_then(Iterator::collect)
            .map_err(self.err("read runs"))
    }
}

fn read_run(r: &Row<'_>) -> rusqlite::Result<Run> {
    let status: String = r.get(6)?;
    Ok(Run {
        id: r.get(0)?,
        started_at: r.get(1)?,
        completed_at: r.get(2)?,
        agent_count: r.get(3)?,
        coordinator_session_id: r.get(4)?,
        coordinator_name: r.get(5)?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Active),
    })
}

/// Returns the id in `current-run.txt`, trimmed; `None` when the file is
/// missing, empty or whitespace only.
pub fn current_run_id(layout: &Layout) -> Option<String> {
    layout.current_run_id()
}

/// Writes `current-run.txt`.
///
/// # Errors
/// [`SessionError::Io`] when the file cannot be written.
pub fn write_current_run(layout: &Layout, id: &str) -> Result<(), SessionError> {
    let path = layout.current_run();
    overstory_core::fsio::write_atomic(&path, id)
        .map_err(|e| SessionError::io("write the current run file", path)(e.source))
}

/// Ends run `id` with `status` and removes `current-run.txt` when it names
/// that run. Best effort (for rollback and stop paths); returns whether the
/// run was found active and closed.
pub fn close_run(layout: &Layout, id: &str, status: RunStatus) -> bool {
    let done = RunStore::open(&layout.sessions_db())
        .and_then(|r| r.complete(id, status))
        .unwrap_or(false);
    if current_run_id(layout).as_deref() == Some(id) {
        let _ = std::fs::remove_file(layout.current_run());
    }
    done
}

/// The run `ov run` shows, with its compact duration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunWithDuration {
    /// The run's fields.
    #[serde(flatten)]
    pub run: Run,
    /// `3m 45s`, `2h 15m`.
    pub duration: String,
}

impl From<Run> for RunWithDuration {
    fn from(run: Run) -> Self {
        let duration = format_duration_compact(run.duration_ms(clock::now_millis()));
        Self { run, duration }
    }
}

/// Lists the newest `limit` runs; an empty list when `sessions.db` does not exist.
///
/// # Errors
/// [`SessionError`] when the database fails.
pub fn list_runs(layout: &Layout, limit: usize) -> Result<Vec<RunWithDuration>, SessionError> {
    if !layout.sessions_db().is_file() {
        return Ok(Vec::new());
    }
    let store = RunStore::open(&layout.sessions_db())?;
    Ok(store
        .list(Some(limit), None)?
        .into_iter()
        .map(RunWithDuration::from)
        .collect())
}

/// Completes the run named by `current-run.txt` and deletes the file.
/// Returns the run id.
///
/// # Errors
/// [`SessionError::NoActiveRun`] when no run is current; database and file errors.
pub fn complete_current_run(layout: &Layout) -> Result<String, SessionError> {
    let id = current_run_id(layout).ok_or(SessionError::NoActiveRun)?;
    let store = RunStore::open(&layout.sessions_db())?;
    store.complete(&id, RunStatus::Completed)?;
    let path = layout.current_run();
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(SessionError::io("delete the current run file", path)(e)),
    }
    Ok(id)
}

/// What `current-run.txt` points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurrentRun {
    /// No file, or an empty one.
    None,
    /// The file names a run the store does not have.
    Missing(String),
    /// The run the file names, with its duration so far.
    Found(RunWithDuration),
}

/// Returns the run named by `current-run.txt`.
///
/// # Errors
/// [`SessionError`] when `sessions.db` cannot be read.
pub fn current_run(layout: &Layout) -> Result<CurrentRun, SessionError> {
    let Some(id) = current_run_id(layout) else {
        return Ok(CurrentRun::None);
    };
    let store = RunStore::open(&layout.sessions_db())?;
    Ok(match store.get(&id)? {
        Some(r) => CurrentRun::Found(r.into()),
        None => CurrentRun::Missing(id),
    })
}

/// Returns run `id` with its sessions (oldest first).
///
/// # Errors
/// [`SessionError::RunNotFound`] when there is no such run; database errors.
pub fn show_run(
    layout: &Layout,
    id: &str,
) -> Result<(RunWithDuration, Vec<crate::store::Session>), SessionError> {
    let runs = RunStore::open(&layout.sessions_db())?;
    let run = runs
        .get(id)?
        .ok_or_else(|| SessionError::RunNotFound { id: id.to_owned() })?;
    let (sessions, _) = crate::legacy::open_sessions(layout)?;
    Ok((run.into(), sessions.by_run(id)?))
}
