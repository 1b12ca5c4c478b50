//! `ov feed` wiring, including --follow ending on SIGINT and closed stdout.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use overstory_core::events::{EventStore, EventType, NewEvent};
use overstory_core::process::{Sig, signal_process};

use crate::sessions_support::{Project, json, stdout};

#[test]
fn feed_shows_recent_events_with_compact_labels() {
    let p = Project::new();
    let s = EventStore::open(&p.layout.events_db()).unwrap();
    s.insert(&NewEvent::new("builder-1", EventType::ToolStart).tool("Bash", None))
        .unwrap();
    s.insert(&NewEvent::new("old", EventType::Spawn).at("2020-01-01T00:00:00.000Z"))
        .unwrap();
    let v = json(&p.ov(&["feed", "--json"]));
    assert_eq!(
        v["events"].as_array().unwrap().len(),
        1,
        "default since is 5 minutes ago"
    );
    let out = stdout(&p.ov(&["feed"]));
    assert!(out.contains("TOOL+ builder-1       Bash"), "{out}");
    let o = p.ov(&["feed", "--interval", "100"]);
    assert_eq!(o.status.code(), Some(1));
}

fn spawn_follow(p: &Project) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = p
        .cmd()
        .args(["feed", "--follow", "--interval", "200", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn wait_exit(mut child: std::process::Child) -> std::process::ExitStatus {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait().unwrap());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("ov feed --follow did not stop")
}

#[test]
fn follow_prints_one_envelope_per_new_event_and_stops_on_sigint() {
    let p = Project::new();
    let s = EventStore::open(&p.layout.events_db()).unwrap();
    let (child, rx) = spawn_follow(&p);
    // Events inserted while following all arrive, in order.
    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(
            s.insert(&NewEvent::new(format!("agent-{i}"), EventType::Progress))
                .unwrap(),
        );
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("no event line");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["command"], "feed");
        got.push(v["event"]["id"].as_i64().unwrap());
    }
    assert_eq!(got, sent);
    signal_process(i32::try_from(child.id()).unwrap(), Sig::Int).unwrap();
    assert!(wait_exit(child).success(), "SIGINT ends follow cleanly");
}

#[test]
fn follow_stops_when_stdout_closes() {
    let p = Project::new();
    let s = EventStore::open(&p.layout.events_db()).unwrap();
    let (child, rx) = spawn_follow(&p);
    s.insert(&NewEvent::new("a", EventType::Progress)).unwrap();
    rx.recv_timeout(Duration::from_secs(20))
        .expect("no event line");
    drop(rx); // the reader thread exits on its next line, closing the pipe
    // Keep producing events so ov has something to write into the closed pipe.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let done = done.clone();
        let path = p.layout.events_db();
        std::thread::spawn(move || {
            let s = EventStore::open(&path).unwrap();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                s.insert(&NewEvent::new("a", EventType::Progress)).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let status = wait_exit(child);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    producer.join().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn follow_text_names_a_tool_result_whose_call_came_in_an_earlier_poll() {
    let p = Project::new();
    let s = EventStore::open(&p.layout.events_db()).unwrap();
    let mut child = p
        .cmd()
        .args(["feed", "--follow", "--interval", "200"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The turn runner's rows: the call, then (in a later poll) its result.
    s.insert(
        &NewEvent::new("builder-1", EventType::ToolStart)
            .tool("Edit", Some(&serde_json::json!({"file_path": "src/a.rs"})))
            .data(&serde_json::json!({"type": "tool_use", "callId": "toolu_1",
                "name": "Edit", "input": {"file_path": "src/a.rs"}})),
    )
    .unwrap();
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        first.contains("TOOL+ builder-1       Edit  src/a.rs"),
        "{first}"
    );
    s.insert(&NewEvent::new("builder-1", EventType::ToolEnd).data(
        &serde_json::json!({"type": "tool_result", "toolUseId": "toolu_1",
                "content": "The file was updated"}),
    ))
    .unwrap();
    let second = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        second.contains("TOOL- builder-1       Edit done  The file was updated  ("),
        "{second}"
    );
    signal_process(i32::try_from(child.id()).unwrap(), Sig::Int).unwrap();
    assert!(wait_exit(child).success());
}
