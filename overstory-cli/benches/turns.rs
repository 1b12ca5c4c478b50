//! Benchmarks of the turn runner and mail dispatch (issue 6).
//!
//! Run with `cargo bench -p overstory-cli --bench turns`. Prints three
//! figures:
//!
//! 1. **runner overhead per turn**: the mean time of `run_turn` for a child
//!    that reads its turn and prints a two-line stream, minus the mean time of
//!    spawning and reaping the same child directly;
//! 2. **mail-insert-to-turn-start latency**: from the moment `ov mail send`
//!    returns to the moment the dispatcher's turn child is running
//!    (`turn.pid` exists), through the detached dispatcher and the shim;
//! 3. **event ingestion rate** through the runner: a child that prints
//!    100,000 tool events as fast as it can.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::disallowed_methods,
    reason = "a benchmark program"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use overstory_core::{AgentName, Layout};
use overstory_runtime::{
    AgentRuntime, ClaudeRuntime, DirectSpawnOptions, EventReader, HooksDef, OverlayContent,
    ParseOptions, ResolvedModel, SpawnOptions, SpawnSpec, Stability,
};
use overstory_sessions::{AgentState, Session, SessionStore};
use overstory_turn::{RunTurnOptions, run_turn};
use tokio::io::AsyncRead;

/// A runtime whose headless child is `sh -c <script>`, parsed as Claude.
#[derive(Debug)]
struct ShRuntime {
    script: String,
}

#[async_trait]
impl AgentRuntime for ShRuntime {
    fn id(&self) -> &'static str {
        "sh"
    }
    fn stability(&self) -> Stability {
        Stability::Experimental
    }
    fn instruction_path(&self) -> &'static str {
        "CLAUDE.md"
    }
    fn spawn_command(&self, _: &SpawnOptions) -> Result<String, overstory_runtime::RuntimeError> {
        Ok(String::new())
    }
    fn print_command(&self, _: &str, _: Option<&str>) -> Vec<String> {
        Vec::new()
    }
    fn deploy_config(
        &self,
        _: &Path,
        _: Option<&OverlayContent>,
        _: &HooksDef,
    ) -> Result<(), overstory_runtime::RuntimeError> {
        Ok(())
    }
    fn direct_spawn(&self, opts: &DirectSpawnOptions) -> Option<SpawnSpec> {
        let mut spec = ClaudeRuntime::new().direct_spawn(opts)?;
        spec.argv = vec!["sh".into(), "-c".into(), self.script.clone().into()];
        Some(spec)
    }
    fn event_reader(
        &self,
        stdout: Box<dyn AsyncRead + Send + Unpin>,
        opts: ParseOptions,
    ) -> Option<EventReader<Box<dyn AsyncRead + Send + Unpin>>> {
        ClaudeRuntime::new().event_reader(stdout, opts)
    }
}

const TWO_LINES: &str = r#"cat >/dev/null; printf '%s\n' '{"type":"system","subtype":"init","session_id":"bench"}' '{"type":"result","subtype":"success","session_id":"bench","is_error":false}'"#;

fn project() -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    std::fs::create_dir_all(layout.dir()).unwrap();
    (dir, layout)
}

fn seed(layout: &Layout, name: &str) {
    let mut s = Session::new(name.parse().unwrap(), "builder".parse().unwrap());
    s.worktree_path = layout.root().display().to_string();
    s.state = AgentState::Working;
    SessionStore::open(&layout.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();
}

fn opts(layout: &Layout, name: &str, script: &str) -> RunTurnOptions {
    let mut o = RunTurnOptions::new(
        AgentName::new(name).unwrap(),
        "builder",
        layout.clone(),
        layout.root(),
        "bench",
        overstory_runtime::encode_user_turn("go"),
        Arc::new(ShRuntime {
            script: script.into(),
        }),
        ResolvedModel::default(),
    );
    o.wait_for_outstanding_work = false;
    o.log = Some(Arc::new(overstory_turn::log::MemoryLog::new()));
    o
}

fn mean(xs: &[Duration]) -> Duration {
    xs.iter().sum::<Duration>() / u32::try_from(xs.len()).unwrap()
}

fn runner_overhead(rt: &tokio::runtime::Runtime) {
    const N: usize = 40;
    let (_dir, layout) = project();
    seed(&layout, "bench-1");
    // Warm up both paths.
    for _ in 0..3 {
        rt.block_on(run_turn(opts(&layout, "bench-1", TWO_LINES)))
            .unwrap();
    }
    let mut direct = Vec::with_capacity(N);
    let mut runner = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        let mut child = Command::new("sh")
            .args(["-c", TWO_LINES])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child.wait().unwrap();
        direct.push(t.elapsed());
        let t = Instant::now();
        let r = rt
            .block_on(run_turn(opts(&layout, "bench-1", TWO_LINES)))
            .unwrap();
        runner.push(t.elapsed());
        assert_eq!(r.exit_code, Some(0));
    }
    let (d, r) = (mean(&direct), mean(&runner));
    println!(
        "runner overhead per turn: {:.2} ms (run_turn {:.2} ms - child alone {:.2} ms, mean of {N})",
        (r.as_secs_f64() - d.as_secs_f64()) * 1000.0,
        r.as_secs_f64() * 1000.0,
        d.as_secs_f64() * 1000.0
    );
}

