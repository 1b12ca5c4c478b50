//! `ov inspect` with 1,000 sessions, 1,000,000 events, 1,000 metrics rows
//! and 3,000 messages: the library's data gathering alone, and the real
//! binary's wall time.
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
use overstory_fleet::inspect::{InspectOptions, inspect};
use overstory_mail::{MailStore, NewMessage};
use overstory_sessions::metrics::{MetricsStore, SessionMetrics};
use overstory_sessions::{AgentState, Session, SessionStore};

const SESSIONS: usize = 1000;
const EVENTS: usize = 1_000_000;

fn setup(root: &Path) -> Layout {
    let layout = Layout::new(root);
    std::fs::create_dir_all(layout.dir()).unwrap();
    std::fs::write(layout.config(), "project:\n  name: bench\n").unwrap();
    let started = Instant::now();
    let store = SessionStore::open(&layout.sessions_db()).unwrap();
    let metrics = MetricsStore::open(&layout.metrics_db()).unwrap();
    for i in 0..SESSIONS {
        let mut s = Session::new(
            format!("builder-{i}").parse().unwrap(),
            "builder".parse().unwrap(),
        );
        s.task_id = Some(format!("task-{i}").parse().unwrap());
        s.parent_agent = Some(format!("builder-{}", i / 10).parse().unwrap());
        s.state = AgentState::Working;
        store.upsert(&s).unwrap();
        metrics
            .record_session(&SessionMetrics {
                agent_name: format!("builder-{i}"),
                task_id: format!("task-{i}"),
                capability: "builder".into(),
                started_at: s.started_at.clone(),
                completed_at: None,
                duration_ms: 0,
                exit_code: None,
                merge_result: None,
                parent_agent: None,
                input_tokens: 1000,
                output_tokens: 100,
                cache_read_tokens: 0,
                cache_creation_tokens: 0,
                estimated_cost_usd: Some(0.01),
                model_used: Some("claude-sonnet-4-5".into()),
                run_id: None,
            })
            .unwrap();
    }
    let mut mail = MailStore::open(layout.mail_db()).unwrap();
    let msgs: Vec<NewMessage> = (0..SESSIONS * 3)
        .map(|i| NewMessage {
            from: format!("builder-{}", i % SESSIONS),
            to: format!("builder-{}", (i + 1) % SESSIONS),
            subject: format!("message {i}"),
            ..NewMessage::default()
        })
        .collect();
    mail.insert_all(&msgs).unwrap();

    // Turn-runner-shaped rows: a tool call, its result, assistant text and a
    // turn result, round-robin over the agents.
    let mut events = EventStore::open(&layout.events_db()).unwrap();
    let mut batch = Vec::with_capacity(20_000);
    for i in 0..EVENTS {
        let agent = format!("builder-{}", i % SESSIONS);
        let call = i / SESSIONS / 4;
        let e = match (i / SESSIONS) % 4 {
            0 => NewEvent::new(agent, EventType::ToolStart)
                .tool(
                    "Bash",
                    Some(&serde_json::json!({"command": "cargo test -q"})),
                )
                .data(
                    &serde_json::json!({"type": "tool_use", "callId": format!("c{call}"),
                    "name": "Bash", "input": {"command": "cargo test -q"}}),
                ),
            1 => NewEvent::new(agent, EventType::ToolEnd).data(
                &serde_json::json!({"type": "tool_result", "toolUseId": format!("c{call}"),
                                    "content": "ok"}),
            ),
            2 => NewEvent::new(agent, EventType::Progress)
                .data(&serde_json::json!({"type": "assistant_message", "text": "Tests pass."})),
            _ => NewEvent::new(agent, EventType::Result).data(&serde_json::json!({
                "type": "result", "subtype": "success", "durationMs": 3200.0,
                "usage": {"input_tokens": 1234, "output_tokens": 56}, "totalCostUsd": 0.01})),
        };
        batch.push(e);
        if batch.len() == 20_000 {
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

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let layout = setup(dir.path());
    let opts = InspectOptions {
        capture_tmux: false,
        ..InspectOptions::default()
    };
    let ov = env!("CARGO_BIN_EXE_ov");
    let run = || {
        let out = std::process::Command::new(ov)
            .args(["inspect", "builder-500", "--json", "--no-tmux"])
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout.len()
    };
    eprintln!("ov inspect --json printed {} bytes", run());
    let mut g = c.benchmark_group("inspect_1000_sessions_1m_events");
    g.sample_size(30);
    g.bench_function("inspect_gather_library", |b| {
        b.iter(|| inspect(&layout, "builder-500", &opts).unwrap());
    });
    // Without a metrics row, tokens are summed from the agent's result events.
    std::fs::remove_file(layout.metrics_db()).unwrap();
    g.bench_function("inspect_gather_library_tokens_from_events", |b| {
        b.iter(|| inspect(&layout, "builder-500", &opts).unwrap());
    });
    g.bench_function("ov_inspect_json_process", |b| b.iter(run));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
