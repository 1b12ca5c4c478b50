//! `ov log` behaviour through the library.

use overstory_core::AgentName;
use overstory_core::events::{EventFilter, EventStore};
use overstory_sessions::hook_events::{HookEvent, HookPayload, HookRequest, record_hook};
use overstory_sessions::metrics::MetricsStore;
use overstory_sessions::{AgentState, NewRun, RunStatus, RunStore};
use serde_json::json;

use crate::support::{Project, booting, with_state};

fn req(event: HookEvent, agent: &str, payload: Option<serde_json::Value>) -> HookRequest {
    HookRequest {
        event,
        agent: AgentName::new(agent).unwrap(),
        tool_name: None,
        transcript: None,
        payload: payload.and_then(|p| HookPayload::parse(&p.to_string())),
    }
}

fn events(p: &Project, agent: &str) -> Vec<overstory_core::events::StoredEvent> {
    EventStore::open(&p.layout.events_db())
        .unwrap()
        .by_agent(agent, &EventFilter::default())
        .unwrap()
}

#[test]
fn invalid_event_names_are_validation_errors() {
    let err = "tool-middle".parse::<HookEvent>().unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR");
    assert!(err.to_string().contains("tool-middle"));
}

#[test]
fn tool_start_creates_log_dir_and_marker_and_tool_end_reuses_it() {
    let p = Project::new();
    record_hook(&p.layout, &req(HookEvent::ToolStart, "b1", None));
    let agent = AgentName::new("b1").unwrap();
    let marker = p.layout.agent_current_session_marker(&agent);
    let dir = std::fs::read_to_string(&marker).unwrap();
    assert!(
        std::path::Path::new(dir.trim())
            .join("events.ndjson")
            .is_file()
    );
    record_hook(&p.layout, &req(HookEvent::ToolEnd, "b1", None));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), dir);
    let dirs = std::fs::read_dir(p.layout.agent_logs_dir(&agent))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(dirs, 1);
    record_hook(&p.layout, &req(HookEvent::SessionEnd, "b1", None));
    assert!(!marker.exists(), "session-end clears the marker");
}

#[test]
fn tool_start_touches_activity_and_promotes_booting_to_working() {
    let p = Project::new();
    p.sessions()
        .upsert(&booting("b1", "2026-01-01T00:00:00.000Z"))
        .unwrap();
    let r = record_hook(&p.layout, &req(HookEvent::ToolStart, "b1", None));
    assert_eq!(r.transition.unwrap()["ok"], true);
    let s = p.sessions().get("b1").unwrap().unwrap();
    assert_eq!(s.state, AgentState::Working);
    assert_ne!(s.last_activity, "2026-01-01T00:00:00.000Z");
    let evs = events(&p, "b1");
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].event_type, "tool_start");
    assert_eq!(evs[0].tool_name.as_deref(), Some("unknown"));
    assert_eq!(evs[0].tool_args.as_deref(), Some("{}"));
}

#[test]
fn tool_start_never_revives_completed_or_zombie() {
    let p = Project::new();
    for st in [AgentState::Completed, AgentState::Zombie] {
        p.sessions()
            .upsert(&with_state(booting("b1", "2026-01-01T00:00:00.000Z"), st))
            .unwrap();
        record_hook(&p.layout, &req(HookEvent::ToolStart, "b1", None));
        assert_eq!(p.sessions().get("b1").unwrap().unwrap().state, st);
    }
}

