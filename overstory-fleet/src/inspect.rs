//! One agent in depth (`ov inspect`): its session row, parent and children,
//! recent tool calls, mail in and out, tokens and cost, and its last output.
//!
//! [`inspect`] only reads: it never creates `events.db`, `mail.db` or
//! `metrics.db` (a missing file reads as empty), and the tmux pane is
//! captured only for tmux agents and only when asked.
//!
//! "Recent" means the newest: the tool calls are the newest `limit` among
//! the agent's newest [`EVENT_WINDOW`] events, returned oldest first.

use overstory_core::Layout;
use overstory_core::clock;
use overstory_core::events::{EventFilter, EventStore, StoredEvent, ToolStat};
use overstory_mail::{ListFilter, MailMessage, MailStore};
use overstory_sessions::metrics::MetricsStore;
use overstory_sessions::observe::text::{self, TurnResult, Usage};
use overstory_sessions::{AgentState, RunMode, Session, SessionError, open_sessions};
use serde::Serialize;
use serde_json::Value;

use crate::error::FleetError;
use crate::tmux::Tmux;

/// How many of the agent's newest events inspect reads.
pub const EVENT_WINDOW: usize = 200;

/// How many lines of a tmux pane are captured.
pub const PANE_LINES: u32 = 30;

/// How many subjects of mail in and out are listed.
pub const MAIL_LATEST: usize = 3;

/// What [`inspect`] looks at.
#[derive(Debug, Clone)]
pub struct InspectOptions {
    /// How many recent tool calls to list (at least 1).
    pub limit: usize,
    /// Capture the tmux pane of a tmux agent.
    pub capture_tmux: bool,
    /// The tmux server to capture from.
    pub tmux: Tmux,
}

impl Default for InspectOptions {
    fn default() -> Self {
        Self {
            limit: 20,
            capture_tmux: true,
            tmux: Tmux::default(),
        }
    }
}

/// One recent tool call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCall {
    /// The tool (`Bash`).
    pub tool_name: String,
    /// The call's arguments as `k=v` pairs (values over 40 characters cut).
    pub args: String,
    /// The call as a person reads it (`Bash  git status  (12 ms)`).
    pub summary: String,
    /// How long it took, when known.
    pub duration_ms: Option<i64>,
    /// When it started.
    pub timestamp: String,
}

/// Tokens and cost of the agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectTokens {
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Prompt-cache read tokens.
    pub cache_read_tokens: i64,
    /// Prompt-cache creation tokens.
    pub cache_creation_tokens: i64,
    /// Estimated or reported cost in USD, when known.
    pub estimated_cost_usd: Option<f64>,
    /// The model, when known.
    pub model_used: Option<String>,
    /// Where the numbers come from: `metrics` (the agent's metrics.db row)
    /// or `events` (the sum of its turns' `result` events).
    pub source: &'static str,
}

/// Turn facts of a headless agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadlessTurnInfo {
    /// Turns finished (one `result` event each) among the events read, plus
    /// one when a turn is under way.
    pub current_turn: usize,
    /// Share of the model's context window the agent's newest call used
    /// (0.0–1.0): the input, cache-read and cache-creation tokens of its
    /// newest assistant message (else of its newest turn result) over the
    /// model's window ([`overstory_runtime::model::context_window`]), at most
    /// 1.0 (a turn result sums its calls). Null when no usage was recorded
    /// or the model's window is unknown.
    pub context_utilization: Option<f64>,
    /// Whether the newest tool call has no result yet.
    pub is_mid_tool: bool,
}

/// A child agent (one this agent spawned).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildAgent {
    /// The child's name.
    pub agent_name: String,
    /// Its capability.
    pub capability: String,
    /// Its state.
    pub state: AgentState,
    /// Its task, `""` when none.
    pub task_id: String,
}

/// One message in the mail summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MailLine {
    /// The message id.
    pub id: String,
    /// The other side (sender of mail in, recipient of mail out).
    pub peer: String,
    /// The subject.
    pub subject: String,
    /// The protocol type (`status`, `worker_done`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the recipient has read it.
    pub read: bool,
    /// When it was sent.
    pub created_at: String,
}

