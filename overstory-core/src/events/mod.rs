//! The event store (`.overstory/events.db`): the timeline every part of
//! overstory writes and the observability commands read.
//!
//! One row per event: tool calls, session starts and ends, mail, turn
//! results, errors, and `custom` events whose `data` JSON object carries a
//! `"type"` discriminator (`resume_mismatch`, `escalation`, `nudge`,
//! `triage`, `run_complete`). The schema is the original's, so a project can
//! move between implementations.
//!
//! Invariants kept here:
//! - `created_at` is always written by us as RFC 3339 with a `Z`; rows written
//!   by SQLite's default (no `Z`) are read back with the `Z` added.
//! - Reads that users expect to show "the latest" take the newest N rows and
//!   return them oldest first ([`EventFilter::newest`]).
//! - High-rate producers insert in batches, one transaction per batch
//!   ([`EventStore::insert_many`], [`EventBatcher`]).
//! - Retention: [`EventStore::purge`] deletes by age and/or agent in one
//!   statement, so the file cannot grow forever (`ov log prune`).

mod filter;
mod store;
pub(crate) use store::MIGRATIONS;
mod tailer;

pub use filter::{FilteredArgs, SUMMARY_MAX_CHARS, filter_tool_args, truncate};
pub use store::{
    Correlation, EventBatcher, EventFilter, EventPurge, EventStore, FollowFilter, ToolStat,
    normalize_timestamp,
};
pub use tailer::{
    SessionIdSink, Tailer, TailerHandle, TailerOptions, find_latest_stdout_log, spawn_tailer,
};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// The kind of an event (`event_type` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A tool call started (the PreToolUse hook, `ov log tool-start`).
    ToolStart,
    /// A tool call ended (the PostToolUse hook); its start row gets the duration.
    ToolEnd,
    /// A runtime session (or turn) started.
    SessionStart,
    /// A runtime session ended (the Stop hook, or `ov clean` for each agent it stops).
    SessionEnd,
    /// Mail was sent; one event per stored message, by its sender.
    MailSent,
    /// Mail was received.
    MailReceived,
    /// An agent was spawned.
    Spawn,
    /// Something failed; such events are stored at level `error`.
    Error,
    /// A structured event whose `data` has a `"type"` field.
    #[default]
    Custom,
    /// A turn started, as reported in a runtime's NDJSON output.
    TurnStart,
    /// A turn ended, as reported in a runtime's NDJSON output.
    TurnEnd,
    /// The agent reported progress in its NDJSON output.
    Progress,
    /// A turn's result, as reported in a runtime's NDJSON output.
    Result,
}

impl EventType {
    /// Every event type, in the original's order.
    pub const ALL: [EventType; 13] = [
        Self::ToolStart,
        Self::ToolEnd,
        Self::SessionStart,
        Self::SessionEnd,
        Self::MailSent,
        Self::MailReceived,
        Self::Spawn,
        Self::Error,
        Self::Custom,
        Self::TurnStart,
        Self::TurnEnd,
        Self::Progress,
        Self::Result,
    ];

    /// Returns the stored name (`tool_start`).
    pub fn as_str(self) -> &'static str {
        self.labels().0
    }

    /// Returns the 5-character label used by `ov feed` (`TOOL+`).
    pub fn compact_label(self) -> &'static str {
        self.labels().1
    }

    /// Returns the 10-character label used by `ov trace` (`TOOL START`).
    pub fn full_label(self) -> &'static str {
        self.labels().2
    }

    /// The one table of names and labels.
    fn labels(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::ToolStart => ("tool_start", "TOOL+", "TOOL START"),
            Self::ToolEnd => ("tool_end", "TOOL-", "TOOL END  "),
            Self::SessionStart => ("session_start", "SESS+", "SESSION  +"),
            Self::SessionEnd => ("session_end", "SESS-", "SESSION  -"),
            Self::MailSent => ("mail_sent", "MAIL>", "MAIL SENT "),
            Self::MailReceived => ("mail_received", "MAIL<", "MAIL RECV "),
            Self::Spawn => ("spawn", "SPAWN", "SPAWN     "),
            Self::Error => ("error", "ERROR", "ERROR     "),
            Self::Custom => ("custom", "CUSTM", "CUSTOM    "),
            Self::TurnStart => ("turn_start", "TURN+", "TURN START"),
            Self::TurnEnd => ("turn_end", "TURN-", "TURN END  "),
            Self::Progress => ("progress", "PROG ", "PROGRESS  "),
            Self::Result => ("result", "RSULT", "RESULT    "),
        }
    }

    /// Returns the type named `s`, or `None` for a name this version does not know.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| ValidationError::NotOneOf {
            field: "eventType",
            value: s.to_owned(),
            expected: Self::ALL.map(Self::as_str).join(", "),
        })
    }
}

/// The severity of an event (`level` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventLevel {
    /// Detail.
    Debug,
    /// Normal.
    #[default]
    Info,
    /// Attention.
    Warn,
    /// Failure.
    Error,
}

impl EventLevel {
    /// Every level, lowest first.
    pub const ALL: [EventLevel; 4] = [Self::Debug, Self::Info, Self::Warn, Self::Error];

    /// Returns the stored name (`info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for EventLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventLevel {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| ValidationError::NotOneOf {
                field: "level",
                value: s.to_owned(),
                expected: "debug, info, warn, error".into(),
            })
    }
}

