//! One watchdog tick and one reconciler pass over 1,000 sessions (target
//! for the tick: ≤ 20 ms on the 2-core machine), on real SQLite files.
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::print_stderr,
    reason = "benchmark"
)]

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use overstory_core::events::{EventStore, EventType, NewEvent};
use overstory_core::{Config, Layout, clock};
use overstory_fleet::reconcile::{ReconcileOptions, reconcile};
use overstory_fleet::watchdog::{WatchdogMemory, WatchdogOptions, tick};
use overstory_sessions::{AgentState, Session, SessionStore};

const SESSIONS: usize = 1000;

/// 1,000 headless builders: most working and recently active, some with
/// fresh events, some already zombie or completed (the realistic mix of a
/// long run; healthy rows cost no writes).
fn setup(root: &Path) -> (Layout, Config) {
    let layout = Layout::new(root);
    std::fs::create_dir_all(layout.agents_dir()).unwrap();
    std::fs::write(layout.config(), "project:\n  name: bench\n").unwrap();
    let store = SessionStore::open(&layout.sessions_db()).unwrap();
    let now = clock::now_rfc3339();
    for i in 0..SESSIONS {
        let mut s = Session::new(
            format!("builder-{i}").parse().unwrap(),
            "builder".parse().unwrap(),
        );
        s.state = match i % 10 {
            0 => AgentState::Completed,
            1 => AgentState::Zombie,
            _ => AgentState::Working,
        };
        s.last_activity.clone_from(&now);
        s.task_id = Some(format!("task-{i}").parse().unwrap());
        store.upsert(&s).unwrap();
    }
    let mut events = EventStore::open(&layout.events_db()).unwrap();
    let batch: Vec<NewEvent> = (0..5_000)
        .map(|i| NewEvent::new(format!("builder-{}", i % SESSIONS), EventType::ToolStart))
        .collect();
    events.insert_many(&batch).unwrap();
    (layout, Config::defaults_for(root))
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (layout, config) = setup(dir.path());
    let mut tick_only = WatchdogOptions::from_config(&config, None);
    tick_only.reconcile = false;
    let mut memory = WatchdogMemory::default();
    let first = tick(&layout, &config, &tick_only, &mut memory).unwrap();
    assert!(first.changes.is_empty(), "a healthy fleet is not changed");
    assert_eq!(first.checks.len(), SESSIONS - SESSIONS / 10);

    let mut g = c.benchmark_group("watchdog");
    g.sample_size(20);
    g.bench_function("tick_1000_sessions", |b| {
        b.iter(|| tick(&layout, &config, &tick_only, &mut memory).unwrap());
    });
    let dry = ReconcileOptions::dry_run();
    g.bench_function("reconcile_1000_sessions", |b| {
        b.iter(|| reconcile(&layout, &config, &dry).unwrap());
    });
    let full = WatchdogOptions::from_config(&config, None);
    g.bench_function("tick_with_reconcile_1000_sessions", |b| {
        b.iter(|| tick(&layout, &config, &full, &mut memory).unwrap());
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
