//! Read routes with the original's shapes, ordering and pagination.

use overstory_core::Capability;
use overstory_core::events::{EventStore, EventType, NewEvent};
use overstory_sessions::AgentState;
use serde_json::{Value, json};

use crate::support::{Fixture, client};

fn ids(v: &Value, key: &str) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn runs_are_newest_first_and_page_with_a_cursor() {
    let f = Fixture::start().await;
    f.add_run("run-a", "2026-01-01T00:00:01.000Z");
    f.add_run("run-b", "2026-01-01T00:00:02.000Z");
    f.add_run("run-c", "2026-01-01T00:00:03.000Z");
    f.add_agent(
        "builder-1",
        Capability::Builder,
        AgentState::Working,
        Some("run-b"),
        "2026-01-01T00:00:05.000Z",
    );
    f.add_agent(
        "scout-1",
        Capability::Scout,
        AgentState::Booting,
        Some("run-b"),
        "2026-01-01T00:00:04.000Z",
    );

    let (s, p1) = f.get("/api/runs?limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&p1, "id"), ["run-c", "run-b"]);
    let cursor = p1["nextCursor"].as_str().unwrap();
    let (_, p2) = f.get(&format!("/api/runs?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&p2, "id"), ["run-a"]);
    assert!(p2.get("nextCursor").is_none(), "omitted, not null");

    let (_, run) = f.get("/api/runs/run-b").await;
    assert_eq!(run["data"]["agentCount"], 2);
    assert_eq!(run["data"]["status"], "active");
    let agents: Vec<&str> = run["data"]["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agentName"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["scout-1", "builder-1"], "oldest first");
    let (s, e) = f.get("/api/runs/run-x").await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (404, "Run not found: run-x")
    );

    for bad in ["limit=0", "limit=501", "cursor=@@@"] {
        let (s, e) = f.get(&format!("/api/runs?{bad}")).await;
        assert_eq!(s, 400, "{bad}");
        assert_eq!(e["success"], false);
    }
}

#[tokio::test]
async fn agents_are_oldest_first_filter_by_run_and_have_the_wire_shape() {
    let f = Fixture::start().await;
    f.add_agent(
        "lead-1",
        Capability::Lead,
        AgentState::Working,
        Some("run-1"),
        "2026-01-01T00:00:01.000Z",
    );
    f.add_agent(
        "builder-1",
        Capability::Builder,
        AgentState::Working,
        Some("run-1"),
        "2026-01-01T00:00:02.000Z",
    );
    f.add_agent(
        "builder-2",
        Capability::Builder,
        AgentState::Completed,
        Some("run-2"),
        "2026-01-01T00:00:03.000Z",
    );
    let (_, all) = f.get("/api/agents?limit=2").await;
    assert_eq!(ids(&all, "agentName"), ["lead-1", "builder-1"]);
    let c = all["nextCursor"].as_str().unwrap();
    let (_, rest) = f.get(&format!("/api/agents?limit=2&cursor={c}")).await;
    assert_eq!(ids(&rest, "agentName"), ["builder-2"]);
    let (_, run2) = f.get("/api/agents?run=run-2").await;
    assert_eq!(ids(&run2, "agentName"), ["builder-2"]);

    let (s, one) = f.get("/api/agents/builder-1").await;
    assert_eq!(s, 200);
    let a = &one["data"];
    for key in [
        "id",
        "agentName",
        "capability",
        "worktreePath",
        "branchName",
        "taskId",
        "tmuxSession",
        "state",
        "pid",
        "parentAgent",
        "depth",
        "runId",
        "startedAt",
        "lastActivity",
        "escalationLevel",
        "stalledSince",
        "transcriptPath",
    ] {
        assert!(a.get(key).is_some(), "missing {key}: {a}");
    }
    assert_eq!(a["state"], "working");
    let (s, e) = f.get("/api/agents/nobody").await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (404, "Agent not found: nobody")
    );
}

#[tokio::test]
async fn events_are_oldest_first_filter_and_tail() {
    let f = Fixture::start().await;
    let store = EventStore::open(&f.layout.events_db()).unwrap();
    for i in 0..5 {
        let agent = if i % 2 == 0 { "builder-1" } else { "scout-1" };
        store
            .insert(
                &NewEvent::new(agent, EventType::ToolStart)
                    .run(Some("run-1".into()))
                    .at(format!("2026-01-01T00:00:0{i}.000Z")),
            )
            .unwrap();
    }
    let (_, p1) = f.get("/api/events?agent=builder-1&limit=2").await;
    let got: Vec<i64> = p1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, [1, 3]);
    let c = p1["nextCursor"].as_str().unwrap();
    let (_, p2) = f
        .get(&format!("/api/events?agent=builder-1&limit=2&cursor={c}"))
        .await;
    let got: Vec<i64> = p2["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, [5]);
    assert!(p2.get("nextCursor").is_none());

    let (_, since) = f
        .get("/api/events?run=run-1&since=2026-01-01T00:00:03.000Z")
        .await;
    assert_eq!(since["data"].as_array().unwrap().len(), 2);
    let (s, _) = f.get("/api/events?since=yesterday").await;
    assert_eq!(s, 400);

    // The agent page loads the newest N, oldest first.
    let (_, tail) = f.get("/api/events?tail=2").await;
    let got: Vec<i64> = tail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, [4, 5]);
    let ev = &tail["data"][0];
    for key in [
        "id",
        "runId",
        "agentName",
        "sessionId",
        "eventType",
        "toolName",
        "toolArgs",
        "toolDurationMs",
        "level",
        "data",
        "createdAt",
    ] {
        assert!(ev.get(key).is_some(), "missing {key}");
    }
}

