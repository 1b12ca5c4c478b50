//! What `ov log <event>` does: the hook target of Claude Code's
//! `PreToolUse` / `PostToolUse` / `Stop` hooks.
//!
//! Every step is best effort — a hook must never fail the agent's tool call —
//! so [`record_hook`] returns a report instead of an error. Steps:
//! file log (`logs/<agent>/<ts>/`), `lastActivity`, a guarded state change
//! through the one CAS, an event in `events.db` stamped with the session's
//! run id, tool-end pairing, throttled token snapshots, and on session end
//! a metrics row.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use overstory_core::events::{EventStore, EventType, NewEvent, filter_tool_args};
use overstory_core::{AgentName, Capability, Layout, ValidationError, clock, env};
use serde::Serialize;
use serde_json::{Value, json};

use crate::legacy::open_sessions;
use crate::metrics::{
    MetricsStore, SessionMetrics, TokenSnapshot, estimate_cost, read_transcript,
    read_transcript_incremental,
};
use crate::runs::RunStore;
use crate::state::{AgentState, Transition};
use crate::store::{Session, SessionStore};

/// Token snapshots are taken at most this often per agent.
pub const SNAPSHOT_INTERVAL_MS: i64 = 30_000;

/// The hook events `ov log` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEvent {
    /// `tool-start` (PreToolUse).
    ToolStart,
    /// `tool-end` (PostToolUse).
    ToolEnd,
    /// `session-end` (Stop).
    SessionEnd,
}

impl HookEvent {
    /// Returns the command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToolStart => "tool-start",
            Self::ToolEnd => "tool-end",
            Self::SessionEnd => "session-end",
        }
    }
}

impl fmt::Display for HookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HookEvent {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tool-start" => Ok(Self::ToolStart),
            "tool-end" => Ok(Self::ToolEnd),
            "session-end" => Ok(Self::SessionEnd),
            _ => Err(ValidationError::other(
                Some("event".to_owned()),
                format!(
                    "Invalid event type: {s}. Must be one of: tool-start, tool-end, session-end"
                ),
            )),
        }
    }
}

/// The fields `ov log` reads from the hook's JSON on stdin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HookPayload {
    /// `tool_name`.
    pub tool_name: Option<String>,
    /// `tool_input`.
    pub tool_input: Option<Value>,
    /// `session_id` (the runtime's session id).
    pub session_id: Option<String>,
    /// `transcript_path`.
    pub transcript_path: Option<String>,
    /// `tool_use_id`, used to pair a tool end with its start.
    pub tool_use_id: Option<String>,
}

impl HookPayload {
    /// Parses the hook's stdin. Empty or invalid input gives `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let v: Value = serde_json::from_str(text.trim()).ok()?;
        let obj = v.as_object()?;
        let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            tool_name: s("tool_name"),
            tool_input: obj.get("tool_input").cloned(),
            session_id: s("session_id"),
            transcript_path: s("transcript_path"),
            tool_use_id: s("tool_use_id"),
        })
    }
}

/// One `ov log` invocation.
#[derive(Debug, Clone)]
pub struct HookRequest {
    /// Which hook fired (`tool-start`, `tool-end`, `session-end`, …), from `ov log`'s argument.
    pub event: HookEvent,
    /// The agent (`--agent`).
    pub agent: AgentName,
    /// `--tool-name` (default `unknown`); the payload's wins.
    pub tool_name: Option<String>,
    /// `--transcript`; the payload's wins.
    pub transcript: Option<String>,
    /// The parsed stdin, with `--stdin`.
    pub payload: Option<HookPayload>,
}

/// What a hook call did. Failures of individual steps are listed, not raised.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookReport {
    /// The row id of the event recorded in `events.db`; `None` when none was recorded.
    pub event_id: Option<i64>,
    /// The state change, in the original's `{ok, prev, next}` shape.
    pub transition: Option<Value>,
    /// The tool duration paired on tool end.
    pub duration_ms: Option<i64>,
    /// Whether a token snapshot was recorded.
    pub snapshot: bool,
    /// Whether a metrics row was recorded.
    pub metrics_recorded: bool,
    /// Steps that failed (best effort: the hook still succeeds).
    pub warnings: Vec<String>,
}

impl HookReport {
    fn warn(&mut self, step: &str, e: impl fmt::Display) {
        tracing::warn!(step, error = %e, "ov log step failed");
        self.warnings.push(format!("{step}: {e}"));
    }
}

