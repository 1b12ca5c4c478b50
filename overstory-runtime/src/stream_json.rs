//! Typed events parsed from a runtime's stdout, and the stream-json parser.
//!
//! Claude Code's `-p --output-format stream-json --verbose` mode (and the
//! scripted agent, which speaks the same dialect) writes one JSON object per
//! line. [`LineParser`] turns one line into [`Fragment`]s; [`EventReader`]
//! reads an async byte stream, reassembles lines split across reads, batches
//! adjacent assistant text into one [`RuntimeEvent::AssistantMessage`] and
//! yields events in order.
//!
//! The parser never panics and never fails on content: malformed JSON, lines
//! that are not objects, unknown `type`s and invalid UTF-8 are skipped and
//! recorded as [`Diagnostic`]s, which the caller may take and log.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Default time a text batch may wait before it is flushed.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// Default size (UTF-8 bytes) at which a text batch is flushed.
pub const DEFAULT_FLUSH_SIZE_BYTES: usize = 4096;
/// Longest line prefix kept in a [`Diagnostic`].
const DIAGNOSTIC_SNIPPET: usize = 500;

/// One event of an agent turn, as the turn runner stores it.
///
/// Serialises with the original's field names (`{"type":"tool_use","callId":…}`);
/// optional fields are left out when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuntimeEvent {
    /// A `system` line (`init` at the start of every turn, including resumes).
    Status {
        /// Parse time (ISO-8601).
        timestamp: String,
        /// The runtime's session id.
        #[serde(rename = "sessionId", skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        /// The `system` subtype (`init`).
        #[serde(skip_serializing_if = "Option::is_none")]
        subtype: Option<String>,
        /// The model the runtime reports.
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// The runtime's working directory.
        #[serde(skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        /// The tools the runtime offers.
        #[serde(skip_serializing_if = "Option::is_none")]
        tools: Option<Vec<String>>,
    },
    /// Assistant text, batched across adjacent text blocks.
    AssistantMessage {
        /// Time of the batch's first fragment.
        timestamp: String,
        /// The text of every fragment in the batch, concatenated in order.
        text: String,
        /// The latest model id seen in the batch.
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// The latest usage object seen in the batch.
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<Value>,
    },
    /// The assistant called a tool.
    ToolUse {
        /// Parse time.
        timestamp: String,
        /// The tool call id (`toolu_…`).
        #[serde(rename = "callId", skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
        /// The tool name (`Bash`).
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The tool input, verbatim.
        #[serde(default)]
        input: Value,
    },
    /// A tool finished (reported on a `user` line).
    ToolResult {
        /// Parse time.
        timestamp: String,
        /// The call this result answers.
        #[serde(rename = "toolUseId", skip_serializing_if = "Option::is_none")]
        tool_use_id: Option<String>,
        /// The result content, verbatim (string or array of blocks).
        #[serde(default)]
        content: Value,
        /// Whether the tool failed (a guard denial shows up here).
        #[serde(rename = "isError", skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
    },
    /// The turn's final `result` line.
    Result {
        /// Parse time.
        timestamp: String,
        /// The runtime's session id.
        #[serde(rename = "sessionId", skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        /// The result subtype (`success`, `error_max_turns`, ...).
        #[serde(skip_serializing_if = "Option::is_none")]
        subtype: Option<String>,
        /// The turn's final answer (`result`, usually text), when it has one.
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        /// Whether the turn failed.
        #[serde(rename = "isError", skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
        /// Wall time of the turn in milliseconds.
        #[serde(rename = "durationMs", skip_serializing_if = "Option::is_none")]
        duration_ms: Option<f64>,
        /// Model round trips in the turn.
        #[serde(rename = "numTurns", skip_serializing_if = "Option::is_none")]
        num_turns: Option<u64>,
        /// Token usage of the turn.
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<Value>,
        /// Cost of the turn in US dollars.
        #[serde(rename = "totalCostUsd", skip_serializing_if = "Option::is_none")]
        total_cost_usd: Option<f64>,
    },
}

