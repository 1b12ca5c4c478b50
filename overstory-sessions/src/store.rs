//! `SessionStore`: one row per agent in `sessions.db`, and the one
//! compare-and-swap that changes a row's state.

use std::path::{Path, PathBuf};

use overstory_core::{AgentName, Capability, DbError, TaskId, clock, db};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension as _, Row, params, params_from_iter};
use serde::{Deserialize, Serialize};

use crate::schema::{MIGRATIONS, SESSION_COLUMNS};
use crate::state::{AgentState, Transition, TransitionOutcome};

/// One agent session (a row of `sessions`), serialised with the original's
/// camelCase field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// `session-<epochMs>-<agentName>` at creation.
    pub id: String,
    /// The agent's name, the row's unique key: recording a session under a
    /// name already present replaces that row.
    pub agent_name: AgentName,
    /// What the agent may do and how long it lives (`builder`, `coordinator`).
    pub capability: Capability,
    /// The agent's worktree (the project root for persistent agents).
    pub worktree_path: String,
    /// The branch the agent commits on (`overstory/<agent>/<task>`), or the
    /// canonical branch for persistent agents working in the project root.
    pub branch_name: String,
    /// The task the agent works on; `None` for persistent agents
    /// (coordinator, monitor), stored and serialised as `""`.
    #[serde(with = "task_id_or_empty")]
    pub task_id: Option<TaskId>,
    /// The tmux session, `""` for headless agents and after terminal states.
    pub tmux_session: String,
    /// Where the agent is in its lifecycle ([`SessionStore::transition`] changes it).
    pub state: AgentState,
    /// The tmux pane pid or long-lived headless pid; `None` for spawn-per-turn workers.
    pub pid: Option<i64>,
    /// The agent that spawned this one; `None` when the operator did.
    pub parent_agent: Option<AgentName>,
    /// 0 = top level.
    pub depth: i64,
    /// The run the session belongs to.
    pub run_id: Option<String>,
    /// When the session started.
    pub started_at: String,
    /// When a hook, the turn runner or a state change last saw the agent (RFC 3339).
    pub last_activity: String,
    /// 0 warn, 1 nudge, 2 triage, 3 terminate.
    pub escalation_level: i64,
    /// When the watchdog first saw the agent stale.
    pub stalled_since: Option<String>,
    /// Path of the runtime's transcript JSONL; `ov log` stores it once it finds it.
    pub transcript_path: Option<String>,
    /// Prompt version (`builder@17`); the key is absent when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<String>,
    /// The runtime's session id for `--resume`; the key is absent when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude_session_id: Option<String>,
}

/// How an agent takes its turns, worked out from its row by
/// [`Session::mode`]: the one place that reads `tmux_session` and the
/// capability's lifecycle for this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Interactive, in the tmux session `tmux_session` names; text is typed
    /// into its pane.
    Tmux,
    /// A persistent agent (coordinator, orchestrator, monitor) run headless
    /// under an agent host: one long-lived process whose stdin stays open,
    /// each batch of mail written to it as the next user turn.
    Hosted,
    /// A task-scoped headless agent: no process between turns; the turn
    /// runner starts one process per user turn.
    SpawnPerTurn,
}

/// `task_id` is `""` on disk and on the wire when there is no task.
pub(crate) mod task_id_or_empty {
    use overstory_core::TaskId;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &Option<TaskId>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_deref().unwrap_or(""))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TaskId>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        TaskId::new(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

impl Session {
    /// Builds a new `booting` session row for `agent_name` started now.
    pub fn new(agent_name: AgentName, capability: Capability) -> Self {
        let now = clock::now_rfc3339();
        Self {
            id: format!("session-{}-{agent_name}", clock::now_millis()),
            agent_name,
            capability,
            worktree_path: String::new(),
            branch_name: String::new(),
            task_id: None,
            tmux_session: String::new(),
            state: AgentState::Booting,
            pid: None,
            parent_agent: None,
            depth: 0,
            run_id: None,
            started_at: now.clone(),
            last_activity: now,
            escalation_level: 0,
            stalled_since: None,
            transcript_path: None,
            prompt_version: None,
            claude_session_id: None,
        }
    }

    /// Returns how the agent takes its turns: in tmux when the row names a
    /// tmux session, otherwise hosted (persistent capabilities) or one
    /// process per turn (task-scoped ones).
    pub fn mode(&self) -> RunMode {
        if !self.tmux_session.is_empty() {
            RunMode::Tmux
        } else if self.capability.is_task_scoped() {
            RunMode::SpawnPerTurn
        } else {
            RunMode::Hosted
        }
    }

    /// Returns the task id as stored: `""` when there is none.
    pub fn task_str(&self) -> &str {
        self.task_id.as_deref().unwrap_or("")
    }
}

/// What [`SessionStore::purge`] deletes. Filters are AND-combined; none
/// deletes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionPurge {
    /// Delete every row.
    pub all: bool,
    /// Only rows in this state.
    pub state: Option<AgentState>,
    /// Only this agent.
    pub agent: Option<String>,
}

