//! `ov prime` wiring.

use crate::support::{initialized_repo, ov};

#[test]
fn prime_orchestrator_heals_gitignore_and_records_session_branch() {
    let repo = initialized_repo();
    let p = repo.path();
    std::fs::write(p.join(".overstory/.gitignore"), "broken\n").unwrap();
    let v = ov(p, &["prime", "--json"]).ok().json();
    assert_eq!(v["command"], "prime");
    assert!(v["agent"].is_null());
    let ctx = v["context"].as_str().unwrap();
    assert!(ctx.starts_with("# Overstory Context"));
    assert!(ctx.contains("## Agent Manifest"));
    assert!(ctx.contains("## Recent Activity"));
    assert_eq!(
        std::fs::read_to_string(p.join(".overstory/session-branch.txt")).unwrap(),
        "main\n"
    );
    assert!(
        std::fs::read_to_string(p.join(".overstory/.gitignore"))
            .unwrap()
            .contains("!config.yaml")
    );
    let v = ov(p, &["prime", "--compact", "--json"]).ok().json();
    assert!(
        !v["context"]
            .as_str()
            .unwrap()
            .contains("## Recent Activity")
    );
}

#[test]
fn prime_agent_shows_activation_for_a_bound_session() {
    let repo = initialized_repo();
    let p = repo.path();
    let mut s =
        overstory_sessions::Session::new("builder-1".parse().unwrap(), "builder".parse().unwrap());
    s.task_id = Some("task-9".parse().unwrap());
    s.state = overstory_sessions::AgentState::Working;
    overstory_sessions::SessionStore::open(&p.join(".overstory/sessions.db"))
        .unwrap()
        .upsert(&s)
        .unwrap();
    let r = ov(p, &["prime", "--agent", "builder-1"]).ok();
    assert!(r.stdout.contains("# Agent Context: builder-1"));
    assert!(r.stdout.contains("## Activation"));
    assert!(r.stdout.contains("task-9"));
    let r = ov(p, &["prime", "--agent", "nobody"]).ok();
    assert!(r.stdout.contains("New agent - no prior sessions"));
    assert!(r.stdout.contains("! No session or identity"));
    let v = ov(p, &["prime", "--agent", "../x", "--json"])
        .fails()
        .json();
    assert_eq!(v["code"], "VALIDATION_ERROR");
}
