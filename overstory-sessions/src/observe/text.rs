//! Events as a person reads them: the one place that turns a stored event
//! into a line of text (`Bash  git commit -qm fix  (12 ms)`, the
//! assistant's words, `result ok  in 1,234 / out 56 tokens  $0.01  3.2 s`).
//!
//! Every timeline view (`ov trace`, `ov feed`, `ov replay`, `ov errors`,
//! `ov inspect`, and any embedding UI) renders through [`describe`] or
//! [`describe_all`]; `--json` output keeps the stored records unchanged.
//!
//! It reads what each producer stores: hook rows (`tool_args` plus
//! `{"summary"}`), turn-runner rows (the runtime event as JSON in `data`:
//! `tool_use`, `tool_result`, `assistant_message`, `status`, `result`),
//! mail rows (`{"to","subject",…}`), and `custom` rows whose `data.type`
//! names them. Anything else falls back to its data as `k=v` pairs.

use std::collections::HashMap;

use overstory_core::clock;
use overstory_core::events::{EventType, StoredEvent};
use serde_json::{Map, Value};

/// Default width of a description when the caller knows no better.
pub const DEFAULT_WIDTH: usize = 100;

/// Returns the first non-blank line of `s`, trimmed.
pub fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// Cuts `s` to at most `max` characters, the last one `…` when cut.
pub fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Formats a count with thousands separators (`1,234`).
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Formats a duration in milliseconds: `12 ms`, `3.2 s`, `4m 05s`.
pub fn duration(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        #[allow(clippy::cast_precision_loss, reason = "display only")]
        let s = ms as f64 / 1000.0;
        format!("{s:.1} s")
    } else {
        format!("{}m {:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// Formats a cost in US dollars: `$0.01`, `$0.0042`, `$12.30`.
pub fn usd(cost: f64) -> String {
    if cost != 0.0 && cost.abs() < 0.01 {
        format!("${cost:.4}")
    } else {
        format!("${cost:.2}")
    }
}

/// Token counts of one turn, read from a runtime `usage` object
/// (`input_tokens`, `output_tokens`, `cache_read_input_tokens`,
/// `cache_creation_input_tokens`; camelCase spellings accepted too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens (not counting the prompt cache).
    pub input: i64,
    /// Output tokens.
    pub output: i64,
    /// Tokens read from the prompt cache.
    pub cache_read: i64,
    /// Tokens written to the prompt cache.
    pub cache_creation: i64,
}

impl Usage {
    /// Reads a usage object; `None` when `v` is not an object.
    pub fn from_json(v: &Value) -> Option<Self> {
        let m = v.as_object()?;
        let n = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| m.get(*k).and_then(Value::as_i64))
                .unwrap_or(0)
        };
        Some(Self {
            input: n(&["input_tokens", "inputTokens"]),
            output: n(&["output_tokens", "outputTokens"]),
            cache_read: n(&["cache_read_input_tokens", "cacheReadTokens"]),
            cache_creation: n(&["cache_creation_input_tokens", "cacheCreationTokens"]),
        })
    }
}

/// The facts of a turn-runner `result` event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnResult {
    /// Whether the turn failed.
    pub is_error: bool,
    /// The result subtype (`success`, `error_max_turns`).
    pub subtype: Option<String>,
    /// Token usage, when reported.
    pub usage: Option<Usage>,
    /// Cost in USD, when reported.
    pub cost_usd: Option<f64>,
    /// Wall time in ms, when reported.
    pub duration_ms: Option<i64>,
    /// The turn's final text, when it has one.
    pub text: Option<String>,
}

