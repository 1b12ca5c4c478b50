//! The agents' NDJSON logs (`.overstory/logs/<agent>/<session>/events.ndjson`,
//! written by the hook logger): what `ov logs` queries and follows.
//!
//! A line counts when it is a JSON object with a string `timestamp` and
//! `event`; anything else (a torn write, a blank line) is skipped. Entries
//! are kept exactly as written, so `--json` shows the full records.
//!
//! [`LogFollower`] reads each file from a byte offset it keeps, so a poll
//! reads only what was appended; a line without its newline yet is left
//! for the next poll (never lost, never split), a file that shrank or was
//! replaced (truncated, rotated) is read again from the start, and every filter of the
//! query (agent, level, time window) applies to followed lines too.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use overstory_core::events::EventLevel;
use overstory_core::{Layout, ValidationError, clock};
use serde_json::{Map, Value};

use crate::error::SessionError;

/// The name of the file each log session directory holds.
pub const EVENTS_FILE: &str = "events.ndjson";

/// One line of an agent's `events.ndjson`: `{timestamp, level, event,
/// agentName, data}`. Serialises as the line's JSON object, unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// When it was written, in ms since the epoch (for sorting and windows).
    pub at_ms: i64,
    /// The agent whose log directory holds the line.
    pub agent: String,
    /// The line's JSON object, as written.
    pub raw: Map<String, Value>,
}

impl serde::Serialize for LogEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl LogEntry {
    fn field(&self, key: &str) -> &str {
        self.raw.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// Returns the `timestamp` as written.
    pub fn timestamp(&self) -> &str {
        self.field("timestamp")
    }

    /// Returns the `level` (`info` when absent).
    pub fn level(&self) -> &str {
        match self.field("level") {
            "" => "info",
            l => l,
        }
    }

    /// Returns the `event` name (`tool.start`).
    pub fn event(&self) -> &str {
        self.field("event")
    }

    /// Returns the `data` object, if any.
    pub fn data(&self) -> Option<&Value> {
        self.raw.get("data")
    }

    /// Returns a one-line summary of `data` (`toolName=Bash durationMs=12`).
    pub fn summary(&self) -> String {
        match self.data() {
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some(format!("{k}={}", super::text::first_line(s))),
                    Value::Number(_) | Value::Bool(_) => Some(format!("{k}={v}")),
                    Value::Object(_) if k == "args" => Some(format!("{k}={v}")),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(" "),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    /// Parses one line; `None` unless it is an object with a parseable
    /// `timestamp` and a string `event`.
    fn parse(line: &[u8], agent: &str) -> Option<Self> {
        let Value::Object(raw) = serde_json::from_slice::<Value>(line).ok()? else {
            return None;
        };
        let at_ms = clock::parse_rfc3339(raw.get("timestamp")?.as_str()?)?;
        raw.get("event")?.as_str()?;
        Some(Self {
            at_ms,
            agent: agent.to_owned(),
            raw,
        })
    }
}

/// What `ov logs` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// Only this agent's logs.
    pub agent: Option<String>,
    /// Only entries of exactly this level.
    pub level: Option<EventLevel>,
    /// Only entries at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only entries at or before this time (ms since the epoch).
    pub until_ms: Option<i64>,
    /// Keep the newest this many (returned oldest first).
    pub limit: usize,
}

impl Default for LogQuery {
    fn default() -> Self {
        Self {
            agent: None,
            level: None,
            since_ms: None,
            until_ms: None,
            limit: 100,
        }
    }
}

impl LogQuery {
    /// Returns whether `e` passes every filter but the limit.
    pub fn matches(&self, e: &LogEntry) -> bool {
        self.agent.as_deref().is_none_or(|a| a == e.agent)
            && self.level.is_none_or(|l| l.as_str() == e.level())
            && self.since_ms.is_none_or(|s| e.at_ms >= s)
            && self.until_ms.is_none_or(|u| e.at_ms <= u)
    }
}

/// Parses a `--since`/`--until` value: an RFC 3339 time, a date, or an age
/// (`30s`, `15m`, `2h`, `7d`) counted back from `now_ms`.
///
/// # Errors
/// [`ValidationError`] naming the flag when the value is none of these.
pub fn parse_log_time(flag: &str, value: &str, now_ms: i64) -> Result<i64, ValidationError> {
    if let Ok(age) = super::parse_age(flag, value) {
        return Ok(now_ms - age);
    }
    let iso = super::parse_time_flag(flag, value).map_err(|_| {
        ValidationError::other(
            Some(flag.to_owned()),
            format!(
                "Invalid --{flag} value: {value} (expected an ISO 8601 time or an age such as 30s, 15m, 2h, 7d)"
            ),
        )
    })?;
    clock::parse_rfc3339(&iso).ok_or_else(|| {
        ValidationError::other(
            Some(flag.to_owned()),
            format!("Invalid --{flag} value: {value}"),
        )
    })
}

/// The result of [`query`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LogReport {
    /// How many `events.ndjson` files were read.
    #[serde(skip)]
    pub files: usize,
    /// The matching entries, oldest first, the newest `limit`.
    pub entries: Vec<LogEntry>,
}

/// Every `logs/<agent>/<session>/events.ndjson` (only `agent`'s when
/// given), with the agent each belongs to, in path order.
fn discover(layout: &Layout, agent: Option<&str>) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(agents) = std::fs::read_dir(layout.logs_dir()) else {
        return out;
    };
    for a in agents.flatten() {
        let name = a.file_name().to_string_lossy().into_owned();
        if agent.is_some_and(|want| want != name) {
            continue;
        }
        let Ok(sessions) = std::fs::read_dir(a.path()) else {
            continue;
        };
        for s in sessions.flatten() {
            let file = s.path().join(EVENTS_FILE);
            if file.is_file() {
                out.push((file, name.clone()));
            }
        }
    }
    out.sort();
    out
}