/// Mail to and from the agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MailSummary {
    /// Messages addressed to the agent.
    pub received: usize,
    /// Of those, not yet read.
    pub unread: usize,
    /// Messages the agent sent.
    pub sent: usize,
    /// The newest messages in, newest first.
    pub latest_received: Vec<MailLine>,
    /// The newest messages out, newest first.
    pub latest_sent: Vec<MailLine>,
}

/// Everything `ov inspect` shows. The first eight fields are the
/// original's JSON shape; the rest are additions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectReport {
    /// The agent's session row.
    pub session: Session,
    /// Milliseconds since the session's last activity.
    pub time_since_last_activity: i64,
    /// The newest tool calls, oldest first.
    pub recent_tool_calls: Vec<ToolCall>,
    /// The file of the newest `Read`/`Edit`/`Write` call.
    pub current_file: Option<String>,
    /// Per-tool counts over all the agent's calls.
    pub tool_stats: Vec<ToolStat>,
    /// Tokens and cost, when anything recorded them.
    pub token_usage: Option<InspectTokens>,
    /// The last lines of the tmux pane (tmux agents, when captured).
    pub tmux_output: Option<String>,
    /// Turn facts (headless agents only).
    pub headless_turn_info: Option<HeadlessTurnInfo>,
    /// The agents this one spawned.
    pub children: Vec<ChildAgent>,
    /// Mail in and out.
    pub mail: MailSummary,
    /// The pane for tmux agents, else the last assistant text or result.
    pub last_output: Option<String>,
    /// The newest events read, oldest first (not serialised; for timelines).
    #[serde(skip)]
    pub recent_events: Vec<StoredEvent>,
}

/// Gathers the report on `agent`.
///
/// # Errors
/// [`FleetError::Session`] with [`SessionError::AgentNotFound`] when no
/// session has that name; database errors otherwise.
pub fn inspect(
    layout: &Layout,
    agent: &str,
    opts: &InspectOptions,
) -> Result<InspectReport, FleetError> {
    let (sessions, _) = open_sessions(layout)?;
    let session = sessions
        .get(agent)?
        .ok_or_else(|| SessionError::AgentNotFound {
            agent: agent.to_owned(),
        })?;
    let children = sessions
        .all()?
        .into_iter()
        .filter(|s| s.parent_agent.as_ref().is_some_and(|p| p.as_str() == agent))
        .map(|s| ChildAgent {
            task_id: s.task_str().to_owned(),
            agent_name: s.agent_name.into_string(),
            capability: s.capability.as_str().to_owned(),
            state: s.state,
        })
        .collect();
    drop(sessions);

    let events_store = EventStore::open_if_exists(&layout.events_db())?;
    let (events, tool_stats) = match &events_store {
        Some(store) => {
            let window = EventFilter {
                limit: Some(EVENT_WINDOW),
                newest: true,
                ..EventFilter::default()
            };
            (
                store.by_agent(agent, &window)?,
                store.tool_stats(Some(agent), None)?,
            )
        }
        None => (Vec::new(), Vec::new()),
    };

    let recent_tool_calls = recent_tool_calls(&events, opts.limit);
    let current_file = current_file(&events);
    let token_usage = match metrics_tokens(layout, &session)? {
        Some(t) => Some(t),
        None => match &events_store {
            Some(store) => event_tokens(store, agent)?,
            None => None,
        },
    };
    let mode = session.mode();
    let tmux_output = (mode == RunMode::Tmux && opts.capture_tmux)
        .then(|| opts.tmux.capture_pane(&session.tmux_session, PANE_LINES))
        .flatten();
    let headless_turn_info = (mode != RunMode::Tmux).then(|| {
        let finished = events.iter().filter(|e| e.event_type == "result").count();
        let under_way = events
            .iter()
            .rev()
            .find(|e| e.event_type != "custom")
            .is_some_and(|e| e.event_type != "result");
        HeadlessTurnInfo {
            current_turn: finished + usize::from(under_way),
            context_utilization: context_utilization(
                &events,
                token_usage.as_ref().and_then(|t| t.model_used.as_deref()),
            ),
            is_mid_tool: text::is_mid_tool(&events),
        }
    });
    let last_output = tmux_output.clone().or_else(|| last_text(&events));
    let mail = mail_summary(layout, agent)?;
    let time_since_last_activity = clock::parse_rfc3339(&session.last_activity)
        .map_or(0, |t| (clock::now_millis() - t).max(0));
    Ok(InspectReport {
        session,
        time_since_last_activity,
        recent_tool_calls,
        current_file,
        tool_stats,
        token_usage,
        tmux_output,
        headless_turn_info,
        children,
        mail,
        last_output,
        recent_events: events,
    })
}

