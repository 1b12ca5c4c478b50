//! `ov replay` wiring.

use overstory_core::events::{EventStore, EventType, NewEvent};

use crate::sessions_support::{Project, json, stdout};

#[test]
fn replay_uses_the_current_run_by_default_and_labels_agents() {
    let p = Project::new();
    let s = EventStore::open(&p.layout.events_db()).unwrap();
    s.insert(&NewEvent::new("a", EventType::Spawn).run(Some("r1".into())))
        .unwrap();
    s.insert(&NewEvent::new("b", EventType::Spawn).run(Some("r2".into())))
        .unwrap();
    std::fs::write(p.layout.current_run(), "r1").unwrap();
    let v = json(&p.ov(&["replay", "--json"]));
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    let v = json(&p.ov(&["replay", "--run", "r2", "--json"]));
    assert_eq!(v["events"][0]["agentName"], "b");
    let v = json(&p.ov(&["replay", "--agent", "a", "--agent", "b", "--json"]));
    assert_eq!(v["events"].as_array().unwrap().len(), 2);
    let out = stdout(&p.ov(&["replay"]));
    assert!(out.starts_with("Replay"), "{out}");
    assert!(out.contains("[a] SPAWN"), "{out}");
}
