//! Latency of one `GET /api/mail` page request with 100k messages stored:
//! the newest page, a page deep in the table (after a cursor), and a page
//! of one recipient's mail, each over real HTTP to a running server.
//!
//! Run with `cargo bench -p overstory-serve --bench mail_page`.
#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark")]

use criterion::{Criterion, criterion_group, criterion_main};
use overstory_core::Layout;
use overstory_core::init::{InitOptions, init};
use overstory_mail::{MailStore, NewMessage};
use overstory_serve::{BindOptions, Server};
use serde_json::Value;

const PRELOAD: usize = 100_000;
const AGENTS: usize = 50;

fn preload(layout: &Layout) {
    let mut store = MailStore::open(layout.mail_db()).unwrap();
    let rows: Vec<NewMessage> = (0..PRELOAD)
        .map(|i| NewMessage {
            from: format!("agent-{}", i % AGENTS),
            to: format!("agent-{}", (i + 1) % AGENTS),
            subject: format!("subject {i}"),
            body: "x".repeat(200),
            ..NewMessage::default()
        })
        .collect();
    for chunk in rows.chunks(10_000) {
        store.insert_all(chunk).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let repo = overstory_testkit::TempRepo::new();
    init(repo.path(), &InitOptions::default()).unwrap();
    let layout = Layout::new(repo.path());
    preload(&layout);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (base, token) = rt.block_on(async {
        let mut opts = BindOptions::new(layout.clone());
        opts.port = 0;
        let server = Server::bind(opts).await.unwrap();
        let info = server.info().clone();
        tokio::spawn(server.run(std::future::pending()));
        (format!("http://127.0.0.1:{}", info.port), info.token)
    });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: String| {
        let req = client.get(format!("{base}{path}")).bearer_auth(&token);
        rt.block_on(async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.json::<Value>().await.unwrap()
        })
    };
    // A cursor half way down the table.
    let mut cursor = String::new();
    for _ in 0..100 {
        let page = get(format!("/api/mail?limit=500{cursor}"));
        cursor = format!("&cursor={}", page["nextCursor"].as_str().unwrap());
    }
    let mut g = c.benchmark_group("GET /api/mail (100k messages)");
    g.sample_size(20);
    g.bench_function("first page of 100", |b| {
        b.iter(|| get("/api/mail?limit=100".into()));
    });
    g.bench_function("page of 100 after a cursor at 50k", |b| {
        b.iter(|| get(format!("/api/mail?limit=100{cursor}")));
    });
    g.bench_function("first page of 100 to one agent", |b| {
        b.iter(|| get("/api/mail?to=agent-7&limit=100".into()));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