/// Reads every log file and returns the newest `limit` matching entries,
/// oldest first. No log files is an empty report, not an error.
///
/// # Errors
/// [`SessionError::Io`] when an existing log file cannot be read.
pub fn query(layout: &Layout, q: &LogQuery) -> Result<LogReport, SessionError> {
    let (report, _) = LogFollower::start(layout, q.clone())?;
    Ok(report)
}

/// How far one file has been read.
#[derive(Debug, Default)]
struct Cursor {
    /// Bytes consumed (always at a line boundary).
    offset: u64,
    /// The inode read from: a replaced file is read from its start.
    inode: u64,
}

/// Follows the logs: [`LogFollower::start`] returns the initial report,
/// then each [`LogFollower::poll`] returns the matching entries appended
/// since (new files included), oldest first.
#[derive(Debug)]
pub struct LogFollower {
    layout: Layout,
    query: LogQuery,
    cursors: HashMap<PathBuf, Cursor>,
}

impl LogFollower {
    /// Reads everything there is now and returns the follower positioned
    /// after it, with the initial report (the newest `limit` matches).
    ///
    /// # Errors
    /// [`SessionError::Io`] when an existing log file cannot be read.
    pub fn start(layout: &Layout, query: LogQuery) -> Result<(LogReport, Self), SessionError> {
        let mut me = Self {
            layout: layout.clone(),
            query,
            cursors: HashMap::new(),
        };
        let files = discover(&me.layout, me.query.agent.as_deref()).len();
        let mut entries = me.read_new()?;
        if entries.len() > me.query.limit {
            entries.drain(..entries.len() - me.query.limit);
        }
        Ok((LogReport { files, entries }, me))
    }

    /// Returns the matching entries appended since the last call.
    ///
    /// # Errors
    /// [`SessionError::Io`] when a log file cannot be read.
    pub fn poll(&mut self) -> Result<Vec<LogEntry>, SessionError> {
        self.read_new()
    }

    fn read_new(&mut self) -> Result<Vec<LogEntry>, SessionError> {
        let mut out = Vec::new();
        let files = discover(&self.layout, self.query.agent.as_deref());
        // Forget files that are gone (`ov clean`), so the map cannot grow.
        self.cursors
            .retain(|p, _| files.iter().any(|(path, _)| path == p));
        for (path, agent) in files {
            let cursor = self.cursors.entry(path.clone()).or_default();
            read_appended(&path, &agent, cursor, &self.query, &mut out)?;
        }
        out.sort_by_key(|e| e.at_ms);
        Ok(out)
    }
}