impl RuntimeEvent {
    /// Returns the event's `type` string (`tool_use`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::AssistantMessage { .. } => "assistant_message",
            Self::ToolUse { .. } => "tool_use",
            Self::ToolResult { .. } => "tool_result",
            Self::Result { .. } => "result",
        }
    }

    /// Returns the session id the event carries, when it is a non-empty string.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Self::Status { session_id, .. } | Self::Result { session_id, .. } => {
                session_id.as_deref().filter(|s| !s.is_empty())
            }
            _ => None,
        }
    }

    /// Returns the event's timestamp.
    pub fn timestamp(&self) -> &str {
        match self {
            Self::Status { timestamp, .. }
            | Self::AssistantMessage { timestamp, .. }
            | Self::ToolUse { timestamp, .. }
            | Self::ToolResult { timestamp, .. }
            | Self::Result { timestamp, .. } => timestamp,
        }
    }

    /// Returns the events.db `eventType` the turn runner stores this event
    /// as: `tool_start`, `tool_end`, `session_start`, `result` or `progress`.
    pub fn store_type(&self) -> &'static str {
        match self {
            Self::ToolUse { .. } => "tool_start",
            Self::ToolResult { .. } => "tool_end",
            Self::Status { .. } => "session_start",
            Self::Result { .. } => "result",
            Self::AssistantMessage { .. } => "progress",
        }
    }

    /// Returns the events.db level: `error` for a failed result, else `info`.
    pub fn store_level(&self) -> &'static str {
        match self {
            Self::Result {
                is_error: Some(true),
                ..
            } => "error",
            _ => "info",
        }
    }

    /// Returns the tool name of a `tool_use`.
    pub fn tool_name(&self) -> Option<&str> {
        match self {
            Self::ToolUse { name, .. } => name.as_deref(),
            _ => None,
        }
    }

    /// Returns a result's duration rounded to whole milliseconds.
    pub fn duration_ms_rounded(&self) -> Option<i64> {
        match self {
            Self::Result {
                duration_ms: Some(d),
                ..
            } if d.is_finite() => Some(d.round() as i64),
            _ => None,
        }
    }

    /// Returns whether this is a `result` that ended the turn cleanly
    /// (`isError` not `true`).
    pub fn is_clean_result(&self) -> bool {
        matches!(self, Self::Result { is_error, .. } if *is_error != Some(true))
    }
}

/// A line the parser skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Why the line was skipped.
    pub kind: DiagnosticKind,
    /// The line's first characters.
    pub snippet: String,
}

/// Why a line was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// Not valid JSON (or not valid UTF-8).
    Malformed,
    /// Valid JSON but not an object, or without a string `type`.
    NotAnEvent,
    /// A `type` this parser does not map (`log`, `stream_event`, ...).
    UnknownType,
    /// A known `type` whose `message` is not an object.
    BadMessage,
}

/// What one line contributes before batching.
#[derive(Debug, Clone, PartialEq)]
pub enum Fragment {
    /// Assistant text to batch.
    Text {
        /// The fragment's text, appended to the current batch.
        text: String,
        /// The message's model, if present.
        model: Option<String>,
        /// The message's usage, if present.
        usage: Option<Value>,
    },
    /// A finished event (flushes pending text first).
    Event(RuntimeEvent),
    /// Nothing to emit, but pending text must be flushed (a `user` line
    /// without tool results).
    Flush,
}

/// Parses single stream-json lines. Stateless apart from the clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineParser;

