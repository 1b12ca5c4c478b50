//! Import of the pre-SQLite sessions.json.

use overstory_sessions::{AgentState, open_sessions};
use serde_json::json;

use crate::support::{Project, booting};

fn entry(name: &str, task: &str) -> serde_json::Value {
    json!({
        "id": format!("session-1-{name}"), "agentName": name, "capability": "builder",
        "worktreePath": "/w", "branchName": "b", "beadId": task, "tmuxSession": "t",
        "state": "working", "startedAt": "2026-01-01T00:00:00.000Z",
        "lastActivity": "2026-01-01T00:00:00.000Z"
    })
}

#[test]
fn neither_file_gives_an_empty_database() {
    let p = Project::new();
    let (store, migrated) = open_sessions(&p.layout).unwrap();
    assert!(!migrated);
    assert_eq!(store.count().unwrap(), 0);
}

#[test]
fn json_only_is_imported_with_defaults() {
    let p = Project::new();
    std::fs::write(
        p.layout.sessions_json(),
        json!([entry("a", "t-1")]).to_string(),
    )
    .unwrap();
    let (store, migrated) = open_sessions(&p.layout).unwrap();
    assert!(migrated);
    let s = store.get("a").unwrap().unwrap();
    assert_eq!(
        (s.run_id.clone(), s.pid, s.depth, s.escalation_level),
        (None, None, 0, 0)
    );
    assert_eq!(s.task_str(), "t-1");
    assert_eq!(s.state, AgentState::Working);
    assert_eq!(s.claude_session_id, None);
}

#[test]
fn a_non_empty_database_never_reimports() {
    let p = Project::new();
    p.sessions()
        .upsert(&booting("x", "2026-01-01T00:00:00.000Z"))
        .unwrap();
    std::fs::write(
        p.layout.sessions_json(),
        json!([entry("a", "t")]).to_string(),
    )
    .unwrap();
    let (store, migrated) = open_sessions(&p.layout).unwrap();
    assert!(!migrated);
    assert!(store.get("a").unwrap().is_none());
}

#[test]
fn an_existing_but_empty_database_imports_the_json() {
    let p = Project::new();
    drop(p.sessions());
    std::fs::write(
        p.layout.sessions_json(),
        json!([entry("a", "t")]).to_string(),
    )
    .unwrap();
    let (store, migrated) = open_sessions(&p.layout).unwrap();
    assert!(migrated);
    assert_eq!(store.count().unwrap(), 1);
}

#[test]
fn malformed_or_non_array_json_is_ignored() {
    for text in ["{not json", r#"{"agentName":"a"}"#, "42"] {
        let p = Project::new();
        std::fs::write(p.layout.sessions_json(), text).unwrap();
        let (store, migrated) = open_sessions(&p.layout).unwrap();
        assert!(!migrated, "{text}");
        assert_eq!(store.count().unwrap(), 0);
    }
}

#[test]
fn duplicate_names_keep_the_last_entry() {
    let p = Project::new();
    std::fs::write(
        p.layout.sessions_json(),
        json!([entry("a", "first"), entry("a", "last")]).to_string(),
    )
    .unwrap();
    let (store, _) = open_sessions(&p.layout).unwrap();
    assert_eq!(store.get("a").unwrap().unwrap().task_str(), "last");
    assert_eq!(store.count().unwrap(), 1);
}

#[test]
fn a_failed_import_stores_nothing_and_the_next_open_imports_all() {
    let p = Project::new();
    p.sessions();
    let db = rusqlite::Connection::open(p.layout.sessions_db()).unwrap();
    db.execute_batch(
        "CREATE TRIGGER boom BEFORE INSERT ON sessions WHEN NEW.agent_name = 'c' \
         BEGIN SELECT RAISE(ABORT, 'boom'); END;",
    )
    .unwrap();
    std::fs::write(
        p.layout.sessions_json(),
        json!([entry("a", "t-1"), entry("b", "t-2"), entry("c", "t-3")]).to_string(),
    )
    .unwrap();
    assert!(open_sessions(&p.layout).is_err());
    assert_eq!(p.sessions().count().unwrap(), 0, "no half import");
    db.execute_batch("DROP TRIGGER boom").unwrap();
    let (store, migrated) = open_sessions(&p.layout).unwrap();
    assert!(migrated);
    assert_eq!(store.count().unwrap(), 3);
}
