//! Records a small run of agents, drives their states through the one
//! compare-and-swap, writes their timeline, and prints what `ov status`
//! and `ov trace` would show.
//!
//! Run with `cargo run -p overstory-examples --bin sessions_state`.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

use overstory_core::events::{EventFilter, EventLevel, EventStore, EventType, NewEvent};
use overstory_core::{AgentName, Capability, Layout};
use overstory_sessions::status::{NoSources, StatusOptions};
use overstory_sessions::{
    AgentState, NewRun, RunStatus, RunStore, Session, SessionStore, Transition, TransitionOutcome,
    write_current_run,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let layout = Layout::new(dir.path());
    std::fs::create_dir_all(layout.dir())?;

    // A run and two spawn-per-turn workers in it.
    let run_id = overstory_core::ids::run_id();
    RunStore::open(&layout.sessions_db())?.create(&NewRun {
        id: run_id.clone(),
        started_at: overstory_core::clock::now_rfc3339(),
        coordinator_session_id: None,
        coordinator_name: None,
        status: RunStatus::Active,
    })?;
    write_current_run(&layout, &run_id)?;
    let mut store = SessionStore::open(&layout.sessions_db())?;
    for (name, capability) in [
        ("builder-1", Capability::Builder),
        ("scout-1", Capability::Scout),
    ] {
        let mut s = Session::new(AgentName::new(name)?, capability);
        s.run_id = Some(run_id.clone());
        store.upsert(&s)?;
    }

    // The turn runner sees the first event: booting → working.
    let o = store.transition("builder-1", &Transition::to(AgentState::Working))?;
    println!("builder-1 first event: {:?}", o);
    // The operator stops it; a late watchdog tick cannot demote it.
    store.transition("builder-1", &Transition::to(AgentState::Completed))?;
    match store.transition("builder-1", &Transition::to(AgentState::Zombie))? {
        TransitionOutcome::Rejected { prev, attempted } => {
            println!("watchdog {attempted} rejected: builder-1 stays {prev}");
        }
        other => return Err(format!("completed was not sticky: {other:?}").into()),
    }

    // The timeline, in one batch.
    let mut events = EventStore::open(&layout.events_db())?;
    events.insert_many(&[
        NewEvent::new("builder-1", EventType::ToolStart)
            .run(Some(run_id.clone()))
            .tool("Bash", Some(&serde_json::json!({"command": "cargo test"}))),
        NewEvent::custom(
            "builder-1",
            "resume_mismatch",
            serde_json::json!({"requestedSessionId": "a", "observedSessionId": "b"}),
        )
        .level(EventLevel::Warn)
        .run(Some(run_id.clone())),
    ])?;
    for e in events.by_agent("builder-1", &EventFilter::default())? {
        println!(
            "{} {} {}",
            e.full_label(),
            e.tool_name.unwrap_or_default(),
            e.data.unwrap_or_default()
        );
    }

    // What `ov status` reports (no mail or merge queue here).
    let report =
        overstory_sessions::status::gather(&layout, &StatusOptions::default(), &NoSources)?;
    for s in &report.agents {
        println!("{:<10} {:<8} {}", s.agent_name, s.capability, s.state);
    }
    let run = RunStore::open(&layout.sessions_db())?.get(&run_id)?;
    println!("run {run_id}: {} agents", run.map_or(0, |r| r.agent_count));
    Ok(())
}