/// The open `sessions` table of `sessions.db`.
#[derive(Debug)]
pub struct SessionStore {
    conn: Connection,
    path: PathBuf,
}

const SELECT: &str = "SELECT id, agent_name, capability, worktree_path, branch_name, task_id, \
    tmux_session, state, pid, parent_agent, depth, run_id, started_at, last_activity, \
    escalation_level, stalled_since, transcript_path, prompt_version, claude_session_id \
    FROM sessions";

impl SessionStore {
    /// Opens (creating if missing) `sessions.db` at `path`. This does not
    /// import the legacy `sessions.json`; see [`crate::open_sessions`].
    ///
    /// # Errors
    /// [`DbError`] when the file cannot be opened or migrated.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        Ok(Self {
            conn: db::open(path, MIGRATIONS)?,
            path: path.to_owned(),
        })
    }

    /// Returns the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> DbError + '_ {
        move |e| DbError::query(action, &self.path, e)
    }

    /// Records a session: inserts the row, or replaces every column of the
    /// row with the same agent name (a new session under a reused name).
    /// This is the only write of `state` besides [`SessionStore::transition`].
    ///
    /// # Errors
    /// [`DbError`] when the write fails.
    pub fn upsert(&self, s: &Session) -> Result<(), DbError> {
        let cols = SESSION_COLUMNS.join(", ");
        let marks = (1..=SESSION_COLUMNS.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let updates = SESSION_COLUMNS
            .iter()
            .filter(|c| **c != "agent_name")
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO sessions ({cols}) VALUES ({marks}) \
             ON CONFLICT(agent_name) DO UPDATE SET {updates}"
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.execute(params![
                    s.id,
                    s.agent_name,
                    s.capability,
                    s.worktree_path,
                    s.branch_name,
                    s.task_str(),
                    s.tmux_session,
                    s.state.as_str(),
                    s.pid,
                    s.parent_agent,
                    s.depth,
                    s.run_id,
                    s.started_at,
                    s.last_activity,
                    s.escalation_level,
                    s.stalled_since,
                    s.transcript_path,
                    s.prompt_version,
                    s.claude_session_id,
                ])
            })
            .map_err(self.err("record a session"))?;
        Ok(())
    }

    /// Returns the session of `agent`, if any.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn get(&self, agent: &str) -> Result<Option<Session>, DbError> {
        self.conn
            .query_row(
                &format!("{SELECT} WHERE agent_name = ?1"),
                [agent],
                read_session,
            )
            .optional()
            .map_err(self.err("read a session"))
    }

    /// Returns booting, working and stalled sessions, oldest first.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn active(&self) -> Result<Vec<Session>, DbError> {
        self.query(
            &format!(
                "{SELECT} WHERE state IN ('booting','working','stalled') ORDER BY started_at ASC"
            ),
            Vec::new(),
        )
    }

    /// Returns every session, oldest first.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn all(&self) -> Result<Vec<Session>, DbError> {
        self.query(&format!("{SELECT} ORDER BY started_at ASC"), Vec::new())
    }

    /// Returns the sessions of `run_id`, oldest first.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn by_run(&self, run_id: &str) -> Result<Vec<Session>, DbError> {
        self.query(
            &format!("{SELECT} WHERE run_id = ?1 ORDER BY started_at ASC"),
            vec![SqlValue::Text(run_id.into())],
        )
    }

    /// Returns the sessions of `run_id` plus every session with no run,
    /// oldest first (the scope of `ov status`).
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn by_run_or_unscoped(&self, run_id: &str) -> Result<Vec<Session>, DbError> {
        self.query(
            &format!("{SELECT} WHERE run_id = ?1 OR run_id IS NULL ORDER BY started_at ASC"),
            vec![SqlValue::Text(run_id.into())],
        )
    }

    /// Returns the first session whose task id is `task_id`.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn by_task(&self, task_id: &str) -> Result<Option<Session>, DbError> {
        Ok(self
            .query(
                &format!("{SELECT} WHERE task_id = ?1 ORDER BY started_at DESC LIMIT 1"),
                vec![SqlValue::Text(task_id.into())],
            )?
            .into_iter()
            .next())
    }

    /// Writes `sessions` only if the table is empty, all in one write
    /// transaction (re-checked under the lock, so two importers cannot both
    /// import, and a failure part-way leaves nothing behind to make the
    /// table look already imported). Returns whether anything was written.
    ///
    /// # Errors
    /// [`DbError`] when a write fails; then nothing is stored.
    pub fn import_if_empty(&mut self, sessions: &[Session]) -> Result<bool, DbError> {
        if sessions.is_empty() {
            return Ok(false);
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(self.err("start the sessions import"))?;
        let written = self.count().and_then(|n| {
            if n > 0 {
                return Ok(false);
            }
            sessions.iter().try_for_each(|s| self.upsert(s))?;
            Ok(true)
        });
        let end = if written.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = self.conn.execute_batch(end);
        let written = written?;
        ended.map_err(self.err("finish the sessions import"))?;
        Ok(written)
    }

    /// Returns the number of rows.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn count(&self) -> Result<i64, DbError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
            .map_err(self.err("count sessions"))
    }

    /// Moves `agent` to the transition's target if, and only if, its current
    /// state is one of the allowed predecessors — one guarded `UPDATE`,
    /// judged against the row as it is when the write lock is held.
    /// Terminal targets also clear `tmux_session`.
    ///
    /// This is the only way to change the state of an existing session.
    ///
    /// # Errors
    /// [`DbError`] when the database fails (busy past the timeout, I/O).
    /// A forbidden transition is not an error: it is
    /// [`TransitionOutcome::Rejected`].
    pub fn transition(
        &mut self,
        agent: &str,
        t: &Transition,
    ) -> Result<TransitionOutcome, DbError> {
        let target = t.target();
        let allowed = t.allowed_predecessors();
        let path = self.path.clone();
        let e = |err| DbError::query("change a session's state", &path, err);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let prev: Option<String> = tx
            .query_row(
                "SELECT state FROM sessions WHERE agent_name = ?1",
                [agent],
                |r| r.get(0),
            )
            .optional()
            .map_err(e)?;
        let Some(prev) = prev else {
            return Ok(TransitionOutcome::NotFound { attempted: target });
        };
        let prev: AgentState = prev.parse().map_err(|_| {
            e(rusqlite::Error::InvalidColumnType(
                0,
                "state".into(),
                rusqlite::types::Type::Text,
            ))
        })?;
        let applied = if allowed.is_empty() {
            0
        } else {
            // The state names are constants from the table, not user input.
            let in_list = allowed
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect::<Vec<_>>()
                .join(",");
            let sql = format!(
                "UPDATE sessions SET state = ?1, \
                 tmux_session = CASE WHEN ?2 THEN '' ELSE tmux_session END, \
                 last_activity = CASE WHEN ?3 THEN ?4 ELSE last_activity END, \
                 escalation_level = CASE WHEN ?5 THEN 0 ELSE escalation_level END, \
                 stalled_since = CASE WHEN ?5 THEN NULL ELSE stalled_since END \
                 WHERE agent_name = ?6 AND state IN ({in_list})"
            );
            tx.execute(
                &sql,
                params![
                    target.as_str(),
                    target.is_terminal(),
                    t.touches_activity(),
                    clock::now_rfc3339(),
                    t.resets_escalation(),
                    agent
                ],
            )
            .map_err(e)?
        };
        tx.commit().map_err(e)?;
        Ok(if applied == 1 {
            TransitionOutcome::Applied { prev, next: target }
        } else {
            TransitionOutcome::Rejected {
                prev,
                attempted: target,
            }
        })
    }

    fn set(&self, sql: &str, args: Vec<SqlValue>, action: &'static str) -> Result<bool, DbError> {
        let n = self
            .conn
            .execute(sql, params_from_iter(args))
            .map_err(self.err(action))?;
        Ok(n > 0)
    }

    /// Sets `last_activity` to now. Returns whether a row was updated.
    ///
    /// # Errors
    /// [`DbError`] when the write fails.
    pub fn touch(&self, agent: &str) -> Result<bool, DbError> {
        self.set(
            "UPDATE sessions SET last_activity = ?1 WHERE agent_name = ?2",
            vec![
                SqlValue::Text(clock::now_rfc3339()),
                SqlValue::Text(agent.into()),
            ],
            "update a session's last activity",
        )
    }

    /// Sets `escalation_level` and `stalled_since`.
    ///
    /// # Errors
    /// [`DbError`] when the write fails.
    pub fn update_escalation(
        &self,
        agent: &str,
        level: i64,
        stalled_since: Option<&str>,
    ) -> Result<bool, DbError> {
        self.set(
            "UPDATE sessions SET escalation_level = ?1, stalled_since = ?2 WHERE agent_name = ?3",
            vec![
                SqlValue::Integer(level),
                stalled_since.map_or(SqlValue::Null, |s| SqlValue::Text(s.into())),
                SqlValue::Text(agent.into()),
            ],
            "update a session's escalation",
        )
    }

    /// Sets `transcript_path`.
    ///
    /// # Errors
    /// [`DbError`] when the write fails.
    pub fn update_transcript_path(&self, agent: &str, path: &str) -> Result<bool, DbError> {
        self.set(
            "UPDATE sessions SET transcript_path = ?1 WHERE agent_name = ?2",
            vec![SqlValue::Text(path.into()), SqlValue::Text(agent.into())],
            "update a session's transcript path",
        )
    }

    /// Sets `claude_session_id` (the runtime session id used for `--resume`).
    ///
    /// # Errors
    /// [`DbError`] when the write fails.
    pub fn update_claude_session_id(&self, agent: &str, id: &str) -> Result<bool, DbError> {
        self.set(
            "UPDATE sessions SET claude_session_id = ?1 WHERE agent_name = ?2",
            vec![SqlValue::Text(id.into()), SqlValue::Text(agent.into())],
            "update a session's runtime session id",
        )
    }

    /// Sets `pid`.
    ///
    /// # Errors
    /// [`DbError`] when the write fails.
    pub fn update_pid(&self, agent: &str, pid: Option<i64>) -> Result<bool, DbError> {
        self.set(
            "UPDATE sessions SET pid = ?1 WHERE agent_name = ?2",
            vec![
                pid.map_or(SqlValue::Null, SqlValue::Integer),
                SqlValue::Text(agent.into()),
            ],
            "update a session's pid",
        )
    }

    /// Deletes the row of `agent`. Returns whether one existed.
    ///
    /// # Errors
    /// [`DbError`] when the delete fails.
    pub fn remove(&self, agent: &str) -> Result<bool, DbError> {
        self.set(
            "DELETE FROM sessions WHERE agent_name = ?1",
            vec![SqlValue::Text(agent.into())],
            "remove a session",
        )
    }

    /// Deletes rows by the AND of the filters, in one statement; returns how
    /// many were deleted. No filter deletes nothing.
    ///
    /// # Errors
    /// [`DbError`] when the delete fails.
    pub fn purge(&self, p: &SessionPurge) -> Result<usize, DbError> {
        let (sql, args) = if p.all {
            ("DELETE FROM sessions".to_owned(), Vec::new())
        } else {
            let mut clauses = Vec::new();
            let mut args = Vec::new();
            if let Some(s) = p.state {
                clauses.push("state = ?");
                args.push(SqlValue::Text(s.as_str().into()));
            }
            if let Some(a) = &p.agent {
                clauses.push("agent_name = ?");
                args.push(SqlValue::Text(a.clone()));
            }
            if clauses.is_empty() {
                return Ok(0);
            }
            (
                format!("DELETE FROM sessions WHERE {}", clauses.join(" AND ")),
                args,
            )
        };
        self.conn
            .execute(&sql, params_from_iter(args))
            .map_err(self.err("purge sessions"))
    }

    /// Runs a query for many rows. A row whose values do not decode (an
    /// unknown capability, a name or task id another program wrote without
    /// validating it) fails the whole query: callers that act on the fleet
    /// (sling's limits and name checks, worktree cleanup) must never take a
    /// row they cannot read for an absent one. [`SessionStore::all_readable`]
    /// is the lenient listing for callers that only deliver or display.
    fn query(&self, sql: &str, args: Vec<SqlValue>) -> Result<Vec<Session>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(self.err("read sessions"))?;
        stmt.query_map(params_from_iter(args), read_session)
            .and_then(Iterator::collect)
            .map_err(self.err("read sessions"))
    }

    /// Returns every row that decodes, in start order, and the rows that do
    /// not (as [`UndecodableRow`]s, in `rowid` order). For callers that must
    /// keep working when another program wrote a row our types reject —
    /// the mail roster, dispatch sweeps — and can say what they skipped.
    /// Nothing is changed in the file.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn all_readable(&self) -> Result<(Vec<Session>, Vec<UndecodableRow>), DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT} ORDER BY rowid"))
            .map_err(self.err("read sessions"))?;
        let rows = stmt
            .query_map([], |r| {
                let raw = UndecodableRow {
                    agent_name: r.get(1)?,
                    worktree_path: r.get(3)?,
                    reason: String::new(),
                };
                Ok(read_session(r).map_err(|e| UndecodableRow {
                    reason: e.to_string(),
                    ..raw
                }))
            })
            .map_err(self.err("read sessions"))?;
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for row in rows {
            match row.map_err(self.err("read sessions"))? {
                Ok(session) => good.push(session),
                Err(undecodable) => bad.push(undecodable),
            }
        }
        good.sort_by(|a: &Session, b: &Session| a.started_at.cmp(&b.started_at));
        Ok((good, bad))
    }
}

