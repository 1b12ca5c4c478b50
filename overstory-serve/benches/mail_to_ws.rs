//! Measures how long a mail written by another process (`ov mail send`)
//! takes to reach a subscribed WebSocket.
//!
//! Run with `cargo build -p overstory-cli && cargo bench -p overstory-serve
//! --bench mail_to_ws` (or `--profile dev` to reuse a debug build). Uses
//! the `ov` next to the bench's target directory. Prints p50/p90/p99/max of
//! two spans: spawn of `ov mail send` → frame (what a person sees), and
//! the row's `createdAt` → frame (the server's share).
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::disallowed_methods,
    reason = "bench"
)]

use std::time::{Duration, Instant, SystemTime};

use futures_util::{SinkExt as _, StreamExt as _};
use overstory_core::Layout;
use overstory_core::init::{InitOptions, init};
use overstory_serve::{BindOptions, Server};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

const ROUNDS: usize = 100;

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{name}: n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.9),
        pct(&v, 0.99),
        v[v.len() - 1]
    );
}

fn main() {
    let ov = overstory_testkit::ov_path();
    assert!(
        ov.is_file(),
        "build ov first: cargo build -p overstory-cli ({})",
        ov.display()
    );
    let repo = overstory_testkit::TempRepo::new();
    init(repo.path(), &InitOptions::default()).unwrap();
    let layout = Layout::new(repo.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut opts = BindOptions::new(layout);
        opts.port = 0;
        let server = Server::bind(opts).await.unwrap();
        let info = server.info().clone();
        tokio::spawn(server.run(std::future::pending()));
        let mut req = format!("ws://127.0.0.1:{}/ws?mail=true", info.port)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", info.token).parse().unwrap(),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        ws.send(Message::Text(r#"{"op":"subscribe","room":"x"}"#.into()))
            .await
            .unwrap();
        let _ack = ws.next().await;
        let mut end_to_end = Vec::new();
        let mut server_share = Vec::new();
        for i in 0..ROUNDS {
            let mut cmd = overstory_testkit::ov(&ov, repo.path());
            cmd.args([
                "mail",
                "send",
                "--to",
                "coordinator",
                "--subject",
                &format!("m{i}"),
                "--body",
                "b",
            ])
            .stdout(std::process::Stdio::null());
            let t0 = Instant::now();
            let mut child = cmd.spawn().unwrap();
            let frame = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
                        let v: Value = serde_json::from_str(&t).unwrap();
                        if v["type"] == "mail" {
                            return v;
                        }
                    }
                }
            })
            .await
            .expect("frame");
            let got = Instant::now();
            let now_ms = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            let created = overstory_core::clock::parse_rfc3339(
                frame["payload"]["message"]["createdAt"].as_str().unwrap(),
            )
            .unwrap();
            end_to_end.push(got.duration_since(t0).as_secs_f64() * 1000.0);
            server_share.push((now_ms - created) as f64);
            child.wait().unwrap();
        }
        report("ov mail send spawn -> WS frame", end_to_end);
        report("row createdAt -> WS frame (1 ms resolution)", server_share);
    });
}
