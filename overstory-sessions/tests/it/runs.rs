//! Runs: derived agent counts, ordering, completion, current-run.txt.

use overstory_sessions::{
    CurrentRun, NewRun, RunStatus, RunStore, complete_current_run, current_run, current_run_id,
    list_runs, show_run, write_current_run,
};

use crate::support::{Project, booting};

fn new_run(id: &str, started: &str, status: RunStatus) -> NewRun {
    NewRun {
        id: id.into(),
        started_at: started.into(),
        coordinator_session_id: None,
        coordinator_name: None,
        status,
    }
}

#[test]
fn agent_count_is_derived_from_sessions_including_the_coordinator() {
    let p = Project::new();
    let runs = RunStore::open(&p.layout.sessions_db()).unwrap();
    let sessions = p.sessions();
    runs.create(&NewRun {
        coordinator_name: Some("coordinator".into()),
        coordinator_session_id: Some("session-1-coordinator".into()),
        ..new_run("run-1", "2026-01-01T00:00:00.000Z", RunStatus::Active)
    })
    .unwrap();
    for n in ["coordinator", "builder-1", "builder-2"] {
        let mut s = booting(n, "2026-01-01T00:00:01.000Z");
        s.run_id = Some("run-1".into());
        sessions.upsert(&s).unwrap();
    }
    sessions
        .upsert(&booting("loner", "2026-01-01T00:00:01.000Z"))
        .unwrap();
    assert_eq!(runs.get("run-1").unwrap().unwrap().agent_count, 3);
    sessions.remove("builder-2").unwrap();
    assert_eq!(runs.get("run-1").unwrap().unwrap().agent_count, 2);
}

#[test]
fn duplicate_id_and_bad_status_are_rejected() {
    let p = Project::new();
    let runs = RunStore::open(&p.layout.sessions_db()).unwrap();
    runs.create(&new_run(
        "run-1",
        "2026-01-01T00:00:00.000Z",
        RunStatus::Active,
    ))
    .unwrap();
    assert!(
        runs.create(&new_run(
            "run-1",
            "2026-01-02T00:00:00.000Z",
            RunStatus::Active
        ))
        .is_err()
    );
    let conn = rusqlite::Connection::open(p.layout.sessions_db()).unwrap();
    assert!(
        conn.execute(
            "INSERT INTO runs (id, started_at, status) VALUES ('run-x', 't', 'paused')",
            []
        )
        .is_err()
    );
}

#[test]
fn active_is_newest_active_and_list_is_newest_first_with_filters() {
    let p = Project::new();
    let runs = RunStore::open(&p.layout.sessions_db()).unwrap();
    runs.create(&new_run(
        "r1",
        "2026-01-01T00:00:00.000Z",
        RunStatus::Active,
    ))
    .unwrap();
    runs.create(&new_run(
        "r2",
        "2026-01-02T00:00:00.000Z",
        RunStatus::Active,
    ))
    .unwrap();
    runs.create(&new_run(
        "r3",
        "2026-01-03T00:00:00.000Z",
        RunStatus::Completed,
    ))
    .unwrap();
    assert_eq!(runs.active().unwrap().unwrap().id, "r2");
    let ids = |v: Vec<overstory_sessions::Run>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(runs.list(None, None).unwrap()), ["r3", "r2", "r1"]);
    assert_eq!(ids(runs.list(Some(2), None).unwrap()), ["r3", "r2"]);
    assert_eq!(
        ids(runs.list(None, Some(RunStatus::Active)).unwrap()),
        ["r2", "r1"]
    );
}

#[test]
fn complete_sets_completed_at_accepts_failed_and_ignores_unknown_ids() {
    let p = Project::new();
    let runs = RunStore::open(&p.layout.sessions_db()).unwrap();
    runs.create(&new_run(
        "r1",
        "2026-01-01T00:00:00.000Z",
        RunStatus::Active,
    ))
    .unwrap();
    runs.create(&new_run(
        "r2",
        "2026-01-01T00:00:00.000Z",
        RunStatus::Active,
    ))
    .unwrap();
    assert!(runs.complete("r1", RunStatus::Completed).unwrap());
    assert!(runs.complete("r2", RunStatus::Failed).unwrap());
    assert!(!runs.complete("nope", RunStatus::Completed).unwrap());
    let r1 = runs.get("r1").unwrap().unwrap();
    assert_eq!(r1.status, RunStatus::Completed);
    assert!(r1.completed_at.is_some());
    assert_eq!(runs.get("r2").unwrap().unwrap().status, RunStatus::Failed);
}

