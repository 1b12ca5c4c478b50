//! SessionStore rows, queries and purge.

use overstory_sessions::{AgentState, SESSION_COLUMNS, SessionPurge, Transition};

use crate::support::{Project, booting, full_session, with_state};

#[test]
fn upsert_round_trips_all_nineteen_columns() {
    let p = Project::new();
    let store = p.sessions();
    let s = full_session("builder-1");
    store.upsert(&s).unwrap();
    assert_eq!(store.get("builder-1").unwrap().unwrap(), s);
}

#[test]
fn upsert_with_the_same_name_overwrites_every_field() {
    let p = Project::new();
    let store = p.sessions();
    store.upsert(&full_session("builder-1")).unwrap();
    let mut s2 = booting("builder-1", "2026-04-01T00:00:00.000Z");
    s2.id = "session-2-builder-1".into();
    store.upsert(&s2).unwrap();
    let got = store.get("builder-1").unwrap().unwrap();
    assert_eq!(got, s2);
    assert_eq!(got.pid, None, "absent optional fields write NULL");
    assert_eq!(store.count().unwrap(), 1);
}

#[test]
fn invalid_state_is_rejected_by_the_check_constraint() {
    let p = Project::new();
    p.sessions().upsert(&full_session("a")).unwrap();
    let conn = rusqlite::Connection::open(p.layout.sessions_db()).unwrap();
    let err = conn
        .execute(
            "UPDATE sessions SET state = 'sleeping' WHERE agent_name = 'a'",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("CHECK"), "{err}");
}

#[test]
fn unset_claude_session_id_and_prompt_version_are_absent_from_json() {
    let p = Project::new();
    let store = p.sessions();
    store
        .upsert(&booting("a", "2026-01-01T00:00:00.000Z"))
        .unwrap();
    let v = serde_json::to_value(store.get("a").unwrap().unwrap()).unwrap();
    let obj = v.as_object().unwrap();
    assert!(!obj.contains_key("claudeSessionId"));
    assert!(!obj.contains_key("promptVersion"));
    assert!(
        obj.contains_key("transcriptPath"),
        "nullable fields stay as null"
    );
    assert!(obj["pid"].is_null());
}

#[test]
fn update_claude_session_id_is_idempotent_and_ignores_unknown_agents() {
    let p = Project::new();
    let store = p.sessions();
    store
        .upsert(&booting("a", "2026-01-01T00:00:00.000Z"))
        .unwrap();
    assert!(store.update_claude_session_id("a", "sid-1").unwrap());
    assert!(store.update_claude_session_id("a", "sid-1").unwrap());
    assert_eq!(
        store
            .get("a")
            .unwrap()
            .unwrap()
            .claude_session_id
            .as_deref(),
        Some("sid-1")
    );
    assert!(!store.update_claude_session_id("ghost", "x").unwrap());
    assert!(!store.touch("ghost").unwrap());
    assert!(!store.update_escalation("ghost", 1, None).unwrap());
    assert!(!store.update_transcript_path("ghost", "/x").unwrap());
    assert!(!store.remove("ghost").unwrap());
}

#[test]
fn active_returns_booting_working_stalled_oldest_first() {
    let p = Project::new();
    let store = p.sessions();
    let rows = [
        ("c", "2026-01-03T00:00:00.000Z", AgentState::Stalled),
        ("a", "2026-01-01T00:00:00.000Z", AgentState::Working),
        ("z", "2025-12-31T00:00:00.000Z", AgentState::Zombie),
        ("d", "2026-01-04T00:00:00.000Z", AgentState::Completed),
        ("b", "2026-01-02T00:00:00.000Z", AgentState::Booting),
    ];
    for (n, t, st) in rows {
        store.upsert(&with_state(booting(n, t), st)).unwrap();
    }
    let names: Vec<_> = store
        .active()
        .unwrap()
        .into_iter()
        .map(|s| s.agent_name)
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(store.count().unwrap(), store.all().unwrap().len() as i64);
    store.remove("a").unwrap();
    assert_eq!(store.count().unwrap(), 4);
}