/// Reads `path` from `cursor` to its last complete line.
fn read_appended(
    path: &Path,
    agent: &str,
    cursor: &mut Cursor,
    q: &LogQuery,
    out: &mut Vec<LogEntry>,
) -> Result<(), SessionError> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        // Removed between listing and opening (`ov clean`): nothing to read.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SessionError::io("open the log file", path)(e)),
    };
    let meta = f
        .metadata()
        .map_err(SessionError::io("read the log file", path))?;
    let len = meta.len();
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    if len < cursor.offset || inode != cursor.inode {
        // Truncated or replaced (rotated): start over.
        cursor.offset = 0;
        cursor.inode = inode;
    }
    if len == cursor.offset {
        return Ok(());
    }
    f.seek(SeekFrom::Start(cursor.offset))
        .map_err(SessionError::io("read the log file", path))?;
    let mut buf = Vec::new();
    f.take(len - cursor.offset)
        .read_to_end(&mut buf)
        .map_err(SessionError::io("read the log file", path))?;
    // Only whole lines: a line still being written waits for its newline.
    let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
        return Ok(());
    };
    for line in buf[..end].split(|b| *b == b'\n') {
        if let Some(e) = LogEntry::parse(line, agent)
            && q.matches(&e)
        {
            out.push(e);
        }
    }
    cursor.offset += end as u64 + 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn ages_and_times_both_parse() {
        let now = 1_000_000_000;
        assert_eq!(parse_log_time("since", "30s", now).unwrap(), now - 30_000);
        assert_eq!(parse_log_time("since", "2h", now).unwrap(), now - 7_200_000);
        assert_eq!(
            parse_log_time("since", "2026-03-05T00:00:00Z", now).unwrap(),
            clock::parse_rfc3339("2026-03-05T00:00:00Z").unwrap()
        );
        let err = parse_log_time("since", "soon", now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--since"), "{err}");
    }

    #[test]
    fn lines_without_timestamp_or_event_are_skipped() {
        assert!(LogEntry::parse(br#"{"event":"x"}"#, "a").is_none());
        assert!(LogEntry::parse(br#"{"timestamp":"2026-03-05T00:00:00Z"}"#, "a").is_none());
        assert!(LogEntry::parse(b"garbage", "a").is_none());
        let e = LogEntry::parse(
            br#"{"timestamp":"2026-03-05T00:00:00Z","event":"tool.start","level":"warn","data":{"toolName":"Bash"}}"#,
            "a",
        )
        .unwrap();
        assert_eq!((e.event(), e.level()), ("tool.start", "warn"));
        assert_eq!(e.summary(), "toolName=Bash");
    }

    fn line(ts: &str, event: &str) -> String {
        format!("{{\"timestamp\":\"{ts}\",\"level\":\"info\",\"event\":\"{event}\"}}\n")
    }

    #[test]
    fn follower_survives_truncation_and_waits_for_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let logs = layout.logs_dir().join("builder-1").join("s1");
        std::fs::create_dir_all(&logs).unwrap();
        let file = logs.join(EVENTS_FILE);
        std::fs::write(
            &file,
            line("2026-01-01T00:00:00Z", "a") + &line("2026-01-01T00:00:01Z", "b"),
        )
        .unwrap();
        let (report, mut f) = LogFollower::start(&layout, LogQuery::default()).unwrap();
        assert_eq!(report.entries.len(), 2);
        assert!(f.poll().unwrap().is_empty(), "nothing new");

        let c = line("2026-01-01T00:00:02Z", "c");
        let (head, tail) = c.split_at(10);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap()
            .write_all(head.as_bytes())
            .unwrap();
        assert!(f.poll().unwrap().is_empty(), "a torn line waits");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap()
            .write_all(tail.as_bytes())
            .unwrap();
        let got = f.poll().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].event(), "c");

        // Truncated: shorter than what was read; read again from the start.
        std::fs::write(&file, line("2026-01-01T00:00:03Z", "d")).unwrap();
        let got = f.poll().unwrap();
        assert_eq!(got.iter().map(LogEntry::event).collect::<Vec<_>>(), ["d"]);

        // Replaced by a longer file (rotation): the new file from its start.
        let fresh = logs.join("fresh");
        std::fs::write(
            &fresh,
            line("2026-01-01T00:00:04Z", "e") + &line("2026-01-01T00:00:05Z", "f"),
        )
        .unwrap();
        std::fs::rename(&fresh, &file).unwrap();
        let got = f.poll().unwrap();
        assert_eq!(
            got.iter().map(LogEntry::event).collect::<Vec<_>>(),
            ["e", "f"]
        );
    }
}