/// An event to insert; only `agent_name` and `event_type` are required.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewEvent {
    /// The run the event belongs to (`run-2026-03-05T14-52-26-089Z`), if any.
    pub run_id: Option<String>,
    /// The agent (or `watchdog`, `operator`) that produced it.
    pub agent_name: String,
    /// The runtime's session id, when known.
    pub session_id: Option<String>,
    /// What happened; the `event_type` column.
    pub event_type: EventType,
    /// The tool's name (`Bash`, `Edit`), for tool events.
    pub tool_name: Option<String>,
    /// The filtered tool arguments as a JSON string.
    pub tool_args: Option<String>,
    /// How long the tool call took, in ms; on a `tool_start` row, `None` until its end is paired.
    pub tool_duration_ms: Option<i64>,
    /// The severity (default `info`); `ov errors` shows `error` events.
    pub level: EventLevel,
    /// Usually a JSON object as a string.
    pub data: Option<String>,
    /// The time stamp; `None` means now.
    pub created_at: Option<String>,
}

impl NewEvent {
    /// Starts an event of `event_type` by `agent_name` at level `info`.
    pub fn new(agent_name: impl Into<String>, event_type: EventType) -> Self {
        Self {
            agent_name: agent_name.into(),
            event_type,
            ..Self::default()
        }
    }

    /// Starts a `custom` event whose data is `{"type": kind, ...fields}`.
    ///
    /// `fields` should be a JSON object; its keys follow `"type"`.
    pub fn custom(agent_name: impl Into<String>, kind: &str, fields: serde_json::Value) -> Self {
        let mut map = serde_json::Map::new();
        map.insert("type".into(), serde_json::Value::String(kind.to_owned()));
        if let serde_json::Value::Object(f) = fields {
            map.extend(f);
        }
        Self::new(agent_name, EventType::Custom).data(&serde_json::Value::Object(map))
    }

    /// Sets the level.
    pub fn level(mut self, level: EventLevel) -> Self {
        self.level = level;
        self
    }

    /// Sets the run id.
    pub fn run(mut self, run_id: Option<String>) -> Self {
        self.run_id = run_id;
        self
    }

    /// Sets the session id.
    pub fn session(mut self, session_id: Option<String>) -> Self {
        self.session_id = session_id;
        self
    }

    /// Sets the tool name and the JSON of its filtered arguments.
    pub fn tool(mut self, name: impl Into<String>, args: Option<&serde_json::Value>) -> Self {
        self.tool_name = Some(name.into());
        self.tool_args = args.map(serde_json::Value::to_string);
        self
    }

    /// Sets `data` to the JSON text of `value`.
    pub fn data(mut self, value: &serde_json::Value) -> Self {
        self.data = Some(value.to_string());
        self
    }

    /// Sets the time stamp.
    pub fn at(mut self, created_at: impl Into<String>) -> Self {
        self.created_at = Some(created_at.into());
        self
    }
}

/// An event as stored. Serialises with the original's camelCase names;
/// `toolArgs` and `data` stay JSON-encoded strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    /// Auto-incremented id; later events have larger ids.
    pub id: i64,
    /// The run the event belongs to, if any.
    pub run_id: Option<String>,
    /// The agent (or `watchdog`, `operator`) that produced the event.
    pub agent_name: String,
    /// The runtime's session id, when the producer knew it.
    pub session_id: Option<String>,
    /// The stored type name (kept as text: older or newer writers may store
    /// names this version does not know).
    pub event_type: String,
    /// The tool's name (`Bash`, `Edit`), for tool events.
    pub tool_name: Option<String>,
    /// The tool call's identifying arguments (paths, patterns, commands) as JSON text.
    pub tool_args: Option<String>,
    /// How long the tool call took, in ms; on a `tool_start` row, `None` until its end is paired.
    pub tool_duration_ms: Option<i64>,
    /// The level as stored: `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// Data (usually JSON text).
    pub data: Option<String>,
    /// RFC 3339 time stamp with `Z`.
    pub created_at: String,
}

impl StoredEvent {
    /// Returns the event's type, or `None` for a name this version does not know.
    pub fn kind(&self) -> Option<EventType> {
        EventType::parse(&self.event_type)
    }

    /// Returns the 5-character label, `?????` for unknown types.
    pub fn compact_label(&self) -> &'static str {
        self.kind().map_or("?????", EventType::compact_label)
    }

    /// Returns the 10-character label, `UNKNOWN   ` for unknown types.
    pub fn full_label(&self) -> &'static str {
        self.kind().map_or("UNKNOWN   ", EventType::full_label)
    }

    /// Returns `data` parsed as JSON, if it is JSON.
    pub fn data_json(&self) -> Option<serde_json::Value> {
        self.data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
    }

    /// Returns the `"type"` of a custom event's data object.
    pub fn custom_type(&self) -> Option<String> {
        self.data_json()?.get("type")?.as_str().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_labels_of_fixed_width() {
        for t in EventType::ALL {
            assert_eq!(t.compact_label().chars().count(), 5, "{t}");
            assert_eq!(t.full_label().chars().count(), 10, "{t}");
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
    }

    #[test]
    fn custom_event_data_starts_with_type() {
        let e = NewEvent::custom(
            "builder-1",
            "resume_mismatch",
            serde_json::json!({"requestedSessionId": "a", "observedSessionId": "b"}),
        );
        assert_eq!(
            e.data.as_deref(),
            Some(r#"{"type":"resume_mismatch","requestedSessionId":"a","observedSessionId":"b"}"#)
        );
        assert_eq!(e.event_type, EventType::Custom);
    }

    #[test]
    fn unknown_level_is_a_validation_error() {
        assert!("fatal".parse::<EventLevel>().is_err());
        assert_eq!("warn".parse::<EventLevel>().ok(), Some(EventLevel::Warn));
    }
}