/// A `sessions` row whose values do not decode as a [`Session`] (a row
/// another program wrote without validating names), with what it still
/// tells: whose it is, where its worktree is, and why it is unreadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndecodableRow {
    /// The `agent_name` column, verbatim.
    pub agent_name: String,
    /// The `worktree_path` column, verbatim.
    pub worktree_path: String,
    /// Why the row does not decode (the value and the rule it breaks).
    pub reason: String,
}

/// Reads an optional task id column: `""` (or NULL) is no task.
fn read_task_id(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<TaskId>> {
    let text: Option<String> = r.get(idx)?;
    match text.as_deref() {
        None | Some("") => Ok(None),
        Some(t) => TaskId::new(t).map(Some).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        }),
    }
}

pub(crate) fn read_session(r: &Row<'_>) -> rusqlite::Result<Session> {
    let state: String = r.get(7)?;
    let state = state.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            7,
            rusqlite::types::Type::Text,
            format!("unknown session state \"{state}\"").into(),
        )
    })?;
    Ok(Session {
        id: r.get(0)?,
        agent_name: r.get(1)?,
        capability: r.get(2)?,
        worktree_path: r.get(3)?,
        branch_name: r.get(4)?,
        task_id: read_task_id(r, 5)?,
        tmux_session: r.get(6)?,
        state,
        pid: r.get(8)?,
        parent_agent: r.get(9)?,
        depth: r.get(10)?,
        run_id: r.get(11)?,
        started_at: r.get(12)?,
        last_activity: r.get(13)?,
        escalation_level: r.get(14)?,
        stalled_since: r.get(15)?,
        transcript_path: r.get(16)?,
        prompt_version: r.get(17)?,
        claude_session_id: r.get(18)?,
    })
}

/// Stores the runtime session id the event tailer observes, on the agent's
/// session row (`claude_session_id`). Plug it into
/// [`overstory_core::events::spawn_tailer`].
#[derive(Debug, Clone)]
pub struct SessionIdWriter {
    path: PathBuf,
}

impl SessionIdWriter {
    /// Writes to the `sessions.db` at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl overstory_core::events::SessionIdSink for SessionIdWriter {
    fn pin(&mut self, agent: &str, observed: &str) -> Option<String> {
        let store = SessionStore::open(&self.path).ok()?;
        let prior = store.get(agent).ok().flatten()?.claude_session_id;
        if let Err(e) = store.update_claude_session_id(agent, observed) {
            tracing::warn!(agent, error = %e, "failed to store the observed session id");
        }
        prior
    }
}
