//! `ov errors` wiring.

use overstory_core::events::{EventLevel, EventStore, EventType, NewEvent};

use crate::sessions_support::{Project, json, stdout};

#[test]
fn errors_are_grouped_by_agent_and_json_lists_events() {
    let p = Project::new();
    let s = EventStore::open(&p.layout.events_db()).unwrap();
    for a in ["a", "b", "a"] {
        s.insert(
            &NewEvent::new(a, EventType::Error)
                .level(EventLevel::Error)
                .data(&serde_json::json!({"message": "boom"})),
        )
        .unwrap();
    }
    s.insert(&NewEvent::new("a", EventType::Progress)).unwrap();
    let v = json(&p.ov(&["errors", "--json"]));
    assert_eq!(v["events"].as_array().unwrap().len(), 3);
    let v = json(&p.ov(&["errors", "--agent", "b", "--json"]));
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    let out = stdout(&p.ov(&["errors"]));
    assert!(out.contains("Errors"), "{out}");
    assert!(out.contains("a (2 errors)"), "{out}");
    assert!(out.contains("b (1 errors)"), "{out}");
}

#[test]
fn missing_events_db_gives_empty_json() {
    let p = Project::new();
    let v = json(&p.ov(&["errors", "--json"]));
    assert_eq!(v["events"], serde_json::json!([]));
}
