//! `EventStore`: the `events` table, its queries, batching and retention.

use std::path::{Path, PathBuf};

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension as _, Row, Transaction, params, params_from_iter};
use serde::Serialize;

use super::{EventLevel, NewEvent, StoredEvent};
use crate::clock;
use crate::db::{self, Migration};
use crate::error::DbError;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT,
  agent_name TEXT NOT NULL,
  session_id TEXT,
  event_type TEXT NOT NULL,
  tool_name TEXT,
  tool_args TEXT,
  tool_duration_ms INTEGER,
  level TEXT NOT NULL DEFAULT 'info' CHECK(level IN ('debug','info','warn','error')),
  data TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f','now'))
);
CREATE INDEX IF NOT EXISTS idx_events_agent_time ON events(agent_name, created_at);
CREATE INDEX IF NOT EXISTS idx_events_run_time ON events(run_id, created_at);
CREATE INDEX IF NOT EXISTS idx_events_type_time ON events(event_type, created_at);
CREATE INDEX IF NOT EXISTS idx_events_tool_agent ON events(tool_name, agent_name);
CREATE INDEX IF NOT EXISTS idx_events_level_error ON events(level) WHERE level = 'error';
";

fn v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(CREATE)
}

/// Our addition: the all-agents timeline (`ov feed`, `ov replay`) and
/// retention by age filter on `created_at` alone; without this index both
/// scan the whole table.
fn v2(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch("CREATE INDEX IF NOT EXISTS idx_events_time ON events(created_at)")
}

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        apply: v1,
    },
    Migration {
        version: 2,
        apply: v2,
    },
];

/// Page size of a new events.db: 16 KiB pages keep the six indexes
/// shallow and raise the batched insert rate by about a fifth.
const PAGE_SIZE: u32 = 16 * 1024;

const COLUMNS: &str = "id, run_id, agent_name, session_id, event_type, tool_name, tool_args, \
                       tool_duration_ms, level, data, created_at";

const INSERT: &str = "INSERT INTO events (run_id, agent_name, session_id, event_type, tool_name, \
                      tool_args, tool_duration_ms, level, data, created_at) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Filters for the timeline queries. All set filters are AND-combined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events at or after this time stamp.
    pub since: Option<String>,
    /// Only events at or before this time stamp.
    pub until: Option<String>,
    /// Only events of this level.
    pub level: Option<EventLevel>,
    /// At most this many events.
    pub limit: Option<usize>,
    /// With a limit: take the newest N (still returned oldest first) instead
    /// of the oldest N. What users expect from "show me recent events".
    pub newest: bool,
}

/// What `ov feed --follow` watches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowFilter {
    /// Only these agents (empty = all).
    pub agents: Vec<String>,
    /// Only this run.
    pub run_id: Option<String>,
}

/// What [`EventStore::purge`] deletes. Set filters are AND-combined; with
/// none set nothing is deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPurge {
    /// Delete every event.
    pub all: bool,
    /// Delete events older than this many milliseconds.
    pub older_than_ms: Option<i64>,
    /// Delete events of this agent.
    pub agent_name: Option<String>,
}

/// The result of pairing a `tool_end` with its `tool_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Correlation {
    /// The id of the `tool_start` row that now carries the duration.
    pub start_id: i64,
    /// Milliseconds from the `tool_start` row's time stamp until it was paired.
    pub duration_ms: i64,
}

/// Per-tool counts over `tool_start` events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolStat {
    /// The tool's name (`Bash`, `Read`, …).
    pub tool_name: String,
    /// How many calls.
    pub count: i64,
    /// Mean duration over calls with a duration (0 when none).
    pub avg_duration_ms: f64,
    /// Longest duration (0 when none).
    pub max_duration_ms: i64,
}

/// The open `events.db`. One per process or thread; SQLite's WAL lets many
/// readers and one writer work at once across processes.
#[derive(Debug)]
pub struct EventStore {
    conn: Connection,
    path: PathBuf,
}

