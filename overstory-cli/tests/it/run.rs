//! `ov run` wiring.

use overstory_sessions::{NewRun, RunStatus, RunStore, Session};

use crate::sessions_support::{Project, json};

fn create_run(p: &Project, id: &str) {
    RunStore::open(&p.layout.sessions_db())
        .unwrap()
        .create(&NewRun {
            id: id.into(),
            started_at: "2026-01-01T00:00:00.000Z".into(),
            coordinator_session_id: None,
            coordinator_name: None,
            status: RunStatus::Active,
        })
        .unwrap();
}

#[test]
fn bare_run_without_current_run_says_so() {
    let p = Project::new();
    let v = json(&p.ov(&["run", "--json"]));
    assert_eq!(
        v,
        serde_json::json!({"success": true, "command": "run", "run": null, "message": "No active run"})
    );
    std::fs::write(p.layout.current_run(), "run-x\n").unwrap();
    let v = json(&p.ov(&["run", "--json"]));
    assert_eq!(v["message"], "Run run-x not found in store");
}

#[test]
fn bare_run_shows_the_current_run_with_duration() {
    let p = Project::new();
    create_run(&p, "run-1");
    std::fs::write(p.layout.current_run(), "run-1").unwrap();
    let v = json(&p.ov(&["run", "--json"]));
    assert_eq!(v["run"]["id"], "run-1");
    assert_eq!(v["run"]["status"], "active");
    assert!(v["duration"].as_str().unwrap().contains('d'));
}

#[test]
fn list_without_sessions_db_is_empty() {
    let p = Project::new();
    let v = json(&p.ov(&["run", "list", "--json"]));
    assert_eq!(v["runs"], serde_json::json!([]));
    assert!(!p.layout.sessions_db().exists());
    let o = p.ov(&["run", "list", "--last", "0", "--json"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn show_includes_agents_and_missing_run_fails() {
    let p = Project::new();
    create_run(&p, "run-1");
    let mut s = Session::new("builder-1".parse().unwrap(), "builder".parse().unwrap());
    s.run_id = Some("run-1".into());
    p.add(&s);
    let v = json(&p.ov(&["run", "show", "run-1", "--json"]));
    assert_eq!(v["command"], "run show");
    assert_eq!(v["agents"][0]["capability"], "builder");
    assert_eq!(v["agents"][0]["state"], "booting");
    assert_eq!(v["run"]["agentCount"], 1);
    let o = p.ov(&["run", "show", "run-404", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["error"], "Run run-404 not found");
}

#[test]
fn complete_needs_a_current_run_and_deletes_the_file() {
    let p = Project::new();
    let o = p.ov(&["run", "complete", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["error"], "No active run to complete");
    create_run(&p, "run-1");
    std::fs::write(p.layout.current_run(), "run-1").unwrap();
    let v = json(&p.ov(&["run", "complete", "--json"]));
    assert_eq!(v["runId"], "run-1");
    assert_eq!(v["status"], "completed");
    assert!(!p.layout.current_run().exists());
}