/// Runs one hook event. Never fails: each step's failure lands in
/// [`HookReport::warnings`].
pub fn record_hook(layout: &Layout, req: &HookRequest) -> HookReport {
    let mut report = HookReport::default();
    let agent = req.agent.as_str();
    let payload = req.payload.clone().unwrap_or_default();
    let tool_name = payload
        .tool_name
        .clone()
        .or_else(|| req.tool_name.clone())
        .unwrap_or_else(|| "unknown".to_owned());
    let transcript = payload
        .transcript_path
        .clone()
        .or_else(|| req.transcript.clone());

    let mut sessions = match open_sessions(layout) {
        Ok((s, _)) => Some(s),
        Err(e) => {
            report.warn("open sessions", e);
            None
        }
    };
    let session = sessions.as_ref().and_then(|s| s.get(agent).ok().flatten());
    let run_id = session.as_ref().and_then(|s| s.run_id.clone());
    let events = match EventStore::open(&layout.events_db()) {
        Ok(e) => Some(e),
        Err(e) => {
            report.warn("open events", e);
            None
        }
    };
    let log_dir = session_log_dir(layout, &req.agent);

    match req.event {
        HookEvent::ToolStart | HookEvent::ToolEnd => {
            let input = payload.tool_input.clone().unwrap_or_else(|| json!({}));
            let filtered = filter_tool_args(&tool_name, &input);
            let is_start = req.event == HookEvent::ToolStart;
            if let Some(dir) = &log_dir {
                let (name, data) = if is_start {
                    (
                        "tool.start",
                        json!({"toolName": tool_name, "args": redact(&input)}),
                    )
                } else {
                    ("tool.end", json!({"toolName": tool_name, "durationMs": 0}))
                };
                file_log(dir, agent, name, &data, true);
            }
            if let Some(store) = sessions.as_mut() {
                if let Err(e) = store.touch(agent) {
                    report.warn("update lastActivity", e);
                }
                if is_start {
                    // Activity promotes booting, and recovers stalled agents
                    // (resetting their escalation in the same statement).
                    let t = Transition::to(AgentState::Working)
                        .only_from(&[AgentState::Booting, AgentState::Stalled])
                        .reset_escalation();
                    match store.transition(agent, &t) {
                        Ok(o) => report.transition = Some(o.to_json()),
                        Err(e) => report.warn("transition to working", e),
                    }
                }
            }
            let mut data = json!({"summary": filtered.summary});
            if let Some(id) = &payload.tool_use_id {
                data["toolUseId"] = json!(id);
            }
            let ev = NewEvent::new(
                agent,
                if is_start {
                    EventType::ToolStart
                } else {
                    EventType::ToolEnd
                },
            )
            .run(run_id.clone())
            .session(payload.session_id.clone())
            .tool(tool_name.clone(), Some(&Value::Object(filtered.args)))
            .data(&data);
            if let Some(mut es) = events {
                match es.insert(&ev) {
                    Ok(id) => report.event_id = Some(id),
                    Err(e) => report.warn("record event", e),
                }
                if !is_start {
                    match es.correlate_tool_end(
                        agent,
                        &tool_name,
                        payload.tool_use_id.as_deref(),
                        report.event_id,
                    ) {
                        Ok(Some(c)) => {
                            report.duration_ms = Some(c.duration_ms);
                            if let Some(dir) = &log_dir {
                                file_log(
                                    dir,
                                    agent,
                                    "tool.end",
                                    &json!({"toolName": tool_name, "durationMs": c.duration_ms}),
                                    true,
                                );
                            }
                        }
                        Ok(None) => {}
                        Err(e) => report.warn("correlate tool end", e),
                    }
                }
            }
            if !is_start && let (Some(sid), Some(store)) = (&payload.session_id, sessions.as_ref())
            {
                match snapshot(layout, &req.agent, store, session.as_ref(), sid) {
                    Ok(done) => report.snapshot = done,
                    Err(e) => report.warn("token snapshot", e),
                }
            }
        }
        HookEvent::SessionEnd => {
            if let (Some(store), Some(s)) = (sessions.as_mut(), session.as_ref()) {
                session_end_state(layout, store, s, &mut report, events.as_ref());
                let usage = transcript
                    .as_deref()
                    .and_then(|p| read_transcript(Path::new(p)))
                    .unwrap_or_default();
                let now = clock::now_millis();
                let started = clock::parse_rfc3339(&s.started_at).unwrap_or(now);
                let m = SessionMetrics {
                    agent_name: s.agent_name.to_string(),
                    task_id: s.task_str().to_owned(),
                    capability: s.capability.to_string(),
                    started_at: s.started_at.clone(),
                    completed_at: Some(clock::format_millis(now)),
                    duration_ms: (now - started).max(0),
                    exit_code: None,
                    merge_result: None,
                    parent_agent: s.parent_agent.as_ref().map(ToString::to_string),
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                    cache_read_tokens: usage.cache_read_tokens,
                    cache_creation_tokens: usage.cache_creation_tokens,
                    estimated_cost_usd: estimate_cost(&usage),
                    model_used: usage.model_used.clone(),
                    run_id: s.run_id.clone(),
                };
                match MetricsStore::open(&layout.metrics_db()).and_then(|ms| ms.record_session(&m))
                {
                    Ok(()) => report.metrics_recorded = true,
                    Err(e) => report.warn("record metrics", e),
                }
            }
            if let Some(es) = events {
                let ev = NewEvent::new(agent, EventType::SessionEnd)
                    .run(run_id)
                    .session(payload.session_id.clone());
                let ev = match &transcript {
                    Some(t) => ev.data(&json!({"transcriptPath": t})),
                    None => ev,
                };
                match es.insert(&ev) {
                    Ok(id) => report.event_id = Some(id),
                    Err(e) => report.warn("record event", e),
                }
            }
            if let Some(dir) = &log_dir {
                file_log(
                    dir,
                    agent,
                    "session.end",
                    &json!({"transcriptPath": transcript}),
                    false,
                );
            }
            let marker = layout.agent_current_session_marker(&req.agent);
            if let Err(e) = std::fs::remove_file(&marker)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                report.warn("remove .current-session", e);
            }
        }
    }
    report
}