impl LineParser {
    /// Parses one line (already split on `\n`) into fragments.
    ///
    /// Blank lines give nothing. Skipped lines give a diagnostic.
    pub fn parse(line: &str, now: &str) -> (Vec<Fragment>, Option<Diagnostic>) {
        let line = line.trim();
        if line.is_empty() {
            return (Vec::new(), None);
        }
        let diag = |kind| {
            (
                Vec::new(),
                Some(Diagnostic {
                    kind,
                    snippet: snippet(line),
                }),
            )
        };
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) => return diag(DiagnosticKind::Malformed),
        };
        let Some(obj) = value.as_object() else {
            return diag(DiagnosticKind::NotAnEvent);
        };
        let Some(kind) = obj.get("type").and_then(Value::as_str) else {
            return diag(DiagnosticKind::NotAnEvent);
        };
        let ts = || now.to_owned();
        match kind {
            "system" => (
                vec![Fragment::Event(RuntimeEvent::Status {
                    timestamp: ts(),
                    session_id: string(obj, "session_id"),
                    subtype: string(obj, "subtype"),
                    model: string(obj, "model"),
                    cwd: string(obj, "cwd"),
                    tools: obj.get("tools").and_then(Value::as_array).map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_owned))
                            .collect()
                    }),
                })],
                None,
            ),
            "assistant" => {
                let Some(msg) = obj.get("message").and_then(Value::as_object) else {
                    return diag(DiagnosticKind::BadMessage);
                };
                let model = string(msg, "model");
                let usage = msg.get("usage").filter(|u| u.is_object()).cloned();
                let mut out = Vec::new();
                for block in content_blocks(msg) {
                    let Some(b) = block.as_object() else { continue };
                    match b.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            let text = match b.get("text") {
                                Some(Value::String(s)) => s.clone(),
                                Some(Value::Null) | None => String::new(),
                                Some(other) => other.to_string(),
                            };
                            out.push(Fragment::Text {
                                text,
                                model: model.clone(),
                                usage: usage.clone(),
                            });
                        }
                        Some("tool_use") => out.push(Fragment::Event(RuntimeEvent::ToolUse {
                            timestamp: ts(),
                            call_id: string(b, "id"),
                            name: string(b, "name"),
                            input: b.get("input").cloned().unwrap_or(Value::Null),
                        })),
                        _ => {}
                    }
                }
                (out, None)
            }
            "user" => {
                let Some(msg) = obj.get("message").and_then(Value::as_object) else {
                    return diag(DiagnosticKind::BadMessage);
                };
                let mut out = vec![Fragment::Flush];
                for block in content_blocks(msg) {
                    let Some(b) = block.as_object() else { continue };
                    if b.get("type").and_then(Value::as_str) == Some("tool_result") {
                        out.push(Fragment::Event(RuntimeEvent::ToolResult {
                            timestamp: ts(),
                            tool_use_id: string(b, "tool_use_id"),
                            content: b.get("content").cloned().unwrap_or(Value::Null),
                            is_error: b.get("is_error").and_then(Value::as_bool),
                        }));
                    }
                }
                (out, None)
            }
            "result" => (
                vec![Fragment::Event(RuntimeEvent::Result {
                    timestamp: ts(),
                    session_id: string(obj, "session_id"),
                    subtype: string(obj, "subtype"),
                    result: obj.get("result").cloned(),
                    is_error: obj.get("is_error").and_then(Value::as_bool),
                    duration_ms: obj.get("duration_ms").and_then(Value::as_f64),
                    num_turns: obj.get("num_turns").and_then(Value::as_u64),
                    usage: obj.get("usage").filter(|u| u.is_object()).cloned(),
                    total_cost_usd: obj.get("total_cost_usd").and_then(Value::as_f64),
                })],
                None,
            ),
            _ => diag(DiagnosticKind::UnknownType),
        }
    }
}

fn string(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn content_blocks(msg: &Map<String, Value>) -> &[Value] {
    msg.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn snippet(line: &str) -> String {
    match line.char_indices().nth(DIAGNOSTIC_SNIPPET) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_owned(),
    }
}

/// Splits a byte stream into lines, keeping an unterminated tail buffered.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    /// Appends bytes and returns every complete line (without `\n`).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let rest = self.buf.split_off(pos + 1);
            let mut line = std::mem::replace(&mut self.buf, rest);
            line.pop();
            lines.push(String::from_utf8_lossy(&line).into_owned());
        }
        lines
    }

    /// Returns the unterminated tail, if any, and empties the buffer.
    pub fn finish(&mut self) -> Option<String> {
        if self.buf.is_empty() {
            return None;
        }
        let tail = std::mem::take(&mut self.buf);
        Some(String::from_utf8_lossy(&tail).into_owned())
    }
}

/// Pending assistant text.
#[derive(Debug, Default)]
struct Batch {
    text: String,
    timestamp: String,
    model: Option<String>,
    usage: Option<Value>,
    started: Option<tokio::time::Instant>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.started.is_none()
    }

    fn take(&mut self) -> Option<RuntimeEvent> {
        self.started.take()?;
        Some(RuntimeEvent::AssistantMessage {
            timestamp: std::mem::take(&mut self.timestamp),
            text: std::mem::take(&mut self.text),
            model: self.model.take(),
            usage: self.usage.take(),
        })
    }
}