#[test]
fn purge_filters_are_and_combined_and_none_deletes_nothing() {
    let p = Project::new();
    let store = p.sessions();
    store
        .upsert(&with_state(
            booting("a", "2026-01-01T00:00:00.000Z"),
            AgentState::Zombie,
        ))
        .unwrap();
    store
        .upsert(&with_state(
            booting("b", "2026-01-01T00:00:00.000Z"),
            AgentState::Zombie,
        ))
        .unwrap();
    store
        .upsert(&with_state(
            booting("c", "2026-01-01T00:00:00.000Z"),
            AgentState::Working,
        ))
        .unwrap();
    assert_eq!(store.purge(&SessionPurge::default()).unwrap(), 0);
    let both = SessionPurge {
        state: Some(AgentState::Zombie),
        agent: Some("c".into()),
        ..SessionPurge::default()
    };
    assert_eq!(store.purge(&both).unwrap(), 0, "c is not a zombie");
    let by_state = SessionPurge {
        state: Some(AgentState::Zombie),
        ..SessionPurge::default()
    };
    assert_eq!(store.purge(&by_state).unwrap(), 2);
    let by_agent = SessionPurge {
        agent: Some("c".into()),
        ..SessionPurge::default()
    };
    store
        .upsert(&booting("d", "2026-01-01T00:00:00.000Z"))
        .unwrap();
    assert_eq!(store.purge(&by_agent).unwrap(), 1);
    let all = SessionPurge {
        all: true,
        ..SessionPurge::default()
    };
    assert_eq!(store.purge(&all).unwrap(), 1);
    assert_eq!(store.count().unwrap(), 0);
}

#[test]
fn stalled_recovery_resets_escalation_in_the_same_write() {
    let p = Project::new();
    let mut store = p.sessions();
    store
        .upsert(&with_state(
            booting("a", "2026-01-01T00:00:00.000Z"),
            AgentState::Stalled,
        ))
        .unwrap();
    store
        .update_escalation("a", 2, Some("2026-01-01T00:05:00.000Z"))
        .unwrap();
    let t = Transition::to(AgentState::Working)
        .reset_escalation()
        .touch_activity();
    assert!(store.transition("a", &t).unwrap().applied());
    let s = store.get("a").unwrap().unwrap();
    assert_eq!(
        (s.state, s.escalation_level, s.stalled_since),
        (AgentState::Working, 0, None)
    );
    assert_ne!(s.last_activity, "2026-01-01T00:00:00.000Z");
}

#[test]
fn table_columns_equal_the_record_fields() {
    let p = Project::new();
    let _store = p.sessions();
    let conn = rusqlite::Connection::open(p.layout.sessions_db()).unwrap();
    let cols = |t: &str| -> Vec<String> {
        let mut st = conn.prepare(&format!("PRAGMA table_info({t})")).unwrap();
        st.query_map([], |r| r.get::<_, String>(1))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(cols("sessions"), SESSION_COLUMNS);
    assert_eq!(cols("runs"), overstory_sessions::RUN_COLUMNS);
    // The serde field names are the camelCase of the columns, one for one.
    let v = serde_json::to_value(crate::support::full_session("x")).unwrap();
    let keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    let camel: Vec<String> = SESSION_COLUMNS
        .iter()
        .map(|c| {
            let mut out = String::new();
            let mut up = false;
            for ch in c.chars() {
                if ch == '_' {
                    up = true;
                } else if up {
                    out.push(ch.to_ascii_uppercase());
                    up = false;
                } else {
                    out.push(ch);
                }
            }
            out
        })
        .collect();
    assert_eq!(keys, camel);
    let idx: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'idx_%' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        idx,
        [
            "idx_runs_coordinator",
            "idx_runs_status",
            "idx_sessions_run",
            "idx_sessions_state"
        ]
    );
}

#[test]
fn tailer_session_ids_land_on_the_row_and_report_the_prior_one() {
    use overstory_core::events::SessionIdSink as _;
    let p = Project::new();
    let mut s = booting("coordinator", "2026-01-01T00:00:00.000Z");
    s.claude_session_id = Some("old".into());
    p.sessions().upsert(&s).unwrap();
    let mut w = overstory_sessions::SessionIdWriter::new(p.layout.sessions_db());
    assert_eq!(w.pin("coordinator", "new").as_deref(), Some("old"));
    assert_eq!(
        p.sessions()
            .get("coordinator")
            .unwrap()
            .unwrap()
            .claude_session_id
            .as_deref(),
        Some("new")
    );
    assert_eq!(w.pin("ghost", "x"), None);
}