impl EventStore {
    /// Opens (creating if missing) the event store at `path`.
    ///
    /// # Errors
    /// [`DbError`] when the file cannot be opened or migrated.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let conn = db::open_with_page_size(path, MIGRATIONS, Some(PAGE_SIZE))?;
        // Six indexes are updated per insert; a larger page cache keeps
        // their upper levels resident for batched writers (2 MB default).
        // Checkpointing every 2048 pages (32 MiB of 16 KiB pages) keeps
        // fsyncs out of most batches, and letting the WAL file stay up to
        // 64 MiB after a checkpoint lets the next batches overwrite its
        // blocks instead of growing the file again (about a tenth faster).
        // Short-lived openers still truncate a large WAL (`db::open`).
        conn.execute_batch(
            "PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 2048; \
             PRAGMA journal_size_limit = 67108864;",
        )
        .map_err(|e| DbError::query("configure the event store", path, e))?;
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }

    /// Opens the store only if the file exists (read commands never create it).
    ///
    /// # Errors
    /// As [`EventStore::open`].
    pub fn open_if_exists(path: &Path) -> Result<Option<Self>, DbError> {
        if path.is_file() {
            Self::open(path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Returns the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> DbError + '_ {
        move |e| DbError::query(action, &self.path, e)
    }

    /// Inserts one event and returns its id.
    ///
    /// # Errors
    /// [`DbError`] when the insert fails.
    pub fn insert(&self, e: &NewEvent) -> Result<i64, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(INSERT)
            .map_err(self.err("insert an event"))?;
        bind_insert(&mut stmt, e).map_err(self.err("insert an event"))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Inserts `events` in one transaction (all or nothing) and returns how
    /// many were written. The fast path for high-rate producers.
    ///
    /// # Errors
    /// [`DbError`] when any insert fails; then none is stored.
    pub fn insert_many(&mut self, events: &[NewEvent]) -> Result<usize, DbError> {
        if events.is_empty() {
            return Ok(0);
        }
        let path = self.path.clone();
        let e = |err| DbError::query("insert a batch of events", &path, err);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        // One timestamp for the whole batch, and many rows per statement:
        // both cut the per-event cost that dominates once the rows are in
        // one transaction (see `cargo bench -p overstory-core --bench events`).
        let now = clock::now_rfc3339();
        for chunk in events.chunks(ROWS_PER_INSERT) {
            let sql = multi_row_insert(chunk.len());
            let mut stmt = tx.prepare_cached(&sql).map_err(e)?;
            bind_rows(&mut stmt, chunk, &now).map_err(e)?;
            stmt.raw_execute().map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(events.len())
    }

    /// Pairs a `tool_end` with its `tool_start` and stores the duration.
    ///
    /// With `tool_use_id`, the start whose data carries the same `toolUseId`
    /// is chosen (correct under parallel calls). Otherwise, as the original
    /// does, the most recent un-timed `tool_start` of the same agent and tool.
    /// The duration is written onto the start row and, when `end_id` is given,
    /// onto the end row too, in one transaction. Returns `None` when no start
    /// matches.
    ///
    /// # Errors
    /// [`DbError`] when a statement fails.
    pub fn correlate_tool_end(
        &mut self,
        agent: &str,
        tool: &str,
        tool_use_id: Option<&str>,
        end_id: Option<i64>,
    ) -> Result<Option<Correlation>, DbError> {
        let path = self.path.clone();
        let e = |err| DbError::query("correlate a tool end", &path, err);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let base = "SELECT id, created_at FROM events WHERE agent_name = ?1 AND tool_name = ?2 \
                    AND event_type = 'tool_start' AND tool_duration_ms IS NULL";
        let found: Option<(i64, String)> = match tool_use_id {
            Some(id) => tx
                .query_row(
                    &format!(
                        "{base} AND (CASE WHEN json_valid(data) THEN json_extract(data, '$.toolUseId') END) = ?3 \
                         ORDER BY created_at DESC, id DESC LIMIT 1"
                    ),
                    params![agent, tool, id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(e)?,
            None => None,
        };
        let found = match found {
            Some(f) => Some(f),
            None => tx
                .query_row(
                    &format!("{base} ORDER BY created_at DESC, id DESC LIMIT 1"),
                    params![agent, tool],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(e)?,
        };
        let Some((start_id, created_at)) = found else {
            return Ok(None);
        };
        let started = clock::parse_rfc3339(&normalize_timestamp(&created_at));
        let duration_ms = started.map_or(0, |s| (clock::now_millis() - s).max(0));
        tx.execute(
            "UPDATE events SET tool_duration_ms = ?1 WHERE id = ?2",
            params![duration_ms, start_id],
        )
        .map_err(e)?;
        if let Some(end) = end_id {
            tx.execute(
                "UPDATE events SET tool_duration_ms = ?1 WHERE id = ?2",
                params![duration_ms, end],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(Some(Correlation {
            start_id,
            duration_ms,
        }))
    }

    /// Returns one agent's events, oldest first.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn by_agent(&self, agent: &str, f: &EventFilter) -> Result<Vec<StoredEvent>, DbError> {
        self.select(
            "agent_name = ?",
            vec![SqlValue::Text(agent.into())],
            f,
            false,
        )
    }

    /// Returns one run's events, oldest first.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn by_run(&self, run_id: &str, f: &EventFilter) -> Result<Vec<StoredEvent>, DbError> {
        self.select("run_id = ?", vec![SqlValue::Text(run_id.into())], f, false)
    }

    /// Returns every agent's events, oldest first.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn timeline(&self, f: &EventFilter) -> Result<Vec<StoredEvent>, DbError> {
        self.select("1 = 1", Vec::new(), f, false)
    }

    /// Returns error-level events, newest first (the limit keeps the newest).
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn errors(&self, f: &EventFilter) -> Result<Vec<StoredEvent>, DbError> {
        let f = EventFilter {
            level: Some(EventLevel::Error),
            ..f.clone()
        };
        self.select("1 = 1", Vec::new(), &f, true)
    }

    /// Returns the events after id `cursor`, in id order, at most `limit`.
    /// The cursor of `ov feed --follow`: no event is skipped under bursts.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn after_id(
        &self,
        cursor: i64,
        f: &FollowFilter,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, DbError> {
        let mut sql = format!("SELECT {COLUMNS} FROM events WHERE id > ?");
        let mut args = vec![SqlValue::Integer(cursor)];
        if !f.agents.is_empty() {
            sql.push_str(" AND agent_name IN (");
            sql.push_str(&vec!["?"; f.agents.len()].join(", "));
            sql.push(')');
            args.extend(f.agents.iter().map(|a| SqlValue::Text(a.clone())));
        }
        if let Some(run) = &f.run_id {
            sql.push_str(" AND run_id = ?");
            args.push(SqlValue::Text(run.clone()));
        }
        sql.push_str(" ORDER BY id LIMIT ?");
        args.push(SqlValue::Integer(to_i64(limit)));
        self.rows(&sql, args)
    }

    /// Returns the largest event id (0 for an empty store).
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn latest_id(&self) -> Result<i64, DbError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
            .map_err(self.err("read the latest event id"))
    }

    /// Returns the number of stored events.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn count(&self) -> Result<i64, DbError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .map_err(self.err("count events"))
    }

    /// Returns per-tool statistics over `tool_start` events, most used first.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn tool_stats(
        &self,
        agent: Option<&str>,
        since: Option<&str>,
    ) -> Result<Vec<ToolStat>, DbError> {
        // For one agent, `+event_type` keeps SQLite off the event-type
        // index (every agent's tool calls) so it reads only that agent's rows
        // through idx_events_agent_time: about 20x faster at 1M events.
        let type_col = if agent.is_some() {
            "+event_type"
        } else {
            "event_type"
        };
        let mut sql = format!(
            "SELECT tool_name, COUNT(*), COALESCE(AVG(tool_duration_ms), 0), \
             COALESCE(MAX(tool_duration_ms), 0) FROM events \
             WHERE {type_col} = 'tool_start' AND tool_name IS NOT NULL",
        );
        let mut args = Vec::new();
        if let Some(a) = agent {
            sql.push_str(" AND agent_name = ?");
            args.push(SqlValue::Text(a.into()));
        }
        if let Some(s) = since {
            sql.push_str(" AND created_at >= ?");
            args.push(SqlValue::Text(s.into()));
        }
        sql.push_str(" GROUP BY tool_name ORDER BY COUNT(*) DESC, tool_name");
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(self.err("read tool statistics"))?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                Ok(ToolStat {
                    tool_name: r.get(0)?,
                    count: r.get(1)?,
                    avg_duration_ms: r.get(2)?,
                    max_duration_ms: r.get::<_, f64>(3)? as i64,
                })
            })
            .and_then(Iterator::collect)
            .map_err(self.err("read tool statistics"))?;
        Ok(rows)
    }

    /// Deletes events by the AND of the given filters, in one statement, and
    /// returns how many were deleted. No filter deletes nothing.
    ///
    /// # Errors
    /// [`DbError`] when the delete fails.
    pub fn purge(&self, p: &EventPurge) -> Result<usize, DbError> {
        let (sql, args) = if p.all {
            ("DELETE FROM events".to_owned(), Vec::new())
        } else {
            let mut clauses = Vec::new();
            let mut args = Vec::new();
            if let Some(ms) = p.older_than_ms {
                clauses.push("created_at < ?");
                args.push(SqlValue::Text(clock::format_millis(
                    clock::now_millis() - ms,
                )));
            }
            if let Some(a) = &p.agent_name {
                clauses.push("agent_name = ?");
                args.push(SqlValue::Text(a.clone()));
            }
            if clauses.is_empty() {
                return Ok(0);
            }
            (
                format!("DELETE FROM events WHERE {}", clauses.join(" AND ")),
                args,
            )
        };
        let n = self
            .conn
            .execute(&sql, params_from_iter(args))
            .map_err(self.err("purge events"))?;
        if n > 0 {
            // Hand the freed pages back to the WAL file's next checkpoint.
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
        Ok(n)
    }

    fn select(
        &self,
        scope: &str,
        mut args: Vec<SqlValue>,
        f: &EventFilter,
        descending: bool,
    ) -> Result<Vec<StoredEvent>, DbError> {
        let mut sql = format!("SELECT {COLUMNS} FROM events WHERE {scope}");
        if let Some(s) = &f.since {
            sql.push_str(" AND created_at >= ?");
            args.push(SqlValue::Text(s.clone()));
        }
        if let Some(u) = &f.until {
            sql.push_str(" AND created_at <= ?");
            args.push(SqlValue::Text(u.clone()));
        }
        if let Some(l) = f.level {
            sql.push_str(" AND level = ?");
            args.push(SqlValue::Text(l.as_str().into()));
        }
        let take_newest = descending || (f.newest && f.limit.is_some());
        sql.push_str(if take_newest {
            " ORDER BY created_at DESC, id DESC"
        } else {
            " ORDER BY created_at ASC, id ASC"
        });
        if let Some(n) = f.limit {
            sql.push_str(" LIMIT ?");
            args.push(SqlValue::Integer(to_i64(n)));
        }
        let mut rows = self.rows(&sql, args)?;
        if take_newest && !descending {
            rows.reverse();
        }
        Ok(rows)
    }

    fn rows(&self, sql: &str, args: Vec<SqlValue>) -> Result<Vec<StoredEvent>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(self.err("read events"))?;
        stmt.query_map(params_from_iter(args), read_event)
            .and_then(Iterator::collect)
            .map_err(self.err("read events"))
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Rows per multi-row `INSERT` in [`EventStore::insert_many`]: 10 bound
/// values each, far below SQLite's limit of 32,766 parameters.
const ROWS_PER_INSERT: usize = 128;

/// The `INSERT` of [`INSERT`]'s columns with `rows` value tuples.
fn multi_row_insert(rows: usize) -> String {
    let head = INSERT.find(" VALUES").map_or(INSERT, |at| &INSERT[..at]);
    let mut sql = String::with_capacity(head.len() + 8 + rows * 24);
    // `OR ROLLBACK`: a failing row aborts the whole transaction, which is
    // what a batch promises anyway, and it spares SQLite the statement
    // journal it would otherwise write for every multi-row statement.
    sql.push_str(&head.replacen("INSERT INTO", "INSERT OR ROLLBACK INTO", 1));
    sql.push_str(" VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?,?,?)");
    }
    sql
}