/// Options of an [`EventReader`].
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// A text batch is flushed this long after its first fragment.
    pub flush_interval: Duration,
    /// A text batch is flushed when it reaches this many UTF-8 bytes.
    pub flush_size_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            flush_size_bytes: DEFAULT_FLUSH_SIZE_BYTES,
        }
    }
}

/// A callback told the session id once, before the first event carrying it
/// is yielded.
pub type SessionIdHook = Box<dyn FnMut(&str) + Send>;

/// Reads [`RuntimeEvent`]s from a runtime's stdout.
///
/// Call [`EventReader::next`] until it returns `Ok(None)` (end of stream).
/// Text is batched as described in the module docs; the batch timer runs
/// even while the stream is idle.
pub struct EventReader<R> {
    reader: R,
    opts: ParseOptions,
    splitter: LineSplitter,
    batch: Batch,
    ready: VecDeque<RuntimeEvent>,
    diagnostics: Vec<Diagnostic>,
    on_session_id: Option<SessionIdHook>,
    eof: bool,
    chunk: Box<[u8]>,
    bytes_read: u64,
    last_read_at: Option<tokio::time::Instant>,
}

impl<R> std::fmt::Debug for EventReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader")
            .field("opts", &self.opts)
            .field("ready", &self.ready.len())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> EventReader<R> {
    /// Creates a reader over `reader` with `opts`.
    pub fn new(reader: R, opts: ParseOptions) -> Self {
        Self {
            reader,
            opts,
            splitter: LineSplitter::default(),
            batch: Batch::default(),
            ready: VecDeque::new(),
            diagnostics: Vec::new(),
            on_session_id: None,
            eof: false,
            chunk: vec![0; 8192].into_boxed_slice(),
            bytes_read: 0,
            last_read_at: None,
        }
    }

    /// Sets the hook told the first non-empty session id (status or result),
    /// once, before that event is yielded. A panic in the hook is caught and
    /// ignored.
    pub fn on_session_id(mut self, hook: SessionIdHook) -> Self {
        self.on_session_id = Some(hook);
        self
    }

    /// Returns how many bytes have been read from the stream.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Returns when bytes were last read (raw output counts as activity even
    /// while text is still being batched).
    pub fn last_read_at(&self) -> Option<tokio::time::Instant> {
        self.last_read_at
    }

    /// Takes the diagnostics recorded so far (skipped lines).
    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.diagnostics)
    }

    /// Returns the next event, or `None` at end of stream.
    ///
    /// # Errors
    /// The underlying read failed; events already parsed are kept and a
    /// later call continues.
    ///
    /// # Cancel safety
    /// Cancel safe: bytes already read stay buffered and no event is lost if
    /// the future is dropped.
    pub async fn next(&mut self) -> std::io::Result<Option<RuntimeEvent>> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Ok(Some(self.pin_session(ev)));
            }
            if self.eof {
                return Ok(self.batch.take().map(|ev| self.pin_session(ev)));
            }
            let deadline = self.batch.started.map(|t| t + self.opts.flush_interval);
            let read = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, self.reader.read(&mut self.chunk))
                        .await
                        .ok(),
                    None => Some(self.reader.read(&mut self.chunk).await),
                }
            }
            .await;
            match read {
                None => {
                    // The batch window elapsed while the stream was idle.
                    if let Some(ev) = self.batch.take() {
                        self.ready.push_back(ev);
                    }
                }
                Some(Ok(0)) => {
                    self.eof = true;
                    if let Some(tail) = self.splitter.finish() {
                        self.handle_line(&tail);
                    }
                }
                Some(Ok(n)) => {
                    self.bytes_read += n as u64;
                    self.last_read_at = Some(tokio::time::Instant::now());
                    let lines = self.splitter.push(&self.chunk[..n]);
                    for line in lines {
                        self.handle_line(&line);
                    }
                }
                Some(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Some(Err(e)) => return Err(e),
            }
        }
    }

    fn pin_session(&mut self, ev: RuntimeEvent) -> RuntimeEvent {
        if let Some(sid) = ev.session_id()
            && let Some(mut hook) = self.on_session_id.take()
        {
            let sid = sid.to_owned();
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&sid)));
        }
        ev
    }

    fn handle_line(&mut self, line: &str) {
        let now = overstory_core::clock::now_rfc3339();
        let (fragments, diag) = LineParser::parse(line, &now);
        if let Some(d) = diag {
            tracing::debug!(kind = ?d.kind, line = %d.snippet, "skipped stream-json line");
            self.diagnostics.push(d);
        }
        for f in fragments {
            match f {
                Fragment::Text { text, model, usage } => self.push_text(text, model, usage, &now),
                Fragment::Event(ev) => {
                    self.flush_batch();
                    self.ready.push_back(ev);
                }
                Fragment::Flush => self.flush_batch(),
            }
        }
    }

    fn flush_batch(&mut self) {
        if let Some(ev) = self.batch.take() {
            self.ready.push_back(ev);
        }
    }

    fn push_text(&mut self, text: String, model: Option<String>, usage: Option<Value>, now: &str) {
        let cap = self.opts.flush_size_bytes;
        if !self.batch.is_empty() && self.batch.text.len() + text.len() > cap {
            self.flush_batch();
        }
        if self.batch.is_empty() {
            self.batch.started = Some(tokio::time::Instant::now());
            now.clone_into(&mut self.batch.timestamp);
        }
        self.batch.text.push_str(&text);
        if model.is_some() {
            self.batch.model = model;
        }
        if usage.is_some() {
            self.batch.usage = usage;
        }
        if self.batch.text.len() >= cap {
            self.flush_batch();
        }
    }
}

