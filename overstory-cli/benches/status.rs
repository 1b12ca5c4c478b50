//! `ov status --json` with 1,000 sessions and 1,000,000 events: the real
//! binary's wall time, and the library call alone.
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
use overstory_sessions::status::{NoSources, StatusOptions};
use overstory_sessions::{AgentState, Session, SessionStore, write_current_run};

const SESSIONS: usize = 1000;
const EVENTS: usize = 1_000_000;

fn setup(root: &Path) -> Layout {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .unwrap()
    };
    git(&["init", "-q", "-b", "main"]);
    let layout = Layout::new(root);
    std::fs::create_dir_all(layout.dir()).unwrap();
    std::fs::write(layout.config(), "project:\n  name: bench\n").unwrap();
    let started = Instant::now();
    let store = SessionStore::open(&layout.sessions_db()).unwrap();
    let now = overstory_core::clock::now_rfc3339();
    for i in 0..SESSIONS {
        let mut s = Session::new(
            format!("builder-{i}").parse().unwrap(),
            "builder".parse().unwrap(),
        );
        // Spawn-per-turn workers (no tmux, no pid): half working, half done.
        s.state = if i % 2 == 0 {
            AgentState::Working
        } else {
            AgentState::Completed
        };
        s.run_id = Some(if i % 4 == 0 {
            "run-old".into()
        } else {
            "run-1".into()
        });
        s.last_activity = now.clone();
        store.upsert(&s).unwrap();
    }
    write_current_run(&layout, "run-1").unwrap();
    let mut events = EventStore::open(&layout.events_db()).unwrap();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..EVENTS {
        batch.push(
            NewEvent::new(format!("builder-{}", i % SESSIONS), EventType::ToolStart)
                .run(Some("run-1".into()))
                .tool("Bash", None)
                .data(&serde_json::json!({"summary": "bash: cargo test"})),
        );
        if batch.len() == 10_000 {
            events.insert_many(&batch).unwrap();
            batch.clear();
        }
    }
    events.insert_many(&batch).unwrap();
    eprintln!(
        "setup: {SESSIONS} sessions, {} events in {:.1?}",
        events.count().unwrap(),
        started.elapsed()
    );
    layout
}

fn status(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let layout = setup(dir.path());
    let ov = env!("CARGO_BIN_EXE_ov");
    let run = || {
        let out = std::process::Command::new(ov)
            .args(["status", "--json"])
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout.len()
    };
    let bytes = run();
    eprintln!("ov status --json printed {bytes} bytes");
    let mut g = c.benchmark_group("status_1000_sessions_1m_events");
    g.sample_size(30);
    g.bench_function("ov_status_json_process", |b| b.iter(run));
    g.bench_function("status_gather_library", |b| {
        b.iter(|| {
            overstory_sessions::status::gather(&layout, &StatusOptions::default(), &NoSources)
                .unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, status);
criterion_main!(benches);
