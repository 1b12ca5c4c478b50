//! `ov nudge`: headless agents get a turn through the dispatcher, terminal
//! agents a re-dispatch hint, repeated nudges are debounced.

use std::time::Duration;

use overstory_core::AgentName;
use overstory_fleet::{NudgeOptions, nudge_agent};
use overstory_sessions::AgentState;
use overstory_testkit::wait_until;
use overstory_turn::factory::RuntimeChoice;

use crate::sling::Project;

#[test]
fn nudge_runs_a_turn_for_an_idle_headless_agent() {
    let p = Project::new();
    let wt = p.path().join("wt-idle");
    std::fs::create_dir_all(&wt).unwrap();
    p.row("idle-1", "builder", AgentState::Working, |s| {
        s.worktree_path = wt.display().to_string();
    });
    RuntimeChoice {
        runtime: "scripted".into(),
        script: None,
    }
    .save(&p.layout, &AgentName::new("idle-1").unwrap())
    .unwrap();
    p.script(
        "idle-1",
        &serde_json::json!({"steps": [{"write": {"path": "nudged.txt", "content": "yes"}}]}),
    );
    let j = p.ov(&["nudge", "idle-1", "--json"]).ok().json();
    assert_eq!(j["success"], true);
    assert_eq!(j["command"], "nudge");
    assert_eq!(j["agentName"], "idle-1");
    assert_eq!(j["delivered"], true);
    assert_eq!(j["queued"], true);
    wait_until(Duration::from_secs(60), "the nudge turn ran", || {
        wt.join("nudged.txt").is_file()
    });
    let agent = AgentName::new("idle-1").unwrap();
    wait_until(
        Duration::from_secs(30),
        "the queued nudge was consumed",
        || {
            std::fs::read_dir(p.layout.agent_nudge_dir(&agent))
                .map(|d| {
                    d.filter_map(Result::ok)
                        .all(|e| e.path().extension().is_none_or(|x| x != "txt"))
                })
                .unwrap_or(true)
        },
    );
}

#[test]
fn nudge_to_a_terminal_agent_fails_with_a_recover_hint() {
    let p = Project::new();
    p.row("done-1", "builder", AgentState::Completed, |s| {
        s.task_id = Some("task-42".parse().unwrap());
    });
    let r = p.ov(&["nudge", "done-1", "--json"]).fails();
    let j = r.json();
    assert_eq!(j["success"], false);
    assert_eq!(j["code"], "AGENT_ERROR");
    assert!(r.stdout.contains("state: completed"), "{r:?}");
    assert!(
        r.stdout
            .contains("ov sling task-42 --capability builder --recover"),
        "{r:?}"
    );
    // The attempt is recorded with the real sender.
    p.ov(&["nudge", "done-1", "--from", "lead-7", "--force"])
        .fails();
    let events = overstory_core::events::EventStore::open(&p.layout.events_db())
        .unwrap()
        .by_agent("done-1", &Default::default())
        .unwrap();
    let data: Vec<String> = events.iter().filter_map(|e| e.data.clone()).collect();
    assert!(
        data.iter().any(|d| d.contains("\"type\":\"nudge\"")
            && d.contains("\"from\":\"lead-7\"")
            && d.contains("\"delivered\":false")),
        "{data:?}"
    );
    let r = p.ov(&["nudge", "nobody"]).fails();
    assert!(r.stderr.contains("No active session for agent"), "{r:?}");
}

#[test]
fn a_second_nudge_within_the_window_is_debounced_unless_forced() {
    let p = Project::new();
    p.lead("lead-1", 1);
    let config = overstory_core::Config::defaults_for(p.path());
    let mut opts = NudgeOptions::new(crate::support::bin());
    // A window no loaded machine outlasts between two calls.
    opts.debounce_ms = 600_000;
    let first = nudge_agent(&p.layout, &config, "lead-1", "hi", &opts).unwrap();
    assert!(!first.delivered);
    assert!(first.reason.unwrap().contains("is not alive"));
    let second = nudge_agent(&p.layout, &config, "lead-1", "hi", &opts).unwrap();
    assert_eq!(
        second.reason.as_deref(),
        Some("Debounced: nudge sent too recently")
    );
    let mut forced = opts.clone();
    forced.force = true;
    let third = nudge_agent(&p.layout, &config, "lead-1", "hi", &forced).unwrap();
    assert!(third.reason.unwrap().contains("is not alive"));
    let state = std::fs::read_to_string(p.layout.nudge_state()).unwrap();
    assert!(state.contains("lead-1"));
}
