//! `ov agents discover` wiring.

use overstory_sessions::{AgentState, Session};

use crate::sessions_support::{Project, json};

#[test]
fn discover_lists_active_agents_and_all_includes_completed() {
    let p = Project::new();
    p.add(&Session::new(
        "builder-1".parse().unwrap(),
        "builder".parse().unwrap(),
    ));
    let mut done = Session::new("scout-1".parse().unwrap(), "scout".parse().unwrap());
    done.state = AgentState::Completed;
    p.add(&done);
    let v = json(&p.ov(&["agents", "discover", "--json"]));
    assert_eq!(v["command"], "agents discover");
    assert_eq!(v["agents"].as_array().unwrap().len(), 1);
    assert_eq!(v["agents"][0]["fileScope"], serde_json::json!([]));
    let v = json(&p.ov(&[
        "agents",
        "discover",
        "--all",
        "--capability",
        "scout",
        "--json",
    ]));
    assert_eq!(v["agents"][0]["agentName"], "scout-1");
}

#[test]
fn invalid_capability_is_a_validation_error() {
    let p = Project::new();
    let o = p.ov(&["agents", "discover", "--capability", "wizard", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["code"], "VALIDATION_ERROR");
    assert!(v["error"].as_str().unwrap().contains("builder"), "{v}");
}

#[test]
fn agents_without_subcommand_prints_help() {
    let p = Project::new();
    let o = p.ov(&["agents"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("discover"));
}
