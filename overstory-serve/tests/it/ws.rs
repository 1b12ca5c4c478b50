//! WebSocket rooms: live frames from other writers, resume, agent state.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use overstory_core::events::{EventStore, EventType, NewEvent};
use overstory_core::{AgentName, Capability, Layout};
use overstory_mail::{Address, MailClient, SendRequest};
use overstory_sessions::{AgentState, SessionStore, Transition};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::support::{Fixture, client};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(f: &Fixture, query: &str) -> Ws {
    let mut req = format!("ws://127.0.0.1:{}/ws?{query}", f.info.port)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", f.info.token).parse().unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws
}

/// The next JSON frame of `kind` (skipping others), within 10 s.
async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await.expect("socket open").unwrap() {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == kind {
                        return v;
                    }
                }
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} frame within 10 s"))
}

fn send_mail(layout: &Layout, from: &str, to: &str, subject: &str) -> String {
    let client = MailClient::open(layout).unwrap();
    client
        .send(&SendRequest::new(
            AgentName::new(from).unwrap(),
            Address::parse(to).unwrap(),
            subject,
            "body",
        ))
        .unwrap()
        .id
}

/// A socket is registered with the feed once the server answers a frame
/// to it; the subscribe ack is that signal.
async fn ready(ws: &mut Ws) {
    ws.send(Message::Text(r#"{"op":"subscribe","room":"probe"}"#.into()))
        .await
        .unwrap();
    next_of(ws, "ack").await;
}

#[tokio::test]
async fn mail_reaches_the_mail_room_and_both_agent_rooms() {
    let f = Fixture::start().await;
    let mut all = connect(&f, "mail=true").await;
    let mut to = connect(&f, "agent=builder-1").await;
    let mut from = connect(&f, "agent=lead-1").await;
    for ws in [&mut all, &mut to, &mut from] {
        ready(ws).await;
    }
    let id = send_mail(&f.layout, "lead-1", "builder-1", "Start");
    for ws in [&mut all, &mut to, &mut from] {
        let frame = next_of(ws, "mail").await;
        assert_eq!(frame["payload"]["message"]["id"], id.as_str());
        assert_eq!(frame["payload"]["message"]["from"], "lead-1");
        assert_eq!(frame["payload"]["message"]["to"], "builder-1");
        assert!(frame["ts"].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn same_millisecond_mail_is_never_lost() {
    let f = Fixture::start().await;
    let mut ws = connect(&f, "mail=true").await;
    ready(&mut ws).await;
    let mut client = MailClient::open(&f.layout).unwrap();
    let reqs: Vec<_> = (0..50)
        .map(|i| overstory_mail::NewMessage {
            from: "lead-1".into(),
            to: "builder-1".into(),
            subject: format!("m{i}"),
            ..Default::default()
        })
        .collect();
    client.store_mut().insert_all(&reqs).unwrap();
    let mut got = Vec::new();
    while got.len() < 50 {
        let frame = next_of(&mut ws, "mail").await;
        got.push(
            frame["payload"]["message"]["subject"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let want: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want, "all of them, in order");
}

#[tokio::test]
async fn run_and_agent_rooms_get_their_events_only() {
    let f = Fixture::start().await;
    let mut run1 = connect(&f, "run=run-1").await;
    let mut run2 = connect(&f, "run=run-2").await;
    let mut agent = connect(&f, "agent=scout-1").await;
    for ws in [&mut run1, &mut run2, &mut agent] {
        ready(ws).await;
    }
    let store = EventStore::open(&f.layout.events_db()).unwrap();
    store
        .insert(&NewEvent::new("builder-1", EventType::ToolStart).run(Some("run-2".into())))
        .unwrap();
    store
        .insert(&NewEvent::new("scout-1", EventType::ToolStart).run(Some("run-1".into())))
        .unwrap();
    let e = next_of(&mut run1, "event").await;
    assert_eq!(e["payload"]["runId"], "run-1");
    assert_eq!(e["payload"]["agentName"], "scout-1");
    let e = next_of(&mut run2, "event").await;
    assert_eq!(e["payload"]["runId"], "run-2", "run rooms are isolated");
    let e = next_of(&mut agent, "event").await;
    assert_eq!(e["payload"]["agentName"], "scout-1");
}

#[tokio::test]
async fn after_event_id_replays_the_gap_then_goes_live() {
    let f = Fixture::start().await;
    let store = EventStore::open(&f.layout.events_db()).unwrap();
    let first = store
        .insert(&NewEvent::new("builder-1", EventType::ToolStart))
        .unwrap();
    let second = store
        .insert(&NewEvent::new("builder-1", EventType::ToolEnd))
        .unwrap();
    store
        .insert(&NewEvent::new("other-1", EventType::ToolEnd))
        .unwrap();
    let mut ws = connect(&f, &format!("agent=builder-1&afterEventId={first}")).await;
    let e = next_of(&mut ws, "event").await;
    assert_eq!(e["payload"]["id"], second, "history after the cursor first");
    let third = store
        .insert(&NewEvent::new("builder-1", EventType::Result))
        .unwrap();
    let e = next_of(&mut ws, "event").await;
    assert_eq!(e["payload"]["id"], third, "then live, nothing repeated");
}

#[tokio::test]
async fn after_mail_id_replays_the_agents_mail() {
    let f = Fixture::start().await;
    let a = send_mail(&f.layout, "lead-1", "builder-1", "one");
    let b = send_mail(&f.layout, "lead-1", "builder-1", "two");
    let mut ws = connect(&f, &format!("agent=builder-1&afterMailId={a}")).await;
    let m = next_of(&mut ws, "mail").await;
    assert_eq!(m["payload"]["message"]["id"], b.as_str());
}

#[tokio::test]
async fn session_changes_become_agent_state_frames() {
    let f = Fixture::start().await;
    f.add_agent(
        "builder-1",
        Capability::Builder,
        AgentState::Booting,
        Some("run-1"),
        "2026-01-01T00:00:00.000Z",
    );
    let mut fleet = connect(&f, "fleet=true").await;
    ready(&mut fleet).await;
    let mut store = SessionStore::open(&f.layout.sessions_db()).unwrap();
    assert!(
        store
            .transition("builder-1", &Transition::to(AgentState::Working))
            .unwrap()
            .applied()
    );
    loop {
        let frame = next_of(&mut fleet, "agent_state").await;
        if frame["payload"]["state"] == "working" {
            assert_eq!(frame["payload"]["agentName"], "builder-1");
            assert_eq!(frame["payload"]["agent"]["capability"], "builder");
            break;
        }
    }
    f.add_run("run-9", "2026-01-01T00:00:00.000Z");
    let run = next_of(&mut fleet, "run").await;
    assert_eq!(run["payload"]["id"], "run-9");
}

#[tokio::test]
async fn reads_and_deletes_through_the_server_are_pushed() {
    let f = Fixture::start().await;
    let id = send_mail(&f.layout, "lead-1", "builder-1", "one");
    let mut ws = connect(&f, "mail=true").await;
    ready(&mut ws).await;
    f.post(&format!("/api/mail/{id}/read"), &serde_json::json!({}))
        .await;
    let u = next_of(&mut ws, "mail_update").await;
    assert_eq!(u["payload"]["read"], true);
    f.delete(&format!("/api/mail/{id}")).await;
    let u = next_of(&mut ws, "mail_update").await;
    assert_eq!(u["payload"]["deleted"], true);
}

#[tokio::test]
async fn a_socket_without_a_room_is_400() {
    let f = Fixture::start().await;
    let r = client()
        .get(f.url("/ws?nothing=1"))
        .bearer_auth(&f.info.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "Missing run or agent query parameter");
}

#[tokio::test]
async fn stopping_the_server_closes_open_sockets() {
    let mut f = Fixture::start().await;
    let mut ws = connect(&f, "mail=true").await;
    ready(&mut ws).await;
    f.stop().await;
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the socket was closed");
}

#[tokio::test]
async fn a_replaced_mail_db_is_followed_from_its_first_row() {
    let f = Fixture::start().await;
    let mut ws = connect(&f, "mail=true").await;
    ready(&mut ws).await;
    for i in 0..3 {
        send_mail(&f.layout, "lead-1", "builder-1", &format!("old{i}"));
    }
    for _ in 0..3 {
        next_of(&mut ws, "mail").await;
    }
    // `ov clean --mail` removes the database; a new one starts at rowid 1.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", f.layout.mail_db().display()));
    }
    let id = send_mail(&f.layout, "lead-1", "builder-1", "new");
    let m = next_of(&mut ws, "mail").await;
    assert_eq!(m["payload"]["message"]["id"], id.as_str());
}

#[tokio::test]
async fn streamed_text_is_batched_and_never_overtaken() {
    let f = Fixture::start().await;
    let mut ws = connect(&f, "agent=builder-1").await;
    ready(&mut ws).await;
    let mut store = EventStore::open(&f.layout.events_db()).unwrap();
    let text = |d: &str| {
        NewEvent::new("builder-1", EventType::Progress)
            .session(Some("s1".into()))
            .data(&serde_json::json!({"delta": d}))
    };
    store
        .insert_many(&[
            text("a"),
            text("b"),
            text("c"),
            NewEvent::new("builder-1", EventType::ToolStart),
        ])
        .unwrap();
    let batched = next_of(&mut ws, "event").await;
    assert_eq!(batched["payload"]["batched"], true, "{batched}");
    let deltas: Vec<String> = batched["payload"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e["data"].as_str().unwrap()).unwrap()["delta"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(deltas, ["a", "b", "c"]);
    let tool = next_of(&mut ws, "event").await;
    assert_eq!(
        tool["payload"]["eventType"], "tool_start",
        "the tool event comes after the text it followed"
    );
}
