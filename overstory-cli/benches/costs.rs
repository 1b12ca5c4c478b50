//! `ov costs` with 1,000 sessions (three charged turns each) and 1,000,000
//! events: the real binary's wall time per mode, with budgets set so the
//! use-against-budget rows are computed too.
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::print_stderr,
    reason = "benchmark"
)]

use std::path::Path;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use overstory_core::Layout;
use overstory_core::events::{EventStore, EventType, NewEvent};
use overstory_sessions::metrics::{MetricsStore, TokenUsage, TurnUsage};
use overstory_sessions::{AgentState, Session, SessionStore, write_current_run};

const SESSIONS: usize = 1000;
const EVENTS: usize = 1_000_000;
const CAPS: [&str; 4] = ["builder", "scout", "reviewer", "lead"];

fn setup(root: &Path) -> Layout {
    std::process::Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .current_dir(root)
        .output()
        .unwrap();
    let layout = Layout::new(root);
    std::fs::create_dir_all(layout.dir()).unwrap();
    std::fs::write(
        layout.config(),
        "project:\n  name: bench\nbudget:\n  maxTokensPerRun: 100000000\n  maxTokensPerAgent: 100000\n  maxCostUsdPerRun: 500\n",
    )
    .unwrap();
    let started = Instant::now();
    let sessions = SessionStore::open(&layout.sessions_db()).unwrap();
    let mut metrics = MetricsStore::open(&layout.metrics_db()).unwrap();
    for i in 0..SESSIONS {
        let cap = CAPS[i % CAPS.len()];
        let name = format!("{cap}-{i}");
        let mut s = Session::new(name.parse().unwrap(), cap.parse().unwrap());
        s.state = if i % 2 == 0 {
            AgentState::Working
        } else {
            AgentState::Completed
        };
        let run = if i % 4 == 0 { "run-old" } else { "run-1" };
        s.run_id = Some(run.into());
        sessions.upsert(&s).unwrap();
        for turn in 0..3 {
            let mut t = TurnUsage::new(name.as_str(), cap);
            t.task_id = format!("task-{i}");
            t.run_id = Some(run.into());
            t.usage = TokenUsage {
                input_tokens: 1000 + turn,
                output_tokens: 200,
                cache_read_tokens: 5000,
                cache_creation_tokens: 100,
                model_used: Some("claude-sonnet-4-5".into()),
            };
            metrics.add_turn_usage(&t).unwrap();
        }
    }
    write_current_run(&layout, "run-1").unwrap();
    let mut events = EventStore::open(&layout.events_db()).unwrap();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..EVENTS {
        batch.push(
            NewEvent::new(format!("builder-{}", i % SESSIONS), EventType::ToolStart)
                .run(Some("run-1".into()))
                .tool("Bash", None),
        );
        if batch.len() == 10_000 {
            events.insert_many(&batch).unwrap();
            batch.clear();
        }
    }
    events.insert_many(&batch).unwrap();
    eprintln!(
        "setup: {SESSIONS} sessions, {} metrics rows, {} events in {:.1?}",
        metrics.count().unwrap(),
        events.count().unwrap(),
        started.elapsed()
    );
    layout
}

fn costs(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let _layout = setup(dir.path());
    let ov = env!("CARGO_BIN_EXE_ov");
    let root = dir.path();
    let run = |args: &'static [&'static str]| {
        move || {
            let out = std::process::Command::new(ov)
                .args(args)
                .current_dir(root)
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            out.stdout.len()
        }
    };
    let mut g = c.benchmark_group("costs_1000_sessions_1m_events");
    g.sample_size(20);
    for (name, args) in [
        ("ov_costs_json", &["costs", "--json"][..]),
        (
            "ov_costs_last_1000_json",
            &["costs", "--last", "1000", "--json"][..],
        ),
        (
            "ov_costs_run_json",
            &["costs", "--run", "run-1", "--json"][..],
        ),
        (
            "ov_costs_by_capability_json",
            &["costs", "--by-capability", "--last", "1000", "--json"][..],
        ),
        ("ov_costs_live_json", &["costs", "--live", "--json"][..]),
    ] {
        let mut f = run(args);
        eprintln!("{name}: {} bytes", f());
        g.bench_function(name, |b| b.iter(&mut f));
    }
    g.finish();
}

criterion_group!(benches, costs);
criterion_main!(benches);
