//! The change feed: what is new in the project's databases, as frames.
//!
//! One thread watches `events.db`, `mail.db` and `sessions.db`. Every few
//! milliseconds it asks each file's own open connection for
//! `PRAGMA data_version`, which changes exactly when another connection
//! committed (a read of shared memory, no table query). Only then does it
//! read what is new, by monotonic row id (`events.id`, the mail `rowid`), so
//! rows that share a millisecond are never skipped, and in pages of 500 so
//! a burst never loads a whole table. Sessions and runs are diffed against
//! the last snapshot and become `agent_state` and `run` frames.
//!
//! Frames go to a bounded broadcast channel; each socket reads at its own
//! pace and is closed (1013) when it falls more than the bound behind, to
//! reconnect with `afterEventId`/`afterMailId`. With no socket open, new
//! rows are skipped (the cursors jump to the newest row), so an idle server
//! only pays for the version checks.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use overstory_core::Layout;
use overstory_core::events::{EventStore, FollowFilter, StoredEvent};
use overstory_mail::{MailMessage, MailStore};
use overstory_sessions::{Run, RunStore, SessionStore};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// Rows read per query.
const PAGE: usize = 500;
/// Checks between looks at whether a database file was replaced.
const REOPEN_EVERY: u32 = 200;

/// One message to sockets: who should get it and its JSON text.
#[derive(Debug)]
pub(crate) struct Frame {
    /// `mail`, `fleet`, `agent:<name>`, `run:<id>`.
    pub rooms: Vec<String>,
    /// `{"type":…,"ts":…,"payload":…}`.
    pub text: String,
    /// The event's id, for event frames.
    pub event_id: Option<i64>,
    /// The mail row's sequence number, for new-mail frames.
    pub mail_seq: Option<i64>,
    /// A database was replaced and its ids start again: every socket gets
    /// this frame and forgets the ids it sent from that database.
    pub reset: Option<Db>,
    /// For a text event (streamed assistant text): its batching key
    /// (`<agent>:<session>`) and the event's JSON, so sockets can send a
    /// burst as one batched frame.
    pub text_event: Option<(String, String)>,
}

/// Returns whether `e` is streamed text: type `text`, or data that is a
/// JSON object with a `delta` key.
pub(crate) fn is_text(e: &StoredEvent) -> bool {
    e.event_type == "text"
        || e.data_json()
            .is_some_and(|d| d.as_object().is_some_and(|o| o.contains_key("delta")))
}

/// Which database a [`Frame::reset`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Db {
    /// `events.db`.
    Events,
    /// `mail.db`.
    Mail,
}

/// The frame that says `db` was replaced.
fn reset_frame(db: Db) -> Frame {
    let name = match db {
        Db::Events => "events",
        Db::Mail => "mail",
    };
    Frame {
        rooms: Vec::new(),
        text: frame_text("reset", &json!({"database": name})),
        event_id: None,
        mail_seq: None,
        reset: Some(db),
        text_event: None,
    }
}

/// Returns the text of a frame of `kind` carrying `payload`.
pub(crate) fn frame_text(kind: &str, payload: &impl Serialize) -> String {
    json!({"type": kind, "ts": overstory_core::clock::now_rfc3339(), "payload": payload})
        .to_string()
}

/// The frame of one stored event.
pub(crate) fn event_frame(e: &StoredEvent) -> Frame {
    let mut rooms = vec![format!("agent:{}", e.agent_name)];
    if let Some(run) = &e.run_id {
        rooms.push(format!("run:{run}"));
    }
    let text_event = is_text(e).then(|| {
        (
            format!("{}:{}", e.agent_name, e.session_id.as_deref().unwrap_or("")),
            serde_json::to_string(e).unwrap_or_default(),
        )
    });
    Frame {
        rooms,
        text: frame_text("event", e),
        event_id: Some(e.id),
        mail_seq: None,
        reset: None,
        text_event,
    }
}

/// The frame of one new message.
pub(crate) fn mail_frame(seq: i64, m: &MailMessage) -> Frame {
    Frame {
        rooms: vec![
            "mail".to_owned(),
            format!("agent:{}", m.to),
            format!("agent:{}", m.from),
        ],
        text: frame_text("mail", &json!({"message": m, "seq": seq})),
        event_id: None,
        mail_seq: Some(seq),
        reset: None,
        text_event: None,
    }
}

/// Sends frames into the feed from outside the watcher (this server's own
/// writes that the databases cannot show, such as deletes).
#[derive(Debug, Clone)]
pub(crate) struct Publisher {
    tx: broadcast::Sender<Arc<Frame>>,
}

impl Publisher {
    /// Publishes a `mail_update` (read flip or delete) of `m`.
    pub fn mail_update(&self, m: &MailMessage, payload: Value) {
        let _ = self.tx.send(Arc::new(Frame {
            rooms: vec![
                "mail".to_owned(),
                format!("agent:{}", m.to),
                format!("agent:{}", m.from),
            ],
            text: frame_text("mail_update", &payload),
            event_id: None,
            mail_seq: None,
            reset: None,
            text_event: None,
        }));
    }
}