/// Binds `rows` to a statement from [`multi_row_insert`]; `now` stands in
/// for a missing `created_at`.
fn bind_rows(
    stmt: &mut rusqlite::CachedStatement<'_>,
    rows: &[NewEvent],
    now: &str,
) -> rusqlite::Result<()> {
    let mut i = 0;
    let mut next = || {
        i += 1;
        i
    };
    for e in rows {
        stmt.raw_bind_parameter(next(), &e.run_id)?;
        stmt.raw_bind_parameter(next(), &e.agent_name)?;
        stmt.raw_bind_parameter(next(), &e.session_id)?;
        stmt.raw_bind_parameter(next(), e.event_type.as_str())?;
        stmt.raw_bind_parameter(next(), &e.tool_name)?;
        stmt.raw_bind_parameter(next(), &e.tool_args)?;
        stmt.raw_bind_parameter(next(), e.tool_duration_ms)?;
        stmt.raw_bind_parameter(next(), e.level.as_str())?;
        stmt.raw_bind_parameter(next(), &e.data)?;
        stmt.raw_bind_parameter(next(), e.created_at.as_deref().unwrap_or(now))?;
    }
    Ok(())
}

fn bind_insert(stmt: &mut rusqlite::CachedStatement<'_>, e: &NewEvent) -> rusqlite::Result<()> {
    let now;
    let created = match &e.created_at {
        Some(c) => c.as_str(),
        None => {
            now = clock::now_rfc3339();
            now.as_str()
        }
    };
    stmt.execute(params![
        e.run_id,
        e.agent_name,
        e.session_id,
        e.event_type.as_str(),
        e.tool_name,
        e.tool_args,
        e.tool_duration_ms,
        e.level.as_str(),
        e.data,
        created,
    ])?;
    Ok(())
}

