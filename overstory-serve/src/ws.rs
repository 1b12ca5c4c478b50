//! `GET /ws`: rooms, replay from a cursor, live frames (§7).
//!
//! A socket joins the room its query names (`mail=true`, `run=<id>`,
//! `agent=<name>`, or `fleet=true` for every agent's state and every run),
//! and may join and leave more with `{"op":"subscribe"|"unsubscribe",
//! "room":"agent:builder-1"}` (answered by an `ack` frame). With
//! `afterEventId=<id>` or `afterMailId=<msg id or seq>` the socket first
//! gets everything of its room stored after that cursor, then live frames,
//! with nothing lost or repeated in between: it subscribes to the feed
//! before it reads the history, and drops live frames it already sent.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::extract::ws::{
    CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade,
    rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use overstory_core::events::{EventStore, FollowFilter};
use overstory_mail::MailStore;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::api::ApiError;
use crate::feed::{Db, Frame, event_frame, frame_text, mail_frame};
use crate::state::ServeState;

/// How long one frame may take to send before the socket counts as stuck.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle socket is pinged.
const PING_EVERY: Duration = Duration::from_secs(20);
/// How long streamed text is gathered into one batched frame.
const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// The most text events one batched frame carries.
const BATCH_MAX: usize = 200;
/// The most history rows one socket replays.
const REPLAY_MAX: usize = 10_000;

/// The room a query names, in the original's priority order.
fn room_of(q: &HashMap<String, String>) -> Option<String> {
    if q.get("mail").map(String::as_str) == Some("true") {
        return Some("mail".into());
    }
    if let Some(r) = q.get("run") {
        return Some(format!("run:{r}"));
    }
    if let Some(a) = q.get("agent") {
        return Some(format!("agent:{a}"));
    }
    if q.get("fleet").map(String::as_str) == Some("true") {
        return Some("fleet".into());
    }
    None
}

/// The upgrade handler.
pub(crate) async fn upgrade(
    State(state): State<ServeState>,
    Query(q): Query<HashMap<String, String>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(room) = room_of(&q) else {
        return ApiError::bad_request("Missing run or agent query parameter").into_response();
    };
    let after_event = match q.get("afterEventId").map(|v| v.parse::<i64>()) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return ApiError::bad_request("Invalid afterEventId").into_response(),
    };
    let after_mail = q.get("afterMailId").cloned();
    let Ok(ws) = ws else {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "WebSocket upgrade failed",
        )
        .into_response();
    };
    let Some(permit) = state.socket_permit() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many open WebSockets; close some pages and retry",
        )
        .into_response();
    };
    ws.on_upgrade(move |socket| async move {
        let _permit = permit;
        Socket {
            socket,
            state,
            rooms: HashSet::from([room]),
            sent_event: i64::MIN,
            sent_mail: i64::MIN,
            batch: Batch::default(),
        }
        .run(after_event, after_mail)
        .await;
    })
}

struct Socket {
    socket: WebSocket,
    state: ServeState,
    rooms: HashSet<String>,
    sent_event: i64,
    sent_mail: i64,
    batch: Batch,
}

/// Text events waiting to go out as one `{"batched":true}` frame.
#[derive(Default)]
struct Batch {
    key: Option<String>,
    events: Vec<String>,
    deadline: Option<tokio::time::Instant>,
}

enum Replay {
    Events(i64),
    Mail(String),
}

impl Socket {
    async fn run(mut self, after_event: Option<i64>, after_mail: Option<String>) {
        // Subscribe first: whatever is stored from now on arrives live.
        let mut rx = self.state.feed().subscribe();
        let mut shutdown = self.state.shutdown_signal();
        if let Some(id) = after_event {
            self.sent_event = id;
        }
        if let Some(id) = after_event
            && !self.replay(Replay::Events(id)).await
        {
            return;
        }
        if let Some(id) = after_mail
            && !self.replay(Replay::Mail(id)).await
        {
            return;
        }
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                frame = rx.recv() => match frame {
                    Ok(f) => {
                        if self.wants(&f) && !self.deliver(&f).await {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::debug!(skipped = n, "closing a slow WebSocket");
                        self.close(1013, "Too far behind: reconnect with afterEventId/afterMailId").await;
                        return;
                    }
                    Err(RecvError::Closed) => {
                        self.close(1001, "Server stopping").await;
                        return;
                    }
                },
                msg = self.socket.recv() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        if !self.client_op(t.as_str()).await {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
                _ = shutdown.changed() => {
                    self.flush().await;
                    self.close(1001, "Server stopping").await;
                    return;
                }
                () = until(self.batch.deadline) => {
                    if !self.flush().await {
                        return;
                    }
                }
                _ = ping.tick() => {
                    if !self.send(Message::Ping(Default::default())).await {
                        return;
                    }
                }
            }
        }
    }

    fn wants(&mut self, f: &Frame) -> bool {
        match f.reset {
            Some(Db::Events) => self.sent_event = i64::MIN,
            Some(Db::Mail) => self.sent_mail = i64::MIN,
            None => {}
        }
        if f.reset.is_some() {
            return true;
        }
        if f.event_id.is_some_and(|id| id <= self.sent_event)
            || f.mail_seq.is_some_and(|s| s <= self.sent_mail)
        {
            return false;
        }
        f.rooms.iter().any(|r| self.rooms.contains(r))
    }

