//! `ov trace` wiring.

use overstory_core::events::{EventStore, EventType, NewEvent};
use overstory_sessions::Session;

use crate::sessions_support::{Project, json, stdout};

#[test]
fn missing_events_db_is_friendly_and_not_created() {
    let p = Project::new();
    let o = p.ov(&["trace", "builder-1"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).trim(), "No events data yet.");
    let v = json(&p.ov(&["trace", "builder-1", "--json"]));
    assert_eq!(v["events"], serde_json::json!([]));
    assert!(!p.layout.events_db().exists());
}

#[test]
fn trace_resolves_task_ids_and_honours_limit_and_since() {
    let p = Project::new();
    let mut s = Session::new("builder-1".parse().unwrap(), "builder".parse().unwrap());
    s.task_id = Some("proj-abc1".parse().unwrap());
    p.add(&s);
    let store = EventStore::open(&p.layout.events_db()).unwrap();
    for i in 0..5 {
        store
            .insert(
                &NewEvent::new("builder-1", EventType::ToolStart)
                    .tool("Bash", None)
                    .at(format!("2026-01-01T00:00:0{i}.000Z")),
            )
            .unwrap();
    }
    let v = json(&p.ov(&["trace", "proj-abc1", "--limit", "2", "--json"]));
    let evs = v["events"].as_array().unwrap();
    assert_eq!(evs.len(), 2);
    assert_eq!(
        evs[1]["createdAt"], "2026-01-01T00:00:04.000Z",
        "newest N, oldest first"
    );
    let o = p.ov(&["trace", "builder-1", "--since", "2026-01-01T00:00:03Z"]);
    let out = stdout(&o);
    assert!(out.contains("Timeline for builder-1"), "{out}");
    assert!(out.contains("2 event(s)"), "{out}");
    assert!(out.contains("--- 2026-01-01 ---"), "{out}");
    assert!(out.contains("00:00:04 TOOL START Bash"), "{out}");
}

#[test]
fn bad_limit_and_time_are_rejected() {
    let p = Project::new();
    for args in [
        ["trace", "a", "--limit", "0"],
        ["trace", "a", "--since", "nope"],
    ] {
        let o = p.ov(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("VALIDATION_ERROR"));
    }
}