#[test]
fn stdin_payload_is_filtered_and_stamped_with_the_sessions_run() {
    let p = Project::new();
    let mut s = booting("b1", "2026-01-01T00:00:00.000Z");
    s.run_id = Some("run-7".into());
    p.sessions().upsert(&s).unwrap();
    let big = "x".repeat(100_000);
    let payload = json!({
        "tool_name": "Write", "session_id": "sid-1", "tool_use_id": "tu-1",
        "tool_input": {"file_path": "/w/a.rs", "content": big}
    });
    record_hook(&p.layout, &req(HookEvent::ToolStart, "b1", Some(payload)));
    let e = &events(&p, "b1")[0];
    assert_eq!(e.tool_args.as_deref(), Some(r#"{"file_path":"/w/a.rs"}"#));
    assert_eq!(e.data_json().unwrap()["summary"], "write: /w/a.rs");
    assert_eq!(e.session_id.as_deref(), Some("sid-1"));
    assert_eq!(e.run_id.as_deref(), Some("run-7"));
}

#[test]
fn empty_or_invalid_stdin_is_tolerated() {
    assert_eq!(HookPayload::parse(""), None);
    assert_eq!(HookPayload::parse("not json"), None);
    let p = Project::new();
    let mut r = req(HookEvent::ToolStart, "b1", None);
    r.payload = HookPayload::parse("");
    assert!(record_hook(&p.layout, &r).event_id.is_some());
}

#[test]
fn tool_end_pairs_with_its_start_by_tool_use_id() {
    let p = Project::new();
    let start =
        |id: &str| json!({"tool_name": "Bash", "tool_use_id": id, "tool_input": {"command": id}});
    record_hook(
        &p.layout,
        &req(HookEvent::ToolStart, "b1", Some(start("first"))),
    );
    record_hook(
        &p.layout,
        &req(HookEvent::ToolStart, "b1", Some(start("second"))),
    );
    let r = record_hook(
        &p.layout,
        &req(HookEvent::ToolEnd, "b1", Some(start("first"))),
    );
    assert!(r.duration_ms.is_some());
    let evs = events(&p, "b1");
    let first = evs
        .iter()
        .find(|e| {
            e.tool_args.as_deref() == Some(r#"{"command":"first"}"#) && e.event_type == "tool_start"
        })
        .unwrap();
    let second = evs
        .iter()
        .find(|e| {
            e.tool_args.as_deref() == Some(r#"{"command":"second"}"#)
                && e.event_type == "tool_start"
        })
        .unwrap();
    assert!(
        first.tool_duration_ms.is_some(),
        "the matching start is timed"
    );
    assert!(
        second.tool_duration_ms.is_none(),
        "the other parallel call is not"
    );
    let end = evs.iter().find(|e| e.event_type == "tool_end").unwrap();
    assert_eq!(
        end.tool_duration_ms, first.tool_duration_ms,
        "duration on both rows"
    );
}

#[test]
fn session_end_completes_workers_but_not_persistent_agents_or_leads() {
    let p = Project::new();
    let caps = [
        ("builder", true),
        ("scout", true),
        ("coordinator", false),
        ("monitor", false),
        ("orchestrator", false),
        ("lead", false),
    ];
    for (cap, completes) in caps {
        let name = format!("{cap}-1");
        let mut s = with_state(
            booting(&name, "2026-01-01T00:00:00.000Z"),
            AgentState::Working,
        );
        s.capability = cap.parse().unwrap();
        p.sessions().upsert(&s).unwrap();
        record_hook(&p.layout, &req(HookEvent::SessionEnd, &name, None));
        let st = p.sessions().get(&name).unwrap().unwrap().state;
        assert_eq!(st == AgentState::Completed, completes, "{cap}: {st}");
    }
}

#[test]
fn session_end_never_completes_a_run_and_records_metrics() {
    let p = Project::new();
    let runs = RunStore::open(&p.layout.sessions_db()).unwrap();
    runs.create(&NewRun {
        id: "r1".into(),
        started_at: "2026-01-01T00:00:00.000Z".into(),
        coordinator_session_id: None,
        coordinator_name: None,
        status: RunStatus::Active,
    })
    .unwrap();
    let mut s = booting("b1", "2026-01-01T00:00:00.000Z");
    s.run_id = Some("r1".into());
    s.task_id = Some("task-9".parse().unwrap());
    s.parent_agent = Some("lead-1".parse().unwrap());
    p.sessions().upsert(&s).unwrap();
    let transcript = p.dir.path().join("t.jsonl");
    std::fs::write(
        &transcript,
        r#"{"type":"assistant","message":{"model":"claude-sonnet-4","usage":{"input_tokens":1000,"output_tokens":10}}}"#,
    )
    .unwrap();
    let r = record_hook(
        &p.layout,
        &req(
            HookEvent::SessionEnd,
            "b1",
            Some(json!({"transcript_path": transcript})),
        ),
    );
    assert!(r.metrics_recorded);
    assert_eq!(runs.get("r1").unwrap().unwrap().status, RunStatus::Active);
    let m = MetricsStore::open(&p.layout.metrics_db())
        .unwrap()
        .by_agent("b1")
        .unwrap();
    assert_eq!(m[0].task_id, "task-9");
    assert_eq!(m[0].capability, "builder");
    assert_eq!(m[0].parent_agent.as_deref(), Some("lead-1"));
    assert_eq!(m[0].input_tokens, 1000);
    assert_eq!(m[0].model_used.as_deref(), Some("claude-sonnet-4"));
    assert!(m[0].estimated_cost_usd.unwrap() > 0.0);
    let end = events(&p, "b1").pop().unwrap();
    assert_eq!(end.event_type, "session_end");
    assert_eq!(
        end.data_json().unwrap()["transcriptPath"],
        json!(transcript)
    );
    assert!(
        !p.layout.pending_nudges_dir().exists(),
        "no pending-nudge marker"
    );
}

#[test]
fn coordinator_session_end_completes_only_after_its_run_completed() {
    let p = Project::new();
    let runs = RunStore::open(&p.layout.sessions_db()).unwrap();
    runs.create(&NewRun {
        id: "r1".into(),
        started_at: "2026-01-01T00:00:00.000Z".into(),
        coordinator_session_id: None,
        coordinator_name: Some("coordinator".into()),
        status: RunStatus::Active,
    })
    .unwrap();
    let mut s = with_state(
        booting("coordinator", "2026-01-01T00:00:00.000Z"),
        AgentState::Working,
    );
    s.capability = "coordinator".parse().unwrap();
    s.run_id = Some("r1".into());
    p.sessions().upsert(&s).unwrap();
    record_hook(&p.layout, &req(HookEvent::SessionEnd, "coordinator", None));
    assert_eq!(
        p.sessions().get("coordinator").unwrap().unwrap().state,
        AgentState::Working
    );
    runs.complete("r1", RunStatus::Completed).unwrap();
    record_hook(&p.layout, &req(HookEvent::SessionEnd, "coordinator", None));
    assert_eq!(
        p.sessions().get("coordinator").unwrap().unwrap().state,
        AgentState::Completed
    );
}

#[test]
fn session_end_tolerates_a_missing_sessions_db() {
    let p = Project::new();
    let r = record_hook(&p.layout, &req(HookEvent::SessionEnd, "b1", None));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r.event_id.is_some());
}

#[test]
fn tool_end_records_a_throttled_token_snapshot_from_the_transcript() {
    let p = Project::new();
    let transcript = p.dir.path().join("t.jsonl");
    std::fs::write(
        &transcript,
        "{\"type\":\"assistant\",\"message\":{\"model\":\"claude-opus-4\",\"usage\":{\"input_tokens\":100}}}\n",
    )
    .unwrap();
    let mut s = booting("b1", "2026-01-01T00:00:00.000Z");
    s.transcript_path = Some(transcript.display().to_string());
    s.run_id = Some("r1".into());
    p.sessions().upsert(&s).unwrap();
    let end = json!({"tool_name": "Bash", "session_id": "sid-1"});
    let r = record_hook(&p.layout, &req(HookEvent::ToolEnd, "b1", Some(end.clone())));
    assert!(r.snapshot, "{:?}", r.warnings);
    let r2 = record_hook(&p.layout, &req(HookEvent::ToolEnd, "b1", Some(end)));
    assert!(!r2.snapshot, "throttled within 30 s");
    let snaps = MetricsStore::open(&p.layout.metrics_db())
        .unwrap()
        .latest_snapshots(Some("r1"))
        .unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].input_tokens, 100);
    assert_eq!(snaps[0].model_used.as_deref(), Some("claude-opus-4"));
    assert!(snaps[0].estimated_cost_usd.unwrap() > 0.0);
}
