//! `ov status` aggregation.

use overstory_core::clock;
use overstory_sessions::status::{StatusOptions, StatusSources, gather};
use overstory_sessions::{AgentState, write_current_run};

use crate::support::{Project, booting, with_state};

struct Mail(u64);

impl StatusSources for Mail {
    fn unread_mail(&self, agent: &str) -> u64 {
        if agent == "lead-1" { self.0 } else { 0 }
    }
    fn merge_queue_pending(&self) -> u64 {
        2
    }
}

fn recent(name: &str) -> overstory_sessions::Session {
    let mut s = booting(name, &clock::now_rfc3339());
    s.last_activity = clock::now_rfc3339();
    s
}

#[test]
fn run_scope_includes_unscoped_sessions_and_all_shows_everything() {
    let p = Project::new();
    let store = p.sessions();
    for (n, run) in [
        ("in-run", Some("r1")),
        ("other-run", Some("r2")),
        ("no-run", None),
    ] {
        let mut s = with_state(
            booting(n, "2026-01-01T00:00:00.000Z"),
            AgentState::Completed,
        );
        s.run_id = run.map(Into::into);
        store.upsert(&s).unwrap();
    }
    write_current_run(&p.layout, "r1").unwrap();
    let r = gather(&p.layout, &StatusOptions::default(), &Mail(0)).unwrap();
    let names: Vec<_> = r.agents.iter().map(|s| s.agent_name.as_str()).collect();
    assert_eq!(
        names,
        ["in-run", "other-run", "no-run"]
            .iter()
            .filter(|n| **n != "other-run")
            .copied()
            .collect::<Vec<_>>()
    );
    assert_eq!(r.current_run_id, Some(Some("r1".into())));
    let all = gather(
        &p.layout,
        &StatusOptions {
            all: true,
            ..StatusOptions::default()
        },
        &Mail(0),
    )
    .unwrap();
    assert_eq!(all.agents.len(), 3);
    let v = serde_json::to_value(&all).unwrap();
    assert!(
        !v.as_object().unwrap().contains_key("currentRunId"),
        "absent with --all"
    );
}

#[test]
fn dead_tmux_agents_become_zombies_and_completed_rows_are_skipped() {
    let p = Project::new();
    let store = p.sessions();
    store.upsert(&recent("booting-1")).unwrap();
    store
        .upsert(&with_state(recent("working-1"), AgentState::Working))
        .unwrap();
    store
        .upsert(&with_state(recent("done-1"), AgentState::Completed))
        .unwrap();
    let r = gather(&p.layout, &StatusOptions::default(), &Mail(0)).unwrap();
    let st = |n: &str| r.agents.iter().find(|s| s.agent_name == n).unwrap().state;
    assert_eq!(st("booting-1"), AgentState::Zombie);
    assert_eq!(st("working-1"), AgentState::Zombie);
    assert_eq!(st("done-1"), AgentState::Completed);
    assert_eq!(r.active_agents().count(), 0, "zombies are not active");
    let row = p.sessions().get("working-1").unwrap().unwrap();
    assert_eq!(
        (row.state, row.tmux_session.as_str()),
        (AgentState::Zombie, "")
    );
}

#[test]
fn dead_agent_idle_past_the_stale_threshold_counts_as_completed() {
    let p = Project::new();
    let mut s = with_state(
        booting("old-1", "2026-01-01T00:00:00.000Z"),
        AgentState::Working,
    );
    s.last_activity = "2026-01-01T00:00:00.000Z".into();
    p.sessions().upsert(&s).unwrap();
    gather(&p.layout, &StatusOptions::default(), &Mail(0)).unwrap();
    assert_eq!(
        p.sessions().get("old-1").unwrap().unwrap().state,
        AgentState::Completed
    );
}

#[test]
fn headless_alive_marker_follows_the_pid() {
    let p = Project::new();
    let store = p.sessions();
    let mut alive = with_state(recent("alive-1"), AgentState::Working);
    alive.tmux_session.clear();
    alive.pid = Some(i64::from(std::process::id()));
    store.upsert(&alive).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let mut dead = with_state(recent("dead-1"), AgentState::Working);
    dead.tmux_session.clear();
    dead.pid = Some(i64::from(dead_pid));
    store.upsert(&dead).unwrap();
    let mut spt = with_state(recent("turns-1"), AgentState::Working);
    spt.tmux_session.clear();
    store.upsert(&spt).unwrap();
    let r = gather(&p.layout, &StatusOptions::default(), &Mail(0)).unwrap();
    assert!(r.is_alive("alive-1"));
    assert!(!r.is_alive("dead-1"));
    assert!(
        r.is_alive("turns-1"),
        "spawn-per-turn workers count as alive while not terminal"
    );
    let st = |n: &str| r.agents.iter().find(|s| s.agent_name == n).unwrap().state;
    assert_eq!(st("alive-1"), AgentState::Working);
    assert_eq!(st("dead-1"), AgentState::Zombie);
    assert_eq!(
        st("turns-1"),
        AgentState::Working,
        "no time-based writes by status"
    );
}

#[test]
fn mail_count_names_its_scope_agent() {
    let p = Project::new();
    let opts = StatusOptions {
        mail_scope: "lead-1".into(),
        ..StatusOptions::default()
    };
    let r = gather(&p.layout, &opts, &Mail(5)).unwrap();
    assert_eq!(
        (r.unread_mail_count, r.unread_mail_scope.as_str()),
        (5, "lead-1")
    );
    assert_eq!(r.merge_queue_count, 2);
    let v = serde_json::to_value(&r).unwrap();
    for key in [
        "currentRunId",
        "agents",
        "worktrees",
        "tmuxSessions",
        "unreadMailCount",
        "unreadMailScope",
        "mergeQueueCount",
        "recentMetricsCount",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert!(v.get("verboseDetails").is_none());
    let verbose = gather(
        &p.layout,
        &StatusOptions {
            verbose: true,
            ..opts
        },
        &Mail(5),
    )
    .unwrap();
    assert!(verbose.verbose_details.is_some());
}

#[test]
fn status_never_creates_events_db() {
    let p = Project::new();
    gather(&p.layout, &StatusOptions::default(), &Mail(0)).unwrap();
    assert!(!p.layout.events_db().exists());
}