#[test]
fn active_for_coordinator_picks_that_coordinators_run() {
    let p = Project::new();
    let runs = RunStore::open(&p.layout.sessions_db()).unwrap();
    runs.create(&NewRun {
        coordinator_name: Some("coord-a".into()),
        ..new_run("ra", "2026-01-01T00:00:00.000Z", RunStatus::Active)
    })
    .unwrap();
    runs.create(&NewRun {
        coordinator_name: Some("coord-b".into()),
        ..new_run("rb", "2026-01-02T00:00:00.000Z", RunStatus::Active)
    })
    .unwrap();
    assert_eq!(
        runs.active_for_coordinator("coord-a").unwrap().unwrap().id,
        "ra"
    );
    assert!(runs.active_for_coordinator("coord-c").unwrap().is_none());
}

#[test]
fn empty_or_whitespace_current_run_file_means_no_run() {
    let p = Project::new();
    assert_eq!(current_run_id(&p.layout), None);
    std::fs::write(p.layout.current_run(), "").unwrap();
    assert_eq!(current_run_id(&p.layout), None);
    std::fs::write(p.layout.current_run(), "  \n\t").unwrap();
    assert_eq!(current_run_id(&p.layout), None);
    assert_eq!(current_run(&p.layout).unwrap(), CurrentRun::None);
    std::fs::write(p.layout.current_run(), " run-9 \n").unwrap();
    assert_eq!(current_run_id(&p.layout).as_deref(), Some("run-9"));
    assert_eq!(
        current_run(&p.layout).unwrap(),
        CurrentRun::Missing("run-9".into())
    );
}

#[test]
fn run_list_without_sessions_db_is_empty_and_does_not_create_it() {
    let p = Project::new();
    assert!(list_runs(&p.layout, 10).unwrap().is_empty());
    assert!(!p.layout.sessions_db().exists());
}

#[test]
fn show_includes_agents_with_capability_and_state() {
    let p = Project::new();
    let runs = RunStore::open(&p.layout.sessions_db()).unwrap();
    runs.create(&new_run(
        "r1",
        "2026-01-01T00:00:00.000Z",
        RunStatus::Active,
    ))
    .unwrap();
    let mut s = booting("builder-1", "2026-01-01T00:00:01.000Z");
    s.run_id = Some("r1".into());
    p.sessions().upsert(&s).unwrap();
    let (run, agents) = show_run(&p.layout, "r1").unwrap();
    assert_eq!(run.run.agent_count, 1);
    assert_eq!(agents.len(), 1);
    assert_eq!(
        (agents[0].capability.as_str(), agents[0].state.as_str()),
        ("builder", "booting")
    );
    let err = show_run(&p.layout, "r404").unwrap_err();
    assert_eq!(err.to_string(), "Run r404 not found");
}

#[test]
fn complete_current_run_completes_and_deletes_the_file() {
    let p = Project::new();
    assert_eq!(
        complete_current_run(&p.layout).unwrap_err().to_string(),
        "No active run to complete"
    );
    let runs = RunStore::open(&p.layout.sessions_db()).unwrap();
    runs.create(&new_run(
        "r1",
        "2026-01-01T00:00:00.000Z",
        RunStatus::Active,
    ))
    .unwrap();
    write_current_run(&p.layout, "r1").unwrap();
    assert_eq!(complete_current_run(&p.layout).unwrap(), "r1");
    assert!(!p.layout.current_run().exists());
    assert_eq!(
        runs.get("r1").unwrap().unwrap().status,
        RunStatus::Completed
    );
}

#[test]
fn compact_durations() {
    use overstory_sessions::format_duration_compact as f;
    assert_eq!(f(45_000), "45s");
    assert_eq!(f(225_000), "3m 45s");
    assert_eq!(f(8_100_000), "2h 15m");
}
