//! Session rows carry validated names, capabilities and task ids, and one
//! rule says how an agent takes its turns.

use overstory_core::{AgentName, Capability};
use overstory_sessions::{RunMode, Session, SessionStore};

use crate::support::{Project, full_session};

fn raw_insert(p: &Project, agent: &str, capability: &str, task: &str) {
    // Another program (or a hand edit) wrote this row, bypassing our types.
    drop(p.sessions());
    let conn = rusqlite::Connection::open(p.layout.sessions_db()).unwrap();
    conn.execute(
        "INSERT INTO sessions (id, agent_name, capability, worktree_path, branch_name, task_id, \
         tmux_session, state, depth, started_at, last_activity, escalation_level) \
         VALUES ('s-' || ?1, ?1, ?2, '/w', 'b', ?3, '', 'working', 0, \
         '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 0)",
        rusqlite::params![agent, capability, task],
    )
    .unwrap();
}

#[test]
fn rows_with_unknown_capability_are_an_error_that_names_it() {
    let p = Project::new();
    raw_insert(&p, "wiz-1", "wizard", "t-1");
    let err = p.sessions().get("wiz-1").unwrap_err();
    let chain = format!("{err} {:?}", std::error::Error::source(&err));
    assert!(chain.contains("wizard"), "{chain}");
}

#[test]
fn a_row_that_does_not_decode_fails_listings_but_not_the_lenient_one() {
    let p = Project::new();
    p.sessions().upsert(&full_session("builder-1")).unwrap();
    // Another program's rows: a name with a space, an unknown capability.
    raw_insert(&p, "my agent", "builder", "t-1");
    raw_insert(&p, "wiz-1", "wizard", "t-2");
    let store = p.sessions();
    // Callers that act on the fleet never mistake such a row for absence.
    let err = store.all().unwrap_err();
    let cause = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(cause.contains("Invalid name \"my agent\""), "{cause}");
    assert!(store.active().is_err());
    assert!(store.get("my agent").is_err());
    // Callers that only deliver or display keep working and can say why.
    let (good, bad) = store.all_readable().unwrap();
    assert_eq!(good.len(), 1, "the good row is still listed");
    assert_eq!(good[0].agent_name, "builder-1");
    let names: Vec<&str> = bad.iter().map(|r| r.agent_name.as_str()).collect();
    assert_eq!(names, ["my agent", "wiz-1"]);
    assert_eq!(bad[1].worktree_path, "/w");
    assert!(bad[1].reason.contains("wizard"), "{}", bad[1].reason);
    // Nothing was deleted: the rows are still in the file.
    assert_eq!(store.count().unwrap(), 3);
}

#[test]
fn an_empty_task_id_reads_as_none_and_is_written_back_as_empty() {
    let p = Project::new();
    raw_insert(&p, "coordinator", "coordinator", "");
    let store = p.sessions();
    let row = store.get("coordinator").unwrap().unwrap();
    assert_eq!(row.task_id, None);
    assert_eq!(row.task_str(), "");
    assert_eq!(row.capability, Capability::Coordinator);
    assert_eq!(serde_json::to_value(&row).unwrap()["taskId"], "");
    store.upsert(&row).unwrap();
    let conn = rusqlite::Connection::open(p.layout.sessions_db()).unwrap();
    let stored: String = conn
        .query_row("SELECT task_id FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, "");
}

#[test]
fn typed_rows_round_trip_through_json_with_the_original_field_names() {
    let s = full_session("builder-3");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["agentName"], "builder-3");
    assert_eq!(json["capability"], "builder");
    assert_eq!(json["taskId"], "task-1");
    assert_eq!(json["parentAgent"], "lead-1");
    let back: Session = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn mode_is_tmux_with_a_session_else_hosted_or_spawn_per_turn_by_capability() {
    let name = |n: &str| AgentName::new(n).unwrap();
    let cases = [
        (Capability::Builder, "", RunMode::SpawnPerTurn),
        (Capability::Scout, "", RunMode::SpawnPerTurn),
        (Capability::Lead, "", RunMode::SpawnPerTurn),
        (Capability::Coordinator, "", RunMode::Hosted),
        (Capability::Orchestrator, "", RunMode::Hosted),
        (Capability::Monitor, "", RunMode::Hosted),
        (Capability::Builder, "overstory-p-b", RunMode::Tmux),
        (Capability::Coordinator, "overstory-p-c", RunMode::Tmux),
    ];
    for (capability, tmux, want) in cases {
        let mut s = Session::new(name("a"), capability);
        s.tmux_session = tmux.into();
        // A recorded pid does not change how the agent takes its turns.
        s.pid = Some(7);
        assert_eq!(s.mode(), want, "{capability} tmux={tmux:?}");
    }
}

#[test]
fn store_keeps_typed_fields() {
    let p = Project::new();
    let store: SessionStore = p.sessions();
    let s = full_session("builder-4");
    store.upsert(&s).unwrap();
    assert_eq!(store.get("builder-4").unwrap().unwrap(), s);
}
