//! The NDJSON tailer: moves the stream-json lines a headless agent writes
//! to `logs/<agent>/<ts>/stdout.log` into `events.db`.
//!
//! Fixes over the original: a trailing partial line is kept until its
//! newline arrives (it used to be lost); bytes are split on `\n` before
//! decoding (no UTF-8 split); the read position can be persisted as
//! `(path, inode, offset)` so a restarted watchdog does not ingest the file
//! twice; a truncated or replaced file is read again from the start.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{EventLevel, EventStore, EventType, NewEvent};
use crate::error::DbError;

/// Receives the runtime session id the first time the stream reveals it.
pub trait SessionIdSink: Send {
    /// Stores `observed` as `agent`'s runtime session id and returns the id
    /// that was stored before (if any).
    fn pin(&mut self, agent: &str, observed: &str) -> Option<String>;

    /// Called when the stored id differs from the observed one (a failed
    /// resume). The observed id has already won.
    fn mismatch(&mut self, agent: &str, prior: &str, observed: &str) {
        tracing::warn!(
            agent,
            requested = prior,
            observed,
            "[tailer] resume mismatch"
        );
    }
}

/// Where a tailer reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailerOptions {
    /// The runtime's stdout log to follow, one JSON object per line.
    pub stdout_log: PathBuf,
    /// The agent name stamped on every event (`builder-1`).
    pub agent_name: String,
    /// The run stamped on every event.
    pub run_id: Option<String>,
    /// Where the read position is persisted (`None`: not persisted).
    pub offset_file: Option<PathBuf>,
    /// How often [`spawn_tailer`] polls (the original's default is 500 ms).
    pub poll_interval: Duration,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    path: PathBuf,
    inode: u64,
    offset: u64,
}

/// A tailer driven by explicit [`Tailer::poll`] calls.
pub struct Tailer {
    opts: TailerOptions,
    pos: Position,
    partial: Vec<u8>,
    pinned: bool,
    sink: Option<Box<dyn SessionIdSink>>,
}

impl std::fmt::Debug for Tailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tailer")
            .field("opts", &self.opts)
            .field("offset", &self.pos.offset)
            .finish_non_exhaustive()
    }
}