#[tokio::test]
async fn wrong_methods_are_405_and_unknown_api_paths_404_as_envelopes() {
    let f = Fixture::start().await;
    let r = client()
        .post(f.url("/api/runs"))
        .bearer_auth(&f.info.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        b,
        json!({"success": false, "command": "serve", "error": "Method not allowed"})
    );
    let r = client()
        .get(f.url("/api/coordinator/send"))
        .bearer_auth(&f.info.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let (s, b) = f.get("/api/nothing/here").await;
    assert_eq!((s, b["error"].as_str().unwrap()), (404, "Not found"));
}

#[tokio::test]
async fn the_ui_is_embedded_with_a_spa_fallback() {
    let f = Fixture::start().await;
    for path in ["/", "/agents/builder-1", "/mail"] {
        let r = client().get(f.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(r.text().await.unwrap().contains("overstory"));
    }
    let r = client().get(f.url("/app.js")).send().await.unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
}

#[tokio::test]
async fn coordinator_state_without_a_session_is_not_running() {
    let f = Fixture::start().await;
    let (s, b) = f.get("/api/coordinator/state").await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["running"], false);
    assert_eq!(b["data"]["agentName"], "coordinator");
    assert_eq!(b["data"]["pid"], Value::Null);
    assert_eq!(b["data"]["headless"], false);
    f.add_agent(
        "coordinator",
        Capability::Coordinator,
        AgentState::Completed,
        None,
        "2026-01-01T00:00:00.000Z",
    );
    let (_, b) = f.get("/api/coordinator/state").await;
    assert_eq!(
        b["data"]["running"], false,
        "a completed row is not running"
    );
    f.add_agent(
        "coordinator",
        Capability::Coordinator,
        AgentState::Working,
        Some("run-1"),
        "2026-01-01T00:00:00.000Z",
    );
    let (_, b) = f.get("/api/coordinator/state").await;
    assert_eq!(b["data"]["running"], true);
    assert_eq!(b["data"]["runId"], "run-1");
    assert_eq!(b["data"]["tmuxSession"], Value::Null);
    assert_eq!(b["data"]["headless"], true);
    let (_, b) = f.post("/api/coordinator/start", &json!({})).await;
    assert_eq!(
        b["data"],
        json!({"started": false, "alreadyRunning": true, "pid": null, "runId": "run-1"})
    );
    // No ov executable in this fixture: send cannot reach the coordinator.
    let (s, _) = f
        .post("/api/coordinator/send", &json!({"subject": "s"}))
        .await;
    assert_eq!(s, 400, "missing body");
    let (s, _) = f
        .post(
            "/api/coordinator/ask",
            &json!({"subject": "s", "body": "b", "timeoutSec": 9999}),
        )
        .await;
    assert_eq!(s, 400);
}
