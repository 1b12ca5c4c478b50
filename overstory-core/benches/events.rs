//! Event insert rate: batched (one transaction per batch) vs one by one.
#![allow(clippy::unwrap_used, reason = "benchmark")]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use overstory_core::events::{EventStore, EventType, NewEvent, filter_tool_args};

fn event(i: usize) -> NewEvent {
    let input = serde_json::json!({"command": format!("cargo test -p crate-{i}"), "description": "run tests"});
    let f = filter_tool_args("Bash", &input);
    NewEvent::new(format!("builder-{}", i % 20), EventType::ToolStart)
        .run(Some("run-2026-01-01T00-00-00-000Z".into()))
        .session(Some("sid".into()))
        .tool("Bash", Some(&serde_json::Value::Object(f.args)))
        .data(&serde_json::json!({"summary": f.summary}))
}

fn inserts(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = EventStore::open(&dir.path().join("events.db")).unwrap();
    let mut g = c.benchmark_group("events_insert");
    g.sample_size(20);
    // Each commit rewrites the hot index pages to the WAL, so the rate
    // depends on how many events share a commit: report a small and a
    // large batch.
    const N: usize = 20_000;
    g.throughput(Throughput::Elements(N as u64));
    for batch in [1000, 5000] {
        g.bench_function(format!("insert_many_batches_of_{batch}"), |b| {
            // `_ref`: dropping the caller's events is not part of inserting them.
            b.iter_batched_ref(
                || (0..N).map(event).collect::<Vec<_>>(),
                |evs| {
                    for chunk in evs.chunks(batch) {
                        store.insert_many(chunk).unwrap();
                    }
                },
                BatchSize::LargeInput,
            );
        });
    }
    const M: usize = 200;
    g.throughput(Throughput::Elements(M as u64));
    g.bench_function("insert_one_by_one", |b| {
        b.iter_batched(
            || (0..M).map(event).collect::<Vec<_>>(),
            |evs| {
                for e in &evs {
                    store.insert(e).unwrap();
                }
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(benches, inserts);
criterion_main!(benches);