fn inode_of(meta: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        std::os::unix::fs::MetadataExt::ino(meta)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

impl Tailer {
    /// Creates a tailer, resuming from the persisted position when it
    /// names the same file (same path and inode).
    pub fn new(opts: TailerOptions, sink: Option<Box<dyn SessionIdSink>>) -> Self {
        let saved = opts
            .offset_file
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str::<Position>(&t).ok())
            .filter(|p| p.path == opts.stdout_log);
        let pos = saved.unwrap_or_else(|| Position {
            path: opts.stdout_log.clone(),
            ..Position::default()
        });
        Self {
            opts,
            pos,
            partial: Vec::new(),
            pinned: false,
            sink,
        }
    }

    /// Returns the byte offset up to which complete lines were ingested.
    pub fn offset(&self) -> u64 {
        self.pos.offset
    }

    /// Reads what was appended since the last poll and records one event per
    /// complete JSON line. Blank and malformed lines are skipped. A missing
    /// file is not an error. Returns how many events were written.
    ///
    /// # Errors
    /// [`DbError`] when the events cannot be written (the position is not
    /// advanced, so the lines are read again next time).
    pub fn poll(&mut self, store: &mut EventStore) -> Result<usize, DbError> {
        let Ok(mut file) = std::fs::File::open(&self.opts.stdout_log) else {
            return Ok(0);
        };
        let Ok(meta) = file.metadata() else {
            return Ok(0);
        };
        let inode = inode_of(&meta);
        let read_from = self.pos.offset + self.partial.len() as u64;
        if inode != self.pos.inode || meta.len() < read_from {
            // A new or truncated file: start over.
            self.pos = Position {
                path: self.opts.stdout_log.clone(),
                inode,
                offset: 0,
            };
            self.partial.clear();
        }
        let read_from = self.pos.offset + self.partial.len() as u64;
        if meta.len() <= read_from {
            return Ok(0);
        }
        let mut buf = Vec::new();
        if file.seek(SeekFrom::Start(read_from)).is_err() || file.read_to_end(&mut buf).is_err() {
            return Ok(0);
        }
        self.partial.extend_from_slice(&buf);
        let Some(last_nl) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Ok(0);
        };
        let complete: Vec<u8> = self.partial.drain(..=last_nl).collect();
        let mut events = Vec::new();
        for line in complete.split(|b| *b == b'\n') {
            let Ok(text) = std::str::from_utf8(line) else {
                continue;
            };
            let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text.trim()) else {
                continue;
            };
            self.maybe_pin(&obj);
            events.push(self.map(&obj));
        }
        store.insert_many(&events)?;
        self.pos.offset += complete.len() as u64;
        self.persist();
        Ok(events.len())
    }

    fn map(&self, obj: &serde_json::Map<String, Value>) -> NewEvent {
        let kind = obj.get("type").and_then(Value::as_str).unwrap_or("custom");
        let event_type = match kind {
            "tool_start" | "tool_end" | "session_start" | "session_end" | "turn_start"
            | "turn_end" | "progress" | "result" | "error" => {
                EventType::parse(kind).unwrap_or(EventType::Custom)
            }
            _ => EventType::Custom,
        };
        let tool = ["tool", "tool_name", "toolName"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_str))
            .map(str::to_owned);
        let mut e = NewEvent::new(self.opts.agent_name.clone(), event_type)
            .run(self.opts.run_id.clone())
            .level(if event_type == EventType::Error {
                EventLevel::Error
            } else {
                EventLevel::Info
            })
            .data(&Value::Object(obj.clone()));
        e.tool_name = tool;
        e.tool_duration_ms = obj
            .get("duration_ms")
            .and_then(Value::as_f64)
            .map(|d| d.round() as i64);
        e
    }

    fn maybe_pin(&mut self, obj: &serde_json::Map<String, Value>) {
        if self.pinned {
            return;
        }
        let kind = obj.get("type").and_then(Value::as_str);
        let Some(sid) = obj
            .get("session_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            return;
        };
        if !matches!(kind, Some("system" | "result")) {
            return;
        }
        self.pinned = true;
        if let Some(sink) = self.sink.as_mut() {
            let agent = &self.opts.agent_name;
            if let Some(prior) = sink.pin(agent, sid)
                && prior != sid
            {
                sink.mismatch(agent, &prior, sid);
            }
        }
    }

    fn persist(&self) {
        if let Some(p) = &self.opts.offset_file
            && let Ok(text) = serde_json::to_string(&self.pos)
        {
            let _ = crate::fsio::write_atomic(p, text);
        }
    }
}

/// A tailer running on its own thread.
#[derive(Debug)]
pub struct TailerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TailerHandle {
    /// Stops polling and waits for the thread. Calling it again does nothing.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }

    /// Returns whether the tailer is running (false when its store could
    /// not be opened, or after [`TailerHandle::stop`]).
    pub fn is_running(&self) -> bool {
        self.thread.is_some()
    }
}

impl Drop for TailerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a tailer thread writing to `events_db`. When the store cannot be
/// opened the handle does nothing (no polling), as in the original.
pub fn spawn_tailer(
    events_db: &Path,
    opts: TailerOptions,
    sink: Option<Box<dyn SessionIdSink>>,
) -> TailerHandle {
    let stop = Arc::new(AtomicBool::new(false));
    let Ok(mut store) = EventStore::open(events_db) else {
        return TailerHandle { stop, thread: None };
    };
    let flag = stop.clone();
    let interval = opts.poll_interval;
    let thread = std::thread::spawn(move || {
        let mut tailer = Tailer::new(opts, sink);
        while !flag.load(Ordering::Relaxed) {
            if let Err(e) = tailer.poll(&mut store) {
                tracing::warn!(error = %e, "tailer poll failed");
            }
            std::thread::park_timeout(interval);
        }
        let _ = tailer.poll(&mut store);
    });
    TailerHandle {
        stop,
        thread: Some(thread),
    }
}

/// Returns `stdout.log` in the lexicographically last entry of `agent_logs_dir`,
/// or `None` when the directory is missing or empty or that entry has none.
pub fn find_latest_stdout_log(agent_logs_dir: &Path) -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(agent_logs_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let p = agent_logs_dir.join(names.last()?).join("stdout.log");
    p.is_file().then_some(p)
}