/// Decides and writes the state change of a Stop hook: task-scoped agents
/// complete; agents whose Stop hook ends only a turn (persistent ones and
/// leads) are touched, except a coordinator whose run is already complete.
fn session_end_state(
    layout: &Layout,
    store: &mut SessionStore,
    s: &Session,
    report: &mut HookReport,
    events: Option<&EventStore>,
) {
    let cap = Some(s.capability);
    let turn_only = cap.is_some_and(|c| c.props().stop_hook_persistent);
    let run_done = matches!(
        cap,
        Some(Capability::Coordinator | Capability::Orchestrator)
    ) && s.run_id.as_deref().is_some_and(|r| {
        RunStore::open(&layout.sessions_db())
            .ok()
            .and_then(|rs| rs.get(r).ok().flatten())
            .is_some_and(|run| run.status != crate::runs::RunStatus::Active)
    });
    if turn_only && !run_done {
        if let Err(e) = store.touch(&s.agent_name) {
            report.warn("update lastActivity", e);
        }
        return;
    }
    let t = Transition::to(AgentState::Completed).touch_activity();
    // Retry only a busy database (another writer holds it past the busy
    // timeout); any other error will not go away by waiting.
    let waits = [50u64, 100, 200, 400];
    let mut attempts = 0;
    let mut last_err = None;
    for wait in waits.iter().map(Some).chain([None]) {
        attempts += 1;
        match store.transition(&s.agent_name, &t) {
            Ok(o) => {
                report.transition = Some(o.to_json());
                return;
            }
            Err(e) => {
                let busy = e.is_busy();
                last_err = Some(e);
                match wait {
                    Some(ms) if busy => std::thread::sleep(Duration::from_millis(*ms)),
                    _ => break,
                }
            }
        }
    }
    if let Some(e) = last_err {
        if let Some(es) = events {
            let ev = NewEvent::new(s.agent_name.as_str(), EventType::Error)
                .level(overstory_core::events::EventLevel::Error)
                .data(&json!({
                    "hook": "session-end:transitionToCompleted",
                    "attempts": attempts,
                    "message": e.to_string(),
                }));
            let _ = es.insert(&ev);
        }
        report.warn("complete session", e);
    }
}

/// Returns the log directory stamp for now: RFC 3339 with `:` and `.` as `-`.
pub fn log_dir_stamp() -> String {
    clock::now_rfc3339().replace([':', '.'], "-")
}