impl TurnResult {
    /// Reads a `result` event; `None` for any other event.
    pub fn of(e: &StoredEvent) -> Option<Self> {
        if e.event_type != EventType::Result.as_str() {
            return None;
        }
        let d = e.data_json().unwrap_or(Value::Null);
        let is_error = d.get("isError").and_then(Value::as_bool).unwrap_or(false)
            || d.get("is_error").and_then(Value::as_bool).unwrap_or(false)
            || e.level == "error";
        Some(Self {
            is_error,
            subtype: str_field(&d, "subtype").map(str::to_owned),
            usage: d.get("usage").and_then(Usage::from_json),
            cost_usd: d
                .get("totalCostUsd")
                .or_else(|| d.get("total_cost_usd"))
                .and_then(Value::as_f64),
            duration_ms: e.tool_duration_ms.or_else(|| {
                d.get("durationMs")
                    .or_else(|| d.get("duration_ms"))
                    .and_then(Value::as_f64)
                    .filter(|f| f.is_finite())
                    .map(|f| f.round() as i64)
            }),
            text: d.get("result").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// Returns the assistant's text of a `progress` (`assistant_message`)
/// event, or the final text of a `result`.
pub fn assistant_text(e: &StoredEvent) -> Option<String> {
    let d = e.data_json()?;
    match e.event_type.as_str() {
        "progress" => str_field(&d, "text").map(str::to_owned),
        "result" => str_field(&d, "result").map(str::to_owned),
        _ => None,
    }
}

/// Returns the one-line description of `e`, at most `width` characters.
///
/// Tool durations come from the row (hook-paired starts); use
/// [`describe_all`] to also pair the turn runner's `tool_use` and
/// `tool_result` rows by call id.
pub fn describe(e: &StoredEvent, width: usize) -> String {
    fit(&describe_with(e, None, width), width)
}

/// Describes every event of `events` (oldest first) like [`describe`],
/// giving a turn-runner tool call the time until its result when both
/// are in the list.
pub fn describe_all(events: &[StoredEvent], width: usize) -> Vec<String> {
    let pairs = pair_tool_calls(events);
    events
        .iter()
        .enumerate()
        .map(|(i, e)| fit(&describe_with(e, pairs.get(&i), width), width))
        .collect()
}

/// Returns the duration of each tool call in `events` (oldest first) by the
/// id of its `tool_start` row: the stored duration (hook-paired), else the
/// time until the turn runner's matching `tool_result` row.
pub fn tool_durations(events: &[StoredEvent]) -> HashMap<i64, i64> {
    let pairs = pair_tool_calls(events);
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.event_type == "tool_start")
        .filter_map(|(i, e)| {
            e.tool_duration_ms
                .or_else(|| pairs.get(&i).map(|p| p.ms))
                .map(|ms| (e.id, ms))
        })
        .collect()
}

/// Returns whether the newest tool call in `events` (oldest first) has no
/// result yet: the agent is inside a tool.
pub fn is_mid_tool(events: &[StoredEvent]) -> bool {
    let pairs = pair_tool_calls(events);
    events
        .iter()
        .enumerate()
        .rev()
        .find(|(_, e)| matches!(e.event_type.as_str(), "tool_start" | "tool_end" | "result"))
        .is_some_and(|(i, e)| {
            e.event_type == "tool_start" && e.tool_duration_ms.is_none() && !pairs.contains_key(&i)
        })
}

/// What pairing a tool call with its result adds to either row.
#[derive(Debug, Clone, Default)]
struct Paired {
    /// Ms from the call to its result.
    ms: i64,
    /// The tool's name (for the result row, which does not carry it).
    name: Option<String>,
}

/// Tool calls paired with their results (by `callId`/`toolUseId`): the
/// index of each row of a pair → what the pair adds to it.
fn pair_tool_calls(events: &[StoredEvent]) -> HashMap<usize, Paired> {
    pair_with(events, &mut HashMap::new())
}

/// A tool call whose result has not been seen yet.
#[derive(Debug, Clone)]
struct OpenCall {
    /// Its row's index in the batch being described; `None` once that
    /// batch is done.
    index: Option<usize>,
    /// The tool's name.
    name: Option<String>,
    /// When it started (ms since the epoch).
    at_ms: i64,
}

/// Pairs the tool calls of `events` with their results, also closing
/// calls still `open` from earlier batches; calls left open stay in it.
fn pair_with(
    events: &[StoredEvent],
    open: &mut HashMap<String, OpenCall>,
) -> HashMap<usize, Paired> {
    let mut out = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        if !matches!(e.event_type.as_str(), "tool_start" | "tool_end") {
            continue;
        }
        let Some(d) = e.data_json() else { continue };
        let Some(t) = clock::parse_rfc3339(&e.created_at) else {
            continue;
        };
        if e.event_type == "tool_start" {
            if let Some(id) = str_field(&d, "callId").or_else(|| str_field(&d, "toolUseId")) {
                let name = e
                    .tool_name
                    .clone()
                    .or_else(|| str_field(&d, "name").map(str::to_owned));
                open.insert(
                    id.to_owned(),
                    OpenCall {
                        index: Some(i),
                        name,
                        at_ms: t,
                    },
                );
            }
        } else if let Some(id) = str_field(&d, "toolUseId")
            && let Some(call) = open.remove(id)
        {
            let ms = (t - call.at_ms).max(0);
            if let Some(start) = call.index {
                out.insert(start, Paired { ms, name: None });
            }
            out.insert(
                i,
                Paired {
                    ms,
                    name: call.name,
                },
            );
        }
    }
    for call in open.values_mut() {
        call.index = None;
    }
    out
}

/// Describes events batch after batch, as a live view receives them
/// (`ov feed --follow`): a tool result names its tool and duration even
/// when its call came in an earlier batch.
#[derive(Debug, Default)]
pub struct Describer {
    open: HashMap<String, OpenCall>,
}

impl Describer {
    /// Calls remembered at most; older unanswered calls are forgotten.
    const MAX_OPEN: usize = 10_000;

    /// Describes the next batch (oldest first) like [`describe_all`].
    pub fn describe(&mut self, events: &[StoredEvent], width: usize) -> Vec<String> {
        if self.open.len() > Self::MAX_OPEN {
            self.open.clear();
        }
        let pairs = pair_with(events, &mut self.open);
        events
            .iter()
            .enumerate()
            .map(|(i, e)| fit(&describe_with(e, pairs.get(&i), width), width))
            .collect()
    }
}

fn describe_with(e: &StoredEvent, paired: Option<&Paired>, width: usize) -> String {
    let d = e.data_json();
    let obj = d.as_ref().and_then(Value::as_object);
    match e.kind() {
        Some(EventType::ToolStart) => tool_start(e, obj, paired.map(|p| p.ms), width),
        Some(EventType::ToolEnd) => tool_end(e, obj, paired),
        Some(EventType::Progress) => {
            match obj.and_then(|m| m.get("text")).and_then(Value::as_str) {
                Some(text) => first_line(text).to_owned(),
                None => fallback(e, obj),
            }
        }
        Some(EventType::Result) => result(e),
        Some(EventType::SessionStart) => session_start(obj),
        Some(EventType::SessionEnd) => session_end(obj),
        Some(EventType::MailSent) => mail(obj, "to", "→"),
        Some(EventType::MailReceived) => mail(obj, "from", "←"),
        Some(EventType::Error) => error(e, obj),
        Some(EventType::Custom) => custom(e, obj),
        _ => fallback(e, obj),
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn obj_str<'a>(m: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a str> {
    m?.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The argument a person recognises a call by (the command, the path, the
/// pattern), from the tool's arguments.
fn tool_subject(tool: &str, args: &Map<String, Value>) -> Option<String> {
    let s = |k: &str| {
        args.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let text = match tool {
        "Bash" => s("command").map(|c| first_line(c).to_owned()),
        "Read" | "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => s("file_path")
            .or_else(|| s("notebook_path"))
            .map(str::to_owned),
        "Glob" | "Grep" => s("pattern").map(|p| match s("path") {
            Some(path) => format!("{p}  in {path}"),
            None => p.to_owned(),
        }),
        "WebFetch" => s("url").map(str::to_owned),
        "WebSearch" => s("query").map(str::to_owned),
        "Task" | "Agent" => s("description").map(str::to_owned),
        _ => None,
    };
    text.or_else(|| {
        // Any other tool: its first short string argument.
        ["file_path", "path", "command", "pattern", "url", "query"]
            .iter()
            .find_map(|k| s(k))
            .map(|v| first_line(v).to_owned())
    })
}

/// `Name  subject  (duration)`; a long subject is cut so the duration
/// still fits in `width`.
fn tool_start(
    e: &StoredEvent,
    obj: Option<&Map<String, Value>>,
    paired: Option<i64>,
    width: usize,
) -> String {
    let name = e
        .tool_name
        .as_deref()
        .or_else(|| obj_str(obj, "name"))
        .unwrap_or("tool");
    // The runner stores the whole input; hooks store the filtered args.
    let input = obj.and_then(|m| m.get("input")).and_then(Value::as_object);
    let stored: Option<Map<String, Value>> = e
        .tool_args
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok());
    let subject = input
        .and_then(|i| tool_subject(name, i))
        .or_else(|| stored.as_ref().and_then(|a| tool_subject(name, a)))
        .or_else(|| {
            // A hook summary reads `bash: git status`: drop the prefix.
            obj_str(obj, "summary")
                .filter(|s| *s != name)
                .map(|s| s.split_once(": ").map_or(s, |(_, rest)| rest).to_owned())
        });
    let suffix = e
        .tool_duration_ms
        .or(paired)
        .map(|ms| format!("  ({})", duration(ms)))
        .unwrap_or_default();
    let mut out = name.to_owned();
    if let Some(s) = subject {
        let room = width.saturating_sub(name.chars().count() + 2 + suffix.chars().count());
        out.push_str("  ");
        out.push_str(&fit(&s, room.max(8)));
    }
    out.push_str(&suffix);
    out
}

fn tool_end(e: &StoredEvent, obj: Option<&Map<String, Value>>, paired: Option<&Paired>) -> String {
    let failed = obj
        .and_then(|m| m.get("isError"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let status = if failed { "failed" } else { "done" };
    let name = e
        .tool_name
        .as_deref()
        .or_else(|| paired.and_then(|p| p.name.as_deref()))
        .unwrap_or("tool");
    let mut out = format!("{name} {status}");
    let content = obj.and_then(|m| m.get("content"));
    let text = match content {
        Some(Value::String(s)) => Some(first_line(s).to_owned()),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .find_map(|b| b.get("text").and_then(Value::as_str))
            .map(|t| first_line(t).to_owned()),
        _ => None,
    };
    if let Some(t) = text.filter(|t| !t.is_empty()) {
        out.push_str("  ");
        out.push_str(&t);
    }
    if let Some(ms) = e.tool_duration_ms.or(paired.map(|p| p.ms)) {
        out.push_str(&format!("  ({})", duration(ms)));
    }
    out
}

fn result(e: &StoredEvent) -> String {
    let Some(r) = TurnResult::of(e) else {
        return String::new();
    };
    let mut parts = vec![if r.is_error {
        match r.subtype.as_deref() {
            Some(s) if s != "success" => format!("result error ({s})"),
            _ => "result error".to_owned(),
        }
    } else {
        "result ok".to_owned()
    }];
    if let Some(u) = r.usage {
        let mut t = format!(
            "in {} / out {} tokens",
            thousands(u.input),
            thousands(u.output)
        );
        if u.cache_read > 0 || u.cache_creation > 0 {
            t.push_str(&format!(
                " (cache {} read / {} new)",
                thousands(u.cache_read),
                thousands(u.cache_creation)
            ));
        }
        parts.push(t);
    }
    if let Some(c) = r.cost_usd {
        parts.push(usd(c));
    }
    if let Some(ms) = r.duration_ms {
        parts.push(duration(ms));
    }
    if r.is_error
        && let Some(t) = r.text.as_deref().map(first_line).filter(|t| !t.is_empty())
    {
        parts.push(t.to_owned());
    }
    parts.join("  ")
}

fn session_start(obj: Option<&Map<String, Value>>) -> String {
    let mut out = match obj_str(obj, "subtype") {
        Some(s) => format!("session {s}"),
        None => "session start".to_owned(),
    };
    if let Some(m) = obj_str(obj, "model") {
        out.push_str(&format!("  {m}"));
    }
    if let Some(s) = obj_str(obj, "sessionId").or_else(|| obj_str(obj, "session_id")) {
        out.push_str(&format!("  session {s}"));
    }
    out
}

fn session_end(obj: Option<&Map<String, Value>>) -> String {
    let mut out = "session end".to_owned();
    if let Some(r) = obj_str(obj, "reason") {
        out.push_str(&format!("  ({r})"));
    } else if let Some(t) = obj_str(obj, "transcriptPath") {
        out.push_str(&format!("  transcript {t}"));
    }
    out
}

fn mail(obj: Option<&Map<String, Value>>, peer_key: &str, arrow: &str) -> String {
    let Some(m) = obj else {
        return format!("mail {arrow}");
    };
    // The watchdog's notice to a dead worker's parent has no subject.
    if let Some(kind) = obj_str(obj, "type")
        && obj_str(obj, "subject").is_none()
    {
        return custom_fields(kind, m);
    }
    let peer = obj_str(obj, peer_key).unwrap_or("?");
    let mut out = format!("mail {arrow} {peer}");
    if let Some(s) = obj_str(obj, "subject") {
        out.push_str(&format!(": {s}"));
    }
    let kind = obj_str(obj, "type").filter(|k| *k != "status");
    let prio = obj_str(obj, "priority").filter(|p| *p != "normal");
    let tags: Vec<&str> = kind.into_iter().chain(prio).collect();
    if !tags.is_empty() {
        out.push_str(&format!("  [{}]", tags.join(", ")));
    }
    if m.get("broadcast").and_then(Value::as_bool) == Some(true) {
        out.push_str("  (broadcast)");
    }
    out
}

fn error(e: &StoredEvent, obj: Option<&Map<String, Value>>) -> String {
    let msg = ["message", "error", "reason"]
        .iter()
        .find_map(|k| obj_str(obj, k))
        .map(|m| first_line(m).to_owned());
    match (obj_str(obj, "hook"), msg) {
        (Some(h), Some(m)) => format!("{h}: {m}"),
        (None, Some(m)) => m,
        _ => fallback(e, obj),
    }
}

fn custom(e: &StoredEvent, obj: Option<&Map<String, Value>>) -> String {
    match (obj_str(obj, "type"), obj) {
        (Some(kind), Some(m)) => custom_fields(kind, m),
        _ => fallback(e, obj),
    }
}

/// `kind k=v k=v` over the scalar fields (the `type` key left out).
fn custom_fields(kind: &str, m: &Map<String, Value>) -> String {
    let mut out = kind.to_owned();
    let rest = kv(m, &["type", "timestamp"]);
    if !rest.is_empty() {
        out.push_str("  ");
        out.push_str(&rest);
    }
    out
}

fn kv(m: &Map<String, Value>, skip: &[&str]) -> String {
    m.iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            let shown = match v {
                Value::String(s) => first_line(s).to_owned(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Array(a) if a.iter().all(|x| x.is_string() || x.is_number()) => a
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => return None,
            };
            Some(format!("{k}={shown}"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn fallback(e: &StoredEvent, obj: Option<&Map<String, Value>>) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &e.tool_name {
        parts.push(t.clone());
    }
    match (obj, &e.data) {
        (Some(m), _) => {
            let s = kv(m, &["timestamp"]);
            if !s.is_empty() {
                parts.push(s);
            }
        }
        (None, Some(raw)) => parts.push(first_line(raw).to_owned()),
        (None, None) => {}
    }
    if let Some(ms) = e.tool_duration_ms {
        parts.push(format!("({})", duration(ms)));
    }
    parts.join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(kind: &str, data: Value) -> StoredEvent {
        StoredEvent {
            id: 1,
            run_id: None,
            agent_name: "builder-1".into(),
            session_id: None,
            event_type: kind.into(),
            tool_name: None,
            tool_args: None,
            tool_duration_ms: None,
            level: "info".into(),
            data: Some(data.to_string()),
            created_at: "2026-03-05T14:52:26.089Z".into(),
        }
    }

    #[test]
    fn runner_tool_use_shows_the_command_and_paired_duration() {
        let mut start = ev(
            "tool_start",
            json!({"type":"tool_use","timestamp":"t","callId":"toolu_1","name":"Bash",
                   "input":{"command":"git commit -qm fix\ngit push","description":"commit"}}),
        );
        start.tool_name = Some("Bash".into());
        let mut end = ev(
            "tool_end",
            json!({"type":"tool_result","toolUseId":"toolu_1","content":"ok"}),
        );
        end.created_at = "2026-03-05T14:52:26.101Z".into();
        let lines = describe_all(&[start, end], 100);
        assert_eq!(lines[0], "Bash  git commit -qm fix  (12 ms)");
        assert_eq!(lines[1], "Bash done  ok  (12 ms)");
    }

    #[test]
    fn a_long_command_is_cut_before_its_duration() {
        let mut e = ev(
            "tool_start",
            json!({"type":"tool_use","name":"Bash","input":{"command": "x".repeat(300)}}),
        );
        e.tool_duration_ms = Some(5);
        let d = describe(&e, 40);
        assert_eq!(d.chars().count(), 40, "{d}");
        assert!(d.ends_with("…  (5 ms)"), "{d}");
    }

    #[test]
    fn a_describer_pairs_across_batches() {
        let mut start = ev(
            "tool_start",
            json!({"type":"tool_use","callId":"toolu_9","name":"Edit","input":{"file_path":"a.rs"}}),
        );
        start.tool_name = Some("Edit".into());
        let mut end = ev(
            "tool_end",
            json!({"type":"tool_result","toolUseId":"toolu_9"}),
        );
        end.created_at = "2026-03-05T14:52:27.089Z".into();
        let mut d = Describer::default();
        assert_eq!(d.describe(&[start], 100), ["Edit  a.rs"]);
        assert_eq!(d.describe(&[end], 100), ["Edit done  (1.0 s)"]);
    }

    #[test]
    fn hook_tool_start_reads_filtered_args() {
        let mut e = ev("tool_start", json!({"summary":"edit: src/lib.rs"}));
        e.tool_name = Some("Edit".into());
        e.tool_args = Some(r#"{"file_path":"src/lib.rs"}"#.into());
        assert_eq!(describe(&e, 100), "Edit  src/lib.rs");
        e.tool_args = None;
        assert_eq!(describe(&e, 100), "Edit  src/lib.rs");
    }

    #[test]
    fn result_shows_tokens_cost_and_time() {
        let mut e = ev(
            "result",
            json!({"type":"result","subtype":"success","durationMs":3210.4,
                   "usage":{"input_tokens":1234,"output_tokens":56},"totalCostUsd":0.0123}),
        );
        e.tool_duration_ms = Some(3210);
        assert_eq!(
            describe(&e, 100),
            "result ok  in 1,234 / out 56 tokens  $0.01  3.2 s"
        );
        let mut bad = ev(
            "result",
            json!({"type":"result","subtype":"error_max_turns","isError":true}),
        );
        bad.level = "error".into();
        assert_eq!(describe(&bad, 100), "result error (error_max_turns)");
    }

    #[test]
    fn assistant_text_is_its_first_line_fitted() {
        let e = ev(
            "progress",
            json!({"type":"assistant_message","text":"\nI will fix the bug now.\nThen test."}),
        );
        assert_eq!(describe(&e, 100), "I will fix the bug now.");
        assert_eq!(describe(&e, 10), "I will fi…");
    }

    #[test]
    fn mail_and_custom_events() {
        let e = ev(
            "mail_sent",
            json!({"to":"lead-1","subject":"Done: auth","type":"worker_done","priority":"normal","messageId":"m1"}),
        );
        assert_eq!(
            describe(&e, 100),
            "mail → lead-1: Done: auth  [worker_done]"
        );
        let c = ev(
            "custom",
            json!({"type":"nudge","from":"operator","message":"wake up","delivered":true}),
        );
        assert_eq!(
            describe(&c, 100),
            "nudge  from=operator message=wake up delivered=true"
        );
        let raw = StoredEvent {
            data: Some("not json\nsecond".into()),
            ..ev("spawn", json!({}))
        };
        assert_eq!(describe(&raw, 100), "not json");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(duration(12), "12 ms");
        assert_eq!(duration(65_000), "1m 05s");
        assert_eq!(usd(0.004_2), "$0.0042");
    }
}