    async fn send(&mut self, m: Message) -> bool {
        matches!(
            tokio::time::timeout(SEND_TIMEOUT, self.socket.send(m)).await,
            Ok(Ok(()))
        )
    }

    /// Sends a live frame: streamed text joins the batch (sent after
    /// 250 ms, or when another agent's text or any other frame comes, so
    /// the room's order is kept); everything else flushes it and goes out.
    async fn deliver(&mut self, f: &Frame) -> bool {
        if let Some((key, json)) = &f.text_event {
            if self.batch.key.as_ref().is_some_and(|k| k != key) && !self.flush().await {
                return false;
            }
            if let Some(id) = f.event_id {
                self.sent_event = self.sent_event.max(id);
            }
            self.batch.key = Some(key.clone());
            self.batch.events.push(json.clone());
            self.batch
                .deadline
                .get_or_insert_with(|| tokio::time::Instant::now() + BATCH_WINDOW);
            if self.batch.events.len() >= BATCH_MAX {
                return self.flush().await;
            }
            return true;
        }
        if !self.flush().await {
            return false;
        }
        self.send_frame(f).await
    }

    /// Sends the waiting text events as one batched frame.
    async fn flush(&mut self) -> bool {
        let batch = std::mem::take(&mut self.batch);
        if batch.events.is_empty() {
            return true;
        }
        let text = format!(
            r#"{{"type":"event","ts":{},"payload":{{"batched":true,"events":[{}]}}}}"#,
            Value::String(overstory_core::clock::now_rfc3339()),
            batch.events.join(",")
        );
        self.send(Message::Text(Utf8Bytes::from(text))).await
    }

    async fn send_frame(&mut self, f: &Frame) -> bool {
        if let Some(id) = f.event_id {
            self.sent_event = self.sent_event.max(id);
        }
        if let Some(s) = f.mail_seq {
            self.sent_mail = self.sent_mail.max(s);
        }
        self.send(Message::Text(Utf8Bytes::from(f.text.clone())))
            .await
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let _ = self
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })))
            .await;
    }

    /// Handles `{"op":"subscribe"|"unsubscribe","room":…}`; other text is ignored.
    async fn client_op(&mut self, text: &str) -> bool {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return true;
        };
        let (Some(op), Some(room)) = (
            v.get("op").and_then(Value::as_str),
            v.get("room").and_then(Value::as_str),
        ) else {
            return true;
        };
        let ok = match op {
            "subscribe" => {
                self.rooms.insert(room.to_owned());
                true
            }
            "unsubscribe" => {
                self.rooms.remove(room);
                true
            }
            _ => false,
        };
        let ack = frame_text("ack", &json!({"op": op, "room": room, "ok": ok}));
        self.send(Message::Text(Utf8Bytes::from(ack))).await
    }

    /// Sends the room's history after a cursor; returns false if the socket is gone.
    async fn replay(&mut self, from: Replay) -> bool {
        let layout = self.state.layout().clone();
        let rooms: Vec<String> = self.rooms.iter().cloned().collect();
        let frames = tokio::task::spawn_blocking(move || history(&layout, &rooms, from))
            .await
            .unwrap_or_default();
        for f in &frames {
            if !self.send_frame(f).await {
                return false;
            }
        }
        true
    }
}

/// Reads the stored rows after a cursor that the given rooms receive.
fn history(layout: &overstory_core::Layout, rooms: &[String], from: Replay) -> Vec<Frame> {
    let mut out = Vec::new();
    match from {
        Replay::Events(mut after) => {
            let Ok(Some(store)) = EventStore::open_if_exists(&layout.events_db()) else {
                return out;
            };
            let mut filter = FollowFilter::default();
            for r in rooms {
                if let Some(a) = r.strip_prefix("agent:") {
                    filter.agents.push(a.to_owned());
                } else if let Some(run) = r.strip_prefix("run:") {
                    filter.run_id = Some(run.to_owned());
                }
            }
            if filter.agents.is_empty() && filter.run_id.is_none() {
                return out;
            }
            while out.len() < REPLAY_MAX {
                let Ok(rows) = store.after_id(after, &filter, 500) else {
                    break;
                };
                let n = rows.len();
                for e in rows {
                    after = e.id;
                    out.push(event_frame(&e));
                }
                if n < 500 {
                    break;
                }
            }
        }
        Replay::Mail(cursor) => {
            let path = layout.mail_db();
            if !path.is_file() {
                return out;
            }
            let Ok(store) = MailStore::open(&path) else {
                return out;
            };
            let mut after = match cursor.parse::<i64>() {
                Ok(seq) => seq,
                Err(_) => match store.connection().query_row(
                    "SELECT rowid FROM messages WHERE id = ?1",
                    [&cursor],
                    |r| r.get::<_, i64>(0),
                ) {
                    Ok(seq) => seq,
                    Err(_) => return out,
                },
            };
            while out.len() < REPLAY_MAX {
                let Ok(rows) = store.since(after, 500) else {
                    break;
                };
                let n = rows.len();
                for (seq, m) in rows {
                    after = seq;
                    let f = mail_frame(seq, &m);
                    if f.rooms.iter().any(|r| rooms.contains(r)) {
                        out.push(f);
                    }
                }
                if n < 500 {
                    break;
                }
            }
        }
    }
    out
}

/// Completes at `deadline`, or never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