/// The newest `limit` tool calls of `events`, oldest first.
fn recent_tool_calls(events: &[StoredEvent], limit: usize) -> Vec<ToolCall> {
    let durations = text::tool_durations(events);
    let described = text::describe_all(events, text::DEFAULT_WIDTH);
    let mut calls: Vec<ToolCall> = events
        .iter()
        .zip(described)
        .filter(|(e, _)| e.event_type == "tool_start")
        .map(|(e, summary)| ToolCall {
            tool_name: e.tool_name.clone().unwrap_or_else(|| "unknown".to_owned()),
            args: args_summary(e.tool_args.as_deref()),
            summary,
            duration_ms: durations.get(&e.id).copied(),
            timestamp: e.created_at.clone(),
        })
        .collect();
    if calls.len() > limit {
        calls.drain(..calls.len() - limit);
    }
    calls
}

/// `k=v` pairs of a tool call's stored arguments: values over 40
/// characters become 37 plus `...`, the whole over 100 becomes 97 plus `...`.
fn args_summary(args: Option<&str>) -> String {
    let Some(Value::Object(m)) = args.and_then(|a| serde_json::from_str(a).ok()) else {
        return String::new();
    };
    let cut = |s: &str, max: usize| {
        if s.chars().count() > max {
            format!("{}...", s.chars().take(max - 3).collect::<String>())
        } else {
            s.to_owned()
        }
    };
    let whole = m
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            format!("{k}={}", cut(&v, 40))
        })
        .collect::<Vec<_>>()
        .join(" ");
    cut(&whole, 100)
}