/// The running feed; stops its thread when dropped.
#[derive(Debug)]
pub(crate) struct Feed {
    tx: broadcast::Sender<Arc<Frame>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Feed {
    /// Starts watching `layout`'s databases every `interval`.
    pub fn start(layout: Layout, interval: Duration, capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            // Seed the cursors and snapshots now, not on the thread: what
            // is stored once this returns is new and will be sent.
            let watcher = Watcher::new(layout, tx.clone());
            std::thread::Builder::new()
                .name("ov-serve-feed".into())
                .spawn(move || watcher.run(interval, &stop))
                .map_err(|e| tracing::error!(error = %e, "could not start the change feed"))
                .ok()
        };
        Self {
            tx,
            stop,
            thread: Mutex::new(thread),
        }
    }

    /// Returns a receiver of every frame from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.tx.subscribe()
    }

    /// Returns a handle to publish frames.
    pub fn publisher(&self) -> Publisher {
        Publisher {
            tx: self.tx.clone(),
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// One database file's change detector.
struct Watch {
    path: PathBuf,
    conn: Option<Connection>,
    version: Option<i64>,
    ino: u64,
    ticks: u32,
    /// Bumped whenever the file is (re)opened: cached stores are stale then.
    generation: u64,
}

impl Watch {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            conn: None,
            version: None,
            ino: 0,
            ticks: 0,
            generation: 0,
        }
    }

    /// Returns whether the database may have changed since the last call
    /// (including: it appeared, or was replaced).
    fn changed(&mut self) -> bool {
        self.ticks = self.ticks.wrapping_add(1);
        if self.conn.is_some() && self.ticks.is_multiple_of(REOPEN_EVERY) {
            let ino = std::fs::metadata(&self.path).map(|m| m.ino()).unwrap_or(0);
            if ino != self.ino {
                self.conn = None;
                self.version = None;
            }
        }
        if self.conn.is_none() {
            // A missing file is looked for every 20 checks.
            if self.ticks % 20 != 1 {
                return false;
            }
            let Ok(meta) = std::fs::metadata(&self.path) else {
                return false;
            };
            match Connection::open(&self.path) {
                Ok(c) => {
                    let _ = c.busy_timeout(Duration::from_millis(50));
                    self.conn = Some(c);
                    self.ino = meta.ino();
                    self.generation += 1;
                }
                Err(_) => return false,
            }
        }
        let v = self.conn.as_ref().and_then(|c| {
            c.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))
                .ok()
        });
        match v {
            Some(v) if Some(v) != self.version => {
                self.version = Some(v);
                true
            }
            _ => false,
        }
    }
}

/// Stores kept open between changes (opening one costs more than a
/// query), with the watch generation they were opened at.
#[derive(Default)]
struct Stores {
    events: Option<(u64, EventStore)>,
    mail: Option<(u64, MailStore)>,
}

/// Returns the cached store if it belongs to generation `g`, else opens one.
fn cached<T>(slot: &mut Option<(u64, T)>, g: u64, open: impl FnOnce() -> Option<T>) -> Option<&T> {
    if slot.as_ref().is_none_or(|(at, _)| *at != g) {
        *slot = open().map(|t| (g, t));
    }
    slot.as_ref().map(|(_, t)| t)
}

/// The feed thread's state: watches, cursors and snapshots.
struct Watcher {
    layout: Layout,
    tx: broadcast::Sender<Arc<Frame>>,
    events: Watch,
    mail: Watch,
    sessions: Watch,
    event_cursor: i64,
    mail_cursor: i64,
    stores: Stores,
    agents: HashMap<String, (String, String, Option<i64>)>,
    runs: HashMap<String, (String, Option<String>)>,
    seeded_sessions: bool,
}

impl Watcher {
    fn new(layout: Layout, tx: broadcast::Sender<Arc<Frame>>) -> Self {
        let event_cursor = EventStore::open_if_exists(&layout.events_db())
            .ok()
            .flatten()
            .and_then(|s| s.latest_id().ok())
            .unwrap_or(0);
        let mail_cursor = max_mail_seq(&layout.mail_db()).unwrap_or(0);
        let mut w = Self {
            events: Watch::new(layout.events_db()),
            mail: Watch::new(layout.mail_db()),
            sessions: Watch::new(layout.sessions_db()),
            layout,
            tx,
            event_cursor,
            mail_cursor,
            agents: HashMap::new(),
            runs: HashMap::new(),
            stores: Stores::default(),
            seeded_sessions: false,
        };
        // What exists at start is the baseline; a database that appears
        // later is new from its first row.
        if w.layout.sessions_db().is_file() {
            w.poll_sessions();
        }
        w.seeded_sessions = true;
        w
    }