/// Returns the hook logger's current session directory, creating a new one
/// (and the marker) when there is none.
fn session_log_dir(layout: &Layout, agent: &AgentName) -> Option<PathBuf> {
    let marker = layout.agent_current_session_marker(agent);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let p = PathBuf::from(text.trim());
        if !text.trim().is_empty() && p.is_dir() {
            return Some(p);
        }
    }
    let dir = layout.agent_log_session_dir(agent, &log_dir_stamp());
    std::fs::create_dir_all(&dir).ok()?;
    overstory_core::fsio::write_atomic(&marker, dir.display().to_string()).ok()?;
    Some(dir)
}

fn append(path: &Path, line: &str) {
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
}

/// Appends to `session.log`, `events.ndjson` and (for tool events) `tools.ndjson`.
fn file_log(dir: &Path, agent: &str, event: &str, data: &Value, tool: bool) {
    let ts = clock::now_rfc3339();
    let kv = data
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| *k != "args")
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    append(
        &dir.join("session.log"),
        &format!("[{ts}] INFO {event} {kv}\n"),
    );
    let line =
        json!({"timestamp": ts, "level": "info", "event": event, "agentName": agent, "data": data});
    append(&dir.join("events.ndjson"), &format!("{line}\n"));
    if tool {
        append(&dir.join("tools.ndjson"), &format!("{line}\n"));
    }
}

/// Replaces the values of secret-looking keys with `[REDACTED]`.
fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let lk = k.to_ascii_lowercase();
                    let secret = ["token", "secret", "password", "api_key", "apikey"]
                        .iter()
                        .any(|s| lk.contains(s));
                    (
                        k.clone(),
                        if secret {
                            Value::String("[REDACTED]".into())
                        } else {
                            redact(v)
                        },
                    )
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// Records a token snapshot if the last one is older than
/// [`SNAPSHOT_INTERVAL_MS`]. Returns whether one was recorded.
fn snapshot(
    layout: &Layout,
    agent: &AgentName,
    store: &SessionStore,
    session: Option<&Session>,
    session_id: &str,
) -> Result<bool, String> {
    let marker = layout.agent_last_snapshot(agent);
    let now = clock::now_millis();
    if let Some(last) = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        && now - last < SNAPSHOT_INTERVAL_MS
    {
        return Ok(false);
    }
    let Some(path) = resolve_transcript(layout, agent, store, session, session_id) else {
        return Ok(false);
    };
    let usage = read_transcript_incremental(&path, &layout.agent_transcript_cursor(agent))
        .ok_or("unreadable transcript")?;
    let snap = TokenSnapshot {
        agent_name: agent.to_string(),
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cache_read_tokens: usage.cache_read_tokens,
        cache_creation_tokens: usage.cache_creation_tokens,
        estimated_cost_usd: estimate_cost(&usage),
        model_used: usage.model_used.clone(),
        created_at: clock::format_millis(now),
        run_id: session.and_then(|s| s.run_id.clone()),
    };
    MetricsStore::open(&layout.metrics_db())
        .and_then(|m| m.record_snapshot(&snap))
        .map_err(|e| e.to_string())?;
    overstory_core::fsio::write_atomic(&marker, now.to_string()).map_err(|e| e.to_string())?;
    Ok(true)
}

/// Finds the transcript: the session's recorded path, the cached path, the
/// project's Claude directory, then any Claude project directory. A found
/// path is cached and stored on the session.
fn resolve_transcript(
    layout: &Layout,
    agent: &AgentName,
    store: &SessionStore,
    session: Option<&Session>,
    session_id: &str,
) -> Option<PathBuf> {
    if let Some(p) = session
        .and_then(|s| s.transcript_path.as_deref())
        .map(PathBuf::from)
        .filter(|p| p.is_file())
    {
        return Some(p);
    }
    let cache = layout.agent_transcript_cache(agent);
    if let Some(p) = std::fs::read_to_string(&cache)
        .ok()
        .map(|t| PathBuf::from(t.trim()))
        .filter(|p| p.is_file())
    {
        return Some(p);
    }
    let projects = PathBuf::from(env::var(env::HOME)?)
        .join(".claude")
        .join("projects");
    let file = format!("{session_id}.jsonl");
    let direct = projects
        .join(crate::metrics::project_key(layout.root()))
        .join(&file);
    let found = if direct.is_file() {
        Some(direct)
    } else {
        std::fs::read_dir(&projects)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join(&file))
            .find(|p| p.is_file())
    }?;
    let _ = overstory_core::fsio::write_atomic(&cache, found.display().to_string());
    let _ = store.update_transcript_path(agent.as_str(), &found.display().to_string());
    Some(found)
}