fn read_event(r: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let duration = match r.get::<_, SqlValue>(7)? {
        SqlValue::Integer(i) => Some(i),
        SqlValue::Real(f) => Some(f.round() as i64),
        _ => None,
    };
    Ok(StoredEvent {
        id: r.get(0)?,
        run_id: r.get(1)?,
        agent_name: r.get(2)?,
        session_id: r.get(3)?,
        event_type: r.get(4)?,
        tool_name: r.get(5)?,
        tool_args: r.get(6)?,
        tool_duration_ms: duration,
        level: r.get(8)?,
        data: r.get(9)?,
        created_at: normalize_timestamp(&r.get::<_, String>(10)?),
    })
}

/// Adds the `Z` that SQLite's `strftime` default leaves off, so every time
/// stamp read from a store is RFC 3339 in UTC.
pub fn normalize_timestamp(ts: &str) -> String {
    let has_zone = ts.ends_with(['Z', 'z'])
        || ts
            .get(19..)
            .is_some_and(|tail| tail.contains('+') || tail.contains('-'));
    if ts.len() >= 19 && !has_zone {
        format!("{ts}Z")
    } else {
        ts.to_owned()
    }
}

/// Inserts events in batches: buffers them and writes each full batch in one
/// transaction. Flushes what is left when dropped (errors there are logged).
#[derive(Debug)]
pub struct EventBatcher {
    store: EventStore,
    buf: Vec<NewEvent>,
    batch_size: usize,
}

impl EventBatcher {
    /// Wraps `store`, writing every `batch_size` events (at least 1).
    pub fn new(store: EventStore, batch_size: usize) -> Self {
        let batch_size = batch_size.max(1);
        Self {
            store,
            buf: Vec::with_capacity(batch_size),
            batch_size,
        }
    }

    /// Adds an event; writes the batch when it is full.
    ///
    /// # Errors
    /// [`DbError`] when writing a full batch fails (the batch is kept for a retry).
    pub fn push(&mut self, e: NewEvent) -> Result<(), DbError> {
        self.buf.push(e);
        if self.buf.len() >= self.batch_size {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered events now.
    ///
    /// # Errors
    /// [`DbError`] when the write fails (the events stay buffered).
    pub fn flush(&mut self) -> Result<usize, DbError> {
        let n = self.store.insert_many(&self.buf)?;
        self.buf.clear();
        Ok(n)
    }

    /// Returns how many events wait to be written.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Returns the wrapped store (for reads between batches).
    pub fn store(&self) -> &EventStore {
        &self.store
    }
}

impl Drop for EventBatcher {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, lost = self.buf.len(), "failed to flush buffered events");
        }
    }
}