/// Encodes one user turn as the stream-json line headless Claude reads on
/// stdin (newline-terminated).
pub fn encode_user_turn(text: &str) -> String {
    let v = serde_json::json!({
        "type": "user",
        "message": {"role": "user", "content": [{"type": "text", "text": text}]},
    });
    format!("{v}\n")
}

/// Extracts the text of a user turn written by [`encode_user_turn`] (or by
/// any stream-json writer): all text blocks of all `user` lines, joined by
/// newlines. Lines that are not user messages are ignored.
pub fn decode_user_turns(input: &str) -> String {
    let mut parts = Vec::new();
    for line in input.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        if v.get("type").and_then(Value::as_str) != Some("user") {
            continue;
        }
        match v.pointer("/message/content") {
            Some(Value::String(s)) => parts.push(s.clone()),
            Some(Value::Array(blocks)) => {
                for b in blocks {
                    if let Some(t) = b.get("text").and_then(Value::as_str) {
                        parts.push(t.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn collect(input: &[u8]) -> Vec<RuntimeEvent> {
        collect_with(input, ParseOptions::default())
    }

    fn collect_with(input: &[u8], opts: ParseOptions) -> Vec<RuntimeEvent> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut r = EventReader::new(input, opts);
            let mut out = Vec::new();
            while let Some(ev) = r.next().await.unwrap() {
                out.push(ev);
            }
            out
        })
    }

    fn kinds(evs: &[RuntimeEvent]) -> Vec<&'static str> {
        evs.iter().map(RuntimeEvent::kind).collect()
    }

    const INIT: &str = r#"{"type":"system","subtype":"init","session_id":"s-1","model":"claude-x","cwd":"/w","tools":["Bash"]}"#;
    const RESULT: &str = r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":12.5,"num_turns":2,"result":"done","session_id":"s-1","total_cost_usd":0.25,"usage":{"input_tokens":3}}"#;

    fn assistant(blocks: &str) -> String {
        format!(
            r#"{{"type":"assistant","message":{{"model":"m1","usage":{{"output_tokens":1}},"content":[{blocks}]}}}}"#
        )
    }

    #[test]
    fn empty_stream_yields_nothing() {
        assert!(collect(b"").is_empty());
    }

    #[test]
    fn fixture_stream_maps_to_status_message_result() {
        let input = format!(
            "{INIT}\n{}\n{RESULT}\n",
            assistant(r#"{"type":"text","text":"hello"}"#)
        );
        let evs = collect(input.as_bytes());
        assert_eq!(kinds(&evs), ["status", "assistant_message", "result"]);
        let RuntimeEvent::Status {
            session_id,
            subtype,
            model,
            cwd,
            tools,
            ..
        } = &evs[0]
        else {
            panic!()
        };
        assert_eq!(session_id.as_deref(), Some("s-1"));
        assert_eq!(subtype.as_deref(), Some("init"));
        assert_eq!(model.as_deref(), Some("claude-x"));
        assert_eq!(cwd.as_deref(), Some("/w"));
        assert_eq!(tools.as_deref(), Some(&["Bash".to_owned()][..]));
        let RuntimeEvent::AssistantMessage {
            text, model, usage, ..
        } = &evs[1]
        else {
            panic!()
        };
        assert_eq!(text, "hello");
        assert_eq!(model.as_deref(), Some("m1"));
        assert_eq!(usage.as_ref().unwrap()["output_tokens"], 1);
        assert!(evs[2].is_clean_result());
    }

    #[test]
    fn store_mapping_matches_the_turn_runner_table() {
        let input = format!(
            "{INIT}\n{}\n{}\n{RESULT}\n",
            assistant(
                r#"{"type":"text","text":"t"},{"type":"tool_use","id":"x","name":"Bash","input":{}}"#
            ),
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"x","content":"o"}]}}"#
        );
        let evs = collect(input.as_bytes());
        let types: Vec<_> = evs.iter().map(RuntimeEvent::store_type).collect();
        assert_eq!(
            types,
            [
                "session_start",
                "progress",
                "tool_start",
                "tool_end",
                "result"
            ]
        );
        assert_eq!(evs[2].tool_name(), Some("Bash"));
        assert_eq!(evs[4].duration_ms_rounded(), Some(13));
        assert_eq!(evs[4].store_level(), "info");
        let err = collect(br#"{"type":"result","is_error":true}"#);
        assert_eq!(err[0].store_level(), "error");
    }

    #[test]
    fn result_keeps_subtype_usage_and_cost() {
        let evs = collect(RESULT.as_bytes());
        let json = serde_json::to_value(&evs[0]).unwrap();
        assert_eq!(json["type"], "result");
        assert_eq!(json["sessionId"], "s-1");
        assert_eq!(json["subtype"], "success");
        assert_eq!(json["isError"], false);
        assert_eq!(json["durationMs"], 12.5);
        assert_eq!(json["numTurns"], 2);
        assert_eq!(json["result"], "done");
        assert_eq!(json["totalCostUsd"], 0.25);
        assert_eq!(json["usage"]["input_tokens"], 3);
        // Round trip through JSON (how the event store keeps it).
        let back: RuntimeEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, evs[0]);
    }

    #[test]
    fn text_tool_use_text_yield_three_events_in_order() {
        let line = assistant(
            r#"{"type":"text","text":"a"},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}},{"type":"text","text":"b"}"#,
        );
        let evs = collect(line.as_bytes());
        assert_eq!(
            kinds(&evs),
            ["assistant_message", "tool_use", "assistant_message"]
        );
        let json = serde_json::to_value(&evs[1]).unwrap();
        assert_eq!(json["callId"], "toolu_1");
        assert_eq!(json["name"], "Bash");
        assert_eq!(json["input"]["command"], "ls");
    }

    #[test]
    fn thinking_blocks_are_skipped() {
        let line = assistant(r#"{"type":"thinking","thinking":"hmm"},{"type":"text","text":"x"}"#);
        let evs = collect(line.as_bytes());
        assert_eq!(kinds(&evs), ["assistant_message"]);
    }

    #[test]
    fn each_tool_result_block_is_one_event_with_is_error() {
        let line = r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"},{"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"no"}],"is_error":true}]}}"#;
        let evs = collect(line.as_bytes());
        assert_eq!(kinds(&evs), ["tool_result", "tool_result"]);
        let a = serde_json::to_value(&evs[0]).unwrap();
        let b = serde_json::to_value(&evs[1]).unwrap();
        assert_eq!(a["toolUseId"], "t1");
        assert_eq!(a["content"], "ok");
        assert!(a.get("isError").is_none());
        assert_eq!(b["content"][0]["text"], "no");
        assert_eq!(b["isError"], true);
    }

    #[test]
    fn unknown_malformed_and_blank_lines_are_skipped_with_diagnostics() {
        let input = format!(
            "\n  \n{{\"type\":\"stream_event\"}}\nnot json\n[1,2]\n{{\"type\":\"assistant\",\"message\":\"str\"}}\n{INIT}\n"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let (evs, diags) = rt.block_on(async {
            let mut r = EventReader::new(input.as_bytes(), ParseOptions::default());
            let mut out = Vec::new();
            while let Some(ev) = r.next().await.unwrap() {
                out.push(ev);
            }
            (out, r.take_diagnostics())
        });
        assert_eq!(kinds(&evs), ["status"]);
        let dk: Vec<_> = diags.iter().map(|d| d.kind).collect();
        assert_eq!(
            dk,
            [
                DiagnosticKind::UnknownType,
                DiagnosticKind::Malformed,
                DiagnosticKind::NotAnEvent,
                DiagnosticKind::BadMessage
            ]
        );
    }

    #[test]
    fn non_array_content_is_treated_as_empty_and_text_is_stringified() {
        let evs = collect(br#"{"type":"assistant","message":{"content":"oops"}}"#);
        assert!(evs.is_empty());
        let evs = collect(assistant(r#"{"type":"text","text":42}"#).as_bytes());
        let RuntimeEvent::AssistantMessage { text, .. } = &evs[0] else {
            panic!()
        };
        assert_eq!(text, "42");
    }

    #[test]
    fn chunk_split_lines_are_reassembled_including_multibyte() {
        let line = format!("{}\n", assistant(r#"{"type":"text","text":"héllo ✓"}"#));
        let bytes = line.as_bytes();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let evs = rt.block_on(async {
            let (mut w, r) = tokio::io::duplex(4);
            let writer = tokio::spawn({
                let bytes = bytes.to_vec();
                async move {
                    use tokio::io::AsyncWriteExt as _;
                    for b in bytes.chunks(3) {
                        w.write_all(b).await.unwrap();
                    }
                }
            });
            let mut rd = EventReader::new(r, ParseOptions::default());
            let mut out = Vec::new();
            while let Some(ev) = rd.next().await.unwrap() {
                out.push(ev);
            }
            writer.await.unwrap();
            out
        });
        let RuntimeEvent::AssistantMessage { text, .. } = &evs[0] else {
            panic!()
        };
        assert_eq!(text, "héllo ✓");
    }

    #[test]
    fn trailing_unterminated_line_is_parsed_and_crlf_works() {
        let input = format!("{INIT}\r\n{RESULT}");
        assert_eq!(kinds(&collect(input.as_bytes())), ["status", "result"]);
    }

    #[test]
    fn adjacent_text_fragments_coalesce_with_latest_model_and_usage() {
        let a = r#"{"type":"assistant","message":{"model":"m1","content":[{"type":"text","text":"a"}]}}"#;
        let b = r#"{"type":"assistant","message":{"model":"m2","usage":{"n":2},"content":[{"type":"text","text":"b"}]}}"#;
        let c = r#"{"type":"assistant","message":{"content":[{"type":"text","text":"c"}]}}"#;
        let evs = collect(format!("{a}\n{b}\n{c}\n").as_bytes());
        assert_eq!(evs.len(), 1);
        let RuntimeEvent::AssistantMessage {
            text, model, usage, ..
        } = &evs[0]
        else {
            panic!()
        };
        assert_eq!(text, "abc");
        assert_eq!(model.as_deref(), Some("m2"));
        assert_eq!(usage.as_ref().unwrap()["n"], 2);
    }

    #[test]
    fn absent_model_and_usage_leave_keys_out() {
        let evs =
            collect(br#"{"type":"assistant","message":{"content":[{"type":"text","text":"a"}]}}"#);
        let json = serde_json::to_value(&evs[0]).unwrap();
        assert!(json.get("model").is_none());
        assert!(json.get("usage").is_none());
    }

    #[test]
    fn non_text_events_split_batches_and_user_lines_flush() {
        let t = |s: &str| assistant(&format!(r#"{{"type":"text","text":"{s}"}}"#));
        let user_plain = r#"{"type":"user","message":{"content":[{"type":"text","text":"x"}]}}"#;
        let input = format!("{}\n{INIT}\n{}\n{user_plain}\n{}\n", t("a"), t("b"), t("c"));
        let evs = collect(input.as_bytes());
        assert_eq!(
            kinds(&evs),
            [
                "assistant_message",
                "status",
                "assistant_message",
                "assistant_message"
            ]
        );
    }

    #[test]
    fn size_cap_splits_without_losing_text_and_oversized_fragment_is_one_event() {
        let opts = ParseOptions {
            flush_size_bytes: 4,
            ..ParseOptions::default()
        };
        let t = |s: &str| assistant(&format!(r#"{{"type":"text","text":"{s}"}}"#));
        let input = format!("{}\n{}\n{}\n{}\n", t("ab"), t("cd"), t("e"), t("ffffffff"));
        let evs = collect_with(input.as_bytes(), opts);
        let texts: Vec<_> = evs
            .iter()
            .map(|e| match e {
                RuntimeEvent::AssistantMessage { text, .. } => text.clone(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(texts, ["abcd", "e", "ffffffff"]);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_stream_flushes_pending_text_after_interval() {
        let (mut w, r) = tokio::io::duplex(1024);
        use tokio::io::AsyncWriteExt as _;
        w.write_all(format!("{}\n", assistant(r#"{"type":"text","text":"hi"}"#)).as_bytes())
            .await
            .unwrap();
        let mut rd = EventReader::new(r, ParseOptions::default());
        let start = tokio::time::Instant::now();
        let ev = rd.next().await.unwrap().unwrap();
        assert_eq!(ev.kind(), "assistant_message");
        assert!(start.elapsed() >= DEFAULT_FLUSH_INTERVAL);
        assert!(rd.bytes_read() > 0);
        assert!(rd.last_read_at().unwrap() < tokio::time::Instant::now());
        // The pending read survived the timer: later lines still arrive.
        w.write_all(format!("{RESULT}\n").as_bytes()).await.unwrap();
        drop(w);
        assert_eq!(rd.next().await.unwrap().unwrap().kind(), "result");
        assert!(rd.next().await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn fragments_within_window_coalesce() {
        let (mut w, r) = tokio::io::duplex(1024);
        use tokio::io::AsyncWriteExt as _;
        let mut rd = EventReader::new(r, ParseOptions::default());
        let writer = tokio::spawn(async move {
            for s in ["a", "b", "c"] {
                let line = format!(
                    "{}\n",
                    assistant(&format!(r#"{{"type":"text","text":"{s}"}}"#))
                );
                w.write_all(line.as_bytes()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let ev = rd.next().await.unwrap().unwrap();
        let RuntimeEvent::AssistantMessage { text, .. } = ev else {
            panic!()
        };
        assert_eq!(text, "abc");
        writer.abort();
    }

    #[test]
    fn session_hook_fires_once_before_the_event_and_survives_panics() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let input = format!("{INIT}\n{RESULT}\n");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let evs = rt.block_on(async {
            let s2 = seen.clone();
            let mut r = EventReader::new(input.as_bytes(), ParseOptions::default()).on_session_id(
                Box::new(move |sid| {
                    s2.lock().unwrap().push(sid.to_owned());
                    panic!("hook failure must not break parsing");
                }),
            );
            let first = r.next().await.unwrap().unwrap();
            // Called before the first event was handed out.
            assert_eq!(seen.lock().unwrap().len(), 1);
            let mut out = vec![first];
            while let Some(ev) = r.next().await.unwrap() {
                out.push(ev);
            }
            out
        });
        assert_eq!(evs.len(), 2);
        assert_eq!(*seen.lock().unwrap(), ["s-1"]);
    }

    #[test]
    fn session_hook_never_fires_without_a_session_id() {
        let seen = Arc::new(Mutex::new(0));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let s2 = seen.clone();
            let input = br#"{"type":"system","subtype":"init","session_id":""}
{"type":"result","is_error":true}
"#;
            let mut r = EventReader::new(&input[..], ParseOptions::default())
                .on_session_id(Box::new(move |_| *s2.lock().unwrap() += 1));
            while r.next().await.unwrap().is_some() {}
        });
        assert_eq!(*seen.lock().unwrap(), 0);
    }

    #[test]
    fn user_turn_round_trips() {
        let line = encode_user_turn("hello\nworld");
        assert!(line.ends_with('\n'));
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["type"], "user");
        assert_eq!(v["message"]["role"], "user");
        assert_eq!(v["message"]["content"][0]["text"], "hello\nworld");
        assert_eq!(decode_user_turns(&line), "hello\nworld");
    }
}
