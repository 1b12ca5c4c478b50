//! `ov log` wiring: the hook target and retention.

use std::io::Write as _;
use std::process::Stdio;

use overstory_core::events::{EventFilter, EventStore, EventType, NewEvent};
use overstory_sessions::{AgentState, Session};

use crate::sessions_support::{Project, json, stderr};

fn run_with_stdin(p: &Project, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = p
        .cmd()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

#[test]
fn invalid_event_and_missing_agent_are_validation_errors() {
    let p = Project::new();
    let o = p.ov(&["log", "tool-middle", "--agent", "a", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["code"], "VALIDATION_ERROR");
    let o = p.ov(&["log", "tool-start", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["error"], "--agent is required for log command");
}

#[test]
fn tool_start_with_stdin_records_a_filtered_event_and_promotes_booting() {
    let p = Project::new();
    p.add(&Session::new(
        "builder-1".parse().unwrap(),
        "builder".parse().unwrap(),
    ));
    let payload = serde_json::json!({
        "tool_name": "Write", "session_id": "s-1",
        "tool_input": {"file_path": "/w/a.rs", "content": "x".repeat(200_000)}
    });
    let o = run_with_stdin(
        &p,
        &["log", "tool-start", "--agent", "builder-1", "--stdin"],
        payload.to_string().as_bytes(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "hooks print nothing");
    let evs = EventStore::open(&p.layout.events_db())
        .unwrap()
        .by_agent("builder-1", &EventFilter::default())
        .unwrap();
    assert_eq!(
        evs[0].tool_args.as_deref(),
        Some(r#"{"file_path":"/w/a.rs"}"#)
    );
    assert_eq!(evs[0].data_json().unwrap()["summary"], "write: /w/a.rs");
    assert_eq!(
        p.sessions().get("builder-1").unwrap().unwrap().state,
        AgentState::Working
    );
}

#[test]
fn tool_start_without_stdin_and_with_empty_stdin_still_records() {
    let p = Project::new();
    let o = p.ov(&["log", "tool-start", "--agent", "b1", "--tool-name", "Bash"]);
    assert!(o.status.success());
    let o = run_with_stdin(&p, &["log", "tool-end", "--agent", "b1", "--stdin"], b"");
    assert!(o.status.success());
    let evs = EventStore::open(&p.layout.events_db())
        .unwrap()
        .by_agent("b1", &EventFilter::default())
        .unwrap();
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].tool_name.as_deref(), Some("Bash"));
    assert_eq!(evs[1].tool_name.as_deref(), Some("unknown"));
}

#[test]
fn session_end_completes_a_builder() {
    let p = Project::new();
    let mut s = Session::new("builder-1".parse().unwrap(), "builder".parse().unwrap());
    s.state = AgentState::Working;
    p.add(&s);
    let o = p.ov(&["log", "session-end", "--agent", "builder-1", "--json"]);
    assert!(o.status.success());
    assert_eq!(json(&o)["transition"]["next"], "completed");
    assert_eq!(
        p.sessions().get("builder-1").unwrap().unwrap().state,
        AgentState::Completed
    );
}

#[test]
fn prune_deletes_events_older_than_the_age() {
    let p = Project::new();
    let s = EventStore::open(&p.layout.events_db()).unwrap();
    s.insert(&NewEvent::new("a", EventType::Spawn).at("2020-01-01T00:00:00.000Z"))
        .unwrap();
    s.insert(&NewEvent::new("a", EventType::Spawn)).unwrap();
    let v = json(&p.ov(&["log", "prune", "--older-than", "7d", "--json"]));
    assert_eq!(v["command"], "log prune");
    assert_eq!(v["deleted"]["events"], 1);
    assert_eq!(s.count().unwrap(), 1);
    let o = p.ov(&["log", "prune", "--json"]);
    assert_eq!(o.status.code(), Some(1), "prune needs a filter");
    let o = p.ov(&["log", "prune", "--older-than", "soon", "--json"]);
    assert_eq!(json(&o)["code"], "VALIDATION_ERROR");
}

#[test]
fn session_end_records_the_finished_task_in_the_agents_identity() {
    let p = Project::new();
    let mut s = Session::new("builder-2".parse().unwrap(), "builder".parse().unwrap());
    s.task_id = Some("task-42".parse().unwrap());
    s.state = AgentState::Working;
    p.add(&s);
    let agent = overstory_core::AgentName::new("builder-2").unwrap();
    let path = p.layout.agent_identity(&agent);
    overstory_fleet::profile::save_identity(
        &path,
        &overstory_fleet::profile::Identity::new("builder-2", "builder", &[], "t0"),
    )
    .unwrap();

    let o = p.ov(&["log", "session-end", "--agent", "builder-2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = overstory_fleet::profile::load_identity(&path).unwrap();
    assert_eq!(id.sessions_completed, 1);
    assert_eq!(id.recent_tasks.len(), 1);
    assert_eq!(id.recent_tasks[0].task_id, "task-42");
    assert_eq!(id.recent_tasks[0].summary, "Completed task task-42");

    // An agent without an identity (started by hand) is not an error.
    let o = p.ov(&["log", "session-end", "--agent", "builder-9"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("identity"), "{}", stderr(&o));
}