fn ingestion(rt: &tokio::runtime::Runtime) {
    const EVENTS: usize = 100_000;
    let (_dir, layout) = project();
    seed(&layout, "bench-2");
    let gen_path = layout.dir().join("events.jsonl");
    let mut text =
        String::from("{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"b\"}\n");
    for i in 0..EVENTS / 2 {
        text.push_str(&format!(
            "{{\"type\":\"assistant\",\"message\":{{\"content\":[{{\"type\":\"tool_use\",\"id\":\"t{i}\",\"name\":\"Bash\",\"input\":{{\"command\":\"ls {i}\"}}}}]}}}}\n{{\"type\":\"user\",\"message\":{{\"content\":[{{\"type\":\"tool_result\",\"tool_use_id\":\"t{i}\",\"content\":\"ok\"}}]}}}}\n"
        ));
    }
    text.push_str(
        "{\"type\":\"result\",\"subtype\":\"success\",\"session_id\":\"b\",\"is_error\":false}\n",
    );
    std::fs::write(&gen_path, text).unwrap();
    let script = format!("cat >/dev/null; cat '{}'", gen_path.display());
    let t = Instant::now();
    let r = rt
        .block_on(run_turn(opts(&layout, "bench-2", &script)))
        .unwrap();
    let took = t.elapsed();
    assert_eq!(r.exit_code, Some(0));
    let stored = overstory_core::events::EventStore::open(&layout.events_db())
        .unwrap()
        .count()
        .unwrap();
    assert!(stored as usize >= EVENTS, "stored {stored}");
    println!(
        "event ingestion through the runner: {:.0} events/s ({stored} events in {:.2} s)",
        stored as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );
}

fn dispatch_latency() {
    const N: usize = 10;
    let ov = PathBuf::from(env!("CARGO_BIN_EXE_ov"));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let git = |args: &[&str]| {
        assert!(
            Command::new("git")
                .args(args)
                .current_dir(root)
                .output()
                .unwrap()
                .status
                .success()
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&[
        "-c",
        "user.email=b@x",
        "-c",
        "user.name=b",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "init",
    ]);
    let out = Command::new(&ov)
        .args(["init", "--yes"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success());
    let layout = Layout::new(root);
    let agent = AgentName::new("lat-1").unwrap();
    let mut s = Session::new("lat-1".parse().unwrap(), "builder".parse().unwrap());
    s.worktree_path = root.display().to_string();
    s.state = AgentState::Working;
    SessionStore::open(&layout.sessions_db())
        .unwrap()
        .upsert(&s)
        .unwrap();
    overstory_turn::factory::RuntimeChoice {
        runtime: "scripted".into(),
        script: None,
    }
    .save(&layout, &agent)
    .unwrap();
    std::fs::create_dir_all(layout.dir().join("scripts")).unwrap();
    std::fs::write(
        layout.dir().join("scripts/lat-1.json"),
        r#"{"steps":[{"sleep_ms":300}]}"#,
    )
    .unwrap();
    let pid_file = layout.agent_turn_pid(&agent);
    let mut lat = Vec::new();
    for i in 0..N {
        let sent = Command::new(&ov)
            .args([
                "mail",
                "send",
                "--to",
                "lat-1",
                "--subject",
                &format!("m{i}"),
                "--body",
                "x",
                "--from",
                "lead",
            ])
            .current_dir(root)
            .output()
            .unwrap();
        assert!(sent.status.success());
        let t = Instant::now();
        while !pid_file.exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "no turn started");
            std::thread::sleep(Duration::from_micros(200));
        }
        lat.push(t.elapsed());
        // Let the turn and its dispatcher finish before the next sample.
        while pid_file.exists() || overstory_turn::dispatch::is_dispatching(&layout, &agent) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    lat.sort();
    println!(
        "mail-insert-to-turn-start latency: median {:.1} ms, max {:.1} ms ({N} sends)",
        lat[N / 2].as_secs_f64() * 1000.0,
        lat[N - 1].as_secs_f64() * 1000.0
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent; keep
    // that quick by doing nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runner_overhead(&rt);
    ingestion(&rt);
    dispatch_latency();
}