    fn run(mut self, interval: Duration, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            if self.events.changed() {
                self.poll_events();
            }
            if self.mail.changed() {
                self.poll_mail();
            }
            if self.sessions.changed() {
                self.poll_sessions();
            }
            std::thread::sleep(interval);
        }
    }

    fn send(&self, f: Frame) {
        let _ = self.tx.send(Arc::new(f));
    }

    fn poll_events(&mut self) {
        let path = self.layout.events_db();
        let g = self.events.generation;
        if self.stores.events.as_ref().is_some_and(|(at, _)| *at != g) {
            // The file was replaced (`ov clean`): its ids start again.
            self.event_cursor = 0;
            let _ = self.tx.send(Arc::new(reset_frame(Db::Events)));
        }
        let Some(store) = cached(&mut self.stores.events, g, || {
            EventStore::open_if_exists(&path).ok().flatten()
        }) else {
            return;
        };
        if self.tx.receiver_count() == 0 {
            if let Ok(id) = store.latest_id() {
                self.event_cursor = id;
            }
            return;
        }
        loop {
            let rows = match store.after_id(self.event_cursor, &FollowFilter::default(), PAGE) {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "reading new events failed; retrying on the next change");
                    self.events.version = None;
                    return;
                }
            };
            let n = rows.len();
            for e in rows {
                self.event_cursor = self.event_cursor.max(e.id);
                let _ = self.tx.send(Arc::new(event_frame(&e)));
            }
            if n < PAGE {
                return;
            }
        }
    }

    fn poll_mail(&mut self) {
        let path = self.layout.mail_db();
        if !path.is_file() {
            return;
        }
        if self.tx.receiver_count() == 0 {
            if let Some(seq) = max_mail_seq(&path) {
                self.mail_cursor = seq;
            }
            return;
        }
        let g = self.mail.generation;
        if self.stores.mail.as_ref().is_some_and(|(at, _)| *at != g) {
            self.mail_cursor = 0;
            let _ = self.tx.send(Arc::new(reset_frame(Db::Mail)));
        }
        let Some(store) = cached(&mut self.stores.mail, g, || MailStore::open(&path).ok()) else {
            self.mail.version = None;
            return;
        };
        loop {
            let rows = match store.since(self.mail_cursor, PAGE) {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "reading new mail failed; retrying on the next change");
                    self.mail.version = None;
                    return;
                }
            };
            let n = rows.len();
            for (seq, m) in rows {
                self.mail_cursor = self.mail_cursor.max(seq);
                let _ = self.tx.send(Arc::new(mail_frame(seq, &m)));
            }
            if n < PAGE {
                return;
            }
        }
    }

    fn poll_sessions(&mut self) {
        let path = self.layout.sessions_db();
        if !path.is_file() {
            return;
        }
        let Ok(store) = SessionStore::open(&path) else {
            self.sessions.version = None;
            return;
        };
        let quiet = !self.seeded_sessions;
        self.seeded_sessions = true;
        if let Ok((rows, _)) = store.all_readable() {
            for s in rows {
                let key = s.agent_name.as_str().to_owned();
                let now = (s.state.as_str().to_owned(), s.last_activity.clone(), s.pid);
                let before = self.agents.insert(key.clone(), now.clone());
                if quiet || before.as_ref() == Some(&now) {
                    continue;
                }
                let mut rooms = vec!["fleet".to_owned(), format!("agent:{key}")];
                if let Some(run) = &s.run_id {
                    rooms.push(format!("run:{run}"));
                }
                let payload = json!({
                    "agentName": key,
                    "state": s.state,
                    "previousState": before.map(|b| b.0),
                    "lastActivity": s.last_activity,
                    "pid": s.pid,
                    "runId": s.run_id,
                    "agent": s,
                });
                self.send(Frame {
                    rooms,
                    text: frame_text("agent_state", &payload),
                    event_id: None,
                    mail_seq: None,
                    reset: None,
                    text_event: None,
                });
            }
        }
        let runs: Vec<Run> = RunStore::open(&path)
            .and_then(|r| r.list(Some(PAGE), None))
            .unwrap_or_default();
        for r in runs {
            let now = (r.status.as_str().to_owned(), r.completed_at.clone());
            let before = self.runs.insert(r.id.clone(), now.clone());
            if quiet || before.as_ref() == Some(&now) {
                continue;
            }
            self.send(Frame {
                rooms: vec!["fleet".to_owned(), format!("run:{}", r.id)],
                text: frame_text("run", &r),
                event_id: None,
                mail_seq: None,
                reset: None,
                text_event: None,
            });
        }
    }
}

/// The newest mail row's sequence number (its `rowid`).
pub(crate) fn max_mail_seq(path: &Path) -> Option<i64> {
    if !path.is_file() {
        return None;
    }
    let store = MailStore::open(path).ok()?;
    store
        .connection()
        .query_row("SELECT COALESCE(MAX(rowid), 0) FROM messages", [], |r| {
            r.get(0)
        })
        .ok()
}
