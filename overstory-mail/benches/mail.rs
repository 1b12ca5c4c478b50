//! Latency of `send` and `check` with 100k messages already in the table.
//!
//! Run with `cargo bench -p overstory-mail --bench mail`.
#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark")]

use criterion::{Criterion, criterion_group, criterion_main};
use overstory_core::{AgentName, Layout};
use overstory_mail::{Address, MailClient, NewMessage, SendRequest};

const PRELOAD: usize = 100_000;

fn preload(client: &mut MailClient) {
    let rows: Vec<NewMessage> = (0..PRELOAD)
        .map(|i| NewMessage {
            from: format!("agent-{}", i % 50),
            to: format!("agent-{}", (i + 1) % 50),
            subject: format!("subject {i}"),
            body: "x".repeat(200),
            ..NewMessage::default()
        })
        .collect();
    for chunk in rows.chunks(10_000) {
        client.store_mut().insert_all(chunk).unwrap();
    }
    // Leave the preloaded mail read so `check` measures a realistic inbox.
    for i in 0..50 {
        client
            .check(&AgentName::new(&format!("agent-{i}")).unwrap())
            .unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".overstory")).unwrap();
    let layout = Layout::new(dir.path());
    let mut client = MailClient::open(&layout).unwrap();
    preload(&mut client);

    let from = AgentName::new("lead-1").unwrap();
    let to = AgentName::new("builder-1").unwrap();
    let req = SendRequest::new(
        from.clone(),
        Address::Agent(to.clone()),
        "Hello",
        "A body of text",
    );
    c.bench_function("send (100k rows)", |b| {
        b.iter(|| client.send(&req).unwrap());
    });
    // Drain what the send benchmark left in the inbox.
    client.check(&to).unwrap();
    c.bench_function("send+check one message (100k rows)", |b| {
        b.iter(|| {
            client.send(&req).unwrap();
            assert_eq!(client.check(&to).unwrap().messages.len(), 1);
        });
    });
    c.bench_function("check empty inbox (100k rows)", |b| {
        b.iter(|| client.check(&to).unwrap());
    });
    c.bench_function("open store (100k rows)", |b| {
        b.iter(|| MailClient::open(&layout).unwrap());
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