/// The path of the newest `Edit`/`Write`/`Read` call.
fn current_file(events: &[StoredEvent]) -> Option<String> {
    events.iter().rev().find_map(|e| {
        if e.event_type != "tool_start"
            || !matches!(e.tool_name.as_deref(), Some("Edit" | "Write" | "Read"))
        {
            return None;
        }
        let args: Value = serde_json::from_str(e.tool_args.as_deref()?).ok()?;
        args.get("file_path")
            .or_else(|| args.get("path"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    })
}

/// The agent's metrics row for its current task (else its newest row).
fn metrics_tokens(layout: &Layout, session: &Session) -> Result<Option<InspectTokens>, FleetError> {
    let path = layout.metrics_db();
    if !path.is_file() {
        return Ok(None);
    }
    let rows = MetricsStore::open(&path)?.by_agent(session.agent_name.as_str())?;
    let row = rows
        .iter()
        .find(|m| m.task_id == session.task_str())
        .or_else(|| rows.first());
    Ok(row.map(|m| InspectTokens {
        input_tokens: m.input_tokens,
        output_tokens: m.output_tokens,
        cache_read_tokens: m.cache_read_tokens,
        cache_creation_tokens: m.cache_creation_tokens,
        estimated_cost_usd: m.estimated_cost_usd,
        model_used: m.model_used.clone(),
        source: "metrics",
    }))
}

/// The sum of the agent's `result` events' usage and cost.
fn event_tokens(store: &EventStore, agent: &str) -> Result<Option<InspectTokens>, FleetError> {
    let all = store.by_agent(agent, &EventFilter::default())?;
    let mut t = InspectTokens {
        input_tokens: 0,
        output_tokens: 0,
        cache_read_tokens: 0,
        cache_creation_tokens: 0,
        estimated_cost_usd: None,
        model_used: None,
        source: "events",
    };
    let mut any = false;
    for e in &all {
        if e.event_type == "progress" && t.model_used.is_none() {
            t.model_used = e
                .data_json()
                .and_then(|d| d.get("model").and_then(Value::as_str).map(str::to_owned));
        }
        let Some(r) = TurnResult::of(e) else { continue };
        if let Some(u) = r.usage {
            any = true;
            t.input_tokens += u.input;
            t.output_tokens += u.output;
            t.cache_read_tokens += u.cache_read;
            t.cache_creation_tokens += u.cache_creation;
        }
        if let Some(c) = r.cost_usd {
            any = true;
            *t.estimated_cost_usd.get_or_insert(0.0) += c;
        }
    }
    Ok(any.then_some(t))
}

/// The share of the context window used by the newest call among `events`
/// (oldest first): the newest assistant message's usage, else the newest
/// turn result's, over the window of the newest model named in an assistant
/// message (else `model_hint`).
fn context_utilization(events: &[StoredEvent], model_hint: Option<&str>) -> Option<f64> {
    let assistant: Vec<Value> = events
        .iter()
        .rev()
        .filter(|e| e.event_type == "progress")
        .filter_map(StoredEvent::data_json)
        .filter(|d| d.get("type").and_then(Value::as_str) == Some("assistant_message"))
        .collect();
    let usage = assistant
        .iter()
        .find_map(|d| d.get("usage").and_then(Usage::from_json))
        .or_else(|| {
            events
                .iter()
                .rev()
                .find_map(|e| TurnResult::of(e).and_then(|r| r.usage))
        })?;
    let model = assistant
        .iter()
        .find_map(|d| d.get("model").and_then(Value::as_str).map(str::to_owned))
        .or_else(|| model_hint.map(str::to_owned))?;
    let window = overstory_runtime::model::context_window(&model)?;
    let used = usage.input + usage.cache_read + usage.cache_creation;
    #[allow(clippy::cast_precision_loss, reason = "a share, not a count")]
    // A turn result sums its calls, so its share can pass the window.
    Some((used.max(0) as f64 / window as f64).min(1.0))
}

/// The newest assistant text or turn result among `events`.
fn last_text(events: &[StoredEvent]) -> Option<String> {
    events
        .iter()
        .rev()
        .find_map(text::assistant_text)
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn mail_line(m: MailMessage, incoming: bool) -> MailLine {
    MailLine {
        peer: if incoming { m.from } else { m.to },
        id: m.id,
        subject: m.subject,
        kind: m.kind.to_string(),
        read: m.read,
        created_at: m.created_at,
    }
}

/// Counts and the newest subjects of mail to and from `agent`.
fn mail_summary(layout: &Layout, agent: &str) -> Result<MailSummary, FleetError> {
    let path = layout.mail_db();
    if !path.is_file() {
        return Ok(MailSummary::default());
    }
    let store = MailStore::open(&path)?;
    let to = ListFilter {
        to: Some(agent.to_owned()),
        ..ListFilter::default()
    };
    let from = ListFilter {
        from: Some(agent.to_owned()),
        ..ListFilter::default()
    };
    let latest = |f: &ListFilter| ListFilter {
        limit: Some(MAIL_LATEST),
        ..f.clone()
    };
    Ok(MailSummary {
        received: store.count(&to)?,
        unread: store.count(&ListFilter {
            unread: Some(true),
            ..to.clone()
        })?,
        sent: store.count(&from)?,
        latest_received: store
            .list(&latest(&to))?
            .into_iter()
            .map(|m| mail_line(m, true))
            .collect(),
        latest_sent: store
            .list(&latest(&from))?
            .into_iter()
            .map(|m| mail_line(m, false))
            .collect(),
    })
}
